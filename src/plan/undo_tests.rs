//! The undo planner against another tool: on the model driver, an apply runs (or fails),
//! "another tool" changes the same objects with ops of its own, and the rollback must
//! take back the apply's ops and none of the other tool's.

use std::collections::BTreeSet;

use super::{took_effect, Undo, UndoPlan};
use crate::netdev::model::ModelDriver;
use crate::netdev::{Address, Driver, KernelState, LinkChange, LinkKind, NewLink, Op};
use crate::plan::tests::{host, intent_of};
use crate::plan::{plan, Plan};

/// Runs `ops` on the model (the other tool), each of which must succeed.
fn other_tool(m: &mut ModelDriver, ops: &[Op]) {
    for op in ops {
        for r in m.execute(std::slice::from_ref(op)) {
            r.unwrap_or_else(|e| panic!("{op}: {e}"));
        }
    }
}

/// Applies `yaml` to `m` and returns the state before and the ops done.
fn apply(m: &mut ModelDriver, yaml: &str) -> (KernelState, Vec<Op>) {
    let before = m.query().expect("query");
    let p = plan(&before, &intent_of(yaml)).expect("plans");
    for phase in &p.phases {
        for r in m.execute(phase) {
            r.expect("applies");
        }
    }
    (before, p.ops().cloned().collect())
}

fn undo(
    before: &KernelState,
    done: &[Op],
    left: Option<&KernelState>,
    now: &KernelState,
) -> UndoPlan {
    Undo {
        before,
        done,
        left,
        recreated: &BTreeSet::new(),
    }
    .plan(now)
}

fn run(m: &mut ModelDriver, p: &Plan) {
    for phase in &p.phases {
        for r in m.execute(phase) {
            r.expect("rollback op");
        }
    }
}

fn bridge(name: &str) -> Op {
    Op::CreateLink(NewLink {
        name: name.into(),
        kind: LinkKind::Bridge(Default::default()),
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: None,
    })
}

fn veth(name: &str, peer: &str) -> Op {
    Op::CreateLink(NewLink {
        name: name.into(),
        kind: LinkKind::Veth {
            peer: Some(peer.into()),
        },
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: Some(Default::default()),
    })
}

fn addr(dev: &str, net: &str) -> Address {
    Address::new(dev, net.parse().expect("net"))
}

#[test]
fn what_the_apply_did_goes_and_what_another_tool_did_stays() {
    let mut m = host();
    let (before, done) = apply(
        &mut m,
        "interfaces:\n- {name: br5, type: linux-bridge}\n- {name: eth0, type: ethernet, mtu: 1400, ipv4: {address: [{ip: 192.0.2.5, prefix-length: 24}]}}\n",
    );
    // Another tool: an address next to hostnet's, the other NIC's MTU, its own bridge.
    other_tool(
        &mut m,
        &[
            Op::AddAddress(addr("eth0", "198.51.100.7/24")),
            Op::ChangeLink {
                name: "eth1".into(),
                change: LinkChange {
                    mtu: Some(1300),
                    ..LinkChange::default()
                },
            },
            bridge("theirs0"),
        ],
    );
    let u = undo(&before, &done, None, m.state());
    assert!(u.kept.is_empty() && u.blocked.is_empty(), "{u:?}");
    run(&mut m, &u.plan);
    let s = m.query().expect("query");
    assert!(!s.links.contains_key("br5"));
    assert_eq!(s.links["eth0"].mtu, 1500);
    assert_eq!(s.links["eth1"].mtu, 1300);
    assert!(s.links.contains_key("theirs0"));
    assert_eq!(
        s.addresses
            .iter()
            .filter(|a| a.ifname == "eth0")
            .collect::<Vec<_>>(),
        [&addr("eth0", "198.51.100.7/24")]
    );
    // Planned again, nothing is left to do: that is the rollback's verification.
    let again = undo(&before, &done, None, &s);
    assert!(again.plan.is_empty(), "{}", again.plan);
}

#[test]
fn a_value_another_tool_set_after_the_apply_is_kept_and_said() {
    let mut m = host();
    let (before, done) = apply(
        &mut m,
        "interfaces:\n- {name: eth0, type: ethernet, mtu: 1400}\n",
    );
    other_tool(
        &mut m,
        &[Op::ChangeLink {
            name: "eth0".into(),
            change: LinkChange {
                mtu: Some(1450),
                ..LinkChange::default()
            },
        }],
    );
    let u = undo(&before, &done, None, m.state());
    assert!(u.plan.is_empty(), "{}", u.plan);
    assert_eq!(
        u.kept,
        ["link eth0 mtu: 1450 now, this apply set 1400 (it was 1500); left as another tool set it"]
    );
}

