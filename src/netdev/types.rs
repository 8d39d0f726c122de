//! Platform-neutral kernel objects: what a driver reports from a query and what the
//! planner asks it to create or remove.
//!
//! Objects are identified by interface *name*, never by ifindex: ifindexes are a
//! driver detail (they change when a device is re-created), names are what the user
//! writes. Every type here is plain data with a total order so that plans and dumps
//! are deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Route protocol number that marks routes and rules hostnet owns (`ip route ... proto 201`).
///
/// Chosen outside the numbers iproute2's `rt_protos` assigns (0-18, 42, 99, 186-192), so
/// that no routing daemon writes it.
pub const HOSTNET_PROTO: u8 = 201;

/// Route protocol the kernel uses for routes it derives itself (prefix routes of addresses).
pub const PROTO_KERNEL: u8 = 2;
/// Route protocol `static` (`ip route add` default).
pub const PROTO_STATIC: u8 = 4;
/// Route protocol `boot` (the kernel's default for RTM_NEWROUTE without a protocol).
pub const PROTO_BOOT: u8 = 3;

/// The main routing table.
pub const TABLE_MAIN: u32 = 254;
/// The local routing table (addresses of this host; the kernel owns it).
pub const TABLE_LOCAL: u32 = 255;
/// The default routing table.
pub const TABLE_DEFAULT: u32 = 253;

/// A 48-bit MAC address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!(
                "{s:?} is not a MAC address (expected six hex octets separated by ':')"
            ));
        }
        for (slot, part) in out.iter_mut().zip(parts) {
            if part.len() != 2 {
                return Err(format!(
                    "{s:?} is not a MAC address (octet {part:?} is not two hex digits)"
                ));
            }
            *slot = u8::from_str_radix(part, 16)
                .map_err(|_| format!("{s:?} is not a MAC address (octet {part:?} is not hex)"))?;
        }
        Ok(MacAddr(out))
    }
}

impl Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What kind of device a link is. Kinds the planner cannot create are still reported so
/// that `show` and the diff can name them.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LinkKind {
    /// A Linux bridge.
    Bridge(super::BridgeOptions),
    /// One end of a veth pair; `peer` is the other end's name when it lives in the same
    /// namespace, `None` when it is elsewhere or unknown.
    Veth {
        peer: Option<String>,
    },
    /// A physical NIC or anything without a `kind` (hostnet does not create these).
    Ethernet,
    /// The loopback device.
    Loopback,
    /// An 802.1Q VLAN.
    Vlan(super::VlanOptions),
    /// A bond (its ports name it as their controller).
    Bond(super::BondOptions),
    Vxlan(super::VxlanOptions),
    MacVlan(super::MacVlanOptions),
    MacVtap(super::MacVlanOptions),
    /// A tun device in tap mode.
    Tap(super::TapOptions),
    /// Anything else, by the kernel's kind name (`tun`, `ipip`, …).
    Other(String),
}

impl LinkKind {
    /// The nmstate `type` name of this kind.
    pub fn type_name(&self) -> &str {
        match self {
            LinkKind::Bridge(_) => "linux-bridge",
            LinkKind::Veth { .. } => "veth",
            LinkKind::Ethernet => "ethernet",
            LinkKind::Loopback => "loopback",
            LinkKind::Vlan(_) => "vlan",
            LinkKind::Bond(_) => "bond",
            LinkKind::Vxlan(_) => "vxlan",
            LinkKind::MacVlan(_) => "mac-vlan",
            LinkKind::MacVtap(_) => "mac-vtap",
            LinkKind::Tap(_) => "tap",
            LinkKind::Other(k) => k,
        }
    }

    /// Devices that sit on a lower device (created after it, MTU set after it).
    pub fn base(&self) -> Option<&str> {
        match self {
            LinkKind::Vlan(o) => o.base.as_deref(),
            LinkKind::Vxlan(o) => o.base.as_deref(),
            LinkKind::MacVlan(o) | LinkKind::MacVtap(o) => o.base.as_deref(),
            _ => None,
        }
    }

