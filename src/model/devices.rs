//! Serde types of the device kinds beyond bridges and veths, nmstate's keys where
//! nmstate has them (`vlan`, `link-aggregation`, `vxlan`, `mac-vlan`, `mac-vtap`) and
//! hostnet's own for `tap`, which nmstate cannot create. Numbers are parsed wide and
//! ranges checked by validation, so that an out-of-range id names its field.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// `vlan`: only with `type: vlan`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VlanSpec {
    pub base_iface: String,
    /// 1..=4094.
    pub id: u32,
    /// `802.1q` (default) or `802.1ad`; fixed once the VLAN exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Default true, as the kernel's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reorder_headers: Option<bool>,
    /// The VLAN stays up when its base goes down. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loose_binding: Option<bool>,
    /// `none` (default), `gvrp` or `mvrp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_protocol: Option<String>,
}

/// `link-aggregation`: only with `type: bond`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct LinkAggregationSpec {
    /// `balance-rr`, `active-backup`, `balance-xor`, `broadcast`, `802.3ad`,
    /// `balance-tlb`, `balance-alb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<BondOptionsSpec>,
    /// `port`: the complete list of ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Vec<String>>,
    /// `ports-config`: settings of ports in the bond (a port not listed keeps its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports_config: Option<Vec<BondPortSpec>>,
}

/// `link-aggregation.ports-config[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BondPortSpec {
    pub name: String,
    /// IFLA_BOND_SLAVE_PRIO (active-backup, balance-tlb, balance-alb; Linux 6.0+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    /// IFLA_BOND_SLAVE_QUEUE_ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_id: Option<u16>,
}

/// `link-aggregation.options`, by nmstate's (and sysfs') names. Absent options take
/// the kernel's defaults.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BondOptionsSpec {
    /// MII monitoring interval in ms (default 0: off, as the kernel's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub miimon: Option<u32>,
    /// ms before a port that came up is used: a multiple of miimon (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updelay: Option<u32>,
    /// ms before a port that went down is dropped: a multiple of miimon (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downdelay: Option<u32>,
    /// 802.3ad: `slow` (default) or `fast`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp_rate: Option<String>,
    /// `layer2` (default), `layer3+4`, `layer2+3`, `encap2+3`, `encap3+4`, `vlan+srcmac`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xmit_hash_policy: Option<String>,
    /// `stable` (default), `bandwidth`, `count`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_select: Option<String>,
    /// Default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_links: Option<u32>,
    /// `dropped` (default) or `delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_slaves_active: Option<String>,
    /// `always` (default), `better`, `failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_reselect: Option<String>,
    /// The port preferred as active (active-backup, balance-tlb, balance-alb).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// `none` (default), `active`, `follow`; fixed while the bond has ports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_over_mac: Option<String>,
    /// 0..=255, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_grat_arp: Option<u32>,
    /// The same kernel setting as `num_grat_arp` (IFLA_BOND_NUM_PEER_NOTIF), nmstate's
    /// name for IPv6; both with different values are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_unsol_na: Option<u32>,
    /// 0..=255, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resend_igmp: Option<u32>,
    /// 802.3ad: 1..=65535, default 65535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_actor_sys_prio: Option<u32>,
    /// 802.3ad: 0..=1023, default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_user_port_key: Option<u32>,
    /// MII monitoring reads the carrier (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub use_carrier: Option<bool>,
    /// Seconds between learning packets to switches: 1..=2147483647, default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lp_interval: Option<u32>,
    /// balance-rr: packets per port before the next, 0..=65535 (0: random), default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets_per_slave: Option<u32>,
    /// balance-tlb/balance-alb: shuffle flows by load (default true); fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tlb_dynamic_lb: Option<bool>,
    /// 802.3ad: send LACPDUs periodically (default true); fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lacp_active: Option<bool>,
    /// 802.3ad: the actor's system MAC, unicast (default 00:00:00:00:00:00: the bond's
    /// own); fixed at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_actor_system: Option<String>,
    /// ARP monitoring interval in ms (default 0: off); not with miimon, not in
    /// 802.3ad/balance-tlb/balance-alb.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arp_interval: Option<u32>,
    /// IPv4 addresses, comma-separated (at most 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arp_ip_target: Option<String>,
    /// `none` (default), `active`, `backup`, `all`, `filter`, `filter_active`,
    /// `filter_backup`; not with miimon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arp_validate: Option<String>,
    /// `any` (default) or `all`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arp_all_targets: Option<String>,
    /// 1..=255, default 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arp_missed_max: Option<u32>,
    /// IPv6 addresses, comma-separated (at most 16).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ns_ip6_target: Option<String>,
}

