#!/usr/bin/env python3
# usage: cmp.py N REPS BIN... -- alternates binaries within one run; medians per binary
import json, os, subprocess, sys, time, statistics, resource
n, reps, bins = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
env = dict(os.environ, HOSTNET_STATE_DIR="/run/fwfast-state", HOSTNET_LIB_DIR="/tmp/fwfast/lib")
res = {b: [] for b in bins}
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN); return r.ru_utime + r.ru_stime
subprocess.run([bins[0], 'apply', f'/tmp/fwfast/back{n}.yaml', '--netns', 'fwfast-prof', '-o', 'json'], env=env, capture_output=True)
load0 = os.getloadavg()
for r in range(reps):
    for b in (bins if r % 2 == 0 else bins[::-1]):
        for f in ("flip", "back"):
            c0 = cpu(); t = time.monotonic()
            out = subprocess.run([b, "apply", f"/tmp/fwfast/{f}{n}.yaml", "--netns", "fwfast-prof", "-o", "json"], env=env, capture_output=True, text=True)
            wall = (time.monotonic() - t) * 1000; c = (cpu() - c0) * 1000
            if out.returncode != 0: sys.exit(f"{b} {f}: {out.stderr}")
            v = json.loads(out.stdout); assert v["changed"] and len(v["plan"]) == 1, v
            res[b].append([wall, c] + [v["timings-ms"][k] for k in ("query", "plan", "execute", "verify")])
print(f"N={n} reps={reps} (x2 applies) load before {load0} after {os.getloadavg()}")
print(f"{'binary':40} {'wall':>7} {'min':>7} {'max':>7} {'cpu':>6} {'query':>6} {'exec':>6} {'verify':>6} {'other':>6}")
for b, rows in res.items():
    med = lambda i: statistics.median(x[i] for x in rows)
    other = statistics.median(x[0] - x[2] - x[3] - x[4] - x[5] for x in rows)
    print(f"{os.path.basename(b):40} {med(0):7.1f} {min(x[0] for x in rows):7.1f} {max(x[0] for x in rows):7.1f} {med(1):6.1f} {med(2):6.1f} {med(4):6.1f} {med(5):6.1f} {other:6.1f}")
