//! Turning a Linux bridge's VLAN filtering off, by nmstate's rule read against the
//! host: a bridge is VLAN-filtering while a port has VLANs of its own. hostnet turns it
//! on when a port of the file has a non-empty `vlan` section; it turns it off when the
//! file lists the bridge (as a `linux-bridge` in `interfaces`), asks for no VLANs on it,
//! and once the plan is done no port of it, nor the bridge itself, has a VLAN set other
//! than the bridge's default PVID (what a port gets on joining, and what `vlan: {}`
//! sets). A port listed without `vlan` keeps its set, so VLANs set by another tool (a
//! libvirt guest's tap) keep filtering on; so does a network on the bridge
//! (`vlan-aware`, which owns VLANs there). The kernel keeps every VLAN set while
//! filtering is off (measured on 6.1), and the change is journaled like any bridge
//! option, so a rollback turns it on again.

use super::{Phase, Plan};
use crate::expand::{Intent, KindIntent, Ports};
use crate::model::IfaceState;
use crate::netdev::{default_vlans, BridgeChange, KernelState, LinkChange, LinkKind, Op};

/// The bridges whose VLAN filtering the plan turns off.
fn bridges_to_clear<'a>(current: &'a KernelState, intent: &'a Intent) -> Vec<&'a str> {
    let mut out = Vec::new();
    if current.no_bridge_vlans {
        return out;
    }
    for (name, li) in &intent.links {
        let listed = li.state == IfaceState::Up
            && matches!(li.kind, Some(KindIntent::Bridge))
            && li.origin.starts_with("interfaces");
        let filtering = matches!(
            current.links.get(name).map(|l| &l.kind),
            Some(LinkKind::Bridge(o)) if o.vlan_filtering
        );
        let asked = li.bridge.as_ref().and_then(|b| b.vlan_filtering).is_some();
        // A network that stays on the bridge owns VLANs there; one that goes takes its
        // VLANs back (counted below).
        let owned = intent
            .owned_vlans
            .iter()
            .any(|(port, o)| (o.bridge == *name || port == name) && !o.add.is_empty());
        if listed && filtering && !asked && !owned && all_default(current, intent, name) {
            out.push(name.as_str());
        }
    }
    out
}

/// Whether every port of `bridge` once the plan is done, and the bridge itself, has
/// just the bridge's default PVID (or no VLAN at all).
fn all_default(current: &KernelState, intent: &Intent, bridge: &str) -> bool {
    let pvid = intent
        .links
        .get(bridge)
        .and_then(|b| b.bridge.as_ref())
        .and_then(|b| b.vlan_default_pvid)
        .unwrap_or(match current.links.get(bridge).map(|l| &l.kind) {
            Some(LinkKind::Bridge(o)) => o.vlan_default_pvid,
            _ => 1,
        });
    let listed = intent.links.get(bridge).and_then(|b| b.ports.as_ref());
    let mut ports: Vec<&str> = listed
        .map(|p| p.names().iter().map(String::as_str).collect())
        .unwrap_or_default();
    if !matches!(listed, Some(Ports::Exact(_))) {
        ports.extend(
            current
                .links
                .values()
                .filter(|l| l.controller.as_deref() == Some(bridge))
                .map(|l| l.name.as_str()),
        );
    }
    ports.push(bridge);
    let plain = |set: &crate::netdev::VlanSet| set.is_empty() || *set == default_vlans(pvid);
    ports.iter().all(|p| {
        match intent.links.get(*p).and_then(|l| l.vlans.as_ref()) {
            Some(v) => v.want.as_ref().is_none_or(plain),
            // Kept as it is but for the VLANs networks take back (a port joining now
            // gets the default).
            None => current.bridge_vlans.get(*p).is_none_or(|s| {
                let mut s = s.clone();
                if let Some(o) = intent.owned_vlans.get(*p) {
                    for v in o.remove.difference(&o.add) {
                        s.remove(v);
                    }
                }
                plain(&s)
                    || current.links.get(*p).and_then(|l| l.controller.as_deref()) != Some(bridge)
                        && *p != bridge
            }),
        }
    })
}

/// Pushes the change that turns VLAN filtering off on each bridge that no longer needs
/// it, after the ports' VLANs are settled.
pub(super) fn plan_off(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    for name in bridges_to_clear(current, intent) {
        plan.push(
            Phase::DeleteBridgeVlans,
            Op::ChangeLink {
                name: name.to_string(),
                change: LinkChange {
                    bridge: Some(BridgeChange {
                        vlan_filtering: Some(false),
                        ..BridgeChange::default()
                    }),
                    ..LinkChange::default()
                },
            },
        );
    }
}