    /// How far below its base's MTU this kind's MTU must stay: a VXLAN's encapsulation
    /// (the kernel's VXLAN_HEADROOM / VXLAN6_HEADROOM), nothing for the others.
    pub fn mtu_headroom(&self) -> u32 {
        match self {
            LinkKind::Vxlan(o) if o.remote.or(o.local).is_some_and(|a| a.is_ipv6()) => 70,
            LinkKind::Vxlan(_) => 50,
            _ => 0,
        }
    }

    /// Kinds that have a lower device, whether or not it is known.
    pub fn is_stacked(&self) -> bool {
        matches!(
            self,
            LinkKind::Vlan(_) | LinkKind::Vxlan(_) | LinkKind::MacVlan(_) | LinkKind::MacVtap(_)
        )
    }

    /// Kinds other links can be ports of.
    pub fn is_controller(&self) -> bool {
        matches!(self, LinkKind::Bridge(_) | LinkKind::Bond(_))
    }

    /// Kinds hostnet can create (a veth only with its peer's name).
    pub fn creatable(&self) -> bool {
        match self {
            LinkKind::Bridge(_)
            | LinkKind::Bond(_)
            | LinkKind::Vxlan(_)
            | LinkKind::Veth { peer: Some(_) } => true,
            LinkKind::Vlan(_) | LinkKind::MacVlan(_) | LinkKind::MacVtap(_) => {
                self.base().is_some()
            }
            // A transient tap belongs to the process holding it (a VMM, ovs-vswitchd).
            LinkKind::Tap(t) => t.persistent,
            _ => false,
        }
    }

    /// Whether a link of this kind can take `want`'s settings without being re-created:
    /// a bond's options but its mode and those that need it down or empty
    /// ([`super::BondOptions::fixed`]), a MACVLAN's or
    /// MACVTAP's mode on the same base (except to or from passthru) and its flags, a
    /// VLAN's flags (its base, id and protocol are fixed at creation).
    pub fn changes_in_place(&self, want: &LinkKind) -> bool {
        use super::MacVlanMode::Passthru;
        match (self, want) {
            (LinkKind::Bond(a), LinkKind::Bond(b)) => a.fixed() == b.fixed(),
            (LinkKind::Vlan(a), LinkKind::Vlan(b)) => {
                a.base == b.base && a.id == b.id && a.protocol == b.protocol
            }
            (LinkKind::MacVlan(a), LinkKind::MacVlan(b))
            | (LinkKind::MacVtap(a), LinkKind::MacVtap(b)) => {
                a.base == b.base && (a.mode == b.mode || (a.mode != Passthru && b.mode != Passthru))
            }
            _ => false,
        }
    }

    /// The settings in `ip -d link` style, for plans and messages (empty for kinds
    /// without settings of their own).
    pub fn settings(&self) -> String {
        super::kinds_fmt::settings(self)
    }
}

/// A network device as the kernel reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub name: String,
    pub kind: LinkKind,
    /// Administrative state (IFF_UP), not carrier.
    pub up: bool,
    pub mtu: u32,
    pub mac: Option<MacAddr>,
    /// The bridge this device is a port of.
    pub controller: Option<String>,
}

/// An address on an interface.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Address {
    pub ifname: String,
    /// Address and prefix length, e.g. 192.0.2.10/24 (host bits kept).
    pub addr: IpNet,
    /// Not permanent (no IFA_F_PERMANENT: it has a finite lifetime): the kernel's own
    /// from router advertisements (SLAAC, temporary addresses) or a DHCP client's. Whoever
    /// made it keeps it alive and takes it away, so hostnet never removes or re-adds one
    /// (an address list is exact about permanent addresses only), and `show` does not
    /// list it as configuration. hostnet's own addresses are permanent. Records written
    /// before the flag existed read as permanent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dynamic: bool,
}

impl Address {
    /// A permanent address, as hostnet adds them.
    pub fn new(ifname: impl Into<String>, addr: IpNet) -> Address {
        Address {
            ifname: ifname.into(),
            addr,
            dynamic: false,
        }
    }

    /// The same address and device, whatever the flag (what the kernel matches a
    /// delete or a duplicate add by).
    pub fn same_key(&self, other: &Address) -> bool {
        self.ifname == other.ifname && self.addr == other.addr
    }
}

