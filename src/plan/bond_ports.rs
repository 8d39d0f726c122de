//! Bond ports and the kernel's side effects on them. The kernel refuses to enslave an up
//! device to a bond (EPERM), brings a port up itself when it joins, and closes it when it
//! leaves (released, or the bond deleted). RTM_NEWLINK applies a change's flags before
//! its master, so "up" cannot travel in the same request as a bond join or release:
//! these are separate ops here.

use std::collections::BTreeMap;

use super::{Phase, Plan};
use crate::netdev::{KernelState, LinkChange, LinkKind, Op};

/// Rewrites `plan` for bond ports:
/// * a device created into a bond is created down without a master and joins in the
///   change-links phase (the bond brings it up);
/// * a join carries no `up` (the bond brings the port up; `up` first would be refused);
/// * a port that leaves a bond (released, moved, or its bond deleted) is set up again
///   after leaving when `wants_up` says so.
///
/// `wants_up(name)` is the state the port must end in: the intent's, or for a port the
/// intent does not mention, whether it is up now.
pub(crate) fn fix(plan: &mut Plan, current: &KernelState, wants_up: &dyn Fn(&str) -> bool) {
    let created_bonds: Vec<String> = plan
        .ops()
        .filter_map(|op| match op {
            Op::CreateLink(l) if matches!(l.kind, LinkKind::Bond(_)) => Some(l.name.clone()),
            _ => None,
        })
        .collect();
    let is_bond = |n: &str| {
        created_bonds.iter().any(|b| b == n)
            || current
                .links
                .get(n)
                .is_some_and(|l| matches!(l.kind, LinkKind::Bond(_)))
    };
    let mut joins: Vec<(String, String)> = Vec::new();
    for phase in &mut plan.phases {
        for op in phase.iter_mut() {
            match op {
                Op::CreateLink(l) => {
                    if let Some(c) = l.controller.take_if(|c| is_bond(c)) {
                        l.up = false;
                        joins.push((l.name.clone(), c));
                    }
                    let peer_name = match &l.kind {
                        LinkKind::Veth { peer: Some(p) } => Some(p.clone()),
                        _ => None,
                    };
                    if let (Some(p), Some(ps)) = (peer_name, l.peer.as_mut()) {
                        if let Some(c) = ps.controller.take_if(|c| is_bond(c)) {
                            ps.up = false;
                            joins.push((p, c));
                        }
                    }
                }
                Op::ChangeLink { change, .. }
                    if matches!(&change.controller, Some(Some(c)) if is_bond(c))
                        && change.up == Some(true) =>
                {
                    change.up = None;
                }
                _ => {}
            }
        }
    }
    for (name, bond) in joins {
        plan.push(
            Phase::ChangeLinks,
            Op::ChangeLink {
                name,
                change: LinkChange {
                    controller: Some(Some(bond)),
                    ..LinkChange::default()
                },
            },
        );
    }

    // Ports that leave a bond, and the phase in which they leave.
    let in_bond = |n: &str| {
        current
            .links
            .get(n)
            .and_then(|l| l.controller.as_deref())
            .filter(|c| {
                current
                    .links
                    .get(*c)
                    .is_some_and(|b| matches!(b.kind, LinkKind::Bond(_)))
            })
            .map(str::to_string)
    };
    let mut deleted: Vec<&str> = Vec::new();
    // By phase index.
    let mut leaving: BTreeMap<String, usize> = BTreeMap::new();
    for (i, phase) in plan.phases.iter().enumerate() {
        for op in phase {
            match op {
                Op::DeleteLink { name } => deleted.push(name),
                Op::ChangeLink { name, change } => {
                    let to = match &change.controller {
                        Some(to) => to.as_deref(),
                        None => continue,
                    };
                    if in_bond(name).is_some() && !to.is_some_and(is_bond) {
                        leaving.insert(name.clone(), i);
                    }
                }
                _ => {}
            }
        }
    }
    for (name, l) in &current.links {
        let bond_gone = l
            .controller
            .as_deref()
            .is_some_and(|c| deleted.contains(&c) && in_bond(name).is_some());
        if bond_gone && !deleted.contains(&name.as_str()) {
            leaving
                .entry(name.clone())
                .or_insert(Phase::DeleteLinks as usize);
        }
    }
    for (name, left_in) in leaving {
        if !wants_up(&name) {
            continue;
        }
        let phase = if left_in < Phase::ChangeLinks as usize {
            Phase::ChangeLinks
        } else {
            Phase::ChangeBridges
        };
        let merged = plan.phases[phase as usize].iter_mut().any(|op| match op {
            Op::ChangeLink { name: n, change } if *n == name && change.controller.is_none() => {
                change.up = Some(true);
                true
            }
            _ => false,
        });
        if !merged {
            plan.push(
                phase,
                Op::ChangeLink {
                    name,
                    change: LinkChange {
                        up: Some(true),
                        ..LinkChange::default()
                    },
                },
            );
        }
    }
}
