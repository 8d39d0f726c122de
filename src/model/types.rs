//! Serde types of the input schema. Field docs give the YAML key.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::netdev::{Family, MacAddr};

/// The whole input file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Desired {
    /// `interfaces`: devices, nmstate style.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<InterfaceSpec>,
    /// `routes`: `{config: [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routes: Option<RoutesSpec>,
    /// `route-rules`: `{config: [...]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_rules: Option<RulesSpec>,
    /// `networks`: logical networks (hostnet's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkSpec>,
    /// `settings`: defaults for networks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    /// `firewall`: the backend networks' firewall rules use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<crate::firewall::FirewallSettings>,
    /// nmstate's keys the file gives that hostnet accepts and ignores, one line each
    /// (see `nmstate_keys.rs`): not part of the schema, filled by [`super::parse`].
    #[serde(skip)]
    pub ignored: Vec<String>,
}

/// `interfaces[]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InterfaceSpec {
    pub name: String,
    /// `type`: required unless `state: absent`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub iface_type: Option<InterfaceType>,
    /// `state`: up (default), down or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<IfaceState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<MacAddr>,
    /// `description`: the link's alias (IFLA_IFALIAS); `""` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `accept-all-mac-addresses`: the link's own promiscuous flag (IFF_PROMISC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_all_mac_addresses: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<IpSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<IpSpec>,
    /// `bridge`: only with `type: linux-bridge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeSpec>,
    /// `veth`: only with `type: veth`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub veth: Option<VethSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<super::devices::VlanSpec>,
    /// `link-aggregation`: only with `type: bond`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_aggregation: Option<super::devices::LinkAggregationSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vxlan: Option<super::devices::VxlanSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_vlan: Option<super::devices::MacVlanSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_vtap: Option<super::devices::MacVlanSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tap: Option<super::devices::TapSpec>,
    /// `ovs-db`: the interface's row in Open vSwitch (it must be an OVS port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_db: Option<super::devices::OvsDbSpec>,
    /// `patch` (ovs-interface only): an Open vSwitch patch port to its `peer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<super::devices::OvsPatchSpec>,
}

/// Interface types hostnet understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InterfaceType {
    LinuxBridge,
    Veth,
    /// An existing NIC: only state, MTU, MAC and addresses are managed.
    Ethernet,
    /// `lo`: only state, MTU and addresses are managed.
    Loopback,
    Vlan,
    Bond,
    Vxlan,
    MacVlan,
    MacVtap,
    Tap,
    /// An Open vSwitch bridge (`bridge.port` lists its ports).
    OvsBridge,
    /// An Open vSwitch internal port.
    OvsInterface,
}

impl InterfaceType {
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceType::LinuxBridge => "linux-bridge",
            InterfaceType::Veth => "veth",
            InterfaceType::Ethernet => "ethernet",
            InterfaceType::Loopback => "loopback",
            InterfaceType::Vlan => "vlan",
            InterfaceType::Bond => "bond",
            InterfaceType::Vxlan => "vxlan",
            InterfaceType::MacVlan => "mac-vlan",
            InterfaceType::MacVtap => "mac-vtap",
            InterfaceType::Tap => "tap",
            InterfaceType::OvsBridge => "ovs-bridge",
            InterfaceType::OvsInterface => "ovs-interface",
        }
    }
}

/// `state` of an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum IfaceState {
    Up,
    Down,
    Absent,
    /// nmstate's `ignore` (and `unknown`): the interface is left alone, as if the file
    /// did not list it.
    #[serde(alias = "unknown")]
    Ignore,
}

/// `ipv4` / `ipv6` of an interface.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IpSpec {
    /// `enabled: false` removes every address of the family; for IPv6 it also sets
    /// `disable_ipv6` (and `true` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `address`: the complete list of addresses of the family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Vec<AddressSpec>>,
    /// `dhcp`: not handled by this version; must be absent or false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<bool>,
    /// `autoconf` (IPv6): the interface's `net.ipv6.conf.IF.autoconf` (SLAAC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoconf: Option<bool>,
}

