//! The uplink of a shared VLAN-aware bridge across applies: one uplink per bridge holds
//! for the networks the file leaves out too (the record knows them, see
//! [`crate::engine::applied`]), and an uplink a network leaves is released from the
//! bridge only when no other network on it still uses it.

use super::{Phase, Plan, PlanError};
use crate::expand::{Intent, NetworkIntent};
use crate::netdev::{LinkChange, Op};

/// Refuses a network whose uplink differs from that of a recorded network the file does
/// not mention on the same VLAN-aware bridge: the file alone cannot see the conflict.
pub(super) fn check_recorded(intent: &Intent, errors: &mut Vec<PlanError>) {
    for n in intent.networks.iter().filter(|n| !n.absent) {
        let Some(v) = &n.vlan_aware else {
            continue;
        };
        let other = intent
            .recorded_vlan_aware
            .iter()
            .find(|(_, (rv, up))| rv.bridge == v.bridge && *up != n.uplink);
        if let Some((name, (_, up))) = other {
            errors.push(PlanError {
                path: format!("{}.uplink", n.origin),
                message: format!(
                    "bridge {} is shared with network {name}, applied earlier and not in \
                     this file, whose uplink is {}; networks on one VLAN-aware bridge give \
                     the same uplink (give {name} in the file with this uplink, or remove it)",
                    v.bridge,
                    up.as_deref().unwrap_or("none")
                ),
            });
        }
    }
}

/// The bridge network `n` had when last applied, its uplink's controller then: its
/// VLAN-aware bridge, or else its device.
pub(super) fn old_bridge(n: &NetworkIntent) -> &str {
    match n.previous.as_ref().and_then(|p| p.vlan_aware.as_ref()) {
        Some(v) => &v.bridge,
        None => &n.device,
    }
}

/// Whether another network on VLAN-aware bridge `bridge`, in the file or only in the
/// record, still has `port` as its uplink.
pub(super) fn still_used(intent: &Intent, bridge: &str, port: &str) -> bool {
    let on = |v: Option<&crate::expand::VlanOnBridge>| v.is_some_and(|v| v.bridge == bridge);
    intent
        .networks
        .iter()
        .any(|n| !n.absent && on(n.vlan_aware.as_ref()) && n.uplink.as_deref() == Some(port))
        || intent
            .recorded_vlan_aware
            .values()
            .any(|(v, up)| on(Some(v)) && up.as_deref() == Some(port))
}

/// Whether this plan takes `port` out of its bridge: it leaves with its VLANs, so none
/// is deleted from it afterwards.
pub(super) fn released(plan: &Plan, port: &str) -> bool {
    plan.phases[Phase::ReleasePorts as usize].iter().any(|op| {
        matches!(op, Op::ChangeLink { name, change: LinkChange { controller: Some(None), .. } }
            if name == port)
    })
}
