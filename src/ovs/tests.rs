//! Open vSwitch on the model driver: plans, re-apply, and exact rollback from a failure
//! at every op (the OVS phase's inverse included).

use crate::engine::tests::fail_at_every_op;
use crate::engine::{apply, ApplyOptions};
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, NewLink, Op, PeerSettings};
use crate::plan::plan;
use crate::plan::tests::intent_of;

const BRIDGE: &str = r#"
interfaces:
  - name: br-int
    type: ovs-bridge
    bridge:
      port:
        - {name: v1, vlan: {mode: access, tag: 100}}
        - {name: int0}
  - name: v1
    type: veth
    ovs-db: {external_ids: {iface-id: p1}}
  - name: int0
    type: ovs-interface
    mtu: 1400
    ipv4: {enabled: true, address: [{ip: 10.9.0.254, prefix-length: 24}]}
"#;

pub(super) fn host() -> ModelDriver {
    let mut m = ModelDriver::fresh_namespace();
    let r = m.execute(&[Op::CreateLink(NewLink {
        name: "v1".into(),
        kind: crate::netdev::LinkKind::Veth {
            peer: Some("g1".into()),
        },
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: Some(PeerSettings {
            up: true,
            ..PeerSettings::default()
        }),
    })]);
    assert!(r.iter().all(Result::is_ok));
    let mut s = m.query().expect("query");
    s.ovs.available = true;
    ModelDriver::new(s)
}

