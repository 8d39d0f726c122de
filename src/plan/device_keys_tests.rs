//! nmstate's device keys (issue 13, docs/NMSTATE.md item 7) on the model driver: VLAN
//! protocol and flags, MACVLAN/MACVTAP `promiscuous`: created, re-applied as nothing,
//! shown and applied back as nothing, flags changed in place, fixed settings refused.

use super::tests::{host, intent_of};
use super::*;
use crate::engine::tests::fail_at_every_op;
use crate::engine::{apply, ApplyOptions};
use crate::model::{parse, validate};
use crate::netdev::model::ModelDriver;
use crate::netdev::{LinkKind, VlanProtocol};

const VLANS: &str = "
interfaces:
  - name: eth0.101
    type: vlan
    vlan: {base-iface: eth0, id: 101, protocol: 802.1q, reorder-headers: false,
           loose-binding: true, registration-protocol: mvrp}
  - name: eth0.300
    type: vlan
    vlan: {base-iface: eth0, id: 300, protocol: 802.1ad}
  - name: eth0.300.10
    type: vlan
    vlan: {base-iface: eth0.300, id: 10}
  - name: mvt0
    type: mac-vtap
    mac-vtap: {base-iface: eth1, mode: passthru, promiscuous: false}
  - name: mv0
    type: mac-vlan
    mac-vlan: {base-iface: eth0, mode: bridge, accept-all-mac: true}
";

fn applied(yaml: &str) -> ModelDriver {
    let mut m = host();
    apply(&mut m, &intent_of(yaml), ApplyOptions::default(), |_, _| {
        Ok(())
    })
    .expect("applies");
    m
}

fn nmstate(yaml: &str) -> crate::expand::Intent {
    let d = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    validate(&d).unwrap_or_else(|e| panic!("{e}"));
    crate::expand::expand(&d).expect("expands")
}

#[test]
fn vlan_and_macvlan_keys_are_created_and_reapply_is_empty() {
    let m = applied(VLANS);
    let s = m.state();
    let LinkKind::Vlan(v) = &s.links["eth0.101"].kind else {
        panic!("{:?}", s.links["eth0.101"])
    };
    assert_eq!(v.protocol, VlanProtocol::Dot1Q);
    assert!(
        !v.reorder_headers && v.loose_binding && v.mvrp && !v.gvrp,
        "{v:?}"
    );
    let LinkKind::Vlan(qinq) = &s.links["eth0.300"].kind else {
        panic!()
    };
    assert_eq!(qinq.protocol, VlanProtocol::Dot1Ad);
    assert!(qinq.reorder_headers, "the kernel's default");
    let LinkKind::MacVtap(t) = &s.links["mvt0"].kind else {
        panic!()
    };
    assert!(!t.promiscuous);
    let LinkKind::MacVlan(mv) = &s.links["mv0"].kind else {
        panic!()
    };
    assert!(mv.promiscuous);
    let again = plan(s, &intent_of(VLANS)).expect("plans");
    assert!(again.is_empty(), "{again}");
    // Through nmstate's key check too (accept-all-mac is its alias of promiscuous).
    let again = plan(s, &nmstate(VLANS)).expect("plans");
    assert!(again.is_empty(), "{again}");
}

#[test]
fn show_of_the_keys_applies_to_nothing() {
    let m = applied(VLANS);
    let shown = crate::show::show(m.state());
    let yaml = serde_yaml_ng::to_string(&shown.document).expect("yaml");
    for key in [
        "protocol: 802.1ad",
        "reorder-headers: false",
        "loose-binding: true",
        "registration-protocol: mvrp",
        "promiscuous: false",
    ] {
        assert!(yaml.contains(key), "{key} not in:\n{yaml}");
    }
    let p = plan(m.state(), &nmstate(&yaml)).expect("plans");
    assert!(p.is_empty(), "show output changes:\n{p}\n{yaml}");
}

#[test]
fn flags_change_in_place_and_a_failure_restores_them() {
    let m = applied(VLANS);
    let changed = VLANS
        .replace("reorder-headers: false", "reorder-headers: true")
        .replace("registration-protocol: mvrp", "registration-protocol: gvrp")
        .replace("promiscuous: false", "promiscuous: true");
    let p = plan(m.state(), &intent_of(&changed)).expect("plans");
    let changes: Vec<&str> = p
        .ops()
        .filter_map(|op| match op {
            Op::ChangeLink { name, change } if change.settings.is_some() => Some(name.as_str()),
            Op::CreateLink(_) | Op::DeleteLink { .. } => panic!("re-created: {p}"),
            _ => None,
        })
        .collect();
    assert_eq!(changes, ["eth0.101", "mvt0"], "{p}");
    fail_at_every_op(
        || ModelDriver::new(m.state().clone()),
        &intent_of(&changed),
        |s| s,
    );
    let done = {
        let mut d = ModelDriver::new(m.state().clone());
        apply(
            &mut d,
            &intent_of(&changed),
            ApplyOptions::default(),
            |_, _| Ok(()),
        )
        .expect("applies");
        d
    };
    assert!(plan(done.state(), &intent_of(&changed))
        .expect("plans")
        .is_empty());
}

#[test]
fn a_vlan_protocol_or_passthru_change_is_refused_naming_the_section() {
    let m = applied(VLANS);
    let changed = VLANS.replace("protocol: 802.1ad", "protocol: 802.1q");
    let errors: Vec<String> = match plan(m.state(), &intent_of(&changed)) {
        Ok(p) => panic!("planned:\n{p}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(
        errors,
        [
            "interfaces[1].vlan: vlan eth0.300 exists with link eth0 protocol 802.1ad id 300, not \
          link eth0 id 300; hostnet does not change these settings in place: remove it first \
          (state: absent) and apply again"
        ]
    );
}

#[test]
fn bad_values_name_their_field() {
    let d = parse(
        "interfaces:\n  - {name: v0, type: vlan, vlan: {base-iface: eth0, id: 5, protocol: 802.1x, registration-protocol: garp}}",
    )
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    for want in [
        "interfaces[0].vlan.protocol: unknown VLAN protocol \"802.1x\"",
        "interfaces[0].vlan.registration-protocol: unknown registration protocol \"garp\"",
    ] {
        assert!(e.contains(want), "{want} not in {e}");
    }
}
