//! nmstate's `alt-names`: alternative names added and removed one by one (one op per
//! name), never the whole list replaced, so names another tool gave (udev's
//! `enp0s3`-style names) stay. Removals go in a phase of their own before links are
//! created and names are added (after the links they go on are made), so that a name
//! can move from one interface to another, or to a new interface, in one apply.
//!
//! An interface is named by its kernel name: a file naming one by an alternative name
//! is refused here, at the key (nmstate resolves them since 2.2.58; hostnet does not).
//!
//! A rollback takes back exactly the names the apply changed: it removes a name it
//! added that the link still has, and gives back a name it removed unless another
//! interface has taken it since.

use std::collections::{BTreeMap, BTreeSet};

use super::{Phase, Plan, PlanError};
use crate::expand::Intent;
use crate::model::IfaceState;
use crate::netdev::{KernelState, Op};

fn op(name: &str, alt: &str, add: bool) -> Op {
    Op::AltName {
        name: name.to_string(),
        alt: alt.to_string(),
        add,
    }
}

fn has(s: &KernelState, name: &str, alt: &str) -> bool {
    s.links.contains_key(name) && s.alt_names.get(name).is_some_and(|a| a.contains(alt))
}

/// Plans the file's `alt-names` and refuses an interface named by an alternative name.
pub(super) fn plan(
    current: &KernelState,
    intent: &Intent,
    plan: &mut Plan,
    errors: &mut Vec<PlanError>,
) {
    let goes = |n: &str| {
        intent
            .links
            .get(n)
            .is_some_and(|l| l.state == IfaceState::Absent)
    };
    // Names this plan frees: removed alternative names, and those of links it deletes.
    let mut freed: BTreeSet<&str> = BTreeSet::new();
    for (name, li) in &intent.links {
        let alts = current.alt_names.get(name).into_iter().flatten();
        if goes(name) {
            freed.extend(alts.map(String::as_str));
            continue;
        }
        for (alt, _) in li.base.alt_names.iter().filter(|(_, add)| !add) {
            if has(current, name, alt) {
                freed.insert(alt);
            }
        }
    }
    for (name, li) in intent.links.iter().filter(|(n, _)| !goes(n)) {
        if !current.links.contains_key(name) && !freed.contains(name.as_str()) {
            if let Some(owner) = current.named(name) {
                errors.push(PlanError {
                    path: format!("{}.name", li.origin),
                    message: format!(
                        "{name} is an alternative name of {owner}; name the interface by its name, {owner}"
                    ),
                });
                continue;
            }
        }
        for (j, (alt, add)) in li.base.alt_names.iter().enumerate() {
            let path = format!("{}.alt-names[{j}].name", li.origin);
            if !add {
                if has(current, name, alt) {
                    plan.push(Phase::DeleteAltNames, op(name, alt, false));
                }
                continue;
            }
            if has(current, name, alt) {
                continue;
            }
            let taken = current.named(alt).filter(|_| !freed.contains(alt.as_str()));
            if let Some(owner) = taken {
                let message = if owner == alt {
                    format!("{alt} is the name of an interface")
                } else {
                    format!("{alt} is an alternative name of {owner}; remove it there first")
                };
                errors.push(PlanError { path, message });
                continue;
            }
            if let Some(other) = intent.links.get(alt).filter(|_| alt != name) {
                errors.push(PlanError {
                    path,
                    message: format!("{alt} is the name of an interface of {}", other.origin),
                });
                continue;
            }
            plan.push(Phase::AddAltNames, op(name, alt, true));
        }
    }
}

/// Names the ops of an apply left changed on links of `before`: (link, name) → added.
pub(super) fn record(e: &mut BTreeMap<(String, String), bool>, before: &KernelState, o: &Op) {
    let Op::AltName { name, alt, add } = o else {
        return;
    };
    if !before.links.contains_key(name) {
        return;
    }
    let key = (name.clone(), alt.clone());
    match e.get(&key) {
        Some(prev) if prev != add => {
            e.remove(&key);
        }
        Some(_) => {}
        None if *add != has(before, name, alt) => {
            e.insert(key, *add);
        }
        None => {}
    }
}

/// What a rollback does with the apply's names: `changed` from [`record`]; `ok(link)`:
/// the link is the one it was and stays; `remade`: links the rollback makes again (they
/// get their names back). Returns the ops and the names it cannot give back.
pub(super) fn undo(
    before: &KernelState,
    now: &KernelState,
    changed: &BTreeMap<(String, String), bool>,
    ok: &dyn Fn(&str) -> bool,
    remade: &BTreeSet<String>,
    deleting: &BTreeSet<String>,
) -> (Vec<(Phase, Op)>, Vec<String>) {
    let mut ops = Vec::new();
    let mut freed: BTreeSet<&str> = deleting
        .iter()
        .flat_map(|d| now.alt_names.get(d).into_iter().flatten())
        .map(String::as_str)
        .collect();
    for ((name, alt), added) in changed {
        if *added && ok(name) && has(now, name, alt) {
            ops.push((Phase::DeleteAltNames, op(name, alt, false)));
            freed.insert(alt);
        }
    }
    let mut want: Vec<(&str, &str)> = changed
        .iter()
        .filter(|((name, alt), added)| !**added && ok(name) && !has(now, name, alt))
        .map(|((n, a), _)| (n.as_str(), a.as_str()))
        .collect();
    for name in remade {
        let alts = before.alt_names.get(name).into_iter().flatten();
        want.extend(
            alts.filter(|a| !has(now, name, a))
                .map(|a| (name.as_str(), a.as_str())),
        );
    }
    let mut blocked = Vec::new();
    for (name, alt) in want {
        match now.named(alt).filter(|_| !freed.contains(alt)) {
            Some(owner) => blocked.push(format!(
                "altname {alt} dev {name}: not given back: {owner} has the name now"
            )),
            None => ops.push((Phase::AddAltNames, op(name, alt, true))),
        }
    }
    (ops, blocked)
}

/// Exact convergence (see [`super::restore`]): every link of `target` that the plan
/// keeps gets exactly its names there; one the plan makes again, all of them.
pub(super) fn restore(current: &KernelState, target: &KernelState, plan: &mut Plan) {
    let mut made = BTreeSet::new();
    for o in plan.ops() {
        if let Op::CreateLink(l) = o {
            made.insert(l.name.clone());
            if let crate::netdev::LinkKind::Veth { peer: Some(p) } = &l.kind {
                made.insert(p.clone());
            }
        }
    }
    let none = BTreeSet::new();
    let mut ops = Vec::new();
    for name in target.links.keys() {
        let want = target.alt_names.get(name).unwrap_or(&none);
        let have = if made.contains(name) {
            &none
        } else if current.links.contains_key(name) {
            current.alt_names.get(name).unwrap_or(&none)
        } else {
            continue;
        };
        for alt in have.difference(want) {
            ops.push((Phase::DeleteAltNames, op(name, alt, false)));
        }
        for alt in want.difference(have) {
            ops.push((Phase::AddAltNames, op(name, alt, true)));
        }
    }
    for (phase, o) in ops {
        plan.push(phase, o);
    }
}

#[cfg(test)]
#[path = "alt_names_tests.rs"]
mod tests;
