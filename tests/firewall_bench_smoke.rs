//! The firewall benchmark keeps working: `hostnet-fw-bench` in a quick mode (10 networks,
//! one repetition, every backend) must succeed and write its table. Nothing is timed
//! here; the benchmark itself checks that what it loaded and changed reads back intact.

#[path = "firewall/lab.rs"]
mod lab;

use std::process::Command;

#[test]
fn firewall_bench_quick_mode_succeeds() {
    let tools = [
        "nft",
        "iptables-nft-restore",
        "ip6tables-nft-restore",
        "iptables-legacy-restore",
        "ip6tables-legacy-restore",
    ];
    if !lab::may_run("firewall_bench_quick_mode_succeeds", &tools) {
        return;
    }
    let out = tempfile::tempdir().expect("temp dir");
    let result = Command::new(env!("CARGO_BIN_EXE_hostnet-fw-bench"))
        .args(["--n", "10", "--reps", "1", "--out"])
        .arg(out.path())
        .output()
        .expect("run hostnet-fw-bench");
    assert!(
        result.status.success(),
        "hostnet-fw-bench failed: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    let table = std::fs::read_to_string(out.path().join("RESULTS.md")).expect("RESULTS.md");
    for row in [
        "| nftables | 10 |",
        "| iptables (nf_tables) | 10 |",
        "| iptables (legacy) | 10 |",
    ] {
        assert!(table.contains(row), "{row} missing from:\n{table}");
    }
}
