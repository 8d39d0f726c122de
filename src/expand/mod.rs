//! Expansion: a validated [`Desired`] document becomes an [`Intent`], the kernel-level
//! description the planner diffs against the current state.
//!
//! Logical networks turn into a bridge (or the bare uplink), its addresses, and the routes
//! and rules hostnet *owns* for it: a source-routing table with `default via GW` and the
//! on-link subnet routes, the `from SUBNET` / `to SUBNET` rules, and the main-table default
//! route for the one network with `default-route: true`. Owned routes and rules carry
//! [`crate::netdev::HOSTNET_PROTO`] so that the planner can find them again in the kernel.
//!
//! Expansion is pure: it reads only the document, so the table a network gets does not
//! depend on the host it is applied to.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::model::validate::{DEFAULT_RULE_PRIORITY, DEFAULT_TABLE_RANGE};
use crate::model::*;
use crate::netdev::{
    Address, Family, Route, RouteScope, Rule, PROTO_STATIC, TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN,
};

mod devices;
mod dhcp_server;
mod source_routing;

pub use devices::vlan_device;

pub use source_routing::{
    default_via, for_address, lease_prefix_problem, lease_router_problem, Dhcp, Lease, LeaseSource,
    Router, IPV6_DEFAULT_METRIC, MIN_LEASE_PREFIX_V4, MIN_LEASE_PREFIX_V6,
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
    /// Bridges and bonds only.
    pub ports: Option<Ports>,
    /// The bridge this link must be a port of (from a bridge's port list or an uplink).
    pub controller: Option<String>,
    /// The complete list of IPv4 addresses, when the file says it.
    pub ipv4: Option<Vec<IpNet>>,
    /// The complete list of IPv6 addresses (global ones), when the file says it.
    pub ipv6: Option<Vec<IpNet>>,
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
            ports: None,
            controller: None,
            ipv4: None,
            ipv6: None,
        }
    }
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
    pub fn matches(&self, r: &Route) -> bool {
        self.destination.is_none_or(|d| d == r.destination)
            && self.gateway.is_none_or(|g| Some(g) == r.gateway)
            && self.dev.as_ref().is_none_or(|d| Some(d) == r.dev.as_ref())
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
}

