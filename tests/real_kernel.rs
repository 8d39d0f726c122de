//! Kernel features this machine lacks (802.1Q VLAN, bonding), exercised through
//! hostnet's own driver only, so that the VM tier can run this binary in a bare guest
//! with Debian's kernel: no `ip`, no `ping`, nothing but the test binary.
//!
//! Each test first probes its feature inside its private namespace. A missing feature
//! prints `SKIP: kernel lacks …` and passes, unless `HOSTNET_REQUIRE_KERNEL_FEATURES=1`
//! (set by the VM tier) makes it a failure. `HOSTNET_REQUIRE_KERNEL_TESTS=1` (CI on a
//! kernel without these modules) only makes the namespace itself mandatory.

mod common;

use std::net::SocketAddr;

use common::peer::{apply_yaml, echo_server, echoes, move_to, query, replan, Peer};
use common::{enter_private_netns, run_ops, veth};
use hostnet::engine::ApplyError;
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{BondMode, BondOptions, Driver, LinkKind, NewLink, Op, VlanOptions};

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

/// True when the kernel can create `kind` here (the probe device is removed again).
/// A missing feature skips the test, or fails it under
/// `HOSTNET_REQUIRE_KERNEL_FEATURES=1`.
fn kernel_has(test: &str, feature: &str, kind: LinkKind) -> bool {
    let mut d = LinuxDriver::new().expect("netlink");
    let probe = "hnprobe0";
    let result = d
        .execute(&[Op::CreateLink(NewLink {
            name: probe.into(),
            kind,
            up: false,
            mtu: None,
            mac: None,
            controller: None,
            peer: None,
        })])
        .remove(0);
    match result {
        Ok(()) => {
            run_ops(&[Op::DeleteLink { name: probe.into() }]);
            true
        }
        Err(e) => {
            let missing = matches!(
                e.errno(),
                Some(libc::EOPNOTSUPP | libc::ENODEV | libc::ENOENT)
            );
            if !missing {
                panic!("{test}: probing {feature} failed unexpectedly: {e}");
            }
            if std::env::var("HOSTNET_REQUIRE_KERNEL_FEATURES").as_deref() == Ok("1") {
                panic!("{test}: kernel lacks {feature} ({e}), and HOSTNET_REQUIRE_KERNEL_FEATURES=1 forbids skipping");
            }
            eprintln!("SKIP: kernel lacks {feature} (covered by the VM tier) [{test}]");
            false
        }
    }
}

const TENANT: &str = "
networks:
  - name: tenant
    uplink: u0
    vlan: 100
    mtu: 1400
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
";

