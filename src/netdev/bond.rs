//! A bond's options, as the kernel's values (IFLA_BOND_*), with nmstate's names for the
//! enumerated ones. Absent keys of a file take the kernel's defaults, so that a listed
//! bond is described completely, like every other device.

use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use super::BondMode;

/// A bond; its ports are the links whose controller it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BondOptions {
    pub mode: BondMode,
    /// MII link monitoring interval in ms (0: off).
    pub miimon: u32,
    /// Delays in ms, multiples of `miimon` (the kernel keeps them in MII intervals).
    pub updelay: u32,
    pub downdelay: u32,
    /// Index into [`LACP_RATE`]; 802.3ad only.
    pub lacp_rate: u8,
    /// Index into [`XMIT_HASH_POLICY`].
    pub xmit_hash_policy: u8,
    /// Index into [`AD_SELECT`].
    pub ad_select: u8,
    pub min_links: u32,
    /// Index into [`ALL_SLAVES_ACTIVE`].
    pub all_slaves_active: u8,
    /// Index into [`PRIMARY_RESELECT`].
    pub primary_reselect: u8,
    /// Index into [`FAIL_OVER_MAC`].
    pub fail_over_mac: u8,
    /// Gratuitous ARPs / unsolicited NAs after a failover (IFLA_BOND_NUM_PEER_NOTIF).
    pub num_grat_arp: u8,
    pub resend_igmp: u32,
    /// 802.3ad only.
    pub ad_actor_sys_prio: u16,
    /// 802.3ad only.
    pub ad_user_port_key: u16,
    /// The port preferred as active (active-backup, balance-tlb, balance-alb). The kernel
    /// reports it only while that port is in the bond.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<String>,
    /// MII monitoring reads the carrier (not MII/ethtool ioctls).
    #[serde(default = "yes")]
    pub use_carrier: bool,
    /// Seconds between learning packets to peer switches (1..=INT_MAX).
    #[serde(default = "one")]
    pub lp_interval: u32,
    /// balance-rr only: packets sent through a port before the next (0: a random one).
    #[serde(default = "one")]
    pub packets_per_slave: u32,
    /// balance-tlb/alb only; taken only while the bond is down.
    #[serde(default = "yes")]
    pub tlb_dynamic_lb: bool,
    /// 802.3ad only: send LACPDUs periodically; taken only while the bond is down.
    #[serde(default = "yes")]
    pub lacp_active: bool,
    /// 802.3ad only: the actor's system MAC (zero: the bond's own); taken only while the
    /// bond is down.
    #[serde(default)]
    pub ad_actor_system: [u8; 6],
    /// ARP monitoring interval in ms (0: off); not with `miimon`, not in
    /// 802.3ad/balance-tlb/balance-alb.
    #[serde(default)]
    pub arp_interval: u32,
    /// At most 16, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arp_ip_target: Vec<Ipv4Addr>,
    /// Index into [`ARP_VALIDATE`]; not with `miimon`.
    #[serde(default)]
    pub arp_validate: u8,
    /// Index into [`ARP_ALL_TARGETS`].
    #[serde(default)]
    pub arp_all_targets: u8,
    /// ARP intervals missed before a port is down (1..=255).
    #[serde(default = "two")]
    pub arp_missed_max: u8,
    /// IPv6 neighbour solicitation targets of the same monitor; at most 16, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ns_ip6_target: Vec<Ipv6Addr>,
}

fn two() -> u8 {
    2
}

/// Serde defaults of options added after bonds were first persisted: the kernel's.
fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

pub const LACP_RATE: &[&str] = &["slow", "fast"];
pub const XMIT_HASH_POLICY: &[&str] = &[
    "layer2",
    "layer3+4",
    "layer2+3",
    "encap2+3",
    "encap3+4",
    "vlan+srcmac",
];
pub const AD_SELECT: &[&str] = &["stable", "bandwidth", "count"];
pub const ALL_SLAVES_ACTIVE: &[&str] = &["dropped", "delivered"];
pub const PRIMARY_RESELECT: &[&str] = &["always", "better", "failure"];
pub const FAIL_OVER_MAC: &[&str] = &["none", "active", "follow"];
pub const ARP_VALIDATE: &[&str] = &[
    "none",
    "active",
    "backup",
    "all",
    "filter",
    "filter_active",
    "filter_backup",
];
pub const ARP_ALL_TARGETS: &[&str] = &["any", "all"];
/// The kernel's limit of ARP and of NS targets (BOND_MAX_ARP_TARGETS, BOND_MAX_NS_TARGETS).
pub const MAX_TARGETS: usize = 16;

