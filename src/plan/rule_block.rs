//! The block of rules around the networks' source-routing rules (the layout is described
//! in [`crate::expand::source_routing`]).
//!
//! The block belongs to no single network: it wraps every network rule hostnet leaves in
//! the kernel, those of networks this file does not mention and DHCP leases included. So
//! it is planned last, from the rules the plan leaves behind: a family without network
//! rules has no block, and a host applied with an earlier layout converges in one apply
//! (its `to SUBNET` rules are network rules no network wants any more; the block is new).
//!
//! Rules of others inside the block's span are refused, not skipped silently: the goto
//! would carry forwarded packets past them, and the host's own traffic to what main
//! routes specifically would be decided before them. Last, every rule delete of the plan
//! is checked to name one rule only (the kernel matches deletes on what they set).

use std::collections::{HashMap, HashSet};

use super::{Phase, Plan, PlanError};
use crate::expand::{
    blocks, is_block_rule, is_network_rule, Intent, MAX_NETWORK_PRIORITY, MIN_NETWORK_PRIORITY,
};
use crate::netdev::{Family, KernelState, Op, Rule, RuleAction, HOSTNET_PROTO};

/// Plans the block from what the plan so far leaves in the kernel, and orders the rule
/// phases so that forwarded packets never meet a network's rule without the goto in
/// front of it.
pub(super) fn plan_block(
    current: &KernelState,
    intent: &Intent,
    plan: &mut Plan,
    errors: &mut Vec<PlanError>,
) {
    check_priorities(intent, errors);
    let left = rules_after(current, plan);
    let want = blocks(left.iter().copied());
    check_span(current, intent, &left, &want, errors);
    for have in current.rules.iter().filter(|r| is_block_rule(r)) {
        if !want.contains(have) {
            plan.push(Phase::DeleteRules, Op::DeleteRule(have.clone()));
        }
    }
    for w in want {
        if !current.rules.contains(&w) {
            plan.push(Phase::AddRules, Op::AddRule(w));
        }
    }
    order(plan);
    check_deletes(current, intent, plan, errors);
}

/// A delete names its rule by the attributes the rule has, and the kernel removes the
/// first rule those match ([`Rule::kernel_delete_matches`]): a rule of someone else's
/// with more attributes (an `oif`, `not`, ports, …) could go in its place. Such a delete
/// is refused (the other rule named) rather than left to the kernel's list order, which
/// neither the planner nor the dry run can see.
fn check_deletes(current: &KernelState, intent: &Intent, plan: &Plan, errors: &mut Vec<PlanError>) {
    let deleted: Vec<&Rule> = plan.phases[Phase::DeleteRules as usize]
        .iter()
        .filter_map(|op| match op {
            Op::DeleteRule(r) => Some(r),
            _ => None,
        })
        .collect();
    if deleted.is_empty() {
        return;
    }
    // The rules that stay, by what a delete always names (family, priority) and by table:
    // a pass over every rule per delete (and over every delete per rule) made a teardown
    // of 4,000 networks plan for over a minute.
    let gone: HashSet<&Rule> = deleted.iter().copied().collect();
    let mut by_priority: HashMap<(Family, u32), Vec<&Rule>> = HashMap::new();
    let mut by_table: HashMap<(Family, u32, u32), Vec<&Rule>> = HashMap::new();
    for o in current.rules.iter().filter(|o| !gone.contains(o)) {
        by_priority
            .entry((o.family, o.priority))
            .or_default()
            .push(o);
        by_table
            .entry((o.family, o.priority, o.table))
            .or_default()
            .push(o);
    }
    for r in &deleted {
        let modelled = if r.table == 0 {
            by_priority.get(&(r.family, r.priority))
        } else {
            by_table.get(&(r.family, r.priority, r.table))
        };
        // An opaque rule's view may equal `r` and still be another rule.
        let Some(other) = modelled
            .into_iter()
            .flatten()
            .copied()
            .filter(|o| o != r)
            .chain(&current.opaque_rules)
            .find(|o| r.kernel_delete_matches(o))
        else {
            continue;
        };
        let path = intent
            .rule_removals
            .iter()
            .find(|m| m.matches(r))
            .map_or_else(|| "route-rules".to_string(), |m| m.origin.clone());
        errors.push(PlanError {
            path,
            message: format!(
                "cannot delete {r} alone: a delete matches only the attributes it names, and \
                 the kernel could take {other} for it; remove that rule first"
            ),
        });
    }
}

