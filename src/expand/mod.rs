//! Expansion: a validated [`Desired`] document becomes an [`Intent`], the kernel-level
//! description the planner diffs against the current state.
//!
//! Logical networks turn into a bridge (or the bare uplink), its addresses, and the routes
//! and rules hostnet *owns* for it: a source-routing table with `default via GW` and the
//! on-link subnet routes, the `from SUBNET` rules (the block around them is planned:
//! `source_routing.rs`), and the main-table default route for the one network with
//! `default-route: true`. Owned routes and rules carry
//! [`crate::netdev::HOSTNET_PROTO`] so that the planner can find them again in the kernel.
//!
//! Expansion is pure: it reads only the document, so the table a network gets does not
//! depend on the host it is applied to.

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;

use crate::model::validate::{DEFAULT_RULE_PRIORITY, DEFAULT_TABLE_RANGE};
use crate::model::*;
use crate::netdev::{Address, Route, Rule, TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};

mod devices;
mod dhcp_server;
mod firewall;
pub use firewall::{host_address, FirewallIntent};
mod intent;
mod record;
mod source_routing;
mod user;
mod vlan_aware;

pub use crate::model::vlan_device;
pub use intent::*;
pub use record::{NetworkRecord, Records, VlanOnBridge};

pub use source_routing::{
    block_rules, blocks, default_via, for_address, is_block_rule, is_network_rule,
    lease_prefix_problem, lease_router_problem, Dhcp, Lease, LeaseSource, Router,
    IPV6_DEFAULT_METRIC, MAX_NETWORK_PRIORITY, MIN_LEASE_PREFIX_V4, MIN_LEASE_PREFIX_V6,
    MIN_NETWORK_PRIORITY,
};

/// A conflict that only shows once networks and interfaces are put together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ExpandError {
    pub path: String,
    pub message: String,
}

