//! The benchmark command keeps working: `hostnet-bench` in its quick mode (N=5, one
//! repetition, hostnet and `ip -batch` only) must succeed and write its table, raw data and
//! plot. Nothing is timed here; the benchmark itself checks every result with `ip -j`.

use std::process::Command;

#[test]
fn bench_quick_mode_succeeds() {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root (the benchmark creates network namespaces)")
    } else if Command::new("ip").arg("-V").output().is_err() {
        Some("needs iproute2 (`ip`)")
    } else {
        None
    };
    if let Some(why) = why {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("bench_quick_mode_succeeds: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP bench_quick_mode_succeeds: {why}");
        return;
    }
    let out = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_hostnet-bench"))
        .args([
            "--n",
            "5",
            "--reps",
            "1",
            "--skip-nmstate",
            "--skip-ip-per-op",
            "--out",
        ])
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start hostnet-bench");
    let prefix = format!("hnb-{}-", child.id());
    let result = child.wait_with_output().expect("run hostnet-bench");
    assert!(
        result.status.success(),
        "hostnet-bench failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let table = std::fs::read_to_string(out.path().join("RESULTS.md")).expect("RESULTS.md");
    for row in [
        "| apply | **hostnet** |",
        "| apply | ip -batch |",
        "| teardown | **hostnet** |",
    ] {
        assert!(table.contains(row), "{row} missing from:\n{table}");
    }
    let raw: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("results.json")).expect("results.json"),
    )
    .expect("results.json is JSON");
    assert!(raw["records"].as_array().is_some_and(|r| r.len() >= 8));
    let svg = std::fs::read_to_string(out.path().join("apply.svg")).expect("apply.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    // No namespace of this run is left behind.
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left over: {left:?}");
}

/// The forwarding mode (`--forwarding`) with N=3, one short repetition: it must apply the
/// networks, swap the rule layouts, pass its own check that the measured rules are
/// hostnet's, and write its table. Rates are printed, never compared.
#[test]
fn bench_forwarding_mode_succeeds() {
    if !nix::unistd::geteuid().is_root() {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("bench_forwarding_mode_succeeds: needs root, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP bench_forwarding_mode_succeeds: needs root");
        return;
    }
    let out = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_hostnet-bench"))
        .args([
            "--forwarding",
            "--n",
            "3",
            "--reps",
            "1",
            "--seconds",
            "0.1",
            "--out",
        ])
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start hostnet-bench");
    let prefix = format!("hnb-{}-", child.id());
    let result = child.wait_with_output().expect("run hostnet-bench");
    assert!(
        result.status.success(),
        "hostnet-bench --forwarding failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let table = std::fs::read_to_string(out.path().join("FORWARDING.md")).expect("FORWARDING.md");
    for row in [
        "| 0 | 4 | hostnet (block) |",
        "| 3 | 7 | hostnet (block) |",
        "| 3 | 8 | earlier (from + to) |",
        "| 3 | 0 | no rules |",
    ] {
        assert!(table.contains(row), "{row} missing from:\n{table}");
    }
    let raw: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("forwarding.json")).expect("forwarding.json"),
    )
    .expect("forwarding.json is JSON");
    assert_eq!(raw["samples"].as_array().map(Vec::len), Some(2 * 3 * 3));
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left over: {left:?}");
}

/// `--goals` at a few networks (a trial run): all three parts run, the report states the
/// three goals with a verdict that says it is a trial, and nothing is left behind.
/// Nothing is timed or compared here: the verdict logic has its own unit tests
/// (`goals::verdict` in the binary).
#[test]
fn bench_goals_mode_succeeds() {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root")
    } else if Command::new("nft").arg("--version").output().is_err() {
        Some("needs nft (the firewall part)")
    } else {
        None
    };
    if let Some(why) = why {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("bench_goals_mode_succeeds: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP bench_goals_mode_succeeds: {why}");
        return;
    }
    let out = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_hostnet-bench"))
        .args(["--goals", "--n", "3,6", "--reps", "1", "--fwd-n", "3"])
        .args(["--fwd-reps", "1", "--seconds", "0.05", "--fw-n", "3"])
        .args(["--fw-reps", "1", "--out"])
        .arg(out.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start hostnet-bench");
    let pid = child.id();
    let result = child.wait_with_output().expect("run hostnet-bench");
    assert!(
        result.status.success(),
        "hostnet-bench --goals failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let md = std::fs::read_to_string(out.path().join("GOALS.md")).expect("GOALS.md");
    for line in [
        "forwarding rate with 1,000 networks ≥ 0.9× the rate with none",
        "apply time per network at 4,000 networks within 1.2× of that at 1,000",
        "a one-network firewall change among 1,000 under 25 ms",
        "**N = 6**",
        "| apply | ip -batch |",
        "| teardown | delete the namespace |",
    ] {
        assert!(md.contains(line), "{line} missing from:\n{md}");
    }
    let raw: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("goals.json")).expect("goals.json"),
    )
    .expect("goals.json is JSON");
    let goals = raw["goals"].as_array().expect("goals");
    assert_eq!(goals.len(), 3);
    for g in goals {
        assert!(g["met"].is_boolean(), "no verdict: {g}");
        assert_eq!(g["at_goal_n"], false, "a trial claims the goal: {g}");
    }
    assert_eq!(raw["parts"].as_array().map(Vec::len), Some(3));
    let svg = std::fs::read_to_string(out.path().join("goals.svg")).expect("goals.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let prefixes = [format!("hnb-{pid}-"), format!("hnfwb-{pid}-")];
    let left: Vec<String> = std::fs::read_dir("/run/netns")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| prefixes.iter().any(|p| n.starts_with(p)))
                .collect()
        })
        .unwrap_or_default();
    assert!(left.is_empty(), "left over: {left:?}");
}
