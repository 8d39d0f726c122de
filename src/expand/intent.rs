//! The intent types: what expansion produces and the planner diffs against the kernel.
//! Split out of `expand/mod.rs` (issue 15: files under 600 lines); re-exported there.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;

use super::{Dhcp, NetworkRecord};
use crate::model::*;
use crate::netdev::{Address, Family, Route, Rule};

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
    /// `controller: ""`: out of whichever bridge or bond it is in.
    pub detach: bool,
    /// `copy-mac-from`: the interface whose MAC it takes (resolved by the planner).
    pub copy_mac_from: Option<String>,
    /// `ipv6.addr-gen-mode` and `ipv6.token`.
    pub inet6: Option<crate::netdev::inet6::Inet6Change>,
    /// `alt-names`, in the file's order (the index is the key's): (name, true to add it,
    /// false to remove it).
    pub alt_names: Vec<(String, bool)>,
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

/// The VLANs networks own on one port of a VLAN-aware bridge, or on the bridge itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedVlans {
    /// The first network that asked (`networks[N]`).
    pub origin: String,
    /// The bridge the port belongs to (the link itself for `self` VLANs).
    pub bridge: String,
    /// Tagged VLANs the port must carry.
    pub add: BTreeSet<u16>,
    /// VLANs networks carried there before and no longer do (an id also in `add` stays).
    pub remove: BTreeSet<u16>,
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
    /// Its bridge and VLAN when it is a VLAN of a shared VLAN-aware bridge.
    pub vlan_aware: Option<super::VlanOnBridge>,
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
    /// VLANs that networks on VLAN-aware bridges own, by bridge port (or bridge, for
    /// its `self` VLANs): added and removed one by one, the rest of the set left alone.
    pub owned_vlans: BTreeMap<String, OwnedVlans>,
    /// Networks on VLAN-aware bridges that the record has and this intent does not
    /// mention, by name, with their uplink: they share the bridge's uplink (see
    /// [`crate::plan`]'s checks). Filled from the record of what was applied.
    pub recorded_vlan_aware: BTreeMap<String, (super::VlanOnBridge, Option<String>)>,
    /// Open vSwitch bridges and ports.
    pub ovs: crate::ovs::OvsIntent,
    /// The networks' firewall (see [`crate::firewall`]).
    pub firewall: super::FirewallIntent,
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
    /// Routes (and route removals) with `vrf-name`, by origin: their table is that VRF's,
    /// which the planner resolves (see [`crate::plan`]'s `vrf`).
    pub route_vrfs: BTreeMap<String, String>,
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
