//! nmstate's Open vSwitch keys (docs/NMSTATE.md, "Open vSwitch"): the OVS files of the corpus
//! (`tests/nmstate/`) against a private ovsdb-server and ovs-vswitchd (userspace datapath)
//! in the test's namespace, a module of `tests/ovs_e2e.rs` (the OVS tier; the VM tier's
//! guest has no Open vSwitch): bridge options and port
//! VLANs checked with `ovs-vsctl`/`ovs-appctl`, a second apply and `show`'s output applied
//! back change nothing, the dry run predicts OVSDB, and a failure after the OVS
//! transaction takes the options back.

use std::process::Command;

use super::common::ovs::Ovs;
use super::common::{enter_private_netns, run_ops, text, veth};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{Driver, KernelState};

#[path = "ovs_db.rs"]
mod ovs_db;
#[path = "ovs_maps.rs"]
mod ovs_maps;

/// A corpus file, compiled in.
fn read(file: &str) -> &'static str {
    match file {
        "ovs_bridge.yml" => include_str!("ovs_bridge.yml"),
        "ovs_bridge_absent.yml" => include_str!("ovs_bridge_absent.yml"),
        "ovs_bridge_stp.yml" => include_str!("ovs_bridge_stp.yml"),
        "ovs_patch.yml" => include_str!("ovs_patch.yml"),
        "ovs_patch_absent.yml" => include_str!("ovs_patch_absent.yml"),
        "ovs_bond.yml" => include_str!("ovs_bond.yml"),
        "ovs_bridge_db.yml" => include_str!("ovs_bridge_db.yml"),
        "ovs_db_global.yml" => include_str!("ovs_db_global.yml"),
        "ovs_bond_db.yml" => include_str!("ovs_bond_db.yml"),
        "ovs_db_values.yml" => include_str!("ovs_db_values.yml"),
        "ovn_bridge_mappings.yml" => include_str!("ovn_bridge_mappings.yml"),
        other => panic!("{other} is not in the OVS corpus"),
    }
}

/// The corpus fixture (tests/nmstate/README.md): `eth1`/`eth1p` and `eth2`/`eth2p`, up.
fn fixture() {
    run_ops(&[veth("eth1", "eth1p"), veth("eth2", "eth2p")]);
}

