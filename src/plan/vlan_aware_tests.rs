//! Networks on a shared VLAN-aware bridge, planned against the model driver (the dry
//! run): the VLANs they own converge one by one, removal by name takes back exactly
//! those, a rollback exactly what was done, and a kernel without VLAN filtering refuses
//! at plan time.

use super::super::tests::host;
use super::super::{plan, Plan};
use crate::expand::{expand_with, Intent, Records};
use crate::model::{parse, validate};
use crate::netdev::model::ModelDriver;
use crate::netdev::{fmt_vlans, Driver, KernelState, LinkKind, Op, VlanFlags, VlanSet};

const TWO: &str = "
networks:
  - name: blue
    uplink: eth1
    bridge: br0
    vlan-aware: true
    vlan: 100
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
  - name: red
    uplink: eth1
    bridge: br0
    vlan-aware: true
    vlan: 200
    ipv4: {address: [198.51.100.10/24]}
";

fn intent(yaml: &str, records: &Records) -> Intent {
    let d = parse(yaml).expect("parses");
    validate(&d).expect("valid");
    expand_with(&d, records).expect("expands")
}

fn run(m: &mut ModelDriver, p: &Plan) {
    for phase in &p.phases {
        for r in m.execute(phase) {
            r.expect("model accepts the op");
        }
    }
}

/// Applies `yaml` with what earlier applies recorded, checks that it converged, and
/// records its networks.
fn apply(m: &mut ModelDriver, records: &mut Records, yaml: &str) -> Plan {
    let i = intent(yaml, records);
    let p = plan(m.state(), &i).expect("plans");
    run(m, &p);
    for n in &i.networks {
        records.insert(n.name.clone(), n.record(None));
    }
    let again = plan(m.state(), &intent(yaml, records)).expect("plans again");
    assert!(again.is_empty(), "not converged:\n{again}");
    p
}

fn vlans(s: &KernelState, name: &str) -> String {
    s.bridge_vlans.get(name).map(fmt_vlans).unwrap_or_default()
}

#[test]
fn two_networks_share_one_vlan_aware_bridge() {
    let mut m = host();
    let mut records = Records::new();
    let services = TWO.replacen(
        "    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}\n",
        "    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}\n    \
         firewall: {masquerade: {out-interface: eth0}, isolate: true}\n    \
         dhcp-server: {range: {start: 192.0.2.100, end: 192.0.2.150}}\n",
        1,
    );
    let i = intent(&services, &records);
    // Routes, firewall and dnsmasq are keyed on the VLAN device.
    assert_eq!(i.networks[0].device, "br0.100");
    assert!(i.networks[0]
        .routes
        .iter()
        .all(|r| r.dev.as_deref() == Some("br0.100")));
    let fw = i.firewall.networks["blue"].as_ref().expect("a firewall");
    assert_eq!(fw.device, "br0.100");
    let server = i.dhcp_servers["blue"].as_ref().expect("a server");
    assert_eq!(server.spec.flags.interface, "br0.100");

    apply(&mut m, &mut records, TWO);
    let s = m.query().expect("query");
    let LinkKind::Bridge(o) = &s.links["br0"].kind else {
        panic!("a bridge");
    };
    assert!(o.vlan_filtering);
    assert_eq!(s.links["eth1"].controller.as_deref(), Some("br0"));
    assert_eq!(vlans(&s, "eth1"), "1 pvid untagged 100 200");
    assert_eq!(vlans(&s, "br0"), "1 pvid untagged 100 200");
    let LinkKind::Vlan(v) = &s.links["br0.200"].kind else {
        panic!("a VLAN device");
    };
    assert_eq!((v.base.as_deref(), v.id), (Some("br0"), 200));
    assert!(s
        .addresses
        .iter()
        .any(|a| a.ifname == "br0.100" && a.addr.to_string() == "192.0.2.10/24"));

    // Another tool's VLANs stay: one it added on the uplink, and a guest's tap on VLAN
    // 100 (libvirt's). Removing blue by name takes back only its own.
    let theirs: VlanSet = [(300, VlanFlags::default())].into();
    let guest: VlanSet = [(
        100,
        crate::netdev::VlanFlags {
            pvid: true,
            untagged: true,
        },
    )]
    .into();
    let tap = Op::CreateLink(crate::netdev::NewLink {
        name: "vnet0".into(),
        kind: LinkKind::Tap(Default::default()),
        up: true,
        mtu: None,
        mac: None,
        controller: Some("br0".into()),
        peer: None,
    });
    let ops = [
        tap,
        Op::BridgeVlans {
            name: "eth1".into(),
            vlans: theirs,
            add: true,
        },
        Op::BridgeVlans {
            name: "vnet0".into(),
            vlans: guest,
            add: true,
        },
    ];
    for op in ops {
        for r in m.execute(std::slice::from_ref(&op)) {
            r.expect("another tool's op");
        }
    }
    apply(
        &mut m,
        &mut records,
        "networks:\n- {name: blue, state: absent}\n",
    );
    let s = m.query().expect("query");
    assert!(!s.links.contains_key("br0.100"));
    assert_eq!(vlans(&s, "eth1"), "1 pvid untagged 200 300");
    assert_eq!(vlans(&s, "br0"), "1 pvid untagged 200");
    assert_eq!(vlans(&s, "vnet0"), "1 untagged 100 pvid untagged");
    assert!(s.links.contains_key("br0.200"));

    // The last network on the bridge takes it along.
    apply(
        &mut m,
        &mut records,
        "networks:\n- {name: red, state: absent}\n",
    );
    let s = m.query().expect("query");
    assert!(!s.links.contains_key("br0") && !s.links.contains_key("br0.200"));
    assert!(s.links["eth1"].controller.is_none());
}

