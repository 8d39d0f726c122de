//! Where a Linux bridge's MTU is set in a plan, given how the kernel moves the MTU of a
//! bridge that follows its ports (see [`crate::netdev::bridge_mtu`]).
//!
//! * A bridge whose MTU the plan changes gets it early (phase "bridge MTU", before ports
//!   join, leave or change theirs): the bridge does not have the MTU yet, so the change is
//!   one the kernel marks as set, and from then on it keeps it whatever its ports (and
//!   guests' taps, later) do. Set after its ports, as before, it was often no change at
//!   all, because the kernel had just given the bridge that MTU from its ports: it then
//!   kept following them, and went back to 1500 when its last port left.
//!   Exceptions, which stay after the ports: a bridge lowered under stacked devices (a
//!   VLAN or MACVLAN on it is lowered first, see [`super::devices::order_changes`]), and a
//!   new bridge whose MTU is 1500, which it has when created (no change to mark).
//! * A bridge whose MTU the file gives and the plan does not change, but whose ports the
//!   plan changes, gets the file's MTU again after its ports when the kernel may move it
//!   (the model says it follows them and ends elsewhere, or it has no port yet, where the
//!   mark cannot be told from the state), so that the apply ends where the file says.

use super::{Phase, Plan};
use crate::expand::Intent;
use crate::model::IfaceState;
use crate::netdev::bridge_mtu::{following_mtu, has_ports, is_bridge, touched_by, DEFAULT_MTU};
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, KernelState, LinkChange, LinkKind, Op};

/// Moves bridges' MTU changes early where that makes them marked, and re-asserts the
/// file's MTU of bridges whose ports the plan changes.
pub(super) fn arrange(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    move_early(current, plan);
    reassert(current, intent, plan);
}

/// Whether a link of `current` is stacked on `bridge` (one the plan creates gets an MTU
/// within the bridge's when it is made, after the bridges' MTU).
fn has_uppers(current: &KernelState, bridge: &str) -> bool {
    current
        .links
        .values()
        .any(|l| l.kind.base() == Some(bridge))
}

fn move_early(current: &KernelState, plan: &mut Plan) {
    let created: Vec<String> = plan.phases[Phase::CreateBridges as usize]
        .iter()
        .filter_map(|op| match op {
            Op::CreateLink(l) if matches!(l.kind, LinkKind::Bridge(_)) => Some(l.name.clone()),
            _ => None,
        })
        .collect();
    let late = &mut plan.phases[Phase::ChangeBridges as usize];
    let mut early: Vec<Op> = Vec::new();
    for op in late.iter_mut() {
        let Op::ChangeLink { name, change } = op else {
            continue;
        };
        let Some(mtu) = change.mtu else { continue };
        let is_new = created.contains(name);
        let ok = if is_new {
            mtu != DEFAULT_MTU
        } else if is_bridge(current, name) {
            let now = current.links.get(name).map_or(mtu, |l| l.mtu);
            mtu > now || !has_uppers(current, name)
        } else {
            false
        };
        if ok {
            change.mtu = None;
            early.push(Op::ChangeLink {
                name: name.clone(),
                change: LinkChange {
                    mtu: Some(mtu),
                    ..LinkChange::default()
                },
            });
        }
    }
    late.retain(|op| !matches!(op, Op::ChangeLink { change, .. } if change.is_empty()));
    plan.phases[Phase::BridgeMtu as usize].extend(early);
}

/// The bridges the plan sets an MTU for.
fn mtu_set_by(plan: &Plan) -> Vec<&str> {
    plan.ops()
        .filter_map(|op| match op {
            Op::ChangeLink { name, change } if change.mtu.is_some() => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

fn reassert(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    let set = mtu_set_by(plan);
    let candidates: Vec<(&str, u32)> = intent
        .links
        .iter()
        .filter(|(_, li)| li.state != IfaceState::Absent)
        .filter_map(|(n, li)| Some((n.as_str(), li.mtu?)))
        .filter(|(n, _)| is_bridge(current, n) && !set.contains(n))
        .collect();
    if candidates.is_empty() {
        return;
    }
    // Only bridges whose ports the plan changes can move.
    let touched: Vec<String> = plan.ops().flat_map(|op| touched_by(current, op)).collect();
    let candidates: Vec<(&str, u32)> = candidates
        .into_iter()
        .filter(|(n, _)| touched.iter().any(|t| t == n))
        .collect();
    if candidates.is_empty() {
        return;
    }
    // Where the kernel will have them once the ports changed: the plan's link ops up to
    // the bridges' phase, on the model.
    let mut sim = ModelDriver::new(current.clone());
    for phase in &plan.phases[..Phase::ChangeBridges as usize] {
        let links: Vec<Op> = phase
            .iter()
            .filter(|op| {
                matches!(
                    op,
                    Op::CreateLink(_) | Op::ChangeLink { .. } | Op::DeleteLink { .. }
                )
            })
            .cloned()
            .collect();
        let _ = sim.execute(&links);
    }
    let after = sim.state();
    for (name, mtu) in candidates {
        let predicted = after.links.get(name).map(|l| l.mtu);
        let unknown = !has_ports(current, name) && following_mtu(after, name) != mtu;
        if predicted.is_some() && (predicted != Some(mtu) || unknown) {
            plan.push(
                Phase::ChangeBridges,
                Op::ChangeLink {
                    name: name.to_string(),
                    change: LinkChange {
                        mtu: Some(mtu),
                        ..LinkChange::default()
                    },
                },
            );
        }
    }
}
