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
use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::validate::{DEFAULT_RULE_PRIORITY, DEFAULT_TABLE_RANGE};
use crate::model::*;
use crate::netdev::{Address, Family, Route, Rule, TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};

mod devices;
mod dhcp_server;
mod firewall;
mod record;
mod source_routing;
mod user;

pub use crate::model::vlan_device;
pub use record::{NetworkRecord, Records};

pub use source_routing::{
    block_rules, blocks, default_via, for_address, is_block_rule, is_network_rule,
    lease_prefix_problem, lease_router_problem, Dhcp, Lease, LeaseSource, Router,
    IPV6_DEFAULT_METRIC, MAX_NETWORK_PRIORITY, MIN_LEASE_PREFIX_V4, MIN_LEASE_PREFIX_V6,
    MIN_NETWORK_PRIORITY,
};

/// What a link should become.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LinkIntent {
    /// Where it was declared, for error messages (`interfaces[2]`, `networks[0]`).
    pub origin: String,
    /// `None` only for links that must already exist (uplinks) or are being removed.
    pub kind: Option<KindIntent>,
    pub state: IfaceState,
    pub mtu: Option<u32>,
    pub mac: Option<crate::netdev::MacAddr>,
    /// Bridges only.
    pub stp: Option<bool>,
    /// Bridges only: the other settings the file gives (`bridge.options`), in the
    /// kernel's units (STP's on/off is `stp`).
    pub bridge: Option<crate::netdev::BridgeChange>,
    /// The link's settings as a port of its Linux bridge (`bridge.port[]`).
    pub port: Option<crate::netdev::PortChange>,
    /// The link's VLANs as a port of its Linux bridge (`bridge.port[].vlan`).
    pub vlans: Option<PortVlans>,
    /// Bridges and bonds only.
    pub ports: Option<Ports>,
    /// The bridge this link must be a port of (from a bridge's port list or an uplink).
    pub controller: Option<String>,
    /// The complete list of IPv4 addresses, when the file says it.
    pub ipv4: Option<Vec<IpNet>>,
    /// The complete list of IPv6 addresses (global ones), when the file says it.
    pub ipv6: Option<Vec<IpNet>>,
    /// The base keys of nmstate's interfaces that are neither kind nor address.
    pub base: BaseKeys,
}

/// What a file says of an interface's alias, promiscuous flag and IPv6 switches
/// (`None`: leave it as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BaseKeys {
    /// `description` (IFLA_IFALIAS); `""` removes it.
    pub description: Option<String>,
    /// `accept-all-mac-addresses` (IFF_PROMISC).
    pub promisc: Option<bool>,
    /// `ipv6.enabled` (`disable_ipv6` inverted).
    pub ipv6_enabled: Option<bool>,
    /// `ipv6.autoconf`.
    pub autoconf: Option<bool>,
    /// Its settings as a port of its bond (the bond's `ports-config`).
    pub bond_port: Option<crate::netdev::BondPortChange>,
}

impl LinkIntent {
    /// A link the file only names (an uplink, a port, a VLAN's base): no kind, and
    /// nothing asked of it but `state`.
    pub fn named(origin: impl Into<String>, state: IfaceState) -> LinkIntent {
        LinkIntent {
            origin: origin.into(),
            kind: None,
            state,
            mtu: None,
            mac: None,
            stp: None,
            bridge: None,
            port: None,
            vlans: None,
            ports: None,
            controller: None,
            ipv4: None,
            ipv6: None,
            base: BaseKeys::default(),
        }
    }
}

/// The VLANs a file gives a Linux bridge port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortVlans {
    /// `interfaces[N].bridge.port[M].vlan`.
    pub origin: String,
    /// Exactly these; `None`: the bridge's default (`vlan: {}`).
    pub want: Option<crate::netdev::VlanSet>,
}

/// Creatable kinds, and the kinds that can only be matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KindIntent {
    Bridge,
    /// `peer` is `None` when the file does not name it (then it can only be matched).
    Veth {
        peer: Option<String>,
    },
    Ethernet,
    Loopback,
    /// The kinds of [`devices`]: `want` is what to create or match exactly, `None` when
    /// the file gives only the type (then it can only be matched).
    Device {
        type_name: &'static str,
        want: Option<crate::netdev::LinkKind>,
        /// An existing device must have exactly `want`'s settings (false when the file
        /// gives no settings and `want` holds the defaults to create with).
        exact: bool,
    },
}