impl RuleMatch {
    pub fn matches(&self, r: &Rule) -> bool {
        self.family.is_none_or(|f| f == r.family)
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
    /// Open vSwitch bridges and ports.
    pub ovs: crate::ovs::OvsIntent,
    /// The networks' firewall (see [`crate::firewall`]).
    pub firewall: crate::firewall::plan::FirewallIntent,
    /// DHCP servers of the networks the file mentions: `None` removes a network's server.
    pub dhcp_servers: BTreeMap<String, Option<crate::dhcp::server::ServerIntent>>,
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
    let mut intent = Intent::default();
    expand_interfaces(d, &mut intent);
    devices::expand_ovs(d, &mut intent);
    expand_routes(d, &mut intent);
    expand_rules(d, &mut intent);
    let tables = assign_tables(d)?;
    let default_priority = d
        .settings
        .as_ref()
        .and_then(|s| s.source_routing.as_ref())
        .and_then(|s| s.priority)
        .unwrap_or(DEFAULT_RULE_PRIORITY);
    for (i, n) in d.networks.iter().enumerate() {
        let (table, derived) = tables.get(&n.name).copied().unwrap_or((0, false));
        expand_network(&mut intent, i, n, table, derived, default_priority)?;
        dhcp_server::expand_server(&mut intent, i, n);
    }
    expand_firewall(d, &mut intent);
    Ok(intent)
}

fn expand_interfaces(d: &Desired, intent: &mut Intent) {
    // Controllers come from the bridges' port lists.
    let mut controller: BTreeMap<&str, &str> = BTreeMap::new();
    for iface in &d.interfaces {
        if iface.state == Some(IfaceState::Absent)
            || iface.iface_type == Some(InterfaceType::OvsBridge)
        {
            continue;
        }
        for p in iface.bridge.iter().flat_map(|b| b.port.iter().flatten()) {
            controller.insert(&p.name, &iface.name);
        }
        for p in devices::bond_ports(iface).into_iter().flatten() {
            controller.insert(p, &iface.name);
        }
    }
    for (i, iface) in d.interfaces.iter().enumerate() {
        let state = iface.state.unwrap_or(IfaceState::Up);
        let kind = iface.iface_type.map(|t| match t {
            InterfaceType::LinuxBridge => KindIntent::Bridge,
            InterfaceType::Veth => KindIntent::Veth {
                peer: iface.veth.as_ref().map(|v| v.peer.clone()),
            },
            InterfaceType::Ethernet => KindIntent::Ethernet,
            InterfaceType::Loopback => KindIntent::Loopback,
            _ => devices::kind_of(iface).unwrap_or(KindIntent::Ethernet),
        });
        let addrs = |spec: &Option<IpSpec>| -> Option<Vec<IpNet>> {
            let spec = spec.as_ref()?;
            if spec.enabled == Some(false) {
                return Some(vec![]);
            }
            let list = spec.address.as_ref()?;
            let mut v: Vec<IpNet> = list
                .iter()
                .filter_map(|a| IpNet::new(a.ip, a.prefix_length).ok())
                .collect();
            v.sort();
            v.dedup();
            Some(v)
        };
        intent.links.insert(
            iface.name.clone(),
            LinkIntent {
                origin: format!("interfaces[{i}]"),
                kind,
                state,
                mtu: iface.mtu,
                mac: iface.mac_address,
                stp: iface
                    .bridge
                    .as_ref()
                    .and_then(|b| b.options.as_ref())
                    .and_then(|o| o.stp.as_ref())
                    .and_then(|s| s.enabled),
                ports: iface
                    .bridge
                    .as_ref()
                    .filter(|_| iface.iface_type != Some(InterfaceType::OvsBridge))
                    .and_then(|b| b.port.as_ref())
                    .map(|ps| Ports::Exact(ps.iter().map(|p| p.name.clone()).collect()))
                    .or_else(|| devices::bond_ports(iface).map(|ps| Ports::Exact(ps.to_vec()))),
                controller: controller.get(iface.name.as_str()).map(|c| c.to_string()),
                ipv4: addrs(&iface.ipv4),
                ipv6: addrs(&iface.ipv6),
            },
        );
    }
    // Ports the file lists but does not declare: they must exist (or be created as a
    // veth's peer) and are brought up in their bridge.
    for (port, bridge) in controller {
        if intent.links.contains_key(port) {
            continue;
        }
        let origin = d
            .interfaces
            .iter()
            .position(|i| i.name == bridge)
            .map(|i| match d.interfaces[i].iface_type {
                Some(InterfaceType::Bond) => format!("interfaces[{i}].link-aggregation.port"),
                _ => format!("interfaces[{i}].bridge.port"),
            })
            .unwrap_or_default();
        intent.links.insert(
            port.to_string(),
            LinkIntent {
                controller: Some(bridge.to_string()),
                ..LinkIntent::named(origin, IfaceState::Up)
            },
        );
    }
}

fn expand_routes(d: &Desired, intent: &mut Intent) {
    let Some(routes) = &d.routes else { return };
    for (i, r) in routes.config.iter().enumerate() {
        let origin = format!("routes.config[{i}]");
        if r.state == Some(EntryState::Absent) {
            intent.route_removals.push(RouteMatch {
                origin,
                destination: r.destination.map(|p| p.0),
                gateway: r.next_hop_address,
                dev: r.next_hop_interface.clone(),
                table: r.table_id,
                metric: r.metric,
            });
            continue;
        }
        let Some(dst) = r.destination else { continue };
        let v6 = dst.0.addr().is_ipv6();
        intent.routes.push(RouteIntent {
            origin,
            route: Route {
                table: r.table_id.unwrap_or(TABLE_MAIN),
                destination: dst.0,
                gateway: r.next_hop_address.filter(|g| !g.is_unspecified()),
                dev: r.next_hop_interface.clone(),
                // The kernel stores an IPv6 metric of 0 (or none) as 1024.
                metric: match r.metric {
                    Some(0) | None if v6 => Some(IPV6_DEFAULT_METRIC),
                    m => m,
                },
                scope: if r.next_hop_address.is_none() && !v6 {
                    RouteScope::Link
                } else {
                    RouteScope::Universe
                },
                src: None,
                protocol: PROTO_STATIC,
            },
        });
    }
}

fn expand_rules(d: &Desired, intent: &mut Intent) {
    let Some(rules) = &d.route_rules else { return };
    for (i, r) in rules.config.iter().enumerate() {
        let origin = format!("route-rules.config[{i}]");
        let family = r.family.or_else(|| {
            r.ip_from.or(r.ip_to).map(|p| {
                if p.0.addr().is_ipv4() {
                    Family::Ipv4
                } else {
                    Family::Ipv6
                }
            })
        });
        if r.state == Some(EntryState::Absent) {
            intent.rule_removals.push(RuleMatch {
                origin,
                family,
                priority: r.priority,
                from: r.ip_from.map(|p| p.0),
                to: r.ip_to.map(|p| p.0),
                iif: r.iif.clone(),
                fwmark: r.fwmark.map(|m| m.0),
                fwmask: r.fwmask.map(|m| m.0),
                table: r.route_table,
            });
            continue;
        }
        let (Some(family), Some(priority), Some(table)) = (family, r.priority, r.route_table)
        else {
            continue;
        };
        intent.rules.push(RuleIntent {
            origin,
            rule: Rule {
                family,
                priority,
                from: r.ip_from.map(|p| p.0),
                to: r.ip_to.map(|p| p.0),
                iif: r.iif.clone(),
                fwmark: r.fwmark.map(|m| m.0),
                // The kernel reports a full mask for a mark given without one.
                fwmask: r.fwmark.map(|_| r.fwmask.map_or(u32::MAX, |m| m.0)),
                table,
                protocol: PROTO_STATIC,
            },
        });
    }
}

fn expand_network(
    intent: &mut Intent,
    i: usize,
    n: &NetworkSpec,
    table: u32,
    table_derived: bool,
    default_priority: u32,
) -> Result<(), ExpandError> {
    let origin = format!("networks[{i}]");
    let n = &*devices::vlan_uplink(intent, &origin, n);
    let absent = n.state == Some(NetworkState::Absent);
    let bridged = n.bridged.unwrap_or(true);
    let device = if bridged {
        n.bridge.clone().unwrap_or_else(|| n.name.clone())
    } else {
        n.uplink.clone().unwrap_or_default()
    };
    // A DHCP family's addresses are the client's to set: not mentioned, not touched.
    let addrs = |ip: &Option<NetworkIp>| -> Option<Vec<IpNet>> {
        ip.as_ref().filter(|ip| ip.dhcp != Some(true)).map(|ip| {
            let mut v = ip.address.clone();
            v.sort();
            v.dedup();
            v
        })
    };
    let (ipv4, ipv6) = (addrs(&n.ipv4), addrs(&n.ipv6));

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
                ports: Some(Ports::AtLeast(n.uplink.iter().cloned().collect())),
                controller: None,
                ipv4: ipv4.clone(),
                ipv6: ipv6.clone(),
            },
        );
    }
    if let Some(uplink) = &n.uplink {
        if !absent || !bridged {
            merge_uplink(intent, &origin, uplink, n, bridged, absent, &ipv4, &ipv6)?;
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
    let mut routes = Vec::new();
    let mut rules = Vec::new();
    let mut has_gateway = false;
    if !absent {
        for ip in [&n.ipv4, &n.ipv6].into_iter().flatten() {
            let Some(gw) = ip.gateway else { continue };
            has_gateway = true;
            if n.default_route == Some(true) {
                routes.push(source_routing::default_via(TABLE_MAIN, &device, gw));
            }
            if !sr_enabled {
                continue;
            }
            routes.push(source_routing::default_via(table, &device, gw));
            for a in &ip.address {
                let (route, pair) = source_routing::for_address(table, priority, &device, *a);
                routes.push(route);
                rules.extend(pair);
            }
        }
    }
    routes.sort();
    routes.dedup();
    rules.sort();
    rules.dedup();
    let has_table = absent || (sr_enabled && (has_gateway || dhcp.any()));
    intent.networks.push(NetworkIntent {
        name: n.name.clone(),
        origin,
        absent,
        device,
        table: has_table.then_some(table),
        table_derived,
        priority,
        routes,
        rules,
        dhcp,
    });
    Ok(())
}

/// The networks' firewall specs, the sysctls they need and the floating IPs' addresses.
fn expand_firewall(d: &Desired, intent: &mut Intent) {
    use crate::firewall::{plan::host_address, NetFirewall, IPV4_FORWARD, IPV6_FORWARD};
    let fw = &mut intent.firewall;
    fw.backend = d
        .firewall
        .as_ref()
        .and_then(|f| f.backend)
        .unwrap_or_default();
    let mut addresses = Vec::new();
    for (i, n) in d.networks.iter().enumerate() {
        let Some(net) = intent.networks.iter().find(|x| x.name == n.name) else {
            continue;
        };
        let spec = if net.absent {
            None
        } else if let Some(s) = &n.firewall {
            let subnets = [&n.ipv4, &n.ipv6]
                .into_iter()
                .flatten()
                .filter(|ip| ip.dhcp != Some(true))
                .flat_map(|ip| ip.address.iter().map(IpNet::trunc))
                .collect();
            Some(NetFirewall::from_spec(&net.device, subnets, s)).filter(|s| !s.is_empty())
        } else {
            continue;
        };
        if let Some(s) = &spec {
            // IPv4 forwarding for any IPv4 network as before; IPv6 only where routed.
            let v4 = s.subnets.iter().any(|x| x.addr().is_ipv4()) || routed_families(s).0;
            let v6 = routed_families(s).1;
            if v4 {
                fw.sysctls.insert(IPV4_FORWARD.into(), "1".into());
            }
            if v6 {
                fw.sysctls.insert(IPV6_FORWARD.into(), "1".into());
            }
            for f in &s.floating {
                addresses.push(host_address(&f.interface, f.external));
            }
        }
        fw.origins.insert(n.name.clone(), format!("networks[{i}]"));
        fw.networks.insert(n.name.clone(), spec);
    }
    for a in addresses {
        // A complete address list in the file must keep the floating IP too.
        let list = intent.links.get_mut(&a.ifname).and_then(|li| {
            if a.addr.addr().is_ipv4() {
                li.ipv4.as_mut()
            } else {
                li.ipv6.as_mut()
            }
        });
        match list {
            Some(l) => {
                if !l.contains(&a.addr) {
                    l.push(a.addr);
                    l.sort();
                }
            }
            None => intent.firewall.addresses.push(a),
        }
    }
}

/// Which families a network's firewall routes (IPv4, IPv6): masquerade of a subnet of
/// that family, a floating IP or a port forward in it. Forwarding is turned on only for
/// those: IPv6 forwarding changes every interface's behaviour (router mode).
fn routed_families(s: &crate::firewall::NetFirewall) -> (bool, bool) {
    let mut fams: Vec<bool> = Vec::new();
    if s.masquerade.is_some() {
        fams.extend(s.subnets.iter().map(|x| x.addr().is_ipv4()));
    }
    fams.extend(s.floating.iter().map(|f| f.external.is_ipv4()));
    fams.extend(s.forwards.iter().map(|p| p.internal.is_ipv4()));
    (fams.contains(&true), fams.contains(&false))
}

#[allow(clippy::too_many_arguments)]
fn merge_uplink(
    intent: &mut Intent,
    origin: &str,
    uplink: &str,
    n: &NetworkSpec,
    bridged: bool,
    absent: bool,
    ipv4: &Option<Vec<IpNet>>,
    ipv6: &Option<Vec<IpNet>>,
) -> Result<(), ExpandError> {
    if absent {
        // The network's own addresses leave the uplink with it; the uplink stays as it is.
        for a in ipv4.iter().chain(ipv6.iter()).flatten() {
            intent.address_removals.push(Address {
                ifname: uplink.to_string(),
                addr: *a,
            });
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
        for (slot, addrs, fam) in [
            (&mut entry.ipv4, ipv4, "ipv4"),
            (&mut entry.ipv6, ipv6, "ipv6"),
        ] {
            if let Some(a) = addrs {
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
