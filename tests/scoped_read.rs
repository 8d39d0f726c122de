//! The Linux driver's read of a reach (`Driver::query_in`) against its whole read
//! narrowed to the same reach (`KernelState::narrowed`), on a host with several networks,
//! bridge ports, veth pairs across bridges, tables and an alternative name, in a network
//! namespace the test makes. Skipped without root, unless HOSTNET_REQUIRE_KERNEL_TESTS=1.

mod common;

use hostnet::engine::{self, ApplyOptions};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, Op, Reach};

const HOST: &str = "interfaces:
  - {name: up0, type: veth, veth: {peer: up0p}}
  - {name: v1, type: veth, veth: {peer: p1}}
  - {name: v2, type: veth, veth: {peer: p2}}
  - {name: loose, type: veth, veth: {peer: loosep}}
networks:
  - name: a
    bridge: bra
    uplink: up0
    ipv4: {address: [10.1.0.10/24], gateway: 10.1.0.1}
    source-routing: {table: 1001}
  - name: b
    bridge: brb
    uplink: v1
    ipv4: {address: [10.2.0.10/24]}
  - name: c
    bridge: brc
    uplink: p1
    ipv4: {address: [10.3.0.10/24], gateway: 10.3.0.1}
    source-routing: {table: 1003}
  - name: d
    bridge: brd
    uplink: v2
    ipv4: {address: [10.4.0.10/24]}
routes:
  config:
    - {destination: 172.16.0.0/12, next-hop-interface: loose, table-id: 500}
";

fn intent(yaml: &str) -> hostnet::expand::Intent {
    let d = hostnet::model::parse(yaml).expect("parses");
    hostnet::model::validate(&d).expect("valid");
    hostnet::expand::expand(&d).expect("expands")
}

fn reach(names: &[&str], vrfs: bool) -> Reach {
    Reach {
        names: names.iter().map(|n| n.to_string()).collect(),
        vrfs,
    }
}

#[test]
fn a_scoped_read_is_the_whole_read_narrowed() {
    if !common::enter_private_netns("a_scoped_read_is_the_whole_read_narrowed") {
        return;
    }
    let mut d = LinuxDriver::new().expect("netlink");
    engine::apply(
        &mut d,
        &intent(HOST),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    let alt = Op::AltName {
        name: "brd".into(),
        alt: "a-rather-long-alternative-name".into(),
        add: true,
    };
    for r in d.execute(&[alt]) {
        r.expect("alt name");
    }
    let full = d.query().expect("query");
    assert!(full.links.len() >= 12, "{:?}", full.links.keys());
    for r in [
        reach(&["bra"], false),
        reach(&["brb"], true),
        reach(&["p2"], false),
        reach(&["a-rather-long-alternative-name", "nothing", ""], false),
        reach(&["loose"], false),
        reach(&[], true),
    ] {
        let scoped = d.query_in(Some(&r)).expect("scoped query");
        let want = full.narrowed(&r);
        assert_eq!(scoped, want, "reach {r:?}");
        assert!(scoped.links.len() < full.links.len(), "reach {r:?}");
    }
    // The reach of brb takes its port v1, v1's peer p1 and p1's bridge brc.
    let r = reach(&["brb"], false);
    let names: Vec<String> = full.narrowed(&r).links.into_keys().collect();
    assert_eq!(names, ["brb", "brc", "p1", "v1"]);
    // Addresses and routes of the devices outside the reach are named all the same.
    let scoped = d.query_in(Some(&reach(&["bra"], false))).expect("query");
    assert!(scoped.addresses.iter().any(|a| a.ifname == "brd"));
    assert!(scoped
        .routes
        .iter()
        .any(|r| r.dev.as_deref() == Some("loose")));
}