#[test]
fn a_network_moved_to_another_vlan_leaves_its_old_one() {
    let mut m = host();
    let mut records = Records::new();
    apply(&mut m, &mut records, TWO);
    apply(&mut m, &mut records, &TWO.replace("vlan: 100", "vlan: 101"));
    let s = m.query().expect("query");
    assert_eq!(vlans(&s, "eth1"), "1 pvid untagged 101 200");
    assert_eq!(vlans(&s, "br0"), "1 pvid untagged 101 200");
    assert!(!s.links.contains_key("br0.100") && s.links.contains_key("br0.101"));
}

#[test]
fn a_rollback_takes_back_exactly_what_was_done() {
    let mut m = host();
    let before = m.query().expect("query");
    let p = plan(m.state(), &intent(TWO, &Records::new())).expect("plans");
    run(&mut m, &p);
    let done: Vec<Op> = p.ops().cloned().collect();
    let now = m.query().expect("query");
    let undo = super::super::undo::Undo {
        before: &before,
        done: &done,
        left: Some(&now),
        recreated: &Default::default(),
    }
    .plan(&now);
    run(&mut m, &undo.plan);
    assert_eq!(m.query().expect("query"), before);
}

#[test]
fn a_kernel_without_vlan_filtering_is_refused_at_plan_time() {
    let mut s = host().query().expect("query");
    s.no_bridge_vlans = true;
    let m = ModelDriver::new(s);
    let errs = plan(m.state(), &intent(TWO, &Records::new())).expect_err("refused");
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert!(paths.contains(&"networks[0].vlan-aware"), "{errs:?}");
    assert!(
        errs.iter()
            .any(|e| e.message.contains("CONFIG_BRIDGE_VLAN_FILTERING")),
        "{errs:?}"
    );
}

#[test]
fn a_bridge_per_vlan_network_moves_onto_a_vlan_aware_bridge() {
    let mut m = host();
    let mut records = Records::new();
    let per_vlan =
        "networks:\n- {name: blue, uplink: eth1, vlan: 100, ipv4: {address: [192.0.2.10/24]}}\n";
    apply(&mut m, &mut records, per_vlan);
    assert!(m.state().links.contains_key("eth1.100"));
    apply(&mut m, &mut records, TWO);
    let s = m.query().expect("query");
    // The old bridge and VLAN device go; the address moves to the VLAN of the new bridge.
    assert!(!s.links.contains_key("blue") && !s.links.contains_key("eth1.100"));
    assert_eq!(s.links["eth1"].controller.as_deref(), Some("br0"));
    assert_eq!(vlans(&s, "eth1"), "1 pvid untagged 100 200");
    assert!(s
        .addresses
        .iter()
        .any(|a| a.ifname == "br0.100" && a.addr.to_string() == "192.0.2.10/24"));
}

#[test]
fn a_gateway_needs_a_port_of_the_shared_bridge() {
    let m = host();
    let lone = "networks:\n- {name: blue, bridge: br0, vlan-aware: true, vlan: 100, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n";
    let errs = plan(m.state(), &intent(lone, &Records::new())).expect_err("refused");
    assert!(
        errs.iter()
            .any(|e| e.path == "networks[0].uplink"
                && e.message.contains("its bridge br0 has no port")),
        "{errs:?}"
    );
}

const BLUE_ON_ETH1: &str =
    "networks:\n- {name: blue, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 100, ipv4: {address: [192.0.2.10/24]}}\n";

#[test]
fn a_new_uplink_replaces_the_old_one_as_port_of_the_shared_bridge() {
    let mut m = host();
    let mut records = Records::new();
    apply(&mut m, &mut records, BLUE_ON_ETH1);
    let p = apply(
        &mut m,
        &mut records,
        &BLUE_ON_ETH1.replace("uplink: eth1", "uplink: eth0"),
    );
    let s = m.query().expect("query");
    // The old uplink leaves with its VLANs: none is deleted from it after it left.
    assert!(s.links["eth1"].controller.is_none(), "{p}");
    assert!(!s.bridge_vlans.contains_key("eth1"), "{p}");
    assert!(
        !p.ops()
            .any(|op| matches!(op, Op::BridgeVlans { name, .. } if name == "eth1")),
        "{p}"
    );
    assert_eq!(s.links["eth0"].controller.as_deref(), Some("br0"));
    assert_eq!(vlans(&s, "eth0"), "1 pvid untagged 100");
    assert_eq!(vlans(&s, "br0"), "1 pvid untagged 100");
}

