//! A bond's IFLA_INFO_DATA: IFLA_BOND_* decoded from dumps, and the options sent when a
//! bond is created or changed in place.

use std::collections::HashMap;
use std::net::IpAddr;

use netlink_packet_route::link::{
    BondAdSelect, BondAllPortActive, BondArpAllTargets, BondArpValidate, BondFailOverMac,
    BondLacpRate, BondMode as NlBondMode, BondPrimaryReselect, BondXmitHashPolicy, InfoBond,
};

use super::super::wire;
use super::{attr, u32_attr, u8_attr};
use crate::netdev::{BondMode, BondOptions};

const IFLA_BOND_MODE: u16 = 1;
const IFLA_BOND_MIIMON: u16 = 3;
const IFLA_BOND_PRIMARY: u16 = 11;
const IFLA_BOND_UPDELAY: u16 = 4;
const IFLA_BOND_DOWNDELAY: u16 = 5;
const IFLA_BOND_PRIMARY_RESELECT: u16 = 12;
const IFLA_BOND_FAIL_OVER_MAC: u16 = 13;
const IFLA_BOND_XMIT_HASH_POLICY: u16 = 14;
const IFLA_BOND_RESEND_IGMP: u16 = 15;
const IFLA_BOND_NUM_PEER_NOTIF: u16 = 16;
const IFLA_BOND_ALL_PORTS_ACTIVE: u16 = 17;
const IFLA_BOND_MIN_LINKS: u16 = 18;
const IFLA_BOND_AD_LACP_RATE: u16 = 21;
const IFLA_BOND_AD_SELECT: u16 = 22;
const IFLA_BOND_AD_ACTOR_SYS_PRIO: u16 = 24;
const IFLA_BOND_AD_USER_PORT_KEY: u16 = 25;
const IFLA_BOND_USE_CARRIER: u16 = 6;
const IFLA_BOND_ARP_INTERVAL: u16 = 7;
const IFLA_BOND_ARP_IP_TARGET: u16 = 8;
const IFLA_BOND_ARP_VALIDATE: u16 = 9;
const IFLA_BOND_ARP_ALL_TARGETS: u16 = 10;
const IFLA_BOND_MISSED_MAX: u16 = 30;
const IFLA_BOND_NS_IP6_TARGET: u16 = 31;
const IFLA_BOND_LP_INTERVAL: u16 = 19;
const IFLA_BOND_PACKETS_PER_SLAVE: u16 = 20;
const IFLA_BOND_AD_ACTOR_SYSTEM: u16 = 26;
const IFLA_BOND_TLB_DYNAMIC_LB: u16 = 27;
const IFLA_BOND_AD_LACP_ACTIVE: u16 = 29;