/// Scope of a route (only the two values hostnet writes are named).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum RouteScope {
    #[default]
    Universe,
    Link,
    Host,
    Other(u8),
}

/// A route: unicast (through a gateway or a device, or several as a multipath route) or
/// one of the types that drop traffic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Route {
    pub table: u32,
    pub destination: IpNet,
    /// The next hop of a route with one (`None` for a multipath route: see
    /// [`RouteAttrs::nexthops`]).
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    /// Route priority; `None` when the kernel reported none (IPv4 metric 0).
    pub metric: Option<u32>,
    pub scope: RouteScope,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    pub protocol: u8,
    /// Type, metrics, onlink and next hops (added later, at the end so that the derived
    /// order of plain routes, which plans print in, did not change).
    #[serde(default, skip_serializing_if = "RouteAttrs::is_unset")]
    pub attrs: RouteAttrs,
}

/// What a route has beyond its key, next hop and source: nmstate's `route-type`,
/// `weight`, `mtu`, `cwnd`, … (RTA_METRICS, RTA_MULTIPATH, rtm_type, RTNH_F_ONLINK).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteAttrs {
    pub kind: RouteKind,
    /// The gateway is on the device's link whatever the addresses say (RTNH_F_ONLINK).
    pub onlink: bool,
    pub metrics: RouteMetrics,
    /// A multipath route's next hops, sorted (the route's own gateway and device are
    /// then `None`); empty for every other route.
    pub nexthops: Vec<NextHop>,
}

impl RouteAttrs {
    /// A plain unicast route's: left out of records, which older readers then read too.
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

/// A route's type (`rtm_type`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
        }
    }
}

/// The metrics of a route hostnet models (RTAX_*; `None`: not set). A route with
/// others (rtt, hoplimit, a congestion control, …) stays opaque.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteMetrics {
    /// RTAX_LOCK: bit N locks metric N (`lock` in `ip route`); nmstate locks `cwnd`
    /// (bit 7) always, and `mtu` (bit 2) with `lock-mtu`.
    pub locks: u32,
    pub mtu: Option<u32>,
    pub cwnd: Option<u32>,
    pub advmss: Option<u32>,
    pub initcwnd: Option<u32>,
    pub initrwnd: Option<u32>,
    pub quickack: Option<u32>,
}

/// The lock bit of RTAX_MTU.
pub const LOCK_MTU: u32 = 1 << 2;
/// The lock bit of RTAX_CWND.
pub const LOCK_CWND: u32 = 1 << 7;

impl RouteMetrics {
    pub fn is_empty(&self) -> bool {
        *self == RouteMetrics::default()
    }
}

/// One next hop of a multipath route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NextHop {
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    /// 1-256 (`rtnh_hops` + 1).
    pub weight: u16,
    pub onlink: bool,
}

impl fmt::Display for Route {
    /// `ip route` argument order (see [`super::fmt_route`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::fmt_route(f, self)
    }
}

impl fmt::Display for Rule {
    /// `ip rule` argument order (see [`super::fmt_rule`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::fmt_rule(f, self)
    }
}

impl Route {
    /// The devices the route goes out of: its own, or its next hops'.
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.dev
            .as_deref()
            .into_iter()
            .chain(self.attrs.nexthops.iter().filter_map(|h| h.dev.as_deref()))
    }

    /// True when `self` and `other` denote the same kernel route entry, the one an add
    /// with NLM_F_EXCL would collide with: table, destination and metric (IPv4 also
    /// keys on tos, which hostnet never sets; IPv6 refuses a second route with the same
    /// destination and metric whatever its next hop).
    pub fn same_key(&self, other: &Route) -> bool {
        self.table == other.table
            && self.destination == other.destination
            && self.metric.unwrap_or(0) == other.metric.unwrap_or(0)
    }
}

/// Address family of a policy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        })
    }
}

