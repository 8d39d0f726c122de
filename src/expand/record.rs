//! What a network was when hostnet last applied it, so that a later file need not repeat
//! it: `- {name: mgmt, state: absent}` removes the bridge `vmbr0` it had, its VLAN
//! device, its table and its rules; a network whose uplink, bridge, table or priority
//! changed leaves nothing of the old ones behind.
//!
//! The record lives with the other per-namespace records of applied state
//! (`engine::applied`); here it is only data, and the completion of an expanded intent
//! with it is pure.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{Intent, KindIntent, LinkIntent, NetworkIntent};
use crate::model::{IfaceState, NetworkIp, NetworkSpec};
use crate::netdev::Address;

/// A network as hostnet last applied it in a namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// The device carrying its addresses: its bridge, or its uplink when not bridged.
    pub device: String,
    pub bridged: bool,
    /// The port hostnet put into its bridge (the VLAN device when it has `vlan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// The VLAN device hostnet created for it (`UPLINK.ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_device: Option<String>,
    /// Its shared VLAN-aware bridge and VLAN, when it is one of the bridge's VLANs (the
    /// VLAN it added to the bridge and to `uplink`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_aware: Option<VlanOnBridge>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    pub priority: u32,
    /// The static addresses hostnet put on `device`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<IpNet>,
    /// Whether it had firewall rules (`None`: not known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<bool>,
    /// It was removed (`state: absent`). The record stays, so that removing it again is
    /// known to have nothing left to find.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// A network's place on a shared VLAN-aware bridge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VlanOnBridge {
    pub bridge: String,
    pub id: u16,
}

/// Records by network name.
pub type Records = BTreeMap<String, NetworkRecord>;

impl NetworkIntent {
    /// What to record of this network once applied; `firewall` says whether it has
    /// firewall rules now (`None`: this apply did not decide them).
    pub fn record(&self, firewall: Option<bool>) -> NetworkRecord {
        NetworkRecord {
            device: self.device.clone(),
            bridged: self.bridged,
            uplink: self.uplink.clone(),
            vlan_device: self.vlan_device.clone(),
            vlan_aware: self.vlan_aware.clone(),
            table: self.table,
            priority: self.priority,
            addresses: self.addresses.clone(),
            firewall: firewall.or(self.previous.as_ref().and_then(|p| p.firewall)),
            removed: self.absent,
        }
    }

    /// Devices the network's tagged routes may be on: its device and the one it had.
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.device.as_str()).chain(
            self.previous
                .as_ref()
                .map(|p| p.device.as_str())
                .filter(|d| *d != self.device),
        )
    }
}

/// Whether `name` is a device another recorded network (than `except`) has now.
fn used_by_other(records: &Records, except: &str, name: &str) -> bool {
    records.iter().any(|(n, r)| {
        n != except && !r.removed && (r.device == name || r.uplink.as_deref() == Some(name))
    })
}

/// Completes `intent` with what the networks it mentions had when last applied and no
/// longer have: their old bridge and VLAN device are removed, and their addresses leave
/// the old uplink of a network that was not bridged. Devices the file mentions, or that
/// another recorded network has now, are left alone.
pub(super) fn remove_what_was_left(intent: &mut Intent, records: &Records) {
    let mut absent_links: Vec<(String, LinkIntent)> = Vec::new();
    let mut removals: Vec<Address> = Vec::new();
    for n in &intent.networks {
        let Some(prev) = &n.previous else { continue };
        let mentioned = |name: &str| intent.links.contains_key(name);
        let free = |name: &str| !mentioned(name) && !used_by_other(records, &n.name, name);
        // A VLAN-aware network's device is its VLAN device: handled below, and its
        // shared bridge by `vlan_aware::settle`.
        let own_bridge = prev.bridged && prev.vlan_aware.is_none();
        if own_bridge && prev.device != n.device && free(&prev.device) {
            absent_links.push((
                prev.device.clone(),
                LinkIntent {
                    kind: Some(KindIntent::Bridge),
                    ..LinkIntent::named(&n.origin, IfaceState::Absent)
                },
            ));
        }
        if let Some(vlan) = prev.vlan_device.as_deref() {
            if n.vlan_device.as_deref() != Some(vlan) && free(vlan) {
                absent_links.push((
                    vlan.to_string(),
                    LinkIntent::named(&n.origin, IfaceState::Absent),
                ));
            }
        }
        if !prev.bridged && (n.bridged || prev.device != n.device) {
            let wanted = intent.links.get(&prev.device);
            for a in &prev.addresses {
                let kept = wanted.is_some_and(|li| {
                    let list = if a.addr().is_ipv4() {
                        &li.ipv4
                    } else {
                        &li.ipv6
                    };
                    list.as_ref().is_some_and(|l| l.contains(a))
                });
                if !kept {
                    removals.push(Address::new(prev.device.clone(), *a));
                }
            }
        }
    }
    for (name, li) in absent_links {
        intent.links.entry(name).or_insert(li);
    }
    intent.address_removals.extend(removals);
}

/// Network `n`, listed to be removed, with what the file does not say about it taken from
/// its record: its bridge (or, not bridged, its uplink and the addresses to take off it)
/// and its priority. Its table is the caller's (tables are assigned before).
pub(super) fn fill_absent(n: &NetworkSpec, r: &NetworkRecord) -> NetworkSpec {
    let mut n = n.clone();
    let bridged = *n.bridged.get_or_insert(r.bridged);
    if let Some(v) = r.vlan_aware.as_ref().filter(|_| bridged) {
        // Given by name alone: it leaves the bridge it is a VLAN of.
        if n.bridge.is_none() && n.vlan.is_none() {
            n.bridge = Some(v.bridge.clone());
            n.vlan = Some(u32::from(v.id));
            n.vlan_aware = Some(true);
            n.uplink = n.uplink.take().or_else(|| r.uplink.clone());
        }
    } else if bridged && r.bridged && n.bridge.is_none() {
        n.bridge = Some(r.device.clone());
    }
    if !bridged && n.uplink.is_none() && n.vlan.is_none() {
        n.uplink = Some(r.device.clone());
    }
    if !bridged && n.ipv4.is_none() && n.ipv6.is_none() {
        let family = |v4: bool| {
            let address: Vec<IpNet> = r
                .addresses
                .iter()
                .filter(|a| a.addr().is_ipv4() == v4)
                .copied()
                .collect();
            (!address.is_empty()).then(|| NetworkIp {
                address,
                ..NetworkIp::default()
            })
        };
        n.ipv4 = family(true);
        n.ipv6 = family(false);
    }
    let sr = n.source_routing.get_or_insert_with(Default::default);
    sr.priority.get_or_insert(r.priority);
    n
}
