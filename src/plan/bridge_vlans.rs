//! Linux bridge port VLANs: each port the file gives a `vlan` section ends with exactly
//! that set (the VLAN the kernel gives a port when it joins goes unless listed); ports
//! listed without one keep theirs. VLAN filtering comes on before (a bridge change, in
//! an earlier phase), new VLANs and the PVID before the old ones go.
//!
//! A kernel without bridge VLAN filtering takes IFLA_BR_VLAN_PROTOCOL and
//! IFLA_BR_VLAN_DEFAULT_PVID and ignores them, and refuses the rest: what the file asks
//! of VLANs there is refused here, at the key, before anything changes.

use super::{Phase, Plan, PlanError};
use crate::expand::{Intent, LinkIntent};
use crate::model::IfaceState;
use crate::netdev::{default_vlans, KernelState, LinkKind, Op, VlanFlags, VlanSet};

const NO_VLANS: &str = "this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)";

/// The default PVID bridge `name` has once the plan is done, and the one it has now.
fn pvids(current: &KernelState, intent: &Intent, name: &str) -> (u16, u16) {
    let now = match current.links.get(name).map(|l| &l.kind) {
        Some(LinkKind::Bridge(o)) => o.vlan_default_pvid,
        _ => 1,
    };
    let after = intent
        .links
        .get(name)
        .and_then(|b| b.bridge.as_ref())
        .and_then(|b| b.vlan_default_pvid)
        .unwrap_or(now);
    (after, now)
}

pub(super) fn plan_vlans(
    current: &KernelState,
    intent: &Intent,
    plan: &mut Plan,
    errors: &mut Vec<PlanError>,
) {
    for (name, li) in &intent.links {
        if li.state == IfaceState::Absent {
            continue;
        }
        refuse_without_vlans(current, li, name, errors);
        let (Some(v), Some(bridge)) = (&li.vlans, &li.controller) else {
            continue;
        };
        if current.no_bridge_vlans {
            errors.push(PlanError {
                path: v.origin.clone(),
                message: format!("{NO_VLANS}: port VLANs need it"),
            });
            continue;
        }
        let (pvid, pvid_now) = pvids(current, intent, bridge);
        let want = v.want.clone().unwrap_or_else(|| default_vlans(pvid));
        let stays = current
            .links
            .get(name)
            .is_some_and(|l| l.controller.as_deref() == Some(bridge.as_str()))
            && current.links.contains_key(bridge);
        let mut have = match current.bridge_vlans.get(name).filter(|_| stays) {
            Some(s) => s.clone(),
            // A port that joins gets the bridge's default PVID.
            None => default_vlans(pvid_now),
        };
        // A new default PVID moves a port whose set is still the old default.
        if have == default_vlans(pvid_now) {
            have = default_vlans(pvid);
        }
        push_difference(plan, name, &have, &want);
    }
    plan_owned(current, intent, plan, errors);
    super::vlan_filtering_off::plan_off(current, intent, plan);
}

/// The VLANs networks on VLAN-aware bridges own (`intent.owned_vlans`): each added
/// tagged or taken away by itself; the port's (or bridge's) other VLANs stay, whoever
/// set them. A port that leaves its bridge, or a bridge that goes, takes its VLANs along.
fn plan_owned(
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
    for (name, o) in &intent.owned_vlans {
        if goes(name) || goes(&o.bridge) {
            continue;
        }
        if current.no_bridge_vlans {
            // Once per network, not per port.
            let said = errors
                .iter()
                .any(|e| e.path == format!("{}.vlan-aware", o.origin));
            if !o.add.is_empty() && !said {
                errors.push(PlanError {
                    path: format!("{}.vlan-aware", o.origin),
                    message: format!("{NO_VLANS}: a network on a VLAN-aware bridge needs it"),
                });
            }
            continue;
        }
        let is_bridge = *name == o.bridge;
        let bridge_now = matches!(
            current.links.get(&o.bridge).map(|l| &l.kind),
            Some(LinkKind::Bridge(_))
        );
        let in_now = bridge_now
            && (is_bridge
                || current
                    .links
                    .get(name)
                    .is_some_and(|l| l.controller.as_deref() == Some(o.bridge.as_str())));
        let placed = intent.links.get(name).and_then(|l| l.controller.as_deref());
        let stays = is_bridge
            || placed.map_or(
                in_now && !super::vlan_aware_uplinks::released(plan, name),
                |c| c == o.bridge,
            );
        if !stays {
            continue;
        }
        let (pvid, pvid_now) = pvids(current, intent, &o.bridge);
        let mut have = match current.bridge_vlans.get(name).filter(|_| in_now) {
            Some(s) => s.clone(),
            None if in_now => VlanSet::new(),
            // A new port or bridge gets the bridge's default PVID.
            None => default_vlans(pvid_now),
        };
        if have == default_vlans(pvid_now) {
            have = default_vlans(pvid);
        }
        let mut want = have.clone();
        for v in o.remove.difference(&o.add) {
            want.remove(v);
        }
        for v in &o.add {
            want.insert(*v, VlanFlags::default());
        }
        push_difference(plan, name, &have, &want);
    }
}