/// The kernel's value of `name` in `table`, which may also be given as that number
/// (`"2"`, as the bonding sysfs and nmstate take it); an error listing the names
/// otherwise.
pub fn bond_value(table: &[&str], name: &str) -> Result<u8, String> {
    let last = table.len().saturating_sub(1);
    if let Ok(n) = name.trim().parse::<i64>() {
        return usize::try_from(n)
            .ok()
            .filter(|n| *n <= last)
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| format!("{n} is out of range (0-{last}: {})", table.join(", ")));
    }
    table
        .iter()
        .position(|n| *n == name)
        .and_then(|i| u8::try_from(i).ok())
        .ok_or_else(|| format!("unknown value {name:?} (one of {})", table.join(", ")))
}

/// The name of kernel value `v` in `table` (the number when the table has no name).
pub fn bond_name(table: &[&str], v: u8) -> String {
    table
        .get(usize::from(v))
        .map(|s| s.to_string())
        .unwrap_or_else(|| v.to_string())
}

impl BondOptions {
    /// A bond with the kernel's defaults but for its mode and MII interval.
    pub fn new(mode: BondMode, miimon: u32) -> Self {
        BondOptions {
            mode,
            miimon,
            updelay: 0,
            downdelay: 0,
            lacp_rate: 0,
            xmit_hash_policy: 0,
            ad_select: 0,
            min_links: 0,
            all_slaves_active: 0,
            primary_reselect: 0,
            fail_over_mac: 0,
            num_grat_arp: 1,
            resend_igmp: 1,
            ad_actor_sys_prio: 65535,
            ad_user_port_key: 0,
            primary: None,
            use_carrier: true,
            lp_interval: 1,
            packets_per_slave: 1,
            tlb_dynamic_lb: true,
            lacp_active: true,
            ad_actor_system: [0; 6],
            arp_interval: 0,
            arp_ip_target: Vec::new(),
            arp_validate: 0,
            arp_all_targets: 0,
            arp_missed_max: 2,
            ns_ip6_target: Vec::new(),
        }
    }

    /// Whether the mode has a primary port (and port priorities): the kernel refuses
    /// `primary` and a port's `prio` in the others.
    pub fn has_primary(&self) -> bool {
        matches!(
            self.mode,
            BondMode::ActiveBackup | BondMode::BalanceTlb | BondMode::BalanceAlb
        )
    }

    /// Whether the mode has the ARP/NS monitor (the kernel refuses `arp_interval`,
    /// `arp_validate` and `arp_missed_max` in 802.3ad, balance-tlb and balance-alb).
    pub fn has_arp_monitor(&self) -> bool {
        !matches!(
            self.mode,
            BondMode::Lacp | BondMode::BalanceTlb | BondMode::BalanceAlb
        )
    }

    /// The options the kernel takes only while the bond is down (lacp_rate, ad_select,
    /// lacp_active, ad_user_port_key, tlb_dynamic_lb) or without ports
    /// (fail_over_mac): hostnet fixes them at creation, like the mode. The 802.3ad
    /// actor's `ad_actor_sys_prio` and `ad_actor_system` are not among them: Debian's
    /// 6.1 takes both on an up 802.3ad bond with ports (measured, VM tier).
    pub fn fixed(&self) -> (BondMode, u8, u8, u16, u8, (bool, bool)) {
        (
            self.mode,
            self.lacp_rate,
            self.ad_select,
            self.ad_user_port_key,
            self.fail_over_mac,
            (self.lacp_active, self.tlb_dynamic_lb),
        )
    }
}
