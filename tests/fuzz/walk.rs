//! Random walks of transitions, shrinking a failing walk, and its reproducer.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::gen::{self, Doc, Effective, Switches, WalkConsts};
use super::lab::Lab;
use super::rng::Rng;
use super::step::{self, Failure};

/// The files of one walk, drawn from `seed`.
pub fn draw(seed: u64, steps: usize, sw: &Switches) -> Vec<Doc> {
    let mut rng = Rng::new(seed);
    let wc = WalkConsts::draw(&mut rng);
    let mut eff = Effective::default();
    (0..steps)
        .map(|_| {
            let doc = gen::next(&mut rng, &eff, sw, &wc);
            eff = eff.after(&doc);
            doc
        })
        .collect()
}

/// Runs `docs` from a fresh sandbox; the index of the failing step and why.
pub fn replay(tag: &str, docs: &[Doc], sw: &Switches) -> Result<(), (usize, Failure)> {
    let t = std::time::Instant::now();
    let lab = Lab::new(tag);
    if std::env::var("HOSTNET_FUZZ_PRINT").as_deref() == Ok("1") {
        eprintln!("lab {tag}: {:.1} s", t.elapsed().as_secs_f64());
    }
    let mut eff = Effective::default();
    let print = std::env::var("HOSTNET_FUZZ_PRINT").as_deref() == Ok("1");
    for (k, doc) in docs.iter().enumerate() {
        if print {
            eprintln!("--- {tag} step {}\n{}", k + 1, doc.to_yaml());
        }
        eff = step::run(&lab, doc, &eff, sw).map_err(|f| (k, f))?;
    }
    Ok(())
}

/// Shrinks a walk that failed at `at` with `failure`: first fewer steps, then simpler
/// files, keeping only changes after which the same check still fails. Bounded by
/// `budget`.
pub fn shrink(
    tag: &str,
    docs: &[Doc],
    at: usize,
    failure: &Failure,
    sw: &Switches,
    budget: Duration,
) -> (Vec<Doc>, Failure, usize) {
    let start = Instant::now();
    let mut best: Vec<Doc> = docs[..=at].to_vec();
    let mut best_failure = failure.clone();
    let mut trials = 0;
    let still_fails = |cand: &[Doc], trials: &mut usize| -> Option<(usize, Failure)> {
        if gen::admissible(cand, sw).is_err() {
            return None;
        }
        *trials += 1;
        match replay(&format!("{tag}s"), cand, sw) {
            Err((k, f)) if f.kind == failure.kind => Some((k, f)),
            _ => None,
        }
    };
    // Fewer steps: drop runs of steps, halving their length down to one (the failing
    // step included, if an earlier one already fails the same way).
    let mut chunk = best.len().div_ceil(2);
    while chunk >= 1 && start.elapsed() < budget {
        let mut k = 0;
        while k < best.len() && best.len() > 1 && start.elapsed() < budget {
            let mut cand = best.clone();
            cand.drain(k..(k + chunk).min(best.len()));
            if cand.is_empty() {
                k += chunk;
                continue;
            }
            if let Some((at, f)) = still_fails(&cand, &mut trials) {
                cand.truncate(at + 1);
                best = cand;
                best_failure = f;
            } else {
                k += chunk;
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2).max(1);
        if chunk == 2 && best.len() <= 2 {
            chunk = 1;
        }
    }
    let mut progress = true;
    // Simpler files.
    while progress && start.elapsed() < budget {
        progress = false;
        for k in 0..best.len() {
            for simpler in gen::simpler(&best[k]) {
                if start.elapsed() >= budget {
                    break;
                }
                let mut cand = best.clone();
                cand[k] = simpler;
                if let Some((at, f)) = still_fails(&cand, &mut trials) {
                    cand.truncate(at + 1);
                    best = cand;
                    best_failure = f;
                    progress = true;
                    break;
                }
            }
            if progress {
                break;
            }
        }
    }
    (best, best_failure, trials)
}

/// The reproducer: the files, the commands, and a regression test to paste into
/// `tests/fuzz_regressions.rs`. Also written under `dir` when given.
pub fn reproducer(
    headline: &str,
    docs: &[Doc],
    failure: &Failure,
    sw: &Switches,
    dir: Option<&std::path::Path>,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{headline}");
    let _ = writeln!(s, "{}", sw.describe());
    let _ = writeln!(s, "failed check: {}", failure.kind);
    let _ = writeln!(s, "{}", failure.detail.trim_end());
    let _ = writeln!(
        s,
        "\nSandbox (tests/fuzz/lab.rs): host NICs {} into routers r0..r2 (every gateway .1/::1 of\n\
         10.1-3.S.0/24 and fd00:1-3:S::/64 on their side), guest ports {} into g0, g1.\n\
         Commands, in the host namespace NS (each file applied with --dry-run first):",
        gen::NICS.join(", "),
        gen::GUEST_PORTS.join(", ")
    );
    for (k, doc) in docs.iter().enumerate() {
        let _ = writeln!(s, "--- step{}.yaml\n{}", k + 1, doc.to_yaml().trim_end());
    }
    for k in 0..docs.len() {
        let _ = writeln!(
            s,
            "hostnet apply step{n}.yaml --netns NS --dry-run -o json && hostnet apply step{n}.yaml --netns NS -o json",
            n = k + 1
        );
    }
    let _ = writeln!(
        s,
        "\nAs a regression test (tests/fuzz_regressions.rs):\n\n#[test]\nfn regression_NAME() {{\n    fuzz::regression(\"NAME\", &["
    );
    for doc in docs {
        let _ = writeln!(s, "        r#\"\n{}\"#,", doc.to_yaml().trim_end());
    }
    let _ = writeln!(s, "    ]);\n}}");
    if let Some(dir) = dir {
        if std::fs::create_dir_all(dir).is_ok() {
            for (k, doc) in docs.iter().enumerate() {
                let _ = std::fs::write(dir.join(format!("step{}.yaml", k + 1)), doc.to_yaml());
            }
            let _ = std::fs::write(dir.join("REPRODUCER.txt"), &s);
        }
    }
    s
}
