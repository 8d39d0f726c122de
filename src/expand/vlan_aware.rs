//! Networks on a shared VLAN-aware bridge (`vlan-aware: true`, see
//! [`crate::model::vlan_aware`]): the bridge with VLAN filtering on and the uplink as a
//! port, the VLAN device `BRIDGE.ID` carrying the network's addresses, and the VLAN the
//! network owns on the uplink and on the bridge itself (`self`), which the planner adds
//! and removes one by one ([`OwnedVlans`]), leaving the rest of each set alone.
//!
//! A removed network takes back its VLAN device and its VLANs; the bridge goes with the
//! last network on it (one the file keeps, or a recorded one the file does not mention,
//! holds it).

use super::{
    merge_uplink, ExpandError, Families, Intent, KindIntent, LinkIntent, OwnedVlans, Ports,
    Records, VlanOnBridge,
};
use crate::model::{IfaceState, NetworkSpec};
use crate::netdev::{BridgeChange, LinkKind, VlanOptions};

/// Where `n` sits when it is a VLAN of a VLAN-aware bridge.
pub(super) fn on_bridge(n: &NetworkSpec) -> Option<VlanOnBridge> {
    let id = u16::try_from(n.vlan?).ok()?;
    (n.is_vlan_aware() && n.bridged.unwrap_or(true)).then(|| VlanOnBridge {
        bridge: n.bridge_name().to_string(),
        id,
    })
}

/// The links of network `n` on bridge `v`, and the VLANs it owns there.
pub(super) fn expand_links(
    intent: &mut Intent,
    origin: &str,
    n: &NetworkSpec,
    v: &VlanOnBridge,
    addrs: &Families<'_>,
) -> Result<(), ExpandError> {
    let device = n.device();
    let ports = [Some(&v.bridge), n.uplink.as_ref()];
    if n.state == Some(crate::model::NetworkState::Absent) {
        intent
            .links
            .entry(device)
            .or_insert_with(|| LinkIntent::named(origin, IfaceState::Absent));
        for port in ports.into_iter().flatten() {
            own(intent, origin, port, &v.bridge).remove.insert(v.id);
        }
        return Ok(());
    }
    let bridge = intent
        .links
        .entry(v.bridge.clone())
        .or_insert_with(|| LinkIntent {
            kind: Some(KindIntent::Bridge),
            stp: Some(false),
            bridge: Some(BridgeChange {
                vlan_filtering: Some(true),
                ..BridgeChange::default()
            }),
            ports: Some(Ports::AtLeast(Vec::new())),
            ..LinkIntent::named(origin, IfaceState::Up)
        });
    // Declared in `interfaces` too (validation checked its port list): that entry's
    // options stay; the network needs VLAN filtering, and its uplink in the bridge.
    bridge
        .bridge
        .get_or_insert_with(BridgeChange::default)
        .vlan_filtering = Some(true);
    if let Some(u) = &n.uplink {
        match &mut bridge.ports {
            Some(Ports::AtLeast(ps)) if !ps.contains(u) => ps.push(u.clone()),
            None => bridge.ports = Some(Ports::AtLeast(vec![u.clone()])),
            _ => {}
        }
    }
    intent.links.insert(
        device,
        LinkIntent {
            kind: Some(KindIntent::Device {
                type_name: "vlan",
                want: Some(LinkKind::Vlan(VlanOptions::new(
                    Some(v.bridge.clone()),
                    v.id,
                ))),
                exact: true,
            }),
            mtu: n.mtu,
            ipv4: addrs.ipv4.clone(),
            ipv6: addrs.ipv6.clone(),
            ..LinkIntent::named(origin, IfaceState::Up)
        },
    );
    if let Some(u) = &n.uplink {
        // The network's MTU is its VLAN device's: the uplink carries every VLAN.
        let port = NetworkSpec {
            bridge: Some(v.bridge.clone()),
            mtu: None,
            ..n.clone()
        };
        merge_uplink(intent, origin, u, &port, true, false, addrs)?;
    }
    for port in ports.into_iter().flatten() {
        own(intent, origin, port, &v.bridge).add.insert(v.id);
    }
    Ok(())
}

/// The VLANs owned on `port` of `bridge`.
fn own<'a>(intent: &'a mut Intent, origin: &str, port: &str, bridge: &str) -> &'a mut OwnedVlans {
    intent
        .owned_vlans
        .entry(port.to_string())
        .or_insert_with(|| OwnedVlans {
            origin: origin.to_string(),
            bridge: bridge.to_string(),
            ..OwnedVlans::default()
        })
}

/// Once every network is expanded: a network that moved off a VLAN-aware bridge (another
/// VLAN, bridge or uplink, or no longer VLAN-aware) takes its old VLANs back, and a
/// VLAN-aware bridge no network is on any more goes.
pub(super) fn settle(intent: &mut Intent, records: &Records) {
    let mut left: Vec<(String, String, String, u16)> = Vec::new();
    let mut emptied: Vec<(String, String)> = Vec::new();
    for n in &intent.networks {
        if let (true, Some(v)) = (n.absent, &n.vlan_aware) {
            emptied.push((v.bridge.clone(), n.origin.clone()));
        }
        let Some(p) = n.previous.as_ref() else {
            continue;
        };
        let Some(old) = p.vlan_aware.as_ref().filter(|_| !n.absent) else {
            continue;
        };
        let same = n.vlan_aware.as_ref() == Some(old);
        if !same {
            left.push((
                n.origin.clone(),
                old.bridge.clone(),
                old.bridge.clone(),
                old.id,
            ));
            emptied.push((old.bridge.clone(), n.origin.clone()));
        }
        if let Some(u) = p
            .uplink
            .as_ref()
            .filter(|u| !same || n.uplink.as_ref() != Some(u))
        {
            left.push((n.origin.clone(), u.clone(), old.bridge.clone(), old.id));
        }
    }
    for (origin, port, bridge, id) in left {
        own(intent, &origin, &port, &bridge).remove.insert(id);
    }
    let mentioned: std::collections::BTreeSet<String> =
        intent.networks.iter().map(|n| n.name.clone()).collect();
    for (name, r) in records
        .iter()
        .filter(|(n, r)| !r.removed && !mentioned.contains(*n))
    {
        if let Some(v) = &r.vlan_aware {
            let on = (v.clone(), r.uplink.clone());
            intent.recorded_vlan_aware.insert(name.clone(), on);
        }
    }
    for (bridge, origin) in emptied {
        let on = |v: &Option<VlanOnBridge>| v.as_ref().is_some_and(|v| v.bridge == bridge);
        let held = intent
            .networks
            .iter()
            .any(|n| !n.absent && on(&n.vlan_aware))
            || records
                .iter()
                .any(|(name, r)| !r.removed && !mentioned.contains(name) && on(&r.vlan_aware));
        if !held && !intent.links.contains_key(&bridge) {
            intent.links.insert(
                bridge,
                LinkIntent {
                    kind: Some(KindIntent::Bridge),
                    ..LinkIntent::named(origin, IfaceState::Absent)
                },
            );
        }
    }
}
