//! The device kinds this kernel has — tap, veth, vxlan, macvlan, macvtap — applied from
//! YAML through the engine and the Linux driver, each test in private namespaces, with
//! UDP traffic across them where the device carries any. VLAN and bond are in
//! `tests/real_kernel.rs` (run inside a VM with Debian's kernel).

mod common;

use std::net::SocketAddr;

use common::peer::{apply_yaml, echo_server, echoes, move_to, query, replan, Peer};
use common::{enter_private_netns, run_ops, veth};
use hostnet::engine::ApplyError;
use hostnet::netdev::{LinkKind, MacVlanMode, TapOptions};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

const TAPS: &str = "
interfaces:
  - name: br0
    type: linux-bridge
    bridge: {port: [{name: tap0}, {name: tap1}]}
  - name: tap0
    type: tap
    mtu: 1400
    tap: {owner: 4242, group: 4343, multi-queue: true}
  - name: tap1
    type: tap
";

#[test]
fn taps_are_persistent_with_owner_group_and_queues_and_join_a_bridge() {
    if !enter_private_netns("taps_are_persistent_with_owner_group_and_queues_and_join_a_bridge") {
        return;
    }
    apply_yaml(TAPS).expect("applies");
    let s = query();
    assert_eq!(
        s.links["tap0"].kind,
        LinkKind::Tap(TapOptions {
            owner: Some(4242),
            group: Some(4343),
            multi_queue: true,
            persistent: true,
        })
    );
    assert_eq!(s.links["tap1"].kind, LinkKind::Tap(TapOptions::default()));
    assert_eq!(s.links["tap0"].mtu, 1400);
    assert_eq!(s.links["tap0"].controller.as_deref(), Some("br0"));
    assert!(s.links["tap1"].up);
    assert!(replan(TAPS).is_empty(), "{}", replan(TAPS));

    // A second file that differs in the owner is refused, naming the field.
    let err = apply_yaml(&TAPS.replace("owner: 4242", "owner: 1")).expect_err("refused");
    assert!(matches!(err, ApplyError::Plan(_)), "{err:?}");
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.details()[0].starts_with("interfaces[1].tap: tap tap0 exists with user 4242"),
        "{:?}",
        err.details()
    );
    assert_eq!(query(), s, "a refused plan changed something");

    apply_yaml("interfaces: [{name: tap0, state: absent}, {name: tap1, state: absent}]")
        .expect("removes");
    let s = query();
    assert!(!s.links.contains_key("tap0") && !s.links.contains_key("tap1"));
}

#[test]
fn a_kernel_rejection_after_creating_a_tap_rolls_it_back() {
    if !enter_private_netns("a_kernel_rejection_after_creating_a_tap_rolls_it_back") {
        return;
    }
    let before = query();
    // The route's gateway is on no subnet of br9: the kernel refuses it after the
    // tap and the bridge exist.
    let yaml = "
interfaces:
  - {name: br9, type: linux-bridge, bridge: {port: [{name: tap9}]}}
  - {name: tap9, type: tap, tap: {owner: 7}}
routes:
  config:
    - {destination: 203.0.113.0/24, next-hop-address: 192.0.2.1, next-hop-interface: br9}
";
    let err = apply_yaml(yaml).expect_err("the kernel refuses the route");
    assert!(matches!(err, ApplyError::RolledBack { .. }), "{err:?}");
    assert_eq!(query(), before, "rollback left something behind");
}

