//! `hostnet apply` end to end: a one-network firewall change on a host with N networks
//! with firewalls, as a process (start-up, YAML, lock, query, plan, `nft -f`, verify).
//!
//! In a fresh namespace (`hnfwb-PID-apply`) hostnet applies N bridged networks (the
//! firewall of [`crate::spec`]: masquerade out of `up0`, isolation on every other one,
//! an allow-list, a floating IP, a port forward) and the veth `up0`. Then, R times, the
//! middle network's isolation flips, applied two ways:
//!
//! * **whole file**: all N networks listed, one of them changed;
//! * **one network**: a file listing only that network (partial editing: the others are
//!   left as they are).
//!
//! Each change must plan exactly one firewall op and report `changed`.
//!
//! Shared by `hostnet-fw-bench --apply-n` and `hostnet-bench --goals` (the latter includes
//! this file with `#[path]`), so it names nothing of either binary's crate root.

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hostnet::sandbox::{Sandbox, SandboxError};

fn fail(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Other {
        ns: String::new(),
        message: format!("{what}: {e}"),
    }
}

/// Median wall times and hostnet's own phases of the two ways, plus the first apply.
pub struct Figures {
    pub setup: Duration,
    pub whole: Vec<Sample>,
    pub one: Vec<Sample>,
}

/// One `hostnet apply`: wall time, the child's CPU time (user + system, and the system
/// part alone) and its `timings-ms`.
#[derive(Clone, Debug)]
pub struct Sample {
    pub wall: Duration,
    pub cpu: Duration,
    pub sys: Duration,
    pub phases: [f64; 4],
}

fn network(i: usize, isolate: bool) -> String {
    let (a, b) = (i / 250, i % 250);
    let mut s = String::new();
    let _ = write!(
        s,
        "  - name: fb{i}\n    ipv4: {{address: [10.{a}.{b}.1/24]}}\n    firewall:\n      \
         masquerade: {{out-interface: up0}}\n      isolate: {isolate}\n      \
         allow-from-guests: [{{proto: udp, port: 53}}, {{proto: udp, port: 67}}]\n      \
         floating-ips: [{{external: 100.64.{a}.{b}, internal: 10.{a}.{b}.5, interface: up0}}]\n      \
         port-forwards: [{{proto: tcp, external-port: {}, internal: 10.{a}.{b}.5, internal-port: 22, interface: up0}}]\n",
        10_000 + i
    );
    s
}

/// The whole file: `up0` and N networks, network `flip` with its isolation inverted.
fn whole(n: usize, flip: Option<usize>) -> String {
    let mut s = String::from(
        "firewall: {backend: nftables}\ninterfaces:\n  - {name: up0, type: veth, veth: {peer: up0p}}\nnetworks:\n",
    );
    for i in 0..n {
        s.push_str(&network(i, i.is_multiple_of(2) != (flip == Some(i))));
    }
    s
}

fn one(i: usize, flipped: bool) -> String {
    format!(
        "firewall: {{backend: nftables}}\nnetworks:\n{}",
        network(i, i.is_multiple_of(2) != flipped)
    )
}

/// The hostnet to run: the running image under the name `hostnet` (both benchmarks then
/// run `hostnet::cli::main` of their own build), or another binary.
fn hostnet_command(bin: Option<&Path>) -> Command {
    match bin {
        Some(p) => Command::new(p),
        None => {
            let mut c = Command::new("/proc/self/exe");
            c.arg0("hostnet");
            c
        }
    }
}

fn hostnet(
    bin: Option<&Path>,
    ns: &str,
    file: &Path,
) -> Result<(Sample, serde_json::Value), SandboxError> {
    let mut c = hostnet_command(bin);
    c.arg("apply").arg(file).args(["--netns", ns, "-o", "json"]);
    let before = children_cpu();
    let t = Instant::now();
    let out = c.output().map_err(|e| fail("hostnet", e))?;
    let wall = t.elapsed();
    let after = children_cpu();
    let (cpu, sys) = (
        (after.0 + after.1).saturating_sub(before.0 + before.1),
        after.1.saturating_sub(before.1),
    );
    if !out.status.success() {
        return Err(fail(
            "hostnet apply",
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| fail("hostnet -o json", e))?;
    let t = &v["timings-ms"];
    let phases = ["query", "plan", "execute", "verify"].map(|k| t[k].as_f64().unwrap_or(0.0));
    Ok((
        Sample {
            wall,
            cpu,
            sys,
            phases,
        },
        v,
    ))
}

/// The reaped children's (user, system) CPU time so far.
fn children_cpu() -> (Duration, Duration) {
    // SAFETY: rusage is plain data; zeroed is a valid value for it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru points to a live local.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    (tv(ru.ru_utime), tv(ru.ru_stime))
}

fn check_one_change(v: &serde_json::Value, what: &str) -> Result<(), SandboxError> {
    let ops = v["plan"].as_array().map_or(usize::MAX, Vec::len);
    if v["changed"] != serde_json::Value::Bool(true) || ops != 1 {
        return Err(fail(
            what,
            format!(
                "expected one op, changed: {}",
                serde_json::to_string(v).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

/// The run for one N; `bin` is the hostnet to measure (default: this build, see
/// [`hostnet_command`]).
pub fn run(
    n: usize,
    reps: usize,
    scratch: &Path,
    bin: Option<&Path>,
) -> Result<Figures, SandboxError> {
    let mut sb = Sandbox::new(&format!("hnfwb-{}", std::process::id()));
    let ns = sb.add("apply")?;
    let file = |name: &str, text: &str| -> Result<PathBuf, SandboxError> {
        let p = scratch.join(name);
        std::fs::write(&p, text).map_err(|e| fail("write", e))?;
        Ok(p)
    };
    let out = (|| {
        let base = file("whole.yaml", &whole(n, None))?;
        let (setup, _) = hostnet(bin, &ns, &base)?;
        let mid = n / 2;
        let flipped = file("whole-flip.yaml", &whole(n, Some(mid)))?;
        let one_flip = file("one-flip.yaml", &one(mid, true))?;
        let one_back = file("one-back.yaml", &one(mid, false))?;
        let (mut w, mut o) = (Vec::new(), Vec::new());
        for r in 0..reps.max(1) {
            // Alternate which way goes first; each leaves the network as it was.
            let order: [bool; 2] = if r % 2 == 0 {
                [true, false]
            } else {
                [false, true]
            };
            for whole_file in order {
                let (there, back) = if whole_file {
                    (&flipped, &base)
                } else {
                    (&one_flip, &one_back)
                };
                let (s, v) = hostnet(bin, &ns, there)?;
                check_one_change(&v, "change")?;
                let (_, v) = hostnet(bin, &ns, back)?;
                check_one_change(&v, "change back")?;
                if whole_file { &mut w } else { &mut o }.push(s);
            }
        }
        Ok(Figures {
            setup: setup.wall,
            whole: w,
            one: o,
        })
    })();
    sb.destroy();
    out
}