/// The rules the kernel holds once the plan's rule phases ran.
fn rules_after<'a>(current: &'a KernelState, plan: &'a Plan) -> Vec<&'a Rule> {
    let rule_ops = |phase: Phase| {
        plan.phases[phase as usize]
            .iter()
            .filter_map(|op| match op {
                Op::AddRule(r) | Op::DeleteRule(r) => Some(r),
                _ => None,
            })
    };
    let deleted: HashSet<&Rule> = rule_ops(Phase::DeleteRules).collect();
    current
        .rules
        .iter()
        .filter(|r| !deleted.contains(r))
        .chain(rule_ops(Phase::AddRules))
        .collect()
}

/// A network's priority must leave room for the block: two below, one above.
fn check_priorities(intent: &Intent, errors: &mut Vec<PlanError>) {
    let range = MIN_NETWORK_PRIORITY..=MAX_NETWORK_PRIORITY;
    for n in intent
        .networks
        .iter()
        .filter(|n| !n.absent && n.table.is_some())
    {
        if !range.contains(&n.priority) {
            errors.push(PlanError {
                path: format!("{}.source-routing.priority", n.origin),
                message: format!(
                    "{} leaves no room for the rules around the networks' rules \
                     (two priorities below, one above, before main's at 32766); \
                     use {MIN_NETWORK_PRIORITY}..={MAX_NETWORK_PRIORITY}",
                    n.priority
                ),
            });
        }
    }
}

/// Refuses rules of others between the goto and the last network rule. A rule equal to
/// one of hostnet's but for its protocol is hostnet's own rule written back by a boot
/// configuration (networkd and NetworkManager cannot set a rule's protocol): it stays.
fn check_span(
    current: &KernelState,
    intent: &Intent,
    left: &[&Rule],
    want: &[Rule],
    errors: &mut Vec<PlanError>,
) {
    let ours: Vec<&Rule> = left
        .iter()
        .copied()
        .filter(|r| is_network_rule(r))
        .chain(want)
        .collect();
    let ours_but_protocol = |r: &Rule| {
        ours.iter().any(|o| {
            *o == &Rule {
                protocol: HOSTNET_PROTO,
                ..r.clone()
            }
        })
    };
    let gotos = want.iter().filter_map(|r| match r.action {
        RuleAction::Goto(landing) => Some((r, landing)),
        _ => None,
    });
    for (goto, landing) in gotos {
        let span = goto.priority..landing;
        let inside = left
            .iter()
            .copied()
            .chain(&current.opaque_rules)
            .filter(|r| r.family == goto.family && span.contains(&r.priority))
            .filter(|r| r.protocol != HOSTNET_PROTO && !ours_but_protocol(r));
        for r in inside {
            let (path, fix) = match intent.rules.iter().find(|u| {
                u.rule
                    == Rule {
                        protocol: u.rule.protocol,
                        ..r.clone()
                    }
            }) {
                Some(u) => (
                    format!("{}.priority", u.origin),
                    "give it a priority outside",
                ),
                None => (
                    network_path(intent, goto.family),
                    "move it outside, or give the networks another priority",
                ),
            };
            errors.push(PlanError {
                path,
                message: format!(
                    "{r} lies inside the source-routing block ({} to {landing}): packets the \
                     host forwards would skip it, and the host's own traffic to what the main \
                     table routes more specifically would be decided before it; {fix}",
                    goto.priority
                ),
            });
        }
    }
}

/// The field that sets the block's lowest priority in `family`, as far as this file
/// knows it.
fn network_path(intent: &Intent, family: Family) -> String {
    intent
        .networks
        .iter()
        .filter(|n| !n.absent && n.rules.iter().any(|r| r.family == family))
        .min_by_key(|n| n.priority)
        .map(|n| format!("{}.source-routing.priority", n.origin))
        .unwrap_or_else(|| "settings.source-routing.priority".into())
}

/// Adds land before they are jumped to and the goto before the rules it guards; deletes
/// go the other way round.
fn order(plan: &mut Plan) {
    let rank = |op: &Op| match op {
        Op::AddRule(r) | Op::DeleteRule(r) if is_block_rule(r) => match r.action {
            RuleAction::Nop => 0,
            RuleAction::Goto(_) => 1,
            _ => 2,
        },
        _ => 3,
    };
    plan.phases[Phase::AddRules as usize].sort_by_key(rank);
    plan.phases[Phase::DeleteRules as usize].sort_by_key(|op| std::cmp::Reverse(rank(op)));
}

#[cfg(test)]
mod tests {
    use super::super::plan;
    use super::*;
    use crate::netdev::model::ModelDriver;
    use crate::netdev::{Driver, PROTO_STATIC};
    use crate::plan::tests::{host, intent_of};

    const TWO: &str = "networks:
  - {name: a, uplink: eth0, bridged: false, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}, source-routing: {table: 1000}}
  - {name: b, uplink: eth1, bridged: false, ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}, source-routing: {table: 1001, priority: 3300}}
