//! nmstate's `type: vrf` and routes' `vrf-name` on the model driver: created with its
//! ports and the kernel's l3mdev rules, re-applied and shown back as nothing, rolled back
//! at any op but for those rules, refusals naming their field.

use super::tests::{applied, host, intent_of, shown_applies_to_nothing};
use super::*;
use crate::engine::tests::fail_at_every_op;
use crate::engine::{apply, ApplyOptions};
use crate::model::{parse, validate};
use crate::netdev::model::ModelDriver;
use crate::netdev::vrf::l3mdev_rule;
use crate::netdev::{Family, LinkKind};

const VRF: &str = "
interfaces:
  - name: vrf0
    type: vrf
    vrf: {port: [eth1], route-table-id: 100}
  - name: eth1
    type: ethernet
    ipv4: {enabled: true, address: [{ip: 192.0.2.10, prefix-length: 24}]}
routes:
  config:
    - {destination: 198.51.100.0/24, next-hop-address: 192.0.2.1, next-hop-interface: eth1, vrf-name: vrf0}
";

fn errors_of(m: &ModelDriver, yaml: &str) -> String {
    let d = parse(yaml).expect("parses");
    if let Err(e) = validate(&d) {
        return e.to_string();
    }
    let intent = crate::expand::expand(&d).expect("expands");
    match plan(m.state(), &intent) {
        Ok(p) => panic!("plans:\n{p}"),
        Err(e) => e
            .iter()
            .map(|e| format!("{}: {}", e.path, e.message))
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn a_vrf_is_made_with_its_ports_its_routes_and_the_kernels_rules() {
    let p = plan(host().state(), &intent_of(VRF)).expect("plans");
    let text = p.to_string();
    assert!(text.contains("vrf vrf0 table 100"), "{text}");
    let m = applied(VRF);
    let s = m.state();
    assert_eq!(s.links["vrf0"].kind, LinkKind::Vrf { table: 100 });
    assert_eq!(s.links["vrf0"].mtu, 65575, "IP6_MAX_MTU, as vrf_setup");
    assert_eq!(s.links["eth1"].controller.as_deref(), Some("vrf0"));
    for f in [Family::Ipv4, Family::Ipv6] {
        assert!(
            s.opaque_rules.contains(&l3mdev_rule(f)),
            "{:?}",
            s.opaque_rules
        );
    }
    let r = s
        .routes
        .iter()
        .find(|r| r.destination.to_string() == "198.51.100.0/24")
        .expect("the route");
    assert_eq!(r.table, 100);
    let again = plan(s, &intent_of(VRF)).expect("plans");
    assert!(again.is_empty(), "{again}");
}

#[test]
fn show_of_a_vrf_applies_to_nothing() {
    let yaml = shown_applies_to_nothing(&applied(VRF));
    for key in [
        "type: vrf",
        "route-table-id: 100",
        "- eth1",
        "vrf-name: vrf0",
        "table-id: 100",
    ] {
        assert!(yaml.contains(key), "{key} not in:\n{yaml}");
    }
}

#[test]
fn a_failure_at_any_op_rolls_back_all_but_the_kernels_rules() {
    fail_at_every_op(host, &intent_of(VRF), |s| s);
}

#[test]
fn removal_takes_the_vrf_and_leaves_the_rules() {
    let m = applied(VRF);
    let gone = "interfaces:\n  - {name: vrf0, type: vrf, state: absent}\n";
    let mut m = ModelDriver::new(m.state().clone());
    apply(&mut m, &intent_of(gone), ApplyOptions::default(), |_, _| {
        Ok(())
    })
    .expect("applies");
    let s = m.state();
    assert!(!s.links.contains_key("vrf0"));
    assert_eq!(s.links["eth1"].controller, None);
    assert!(s.opaque_rules.contains(&l3mdev_rule(Family::Ipv4)));
    fail_at_every_op(
        || ModelDriver::new(applied(VRF).state().clone()),
        &intent_of(gone),
        |s| s,
    );
}

#[test]
fn the_table_is_kept_when_left_out_and_never_changed() {
    let m = applied(VRF);
    let same = "interfaces:\n  - {name: vrf0, type: vrf, vrf: {port: [eth1]}}\n";
    let p = plan(m.state(), &intent_of(same)).expect("plans");
    assert!(p.is_empty(), "{p}");
    let e = errors_of(
        &m,
        &VRF.replace("route-table-id: 100", "route-table-id: 101"),
    );
    assert!(
        e.contains("interfaces[0].vrf.route-table-id: VRF vrf0 has table 100, and the kernel cannot change a VRF's table"),
        "{e}"
    );
    let e = errors_of(&host(), "interfaces:\n  - {name: vrf1, type: vrf}\n");
    assert!(
        e.contains("interfaces[0].vrf.route-table-id: VRF vrf1 does not exist: a new VRF needs a route table"),
        "{e}"
    );
}

#[test]
fn tables_of_others_are_refused() {
    let m = applied(VRF);
    let e = errors_of(
        &m,
        "interfaces:\n  - {name: vrf1, type: vrf, vrf: {route-table-id: 100}}\n",
    );
    assert!(
        e.contains("interfaces[0].vrf.route-table-id: table 100 is the table of VRF vrf0"),
        "{e}"
    );
    let net = "
interfaces:
  - {name: vrf1, type: vrf, vrf: {route-table-id: 1001}}
networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [203.0.113.10/24], gateway: 203.0.113.1}
    source-routing: {table: 1001}
";
    let e = errors_of(&host(), net);
    assert!(
        e.contains("networks[0].source-routing.table: table 1001 is the route table of VRF vrf1"),
        "{e}"
    );
    // A derived table: whatever the network gets, a VRF with it is refused.
    let derived = net.replace("\n    source-routing: {table: 1001}", "");
    let intent = intent_of(&derived.replace(
        "  - {name: vrf1, type: vrf, vrf: {route-table-id: 1001}}\n",
        "",
    ));
    let t = intent.networks[0].table.expect("a derived table");
    let e = errors_of(&host(), &derived.replace("1001", &t.to_string()));
    assert!(
        e.contains(&format!(
            "interfaces[0].vrf.route-table-id: table {t} is the table derived for network mgmt"
        )),
        "{e}"
    );
}

#[test]
fn bad_values_name_their_field() {
    let text = "
interfaces:
  - {name: v0, type: vrf, vrf: {route-table-id: 254}}
  - {name: v1, type: vrf, vrf: {route-table-id: 7, port: [eth0, eth0, v1]}}
  - {name: v2, type: vrf, vrf: {route-table-id: 7}}
  - {name: d0, type: dummy, vrf: {route-table-id: 8}}
routes:
  config:
    - {destination: 198.51.100.0/24, next-hop-interface: eth0, vrf-name: v1, table-id: 9}
    - {destination: 198.51.101.0/24, next-hop-interface: eth0, vrf-name: d0}
";
    let e = errors_of(&host(), text);
    for want in [
        "interfaces[0].vrf.route-table-id: table 254 is the kernel's main table",
        "interfaces[1].vrf.port[1]: port eth0 is listed twice",
        "interfaces[1].vrf.port[2]: VRF v1 cannot be a port of itself",
        "interfaces[2].vrf.route-table-id: table 7 is the table of VRF v1 too",
        "interfaces[3].vrf: only a vrf has vrf settings, not a dummy",
        "routes.config[0].table-id: table 9 contradicts vrf-name v1, whose table is 7",
        "routes.config[1].vrf-name: d0 is a dummy, not a vrf",
    ] {
        assert!(e.contains(want), "{want} not in:\n{e}");
    }
    let e = errors_of(
        &host(),
        "routes:\n  config:\n    - {destination: 198.51.100.0/24, next-hop-interface: eth0, vrf-name: nope}\n",
    );
    assert!(
        e.contains(
            "routes.config[0].vrf-name: VRF nope does not exist and the file does not create it"
        ),
        "{e}"
    );
}

#[test]
fn a_port_with_ipv6_addresses_is_refused_and_the_files_go_after_the_join() {
    let v6 = "interfaces:\n  - {name: eth1, type: ethernet, ipv6: {enabled: true, address: [{ip: '2001:db8::10', prefix-length: 64}]}}\n";
    let m = applied(v6);
    let e = errors_of(&m, VRF);
    assert!(
        e.contains("interfaces[1]: eth1 has IPv6 addresses (2001:db8::10/64), which the kernel drops as it joins VRF vrf0"),
        "{e}"
    );
    // Given with the join, the address goes on after it, and stays.
    let both = format!(
        "{}    ipv6: {{enabled: true, address: [{{ip: '2001:db8::10', prefix-length: 64}}]}}\n",
        VRF.split("routes:").next().unwrap_or_default()
    );
    let m = applied(&both);
    assert!(m
        .state()
        .addresses
        .iter()
        .any(|a| a.ifname == "eth1" && a.addr.to_string() == "2001:db8::10/64"));
    let again = plan(m.state(), &intent_of(&both)).expect("plans");
    assert!(again.is_empty(), "{again}");
}

#[test]
fn a_port_keeps_its_ipv4_addresses_and_a_bridge_may_be_one() {
    let v4 = "interfaces:\n  - {name: eth1, type: ethernet, ipv4: {enabled: true, address: [{ip: 192.0.2.10, prefix-length: 24}]}}\n";
    let m = applied(v4);
    let yaml = "
interfaces:
  - {name: vrf0, type: vrf, vrf: {port: [eth1, br0], route-table-id: 100}}
  - {name: br0, type: linux-bridge, bridge: {port: []}}
";
    let mut m = ModelDriver::new(m.state().clone());
    apply(&mut m, &intent_of(yaml), ApplyOptions::default(), |_, _| {
        Ok(())
    })
    .expect("applies");
    let s = m.state();
    assert_eq!(s.links["eth1"].controller.as_deref(), Some("vrf0"));
    assert_eq!(s.links["br0"].controller.as_deref(), Some("vrf0"));
    assert!(s.addresses.iter().any(|a| a.ifname == "eth1"));
    let again = plan(s, &intent_of(yaml)).expect("plans");
    assert!(again.is_empty(), "{again}");
    fail_at_every_op(
        || ModelDriver::new(applied(v4).state().clone()),
        &intent_of(yaml),
        |s| s,
    );
}

#[test]
fn a_network_may_not_take_the_table_of_a_vrf_it_does_not_name() {
    let m = applied(VRF);
    let net = "
networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [203.0.113.10/24], gateway: 203.0.113.1}
    source-routing: {table: 100}
";
    let e = errors_of(&m, net);
    assert!(
        e.contains(
            "networks[0].source-routing.table: table 100 of network mgmt is the table of VRF vrf0"
        ),
        "{e}"
    );
}
