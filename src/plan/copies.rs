//! hostnet's own routes and rules as a boot stack made them: the persisted copies.
//!
//! `hostnet persist` writes a network's routes and rules into the files of a boot stack,
//! and where the format cannot say route protocol 201 (networkd's rules, NetworkManager's
//! and netplan's routes and rules) the stack makes them with its own protocol. `persist`
//! records each such object as the stack makes it ([`crate::persist::record`]), and the
//! intent carries the record ([`Intent::persisted`]). Planning then looks at the kernel
//! through a *view* in which every object equal to a recorded copy, protocol included,
//! is hostnet's: it carries protocol 201 there, so every part of the planner (ownership of
//! tables and routes, the rule block, dropped routes, DHCP) treats it as its own, and the
//! plan's ops are mapped back to the object the kernel really has before they leave the
//! planner (a delete must name the protocol the kernel has). A copy whose 201 twin is in
//! the kernel too (`hostnet restore` ran before the stack) is kept out of the view and goes
//! with its twin, if that goes.
//!
//! Nothing else changes owner: an object another tool made is a copy only if it equals,
//! in every attribute and its protocol, one hostnet wrote to the boot files.

use std::collections::BTreeMap;

use super::Plan;
use crate::expand::PersistedCopies;
use crate::netdev::{KernelState, Op, Route, Rule, HOSTNET_PROTO};

/// The kernel as the planner sees it, and the way back to the kernel's own objects.
pub(crate) struct View {
    pub(crate) state: KernelState,
    /// Relabelled routes: the view's (201) form → the kernel's object.
    routes: BTreeMap<Route, Route>,
    /// Relabelled rules, likewise.
    rules: BTreeMap<Rule, Rule>,
    /// Copies kept out of the view because their 201 twin is there: twin → copies.
    shadowed: BTreeMap<Rule, Vec<Rule>>,
}

fn as_ours<T: Clone>(x: &T, set: impl Fn(&mut T)) -> T {
    let mut y = x.clone();
    set(&mut y);
    y
}

/// The view of `current` with the recorded copies as hostnet's, or `None` when the
/// kernel holds none (the planner then sees the kernel as it is).
pub(crate) fn view(current: &KernelState, persisted: &PersistedCopies) -> Option<View> {
    if persisted.is_empty() {
        return None;
    }
    let is_copy_route = |r: &Route| r.protocol != HOSTNET_PROTO && persisted.routes.contains(r);
    let is_copy_rule = |r: &Rule| r.protocol != HOSTNET_PROTO && persisted.rules.contains(r);
    if !current.routes.iter().any(is_copy_route) && !current.rules.iter().any(is_copy_rule) {
        return None;
    }
    let mut v = View {
        state: current.clone(),
        routes: BTreeMap::new(),
        rules: BTreeMap::new(),
        shadowed: BTreeMap::new(),
    };
    // The kernel keys routes by table, destination and metric: a copy has no twin.
    for r in v.state.routes.iter_mut().filter(|r| is_copy_route(r)) {
        let ours = as_ours(r, |x| x.protocol = HOSTNET_PROTO);
        v.routes.insert(ours.clone(), r.clone());
        *r = ours;
    }
    let mut rules = Vec::with_capacity(current.rules.len());
    for r in &current.rules {
        if !is_copy_rule(r) {
            rules.push(r.clone());
            continue;
        }
        let ours = as_ours(r, |x| x.protocol = HOSTNET_PROTO);
        if current.rules.contains(&ours) {
            v.shadowed.entry(ours).or_default().push(r.clone());
        } else {
            v.rules.insert(ours.clone(), r.clone());
            rules.push(ours);
        }
    }
    v.state.rules = rules;
    Some(v)
}

/// `current` with the recorded copies as hostnet's (protocol 201), as the planner sees
/// it: what `status` and the tests compare with the state `apply` makes.
pub fn recognized(current: &KernelState, persisted: &PersistedCopies) -> KernelState {
    view(current, persisted).map_or_else(|| current.clone(), |v| v.state)
}

