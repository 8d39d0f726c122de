//! Serde types of the input schema. Field docs give the YAML key.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::netdev::MacAddr;

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
    /// `ovs-db`: the Open_vSwitch row's maps (nmstate's global OVSDB settings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_db: Option<super::ovs_global::OvsGlobalDbSpec>,
    /// `ovn`: `bridge-mappings` (OVN's localnet to bridge mappings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovn: Option<super::ovs_global::OvnSpec>,
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
    /// `controller`: the bridge or bond this interface is a port of (IFLA_MASTER); `""`
    /// takes it out of the one it is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
    /// `copy-mac-from`: take the MAC address of this other interface (resolved at plan time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_mac_from: Option<String>,
    /// `alt-names`: alternative names to add, or with `state: absent` to remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alt_names: Option<Vec<super::AltNameSpec>>,
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
    /// `ipvlan`: only with `type: ipvlan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvlan: Option<super::devices::IpVlanSpec>,
    /// `vrf`: only with `type: vrf`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf: Option<super::vrf::VrfSpec>,
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
    /// A dummy device.
    Dummy,
    /// An IPVLAN device on `ipvlan.base-iface`.
    #[serde(rename = "ipvlan")]
    IpVlan,
    /// A VRF device: its ports' routes go to its table.
    Vrf,
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
            InterfaceType::Dummy => "dummy",
            InterfaceType::IpVlan => "ipvlan",
            InterfaceType::Vrf => "vrf",
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
    /// `addr-gen-mode` (IPv6): how the interface identifier of SLAAC and link-local
    /// addresses is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr_gen_mode: Option<AddrGenMode>,
    /// `token` (IPv6): the interface identifier SLAAC uses (the lower 64 bits; `::`
    /// removes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<std::net::Ipv6Addr>,
}

/// `ipv6.addr-gen-mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AddrGenMode {
    /// From the MAC address (IN6_ADDR_GEN_MODE_EUI64).
    #[serde(alias = "EUI64")]
    Eui64,
    /// RFC 7217, from `stable_secret` (IN6_ADDR_GEN_MODE_STABLE_PRIVACY).
    #[serde(alias = "STABLE-PRIVACY")]
    StablePrivacy,
}

impl AddrGenMode {
    /// The kernel's IN6_ADDR_GEN_MODE_* value.
    pub fn kernel(self) -> u8 {
        match self {
            AddrGenMode::Eui64 => crate::netdev::inet6::EUI64,
            AddrGenMode::StablePrivacy => crate::netdev::inet6::STABLE_PRIVACY,
        }
    }
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
    /// `allow-extra-ports` (linux-bridge): ports the `port` list does not name are kept
    /// in the bridge (guests' taps that libvirt plugs), not released.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_extra_ports: Option<bool>,
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
    /// `vlan-aware`: with `vlan`, the network is that VLAN of its bridge instead, a
    /// VLAN-aware bridge that other networks may share (Proxmox's and oVirt's layout):
    /// the uplink is a trunk port carrying the VLAN, and the addresses sit on the VLAN
    /// device `BRIDGE.ID` over the bridge. Default false (a bridge per VLAN).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan_aware: Option<bool>,
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

pub use super::routing_types::*;