fn ip(args: &[&str]) -> String {
    let o = Command::new("ip").args(args).output().expect("ip runs");
    assert!(o.status.success(), "ip {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn query() -> KernelState {
    LinuxDriver::new().expect("netlink").query().expect("query")
}

/// Asserts that every word sequence of `facts` appears in `have`.
fn has_all(what: &str, have: &str, facts: &[&str]) {
    let words: Vec<&str> = have.split_whitespace().collect();
    for fact in facts {
        let want: Vec<&str> = fact.split_whitespace().collect();
        let found = words.windows(want.len()).any(|w| w == want.as_slice());
        assert!(found, "{what}: {fact:?} not in:\n{have}");
    }
}

/// `hostnet` with the private database.
fn run(ovs: &Ovs, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(args)
        .env("HOSTNET_OVSDB", &ovs.db)
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

fn no_change(ovs: &Ovs, what: &str, yaml: &str) {
    let o = run(ovs, &["apply", "-"], yaml);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to change"),
        "{what}: {}\n--- file:\n{yaml}",
        text(&o)
    );
}

fn state(ovs: &Ovs) -> KernelState {
    LinuxDriver::new()
        .expect("netlink")
        .with_ovs(ovs.vsctl())
        .query()
        .expect("query")
}

/// `ovs-vsctl get TABLE RECORD COLUMN...`, one value a line.
fn get(ovs: &Ovs, table: &str, record: &str, columns: &[&str]) -> Vec<String> {
    let o = Command::new("ovs-vsctl")
        .arg(format!("--db={}", ovs.db))
        .args(["--timeout=30", "get", table, record])
        .args(columns)
        .output()
        .expect("ovs-vsctl runs");
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Applies `yaml` and checks that it converged: the dry run predicted OVSDB, a second
/// apply and `show`'s output applied back change nothing.
fn converges_ovs(ovs: &Ovs, what: &str, yaml: &str) {
    let d = hostnet::model::parse(yaml).expect("parses");
    hostnet::model::validate(&d).expect("valid");
    let intent = hostnet::expand::expand(&d).expect("expands");
    let mut model = ModelDriver::new(state(ovs));
    let opts = hostnet::engine::ApplyOptions {
        dry_run: false,
        journal: None,
        discard_stale_journal: false,
    };
    hostnet::engine::apply(&mut model, &intent, opts, |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("{what}: dry run: {e}"));
    let o = run(ovs, &["apply", "-"], yaml);
    assert!(o.status.success(), "{what}: {}\n{}", text(&o), ovs.log());
    assert_eq!(
        model.state().ovs,
        state(ovs).ovs,
        "{what}: the model and OVSDB disagree"
    );
    no_change(ovs, what, yaml);
    let shown = run(ovs, &["show"], "");
    assert!(shown.status.success(), "{}", text(&shown));
    let doc = String::from_utf8_lossy(&shown.stdout).into_owned();
    no_change(ovs, &format!("{what}: show applied back"), &doc);
}

#[test]
fn ovs_bridge_options_and_port_vlans() {
    let test = "ovs_bridge_options_and_port_vlans";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "ovs_bridge.yml", read("ovs_bridge.yml"));
    assert_eq!(
        get(
            &ovs,
            "Bridge",
            "ovs-br-nm",
            &[
                "datapath_type",
                "stp_enable",
                "rstp_enable",
                "mcast_snooping_enable",
                "fail_mode"
            ]
        ),
        ["netdev", "false", "false", "true", "standalone"]
    );
    assert_eq!(
        get(&ovs, "Port", "eth1", &["tag", "vlan_mode"]),
        ["10", "access"]
    );
    assert_eq!(
        get(&ovs, "Port", "eth2", &["vlan_mode", "tag", "trunks"]),
        [
            "native-untagged",
            "20",
            "[21, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39]"
        ]
    );
    assert_eq!(
        get(
            &ovs,
            "Interface",
            "ovsnm0",
            &["type", "other_config:emc-enable"]
        ),
        ["internal", "\"false\""]
    );
    has_all(
        "ovsnm0",
        &ip(&["addr", "show", "ovsnm0"]),
        &["192.0.2.90/24"],
    );
    assert!(query().links["ovsnm0"].up);

    // The bridge's options change in place, and a failure after the OVS transaction
    // (a route the kernel refuses) takes them back, with the ports' VLANs.
    let before = state(&ovs).ovs;
    let changed = format!(
        "{}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.9, next-hop-interface: ovsnm0}}\n",
        read("ovs_bridge.yml")
            .replace("fail-mode: standalone", "fail-mode: secure")
            .replace("mcast-snooping-enable: true", "mcast-snooping-enable: false")
            .replace("mode: access\n            tag: 10", "mode: access\n            tag: 11")
    );
    let o = run(&ovs, &["apply", "-"], &changed);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(state(&ovs).ovs, before, "{}", text(&o));
    assert_eq!(
        get(&ovs, "Bridge", "ovs-br-nm", &["fail_mode"]),
        ["standalone"]
    );

    // A bridge with a fail mode is removed (a rollback could restore it); its ports stay
    // as devices.
    let o = run(&ovs, &["apply", "-"], read("ovs_bridge_absent.yml"));
    assert!(o.status.success(), "{}", text(&o));
    let s = state(&ovs);
    assert!(s.ovs.bridges.is_empty(), "{:?}", s.ovs);
    assert!(s.links.contains_key("eth1") && s.links.contains_key("eth2"));
    assert!(!s.links.contains_key("ovsnm0"));
}

#[test]
fn ovs_bridge_stp_timers_fail_mode_and_trunk() {
    let test = "ovs_bridge_stp_timers_fail_mode_and_trunk";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "ovs_bridge_stp.yml", read("ovs_bridge_stp.yml"));
    assert_eq!(
        get(
            &ovs,
            "Bridge",
            "ovs-br-stp",
            &[
                "stp_enable",
                "rstp_enable",
                "mcast_snooping_enable",
                "fail_mode",
                "other_config:stp-forward-delay",
                "other_config:stp-hello-time",
                "other_config:stp-max-age",
                "other_config:stp-priority",
            ]
        ),
        [
            "true",
            "false",
            "false",
            "secure",
            "\"13\"",
            "\"3\"",
            "\"24\"",
            "\"28672\""
        ]
    );
    assert_eq!(
        get(&ovs, "Port", "eth1", &["vlan_mode", "tag", "trunks"]),
        ["trunk", "[]", "[100, 101, 102, 103, 104, 200]"]
    );
    // ovs-vswitchd runs STP with those timers (not the hello time: OVS 3.1 reads
    // stp-hello-time as milliseconds, docs/NMSTATE.md).
    let ctl = ovs.dir.path().join("ovs-vswitchd.ctl");
    let o = Command::new("ovs-appctl")
        .arg(format!("--target={}", ctl.display()))
        .args(["stp/show", "ovs-br-stp"])
        .output()
        .expect("ovs-appctl runs");
    let stp = String::from_utf8_lossy(&o.stdout).into_owned();
    has_all(
        "stp/show",
        &stp,
        &["stp-priority 28672", "stp-max-age 24s", "stp-fwd-delay 13s"],
    );

    // STP off by nmstate's boolean form; unmentioned options stay.
    let off = "interfaces: [{name: ovs-br-stp, type: ovs-bridge, bridge: {options: {stp: false}}}]";
    converges_ovs(&ovs, "stp: false", off);
    assert_eq!(
        get(&ovs, "Bridge", "ovs-br-stp", &["stp_enable", "fail_mode"]),
        ["false", "secure"]
    );
    // `fail-mode: ""` clears it.
    let cleared =
        "interfaces: [{name: ovs-br-stp, type: ovs-bridge, bridge: {options: {fail-mode: ''}}}]";
    converges_ovs(&ovs, "fail-mode: \"\"", cleared);
    assert_eq!(get(&ovs, "Bridge", "ovs-br-stp", &["fail_mode"]), ["[]"]);
    let o = run(
        &ovs,
        &["apply", "-"],
        "interfaces: [{name: ovs-br-stp, type: ovs-bridge, state: absent}]",
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(state(&ovs).ovs.bridges.is_empty());
}

#[test]
fn ovs_patch_ports() {
    let test = "ovs_patch_ports";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "ovs_patch.yml", read("ovs_patch.yml"));
    for (port, peer) in [("patch-nm0", "patch-nm1"), ("patch-nm1", "patch-nm0")] {
        let got = get(&ovs, "Interface", port, &["type", "options", "ofport"]);
        assert_eq!(got[..2], ["patch".to_string(), format!("{{peer={peer}}}")]);
        // ovs-vswitchd made the port (a patch port without its peer gets no OpenFlow port).
        assert!(
            got[2].parse::<i64>().is_ok_and(|n| n > 0),
            "{port}: {got:?}"
        );
        assert!(!query().links.contains_key(port), "{port} has a device");
    }
    // A failure after the removal puts both bridges back with their patch ports.
    let before = state(&ovs).ovs;
    let failing = format!(
        "{}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.9, next-hop-interface: eth2}}\n",
        read("ovs_patch_absent.yml")
    );
    let o = run(&ovs, &["apply", "-"], &failing);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(state(&ovs).ovs, before, "{}", text(&o));
    let o = run(&ovs, &["apply", "-"], read("ovs_patch_absent.yml"));
    assert!(o.status.success(), "{}", text(&o));
    let s = state(&ovs);
    assert!(s.ovs.bridges.is_empty(), "{:?}", s.ovs);
    assert!(s.links.contains_key("eth1"));
}