/// A bond's options; an attribute the kernel does not report keeps its default.
pub(super) fn decode_bond(data: &[u8], names: &HashMap<u32, String>) -> Option<BondOptions> {
    let mode = BondMode::from_number(u8_attr(data, IFLA_BOND_MODE).unwrap_or(0))?;
    let mut b = BondOptions::new(mode, u32_attr(data, IFLA_BOND_MIIMON).unwrap_or(0));
    let u16_attr = |k| attr(data, k).and_then(|v| wire::u16_at(v, 0));
    let set_u32 = |field: &mut u32, k| *field = u32_attr(data, k).unwrap_or(*field);
    set_u32(&mut b.updelay, IFLA_BOND_UPDELAY);
    set_u32(&mut b.downdelay, IFLA_BOND_DOWNDELAY);
    set_u32(&mut b.min_links, IFLA_BOND_MIN_LINKS);
    set_u32(&mut b.resend_igmp, IFLA_BOND_RESEND_IGMP);
    let set_u8 = |field: &mut u8, k| *field = u8_attr(data, k).unwrap_or(*field);
    set_u8(&mut b.lacp_rate, IFLA_BOND_AD_LACP_RATE);
    set_u8(&mut b.xmit_hash_policy, IFLA_BOND_XMIT_HASH_POLICY);
    set_u8(&mut b.ad_select, IFLA_BOND_AD_SELECT);
    set_u8(&mut b.all_slaves_active, IFLA_BOND_ALL_PORTS_ACTIVE);
    set_u8(&mut b.primary_reselect, IFLA_BOND_PRIMARY_RESELECT);
    set_u8(&mut b.fail_over_mac, IFLA_BOND_FAIL_OVER_MAC);
    set_u8(&mut b.num_grat_arp, IFLA_BOND_NUM_PEER_NOTIF);
    b.ad_actor_sys_prio = u16_attr(IFLA_BOND_AD_ACTOR_SYS_PRIO).unwrap_or(b.ad_actor_sys_prio);
    b.ad_user_port_key = u16_attr(IFLA_BOND_AD_USER_PORT_KEY).unwrap_or(b.ad_user_port_key);
    b.primary = u32_attr(data, IFLA_BOND_PRIMARY).and_then(|i| names.get(&i).cloned());
    set_u32(&mut b.lp_interval, IFLA_BOND_LP_INTERVAL);
    set_u32(&mut b.packets_per_slave, IFLA_BOND_PACKETS_PER_SLAVE);
    let set_bool = |field: &mut bool, k| *field = u8_attr(data, k).map_or(*field, |v| v != 0);
    set_bool(&mut b.use_carrier, IFLA_BOND_USE_CARRIER);
    set_bool(&mut b.tlb_dynamic_lb, IFLA_BOND_TLB_DYNAMIC_LB);
    set_bool(&mut b.lacp_active, IFLA_BOND_AD_LACP_ACTIVE);
    set_u32(&mut b.arp_interval, IFLA_BOND_ARP_INTERVAL);
    set_u8(&mut b.arp_missed_max, IFLA_BOND_MISSED_MAX);
    let set_index = |field: &mut u8, k| {
        *field = u32_attr(data, k)
            .and_then(|v| u8::try_from(v).ok())
            .unwrap_or(*field)
    };
    set_index(&mut b.arp_validate, IFLA_BOND_ARP_VALIDATE);
    set_index(&mut b.arp_all_targets, IFLA_BOND_ARP_ALL_TARGETS);
    // Nested lists, reported only when not empty.
    let targets = |k| {
        attr(data, k)
            .map(|n| {
                wire::attrs(n)
                    .filter_map(|(_, v)| wire::as_ip(v))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    for ip in targets(IFLA_BOND_ARP_IP_TARGET) {
        if let IpAddr::V4(a) = ip {
            b.arp_ip_target.push(a);
        }
    }
    for ip in targets(IFLA_BOND_NS_IP6_TARGET) {
        if let IpAddr::V6(a) = ip {
            b.ns_ip6_target.push(a);
        }
    }
    // Reported in 802.3ad mode only.
    if let Some(mac) = attr(data, IFLA_BOND_AD_ACTOR_SYSTEM).and_then(|v| v.try_into().ok()) {
        b.ad_actor_system = mac;
    }
    Some(b)
}

/// The options a bond takes while up and with ports, all of them (so that one going
/// back to its default is sent too). The delays only with MII monitoring on: the
/// kernel refuses them otherwise, even as 0. `primary`: the ifindex of `b.primary` (0
/// clears it), in the modes that have one. The 802.3ad actor's priority and system MAC
/// in 802.3ad only (EACCES in the other modes).
pub(super) fn bond_changeable(b: &BondOptions, primary: Option<u32>) -> Vec<InfoBond> {
    let mut v = vec![InfoBond::MiiMon(b.miimon)];
    if b.has_primary() {
        v.push(InfoBond::Primary(primary.unwrap_or(0)));
    }
    if b.miimon > 0 {
        v.push(InfoBond::UpDelay(b.updelay));
        v.push(InfoBond::DownDelay(b.downdelay));
    }
    v.extend([
        InfoBond::PrimaryReselect(BondPrimaryReselect::from(b.primary_reselect)),
        InfoBond::XmitHashPolicy(BondXmitHashPolicy::from(b.xmit_hash_policy)),
        InfoBond::ResendIgmp(b.resend_igmp),
        InfoBond::NumPeerNotif(b.num_grat_arp),
        InfoBond::AllPortsActive(BondAllPortActive::from(b.all_slaves_active)),
        InfoBond::MinLinks(b.min_links),
        InfoBond::UseCarrier(b.use_carrier),
        InfoBond::LpInterval(b.lp_interval),
    ]);
    // The kernel refuses these in the other modes, even unchanged.
    if b.mode == BondMode::BalanceRr {
        v.push(InfoBond::PacketsPerPort(b.packets_per_slave));
    }
    if b.mode == BondMode::Lacp {
        v.push(InfoBond::AdActorSysPrio(b.ad_actor_sys_prio));
        v.push(InfoBond::AdActorSystem(b.ad_actor_system));
    }
    if b.has_arp_monitor() {
        v.push(InfoBond::ArpInterval(b.arp_interval));
        v.push(InfoBond::ArpValidate(BondArpValidate::from(u32::from(
            b.arp_validate,
        ))));
        v.push(InfoBond::MissedMax(b.arp_missed_max));
    }
    // The kernel clears the lists and adds what the message has.
    v.extend([
        InfoBond::ArpIpTarget(b.arp_ip_target.clone()),
        InfoBond::NsIp6Target(b.ns_ip6_target.clone()),
        InfoBond::ArpAllTargets(BondArpAllTargets::from(u32::from(b.arp_all_targets))),
    ]);
    v
}

/// A new bond's options: mode and MII interval, then only what differs from the
/// kernel's defaults (the 802.3ad options are refused in other modes, even as defaults).
pub(super) fn bond_create(b: &BondOptions) -> Vec<InfoBond> {
    let defaults = bond_beyond_miimon(&BondOptions::new(b.mode, b.miimon));
    let mut v = vec![
        InfoBond::Mode(NlBondMode::from(b.mode.number())),
        InfoBond::MiiMon(b.miimon),
    ];
    v.extend(
        bond_beyond_miimon(b)
            .into_iter()
            .zip(defaults)
            .filter(|(o, d)| o != d)
            .map(|(o, _)| o),
    );
    v
}

/// Every option a bond is created with besides its mode and MII interval, in one order,
/// so that a bond's and the defaults' can be compared one by one.
fn bond_beyond_miimon(b: &BondOptions) -> [InfoBond; 25] {
    [
        InfoBond::UpDelay(b.updelay),
        InfoBond::DownDelay(b.downdelay),
        InfoBond::PrimaryReselect(BondPrimaryReselect::from(b.primary_reselect)),
        InfoBond::FailOverMac(BondFailOverMac::from(b.fail_over_mac)),
        InfoBond::XmitHashPolicy(BondXmitHashPolicy::from(b.xmit_hash_policy)),
        InfoBond::ResendIgmp(b.resend_igmp),
        InfoBond::NumPeerNotif(b.num_grat_arp),
        InfoBond::AllPortsActive(BondAllPortActive::from(b.all_slaves_active)),
        InfoBond::MinLinks(b.min_links),
        InfoBond::AdLacpRate(BondLacpRate::from(b.lacp_rate)),
        InfoBond::AdSelect(BondAdSelect::from(b.ad_select)),
        InfoBond::AdActorSysPrio(b.ad_actor_sys_prio),
        InfoBond::AdUserPortKey(b.ad_user_port_key),
        InfoBond::UseCarrier(b.use_carrier),
        InfoBond::LpInterval(b.lp_interval),
        InfoBond::PacketsPerPort(b.packets_per_slave),
        InfoBond::TlbDynamicLb(b.tlb_dynamic_lb),
        InfoBond::AdLacpActive(b.lacp_active),
        InfoBond::AdActorSystem(b.ad_actor_system),
        InfoBond::ArpInterval(b.arp_interval),
        InfoBond::ArpIpTarget(b.arp_ip_target.clone()),
        InfoBond::ArpValidate(BondArpValidate::from(u32::from(b.arp_validate))),
        InfoBond::ArpAllTargets(BondArpAllTargets::from(u32::from(b.arp_all_targets))),
        InfoBond::MissedMax(b.arp_missed_max),
        InfoBond::NsIp6Target(b.ns_ip6_target.clone()),
    ]
}
