//! Open vSwitch end to end: private ovsdb-server and ovs-vswitchd (userspace datapath)
//! in the test's namespace, an OVS bridge with tagged ports applied from YAML, guests in
//! their own namespaces pinging each other across it, external_ids, show, rollback, the
//! device API, and the errors that exit 2.

mod common;
#[path = "nmstate/ovs.rs"]
mod nmstate_ovs;

use std::collections::BTreeMap;
use std::process::Command;

use common::ovs::Ovs;
use common::peer::{move_to, Peer};
use common::{enter_private_netns, run_ops, veth};
use hostnet::devices;
use hostnet::engine::{self, ApplyError, ApplyOptions};
use hostnet::expand::expand;
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, KernelState};
use hostnet::ovs::OvsPort;

fn driver(ovs: &Ovs) -> LinuxDriver {
    LinuxDriver::new().expect("netlink").with_ovs(ovs.vsctl())
}

fn apply(ovs: &Ovs, yaml: &str) -> Result<(), ApplyError> {
    let d = parse(yaml).expect("parses");
    validate(&d).unwrap_or_else(|e| panic!("{e}"));
    let intent = expand(&d).expect("expands");
    engine::apply(
        &mut driver(ovs),
        &intent,
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .map(|_| ())
}

fn state(ovs: &Ovs) -> KernelState {
    driver(ovs).query().expect("query")
}

fn replan(ovs: &Ovs, yaml: &str) -> hostnet::plan::Plan {
    let intent = expand(&parse(yaml).expect("parses")).expect("expands");
    hostnet::plan::plan(&state(ovs), &intent).expect("plans")
}

/// A guest namespace with `g` (the far end of host veth `v`) at `ip`/24.
fn guest(v: &str, g: &str, ip: &str) -> Peer {
    let p = Peer::new();
    run_ops(&[veth(v, g)]);
    move_to(&p, g);
    p.run(|| {
        common::peer::apply_yaml(&format!(
            "interfaces: [{{name: {g}, type: veth, ipv4: {{enabled: true, address: [{{ip: {ip}, prefix-length: 24}}]}}}}]"
        ))
        .expect("guest address")
    });
    p
}

fn pings(from: &Peer, to: &str) -> bool {
    let to = to.to_string();
    from.run(move || {
        Command::new("ping")
            .args(["-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", &to])
            .output()
            .expect("ping runs")
            .status
            .success()
    })
}

const BRIDGE: &str = r#"
interfaces:
  - name: br-int
    type: ovs-bridge
    bridge:
      options: {datapath: netdev}
      port:
        - {name: v1, vlan: {mode: access, tag: 100}}
        - {name: v2, vlan: {mode: access, tag: 100}}
        - {name: v3, vlan: {mode: access, tag: 200}}
        - {name: int0, vlan: {mode: access, tag: 100}}
  - name: v1
    type: veth
    ovs-db:
      external_ids: {iface-id: 5f0c1d7e-port-1, attached-mac: "fa:16:3e:00:00:01", vm-uuid: 9b2e-vm-1}
  - name: int0
    type: ovs-interface
    ipv4: {enabled: true, address: [{ip: 10.9.0.254, prefix-length: 24}]}
"#;

#[test]
fn guests_ping_across_an_ovs_bridge_with_tags_and_external_ids() {
    let test = "guests_ping_across_an_ovs_bridge_with_tags_and_external_ids";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    let g1 = guest("v1", "g1", "10.9.0.1");
    let _g2 = guest("v2", "g2", "10.9.0.2");
    let _g3 = guest("v3", "g3", "10.9.0.3");

    apply(&ovs, BRIDGE).unwrap_or_else(|e| panic!("{e:?}\n{}", ovs.log()));
    let s = state(&ovs);
    let b = &s.ovs.bridges["br-int"];
    assert_eq!(b.datapath.as_deref(), Some("netdev"));
    assert_eq!(b.ports["v1"].tag, Some(100));
    assert_eq!(b.ports["v3"].tag, Some(200));
    assert!(b.ports["int0"].internal);
    assert_eq!(
        b.ports["v1"].external_ids["attached-mac"],
        "fa:16:3e:00:00:01"
    );
    assert!(s.links["int0"].up);
    assert!(replan(&ovs, BRIDGE).is_empty(), "{}", replan(&ovs, BRIDGE));

    assert!(
        pings(&g1, "10.9.0.2"),
        "guest 1 does not reach guest 2 on tag 100"
    );
    assert!(!pings(&g1, "10.9.0.3"), "tag 200 is reachable from tag 100");
    let host = Command::new("ping")
        .args(["-n", "-q", "-c", "2", "-i", "0.2", "-W", "1", "10.9.0.2"])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("ping runs");
    assert!(
        host.success(),
        "the host's internal port does not reach guest 2"
    );

    // show's document re-applies to nothing.
    let yaml = serde_yaml_ng::to_string(&hostnet::show::show(&s).document).expect("yaml");
    assert!(
        yaml.contains("ovs-bridge") && yaml.contains("iface-id"),
        "{yaml}"
    );
    assert!(
        replan(&ovs, &yaml).is_empty(),
        "{}\n{yaml}",
        replan(&ovs, &yaml)
    );

    // A failure after the OVS transaction takes it back: v2 returns to tag 100, v4's
    // port goes again.
    run_ops(&[veth("v4", "g4")]);
    let before = state(&ovs);
    let changed = format!(
        "{}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.9, next-hop-interface: int0}}\n",
        BRIDGE
            .replace("{name: v2, vlan: {mode: access, tag: 100}}", "{name: v2, vlan: {mode: access, tag: 300}}")
            .replace("        - {name: int0,", "        - {name: v4}\n        - {name: int0,")
    );
    let err = apply(&ovs, &changed).expect_err("the kernel refuses the route");
    assert!(matches!(err, ApplyError::RolledBack { .. }), "{err:?}");
    assert_eq!(state(&ovs).ovs, before.ovs);

    // Removal of the bridge takes its ports and internal device.
    apply(
        &ovs,
        "interfaces: [{name: br-int, type: ovs-bridge, state: absent}]",
    )
    .expect("removes");
    let s = state(&ovs);
    assert!(s.ovs.bridges.is_empty());
    assert!(!s.links.contains_key("int0"));
}

#[test]
fn device_api_ports_and_refusals_that_exit_2() {
    let test = "device_api_ports_and_refusals_that_exit_2";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    run_ops(&[veth("tapa", "tapb")]);
    apply(
        &ovs,
        "interfaces: [{name: br-vm, type: ovs-bridge, bridge: {options: {datapath: netdev}}}]",
    )
    .expect("bridge");
    let mut d = driver(&ovs);
    let ids: BTreeMap<String, String> = [
        ("iface-id", "port-7"),
        ("attached-mac", "52:54:00:12:34:56"),
        ("vm-uuid", "vm-7"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let settings = OvsPort {
        tag: Some(7),
        internal: false,
        external_ids: ids,
        ..OvsPort::default()
    };
    devices::create_ovs_port(&mut d, "br-vm", "tapa", &settings).expect("port");
    devices::create_ovs_port(&mut d, "br-vm", "tapa", &settings).expect("again");
    assert_eq!(
        state(&ovs).ovs.bridges["br-vm"].ports["tapa"],
        OvsPort {
            managed: true,
            ..settings.clone()
        }
    );

    // A port on a missing bridge: a plan error, exit 2, nothing changed.
    let before = state(&ovs);
    let err = devices::create_ovs_port(&mut d, "br-gone", "tapb", &settings).expect_err("refused");
    match &err {
        devices::DeviceError::Apply(e) => assert_eq!(e.exit_code(), 2, "{e:?}"),
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().contains("bridge br-gone does not exist"),
        "{err}"
    );
    assert_eq!(state(&ovs), before);

    // The same through the CLI: an ovs-interface no bridge lists, and external_ids for
    // an interface that is no OVS port.
    for (yaml, want) in [
        (
            "interfaces: [{name: int9, type: ovs-interface}]",
            "interfaces[0]: ovs-interface int9 is not a port of any ovs-bridge in this file",
        ),
        (
            "interfaces: [{name: tapb, type: veth, ovs-db: {external_ids: {iface-id: x}}}]",
            "interfaces[0].ovs-db: tapb is not a port of any Open vSwitch bridge",
        ),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostnet"));
        cmd.args(["apply", "-"]).env("HOSTNET_OVSDB", &ovs.db);
        let o = run_with_stdin(cmd, yaml);
        assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
        assert!(common::text(&o).contains(want), "{}", common::text(&o));
    }
    assert_eq!(state(&ovs), before);

    devices::delete_ovs_port(&mut d, "br-vm", "tapa").expect("delete");
    devices::delete_ovs_port(&mut d, "br-vm", "tapa").expect("again");
    assert!(state(&ovs).ovs.bridges["br-vm"].ports.is_empty());
}

fn run_with_stdin(mut cmd: Command, input: &str) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hostnet runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write");
    child.wait_with_output().expect("hostnet ends")
}

/// A plain file never depends on Open vSwitch: with a stale socket of a stopped
/// ovsdb-server, the query reports OVS as not available (fast, no error); a file without
/// OVS does not even run ovs-vsctl; a file with OVS is refused with exit 2.
#[test]
fn a_stale_or_unanswering_ovsdb_never_fails_a_plain_apply() {
    if !enter_private_netns("a_stale_or_unanswering_ovsdb_never_fails_a_plain_apply") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("hostnet-stale-ovsdb-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let sock = dir.join("db.sock");
    let _ = std::fs::remove_file(&sock);
    drop(std::os::unix::net::UnixListener::bind(&sock).expect("bind"));
    let stale = hostnet::ovs::vsctl::Vsctl::new(format!("unix:{}", sock.display()));
    let s = LinuxDriver::new()
        .expect("netlink")
        .with_ovs(stale)
        .query()
        .expect("a stale socket is no error");
    assert!(!s.ovs.available);

    // A database address behind which nothing answers: ovs-vsctl (here a stand-in that
    // records each run) says so.
    let marker = dir.join("ran");
    let fake = dir.join("ovs-vsctl");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho x >> {}\necho 'ovs-vsctl: tcp:192.0.2.1:6640: database connection failed (Connection refused)' >&2\nexit 1\n",
            marker.display()
        ),
    )
    .expect("write");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let mut vsctl = hostnet::ovs::vsctl::Vsctl::new("tcp:192.0.2.1:6640");
    vsctl.program = fake.display().to_string();
    let run = |yaml: &str| {
        let d = parse(yaml).expect("parses");
        let intent = expand(&d).expect("expands");
        let mut drv = LinuxDriver::new().expect("netlink").with_ovs(vsctl.clone());
        engine::apply(&mut drv, &intent, ApplyOptions::default(), |_, _| Ok(())).map(|_| ())
    };
    run_ops(&[veth("p0", "p1")]);
    run("interfaces: [{name: br0, type: linux-bridge, bridge: {port: [{name: p0}]}}]")
        .expect("a plain apply");
    assert!(!marker.exists(), "ovs-vsctl ran for a file without OVS");
    let err = run("interfaces: [{name: br-int, type: ovs-bridge}]").expect_err("refused");
    assert_eq!(err.exit_code(), 2, "{err:?}");
    assert!(
        err.details()[0].contains("no Open vSwitch database answers"),
        "{:?}",
        err.details()
    );
    assert!(marker.exists(), "a file with OVS reads OVSDB");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Another agent's ports on a bridge hostnet manages: the port list is not exact, so
/// they stay; a port listed without `vlan` keeps its tag, `vlan: {}` removes it; a port
/// or bridge carrying what hostnet does not model (a bond whose members have settings of
/// their own, ports of others) is never deleted: exit 2, nothing changed. Fail modes,
/// trunks, patch ports and plain bonds are modelled: they do not stop a delete.
#[test]
fn ports_of_other_agents_stay_and_what_hostnet_cannot_restore_is_not_deleted() {
    let test = "ports_of_other_agents_stay_and_what_hostnet_cannot_restore_is_not_deleted";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    run_ops(&[
        veth("v1", "g1"),
        veth("v2", "g2"),
        veth("v3", "g3"),
        veth("v4", "g4"),
    ]);
    let mine = "
interfaces:
  - name: br-x
    type: ovs-bridge
    bridge:
      options: {datapath: netdev}
      port: [{name: v1, vlan: {mode: access, tag: 100}}]
";
    apply(&ovs, mine).unwrap_or_else(|e| panic!("{e:?}\n{}", ovs.log()));
    // Another agent (nova, neutron) plugs in a tagged port, a patch port and a bond.
    let vsctl = |args: &[&str]| {
        let o = Command::new("ovs-vsctl")
            .arg(format!("--db={}", ovs.db))
            .arg("--timeout=30")
            .args(args)
            .output()
            .expect("ovs-vsctl runs");
        assert!(o.status.success(), "{}", common::text(&o));
    };
    vsctl(&["add-port", "br-x", "v2", "tag=5"]);
    vsctl(&[
        "add-port",
        "br-x",
        "patch-a",
        "--",
        "set",
        "Interface",
        "patch-a",
        "type=patch",
        "options:peer=patch-b",
    ]);
    vsctl(&["add-bond", "br-x", "bond-a", "v3", "v4"]);
    vsctl(&["set", "Interface", "v3", "external_ids:owner=other"]);
    let s = state(&ovs);
    let b = &s.ovs.bridges["br-x"];
    assert!(b.ports["v1"].managed && !b.ports["v2"].managed);
    assert_eq!(b.ports["patch-a"].patch_peer.as_deref(), Some("patch-b"));
    assert!(b.ports["patch-a"].unmodelled.is_none());
    assert_eq!(
        b.ports["bond-a"].unmodelled.as_deref(),
        Some("2 interfaces (a bond) with settings of their own")
    );

    // The file that does not list them changes nothing.
    assert!(replan(&ovs, mine).is_empty(), "{}", replan(&ovs, mine));
    // Listing v2 without vlan keeps the tag another agent set.
    let listed = mine.replace("tag: 100}}]", "tag: 100}}, {name: v2}]");
    assert!(
        replan(&ovs, &listed).is_empty(),
        "{}",
        replan(&ovs, &listed)
    );
    // `vlan: {}` removes it.
    apply(&ovs, &listed.replace("{name: v2}", "{name: v2, vlan: {}}")).expect("untags");
    assert_eq!(state(&ovs).ovs.bridges["br-x"].ports["v2"].tag, None);

    // What a rollback could not restore is refused: exit 2, nothing changed. Another
    // agent's fail mode and trunks are read (and could be restored), so they are not named.
    vsctl(&["set", "Bridge", "br-x", "fail_mode=secure"]);
    vsctl(&["set", "Port", "v2", "trunks=[7,8]"]);
    let s = state(&ovs);
    assert_eq!(
        s.ovs.bridges["br-x"].options.fail_mode.as_deref(),
        Some("secure")
    );
    assert_eq!(s.ovs.bridges["br-x"].ports["v2"].trunks, [7, 8].into());
    let before = state(&ovs);
    for (yaml, want) in [
        (
            "interfaces: [{name: bond-a, state: absent}]",
            "interfaces[0]: port bond-a of br-x has 2 interfaces (a bond) with settings of their own, \
             which hostnet does not model",
        ),
        (
            "interfaces: [{name: br-x, type: ovs-bridge, state: absent}]",
            "interfaces[0]: Open vSwitch bridge br-x has port bond-a with 2 interfaces (a bond) with \
             settings of their own; \
             port patch-a, which hostnet did not create; port v2, which hostnet did not create;",
        ),
    ] {
        let err = apply(&ovs, yaml).expect_err("refused");
        assert_eq!(err.exit_code(), 2, "{err:?}");
        assert!(err.details()[0].starts_with(want), "{:?}", err.details());
        assert_eq!(state(&ovs), before);
    }
}