";

    /// A network of [`TWO`] removed (given whole, so that its table and device are known).
    fn without(name: &str) -> String {
        let line = TWO
            .lines()
            .find(|l| l.contains(&format!("name: {name},")))
            .expect("network");
        format!(
            "networks:\n{}\n",
            line.replacen("{name", "{state: absent, name", 1)
        )
    }

    /// The intent of a file validation refuses (model/validate_source_routing.rs checks
    /// what the file alone decides): the planner refuses it too, whatever comes first.
    fn unvalidated(yaml: &str) -> Intent {
        let d = crate::model::parse(yaml).expect("parses");
        assert!(crate::model::validate(&d).is_err(), "validation refuses it");
        crate::expand::expand(&d).expect("expands")
    }

    fn apply(m: &mut ModelDriver, yaml: &str) -> Plan {
        let p = plan(&m.query().expect("query"), &intent_of(yaml)).expect("plans");
        for op in p.ops() {
            m.execute(std::slice::from_ref(op))
                .remove(0)
                .unwrap_or_else(|e| panic!("{op}: {e}"));
        }
        p
    }

    fn hostnet_rules(m: &mut ModelDriver) -> Vec<String> {
        let mut v: Vec<Rule> = m
            .query()
            .expect("query")
            .rules
            .into_iter()
            .filter(|r| r.protocol == HOSTNET_PROTO)
            .collect();
        v.sort_by_key(|r| (r.family, r.priority));
        v.iter().map(Rule::to_string).collect()
    }

    #[test]
    fn one_block_per_family_around_every_network_rule() {
        let mut m = host();
        let p = apply(&mut m, TWO);
        let rules = hostnet_rules(&mut m);
        assert_eq!(
            rules[..3],
            [
                "rule ipv4 priority 3198 not iif lo goto 3301",
                "rule ipv4 priority 3199 lookup main suppress_prefixlength 0",
                "rule priority 3200 from 192.0.2.0/24 lookup 1000",
            ]
            .map(String::from),
            "{rules:#?}"
        );
        assert!(rules.contains(&"rule ipv4 priority 3301 nop".to_string()));
        assert!(rules.contains(&"rule ipv6 priority 3201 nop".to_string()));
        assert_eq!(rules.len(), 3 + 2 + 3 + 1, "{rules:#?}");
        // The landing rule goes in first, the goto before the rules it guards.
        let adds: Vec<String> = p.phases[Phase::AddRules as usize]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            adds[0].ends_with(" nop") && adds[1].ends_with(" nop"),
            "{adds:#?}"
        );
        assert!(
            adds[2].contains(" goto ") && adds[3].contains(" goto "),
            "{adds:#?}"
        );
        assert!(plan(&m.query().expect("query"), &intent_of(TWO))
            .expect("plans")
            .is_empty());
    }

    #[test]
    fn the_block_follows_the_rules_and_goes_with_the_last_one() {
        let mut m = host();
        apply(&mut m, TWO);
        // Without b, the IPv4 block shrinks to a's priority.
        apply(&mut m, &without("b"));
        let rules = hostnet_rules(&mut m);
        assert!(rules.contains(&"rule ipv4 priority 3201 nop".to_string()));
        assert!(rules.iter().all(|r| !r.contains("3301")), "{rules:#?}");
        // Without a, nothing of hostnet's is left.
        let p = apply(&mut m, &without("a"));
        assert_eq!(hostnet_rules(&mut m), Vec::<String>::new());
        // Network rules go before the goto, the landing rule last.
        let dels: Vec<String> = p.phases[Phase::DeleteRules as usize]
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            dels.last().is_some_and(|d| d.ends_with(" nop")),
            "{dels:#?}"
        );
        assert!(dels[0].contains(" from "), "{dels:#?}");
    }

    #[test]
    fn a_host_with_the_earlier_layout_converges_in_one_apply() {
        let mut m = host();
        apply(&mut m, TWO);
        // Rewind to the earlier layout: no block, `to SUBNET` rules beside `from SUBNET`.
        let s = m.query().expect("query");
        for r in s.rules.iter().filter(|r| is_block_rule(r)) {
            m.execute(&[Op::DeleteRule(r.clone())])
                .remove(0)
                .expect("deleted");
        }
        for r in s.rules.iter().filter(|r| is_network_rule(r)) {
            let to = Rule {
                from: None,
                to: r.from,
                ..r.clone()
            };
            m.execute(&[Op::AddRule(to)]).remove(0).expect("added");
        }
        let p = apply(&mut m, TWO);
        let text = p.to_string();
        assert_eq!(text.matches("- rule").count(), 3, "{text}");
        assert!(text
            .lines()
            .filter(|l| l.starts_with("- "))
            .all(|l| l.contains(" to ")));
        assert_eq!(text.matches("+ rule").count(), 6, "{text}");
        assert!(plan(&m.query().expect("query"), &intent_of(TWO))
            .expect("plans")
            .is_empty());
    }

    #[test]
    fn rules_of_others_inside_the_block_are_refused() {
        let mut m = host();
        let user = "route-rules:\n  config:\n    - {ip-from: 10.0.0.0/8, priority: 3250, route-table: 100}\n";
        let errs = plan(
            &m.query().expect("query"),
            &unvalidated(&format!("{TWO}{user}")),
        )
        .expect_err("refused");
        assert_eq!(errs[0].path, "route-rules.config[0].priority", "{errs:?}");
        assert!(errs[0]
            .message
            .contains("inside the source-routing block (3198 to 3301)"));
        // Someone else's rule already in the kernel names the networks' priority.
        let foreign = Rule {
            iif: Some("eth9".into()),
            ..Rule::lookup(Family::Ipv4, 3199, 100, PROTO_STATIC)
        };
        m.execute(&[Op::AddRule(foreign.clone())])
            .remove(0)
            .expect("added");
        let errs = plan(&m.query().expect("query"), &intent_of(TWO)).expect_err("refused");
        assert_eq!(
            errs[0].path, "networks[0].source-routing.priority",
            "{errs:?}"
        );
        // Outside the span (the landing priority included) it is fine.
        m.execute(&[Op::DeleteRule(foreign)])
            .remove(0)
            .expect("deleted");
        let at_landing = Rule::lookup(Family::Ipv4, 3301, 100, PROTO_STATIC);
        m.execute(&[Op::AddRule(at_landing)])
            .remove(0)
            .expect("added");
        apply(&mut m, TWO);
    }

    #[test]
    fn hostnet_rules_written_back_by_a_boot_configuration_are_not_in_the_way() {
        let mut m = host();
        let copy = Rule {
            from: Some("192.0.2.0/24".parse().expect("net")),
            ..Rule::lookup(Family::Ipv4, 3200, 1000, PROTO_STATIC)
        };
        m.execute(&[Op::AddRule(copy)]).remove(0).expect("added");
        apply(&mut m, TWO);
    }

    #[test]
    fn a_rollback_takes_the_block_back_and_leaves_others_main_lookups_alone() {
        let mut m = host();
        let before = m.query().expect("query");
        let p = apply(&mut m, TWO);
        // Meanwhile someone adds a main-first rule of their own (wg-quick does).
        let theirs = Rule {
            suppress_prefixlength: Some(0),
            ..Rule::lookup(Family::Ipv4, 100, crate::netdev::TABLE_MAIN, PROTO_STATIC)
        };
        m.execute(&[Op::AddRule(theirs.clone())])
            .remove(0)
            .expect("added");
        let scope = super::super::Scope::of(&p);
        assert!(scope.rule_block);
        let back = super::super::restore_plan_in(&m.query().expect("query"), &before, Some(&scope));
        for op in back.ops() {
            m.execute(std::slice::from_ref(op))
                .remove(0)
                .expect("restored");
        }
        let s = m.query().expect("query");
        assert!(s.rules.contains(&theirs));
        assert!(
            !s.rules.iter().any(|r| r.protocol == HOSTNET_PROTO),
            "{:?}",
            s.rules
        );
    }

    #[test]
    fn a_delete_the_kernel_could_apply_to_another_rule_is_refused() {
        let mut m = host();
        let plain = Rule {
            from: Some("10.0.0.0/8".parse().expect("net")),
            ..Rule::lookup(Family::Ipv4, 100, 100, PROTO_STATIC)
        };
        m.execute(&[Op::AddRule(plain.clone())])
            .remove(0)
            .expect("added");
        // Another rule at that priority with a selector hostnet does not model (a tos,
        // say): its lossy view is the same, and the kernel's delete could take it.
        let mut s = m.query().expect("query");
        s.opaque_rules.push(plain.clone());
        let removal =
            "route-rules:\n  config:\n    - {ip-from: 10.0.0.0/8, priority: 100, state: absent}\n";
        let errs = plan(&s, &intent_of(removal)).expect_err("refused");
        assert_eq!(errs[0].path, "route-rules.config[0]", "{errs:?}");
        assert!(
            errs[0].message.contains("from 10.0.0.0/8 lookup 100"),
            "{errs:?}"
        );
        // Alone, it goes.
        apply(&mut m, removal);
        assert!(!m.query().expect("query").rules.contains(&plain));
    }

    #[test]
    fn priorities_without_room_for_the_block_are_refused() {
        let m = host();
        let yaml = TWO.replace("priority: 3300", "priority: 32766");
        let errs = plan(m.state(), &unvalidated(&yaml)).expect_err("refused");
        assert_eq!(errs[0].path, "networks[1].source-routing.priority");
    }
}
