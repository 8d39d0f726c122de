//! Open vSwitch on the model driver: plans, re-apply, and exact rollback from a failure
//! at every op (the OVS phase's inverse included).

use crate::engine::{apply, ApplyError, ApplyOptions};
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

fn host() -> ModelDriver {
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
    let n = plan(host().state(), &intent_of(BRIDGE))
        .expect("plans")
        .len();
    for k in 0..n {
        let mut m = host();
        let before = m.query().expect("query");
        let counter = std::sync::atomic::AtomicUsize::new(0);
        m.fail_when(move |_| counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == k);
        let err = apply(
            &mut m,
            &intent_of(BRIDGE),
            ApplyOptions::default(),
            |_, _| Ok(()),
        )
        .expect_err("fails");
        assert!(
            matches!(err, ApplyError::RolledBack { .. }),
            "op {k}: {err:?}"
        );
        assert_eq!(m.query().expect("query"), before, "op {k} left changes");
    }
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
    let n = plan(probe.state(), &intent_of(removal))
        .expect("plans")
        .len();
    assert!(n > 0);
    for k in 0..n {
        let mut m = ModelDriver::new(probe.state().clone());
        let before = m.query().expect("query");
        let counter = std::sync::atomic::AtomicUsize::new(0);
        m.fail_when(move |_| counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == k);
        let err = apply(
            &mut m,
            &intent_of(removal),
            ApplyOptions::default(),
            |_, _| Ok(()),
        )
        .expect_err("fails");
        assert!(
            matches!(err, ApplyError::RolledBack { .. }),
            "op {k}: {err:?}"
        );
        assert_eq!(m.query().expect("query").ovs, before.ovs, "op {k}");
    }
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