#[test]
fn a_device_the_apply_created_that_another_tool_replaced_or_uses_stays() {
    let mut m = host();
    let (before, done) = apply(
        &mut m,
        "interfaces:\n- {name: n1, type: linux-bridge}\n- {name: n2, type: linux-bridge}\n",
    );
    other_tool(
        &mut m,
        &[
            Op::DeleteLink { name: "n1".into() },
            veth("n1", "n1p"),
            Op::AddAddress(addr("n2", "203.0.113.1/24")),
        ],
    );
    let u = undo(&before, &done, None, m.state());
    assert!(u.plan.is_empty(), "{}", u.plan);
    assert_eq!(
        u.kept,
        ["link n1: not deleted: the veth of that name is no longer the device this apply created"]
    );
    assert_eq!(
        u.blocked,
        ["link n2: created by this apply, but another tool has put address 203.0.113.1/24 on it since; left in place"]
    );
}

#[test]
fn a_name_the_apply_freed_and_another_tool_took_is_not_made_again() {
    let mut m = host();
    apply(
        &mut m,
        "networks:\n- {name: old, uplink: eth1, ipv4: {address: [192.0.2.10/24]}}\n",
    );
    let (before, done) = apply(&mut m, "networks:\n- {name: old, state: absent}\n");
    other_tool(&mut m, &[veth("old", "oldp")]);
    let u = undo(&before, &done, None, m.state());
    assert!(
        u.plan
            .ops()
            .all(|op| !matches!(op, Op::DeleteLink { .. } | Op::AddAddress(_))),
        "{}",
        u.plan
    );
    assert_eq!(
        u.blocked,
        ["link old: deleted by this apply and not made again: the name old is now another device's (veth)"]
    );
    // With the name free, it comes back with its port and address.
    let mut m2 = ModelDriver::new(m.state().clone());
    other_tool(&mut m2, &[Op::DeleteLink { name: "old".into() }]);
    let u = undo(&before, &done, None, m2.state());
    run(&mut m2, &u.plan);
    let s = m2.query().expect("query");
    assert_eq!(s.links["eth1"].controller.as_deref(), Some("old"));
    assert!(s.addresses.contains(&addr("old", "192.0.2.10/24")));
}

#[test]
fn side_effects_are_repaired_unless_someone_repaired_them_differently() {
    let mut m = host();
    apply(
        &mut m,
        "interfaces:\n- {name: eth0, type: ethernet, ipv4: {address: [{ip: 192.0.2.5, prefix-length: 24}]}}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-address: 192.0.2.1, next-hop-interface: eth0}\n",
    );
    // Setting eth0 down flushes its IPv4 routes (the model does what the kernel does).
    let (before, done) = apply(
        &mut m,
        "interfaces:\n- {name: eth0, type: ethernet, state: down}\n",
    );
    assert!(m.state().routes.is_empty());
    let u = undo(&before, &done, None, m.state());
    run(&mut m, &u.plan);
    assert_eq!(m.state().routes, before.routes, "the flushed route is back");
    // Another tool puts its own route in that place meanwhile: it stays, and the rollback
    // says it could not put hostnet's side effect back.
    let mut m = ModelDriver::new(before.clone());
    for phase in &plan(
        &before,
        &intent_of("interfaces:\n- {name: eth0, type: ethernet, state: down}\n"),
    )
    .expect("plans")
    .phases
    {
        for r in m.execute(phase) {
            r.expect("applies");
        }
    }
    other_tool(
        &mut m,
        &[
            Op::ChangeLink {
                name: "eth1".into(),
                change: LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            },
            Op::AddAddress(addr("eth1", "198.51.100.1/24")),
            Op::AddRoute(crate::netdev::Route {
                gateway: Some("198.51.100.254".parse().expect("ip")),
                dev: Some("eth1".into()),
                ..before.routes[0].clone()
            }),
        ],
    );
    let u = undo(&before, &done, None, m.state());
    assert!(
        u.blocked.iter().any(|b| b.contains("holds its place now")),
        "{u:?}"
    );
    assert!(
        u.plan.ops().all(|op| !matches!(op, Op::AddRoute(_))),
        "{}",
        u.plan
    );
}

