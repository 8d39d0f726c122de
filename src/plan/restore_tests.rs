//! Rollback scope: what others create between an apply and its rollback stays.

use super::{restore_plan_in, Scope};
use crate::netdev::{KernelState, Link, LinkKind, MacVlanMode, MacVlanOptions, Op};
use crate::ovs::{OvsBridge, OvsOp, OvsPort, OvsState};
use crate::plan::plan;
use crate::plan::tests::intent_of;

fn link(name: &str, kind: LinkKind) -> (String, Link) {
    (name.to_string(), Link::up(name, kind, None))
}

fn ovs_state(ports: &[(&str, u16)]) -> KernelState {
    let ovs = OvsState {
        available: true,
        bridges: [(
            "br-int".to_string(),
            OvsBridge {
                datapath: None,
                options: Default::default(),
                ports: ports
                    .iter()
                    .map(|(n, t)| {
                        let p = OvsPort {
                            tag: Some(*t),
                            ..OvsPort::default()
                        };
                        (n.to_string(), p)
                    })
                    .collect(),
                unmodelled: None,
            },
        )]
        .into(),
        global: Default::default(),
    };
    KernelState {
        ovs,
        links: ports
            .iter()
            .map(|(n, _)| link(n, LinkKind::Tap(Default::default())))
            .collect(),
        ..KernelState::default()
    }
}

#[test]
fn rollback_of_an_mtu_change_keeps_a_macvtap_made_meanwhile_on_that_link() {
    let mut before = KernelState::default();
    before.links.extend([link("u0", LinkKind::Ethernet)]);
    let p = plan(
        &before,
        &intent_of("interfaces: [{name: u0, type: ethernet, mtu: 9000}]"),
    )
    .expect("plans");
    let scope = Scope::of(&p);
    let mut now = before.clone();
    now.links.get_mut("u0").expect("u0").mtu = 9000;
    // A VMM makes a macvtap on u0 after the apply, before the rollback.
    now.links.extend([link(
        "macvtap0",
        LinkKind::MacVtap(MacVlanOptions {
            base: Some("u0".into()),
            mode: MacVlanMode::Bridge,
            promiscuous: true,
        }),
    )]);
    let target = before.clone();
    let r = restore_plan_in(&now, &target, Some(&scope));
    let ops: Vec<String> = r.ops().map(ToString::to_string).collect();
    assert!(
        r.ops()
            .all(|o| !matches!(o, Op::DeleteLink { name } if name == "macvtap0")),
        "{ops:?}"
    );
    assert_eq!(r.len(), 1, "only u0's MTU goes back: {ops:?}");
}

#[test]
fn rollback_of_a_stacked_device_on_a_scoped_base_that_existed_before_recreates_it() {
    // The kernel deletes stacked devices with their base: those of the state before
    // are still in scope.
    let mut before = KernelState::default();
    before.links.extend([
        link("u0", LinkKind::Ethernet),
        link(
            "mv0",
            LinkKind::MacVlan(MacVlanOptions {
                base: Some("u0".into()),
                mode: MacVlanMode::Bridge,
                promiscuous: true,
            }),
        ),
    ]);
    let mut scope = Scope::default();
    scope.links.insert("u0".into());
    let mut now = before.clone();
    now.links.remove("mv0");
    let r = restore_plan_in(&now, &before, Some(&scope));
    assert!(
        r.ops()
            .any(|o| matches!(o, Op::CreateLink(l) if l.name == "mv0")),
        "{r}"
    );
}

#[test]
fn rollback_of_an_added_ovs_port_keeps_ports_others_plugged_in_meanwhile() {
    let before = ovs_state(&[("p1", 100)]);
    let mut with_p2 = before.clone();
    with_p2
        .links
        .extend([link("p2", LinkKind::Tap(Default::default()))]);
    let y = "
interfaces:
  - name: br-int
    type: ovs-bridge
    bridge:
      port:
        - {name: p1, vlan: {mode: access, tag: 100}}
        - {name: p2, vlan: {mode: access, tag: 200}}
";
    let p = plan(&with_p2, &intent_of(y)).expect("plans");
    let scope = Scope::of(&p);
    // nova plugs vm9 into br-int after the apply.
    let mut now = ovs_state(&[("p1", 100), ("p2", 200), ("vm9", 7)]);
    let mut target = before.clone();
    target.links.extend([
        link("p2", LinkKind::Tap(Default::default())),
        link("vm9", LinkKind::Tap(Default::default())),
    ]);
    now.links = target.links.clone();
    let r = restore_plan_in(&now, &target, Some(&scope));
    let ovs: Vec<&OvsOp> = r
        .ops()
        .filter_map(|o| match o {
            Op::Ovs(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(
        ovs,
        [&OvsOp::DelPort {
            bridge: "br-int".into(),
            port: "p2".into()
        }]
    );
}