/// The plan reads the host, then another agent (libvirt for a running VM) makes the
/// same tap: creating it must fail rather than attach to the VM's tap and re-own it.
#[test]
fn creating_a_tap_that_another_agent_made_meanwhile_fails_and_leaves_it_alone() {
    use hostnet::netdev::linux::LinuxDriver;
    use hostnet::netdev::{Driver, NewLink, Op};
    if !enter_private_netns(
        "creating_a_tap_that_another_agent_made_meanwhile_fails_and_leaves_it_alone",
    ) {
        return;
    }
    let tap = |owner| {
        Op::CreateLink(NewLink {
            name: "t0".into(),
            kind: LinkKind::Tap(TapOptions {
                owner,
                ..TapOptions::default()
            }),
            up: true,
            mtu: None,
            mac: None,
            controller: None,
            peer: None,
        })
    };
    let mut mine = LinuxDriver::new().expect("netlink");
    mine.query().expect("the plan-time read");
    run_ops(&[tap(Some(107))]);
    let r = mine.execute(&[tap(Some(0))]).remove(0);
    let err = r.expect_err("the second create fails");
    assert!(err.to_string().contains("os error 16"), "EBUSY: {err}");
    let s = query();
    assert_eq!(
        s.links["t0"].kind,
        LinkKind::Tap(TapOptions {
            owner: Some(107),
            ..TapOptions::default()
        }),
        "the other agent's tap keeps its owner"
    );
}

/// A MACVLAN that sorts before its bridge base, both raised to 9000 in one apply: the
/// base's MTU must go up first (and come down last).
#[test]
fn a_stacked_device_and_its_base_change_mtu_in_base_first_order() {
    if !enter_private_netns("a_stacked_device_and_its_base_change_mtu_in_base_first_order") {
        return;
    }
    let file = |mtu: u32| {
        format!(
            "
interfaces:
  - {{name: zbr, type: linux-bridge, mtu: {mtu}}}
  - {{name: amv, type: mac-vlan, mtu: {mtu}, mac-vlan: {{base-iface: zbr, mode: bridge}}}}
"
        )
    };
    apply_yaml(&file(1500)).expect("base apply");
    apply_yaml(&file(9000)).expect("raised in one apply");
    let s = query();
    assert_eq!((s.links["zbr"].mtu, s.links["amv"].mtu), (9000, 9000));
    apply_yaml(&file(1400)).expect("lowered in one apply");
    let s = query();
    assert_eq!((s.links["zbr"].mtu, s.links["amv"].mtu), (1400, 1400));
    assert!(replan(&file(1400)).is_empty());
}

#[test]
fn vxlan_carries_traffic_between_two_namespaces() {
    if !enter_private_netns("vxlan_carries_traffic_between_two_namespaces") {
        return;
    }
    let peer = Peer::new();
    run_ops(&[veth("u0", "u1")]);
    move_to(&peer, "u1");
    let host = "
interfaces:
  - {name: u0, type: veth, ipv4: {enabled: true, address: [{ip: 10.0.0.1, prefix-length: 24}]}}
  - name: vx0
    type: vxlan
    mtu: 1450
    vxlan: {id: 4242, base-iface: u0, remote: 10.0.0.2, local: 10.0.0.1, learning: true}
    ipv4: {enabled: true, address: [{ip: 172.16.0.1, prefix-length: 24}]}
";
    let far = "
interfaces:
  - {name: u1, type: veth, ipv4: {enabled: true, address: [{ip: 10.0.0.2, prefix-length: 24}]}}
  - name: vx0
    type: vxlan
    vxlan: {id: 4242, base-iface: u1, remote: 10.0.0.1, destination-port: 8472}
    ipv4: {enabled: true, address: [{ip: 172.16.0.2, prefix-length: 24}]}
";
    apply_yaml(host).expect("applies here");
    peer.run(|| apply_yaml(far).expect("applies there"));
    let s = query();
    match &s.links["vx0"].kind {
        LinkKind::Vxlan(v) => {
            // No destination-port: a new tunnel gets 8472, NetworkManager's (nmstate's).
            assert_eq!((v.id, v.dst_port, v.learning), (4242, 8472, true));
            assert_eq!(v.base.as_deref(), Some("u0"));
            assert_eq!(v.remote, Some("10.0.0.2".parse().expect("ip")));
        }
        other => panic!("vx0 is {other:?}"),
    }
    assert_eq!(s.links["vx0"].mtu, 1450);
    assert!(replan(host).is_empty(), "{}", replan(host));
    let server = echo_server(&peer, sa("172.16.0.2:7000"));
    assert!(
        echoes(
            Some("172.16.0.1".parse().expect("ip")),
            sa("172.16.0.2:7000")
        ),
        "no echo across the vxlan"
    );
    drop(server);

    // show's document re-applies to nothing.
    let shown = hostnet::show::show(&s);
    let yaml = serde_yaml_ng::to_string(&shown.document).expect("yaml");
    assert!(replan(&yaml).is_empty(), "{yaml}");
}