impl KindIntent {
    pub fn type_name(&self) -> &'static str {
        match self {
            KindIntent::Device { type_name, .. } => type_name,
            KindIntent::Bridge => "linux-bridge",
            KindIntent::Veth { .. } => "veth",
            KindIntent::Ethernet => "ethernet",
            KindIntent::Loopback => "loopback",
        }
    }
}

/// A bridge's ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ports {
    /// Exactly these (`bridge.port` in `interfaces`): other ports are released.
    Exact(Vec<String>),
    /// At least these (a network's uplink): guests' taps that join later stay.
    AtLeast(Vec<String>),
}

impl Ports {
    pub fn names(&self) -> &[String] {
        match self {
            Ports::Exact(v) | Ports::AtLeast(v) => v,
        }
    }
}

/// A route from `routes.config` to ensure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteIntent {
    pub origin: String,
    pub route: Route,
}

/// A `state: absent` route: `None` fields match anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteMatch {
    pub origin: String,
    pub destination: Option<IpNet>,
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    pub table: Option<u32>,
    pub metric: Option<u32>,
}

impl RouteMatch {
    /// A multipath route matches a next hop's gateway or device only when every next hop
    /// of it does (removing one next hop would change a route another one keeps).
    pub fn matches(&self, r: &Route) -> bool {
        let hops = &r.attrs.nexthops;
        let gateway = |g: IpAddr| match hops.is_empty() {
            true => Some(g) == r.gateway,
            false => hops.iter().all(|h| h.gateway == Some(g)),
        };
        let dev = |d: &String| match hops.is_empty() {
            true => Some(d) == r.dev.as_ref(),
            false => hops.iter().all(|h| h.dev.as_ref() == Some(d)),
        };
        self.destination.is_none_or(|d| d == r.destination)
            && self.gateway.is_none_or(gateway)
            && self.dev.as_ref().is_none_or(dev)
            && self.table.is_none_or(|t| t == r.table)
            && self.metric.is_none_or(|m| Some(m) == r.metric)
    }
}

/// A rule from `route-rules.config` to ensure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleIntent {
    pub origin: String,
    pub rule: Rule,
}

/// A `state: absent` rule: `None` fields match anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleMatch {
    pub origin: String,
    pub family: Option<Family>,
    pub priority: Option<u32>,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    pub iif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub table: Option<u32>,
    pub action: Option<crate::netdev::RuleAction>,
    pub oif: Option<String>,
    pub suppress_prefixlength: Option<u32>,
}

impl RuleMatch {
    /// Only rules a `route-rules` entry could have written match: a wildcard never
    /// removes a `not`, goto or nop rule (nmstate has no keys for them).
    pub fn matches(&self, r: &Rule) -> bool {
        r.is_sayable()
            && self.action.is_none_or(|a| a == r.action)
            && self.oif.as_ref().is_none_or(|o| Some(o) == r.oif.as_ref())
            && self
                .suppress_prefixlength
                .is_none_or(|n| Some(n) == r.suppress_prefixlength)
            && self.family.is_none_or(|f| f == r.family)
            && self.priority.is_none_or(|p| p == r.priority)
            && self.from.is_none_or(|n| Some(n) == r.from)
            && self.to.is_none_or(|n| Some(n) == r.to)
            && self.iif.as_ref().is_none_or(|i| Some(i) == r.iif.as_ref())
            && self.fwmark.is_none_or(|m| Some(m) == r.fwmark)
            && self.fwmask.is_none_or(|m| Some(m) == r.fwmask)
            && self.table.is_none_or(|t| t == r.table)
    }
}