impl View {
    /// The plan's ops on the kernel's own objects: a relabelled route or rule is named
    /// as the kernel has it, and a rule's delete takes its shadowed copies along.
    pub(crate) fn map_back(&self, plan: &mut Plan) {
        for phase in &mut plan.phases {
            let mut extra = Vec::new();
            for op in phase.iter_mut() {
                match op {
                    Op::AddRoute(r) | Op::DeleteRoute(r) => {
                        if let Some(k) = self.routes.get(r) {
                            *r = k.clone();
                        }
                    }
                    Op::AddRule(r) => {
                        if let Some(k) = self.rules.get(r) {
                            *r = k.clone();
                        }
                    }
                    Op::DeleteRule(r) => {
                        if let Some(copies) = self.shadowed.get(r) {
                            extra.extend(copies.iter().cloned().map(Op::DeleteRule));
                        }
                        if let Some(k) = self.rules.get(r) {
                            *r = k.clone();
                        }
                    }
                    _ => {}
                }
            }
            phase.extend(extra);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan;
    use super::*;
    use crate::expand::Intent;
    use crate::netdev::model::ModelDriver;
    use crate::netdev::{Driver, PROTO_STATIC};
    use crate::plan::tests::{host, intent_of};

    const NET: &str = "networks:
  - {name: isp-a, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}, default-route: true}
";

    /// Runs every op of `p` on `m`, each accepted.
    fn run(m: &mut ModelDriver, p: &Plan) {
        for op in p.ops() {
            m.execute(std::slice::from_ref(op))
                .into_iter()
                .for_each(|r| r.unwrap_or_else(|e| panic!("{op}: {e}")));
        }
    }

    /// The intent of `yaml` with the copies a boot stack makes of `yaml`'s own routes
    /// and rules (`routes`: whether the format cannot tag routes either), recorded.
    fn with_record(yaml: &str, routes: bool) -> Intent {
        let mut intent = intent_of(yaml);
        let static_ = |r: &Rule| Rule {
            protocol: PROTO_STATIC,
            ..r.clone()
        };
        let ours = |n: &crate::expand::NetworkIntent| (n.routes.clone(), n.rules.clone());
        let (mut r, mut u): (Vec<Route>, Vec<Rule>) = (Vec::new(), Vec::new());
        for n in &intent.networks {
            let (routes_of, rules_of) = ours(n);
            r.extend(routes_of);
            u.extend(rules_of);
        }
        u.extend(crate::expand::blocks(&u.clone()).into_iter().filter(|b| {
            !matches!(
                b.action,
                crate::netdev::RuleAction::Goto(_) | crate::netdev::RuleAction::Nop
            )
        }));
        intent.persisted = PersistedCopies {
            routes: if routes {
                r.iter()
                    .map(|x| Route {
                        protocol: PROTO_STATIC,
                        ..x.clone()
                    })
                    .collect()
            } else {
                Vec::new()
            },
            rules: u.iter().map(static_).collect(),
        };
        intent
    }

    /// A host booted from the files of `with_record(NET, routes)`: hostnet's objects as
    /// the stack made them, the block's goto and nop missing.
    fn booted(routes: bool) -> (ModelDriver, Intent) {
        let intent = with_record(NET, routes);
        let mut m = host();
        let fresh = plan(&m.query().expect("query"), &intent_of(NET)).expect("plans");
        let mut booted = fresh.clone();
        for phase in &mut booted.phases {
            phase.retain(|op| match op {
                Op::AddRule(r) => !matches!(
                    r.action,
                    crate::netdev::RuleAction::Goto(_) | crate::netdev::RuleAction::Nop
                ),
                _ => true,
            });
            for op in phase.iter_mut() {
                match op {
                    Op::AddRule(r) => r.protocol = PROTO_STATIC,
                    Op::AddRoute(r) if routes => r.protocol = PROTO_STATIC,
                    _ => {}
                }
            }
        }
        run(&mut m, &booted);
        (m, intent)
    }

    #[test]
    fn a_booted_host_needs_only_what_the_files_left_out_then_nothing() {
        for routes in [false, true] {
            let (mut m, intent) = booted(routes);
            let p = plan(&m.query().expect("query"), &intent).expect("plans: no refusal");
            let text = p.to_string();
            assert_eq!(p.len(), 4, "the goto and nop of each family:\n{text}");
            assert!(p
                .ops()
                .all(|op| matches!(op, Op::AddRule(r) if r.protocol == HOSTNET_PROTO)));
            run(&mut m, &p);
            let again = plan(&m.query().expect("query"), &intent).expect("plans");
            assert!(again.is_empty(), "{again}");
        }
    }

    #[test]
    fn without_the_record_the_copies_are_someone_elses_and_stay() {
        let (mut m, _) = booted(false);
        // No refusal of the derived table (its rules are copies of the network's own),
        // and nothing of the stack's is touched: hostnet adds its own next to them.
        let p = plan(&m.query().expect("query"), &intent_of(NET)).expect("plans");
        assert!(
            p.ops()
                .all(|op| matches!(op, Op::AddRule(r) if r.protocol == HOSTNET_PROTO)),
            "{p}"
        );
        run(&mut m, &p);
        assert!(plan(&m.query().expect("query"), &intent_of(NET))
            .expect("plans")
            .is_empty());
        assert!(m
            .query()
            .expect("query")
            .rules
            .iter()
            .any(|r| r.protocol == PROTO_STATIC));
    }

    #[test]
    fn a_change_deletes_the_copies_as_the_kernel_has_them() {
        for routes in [false, true] {
            let (mut m, _) = booted(routes);
            let mut moved = with_record(NET, routes);
            // The operator moves the network to another priority and table.
            let target = intent_of(&NET.replace(
                "default-route: true}",
                "default-route: true, source-routing: {table: 1234, priority: 4000}}",
            ));
            moved.networks = target.networks;
            let p = plan(&m.query().expect("query"), &moved).expect("plans");
            let deleted: Vec<&Rule> = p
                .ops()
                .filter_map(|op| match op {
                    Op::DeleteRule(r) => Some(r),
                    _ => None,
                })
                .collect();
            assert!(
                !deleted.is_empty() && deleted.iter().all(|r| r.protocol == PROTO_STATIC),
                "{p}"
            );
            if routes {
                assert!(
                    p.ops()
                        .any(|op| matches!(op, Op::DeleteRoute(r) if r.protocol == PROTO_STATIC)),
                    "{p}"
                );
            }
            run(&mut m, &p);
            let s = m.query().expect("query");
            assert!(
                !s.rules.iter().any(|r| r.protocol == PROTO_STATIC),
                "{:#?}",
                s.rules
            );
            assert!(plan(&s, &moved).expect("plans").is_empty());
        }
    }

    #[test]
    fn a_copy_next_to_its_twin_goes_with_it() {
        let (mut m, intent) = booted(false);
        // hostnet restore ran first, then the stack added its copies again.
        let p = plan(&m.query().expect("query"), &intent_of(NET)).expect("plans");
        run(&mut m, &p);
        assert!(plan(&m.query().expect("query"), &intent)
            .expect("plans")
            .is_empty());
        let removal = with_record(
            "networks:\n  - {name: isp-a, state: absent, uplink: eth0}\n",
            false,
        );
        let removal = Intent {
            persisted: intent.persisted.clone(),
            ..removal
        };
        let p = plan(&m.query().expect("query"), &removal).expect("plans");
        run(&mut m, &p);
        let s = m.query().expect("query");
        assert!(
            !s.rules.iter().any(|r| r.priority > 0 && r.priority < 32766),
            "{p}\n{:#?}",
            s.rules
        );
    }

    #[test]
    fn an_equal_object_with_another_protocol_is_not_a_copy() {
        let (mut m, mut intent) = booted(false);
        for r in &mut intent.persisted.rules {
            r.protocol = 4 + 1; // not the stack's protocol: someone else's
        }
        assert!(view(&m.query().expect("query"), &intent.persisted).is_none());
    }
}
