//! `--goals`: issue 18's three goals measured in one process and one run, and judged.
//!
//! 1. **apply**: at each `--n` (default 1,000 and 4,000), in a fresh namespace each time,
//!    hostnet applies the workload from scratch, re-applies it, changes one gateway and
//!    shows the state (`hostnet show`, and `ip -j` as the peer's read); `ip -batch`
//!    creates the same objects once per N (the first repetition). Neither tears down by
//!    its own means: at 4,000 networks hostnet's teardown takes minutes and ip's deletes
//!    over ten; the namespace is deleted instead (timed until the kernel is done, and
//!    reported as such). Goal: apply time per network at the larger N within 1.2× of
//!    that at the smaller.
//! 2. **forwarding**: `forward.rs` with 0 and each `--fwd-n` networks; goal: hostnet's
//!    rules with the largest N forward at least 0.9× the rate of the same host without
//!    rules, measured within seconds of each other in each repetition.
//! 3. **firewall change**: `fw_apply.rs` at each `--fw-n`; goal: a one-network change
//!    among the largest N (a file naming that network; the file of all N with one
//!    changed is reported beside it) under 25 ms, median.
//!
//! hostnet keeps its runtime and persistent state in the scratch directory
//! (`HOSTNET_STATE_DIR`, `HOSTNET_LIB_DIR`), never in the machine's.

mod plot;
mod verdict;
mod write;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::forward;
use crate::fw_apply;
use crate::report::Report;
use crate::run::{check_interrupted, load1, scratch_dir, Res};
use crate::steps::{self, Teardown};
use crate::{Args, Method, Tools};

/// One part of the run: how long it took and how busy the machine was around it.
pub struct Part {
    pub name: &'static str,
    pub took: Duration,
    /// How long the part waited, before it started, for the kernel to finish tearing
    /// down earlier parts' namespaces.
    pub waited: Duration,
    pub load_before: String,
    pub load_after: String,
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `f` as the part `name`, timed and with the load average before and after.
fn part<T>(parts: &mut Vec<Part>, name: &'static str, f: impl FnOnce() -> Res<T>) -> Res<T> {
    check_interrupted()?;
    let waited = crate::run::wait_for_teardowns()?;
    eprintln!(
        "== {name} (load {:.2}; waited {:.1} s for earlier namespaces' teardown)",
        load1(),
        waited.as_secs_f64()
    );
    let load_before = loadavg();
    let t = Instant::now();
    let r = f()?;
    parts.push(Part {
        name,
        took: t.elapsed(),
        waited,
        load_before,
        load_after: loadavg(),
    });
    Ok(r)
}

/// The firewall part's figures at one N.
pub struct FwFigures {
    pub n: usize,
    pub figures: fw_apply::Figures,
}

/// Everything the run measured.
pub struct Run {
    pub command: String,
    pub commit: String,
    pub args_n: Vec<usize>,
    pub apply: Report,
    pub forwarding: forward::Measured,
    pub firewall: Vec<FwFigures>,
    pub parts: Vec<Part>,
    pub took: Duration,
}

/// The commit measured: `git rev-parse HEAD` of the source tree this binary was built
/// from, marked when the tree has uncommitted changes.
fn commit() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match git(&["rev-parse", "HEAD"]) {
        None => "unknown (not a git checkout)".into(),
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{head} with uncommitted changes")
            } else {
                head
            }
        }
    }
}

fn check_n(what: &str, ns: &[usize]) -> Res<()> {
    if ns.is_empty() || ns.iter().any(|&n| n == 0 || n > 60000) {
        return Err(format!("{what}: each N must be in 1..=60000"));
    }
    Ok(())
}

/// `hostnet-bench --goals`.
pub fn main(args: &Args) -> Res<()> {
    check_n("--fwd-n", &args.fwd_n)?;
    check_n("--fw-n", &args.fw_n)?;
    if args.fwd_reps == 0 || args.fw_reps == 0 {
        return Err("--fwd-reps and --fw-reps must be positive".into());
    }
    let scratch = scratch_dir();
    std::fs::create_dir_all(&scratch).map_err(|e| format!("scratch dir: {e}"))?;
    // Set before any thread or child exists: every hostnet run below inherits them.
    std::env::set_var("HOSTNET_STATE_DIR", scratch.join("state"));
    std::env::set_var("HOSTNET_LIB_DIR", scratch.join("lib"));
    let result = measure(args);
    let _ = std::fs::remove_dir_all(&scratch);
    let run = result?;
    let out = args.out();
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let goals = write::write(&run, out)?;
    for g in &goals {
        println!("{}: {}", g.statement, g.verdict_text());
    }
    println!(
        "wrote {0}/GOALS.md, {0}/goals.json, {0}/goals.svg",
        out.display()
    );
    Ok(())
}

fn measure(args: &Args) -> Res<Run> {
    let t = Instant::now();
    let tools = Tools {
        hostnet: args.hostnet.clone(),
        nmstatectl: None,
    };
    let mut parts = Vec::new();
    let mut apply = Report::new();
    let ip = Command::new("ip").arg("-V").output();
    let ip = ip.map_or_else(
        |e| e.to_string(),
        |o| String::from_utf8_lossy(&o.stdout).trim().to_string(),
    );
    apply.env.push(("ip".into(), ip));
    part(&mut parts, "apply", || {
        steps::run_all(
            &args.n,
            &args.reps,
            Teardown::DeleteNamespace,
            &tools,
            &[Method::Hostnet, Method::IpBatch],
            &mut apply,
        )
    })?;
    let forwarding = part(&mut parts, "forwarding", || {
        forward::measure(&tools, &args.fwd_n, args.fwd_reps, args.seconds())
    })?;
    let firewall = part(&mut parts, "firewall change", || {
        let dir: PathBuf = scratch_dir().join("fw");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut out = Vec::new();
        for &n in &args.fw_n {
            check_interrupted()?;
            eprintln!("firewall change among N={n}, {} repetitions", args.fw_reps);
            let figures = fw_apply::run(n, args.fw_reps, &dir, args.hostnet.as_deref())
                .map_err(|e| hostnet::error_chain(&e))?;
            out.push(FwFigures { n, figures });
        }
        Ok(out)
    })?;
    Ok(Run {
        command: std::env::args().collect::<Vec<_>>().join(" "),
        commit: commit(),
        args_n: args.n.clone(),
        apply,
        forwarding,
        firewall,
        parts,
        took: t.elapsed(),
    })
}
