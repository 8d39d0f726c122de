//! New bridges with IPv4 addresses come up after them (`bridges_up.rs`), on the model.

use super::base_keys_tests::run;
use super::tests::host;
use super::*;
use crate::netdev::{LinkChange, LinkKind};

/// The new bridges `p` creates down, and those it creates up.
fn created(p: &Plan) -> (Vec<String>, Vec<String>) {
    let mut down = Vec::new();
    let mut up = Vec::new();
    for op in &p.phases[Phase::CreateBridges as usize] {
        if let Op::CreateLink(l) = op {
            if matches!(l.kind, LinkKind::Bridge(_)) {
                if l.up { &mut up } else { &mut down }.push(l.name.clone());
            }
        }
    }
    (down, up)
}

/// The links `p` sets up in [`Phase::BridgesUp`] (and checks it holds nothing else).
fn brought_up(p: &Plan) -> Vec<String> {
    p.phases[Phase::BridgesUp as usize]
        .iter()
        .map(|op| match op {
            Op::ChangeLink {
                name,
                change:
                    LinkChange {
                        up: Some(true),
                        mtu: None,
                        mac: None,
                        controller: None,
                        ..
                    },
            } => name.clone(),
            other => panic!("not a bridge going up: {other}"),
        })
        .collect()
}

/// Position in `p`'s order of the first op that `pred` picks.
fn position(p: &Plan, pred: impl Fn(&Op) -> bool) -> usize {
    p.ops().position(pred).expect("op in the plan")
}

const MIXED: &str = "
interfaces:
  - {name: l2, type: linux-bridge}
  - {name: quiet, type: linux-bridge, state: down, ipv4: {enabled: true, address: [{ip: 10.9.0.1, prefix-length: 24}]}}
networks:
  - name: v4
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    source-routing: {table: 1001}
  - name: dual
    uplink: eth1
    ipv4: {address: [198.51.100.10/24, 198.51.100.11/24]}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    source-routing: {table: 1002}
  - name: six
    ipv6: {address: ['2001:db8:2::10/64']}
  - name: lease
    ipv4: {dhcp: true}
  - name: bare
";

#[test]
fn new_bridges_with_ipv4_come_up_after_their_addresses_before_their_routes() {
    let mut m = host();
    let p = run(&mut m, MIXED);
    let (down, up) = created(&p);
    assert_eq!(down, ["dual", "quiet", "v4"], "{p}");
    // No IPv4 address (L2, IPv6 only, a lease to come): created up as before.
    assert_eq!(up, ["bare", "l2", "lease", "six"], "{p}");
    // `quiet` stays down: the file says so.
    assert_eq!(brought_up(&p), ["dual", "v4"], "{p}");
    let s = m.state();
    for b in ["v4", "dual", "six", "bare", "l2", "lease"] {
        assert!(s.links[b].up, "{b} is down");
    }
    assert!(!s.links["quiet"].up);
    for b in ["v4", "dual"] {
        let up_at = position(
            &p,
            |op| matches!(op, Op::ChangeLink { name, .. } if name == b && p.phases[Phase::BridgesUp as usize].contains(op)),
        );
        let last_addr = p
            .ops()
            .enumerate()
            .filter(|(_, op)| matches!(op, Op::AddAddress(a) if a.ifname == b))
            .map(|(i, _)| i)
            .max()
            .expect("addresses");
        let first_route = position(
            &p,
            |op| matches!(op, Op::AddRoute(r) if r.dev.as_deref() == Some(b)),
        );
        let port = position(
            &p,
            |op| matches!(op, Op::ChangeLink { change, .. } if change.controller == Some(Some(b.to_string()))),
        );
        assert!(port < up_at, "{b}: its port joins while it is down\n{p}");
        assert!(last_addr < up_at && up_at < first_route, "{b}:\n{p}");
    }
    // The IPv6 address went on while `dual` was down, and it has its routes.
    assert!(s
        .addresses
        .iter()
        .any(|a| a.ifname == "dual" && a.addr.addr().is_ipv6()));
    assert!(s.routes.iter().any(|r| r.dev.as_deref() == Some("dual")
        && r.destination.addr().is_ipv6()
        && r.gateway.is_some()));
}

