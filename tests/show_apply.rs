//! `hostnet show -o yaml > f && hostnet apply f` on a host with networks: the output
//! re-applies to nothing and without a warning. `show` leaves out the bridges of committed
//! networks (each network declares its bridge, and a device is declared in one place), so
//! the apply's record folds into the committed state without a conflict.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{enter_private_netns, run_ops, text, veth};

const NETWORK: &str = "\
networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
";

/// The hostnet binary with state and committed state under `dir`.
fn hostnet(dir: &Path, args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(args)
        .env("HOSTNET_OVSDB", common::NO_OVSDB)
        .env("HOSTNET_STATE_DIR", dir.join("state"))
        .env("HOSTNET_LIB_DIR", dir.join("lib"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn hostnet");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("hostnet runs")
}

#[test]
fn show_output_of_a_host_with_networks_reapplies_to_nothing_without_a_warning() {
    if !enter_private_netns("show_output_of_a_host_with_networks_reapplies_to_nothing") {
        return;
    }
    run_ops(&[veth("eth0", "eth0p")]);
    let dir = tempfile::tempdir().expect("tempdir");
    let o = hostnet(dir.path(), &["apply", "-"], NETWORK);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    let shown = hostnet(dir.path(), &["show", "-o", "yaml"], "");
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown));
    let doc = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(!doc.contains("name: mgmt"), "{doc}");
    assert!(
        doc.contains("#   mgmt (the bridge of network mgmt)"),
        "{doc}"
    );
    assert!(doc.contains("name: eth0"), "{doc}");

    let o = hostnet(dir.path(), &["apply", "-"], &doc);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to change"),
        "{}",
        text(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("warning"),
        "{}",
        text(&o)
    );
    // The committed state still holds the network, and `show` says the same again.
    let again = hostnet(dir.path(), &["show", "-o", "yaml"], "");
    assert_eq!(String::from_utf8_lossy(&again.stdout), doc);
    let json = hostnet(dir.path(), &["show", "-o", "json"], "");
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(
        v["network-bridges"],
        serde_json::json!(["mgmt (the bridge of network mgmt)"])
    );
    let status = hostnet(dir.path(), &["status"], "");
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("mgmt"),
        "{}",
        text(&status)
    );
}
