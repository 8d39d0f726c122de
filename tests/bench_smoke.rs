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