/// `vxlan`: only with `type: vxlan`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VxlanSpec {
    /// The VNI, 0..=16777215.
    pub id: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_iface: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    /// Left out: an existing tunnel's port, 8472 for a new one (NetworkManager's, so an
    /// nmstate file's, and the kernel's default; IANA's is 4789).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u32>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning: Option<bool>,
}

/// `mac-vlan` / `mac-vtap`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MacVlanSpec {
    pub base_iface: String,
    /// `vepa` (the kernel's default), `bridge`, `private`, `passthru`, `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// Default true; false sets MACVLAN_FLAG_NOPROMISC (passthru then leaves the base
    /// out of promiscuous mode). nmstate also spells it `accept-all-mac`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promiscuous: Option<bool>,
}

/// `ipvlan`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IpVlanSpec {
    pub base_iface: String,
    /// `l2`, `l3` (the kernel's default) or `l3s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// IPVLAN_F_PRIVATE: no traffic between the base's IPVLANs. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<bool>,
    /// IPVLAN_F_VEPA: traffic between them goes out through the base. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vepa: Option<bool>,
}

/// `bridge.port[].vlan`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PortVlanSpec {
    /// `access` or `trunk` (ovs-bridge ports: `access` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// 1..=4094: an access port's VLAN, a trunk's native VLAN. `vlan: {}` (no mode, no
    /// tag) takes the port's VLANs back to the default (its tag on OVS); a port listed
    /// without `vlan` keeps the VLANs it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<u32>,
    /// Trunk: `tag` also carried untagged (and given to untagged frames coming in).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_native: Option<bool>,
    /// Trunk: the VLANs carried tagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trunk_tags: Option<Vec<TrunkTagSpec>>,
}

/// `trunk-tags[]`: `{id}` or `{id-range: {min, max}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TrunkTagSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_range: Option<IdRangeSpec>,
}

/// `id-range`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct IdRangeSpec {
    pub min: u32,
    pub max: u32,
}

/// `ovs-db`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OvsDbSpec {
    /// Interface.external_ids, complete (`iface-id`, `attached-mac`, `vm-uuid`, …); not
    /// given: kept as it is.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::ovs_db_value::complete_map"
    )]
    #[schemars(
        with = "Option<std::collections::BTreeMap<String, super::ovs_db_value::OvsDbValue>>"
    )]
    pub external_ids: Option<std::collections::BTreeMap<String, String>>,
    /// Interface.other_config, complete; not given: kept as it is.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::ovs_db_value::complete_map"
    )]
    #[schemars(
        with = "Option<std::collections::BTreeMap<String, super::ovs_db_value::OvsDbValue>>"
    )]
    pub other_config: Option<std::collections::BTreeMap<String, String>>,
}

/// `link-aggregation` of an ovs-bridge port: an OVS bond (Port.bond_mode, lacp,
/// bond_updelay, bond_downdelay; one Interface row per member).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OvsBondSpec {
    /// `active-backup`, `balance-slb`, `balance-tcp` or `lacp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// The member devices, at least two (the complete list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Vec<OvsBondPortSpec>>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_updelay: Option<u32>,
    /// Milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_downdelay: Option<u32>,
    /// `ovs-db`: the bond's Port row (external_ids, other_config), each map complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ovs_db: Option<OvsDbSpec>,
}

