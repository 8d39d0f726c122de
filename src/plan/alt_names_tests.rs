//! Plans of nmstate's `alt-names` on the model, and their rollback.

use std::collections::BTreeSet;

use super::super::tests::{host, intent_of};
use super::super::undo::Undo;
use super::super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, Op};

fn alt(name: &str, a: &str, add: bool) -> Op {
    Op::AltName {
        name: name.into(),
        alt: a.into(),
        add,
    }
}

/// `host()` (eth0, eth1) where another tool named eth0 `theirs0` and eth1 `old0`.
fn named_host() -> ModelDriver {
    let mut m = host();
    for r in m.execute(&[alt("eth0", "theirs0", true), alt("eth1", "old0", true)]) {
        r.expect("names");
    }
    m
}

fn run(m: &mut ModelDriver, yaml: &str) -> (Plan, Vec<Op>) {
    let intent = intent_of(yaml);
    let p = plan(m.state(), &intent).expect("plans");
    let mut done = Vec::new();
    for phase in &p.phases {
        for (op, r) in phase.iter().zip(m.execute(phase)) {
            r.expect("model accepts the op");
            done.push(op.clone());
        }
    }
    let again = plan(m.state(), &intent).expect("plans again");
    assert!(again.is_empty(), "not converged:\n{again}");
    (p, done)
}

fn names(m: &ModelDriver, link: &str) -> Vec<String> {
    let s = m.state().alt_names.get(link);
    s.into_iter().flatten().cloned().collect()
}

const ADD: &str = "interfaces:
- name: eth0
  alt-names:
  - name: uplink-a
  - name: theirs0
- name: eth1
  alt-names:
  - name: old0
    state: absent
";

#[test]
fn names_are_added_and_removed_one_by_one() {
    let mut m = named_host();
    let (p, _) = run(&mut m, ADD);
    assert_eq!(
        p.to_string(),
        "- altname old0 dev eth1\n+ altname uplink-a dev eth0\n"
    );
    assert_eq!(names(&m, "eth0"), ["theirs0", "uplink-a"]);
    assert!(names(&m, "eth1").is_empty());
    // A name moves from one interface to another in one apply.
    let mv = "interfaces:
- {name: eth0, alt-names: [{name: uplink-a, state: absent}]}
- {name: eth1, alt-names: [{name: uplink-a}]}
";
    run(&mut m, mv);
    assert_eq!(names(&m, "eth0"), ["theirs0"]);
    assert_eq!(names(&m, "eth1"), ["uplink-a"]);
    // ... and to a new interface, as its name.
    let to_new = "interfaces:
- {name: eth1, alt-names: [{name: uplink-a, state: absent}]}
- {name: uplink-a, type: linux-bridge}
";
    run(&mut m, to_new);
    assert!(m.state().links.contains_key("uplink-a"));
}

#[test]
fn taken_names_and_interfaces_named_by_one_are_refused() {
    let m = named_host();
    let refused = |yaml: &str| -> Vec<String> {
        let errs = plan(m.state(), &intent_of(yaml)).expect_err("refused");
        errs.iter().map(ToString::to_string).collect()
    };
    let yaml = "interfaces:
- name: eth0
  alt-names:
  - name: old0
  - name: eth1
";
    assert_eq!(
        refused(yaml),
        [
            "interfaces[0].alt-names[0].name: old0 is an alternative name of eth1; remove it there first",
            "interfaces[0].alt-names[1].name: eth1 is the name of an interface",
        ]
    );
    let text = refused("interfaces:\n- {name: old0, mtu: 1400}\n");
    assert!(
        text.iter().any(|t| t == "interfaces[0].name: old0 is an alternative name of eth1; name the interface by its name, eth1"),
        "{text:?}"
    );
    // Removed in the same file, the name is free for a new interface.
    let free = "interfaces:
- {name: eth1, alt-names: [{name: old0, state: absent}]}
- {name: old0, type: linux-bridge}
";
    assert!(plan(m.state(), &intent_of(free)).is_ok());
}

#[test]
fn rollback_takes_back_exactly_the_apply_s_names() {
    let mut m = named_host();
    let before = m.state().clone();
    let (_, done) = run(&mut m, ADD);
    // Another tool names eth0 once more after the apply.
    for r in m.execute(&[alt("eth0", "theirs1", true)]) {
        r.expect("names");
    }
    let none = BTreeSet::new();
    let undo = Undo {
        before: &before,
        done: &done,
        left: None,
        recreated: &none,
    };
    let u = undo.plan(m.state());
    assert_eq!(
        u.plan.to_string(),
        "- altname uplink-a dev eth0\n+ altname old0 dev eth1\n"
    );
    for phase in &u.plan.phases {
        for r in m.execute(phase) {
            r.expect("model accepts the op");
        }
    }
    assert_eq!(names(&m, "eth0"), ["theirs0", "theirs1"]);
    assert_eq!(names(&m, "eth1"), ["old0"]);
    assert!(undo.plan(m.state()).plan.is_empty());
}

#[test]
fn a_removed_name_another_interface_took_is_not_given_back() {
    let mut m = named_host();
    let before = m.state().clone();
    let (_, done) = run(&mut m, ADD);
    for r in m.execute(&[alt("eth0", "old0", true)]) {
        r.expect("names");
    }
    let none = BTreeSet::new();
    let u = Undo {
        before: &before,
        done: &done,
        left: None,
        recreated: &none,
    }
    .plan(m.state());
    assert_eq!(u.plan.to_string(), "- altname uplink-a dev eth0\n");
    assert_eq!(
        u.blocked,
        ["altname old0 dev eth1: not given back: eth0 has the name now"]
    );
}

#[test]
fn a_failure_after_the_names_rolls_them_back() {
    let mut m = named_host();
    let before = m.state().clone();
    m.fail_when(|op| matches!(op, Op::AddAddress(_)));
    let yaml = format!(
        "{ADD}  ipv4: {{enabled: true, address: [{{ip: 192.0.2.9, prefix-length: 24}}]}}\n"
    );
    let opts = crate::engine::ApplyOptions::default();
    let r = crate::engine::apply(&mut m, &intent_of(&yaml), opts, |_, _| Ok(()));
    assert!(r.is_err());
    assert_eq!(m.state().alt_names, before.alt_names);
}

#[test]
fn restore_converges_the_names_of_kept_and_remade_links() {
    let mut m = named_host();
    let target = m.state().clone();
    run(&mut m, ADD);
    let p = restore_plan(m.state(), &target);
    assert_eq!(
        p.to_string(),
        "- altname uplink-a dev eth0\n+ altname old0 dev eth1\n"
    );
}

#[test]
fn a_failure_at_any_op_leaves_every_name_as_it_was() {
    let yaml = "interfaces:
- name: eth0
  alt-names:
  - name: uplink-a
  - name: theirs0
  ipv4: {enabled: true, address: [{ip: 192.0.2.9, prefix-length: 24}]}
- name: eth1
  alt-names:
  - {name: old0, state: absent}
  - {name: uplink-b}
- {name: br7, type: linux-bridge, alt-names: [{name: old0}, {name: guests-of-rack-7}]}
";
    let p = crate::engine::tests::fail_at_every_op(named_host, &intent_of(yaml), |s| s);
    let alt_ops = p.ops().filter(|o| matches!(o, Op::AltName { .. })).count();
    assert_eq!(alt_ops, 5, "{p}");
}
