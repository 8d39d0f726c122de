//! `hostnet show -o yaml > f && hostnet apply f` on a host with networks (finding 5): the
//! output lists the networks' bridges as interfaces and re-applies to nothing, without a
//! warning. The apply recognises each bridge it left as it was as its network's own: the
//! committed state keeps the network declaring it. A file that changes such a bridge is
//! still not recorded, with the warning naming it.

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

/// The committed state files under `dir`, concatenated.
fn committed_text(dir: &Path) -> String {
    let mut out = String::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.push_str(&committed_text(&p));
        } else if p.to_string_lossy().contains("committed") {
            out.push_str(&std::fs::read_to_string(&p).unwrap_or_default());
        }
    }
    out
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
    assert!(doc.contains("name: mgmt"), "{doc}");
    let committed = || committed_text(dir.path());
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
    // Recorded: the NIC stand-ins are in the committed state, the bridge is the network's.
    let store = committed();
    assert!(
        store.contains("\"eth0p\"") && !store.contains("\"linux-bridge\""),
        "{store}"
    );
    assert!(store.contains("\"mgmt\""), "{store}");
    // `show` says the same again, and the network is still the record's.
    let again = hostnet(dir.path(), &["show", "-o", "yaml"], "");
    assert_eq!(String::from_utf8_lossy(&again.stdout), doc);
    let status = hostnet(dir.path(), &["status"], "");
    assert!(
        String::from_utf8_lossy(&status.stdout).contains("mgmt"),
        "{}",
        text(&status)
    );

    // Changing the bridge as an interface is a change the store could not restore: it
    // applies, the warning names the bridge, and the state committed before stays.
    let mtu = doc.replacen(
        "- name: mgmt\n  type: linux-bridge\n  state: up\n  mtu: 1500",
        "- name: mgmt\n  type: linux-bridge\n  state: up\n  mtu: 1400",
        1,
    );
    assert_ne!(mtu, doc);
    let o = hostnet(dir.path(), &["apply", "-"], &mtu);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("is the bridge of the committed network mgmt"),
        "{}",
        text(&o)
    );
    assert_eq!(committed(), store);
}