/// FNV-1a, 32 bit: tiny, stable across releases and platforms (unlike `DefaultHasher`).
fn stable_hash(s: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn is_reserved_table(t: u32) -> bool {
    matches!(t, 0 | TABLE_DEFAULT | TABLE_MAIN | TABLE_LOCAL)
}

/// Table id of every network, explicit or derived: the stable hash of the name into the
/// range, then linear probing in name order past reserved and already taken ids.
fn assign_tables(d: &Desired) -> Result<BTreeMap<String, (u32, bool)>, ExpandError> {
    let sr = d.settings.as_ref().and_then(|s| s.source_routing.as_ref());
    let [lo, hi] = sr
        .and_then(|s| s.table_range)
        .unwrap_or(DEFAULT_TABLE_RANGE);
    let mut out = BTreeMap::new();
    let mut taken: BTreeSet<u32> = BTreeSet::new();
    for n in &d.networks {
        if let Some(t) = n.source_routing.as_ref().and_then(|s| s.table) {
            out.insert(n.name.clone(), (t, false));
            taken.insert(t);
        }
    }
    let mut derive: Vec<&str> = d
        .networks
        .iter()
        .filter(|n| !out.contains_key(&n.name))
        .map(|n| n.name.as_str())
        .collect();
    derive.sort_unstable();
    let size = u64::from(hi - lo) + 1;
    for name in derive {
        let start = u64::from(stable_hash(name)) % size;
        let slot = (0..size)
            .map(|i| lo + u32::try_from((start + i) % size).unwrap_or(0))
            .find(|t| !is_reserved_table(*t) && !taken.contains(t));
        let Some(t) = slot else {
            return Err(ExpandError {
                path: "settings.source-routing.table-range".into(),
                message: format!("[{lo}, {hi}] has no free table left for network {name}"),
            });
        };
        taken.insert(t);
        out.insert(name.to_string(), (t, true));
    }
    Ok(out)
}

/// Expands a validated document.
pub fn expand(d: &Desired) -> Result<Intent, ExpandError> {
    expand_with(d, &Records::new())
}

/// Expands a validated document, completing what it does not repeat about networks from
/// what they were when last applied (`records`): a network given by name alone to be
/// removed, and what a changed network leaves behind (its old bridge, VLAN device,
/// uplink, table and priority).
pub fn expand_with(d: &Desired, records: &Records) -> Result<Intent, ExpandError> {
    let mut intent = Intent {
        notes: d.ignored.clone(),
        ..Intent::default()
    };
    user::expand_interfaces(d, &mut intent);
    devices::expand_ovs(d, &mut intent);
    user::expand_routes(d, &mut intent);
    user::expand_rules(d, &mut intent);
    let tables = assign_tables(d)?;
    let default_priority = d
        .settings
        .as_ref()
        .and_then(|s| s.source_routing.as_ref())
        .and_then(|s| s.priority)
        .unwrap_or(DEFAULT_RULE_PRIORITY);
    for (i, n) in d.networks.iter().enumerate() {
        let (mut table, mut derived) = tables.get(&n.name).copied().unwrap_or((0, false));
        let known = records.contains_key(&n.name);
        // A removed network's record only says that it was removed: what it named then
        // may be someone else's now.
        let rec = records.get(&n.name).filter(|r| !r.removed);
        let n = match rec {
            Some(r) if n.state == Some(NetworkState::Absent) => {
                if let (Some(t), None) = (r.table, n.source_routing.as_ref().and_then(|s| s.table))
                {
                    (table, derived) = (t, false);
                }
                std::borrow::Cow::Owned(record::fill_absent(n, r))
            }
            _ => std::borrow::Cow::Borrowed(n),
        };
        let prior = Prior { rec, known };
        expand_network(&mut intent, i, &n, table, derived, default_priority, prior)?;
        dhcp_server::expand_server(&mut intent, i, &n);
    }
    record::remove_what_was_left(&mut intent, records);
    vlan_aware::settle(&mut intent, records);
    firewall::expand_firewall(d, &mut intent);
    Ok(intent)
}

fn expand_network(
    intent: &mut Intent,
    i: usize,
    n: &NetworkSpec,
    table: u32,
    table_derived: bool,
    default_priority: u32,
    prior: Prior<'_>,
) -> Result<(), ExpandError> {
    let origin = format!("networks[{i}]");
    let aware = vlan_aware::on_bridge(n);
    let vlan_device = match &aware {
        Some(_) => Some(n.device()),
        None => n
            .vlan
            .zip(n.uplink.as_ref())
            .map(|(id, base)| vlan_device(base, id)),
    };
    let n = match &aware {
        Some(_) => std::borrow::Cow::Borrowed(n),
        None => devices::vlan_uplink(intent, &origin, n),
    };
    let n = &*n;
    let absent = n.state == Some(NetworkState::Absent);
    let bridged = n.bridged.unwrap_or(true);
    let device = n.device();
    // A listed network is described completely: a family it does not give has no
    // addresses. A DHCP family's addresses are the client's to set: not touched.
    let addrs = |ip: &Option<NetworkIp>| -> Option<Vec<IpNet>> {
        match ip {
            None => Some(Vec::new()),
            Some(ip) if ip.dhcp == Some(true) => None,
            Some(ip) => {
                let mut v = ip.address.clone();
                v.sort();
                v.dedup();
                Some(v)
            }
        }
    };
    let (ipv4, ipv6) = (addrs(&n.ipv4), addrs(&n.ipv6));
    let given = (n.ipv4.is_some(), n.ipv6.is_some());

    let families = Families {
        ipv4: &ipv4,
        ipv6: &ipv6,
        given,
    };
    if let Some(v) = &aware {
        vlan_aware::expand_links(intent, &origin, n, v, &families)?;
    } else if bridged {
        intent.links.insert(
            device.clone(),
            LinkIntent {
                origin: origin.clone(),
                kind: Some(KindIntent::Bridge),
                state: if absent {
                    IfaceState::Absent
                } else {
                    IfaceState::Up
                },
                mtu: n.mtu,
                mac: None,
                stp: Some(false),
                bridge: None,
                port: None,
                vlans: None,
                ports: Some(Ports::AtLeast(n.uplink.iter().cloned().collect())),
                controller: None,
                ipv4: ipv4.clone(),
                ipv6: ipv6.clone(),
                base: BaseKeys::default(),
            },
        );
    }
    if let Some(uplink) = n.uplink.as_ref().filter(|_| aware.is_none()) {
        if !absent || !bridged {
            merge_uplink(intent, &origin, uplink, n, bridged, absent, &families)?;
        }
    }

    let sr_enabled = n
        .source_routing
        .as_ref()
        .and_then(|s| s.enabled)
        .unwrap_or(true);
    let priority = n
        .source_routing
        .as_ref()
        .and_then(|s| s.priority)
        .unwrap_or(default_priority);
    let dhcp_of = |ip: &Option<NetworkIp>| {
        ip.as_ref()
            .filter(|ip| ip.dhcp == Some(true) && !absent)
            .map(|_| LeaseSource::Kernel)
    };
    let dhcp = Dhcp {
        v4: dhcp_of(&n.ipv4),
        v6: dhcp_of(&n.ipv6),
    };
    let (routes, rules, has_gateway) = if absent {
        (Vec::new(), Vec::new(), false)
    } else {
        owned_routes(n, &device, table, priority, sr_enabled)
    };
    let has_table = absent || (sr_enabled && (has_gateway || dhcp.any()));
    let mut addresses: Vec<IpNet> = ipv4.iter().chain(ipv6.iter()).flatten().copied().collect();
    if absent {
        addresses.clear();
    }
    intent.networks.push(NetworkIntent {
        name: n.name.clone(),
        origin,
        absent,
        table: has_table.then_some(table),
        table_derived,
        priority,
        routes,
        rules,
        dhcp,
        bridged,
        uplink: if bridged {
            n.uplink.clone()
        } else {
            Some(device.clone())
        },
        vlan_device,
        vlan_aware: aware,
        addresses,
        device,
        previous: prior.rec.cloned(),
        recorded: prior.known,
    });
    Ok(())
}

/// The routes and rules a present network owns (its default routes, and per subnet the
/// on-link route and the rules), and whether it has a static gateway.
fn owned_routes(
    n: &NetworkSpec,
    device: &str,
    table: u32,
    priority: u32,
    sr_enabled: bool,
) -> (Vec<Route>, Vec<Rule>, bool) {
    let mut routes = Vec::new();
    let mut rules = Vec::new();
    let mut has_gateway = false;
    for ip in [&n.ipv4, &n.ipv6].into_iter().flatten() {
        let Some(gw) = ip.gateway else { continue };
        has_gateway = true;
        if n.default_route == Some(true) {
            routes.push(source_routing::default_via(TABLE_MAIN, device, gw));
        }
        if !sr_enabled {
            continue;
        }
        routes.push(source_routing::default_via(table, device, gw));
        // One on-link route per subnet (the kernel keys it by destination): its IPv4
        // source is the subnet's first address in the file.
        let mut subnets: Vec<IpNet> = Vec::new();
        for a in &ip.address {
            let (route, pair) = source_routing::for_address(table, priority, device, *a);
            if !subnets.contains(&a.trunc()) {
                subnets.push(a.trunc());
                routes.push(route);
            }
            rules.extend(pair);
        }
    }
    routes.sort();
    routes.dedup();
    rules.sort();
    rules.dedup();
    (routes, rules, has_gateway)
}

/// What the record says of a network: what it was (`None` when unknown or removed), and
/// whether the record knows it at all.
#[derive(Clone, Copy)]
struct Prior<'a> {
    rec: Option<&'a NetworkRecord>,
    known: bool,
}

