//! The `--goals` report: GOALS.md (the goals, their verdicts and every part's tables),
//! goals.json (every sample) and goals.svg (the plot).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::verdict::{self, Goal, Verdict};
use super::{plot, FwFigures, Run};
use crate::forward::Layout;
use crate::report::{fmt_s, stats};
use crate::run::Res;

/// hostnet's (or ip's) samples of one step at one N.
fn apply_values(
    run: &Run,
    n: usize,
    method: &str,
    f: impl Fn(&crate::report::Record) -> Option<f64>,
) -> Vec<f64> {
    run.apply
        .records
        .iter()
        .filter(|r| r.n == n && r.op == "apply" && r.method == method)
        .filter_map(f)
        .collect()
}

fn wall(r: &crate::report::Record) -> Option<f64> {
    Some(r.wall_s)
}

/// The smallest and the largest N of the apply part.
fn apply_range(run: &Run) -> (usize, usize) {
    let lo = run.args_n.iter().copied().min().unwrap_or(0);
    let hi = run.args_n.iter().copied().max().unwrap_or(0);
    (lo, hi)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The firewall part's largest N.
fn fw_goal_figures(run: &Run) -> Option<&FwFigures> {
    run.firewall.iter().max_by_key(|f| f.n)
}

/// The three goals judged from the run.
pub fn goals(run: &Run) -> Vec<Goal> {
    let fwd_n = run
        .forwarding
        .samples
        .iter()
        .map(|s| s.n)
        .max()
        .unwrap_or(0);
    let (lo, hi) = apply_range(run);
    let (lo_v, hi_v) = (
        apply_values(run, lo, "hostnet", wall),
        apply_values(run, hi, "hostnet", wall),
    );
    let fw = fw_goal_figures(run);
    let fw_walls: Vec<f64> = fw
        .map(|f| f.figures.one.iter().map(|s| ms(s.wall)).collect())
        .unwrap_or_default();
    vec![
        verdict::forwarding(fwd_n, &run.forwarding.ratios(fwd_n, Layout::Hostnet)),
        verdict::apply_per_network((lo, &lo_v), (hi, &hi_v)),
        verdict::firewall_change(fw.map_or(0, |f| f.n), &fw_walls),
    ]
}

fn figure(g: &Goal) -> String {
    let spread = |f: &dyn Fn(f64) -> String| {
        g.spread
            .map(|(lo, hi)| format!(" [{}–{}]", f(lo), f(hi)))
            .unwrap_or_default()
    };
    match g.key {
        "firewall-change" => {
            let f = |x: f64| format!("{x:.1}");
            format!("{} ms{} median [min–max]", f(g.value), spread(&f))
        }
        _ => {
            let f = |x: f64| format!("{x:.2}");
            format!("{}×{}", f(g.value), spread(&f))
        }
    }
}

/// Writes the three files; returns the goals.
pub fn write(run: &Run, out: &Path) -> Res<Vec<Goal>> {
    let goals = goals(run);
    let w = |name: &str, text: String| {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    w("GOALS.md", markdown(run, &goals))?;
    w("goals.svg", plot::svg(run, &goals))?;
    let text = serde_json::to_string_pretty(&json(run, &goals)).map_err(|e| e.to_string())?;
    w("goals.json", text + "\n")?;
    Ok(goals)
}

fn json(run: &Run, goals: &[Goal]) -> Value {
    let goals: Vec<Value> = goals
        .iter()
        .map(|g| {
            let met = match g.verdict {
                Verdict::Met => json!(true),
                Verdict::NotMet => json!(false),
                Verdict::NotMeasured => Value::Null,
            };
            json!({"goal": g.key, "statement": g.statement, "value": g.value,
                   "min": g.spread.map(|s| s.0), "max": g.spread.map(|s| s.1),
                   "measured_at": g.measured_at, "at_goal_n": g.at_goal_n,
                   "met": met,
                   "verdict": g.verdict_text()})
        })
        .collect();
    let parts: Vec<Value> = run
        .parts
        .iter()
        .map(|p| {
            json!({"part": p.name, "seconds": p.took.as_secs_f64(),
                   "waited_for_teardowns_seconds": p.waited.as_secs_f64(),
                   "loadavg_before": p.load_before, "loadavg_after": p.load_after})
        })
        .collect();
    let firewall: Vec<Value> = run
        .firewall
        .iter()
        .flat_map(|f| {
            [
                ("whole file", &f.figures.whole),
                ("one network", &f.figures.one),
            ]
            .map(|(way, samples)| {
                json!({"n": f.n, "file": way, "setup_ms": ms(f.figures.setup),
                       "wall_ms": samples.iter().map(|s| ms(s.wall)).collect::<Vec<_>>(),
                       "cpu_ms": samples.iter().map(|s| ms(s.cpu)).collect::<Vec<_>>(),
                       "sys_ms": samples.iter().map(|s| ms(s.sys)).collect::<Vec<_>>(),
                       "phases_ms": samples.iter().map(|s| s.phases.to_vec()).collect::<Vec<_>>()})
            })
        })
        .collect();
    json!({
        "command": run.command,
        "commit": run.commit,
        "seconds": run.took.as_secs_f64(),
        "environment": run.apply.env_json(),
        "parts": parts,
        "goals": goals,
        "apply": run.apply.records_json(),
        "forwarding": run.forwarding.json(),
        "firewall": firewall,
    })
}

fn markdown(run: &Run, goals: &[Goal]) -> String {
    let mut s = String::from("# Issue 18's goals in one run\n\n");
    let _ = writeln!(s, "`{}`\n", run.command);
    let _ = writeln!(s, "* commit measured: {}", run.commit);
    for (k, v) in &run.apply.env {
        let _ = writeln!(s, "* {k}: {v}");
    }
    let _ = writeln!(s, "* the whole run took {}", minutes(run.took));
    s.push_str("\n## The goals\n\n| goal | measured | at | verdict |\n|---|---|---|---|\n");
    for g in goals {
        let _ = writeln!(
            s,
            "| {} | {} | {} | **{}** |",
            g.statement,
            figure(g),
            g.measured_at,
            g.verdict_text()
        );
    }
    s.push_str(
        "\nForwarding: the median over the repetitions of the forwarded rate with hostnet's \
         rules over the rate of the same host without rules in the same repetition \
         (part 2). Apply: hostnet's wall time of an apply from scratch per network, median at \
         the larger N over median at the smaller N (part 1). Firewall: `hostnet apply` of a \
         file naming the one network whose firewall changes, wall time of the process (part \
         3; \"flat in N\" can only hold for such a file: a file listing all N networks is \
         parsed and planned whole, and its figure is shown beside it).\n",
    );
    s.push_str("\nEach part starts once the kernel has torn down the namespaces deleted before it (`waited`, not in `took`).\n\n| part | took | waited | load average before | after |\n|---|--:|--:|---|---|\n");
    for p in &run.parts {
        let _ = writeln!(
            s,
            "| {} | {} | {:.1} s | {} | {} |",
            p.name,
            minutes(p.took),
            p.waited.as_secs_f64(),
            p.load_before,
            p.load_after
        );
    }
    apply_section(run, &mut s);
    s.push_str("\n## 2. Forwarding through the host\n\n");
    s.push_str(&run.forwarding.rows());
    forwarding_vs_none(run, &mut s);
    firewall_section(run, &mut s);
    s.push_str("\n![plot](goals.svg)\n");
    s
}

fn minutes(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 60 {
        format!("{} min {} s", secs / 60, secs % 60)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

/// Per network: (wall, CPU, user, kernel) medians in ms, and hostnet's execute phase.
fn per_network(run: &Run, n: usize, method: &str) -> [f64; 5] {
    let per = |v: Vec<f64>| stats(&v).0 * 1e3 / n as f64;
    let exec = apply_values(run, n, method, |r| {
        r.hostnet_timings_ms.as_ref()?.get("execute")?.as_f64()
    });
    [
        per(apply_values(run, n, method, wall)),
        per(apply_values(run, n, method, |r| Some(r.cpu_s))),
        per(apply_values(run, n, method, |r| Some(r.cpu_s - r.sys_s))),
        per(apply_values(run, n, method, |r| Some(r.sys_s))),
        stats(&exec).0 / n as f64,
    ]
}

fn apply_section(run: &Run, s: &mut String) {
    let (lo, hi) = apply_range(run);
    s.push_str(
        "\n## 1. Apply from scratch, re-apply, change, show\n\n\
         Each N in a fresh namespace; hostnet every repetition, `ip -batch` (the same \
         objects) in the first. Neither tears down by its own means (at 4,000 networks \
         hostnet's teardown takes minutes and ip's deletes over ten): the namespace is \
         deleted instead, timed until the kernel has finished (`teardown` rows).\n\n\
         Per network (medians, ms):\n\n\
         | method | N | wall | CPU | user | kernel | execute phase |\n|---|--:|--:|--:|--:|--:|--:|\n",
    );
    for method in ["hostnet", "ip -batch"] {
        let mut ns: Vec<usize> = run.args_n.clone();
        ns.sort_unstable();
        ns.dedup();
        for &n in &ns {
            let v = per_network(run, n, method);
            let exec = if method == "hostnet" {
                format!("{:.3}", v[4])
            } else {
                "–".into()
            };
            let _ = writeln!(
                s,
                "| {method} | {n} | {:.3} | {:.3} | {:.3} | {:.3} | {exec} |",
                v[0], v[1], v[2], v[3]
            );
        }
        if lo < hi {
            let (a, b) = (per_network(run, lo, method), per_network(run, hi, method));
            let r = |i: usize| {
                let x = b[i] / a[i];
                if x.is_finite() && (method == "hostnet" || i < 4) {
                    format!("{x:.2}×")
                } else {
                    "–".into()
                }
            };
            let _ = writeln!(
                s,
                "| {method} | **{hi} vs {lo}** | **{}** | {} | {} | {} | {} |",
                r(0),
                r(1),
                r(2),
                r(3),
                r(4)
            );
        }
    }
    s.push_str(
        "\nCPU: the process's user + system time (`wait4`); kernel: the system part (work \
         the kernel defers to its own threads is in neither). All steps (median, min, max \
         wall):\n",
    );
    s.push_str(&run.apply.table());
    s.push_str(
        "\nhostnet's own phases (median ms, from `apply -o json`):\n\n\
         | N | step | query | plan | execute | verify |\n|--:|---|--:|--:|--:|--:|\n",
    );
    for (n, op, p) in run.apply.hostnet_phases() {
        let _ = writeln!(
            s,
            "| {n} | {op} | {:.1} | {:.1} | {:.1} | {:.1} |",
            p[0], p[1], p[2], p[3]
        );
    }
}

fn forwarding_vs_none(run: &Run, s: &mut String) {
    let m = &run.forwarding;
    let none = stats(&m.rates(0, Layout::NoRules, "forwarded")).0;
    let mut ns: Vec<usize> = m.samples.iter().map(|x| x.n).filter(|&n| n > 0).collect();
    ns.dedup();
    for n in ns {
        let with = stats(&m.rates(n, Layout::Hostnet, "forwarded")).0;
        let _ = writeln!(
            s,
            "\nWith {n} networks (hostnet's rules) against the host with no networks and no \
             rules (the N=0 row), medians of different minutes: {:.2}×.",
            with / none
        );
    }
}

fn firewall_section(run: &Run, s: &mut String) {
    s.push_str(
        "\n## 3. A one-network firewall change\n\n\
         hostnet applies N bridged networks with firewalls (masquerade, isolation on every \
         other one, an allow-list, a floating IP, a port forward); then, each repetition, \
         the middle network's isolation flips and back, with the whole file (all N, one \
         changed) and with a file of that network alone. Each apply must plan exactly one \
         firewall op. Wall time of the `hostnet apply` process (median, min–max), its CPU \
         time (median, of it kernel) and hostnet's phases (median ms).\n\n\
         | N | file | runs | wall | min–max | CPU | kernel | query | plan | execute | verify |\n\
         |--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for f in &run.firewall {
        for (way, samples) in [
            ("whole file", &f.figures.whole),
            ("one network", &f.figures.one),
        ] {
            let v = |g: &dyn Fn(&crate::fw_apply::Sample) -> f64| {
                stats(&samples.iter().map(g).collect::<Vec<_>>())
            };
            let wall = v(&|x| ms(x.wall));
            let phase = |k: usize| v(&|x| x.phases[k]).0;
            let _ = writeln!(
                s,
                "| {} | {way} | {} | **{:.1}** | {:.1}–{:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                f.n,
                samples.len(),
                wall.0,
                wall.1,
                wall.2,
                v(&|x| ms(x.cpu)).0,
                v(&|x| ms(x.sys)).0,
                phase(0),
                phase(1),
                phase(2),
                phase(3)
            );
        }
        let _ = writeln!(
            s,
            "| {} | (first apply of all N) | 1 | {} | | | | | | | |",
            f.n,
            fmt_s(f.figures.setup.as_secs_f64())
        );
    }
}
