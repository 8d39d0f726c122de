//! The engine on the model driver: rollback after injected failures, dry runs, verify.

use super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::Op;
use crate::plan::tests::{host, intent_of};

/// The exact-rollback check every feature shares: for each op of the plan from a fresh
/// model (made by `fresh`) to `intent`, applies `intent` on another fresh model whose
/// driver fails at that op (the k-th it executes); every apply must report a finished
/// rollback and leave `view` of the state as it was before (but for the kernel's l3mdev
/// rules, which stay once a VRF was made). Returns the plan, for the
/// caller's own assertions about it.
pub(crate) fn fail_at_every_op<T: PartialEq + std::fmt::Debug>(
    fresh: impl Fn() -> ModelDriver,
    intent: &Intent,
    view: impl Fn(KernelState) -> T,
) -> Plan {
    let p = crate::plan::plan(fresh().state(), intent).expect("plans");
    for k in 0..p.len() {
        let mut m = fresh();
        let before_state = m.query().expect("query");
        let before = view(before_state.clone());
        let counter = std::sync::atomic::AtomicUsize::new(0);
        m.fail_when(move |_op: &Op| counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == k);
        let err = apply(&mut m, intent, ApplyOptions::default(), |_, _| Ok(())).expect_err("fails");
        assert!(
            matches!(err, ApplyError::RolledBack { .. }),
            "op {k}: {err:?}"
        );
        assert_eq!(err.exit_code(), 1);
        // The kernel's l3mdev rules stay once a VRF was made: its doing, not hostnet's.
        let after =
            crate::netdev::vrf::without_l3mdev_leftover(&before_state, m.query().expect("query"));
        assert_eq!(view(after), before, "op {k} left the state changed");
    }
    p
}

const BASE: &str = "
networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    default-route: true
    source-routing: {table: 1001}
";

const CHANGE: &str = "
interfaces:
  - {name: v0, type: veth, veth: {peer: v1}}
networks:
  - name: mgmt
    state: absent
  - name: storage
    uplink: eth1
    mtu: 9000
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
    ipv6: {address: ['2001:db8:2::10/64'], gateway: '2001:db8:2::1'}
";

fn applied(yaml: &str) -> ModelDriver {
    let mut m = host();
    apply(&mut m, &intent_of(yaml), ApplyOptions::default(), |_, _| {
        Ok(())
    })
    .expect("applies");
    m
}

#[test]
fn failure_in_any_phase_restores_the_previous_state_exactly() {
    // Fail at each op of the change in turn: whatever had been done is undone.
    let p = fail_at_every_op(|| applied(BASE), &intent_of(CHANGE), |s| s);
    assert!(p.len() > 10);
}

#[test]
fn dry_run_changes_nothing() {
    let mut m = applied(BASE);
    let before = m.query().expect("query");
    let executed = m.ops_executed;
    let r = apply(
        &mut m,
        &intent_of(CHANGE),
        ApplyOptions {
            dry_run: true,
            ..ApplyOptions::default()
        },
        |_, _| Ok(()),
    )
    .expect("dry run");
    assert!(r.dry_run && !r.changed && !r.plan.is_empty());
    assert_eq!(m.ops_executed, executed);
    assert_eq!(m.query().expect("query"), before);
}

#[test]
fn reapply_writes_nothing() {
    let mut m = applied(BASE);
    let executed = m.ops_executed;
    let r = apply(&mut m, &intent_of(BASE), ApplyOptions::default(), |_, _| {
        Ok(())
    })
    .expect("applies");
    assert!(r.plan.is_empty() && !r.changed);
    assert_eq!(m.ops_executed, executed);
}

#[test]
fn plan_errors_change_nothing_and_exit_2() {
    let mut m = applied(BASE);
    let executed = m.ops_executed;
    let err = apply(
        &mut m,
        &intent_of("networks:\n- {name: x, uplink: nope0}\n"),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect_err("fails");
    assert_eq!(err.exit_code(), 2);
    assert_eq!(m.ops_executed, executed);
}

#[test]
fn dry_run_reports_a_plan_that_would_fail() {
    let mut m = applied(BASE);
    // A route through a gateway no address makes reachable: the model rejects it as the
    // kernel would.
    let yaml = "routes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-address: 203.0.113.1, next-hop-interface: mgmt}\n";
    let err = apply(
        &mut m,
        &intent_of(yaml),
        ApplyOptions {
            dry_run: true,
            ..ApplyOptions::default()
        },
        |_, _| Ok(()),
    )
    .expect_err("fails");
    assert!(matches!(err, ApplyError::DryRunFailed { .. }), "{err:?}");
    assert!(
        err.details()[0].contains("Nexthop has invalid gateway"),
        "{:?}",
        err.details()
    );
}

#[test]
fn a_rollback_that_cannot_finish_is_reported_with_what_is_left() {
    let mut m = applied(BASE);
    // Deleting routes fails (mgmt's removal stops there, after its rules went), and
    // adding rules fails too, so the rules cannot be put back.
    m.fail_when(|op: &Op| matches!(op, Op::AddRule(_) | Op::DeleteRoute(_)));
    let err = apply(
        &mut m,
        &intent_of(CHANGE),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect_err("fails");
    assert_eq!(err.exit_code(), 3, "{err:?}");
    let ApplyError::RollbackIncomplete {
        failures,
        leftovers,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert!(
        failures.iter().any(|f| f.starts_with("delete route")),
        "{failures:?}"
    );
    assert!(
        failures.iter().any(|f| f.starts_with("rollback: add rule")),
        "{failures:?}"
    );
    assert!(
        leftovers.iter().any(|l| l.starts_with("add rule")),
        "{leftovers:?}"
    );
    assert!(err
        .details()
        .iter()
        .any(|d| d.starts_with("left over: add rule")));
}