#[test]
fn existing_bridges_are_never_taken_down() {
    let mut m = host();
    run(&mut m, MIXED);
    // New addresses, a new gateway, MTU: nothing goes down or comes up.
    let p = run(
        &mut m,
        &MIXED
            .replace("192.0.2.10/24]", "192.0.2.10/24, 192.0.2.20/24]")
            .replace(
                "gateway: 192.0.2.1}",
                "gateway: 192.0.2.254}\n    mtu: 1400",
            ),
    );
    assert!(!p.is_empty());
    assert!(p.phases[Phase::BridgesUp as usize].is_empty(), "{p}");
    assert!(!p.ops().any(|op| matches!(
        op,
        Op::ChangeLink {
            change: LinkChange { up: Some(_), .. },
            ..
        }
    )));
    // A bridge that is down and is to be up is brought up where it always was.
    let p = run(&mut m, &MIXED.replace(", state: down", ""));
    assert!(p.phases[Phase::BridgesUp as usize].is_empty(), "{p}");
    assert!(m.state().links["quiet"].up);
}

#[test]
fn a_bridge_under_a_vlan_device_comes_up_at_once() {
    // The kernel refuses to bring up a VLAN whose lower device is down.
    let mut m = host();
    let p = run(
        &mut m,
        "interfaces:\n\
         - {name: br7, type: linux-bridge, ipv4: {enabled: true, address: [{ip: 10.7.0.1, prefix-length: 24}]}}\n\
         - {name: br7.5, type: vlan, vlan: {base-iface: br7, id: 5}}\n\
         - {name: br8, type: linux-bridge, ipv4: {enabled: true, address: [{ip: 10.8.0.1, prefix-length: 24}]}}\n",
    );
    assert_eq!(
        created(&p),
        (vec!["br8".to_string()], vec!["br7".to_string()])
    );
    assert_eq!(brought_up(&p), ["br8"]);
}

#[test]
fn the_bench_s_networks_come_up_one_per_bridge() {
    let mut m = host();
    let mut yaml = String::from("interfaces:\n");
    for i in 0..5 {
        yaml.push_str(&format!(
            "  - {{name: hv{i}, type: veth, veth: {{peer: hp{i}}}}}\n"
        ));
    }
    yaml.push_str("networks:\n");
    for i in 0..5 {
        yaml.push_str(&format!(
            "  - {{name: hb{i}, uplink: hv{i}, ipv4: {{address: [10.{i}.0.1/24], gateway: 10.{i}.0.254}}}}\n"
        ));
    }
    let p = run(&mut m, &yaml);
    assert_eq!(brought_up(&p).len(), 5, "{p}");
    assert!(created(&p).1.is_empty(), "{p}");
}

#[test]
fn a_restore_makes_bridges_again_down_and_brings_them_up_after_their_addresses() {
    let mut m = host();
    run(&mut m, MIXED);
    let target = m.state().clone();
    // Everything the file made is gone (a boot): the restore makes it again.
    let mut gone = host().state().clone();
    gone.ipv6_default = target.ipv6_default;
    let p = restore_plan(&gone, &target);
    let (down, _) = created(&p);
    assert_eq!(down, ["dual", "quiet", "v4"], "{p}");
    assert_eq!(brought_up(&p), ["dual", "v4"], "{p}");
    let mut m = crate::netdev::model::ModelDriver::new(gone);
    for phase in &p.phases {
        for r in crate::netdev::Driver::execute(&mut m, phase) {
            r.expect("model accepts the op");
        }
    }
    assert!(restore_plan(m.state(), &target).is_empty());
    assert!(m.state().links["v4"].up && !m.state().links["quiet"].up);
}