/// What a policy rule does when its selectors match (`FR_ACT_*`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Look the route up in the rule's `table`; on no result, go on with the next rule.
    #[default]
    Lookup,
    /// Go on at the first rule with this priority (always above the rule's own; a
    /// target no rule has makes the rule a no-op until one appears).
    Goto(u32),
    /// Do nothing (a landing place for gotos).
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// A policy routing rule.
///
/// Fields after `protocol` were added later; they keep their place at the end so that the
/// derived order (which plans print in) of plain lookup rules did not change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    pub family: Family,
    pub priority: u32,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    /// Input interface; `lo` matches what the host itself sends.
    pub iif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    /// The table of a [`RuleAction::Lookup`]; 0 for the other actions.
    pub table: u32,
    pub protocol: u8,
    #[serde(default)]
    pub action: RuleAction,
    /// `not`: the rule applies where its selectors do *not* match (FIB_RULE_INVERT).
    #[serde(default)]
    pub invert: bool,
    /// Output interface (only sockets bound to a device have one).
    #[serde(default)]
    pub oif: Option<String>,
    /// A lookup's result is refused when its prefix is this long or shorter.
    #[serde(default)]
    pub suppress_prefixlength: Option<u32>,
}

impl Rule {
    /// `lookup table` with no selectors besides the priority.
    pub fn lookup(family: Family, priority: u32, table: u32, protocol: u8) -> Rule {
        Rule {
            family,
            priority,
            from: None,
            to: None,
            iif: None,
            fwmark: None,
            fwmask: None,
            table,
            protocol,
            action: RuleAction::Lookup,
            invert: false,
            oif: None,
            suppress_prefixlength: None,
        }
    }

    /// What `route-rules` entries can say today: a lookup without `not`, `oif` or
    /// `suppress_prefixlength`. Only such rules are matched by `state: absent` wildcards
    /// and listed by `show`.
    pub fn is_plain(&self) -> bool {
        self.action == RuleAction::Lookup
            && !self.invert
            && self.oif.is_none()
            && self.suppress_prefixlength.is_none()
    }

    /// What a `route-rules` entry can say: a lookup or a blackhole, unreachable or
    /// prohibit action, without `not` (nmstate has no key for it), with any of the
    /// selectors. Only such rules are matched by `state: absent` wildcards and listed by
    /// `show`.
    pub fn is_sayable(&self) -> bool {
        !self.invert && !matches!(self.action, RuleAction::Goto(_) | RuleAction::Nop)
    }

    /// True when an RTM_NEWRULE with `NLM_F_EXCL` for `self` is refused because of
    /// `other` (the kernel's `rule_exists`): every attribute counts, the protocol too,
    /// except `not` and a goto's target.
    pub fn kernel_duplicate(&self, other: &Rule) -> bool {
        let action = |r: &Rule| match r.action {
            RuleAction::Goto(_) => RuleAction::Goto(0),
            a => a,
        };
        Rule {
            action: action(self),
            invert: false,
            ..self.clone()
        } == Rule {
            action: action(other),
            invert: false,
            ..other.clone()
        }
    }

    /// True when an RTM_DELRULE for `self` may remove `other` (the kernel's
    /// `rule_find`): the attributes `self` sets must match, those it leaves unset match
    /// anything, and `not` and a goto's target are not compared. The kernel removes the
    /// first rule in its list that matches.
    pub fn kernel_delete_matches(&self, other: &Rule) -> bool {
        fn opt<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
            want.is_none() || want == have
        }
        let prefix = |want: &Option<IpNet>, have: &Option<IpNet>| match want {
            Some(n) if n.prefix_len() > 0 => Some(*n) == *have,
            _ => true,
        };
        let nonzero = |want: Option<u32>, have: Option<u32>| {
            want.unwrap_or(0) == 0 || want.unwrap_or(0) == have.unwrap_or(0)
        };
        self.family == other.family
            && self.priority == other.priority
            && std::mem::discriminant(&self.action) == std::mem::discriminant(&other.action)
            && (self.table == 0 || self.table == other.table)
            && opt(&self.iif, &other.iif)
            && opt(&self.oif, &other.oif)
            && nonzero(self.fwmark, other.fwmark)
            && nonzero(self.fwmask, other.fwmask)
            && opt(&self.suppress_prefixlength, &other.suppress_prefixlength)
            && (self.protocol == 0 || self.protocol == other.protocol)
            && prefix(&self.from, &other.from)
            && prefix(&self.to, &other.to)
    }
}

