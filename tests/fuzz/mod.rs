//! The kernel-differential state-transition fuzzer (issue 12): random walks of input
//! files over a fixed sandbox; each step is dry-run on the model, applied to the kernel,
//! and checked (see [`step`]). A failure prints its seed and a shrunk reproducer.
//!
//! Environment (long mode for soak runs):
//! * `HOSTNET_FUZZ_SEED`: the first walk's seed (default 1; `random`: from the clock);
//! * `HOSTNET_FUZZ_STEPS`: transitions in all (default 200);
//! * `HOSTNET_FUZZ_SECONDS`: stop starting walks after this long (default 300);
//! * `HOSTNET_FUZZ_WALK`: transitions per walk (default 20);
//! * `HOSTNET_FUZZ_BUGS`: known bug classes to exercise (`all`, `none`, or names; see
//!   [`gen::Bug`]); default [`gen::ENABLED_BY_DEFAULT`];
//! * `HOSTNET_FUZZ_KEEP_GOING=1`: after a failure (shrunk and reported), go on with the
//!   next walk and fail at the end, to collect several findings in one soak run;
//! * `HOSTNET_FUZZ_SHRINK_SECONDS`: the shrinking budget per failure (default 150);
//! * `HOSTNET_FUZZ_OUT`: a directory for the reproducers' files;
//! * `HOSTNET_FUZZ_PRINT=1`: print every file as it is applied.
#![allow(dead_code)]

pub mod gen;
pub mod lab;
pub mod next;
pub mod rng;
pub mod shrink;
pub mod step;
pub mod walk;

use std::time::{Duration, Instant};

use gen::Switches;

/// True when the fuzzer can run here; prints `SKIP` (or panics under CI) otherwise.
pub fn may_run(test: &str) -> bool {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root".to_string())
    } else if std::process::Command::new("ip").arg("-V").output().is_err() {
        Some("needs ip (apt-get install iproute2)".to_string())
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
                panic!("{test}: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
            }
            eprintln!("SKIP {test}: {why}");
            false
        }
    }
}

/// Whether dnsmasq is installed (DHCP servers are generated only then).
pub fn have_dnsmasq() -> bool {
    std::process::Command::new("dnsmasq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs walks until the step or time budget is spent; panics with the reproducers of
/// what failed.
pub fn run(test: &str) {
    let sw = Switches::from_env(have_dnsmasq());
    if !sw.dhcp && std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
        panic!("{test}: needs dnsmasq (apt-get install dnsmasq-base)");
    }
    let first_seed = match std::env::var("HOSTNET_FUZZ_SEED").as_deref() {
        Ok("random") => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
        _ => env_num("HOSTNET_FUZZ_SEED", 1),
    };
    let steps = env_num("HOSTNET_FUZZ_STEPS", 200) as usize;
    let seconds = env_num("HOSTNET_FUZZ_SECONDS", 300);
    let per_walk = env_num("HOSTNET_FUZZ_WALK", 20).max(1) as usize;
    let shrink_budget = Duration::from_secs(env_num("HOSTNET_FUZZ_SHRINK_SECONDS", 150));
    let keep_going = std::env::var("HOSTNET_FUZZ_KEEP_GOING").as_deref() == Ok("1");
    let out = std::env::var_os("HOSTNET_FUZZ_OUT").map(std::path::PathBuf::from);
    eprintln!(
        "fuzz: first seed {first_seed}, up to {steps} transitions in walks of {per_walk}, {seconds} s; {}",
        sw.describe()
    );
    let start = Instant::now();
    let (mut done, mut clean, mut walks) = (0usize, 0usize, 0u64);
    let mut reports = Vec::new();
    while done < steps && start.elapsed() < Duration::from_secs(seconds) {
        let seed = first_seed.wrapping_add(walks);
        walks += 1;
        let n = per_walk.min(steps - done);
        let docs = walk::draw(seed, n, &sw);
        match walk::replay(&format!("w{walks}"), &docs, &sw) {
            Ok(()) => {
                done += n;
                clean += n;
            }
            Err((at, failure)) => {
                done += at + 1;
                clean += at;
                eprintln!(
                    "fuzz: seed {seed} failed at step {} of {n}: {}; shrinking",
                    at + 1,
                    failure.kind
                );
                let (small, small_failure, trials) = walk::shrink(
                    &format!("w{walks}"),
                    &docs,
                    at,
                    &failure,
                    &sw,
                    shrink_budget,
                );
                let headline = format!(
                    "fuzz: seed {seed} (HOSTNET_FUZZ_SEED={seed} HOSTNET_FUZZ_WALK={n}), failed at step {} of {n}; shrunk to {} steps in {trials} trials",
                    at + 1,
                    small.len()
                );
                let dir = out.as_ref().map(|d| d.join(format!("seed-{seed}")));
                let r = walk::reproducer(&headline, &small, &small_failure, &sw, dir.as_deref());
                eprintln!("{r}");
                reports.push(r);
                if !keep_going {
                    break;
                }
            }
        }
    }
    eprintln!(
        "fuzz: {done} transitions in {walks} walks, {clean} clean, {} failures, {:.0} s ({})",
        reports.len(),
        start.elapsed().as_secs_f64(),
        step::times()
    );
    assert!(reports.is_empty(), "{}", reports.join("\n\n"));
}

/// A regression test from a reproducer: applies each file in a fresh sandbox with the
/// file-only checks of [`step::check_yaml`].
pub fn regression(name: &str, files: &[&str]) {
    regression_with(name, &[], files);
}

/// [`regression`] with the checks of bug classes `bugs` on (those that change what is
/// compared); returns the sandbox for further checks (`None`: skipped).
pub fn regression_with(name: &str, bugs: &[gen::Bug], files: &[&str]) -> Option<lab::Lab> {
    if !may_run(name) {
        return None;
    }
    let mut sw = Switches::from_env(have_dnsmasq());
    sw.bugs.extend(bugs);
    let lab = lab::Lab::new(&format!("r{}", name.len()));
    let print = std::env::var("HOSTNET_FUZZ_PRINT").as_deref() == Ok("1");
    for (k, yaml) in files.iter().enumerate() {
        let checked = step::check_yaml(&lab, yaml, &sw);
        if print {
            eprintln!(
                "--- {name} step {}: {}\n{yaml}",
                k + 1,
                if checked.is_ok() { "ok" } else { "failed" }
            );
        }
        if let Err(f) = checked {
            panic!(
                "{name}: step {}: {}\n{}\n--- file\n{yaml}",
                k + 1,
                f.kind,
                f.detail
            );
        }
    }
    Some(lab)
}
