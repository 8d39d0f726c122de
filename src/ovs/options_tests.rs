//! Bridge options (STP, RSTP, multicast snooping, fail mode) and port trunks on the model
//! driver: planned, applied, re-applied as nothing, shown back, rolled back exactly.

use super::tests::host;
use crate::engine::tests::fail_at_every_op;
use crate::engine::{apply, ApplyOptions};
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, KernelState, Op};
use crate::plan::plan;
use crate::plan::tests::intent_of;

const BRIDGE: &str = r#"
interfaces:
  - name: br-int
    type: ovs-bridge
    bridge:
      options:
        stp: {enabled: true, forward-delay: 12, priority: 4096}
        rstp: false
        mcast-snooping-enable: true
        fail-mode: secure
      port:
        - name: v1
          vlan:
            mode: trunk
            enable-native: true
            tag: 20
            trunk-tags: [{id: 21}, {id-range: {min: 30, max: 39}}]
        - {name: int0, vlan: {mode: access, tag: 20}}
  - name: int0
    type: ovs-interface
"#;

fn applied(yaml: &str) -> ModelDriver {
    let mut m = host();
    apply(&mut m, &intent_of(yaml), ApplyOptions::default(), |_, _| {
        Ok(())
    })
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
fn options_and_trunks_are_planned_applied_and_shown_back() {
    assert_eq!(
        ovs_ops(host().state(), BRIDGE),
        [
            "+ ovs-bridge br-int stp on rstp off mcast-snooping on fail-mode secure \
             stp-forward-delay 12 stp-priority 4096",
            "+ ovs-port int0 bridge br-int internal tag 20",
            "+ ovs-port v1 bridge br-int vlan_mode native-untagged tag 20 trunks 21,30-39",
        ]
    );
    let m = applied(BRIDGE);
    let b = &m.state().ovs.bridges["br-int"];
    assert!(b.options.stp && b.options.mcast_snooping && !b.options.rstp);
    assert_eq!(b.options.fail_mode.as_deref(), Some("secure"));
    assert_eq!(b.ports["v1"].trunks.len(), 11);
    assert!(plan(m.state(), &intent_of(BRIDGE))
        .expect("plans")
        .is_empty());

    // show's document re-applies to nothing, in nmstate's keys.
    let doc = crate::show::show(m.state()).document;
    let yaml = serde_yaml_ng::to_string(&doc).expect("yaml");
    for key in [
        "rstp: false",
        "mcast-snooping-enable: true",
        "fail-mode: secure",
        "enable-native: true",
    ] {
        assert!(yaml.contains(key), "{key} not in\n{yaml}");
    }
    let p = plan(m.state(), &intent_of(&yaml)).expect("plans");
    assert!(p.is_empty(), "{p}\n{yaml}");
}

#[test]
fn options_change_in_place_and_unmentioned_ones_stay() {
    let m = applied(BRIDGE);
    let partial = "interfaces: [{name: br-int, type: ovs-bridge, bridge: {options: {rstp: true}}}]";
    assert_eq!(
        ovs_ops(m.state(), partial),
        [
            "~ ovs-bridge br-int stp on rstp on mcast-snooping on fail-mode secure \
          stp-forward-delay 12 stp-priority 4096"
        ]
    );
    // The boolean form of stp, and "" for no fail mode.
    let off = "interfaces: [{name: br-int, type: ovs-bridge, bridge: {options: {stp: false, fail-mode: ''}}}]";
    assert_eq!(
        ovs_ops(m.state(), off),
        ["~ ovs-bridge br-int stp off rstp off mcast-snooping on stp-forward-delay 12 stp-priority 4096"]
    );
    // A port goes from trunk to access.
    let trunk_v1 = "        - name: v1\n          vlan:\n            mode: trunk\n            enable-native: true\n            tag: 20\n            trunk-tags: [{id: 21}, {id-range: {min: 30, max: 39}}]\n";
    let access = BRIDGE.replace(
        trunk_v1,
        "        - {name: v1, vlan: {mode: access, tag: 7}}\n",
    );
    assert_ne!(access, BRIDGE);
    assert_eq!(ovs_ops(m.state(), &access), ["~ ovs-port v1 tag 7"]);
    // Each change is taken back by a failure anywhere after it.
    for yaml in [partial, off, access.as_str()] {
        fail_at_every_op(|| applied(BRIDGE), &intent_of(yaml), |s| s.ovs);
    }
}

#[test]
fn a_bridge_with_a_fail_mode_is_deleted_and_restored_by_a_rollback() {
    let removal = "interfaces: [{name: br-int, state: absent}]";
    let p = fail_at_every_op(|| applied(BRIDGE), &intent_of(removal), |s| s.ovs);
    assert_eq!(
        p.ops()
            .filter(|o| matches!(o, Op::Ovs(_)))
            .map(|o| format!("{} {o}", o.sign()))
            .collect::<Vec<_>>(),
        ["- ovs-bridge br-int"]
    );
    // Applied for real, the options go with the bridge.
    let mut m = applied(BRIDGE);
    apply(
        &mut m,
        &intent_of(removal),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("removes");
    assert!(m.query().expect("query").ovs.bridges.is_empty());
}

#[test]
fn bad_options_and_port_vlans_are_refused_naming_the_key() {
    let problems = |yaml: &str| -> Vec<String> {
        let d = crate::model::parse(yaml).expect("parses");
        match crate::model::validate(&d) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    };
    let got = problems(
        "interfaces:\n- {name: br-x, type: ovs-bridge, bridge: {options: {stp: {enabled: true, hello-time: 11, max-age: 5}, fail-mode: open, mac-ageing-time: 300}, port: [{name: v1, vlan: {mode: trunk, tag: 5}}, {name: v2, stp-priority: 3}]}}\n- {name: br-y, type: linux-bridge, bridge: {options: {rstp: true, mcast-snooping-enable: true}}}\n- {name: br-z, type: ovs-bridge, bridge: {options: {stp: {max-age: 24, forward-delay: 10}}}}\n",
    );
    for want in [
        "interfaces[0].bridge.options.stp.hello-time: 11 is outside 1-10",
        "interfaces[0].bridge.options.stp.max-age: 5 is outside 6-40",
        "interfaces[0].bridge.options.fail-mode: \"open\" is not standalone or secure",
        "interfaces[0].bridge.options: a linux-bridge's options are given",
        "interfaces[0].bridge.port[0].vlan.tag: a trunk port's tag is its native VLAN",
        "interfaces[0].bridge.port[1]: stp-hairpin-mode, stp-path-cost and stp-priority",
        "interfaces[1].bridge.options.rstp: only an ovs-bridge has rstp",
        "interfaces[1].bridge.options.mcast-snooping-enable: only an ovs-bridge has",
        "interfaces[2].bridge.options.stp.forward-delay: max-age 24 needs a forward-delay of at least 13",
    ] {
        assert!(got.iter().any(|g| g.starts_with(want)), "{want} not in {got:#?}");
    }
    // nmstate's spellings: stp as a boolean or a string of one.
    for stp in ["true", "'yes'"] {
        let yaml = format!(
            "interfaces: [{{name: br-x, type: ovs-bridge, bridge: {{options: {{stp: {stp}}}}}}}]"
        );
        let i = intent_of(&yaml);
        assert_eq!(i.ovs.bridges["br-x"].options.stp, Some(true), "{stp}");
    }
}

#[test]
fn other_config_of_an_interface_is_set_and_external_ids_not_given_stay() {
    let yaml = "interfaces:\n- {name: br-int, type: ovs-bridge, bridge: {port: [{name: v1}]}}\n- {name: v1, type: veth, ovs-db: {external_ids: {iface-id: p1}, other_config: {emc-enable: 'false'}}}\n";
    let m = applied(yaml);
    let p = &m.state().ovs.bridges["br-int"].ports["v1"];
    assert_eq!(p.other_config["emc-enable"], "false");
    assert!(plan(m.state(), &intent_of(yaml)).expect("plans").is_empty());
    let doc = serde_yaml_ng::to_string(&crate::show::show(m.state()).document).expect("yaml");
    assert!(
        plan(m.state(), &intent_of(&doc)).expect("plans").is_empty(),
        "{doc}"
    );
    // Only other_config given (the bridge not described): external_ids stay.
    let cleared = "interfaces: [{name: v1, type: veth, ovs-db: {other_config: {}}}]";
    assert_eq!(
        ovs_ops(m.state(), cleared),
        ["~ Interface v1 other_config:emc-enable removed"]
    );
    fail_at_every_op(|| applied(yaml), &intent_of(cleared), |s| s.ovs);
}