/// `address[]`: `{ip, prefix-length}`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AddressSpec {
    pub ip: IpAddr,
    pub prefix_length: u8,
}

/// `bridge`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BridgeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BridgeOptionsSpec>,
    /// `port`: the complete list of ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Vec<PortSpec>>,
}

/// `bridge.options`: nmstate's keys (see `model/bridge.rs` for units and ranges).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BridgeOptionsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stp: Option<StpSpec>,
    /// `datapath` (ovs-bridge only): `netdev` for the userspace datapath.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datapath: Option<String>,
    /// ovs-bridge only: Rapid Spanning Tree (Bridge.rstp_enable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rstp: Option<bool>,
    /// ovs-bridge only: multicast snooping (Bridge.mcast_snooping_enable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcast_snooping_enable: Option<bool>,
    /// ovs-bridge only: `standalone` or `secure` (`""` clears it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_mode: Option<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_ageing_time: Option<u32>,
    /// `group-forward-mask` (nmstate also reads `group-fwd-mask`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_forward_mask: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_addr: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_max: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_snooping: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_router: Option<super::bridge::McastRouter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_querier: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_query_use_ifaddr: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_last_member_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_startup_query_count: Option<u32>,
    /// Centiseconds, as every multicast interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_last_member_interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_membership_interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_querier_interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_query_interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_query_response_interval: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multicast_startup_query_interval: Option<u64>,
    /// `802.1q` or `802.1ad`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_default_pvid: Option<u32>,
}

/// `bridge.options.stp`. Timers in seconds.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StpSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_delay: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hello_time: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// `bridge.port[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PortSpec {
    pub name: String,
    /// `vlan`: the port's VLANs (nmstate's access and trunk modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<super::devices::PortVlanSpec>,
    /// `link-aggregation` (ovs-bridge ports only): the port is an OVS bond of `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_aggregation: Option<super::devices::OvsBondSpec>,
    /// Linux bridge ports: hairpin mode (IFLA_BRPORT_MODE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stp_hairpin_mode: Option<bool>,
    /// Linux bridge ports: STP path cost, 1-65535 (pinned once set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stp_path_cost: Option<u32>,
    /// Linux bridge ports: STP port priority, 0-63.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stp_priority: Option<u32>,
}

/// `veth`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VethSpec {
    pub peer: String,
}

/// `routes`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RoutesSpec {
    #[serde(default)]
    pub config: Vec<RouteSpec>,
}

/// `state: absent` on a route or rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    Absent,
    /// nmstate's `ignore`: the entry is left out, as if the file did not list it.
    Ignore,
}

/// `routes.config[]`. With `state: absent`, unset fields match anything.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RouteSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Prefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_interface: Option<String>,
    /// Default: 254 (main).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EntryState>,
    /// `route-type`: `blackhole`, `unreachable`, `prohibit` (no next hop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_type: Option<crate::netdev::RouteKind>,
    /// `weight` (1-256): entries of one table, destination and metric with a weight
    /// each are one multipath route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// `source`: the preferred source address (RTA_PREFSRC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
    /// Route metrics (RTA_METRICS); `cwnd` is locked, as nmstate does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_mtu: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwnd: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initcwnd: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrwnd: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quickack: Option<bool>,
    /// `onlink` (hostnet's, not nmstate's): the gateway is on the link whatever the
    /// addresses say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onlink: Option<bool>,
}

/// `route-rules`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesSpec {
    #[serde(default)]
    pub config: Vec<RuleSpec>,
}

/// `route-rules.config[]`. With `state: absent`, unset fields match anything.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_from: Option<Prefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_to: Option<Prefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<HexU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<HexU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EntryState>,
    /// `action`: what a matching packet gets instead of a table lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RuleActionSpec>,
    /// `suppress-prefix-length`: a lookup's result with a prefix this long or shorter
    /// is refused (nmstate also reads `suppress_prefixlength`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefix_length: Option<u32>,
    /// `oif` (hostnet's, not nmstate's): the output interface (sockets bound to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
}