#[test]
fn ovs_bond_of_two_devices() {
    let test = "ovs_bond_of_two_devices";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "ovs_bond.yml", read("ovs_bond.yml"));
    assert_eq!(
        get(
            &ovs,
            "Port",
            "bond-nm0",
            &["bond_mode", "lacp", "bond_updelay", "bond_downdelay", "tag"]
        ),
        ["balance-slb", "off", "100", "200", "30"]
    );
    let ctl = ovs.dir.path().join("ovs-vswitchd.ctl");
    let bond_show = || {
        let o = Command::new("ovs-appctl")
            .arg(format!("--target={}", ctl.display()))
            .args(["bond/show", "bond-nm0"])
            .output()
            .expect("ovs-appctl runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    has_all(
        "bond/show",
        &bond_show(),
        &[
            "bond_mode: balance-slb",
            "updelay: 100 ms",
            "downdelay: 200 ms",
            "member eth1:",
            "member eth2:",
        ],
    );

    // nmstate's lacp mode changes the bond in place; a failure after it takes it back.
    let lacp = read("ovs_bond.yml").replace("mode: balance-slb", "mode: lacp");
    let before = state(&ovs).ovs;
    let failing = format!(
        "{lacp}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.9, next-hop-interface: eth1}}\n"
    );
    let o = run(&ovs, &["apply", "-"], &failing);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(state(&ovs).ovs, before, "{}", text(&o));
    converges_ovs(&ovs, "mode: lacp", &lacp);
    assert_eq!(get(&ovs, "Port", "bond-nm0", &["lacp"]), ["active"]);

    // The bridge's removal, failing after it, puts the bond back as it was.
    let removal = "interfaces: [{name: ovs-br-bond, type: ovs-bridge, state: absent}]\n";
    let before = state(&ovs).ovs;
    let failing = format!(
        "{removal}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.9, next-hop-interface: eth1}}\n"
    );
    let o = run(&ovs, &["apply", "-"], &failing);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(state(&ovs).ovs, before, "{}", text(&o));
    let o = run(&ovs, &["apply", "-"], removal);
    assert!(o.status.success(), "{}", text(&o));
    let s = state(&ovs);
    assert!(s.ovs.bridges.is_empty(), "{:?}", s.ovs);
    assert!(s.links.contains_key("eth1") && s.links.contains_key("eth2"));
}