#[test]
fn macvlan_talks_to_the_wire_and_macvtap_is_made_and_removed() {
    if !enter_private_netns("macvlan_talks_to_the_wire_and_macvtap_is_made_and_removed") {
        return;
    }
    let peer = Peer::new();
    run_ops(&[veth("u0", "u1")]);
    move_to(&peer, "u1");
    peer.run(|| {
        apply_yaml(
            "interfaces: [{name: u1, type: veth, ipv4: {enabled: true, address: [{ip: 10.1.0.2, prefix-length: 24}]}}]",
        )
        .expect("applies there")
    });
    let yaml = "
interfaces:
  - name: mv0
    type: mac-vlan
    mac-vlan: {base-iface: u0, mode: bridge}
    ipv4: {enabled: true, address: [{ip: 10.1.0.1, prefix-length: 24}]}
  - name: mvt0
    type: mac-vtap
    mac-vtap: {base-iface: u0, mode: vepa}
";
    apply_yaml(yaml).expect("applies");
    let s = query();
    assert!(
        matches!(&s.links["mv0"].kind, LinkKind::MacVlan(m) if m.mode == MacVlanMode::Bridge && m.base.as_deref() == Some("u0"))
    );
    assert!(matches!(&s.links["mvt0"].kind, LinkKind::MacVtap(m) if m.mode == MacVlanMode::Vepa));
    assert!(replan(yaml).is_empty(), "{}", replan(yaml));
    let server = echo_server(&peer, sa("10.1.0.2:7001"));
    assert!(
        echoes(Some("10.1.0.1".parse().expect("ip")), sa("10.1.0.2:7001")),
        "no echo through the macvlan"
    );
    drop(server);

    // A MACVLAN's mode changes in place (same device, same MAC).
    let mac = s.links["mv0"].mac;
    let private = yaml.replace("mode: bridge", "mode: private");
    apply_yaml(&private).expect("mode changes");
    let s = query();
    assert!(matches!(&s.links["mv0"].kind, LinkKind::MacVlan(m) if m.mode == MacVlanMode::Private));
    assert_eq!(s.links["mv0"].mac, mac);
    assert!(replan(&private).is_empty());

    apply_yaml("interfaces: [{name: mv0, state: absent}, {name: mvt0, state: absent}]")
        .expect("removes");
    let s = query();
    assert!(!s.links.contains_key("mv0") && !s.links.contains_key("mvt0"));
    assert!(s.links.contains_key("u0"));
    let server = echo_server(&peer, sa("10.1.0.2:7011"));
    assert!(
        !echoes(None, sa("10.1.0.2:7011")),
        "an echo without the macvlan: the check above proves nothing"
    );
    drop(server);
}