#[test]
fn an_op_took_effect_only_if_it_shows_and_did_not_before() {
    let m = host();
    let before = m.state().clone();
    let mut after = ModelDriver::new(before.clone());
    other_tool(&mut after, &[bridge("b1")]);
    assert!(took_effect(&bridge("b1"), &before, after.state()));
    assert!(!took_effect(&bridge("b2"), &before, after.state()));
    // A veth of the name is not the bridge the op would have made.
    other_tool(&mut after, &[veth("b3", "b3p")]);
    assert!(!took_effect(&bridge("b3"), &before, after.state()));
    assert!(took_effect(
        &Op::DeleteLink {
            name: "eth0".into()
        },
        &before,
        &{
            let mut s = before.clone();
            s.links.remove("eth0");
            s
        }
    ));
}

/// Review findings 1 and 4: a checkpointed renumbering. The apply's address deletion made
/// the kernel drop the gateway routes, which it added again (so the checkpoint's state
/// holds them); the rollback's own deletion of the new address drops them once more, and
/// they must come back in the same round. The routes the rollback puts back in the
/// places of the apply's are not another tool's replacements.
#[test]
fn a_renumbering_rolled_back_from_its_checkpoint_keeps_its_routes() {
    let file = |ip: &str| {
        format!(
            "interfaces:\n- {{name: eth0, type: ethernet, ipv4: {{address: [{{ip: {ip}, prefix-length: 24}}]}}}}\nroutes:\n  config:\n  - {{destination: 0.0.0.0/0, next-hop-address: 192.0.2.1, next-hop-interface: eth0}}\n  - {{destination: 0.0.0.0/0, next-hop-address: 192.0.2.1, next-hop-interface: eth0, table-id: 1001}}\n  - {{destination: 10.9.0.0/16, next-hop-interface: eth0, table-id: 1001, source: {ip}}}\n"
        )
    };
    let mut m = host();
    apply(&mut m, &file("192.0.2.10"));
    let (before, done) = apply(&mut m, &file("192.0.2.20"));
    assert_eq!(
        before.routes.len(),
        m.state().routes.len(),
        "{:?}",
        m.state()
    );
    let left = m.query().expect("query");
    let u = undo(&before, &done, Some(&left), &left);
    assert!(u.kept.is_empty() && u.blocked.is_empty(), "{u:?}");
    run(&mut m, &u.plan);
    assert_eq!(m.state().addresses, before.addresses);
    let set = |s: &KernelState| s.routes.iter().cloned().collect::<BTreeSet<_>>();
    assert_eq!(
        set(m.state()),
        set(&before),
        "one round restores:\n{}",
        u.plan
    );
    let again = undo(&before, &done, Some(&left), m.state());
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert!(again.kept.is_empty(), "{:?}", again.kept);
}

/// A changed gateway comes back in one round and says nothing; a route another tool put in
/// the place of the apply's after it is left, and said once, as a route.
#[test]
fn a_route_replaced_by_the_rollback_is_silent_and_by_another_tool_is_kept() {
    let file = |gw: &str| {
        format!(
            "interfaces:\n- {{name: eth0, type: ethernet, ipv4: {{address: [{{ip: 192.0.2.10, prefix-length: 24}}]}}}}\nroutes:\n  config:\n  - {{destination: 0.0.0.0/0, next-hop-address: {gw}, next-hop-interface: eth0, table-id: 1001}}\n"
        )
    };
    let mut m = host();
    apply(&mut m, &file("192.0.2.1"));
    let (before, done) = apply(&mut m, &file("192.0.2.254"));
    let left = m.query().expect("query");
    let u = undo(&before, &done, Some(&left), &left);
    assert!(u.kept.is_empty() && u.blocked.is_empty(), "{u:?}");
    run(&mut m, &u.plan);
    assert_eq!(m.state().routes, before.routes);
    let again = undo(&before, &done, Some(&left), m.state());
    assert!(again.plan.is_empty() && again.kept.is_empty(), "{again:?}");
    // Another tool replaces the apply's route after it.
    let mut m = ModelDriver::new(left.clone());
    let apply_route = left.routes[0].clone();
    let theirs = crate::netdev::Route {
        gateway: Some("192.0.2.99".parse().expect("ip")),
        protocol: 3,
        ..apply_route.clone()
    };
    other_tool(
        &mut m,
        &[Op::DeleteRoute(apply_route), Op::AddRoute(theirs.clone())],
    );
    let u = undo(&before, &done, Some(&left), m.state());
    run(&mut m, &u.plan);
    assert!(m.state().routes.contains(&theirs), "{}", u.plan);
    let again = undo(&before, &done, Some(&left), m.state());
    assert_eq!(
        again.kept,
        [format!(
            "{}: added by this apply, replaced since by {theirs}; left",
            left.routes[0]
        )],
    );
    assert!(!again.kept[0].contains("route route"), "{:?}", again.kept);
}