/// Everything a query returns, keyed for deterministic iteration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelState {
    pub links: BTreeMap<String, Link>,
    /// Global-scope and permanent addresses (link-local IPv6 is the kernel's, not ours).
    pub addresses: Vec<Address>,
    /// Unicast routes in every table except `local`, without kernel-protocol routes.
    pub routes: Vec<Route>,
    /// Policy rules (the kernel's default rules included).
    pub rules: Vec<Rule>,
    /// Routes with attributes [`Route`] cannot hold (onlink, metrics, multipath, …), in a
    /// lossy view. hostnet never changes them: they are here so that plans can see a
    /// collision and `show` can say what it left out.
    pub opaque_routes: Vec<Route>,
    /// Rules with selectors [`Rule`] cannot hold (tos, ports, uid ranges, …), lossy, as
    /// for `opaque_routes`.
    pub opaque_rules: Vec<Rule>,
    /// Open vSwitch bridges and ports (`available: false` without Open vSwitch).
    #[serde(default)]
    pub ovs: crate::ovs::OvsState,
    /// Our firewall rules and the forwarding sysctls (see [`crate::firewall`]).
    #[serde(default)]
    pub firewall: crate::firewall::FirewallState,
    /// The networks' DHCP servers (dnsmasq), by network name.
    #[serde(default)]
    pub dhcp_servers: BTreeMap<String, super::dhcp_server::ServerState>,
    /// The kernel's index of each link, where the driver knows it (see [`LinkIds`]).
    #[serde(default)]
    pub link_ids: LinkIds,
    /// Bridges whose MTU hostnet set to another value than they had: the kernel keeps
    /// such a bridge's MTU whatever its ports do (`BROPT_MTU_SET_BY_USER`) and does not
    /// report it, so it comes from the record of what was applied (`engine::applied`),
    /// for the model driver (see [`super::bridge_mtu`]).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub bridge_mtu_set: BTreeSet<String>,
    /// Links whose IPv6 is disabled (`net.ipv6.conf.IF.disable_ipv6=1`): the kernel
    /// refuses their IPv6 addresses (EACCES).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub ipv6_disabled: BTreeSet<String>,
    /// The settings of each bridge port in its bridge, by port name (a link leaving its
    /// bridge loses them; one joining gets the kernel's defaults).
    #[serde(default)]
    pub bridge_ports: BTreeMap<String, super::BridgePortOptions>,
    /// The VLANs of bridge ports and of bridges themselves (`bridge vlan`), by name;
    /// empty on a kernel without bridge VLAN filtering.
    #[serde(default)]
    pub bridge_vlans: BTreeMap<String, super::VlanSet>,
    /// The kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), as a
    /// bridge's dump showed (it lacks IFLA_BR_VLAN_PROTOCOL then). False when no bridge
    /// said.
    #[serde(default)]
    pub no_bridge_vlans: bool,
    /// Each link's alias (IFLA_IFALIAS, nmstate's `description`), by name; links without
    /// one are absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, String>,
    /// Links whose user-set IFF_PROMISC flag is on (nmstate's `accept-all-mac-addresses`;
    /// not the promiscuity bridges and MACVLANs add, which the kernel does not report).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub promisc: BTreeSet<String>,
    /// The settings of each bond port in its bond, by port name (as `bridge_ports`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bond_ports: BTreeMap<String, super::BondPortOptions>,
}

/// Link name → ifindex, as a query found them: a device deleted and made again under the
/// same name gets another index, so a rollback can tell hostnet's device from another
/// tool's that took its name. Not part of the state: two states that differ only here
/// compare equal (plans never use it; a link made again is the same link to them).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LinkIds(pub BTreeMap<String, u32>);

impl PartialEq for LinkIds {
    fn eq(&self, _: &LinkIds) -> bool {
        true
    }
}

impl Eq for LinkIds {}

impl KernelState {
    /// Sorts every list so that two states with the same content compare equal.
    pub fn normalize(&mut self) {
        self.addresses.sort();
        self.addresses.dedup();
        self.routes.sort();
        self.routes.dedup();
        self.rules.sort();
        self.rules.dedup();
        self.opaque_routes.sort();
        self.opaque_rules.sort();
    }
}