#[test]
fn an_old_uplink_a_recorded_network_still_uses_stays() {
    let mut m = host();
    let mut records = Records::new();
    apply(&mut m, &mut records, TWO);
    // blue moves to a bridge of its own; red, recorded and left out, keeps br0 and eth1.
    apply(
        &mut m,
        &mut records,
        &BLUE_ON_ETH1
            .replace("uplink: eth1", "uplink: eth0")
            .replace("br0", "br1"),
    );
    let s = m.query().expect("query");
    assert_eq!(s.links["eth1"].controller.as_deref(), Some("br0"));
    assert_eq!(vlans(&s, "eth1"), "1 pvid untagged 200");
    assert_eq!(vlans(&s, "br0"), "1 pvid untagged 200");
    assert_eq!(s.links["eth0"].controller.as_deref(), Some("br1"));
    assert!(!s.links.contains_key("br0.100") && s.links.contains_key("br0.200"));
}

#[test]
fn another_uplink_than_a_recorded_network_on_the_bridge_is_refused() {
    let mut m = host();
    let mut records = Records::new();
    apply(&mut m, &mut records, TWO);
    let moved = BLUE_ON_ETH1.replace("uplink: eth1", "uplink: eth0");
    let errs = plan(m.state(), &intent(&moved, &records)).expect_err("refused");
    assert!(
        errs.iter().any(|e| e.path == "networks[0].uplink"
            && e.message.contains("network red, applied earlier")
            && e.message.contains("whose uplink is eth1")),
        "{errs:?}"
    );
    // Once red is gone, the same file is fine.
    apply(
        &mut m,
        &mut records,
        "networks:\n- {name: red, state: absent}\n",
    );
    apply(&mut m, &mut records, &moved);
    assert!(m.state().links["eth1"].controller.is_none());
}

#[test]
fn a_rollback_of_a_new_uplink_puts_the_old_one_back_with_its_vlans() {
    let mut m = host();
    apply(&mut m, &mut Records::new(), BLUE_ON_ETH1);
    let mut records = Records::new();
    for n in &intent(BLUE_ON_ETH1, &records).networks {
        records.insert(n.name.clone(), n.record(None));
    }
    let before = m.query().expect("query");
    let moved = BLUE_ON_ETH1.replace("uplink: eth1", "uplink: eth0");
    let p = plan(m.state(), &intent(&moved, &records)).expect("plans");
    run(&mut m, &p);
    let done: Vec<Op> = p.ops().cloned().collect();
    let now = m.query().expect("query");
    let undo = super::super::undo::Undo {
        before: &before,
        done: &done,
        left: Some(&now),
        recreated: &Default::default(),
    }
    .plan(&now);
    run(&mut m, &undo.plan);
    assert_eq!(m.query().expect("query"), before);
}

#[test]
fn a_vlan_aware_bridge_declared_in_interfaces_keeps_its_options() {
    let mut m = host();
    let mut records = Records::new();
    let both = format!(
        "{TWO}interfaces:\n  - name: br0\n    type: linux-bridge\n    bridge:\n      options: {{stp: {{enabled: true}}, mac-ageing-time: 600}}\n      port: [{{name: eth1}}]\n"
    );
    apply(&mut m, &mut records, &both);
    let s = m.query().expect("query");
    let LinkKind::Bridge(o) = &s.links["br0"].kind else {
        panic!("a bridge");
    };
    assert!(o.vlan_filtering && o.stp, "{o:?}");
    assert_eq!(o.ageing_time, 60000);
    assert_eq!(vlans(&s, "eth1"), "1 pvid untagged 100 200");
    // Without the entry, the bridge is the networks' again; with the entry and no
    // network, the entry's (VLAN filtering goes off, the VLANs the networks owned go).
    apply(&mut m, &mut records, TWO);
    let only = "interfaces:\n  - name: br0\n    type: linux-bridge\n    bridge:\n      port: [{name: eth1}]\nnetworks:\n  - {name: blue, state: absent}\n  - {name: red, state: absent}\n";
    apply(&mut m, &mut records, only);
    let s = m.query().expect("query");
    let LinkKind::Bridge(o) = &s.links["br0"].kind else {
        panic!("the entry keeps the bridge");
    };
    assert!(!o.vlan_filtering, "{o:?}");
    assert_eq!(vlans(&s, "eth1"), "1 pvid untagged");
}