#[test]
fn vlan_tagged_network_with_source_routing() {
    let test = "vlan_tagged_network_with_source_routing";
    if !enter_private_netns(test) {
        return;
    }
    run_ops(&[veth("u0", "u1")]);
    let probe = LinkKind::Vlan(VlanOptions::new(Some("u0".into()), 4094));
    if !kernel_has(test, "8021q", probe) {
        return;
    }
    let peer = Peer::new();
    move_to(&peer, "u1");
    // The far end: the gateway on VLAN 100 of the wire, and a host behind it.
    peer.run(|| {
        apply_yaml(
            "
interfaces:
  - name: u1.100
    type: vlan
    vlan: {base-iface: u1, id: 100}
    ipv4: {enabled: true, address: [{ip: 192.0.2.1, prefix-length: 24}]}
  - name: lo
    type: loopback
    ipv4: {enabled: true, address: [{ip: 203.0.113.7, prefix-length: 32}]}
",
        )
        .expect("the far end applies")
    });

    // A failure after the VLAN device and the bridge exist takes them back.
    let before = query();
    let err = apply_yaml(&format!(
        "{TENANT}
routes:
  config:
    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.99, next-hop-interface: lo}}
"
    ))
    .expect_err("the kernel refuses the route");
    assert!(matches!(err, ApplyError::RolledBack { .. }), "{err:?}");
    assert_eq!(query(), before);

    apply_yaml(TENANT).expect("applies");
    let s = query();
    assert_eq!(
        s.links["u0.100"].kind,
        LinkKind::Vlan(VlanOptions::new(Some("u0".into()), 100))
    );
    assert_eq!(s.links["u0.100"].controller.as_deref(), Some("tenant"));
    assert_eq!(s.links["u0.100"].mtu, 1400);
    assert!(s.links["u0"].up);
    let table = s
        .rules
        .iter()
        .find(|r| hostnet::expand::is_network_rule(r))
        .map(|r| r.table)
        .expect("a source-routing rule");
    assert!(s
        .routes
        .iter()
        .any(|r| r.table == table && r.gateway == Some("192.0.2.1".parse().expect("ip"))));
    assert!(replan(TENANT).is_empty(), "{}", replan(TENANT));

    // On-link through the tagged bridge, and off-link only by the source rule (the
    // main table has no default route).
    let _on = echo_server(&peer, sa("192.0.2.1:7100"));
    let _off = echo_server(&peer, sa("203.0.113.7:7101"));
    let src = Some("192.0.2.10".parse().expect("ip"));
    assert!(echoes(src, sa("192.0.2.1:7100")), "no echo on VLAN 100");
    assert!(
        echoes(src, sa("203.0.113.7:7101")),
        "no echo through the source-routing table"
    );

    // Removal takes the VLAN device with the network.
    apply_yaml(&TENANT.replace(
        "  - name: tenant\n",
        "  - name: tenant\n    state: absent\n",
    ))
    .expect("removes");
    let s = query();
    assert!(!s.links.contains_key("u0.100") && !s.links.contains_key("tenant"));
    assert!(s.links.contains_key("u0"));
}

const BONDED: &str = "
interfaces:
  - name: bond0
    type: bond
    link-aggregation: {mode: active-backup, options: {miimon: 100}, port: [a0, b0]}
networks:
  - name: bn
    uplink: bond0
    ipv4: {address: [10.3.0.1/24]}
";

#[test]
fn bond_as_a_network_uplink() {
    let test = "bond_as_a_network_uplink";
    if !enter_private_netns(test) {
        return;
    }
    let probe = LinkKind::Bond(BondOptions::new(BondMode::BalanceRr, 0));
    if !kernel_has(test, "bonding", probe) {
        return;
    }
    // Two wires into one switch (a bridge in the peer namespace).
    let peer = Peer::new();
    run_ops(&[veth("a0", "a1"), veth("b0", "b1")]);
    move_to(&peer, "a1");
    move_to(&peer, "b1");
    peer.run(|| {
        apply_yaml(
            "
interfaces:
  - name: sw
    type: linux-bridge
    bridge: {port: [{name: a1}, {name: b1}]}
    ipv4: {enabled: true, address: [{ip: 10.3.0.2, prefix-length: 24}]}
",
        )
        .expect("the switch applies")
    });

    apply_yaml(BONDED).expect("applies");
    let s = query();
    assert_eq!(
        s.links["bond0"].kind,
        LinkKind::Bond(BondOptions::new(BondMode::ActiveBackup, 100))
    );
    assert_eq!(s.links["a0"].controller.as_deref(), Some("bond0"));
    assert_eq!(s.links["b0"].controller.as_deref(), Some("bond0"));
    assert_eq!(s.links["bond0"].controller.as_deref(), Some("bn"));
    assert!(replan(BONDED).is_empty(), "{}", replan(BONDED));
    let _echo = echo_server(&peer, sa("10.3.0.2:7200"));
    assert!(echoes(None, sa("10.3.0.2:7200")), "no echo across the bond");

    // The MII interval changes in place.
    let slower = BONDED.replace("miimon: 100", "miimon: 250");
    apply_yaml(&slower).expect("miimon changes");
    assert_eq!(
        query().links["bond0"].kind,
        LinkKind::Bond(BondOptions::new(BondMode::ActiveBackup, 250))
    );
    apply_yaml(BONDED).expect("miimon back");

    // Port list is exact: dropping b0 releases it.
    apply_yaml(&BONDED.replace("port: [a0, b0]", "port: [a0]")).expect("releases b0");
    assert_eq!(query().links["b0"].controller, None);

    // A failure after the bond changed rolls it back exactly.
    let before = query();
    let err = apply_yaml(&format!(
        "{BONDED}
routes:
  config:
    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.99, next-hop-interface: bn}}
"
    ))
    .expect_err("the kernel refuses the route");
    assert!(matches!(err, ApplyError::RolledBack { .. }), "{err:?}");
    assert_eq!(query(), before);

    apply_yaml("interfaces: [{name: bond0, state: absent}]\nnetworks: [{name: bn, state: absent}]")
        .expect("removes");
    let s = query();
    assert!(!s.links.contains_key("bond0"));
    assert_eq!(s.links["a0"].controller, None);
}