/// What hostnet owns for one logical network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkIntent {
    pub name: String,
    pub origin: String,
    pub absent: bool,
    /// The device carrying the network's addresses (bridge, or uplink when not bridged).
    pub device: String,
    /// Source-routing table, when the network has one (also computed for absent networks,
    /// so that what they left behind is found).
    pub table: Option<u32>,
    /// True when `table` was derived from the name rather than written in the file.
    pub table_derived: bool,
    /// Owned routes the network must have (empty when absent).
    pub routes: Vec<Route>,
    /// Owned rules the network must have (empty when absent). For DHCP families the
    /// planner adds the lease's routes and rules to these.
    pub rules: Vec<Rule>,
    /// Priority of the network's rules.
    pub priority: u32,
    /// The families whose address comes from DHCP.
    pub dhcp: Dhcp,
    pub bridged: bool,
    /// The port of its bridge, or its device when not bridged (the VLAN device when it
    /// has `vlan`).
    pub uplink: Option<String>,
    /// The VLAN device hostnet makes for it.
    pub vlan_device: Option<String>,
    /// Its static addresses.
    pub addresses: Vec<IpNet>,
    /// What it was when last applied in this namespace (see [`record`]); `None` when
    /// the record does not know it or it was removed.
    pub previous: Option<NetworkRecord>,
    /// The record knows it (applied or removed here by this version of hostnet).
    pub recorded: bool,
}

/// The whole desired state at kernel level.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Intent {
    pub links: BTreeMap<String, LinkIntent>,
    pub routes: Vec<RouteIntent>,
    pub route_removals: Vec<RouteMatch>,
    pub rules: Vec<RuleIntent>,
    pub rule_removals: Vec<RuleMatch>,
    /// Individual addresses to remove (those of a removed, non-bridged network).
    pub address_removals: Vec<Address>,
    pub networks: Vec<NetworkIntent>,
    /// Source-routing tables of networks applied earlier that this intent does not
    /// mention, by table: no network here may claim or empty them. Filled from the
    /// record of what was applied (the file alone cannot know them).
    pub reserved_tables: BTreeMap<u32, String>,
    /// Rule priorities of those networks: shared rules hostnet keeps at them stay.
    pub reserved_priorities: BTreeSet<u32>,
    /// Open vSwitch bridges and ports.
    pub ovs: crate::ovs::OvsIntent,
    /// The networks' firewall (see [`crate::firewall`]).
    pub firewall: crate::firewall::plan::FirewallIntent,
    /// DHCP servers of the networks the file mentions: `None` removes a network's server.
    pub dhcp_servers: BTreeMap<String, Option<crate::netdev::dhcp_server::ServerIntent>>,
    /// hostnet's own routes and rules as a boot stack made them from `hostnet persist`'s
    /// files, with the stack's protocol instead of hostnet's (see
    /// [`crate::plan::copies`]). Filled from the record `persist` writes beside the files.
    pub persisted: PersistedCopies,
    /// Bridges whose MTU hostnet set, each with its ifindex then (a bridge made again
    /// since is another one): the kernel keeps their MTU and does not say so. Filled
    /// from the record of what was applied ([`crate::engine::applied`]).
    pub bridge_mtu_set: BTreeMap<String, u32>,
    /// What the plan should tell the user about the file: the nmstate keys it ignores.
    pub notes: Vec<String>,
}

/// Routes and rules `hostnet persist` wrote into files whose format cannot carry route
/// protocol 201, each as the boot stack makes it (with its protocol, `static` mostly):
/// found in the kernel, they are hostnet's own.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PersistedCopies {
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

impl PersistedCopies {
    pub fn is_empty(&self) -> bool {
        self.routes.is_empty() && self.rules.is_empty()
    }

    pub fn extend(&mut self, other: PersistedCopies) {
        self.routes.extend(other.routes);
        self.rules.extend(other.rules);
    }
}

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
    let vlan_device = n
        .vlan
        .zip(n.uplink.as_ref())
        .map(|(id, base)| vlan_device(base, id));
    let n = &*devices::vlan_uplink(intent, &origin, n);
    let absent = n.state == Some(NetworkState::Absent);
    let bridged = n.bridged.unwrap_or(true);
    let device = if bridged {
        n.bridge.clone().unwrap_or_else(|| n.name.clone())
    } else {
        n.uplink.clone().unwrap_or_default()
    };
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

    if bridged {
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
    if let Some(uplink) = &n.uplink {
        if !absent || !bridged {
            let addrs = Families {
                ipv4: &ipv4,
                ipv6: &ipv6,
                given,
            };
            merge_uplink(intent, &origin, uplink, n, bridged, absent, &addrs)?;
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