/// The ops that take `name`'s VLANs from `have` to `want`.
pub(crate) fn push_difference(plan: &mut Plan, name: &str, have: &VlanSet, want: &VlanSet) {
    let add: VlanSet = want
        .iter()
        .filter(|(v, f)| have.get(v) != Some(f))
        .map(|(v, f)| (*v, *f))
        .collect();
    let del: VlanSet = have
        .keys()
        .filter(|v| !want.contains_key(v))
        .map(|v| (*v, VlanFlags::default()))
        .collect();
    if !add.is_empty() {
        plan.push(
            Phase::AddBridgeVlans,
            Op::BridgeVlans {
                name: name.to_string(),
                vlans: add,
                add: true,
            },
        );
    }
    if !del.is_empty() {
        plan.push(
            Phase::DeleteBridgeVlans,
            Op::BridgeVlans {
                name: name.to_string(),
                vlans: del,
                add: false,
            },
        );
    }
}

/// A bridge's VLAN settings that a kernel without VLAN filtering would refuse or ignore.
fn refuse_without_vlans(
    current: &KernelState,
    li: &LinkIntent,
    name: &str,
    errors: &mut Vec<PlanError>,
) {
    let Some(b) = li.bridge.as_ref().filter(|_| current.no_bridge_vlans) else {
        return;
    };
    let have = match current.links.get(name).map(|l| &l.kind) {
        Some(LinkKind::Bridge(o)) => o.clone(),
        _ => crate::netdev::BridgeOptions::default(),
    };
    let opts = format!("{}.bridge.options", li.origin);
    let asked = [
        (
            b.vlan_protocol
                .filter(|p| *p != have.vlan_protocol)
                .is_some(),
            "vlan-protocol",
        ),
        (
            b.vlan_default_pvid
                .filter(|p| *p != have.vlan_default_pvid)
                .is_some(),
            "vlan-default-pvid",
        ),
    ];
    for key in asked.iter().filter(|(a, _)| *a).map(|(_, k)| k) {
        errors.push(PlanError {
            path: format!("{opts}.{key}"),
            message: format!("{NO_VLANS}: the kernel would ignore it"),
        });
    }
}

/// For exact convergence (rollbacks): the ops that give every scoped link the VLANs of
/// `target`.
pub(crate) fn restore(current: &KernelState, target: &KernelState, plan: &mut Plan) {
    if target.no_bridge_vlans || current.no_bridge_vlans {
        return;
    }
    let empty = VlanSet::new();
    for (name, want) in &target.bridge_vlans {
        if !current.links.contains_key(name) {
            // Made again by this plan: it gets the default when it joins.
            let pvid = target
                .links
                .get(name)
                .and_then(|l| l.controller.as_ref())
                .or(Some(name))
                .and_then(|b| match target.links.get(b).map(|l| &l.kind) {
                    Some(LinkKind::Bridge(o)) => Some(o.vlan_default_pvid),
                    _ => None,
                })
                .unwrap_or(1);
            push_difference(plan, name, &default_vlans(pvid), want);
            continue;
        }
        let have = current.bridge_vlans.get(name).unwrap_or(&empty);
        push_difference(plan, name, have, want);
    }
    for (name, have) in &current.bridge_vlans {
        if !target.bridge_vlans.contains_key(name) && target.links.contains_key(name) {
            push_difference(plan, name, have, &empty);
        }
    }
}

#[cfg(test)]
#[path = "vlan_aware_tests.rs"]
mod vlan_aware_tests;