/// A network's address lists, and whether the file gives each family.
struct Families<'a> {
    ipv4: &'a Option<Vec<IpNet>>,
    ipv6: &'a Option<Vec<IpNet>>,
    given: (bool, bool),
}

fn merge_uplink(
    intent: &mut Intent,
    origin: &str,
    uplink: &str,
    n: &NetworkSpec,
    bridged: bool,
    absent: bool,
    addrs: &Families<'_>,
) -> Result<(), ExpandError> {
    if absent {
        // The network's own addresses leave the uplink with it; the uplink stays as it is.
        for a in addrs.ipv4.iter().chain(addrs.ipv6.iter()).flatten() {
            intent
                .address_removals
                .push(Address::new(uplink.to_string(), *a));
        }
        return Ok(());
    }
    let controller = bridged.then(|| n.bridge.clone().unwrap_or_else(|| n.name.clone()));
    let entry = intent
        .links
        .entry(uplink.to_string())
        .or_insert_with(|| LinkIntent::named(origin, IfaceState::Up));
    if entry.state == IfaceState::Absent {
        return Err(ExpandError {
            path: format!("{origin}.uplink"),
            message: format!("uplink {uplink} is removed by {}", entry.origin),
        });
    }
    if let Some(m) = n.mtu {
        match entry.mtu {
            Some(other) if other != m => {
                return Err(ExpandError {
                    path: format!("{origin}.mtu"),
                    message: format!(
                        "{uplink} gets MTU {other} from {} but {m} here",
                        entry.origin
                    ),
                })
            }
            _ => entry.mtu = Some(m),
        }
    }
    if bridged {
        entry.controller = controller;
    } else {
        for (slot, list, given, fam) in [
            (&mut entry.ipv4, addrs.ipv4, addrs.given.0, "ipv4"),
            (&mut entry.ipv6, addrs.ipv6, addrs.given.1, "ipv6"),
        ] {
            if let Some(a) = list {
                // A family the network does not give leaves the uplink to `interfaces`.
                if !given && slot.is_some() {
                    continue;
                }
                if slot.is_some() && slot.as_ref() != Some(a) {
                    return Err(ExpandError {
                        path: format!("{origin}.{fam}"),
                        message: format!(
                            "{uplink} gets {fam} addresses from {} and from here",
                            entry.origin
                        ),
                    });
                }
                *slot = Some(a.clone());
            }
        }
    }
    Ok(())
}