/// `route-rules.config[].action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleActionSpec {
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RuleActionSpec {
    pub fn action(self) -> crate::netdev::RuleAction {
        use crate::netdev::RuleAction as A;
        match self {
            RuleActionSpec::Blackhole => A::Blackhole,
            RuleActionSpec::Unreachable => A::Unreachable,
            RuleActionSpec::Prohibit => A::Prohibit,
        }
    }

    pub fn of(a: crate::netdev::RuleAction) -> Option<RuleActionSpec> {
        use crate::netdev::RuleAction as A;
        match a {
            A::Blackhole => Some(RuleActionSpec::Blackhole),
            A::Unreachable => Some(RuleActionSpec::Unreachable),
            A::Prohibit => Some(RuleActionSpec::Prohibit),
            _ => None,
        }
    }
}

/// `networks[]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetworkSpec {
    /// `[a-z0-9-]+`; names the bridge unless `bridge` is given.
    pub name: String,
    /// `state`: present (default) or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<NetworkState>,
    /// `uplink`: the device enslaved to the bridge (or carrying the addresses when not
    /// bridged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// `bridged`: default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridged: Option<bool>,
    /// `bridge`: the bridge's name, default the network's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// `vlan`: the uplink carries the network tagged with this id, through a VLAN device
    /// `UPLINK.ID` that hostnet creates (nova's ensure_vlan_bridge).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<NetworkIp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<NetworkIp>,
    /// `default-route`: this network's gateway is also the host's default route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_route: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_routing: Option<SourceRoutingSpec>,
    /// `firewall`: NAT, isolation, floating IPs, port forwards, metadata redirect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firewall: Option<crate::firewall::NetworkFirewallSpec>,
    /// `dhcp-server`: DHCP (and DNS for its hosts) for the guests on the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp_server: Option<super::dhcp_server::DhcpServerSpec>,
}

/// `networks[].state`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkState {
    Present,
    Absent,
}

/// `networks[].ipv4` / `ipv6`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetworkIp {
    /// Static addresses in CIDR notation (`192.0.2.10/24`).
    #[serde(default)]
    #[schemars(schema_with = "super::schema::cidr_list")]
    pub address: Vec<IpNet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
    /// Not handled by this version; must be absent or false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dhcp: Option<bool>,
}

/// `networks[].source-routing`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceRoutingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// `settings`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_routing: Option<SourceRoutingSettings>,
}

/// `settings.source-routing`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SourceRoutingSettings {
    /// `[first, last]` table ids derived ids are taken from (default `[1000, 9999]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_range: Option<[u32; 2]>,
    /// Rule priority for networks that do not set one (default 3200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
}

/// A prefix that may be written with or without `/len` (a bare address is a host
/// prefix), as nmstate accepts for `ip-from`/`ip-to`/`destination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix(pub IpNet);

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('/') {
            s.parse::<IpNet>()
                .map(Prefix)
                .map_err(|_| format!("{s:?} is not an address prefix (expected ADDRESS/LENGTH)"))
        } else {
            s.parse::<IpAddr>()
                .map(|a| Prefix(IpNet::from(a)))
                .map_err(|_| format!("{s:?} is not an IP address or prefix"))
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A u32 written as a number or as a `0x…` string (nmstate accepts both for fwmark).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HexU32(pub u32);

impl Serialize for HexU32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

impl<'de> Deserialize<'de> for HexU32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HexU32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-bit number or a 0x-prefixed hex string")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HexU32, E> {
                u32::try_from(v)
                    .map(HexU32)
                    .map_err(|_| E::custom(format!("{v} does not fit in 32 bits")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HexU32, E> {
                u32::try_from(v)
                    .map(HexU32)
                    .map_err(|_| E::custom(format!("{v} is not a 32-bit unsigned number")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HexU32, E> {
                let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => v.parse::<u32>(),
                };
                parsed
                    .map(HexU32)
                    .map_err(|_| E::custom(format!("{v:?} is not a 32-bit number")))
            }
        }
        d.deserialize_any(V)
    }
}
