//! OVS bonds (`link-aggregation` of an ovs-bridge port) on the model driver: planned as one
//! add-bond, re-applied as nothing, shown back, changed in place or made again, rolled
//! back exactly.

use super::tests::host;
use crate::engine::tests::fail_at_every_op;
use crate::engine::{apply, ApplyOptions};
use crate::netdev::model::ModelDriver;
use crate::netdev::{KernelState, Op};
use crate::plan::plan;
use crate::plan::tests::intent_of;

const BONDED: &str = r#"
interfaces:
  - name: br-a
    type: ovs-bridge
    bridge:
      port:
        - name: bond0
          vlan: {mode: access, tag: 7}
          link-aggregation:
            mode: balance-slb
            bond-updelay: 100
            port: [{name: v1}, {name: g1}]
"#;

fn applied() -> ModelDriver {
    let mut m = host();
    apply(
        &mut m,
        &intent_of(BONDED),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    m
}

fn ovs_ops(s: &KernelState, yaml: &str) -> Vec<String> {
    plan(s, &intent_of(yaml))
        .expect("plans")
        .ops()
        .filter(|o| matches!(o, Op::Ovs(_)))
        .map(|o| format!("{} {o}", o.sign()))
        .collect()
}

#[test]
fn a_bond_is_planned_applied_shown_back_and_rolled_back() {
    assert_eq!(
        ovs_ops(host().state(), BONDED),
        [
            "+ ovs-bridge br-a",
            "+ ovs-port bond0 bridge br-a bond g1,v1 bond_mode balance-slb lacp off \
             updelay 100 downdelay 0 tag 7",
        ]
    );
    let m = applied();
    let b = m.state().ovs.bridges["br-a"].ports["bond0"]
        .bond
        .clone()
        .expect("a bond");
    assert_eq!(b.members, ["g1".to_string(), "v1".to_string()].into());
    assert!(plan(m.state(), &intent_of(BONDED))
        .expect("plans")
        .is_empty());
    let yaml = serde_yaml_ng::to_string(&crate::show::show(m.state()).document).expect("yaml");
    assert!(
        yaml.contains("mode: balance-slb") && yaml.contains("bond-updelay: 100"),
        "{yaml}"
    );
    let again = plan(m.state(), &intent_of(&yaml)).expect("plans");
    assert!(again.is_empty(), "{again}\n{yaml}");
    fail_at_every_op(host, &intent_of(BONDED), |s| s.ovs);
    let removal = "interfaces: [{name: bond0, state: absent}]";
    assert_eq!(
        ovs_ops(m.state(), removal),
        ["- ovs-port bond0 bridge br-a"]
    );
    fail_at_every_op(applied, &intent_of(removal), |s| s.ovs);
}

#[test]
fn a_bond_changes_mode_in_place_and_is_made_again_for_new_members() {
    let m = applied();
    let lacp = BONDED.replace("mode: balance-slb", "mode: lacp");
    assert_eq!(
        ovs_ops(m.state(), &lacp),
        ["~ ovs-port bond0 bond g1,v1 lacp active updelay 100 downdelay 0 tag 7"]
    );
    // A member that is a port of its own leaves it for the bond.
    let mut s = m.state().clone();
    s.links.insert("v2".into(), s.links["v1"].clone());
    let moved = BONDED.replace("[{name: v1}, {name: g1}]", "[{name: v1}, {name: v2}]");
    assert_eq!(
        ovs_ops(&s, &moved),
        [
            "- ovs-port bond0 bridge br-a",
            "+ ovs-port bond0 bridge br-a bond v1,v2 bond_mode balance-slb lacp off \
             updelay 100 downdelay 0 tag 7",
        ]
    );
    for yaml in [lacp.as_str(), moved.as_str()] {
        fail_at_every_op(|| ModelDriver::new(s.clone()), &intent_of(yaml), |s| s.ovs);
    }
    // A plain port of that name is another kind: refused, not re-created.
    let plain = "interfaces: [{name: br-a, type: ovs-bridge, bridge: {port: [{name: bond0}]}}]";
    let e = plan(m.state(), &intent_of(plain)).expect_err("refused");
    assert_eq!(
        e[0].to_string(),
        "interfaces[0].bridge.port[0]: port bond0 of br-a exists as a bond, not as a device's \
         port; remove it first"
    );
}

#[test]
fn bad_bonds_are_refused_naming_the_key() {
    let d = crate::model::parse(
        "interfaces:\n- {name: br-a, type: ovs-bridge, bridge: {port: [{name: b0, link-aggregation: {mode: balance-rr, port: [{name: v1}]}}, {name: b1, link-aggregation: {port: [{name: b1}, {name: v1}, {name: v1}]}}]}}\n- {name: br-l, type: linux-bridge, bridge: {port: [{name: v2, link-aggregation: {port: [{name: v3}, {name: v4}]}}]}}\n- {name: br-m, type: ovs-bridge, bridge: {port: [{name: v5}, {name: b2, link-aggregation: {port: [{name: v5}, {name: v6}]}}]}}\n",
    )
    .expect("parses");
    let got: Vec<String> = crate::model::validate(&d)
        .expect_err("refused")
        .0
        .iter()
        .map(ToString::to_string)
        .collect();
    for want in [
        "interfaces[0].bridge.port[0].link-aggregation.mode: \"balance-rr\" is not active-backup",
        "interfaces[0].bridge.port[0].link-aggregation.port: an OVS bond needs at least two ports",
        "interfaces[0].bridge.port[1].link-aggregation.port[0].name: b1 is the bond's own name",
        "interfaces[0].bridge.port[1].link-aggregation.port[2].name: v1 is given twice",
        "interfaces[1].bridge.port[0].link-aggregation: only an ovs-bridge's port is a bond",
        "interfaces[2].bridge.port[0]: v5 is a member of bond b2; it is no port of its own",
    ] {
        assert!(
            got.iter().any(|g| g.starts_with(want)),
            "{want} not in {got:#?}"
        );
    }
}

#[test]
fn the_device_api_makes_a_bond_idempotently() {
    let mut s = applied().state().clone();
    for n in ["v2", "v3"] {
        let mut l = s.links["v1"].clone();
        l.name = n.into();
        s.links.insert(n.into(), l);
    }
    let mut m = ModelDriver::new(s);
    let settings = super::OvsPort {
        bond: Some(super::OvsBond {
            members: ["v2".to_string(), "v3".to_string()].into(),
            lacp: Some("active".into()),
            ..super::OvsBond::default()
        }),
        ..super::OvsPort::default()
    };
    crate::devices::create_ovs_port(&mut m, "br-a", "bond1", &settings).expect("bond");
    let before = m.state().clone();
    crate::devices::create_ovs_port(&mut m, "br-a", "bond1", &settings).expect("again");
    assert_eq!(m.state().ovs, before.ovs);
    assert_eq!(
        m.state().ovs.bridges["br-a"].ports["bond1"].bond,
        settings.bond
    );
    crate::devices::delete_ovs_port(&mut m, "br-a", "bond1").expect("delete");
    assert!(!m.state().ovs.bridges["br-a"].ports.contains_key("bond1"));
}