fn bond_probe() -> LinkKind {
    LinkKind::Bond(BondOptions::new(BondMode::BalanceRr, 0))
}

/// The kernel closes a port released from a bond and the ports of a deleted bond:
/// hostnet sets them up again when the file (or their state before) says up.
#[test]
fn bond_ports_are_up_after_release_and_after_the_bond_is_deleted() {
    let test = "bond_ports_are_up_after_release_and_after_the_bond_is_deleted";
    if !enter_private_netns(test) || !kernel_has(test, "bonding", bond_probe()) {
        return;
    }
    run_ops(&[veth("a0", "a1"), veth("b0", "b1")]);
    let two = "
interfaces:
  - name: bond0
    type: bond
    link-aggregation: {mode: active-backup, options: {miimon: 100}, port: [a0, b0]}
";
    apply_yaml(two).expect("bond applies");
    let one = two.replace("port: [a0, b0]", "port: [a0]");
    // Released and named up in the file.
    let named = format!("{one}  - {{name: b0, type: veth, state: up}}\n");
    apply_yaml(&named).expect("release with b0 up");
    let s = query();
    assert!(
        s.links["b0"].up && s.links["b0"].controller.is_none(),
        "{:?}",
        s.links["b0"]
    );
    assert!(replan(&named).is_empty(), "{}", replan(&named));
    // Released without being named: it was up, it stays up.
    apply_yaml(two).expect("b0 joins again");
    apply_yaml(&one).expect("release");
    assert!(query().links["b0"].up);
    // A rollback of a release puts the port back into the bond, up.
    let failing = format!(
        "{two}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.9, next-hop-interface: bond0}}\n"
    );
    apply_yaml(two).expect("b0 joins again");
    let joined = query();
    let err = apply_yaml(&failing.replace("port: [a0, b0]", "port: [a0]"))
        .expect_err("the kernel refuses the route");
    assert!(matches!(err, ApplyError::RolledBack { .. }), "{err:?}");
    assert_eq!(query().links["b0"], joined.links["b0"]);
    // The bond goes: both ports are up afterwards.
    apply_yaml("interfaces: [{name: bond0, state: absent}]").expect("bond removed");
    let s = query();
    assert!(s.links["a0"].up && s.links["b0"].up, "{s:?}");
}

/// A device created straight into a bond: created down without a master, then joined.
#[test]
fn a_device_created_into_a_bond_joins_it() {
    let test = "a_device_created_into_a_bond_joins_it";
    if !enter_private_netns(test) || !kernel_has(test, "bonding", bond_probe()) {
        return;
    }
    let y = "
interfaces:
  - name: bond1
    type: bond
    link-aggregation: {mode: active-backup, port: [c0, t0]}
  - {name: c0, type: veth, veth: {peer: c1}}
  - {name: t0, type: tap}
";
    apply_yaml(y).unwrap_or_else(|e| panic!("{e:?}\n{}", replan(y)));
    let s = query();
    for port in ["c0", "t0"] {
        assert_eq!(s.links[port].controller.as_deref(), Some("bond1"), "{port}");
        assert!(s.links[port].up, "{port}");
    }
    assert!(replan(y).is_empty(), "{}", replan(y));
}
