//! Platform-neutral kernel objects: what a driver reports from a query and what the
//! planner asks it to create or remove.
//!
//! Objects are identified by interface *name*, never by ifindex: ifindexes are a
//! driver detail (they change when a device is re-created), names are what the user
//! writes. Every type here is plain data with a total order so that plans and dumps
//! are deterministic.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

pub use super::route_types::{
    Family, NextHop, Route, RouteAttrs, RouteKind, RouteMetrics, RouteScope, Rule, RuleAction,
    LOCK_CWND, LOCK_MTU,
};

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
    /// A dummy device (no settings of its own).
    Dummy,
    /// An IPVLAN device (nmstate's `ipvlan`).
    IpVlan(super::IpVlanOptions),
    /// A VRF device (nmstate's `vrf`): its ports' routes go to `table` (IFLA_VRF_TABLE,
    /// fixed at creation: the kernel has no changelink for it).
    Vrf {
        table: u32,
    },
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
            LinkKind::Dummy => "dummy",
            LinkKind::IpVlan(_) => "ipvlan",
            LinkKind::Vrf { .. } => "vrf",
            LinkKind::Other(k) => k,
        }
    }

    /// Devices that sit on a lower device (created after it, MTU set after it).
    pub fn base(&self) -> Option<&str> {
        match self {
            LinkKind::Vlan(o) => o.base.as_deref(),
            LinkKind::Vxlan(o) => o.base.as_deref(),
            LinkKind::MacVlan(o) | LinkKind::MacVtap(o) => o.base.as_deref(),
            LinkKind::IpVlan(o) => o.base.as_deref(),
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
            LinkKind::Vlan(_)
                | LinkKind::Vxlan(_)
                | LinkKind::MacVlan(_)
                | LinkKind::MacVtap(_)
                | LinkKind::IpVlan(_)
        )
    }

    /// Kinds other links can be ports of.
    pub fn is_controller(&self) -> bool {
        matches!(
            self,
            LinkKind::Bridge(_) | LinkKind::Bond(_) | LinkKind::Vrf { .. }
        )
    }

    /// Kinds hostnet can create (a veth only with its peer's name).
    pub fn creatable(&self) -> bool {
        match self {
            LinkKind::Bridge(_)
            | LinkKind::Bond(_)
            | LinkKind::Vxlan(_)
            | LinkKind::Dummy
            | LinkKind::Veth { peer: Some(_) } => true,
            // Table 0 is refused by the kernel (RT_TABLE_UNSPEC).
            LinkKind::Vrf { table } => *table != 0,
            LinkKind::Vlan(_)
            | LinkKind::MacVlan(_)
            | LinkKind::MacVtap(_)
            | LinkKind::IpVlan(_) => self.base().is_some(),
            // A transient tap belongs to the process holding it (a VMM, ovs-vswitchd).
            LinkKind::Tap(t) => t.persistent,
            _ => false,
        }
    }

    /// Whether a link of this kind can take `want`'s settings without being re-created:
    /// a bond's options but its mode and those that need it down or empty
    /// ([`super::BondOptions::fixed`]), a MACVLAN's or
    /// MACVTAP's mode on the same base (except to or from passthru) and its flags, a
    /// VLAN's flags (its base, id and protocol are fixed at creation), an IPVLAN's mode
    /// and flags on the same base.
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
            (LinkKind::IpVlan(a), LinkKind::IpVlan(b)) => a.base == b.base,
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

#[cfg(test)]
impl Link {
    /// An up link with a 1500-byte MTU and no MAC address known: the tests' usual one.
    pub(crate) fn up(name: &str, kind: LinkKind, controller: Option<&str>) -> Link {
        Link {
            name: name.into(),
            kind,
            up: true,
            mtu: 1500,
            mac: None,
            controller: controller.map(Into::into),
        }
    }
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

/// A link's IPv6 switches (`net.ipv6.conf.IF.disable_ipv6` and `.autoconf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ipv6Switches {
    pub disabled: bool,
    pub autoconf: bool,
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
    /// Links whose IPv6 SLAAC is off (`net.ipv6.conf.IF.autoconf=0`). Both sets are
    /// decoded from the link dump's IPv6 devconf: the one place a link's IPv6 switches
    /// are kept.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub ipv6_no_autoconf: BTreeSet<String>,
    /// The switches a new link starts with (`net.ipv6.conf.default.*`); `None`: the host
    /// has no IPv6 (or they were not read), and a plan sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_default: Option<Ipv6Switches>,
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
    /// Each link's alternative names (IFLA_PROP_LIST{IFLA_ALT_IFNAME}, nmstate's
    /// `alt-names`), by name; links without one are absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alt_names: BTreeMap<String, BTreeSet<String>>,
    /// Links whose user-set IFF_PROMISC flag is on (nmstate's `accept-all-mac-addresses`;
    /// not the promiscuity bridges and MACVLANs add, which the kernel does not report).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub promisc: BTreeSet<String>,
    /// The settings of each bond port in its bond, by port name (as `bridge_ports`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bond_ports: BTreeMap<String, super::BondPortOptions>,
    /// Each link's IPv6 address generation mode and token, by name (links without IPv6
    /// state are absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inet6: BTreeMap<String, super::inet6::Inet6Link>,
    /// `net.ipv6.conf.default.stable_secret` is set (only whether: never its value), which
    /// the kernel wants for `stable-privacy`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stable_secret: bool,
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
    /// The link that has `name` as its name or as one of its alternative names (the
    /// kernel keeps both in one namespace of names).
    pub fn named(&self, name: &str) -> Option<&str> {
        if let Some((n, _)) = self.links.get_key_value(name) {
            return Some(n);
        }
        self.alt_names
            .iter()
            .find(|(_, alts)| alts.contains(name))
            .map(|(n, _)| n.as_str())
    }

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

    /// `name`'s IPv6 switches (`None`: the host has no IPv6, or they were not read).
    pub fn ipv6_switches(&self, name: &str) -> Option<Ipv6Switches> {
        self.ipv6_default?;
        Some(Ipv6Switches {
            disabled: self.ipv6_disabled.contains(name),
            autoconf: !self.ipv6_no_autoconf.contains(name),
        })
    }
}