/// `link-aggregation.port[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OvsBondPortSpec {
    pub name: String,
}

/// `patch` of an `ovs-interface`: Interface.type patch, options:peer.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OvsPatchSpec {
    /// The patch port on the other bridge.
    pub peer: String,
}

/// `tap`: only with `type: tap`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TapSpec {
    /// Numeric uid allowed to attach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<u32>,
    /// Numeric gid allowed to attach.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<u32>,
    /// Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_queue: Option<bool>,
    /// Must be true (the default): hostnet exits after applying, and a tap that is not
    /// persistent goes with the file descriptor that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistent: Option<bool>,
}

/// nmstate's `registration-protocol` of a VLAN's GVRP/MVRP flags (GVRP when both are
/// set, which nmstate cannot say).
fn registration_protocol(v: &crate::netdev::VlanOptions) -> &'static str {
    match (v.gvrp, v.mvrp) {
        (true, _) => "gvrp",
        (false, true) => "mvrp",
        (false, false) => "none",
    }
}

/// For `show`: the interface type and settings section of a kernel device of the kinds
/// here, written into `iface`; `None` for other kinds.
pub fn show_kind(
    kind: &crate::netdev::LinkKind,
    iface: &mut super::InterfaceSpec,
) -> Option<super::InterfaceType> {
    use super::InterfaceType as T;
    use crate::netdev::LinkKind as K;
    let mac_vlan = |m: &crate::netdev::MacVlanOptions| {
        m.base.as_ref().map(|b| MacVlanSpec {
            base_iface: b.clone(),
            mode: Some(m.mode.as_str().to_string()),
            promiscuous: Some(m.promiscuous),
        })
    };
    Some(match kind {
        K::Vlan(v) => {
            iface.vlan = v.base.as_ref().map(|b| VlanSpec {
                base_iface: b.clone(),
                id: u32::from(v.id),
                protocol: Some(v.protocol.as_str().to_string()),
                reorder_headers: Some(v.reorder_headers),
                loose_binding: Some(v.loose_binding),
                registration_protocol: Some(registration_protocol(v).to_string()),
            });
            T::Vlan
        }
        K::Bond(b) => {
            iface.link_aggregation = Some(LinkAggregationSpec {
                mode: Some(b.mode.as_str().to_string()),
                options: Some(super::bond_options::show(b)),
                port: None,
                ports_config: None,
            });
            T::Bond
        }
        K::Vxlan(v) => {
            iface.vxlan = Some(VxlanSpec {
                id: v.id,
                base_iface: v.base.clone(),
                remote: v.remote,
                local: v.local,
                destination_port: Some(u32::from(v.dst_port)),
                learning: Some(v.learning),
            });
            T::Vxlan
        }
        K::MacVlan(m) => {
            iface.mac_vlan = mac_vlan(m);
            T::MacVlan
        }
        K::MacVtap(m) => {
            iface.mac_vtap = mac_vlan(m);
            T::MacVtap
        }
        K::IpVlan(m) => {
            iface.ipvlan = m.base.as_ref().map(|b| IpVlanSpec {
                base_iface: b.clone(),
                mode: Some(m.mode.as_str().to_string()),
                private: Some(m.private),
                vepa: Some(m.vepa),
            });
            T::IpVlan
        }
        K::Vrf { .. } => {
            iface.vrf = super::vrf::show(kind);
            T::Vrf
        }
        K::Tap(t) => {
            iface.tap = Some(TapSpec {
                owner: t.owner,
                group: t.group,
                multi_queue: Some(t.multi_queue),
                persistent: Some(t.persistent),
            });
            T::Tap
        }
        _ => return None,
    })
}

/// The VLAN device a network with `vlan: ID` puts on its uplink: a naming rule the
/// validation checks names against and the expansion creates.
pub fn vlan_device(uplink: &str, id: u32) -> String {
    format!("{uplink}.{id}")
}