#[test]
fn a_bridge_with_ports_is_planned_in_one_phase_and_reapplies_to_nothing() {
    let mut m = host();
    let p = plan(m.state(), &intent_of(BRIDGE)).expect("plans");
    insta::assert_snapshot!(p.to_string());
    apply(
        &mut m,
        &intent_of(BRIDGE),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    let s = m.state();
    assert_eq!(s.ovs.bridges["br-int"].ports["v1"].tag, Some(100));
    assert_eq!(s.links["int0"].mtu, 1400);
    assert!(plan(s, &intent_of(BRIDGE)).expect("plans").is_empty());
}

#[test]
fn a_failure_at_any_op_rolls_back_ovs_too() {
    fail_at_every_op(host, &intent_of(BRIDGE), |s| s);
    // And removing the bridge, failing anywhere, restores it with its ports.
    let mut probe = host();
    apply(
        &mut probe,
        &intent_of(BRIDGE),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    let removal = "interfaces: [{name: br-int, state: absent}]";
    let p = fail_at_every_op(
        || ModelDriver::new(probe.state().clone()),
        &intent_of(removal),
        |s| s.ovs,
    );
    assert!(!p.is_empty());
}

#[test]
fn without_open_vswitch_an_ovs_file_is_a_plan_error() {
    let mut m = host();
    let mut s = m.query().expect("query");
    s.ovs.available = false;
    m = ModelDriver::new(s);
    let e = plan(m.state(), &intent_of(BRIDGE)).expect_err("refused");
    assert!(
        e[0].message.contains("no Open vSwitch database answers"),
        "{e:?}"
    );
}

/// `host()` with an OVS bridge br-int holding another agent's port `v1` (tag 5, not
/// created by hostnet) and `extra` settings on it.
fn foreign(tweak: impl FnOnce(&mut crate::ovs::OvsBridge)) -> ModelDriver {
    let mut s = host().state().clone();
    let mut b = crate::ovs::OvsBridge::default();
    b.ports.insert(
        "v1".into(),
        crate::ovs::OvsPort {
            tag: Some(5),
            ..Default::default()
        },
    );
    tweak(&mut b);
    s.ovs.bridges.insert("br-int".into(), b);
    let mut dev = s.links["v1"].clone();
    dev.name = "br-int".into();
    dev.kind = crate::netdev::LinkKind::Tap(Default::default());
    s.links.insert("br-int".into(), dev);
    ModelDriver::new(s)
}

fn ovs_ops(p: &crate::plan::Plan) -> Vec<String> {
    p.ops()
        .filter(|o| matches!(o, Op::Ovs(_)))
        .map(|o| format!("{} {o}", o.sign()))
        .collect()
}

#[test]
fn a_port_listed_without_vlan_keeps_its_tag_and_an_empty_vlan_removes_it() {
    let m = foreign(|_| {});
    let listed = "interfaces: [{name: br-int, type: ovs-bridge, bridge: {port: [{name: v1}]}}]";
    let p = plan(m.state(), &intent_of(listed)).expect("plans");
    assert!(p.is_empty(), "{p}");
    let untag = listed.replace("{name: v1}", "{name: v1, vlan: {}}");
    let p = plan(m.state(), &intent_of(&untag)).expect("plans");
    assert_eq!(ovs_ops(&p), ["~ ovs-port v1"]);
    let Some(Op::Ovs(op)) = p.ops().next() else {
        panic!("{p}")
    };
    let args = crate::ovs::vsctl::transaction_args(std::slice::from_ref(op)).join(" ");
    assert!(args.contains("-- clear Port v1 tag"), "{args}");
}

#[test]
fn ports_hostnet_did_not_create_stay_when_unlisted_and_its_own_go() {
    let m = foreign(|b| {
        b.ports.insert(
            "int7".into(),
            crate::ovs::OvsPort {
                internal: true,
                managed: true,
                ..Default::default()
            },
        );
    });
    let p = plan(
        m.state(),
        &intent_of("interfaces: [{name: br-int, type: ovs-bridge, bridge: {port: []}}]"),
    )
    .expect("plans");
    assert_eq!(ovs_ops(&p), ["- ovs-port int7 bridge br-int"]);
    // A port hostnet adds is marked as its own.
    let p = plan(
        host().state(),
        &intent_of("interfaces: [{name: br-int, type: ovs-bridge, bridge: {port: [{name: v1}]}}]"),
    )
    .expect("plans");
    let ops: Vec<crate::ovs::OvsOp> = p
        .ops()
        .filter_map(|o| match o {
            Op::Ovs(o) => Some(o.clone()),
            _ => None,
        })
        .collect();
    let args = crate::ovs::vsctl::transaction_args(&ops).join(" ");
    assert!(
        args.contains("-- set Port v1 external_ids:hostnet-created=\"true\""),
        "{args}"
    );
}

#[test]
fn deleting_what_a_rollback_could_not_restore_is_a_plan_error() {
    let removal = "interfaces: [{name: br-int, state: absent}]";
    // Another agent's port on the bridge.
    let e = plan(foreign(|_| {}).state(), &intent_of(removal)).expect_err("refused");
    assert_eq!(
        e[0].to_string(),
        "interfaces[0]: Open vSwitch bridge br-int has port v1, which hostnet did not create; \
         hostnet does not delete it (a rollback could not restore that), remove those first"
    );
    // ... unless the same file removes that port.
    plan(
        foreign(|_| {}).state(),
        &intent_of("interfaces: [{name: br-int, state: absent}, {name: v1, state: absent}]"),
    )
    .expect("plans");
    // A controller on the bridge.
    let m = foreign(|b| {
        b.ports.clear();
        b.unmodelled = Some("a controller".into());
    });
    let e = plan(m.state(), &intent_of(removal)).expect_err("refused");
    assert!(e[0].message.contains("has a controller"), "{e:?}");
    // A patch port, by name, or moved to another bridge, or through the device API.
    let m = foreign(|b| {
        if let Some(p) = b.ports.get_mut("v1") {
            p.unmodelled = Some("interface type patch".into());
        }
    });
    let e = plan(
        m.state(),
        &intent_of("interfaces: [{name: v1, state: absent}]"),
    )
    .expect_err("refused");
    assert_eq!(
        e[0].to_string(),
        "interfaces[0]: port v1 of br-int has interface type patch, which hostnet does not model \
         and could not restore on rollback; remove it with ovs-vsctl"
    );
    let mut d = m;
    let err = crate::devices::delete_ovs_port(&mut d, "br-int", "v1").expect_err("refused");
    assert!(err.to_string().contains("interface type patch"), "{err}");
}