#[test]
fn a_guest_veth_in_a_bridge_reaches_the_uplink_side() {
    if !enter_private_netns("a_guest_veth_in_a_bridge_reaches_the_uplink_side") {
        return;
    }
    // wire (u1) -- [u0 in br0] -- host -- [g0 in br0] -- guest (g1)
    let wire = Peer::new();
    let guest = Peer::new();
    run_ops(&[veth("u0", "u1")]);
    move_to(&wire, "u1");
    let yaml = "
interfaces:
  - {name: g0, type: veth, veth: {peer: g1}}
networks:
  - name: br0
    uplink: u0
    ipv4: {address: [10.2.0.1/24]}
";
    apply_yaml(yaml).expect("applies");
    // The guest end goes into the guest's namespace, as a hypervisor would do.
    apply_yaml(
        "interfaces: [{name: br0, type: linux-bridge, bridge: {port: [{name: u0}, {name: g0}]}}]",
    )
    .expect("g0 joins the bridge");
    move_to(&guest, "g1");
    guest.run(|| {
        apply_yaml("interfaces: [{name: g1, type: veth, ipv4: {enabled: true, address: [{ip: 10.2.0.20, prefix-length: 24}]}}]")
            .expect("guest address")
    });
    wire.run(|| {
        apply_yaml("interfaces: [{name: u1, type: veth, ipv4: {enabled: true, address: [{ip: 10.2.0.30, prefix-length: 24}]}}]")
            .expect("wire address")
    });
    let server = echo_server(&wire, sa("10.2.0.30:7002"));
    let ok = guest.run(|| echoes(None, sa("10.2.0.30:7002")));
    assert!(ok, "the guest does not reach the wire across br0");
    drop(server);
    // The host reaches both through the bridge address.
    let server = echo_server(&guest, sa("10.2.0.20:7003"));
    assert!(echoes(None, sa("10.2.0.20:7003")), "host to guest");
    drop(server);
}

#[test]
fn bad_device_input_exits_2_and_changes_nothing() {
    if !enter_private_netns("bad_device_input_exits_2_and_changes_nothing") {
        return;
    }
    run_ops(&[veth("u0", "u1")]);
    let before = query();
    for (yaml, field) in [
        (
            "interfaces: [{name: v0, type: vlan, vlan: {base-iface: u0, id: 4095}}]",
            "interfaces[0].vlan.id: VLAN id 4095 is outside 1-4094",
        ),
        (
            "networks: [{name: t, uplink: u0, vlan: 0}]",
            "networks[0].vlan: VLAN id 0 is outside 1-4094",
        ),
        (
            "interfaces: [{name: x0, type: vxlan, vxlan: {id: 16777216, base-iface: u0}}]",
            "interfaces[0].vxlan.id: VXLAN id 16777216 does not fit in 24 bits",
        ),
        (
            "interfaces: [{name: b0, type: bond, link-aggregation: {mode: active-backup, port: []}}]",
            "interfaces[0].link-aggregation.port: bond b0 has no ports",
        ),
        (
            "interfaces: [{name: b0, type: bond, link-aggregation: {mode: round-robin, port: [u0]}}]",
            "interfaces[0].link-aggregation.mode: unknown bond mode \"round-robin\"",
        ),
        (
            "interfaces: [{name: m0, type: mac-vlan, mac-vlan: {base-iface: nic9, mode: bridge}}]",
            "interfaces[0].mac-vlan.base-iface: base interface nic9 of mac-vlan m0 does not exist",
        ),
        (
            "interfaces: [{name: m0, type: mac-vlan, mtu: 9000, mac-vlan: {base-iface: u0, mode: bridge}}]",
            "interfaces[0].mtu: MTU 9000 of m0 is above the 1500 its base u0 allows",
        ),
        (
            // Valid, and the tap would be made first: the missing base stops it all.
            "interfaces:\n  - {name: t0, type: tap}\n  - {name: v9, type: vlan, vlan: {base-iface: nic9, id: 9}}",
            "interfaces[1].vlan.base-iface: base interface nic9 of vlan v9 does not exist",
        ),
    ] {
        let o = common::hostnet(&["apply", "-"], Some(yaml));
        let out = common::text(&o);
        assert_eq!(o.status.code(), Some(2), "{yaml}\n{out}");
        assert!(out.contains(field), "{yaml}\n{out}");
        assert_eq!(query(), before, "{yaml} changed something");
    }
}
