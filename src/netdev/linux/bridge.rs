//! Linux bridge settings (IFLA_BR_* in IFLA_INFO_DATA) and bridge port settings
//! (IFLA_BRPORT_* in IFLA_INFO_SLAVE_DATA): decoding from dumps, encoding for
//! RTM_NEWLINK.
//!
//! The kernel applies a bridge's attributes in a fixed order (forward delay before STP
//! state) and stops at the first it refuses, keeping the ones before: the planner sends
//! "STP off" in a request of its own when the forward delay goes below 2 s as well.

use netlink_packet_route::link::{
    BridgeMulticastRouterType, BridgeStpState, InfoBridge, InfoBridgePort, InfoData, InfoKind,
    InfoPortData, InfoPortKind, LinkAttribute, LinkInfo, VlanProtocol,
};

use super::{kinds, wire};
use crate::netdev::{BridgeChange, BridgeOptions, BridgePortOptions, MacAddr, PortChange};

const IFLA_BR_FORWARD_DELAY: u16 = 1;
const IFLA_BR_HELLO_TIME: u16 = 2;
const IFLA_BR_MAX_AGE: u16 = 3;
const IFLA_BR_AGEING_TIME: u16 = 4;
const IFLA_BR_STP_STATE: u16 = 5;
const IFLA_BR_PRIORITY: u16 = 6;
const IFLA_BR_VLAN_FILTERING: u16 = 7;
const IFLA_BR_VLAN_PROTOCOL: u16 = 8;
const IFLA_BR_VLAN_DEFAULT_PVID: u16 = 39;
const IFLA_BR_GROUP_FWD_MASK: u16 = 9;
const IFLA_BR_GROUP_ADDR: u16 = 20;
const IFLA_BR_MCAST_ROUTER: u16 = 22;
const IFLA_BR_MCAST_SNOOPING: u16 = 23;
const IFLA_BR_MCAST_QUERY_USE_IFADDR: u16 = 24;
const IFLA_BR_MCAST_QUERIER: u16 = 25;
const IFLA_BR_MCAST_HASH_MAX: u16 = 27;
const IFLA_BR_MCAST_LAST_MEMBER_CNT: u16 = 28;
const IFLA_BR_MCAST_STARTUP_QUERY_CNT: u16 = 29;
const IFLA_BR_MCAST_LAST_MEMBER_INTVL: u16 = 30;
const IFLA_BR_MCAST_MEMBERSHIP_INTVL: u16 = 31;
const IFLA_BR_MCAST_QUERIER_INTVL: u16 = 32;
const IFLA_BR_MCAST_QUERY_INTVL: u16 = 33;
const IFLA_BR_MCAST_QUERY_RESPONSE_INTVL: u16 = 34;
const IFLA_BR_MCAST_STARTUP_QUERY_INTVL: u16 = 35;
const IFLA_BRPORT_PRIORITY: u16 = 2;
const IFLA_BRPORT_COST: u16 = 3;
const IFLA_BRPORT_MODE: u16 = 4;

fn u8_of(v: &[u8]) -> Option<u8> {
    v.first().copied()
}

fn u16_of(v: &[u8]) -> Option<u16> {
    wire::u16_at(v, 0)
}

fn u64_of(v: &[u8]) -> Option<u64> {
    let bytes: [u8; 8] = v.get(..8)?.try_into().ok()?;
    Some(u64::from_ne_bytes(bytes))
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// A bridge's IFLA_INFO_DATA, and whether the kernel has bridge VLAN filtering (it
/// reports IFLA_BR_VLAN_PROTOCOL then). Attributes the kernel leaves out keep their
/// defaults.
pub(super) fn decode_options(data: &[u8]) -> (BridgeOptions, bool) {
    let mut o = BridgeOptions::default();
    let mut vlans = false;
    for (kind, v) in wire::attrs(data) {
        match kind {
            IFLA_BR_VLAN_FILTERING => set(&mut o.vlan_filtering, u8_of(v).map(|b| b != 0)),
            IFLA_BR_VLAN_PROTOCOL => {
                vlans = true;
                set(
                    &mut o.vlan_protocol,
                    v.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]])),
                );
            }
            IFLA_BR_VLAN_DEFAULT_PVID => set(&mut o.vlan_default_pvid, u16_of(v)),
            IFLA_BR_FORWARD_DELAY => set(&mut o.forward_delay, wire::as_u32(v)),
            IFLA_BR_HELLO_TIME => set(&mut o.hello_time, wire::as_u32(v)),
            IFLA_BR_MAX_AGE => set(&mut o.max_age, wire::as_u32(v)),
            IFLA_BR_AGEING_TIME => set(&mut o.ageing_time, wire::as_u32(v)),
            // 2 is STP run by a user-space daemon: on, as nmstate reads it.
            IFLA_BR_STP_STATE => set(&mut o.stp, wire::as_u32(v).map(|s| s != 0)),
            IFLA_BR_PRIORITY => set(&mut o.priority, u16_of(v)),
            IFLA_BR_GROUP_FWD_MASK => set(&mut o.group_fwd_mask, u16_of(v)),
            IFLA_BR_GROUP_ADDR => set(&mut o.group_addr, <[u8; 6]>::try_from(v).ok().map(MacAddr)),
            IFLA_BR_MCAST_ROUTER => set(&mut o.mcast_router, u8_of(v)),
            IFLA_BR_MCAST_SNOOPING => set(&mut o.mcast_snooping, u8_of(v).map(|b| b != 0)),
            IFLA_BR_MCAST_QUERY_USE_IFADDR => {
                set(&mut o.mcast_query_use_ifaddr, u8_of(v).map(|b| b != 0))
            }
            IFLA_BR_MCAST_QUERIER => set(&mut o.mcast_querier, u8_of(v).map(|b| b != 0)),
            IFLA_BR_MCAST_HASH_MAX => set(&mut o.mcast_hash_max, wire::as_u32(v)),
            IFLA_BR_MCAST_LAST_MEMBER_CNT => set(&mut o.mcast_last_member_count, wire::as_u32(v)),
            IFLA_BR_MCAST_STARTUP_QUERY_CNT => {
                set(&mut o.mcast_startup_query_count, wire::as_u32(v))
            }
            IFLA_BR_MCAST_LAST_MEMBER_INTVL => set(&mut o.mcast_last_member_interval, u64_of(v)),
            IFLA_BR_MCAST_MEMBERSHIP_INTVL => set(&mut o.mcast_membership_interval, u64_of(v)),
            IFLA_BR_MCAST_QUERIER_INTVL => set(&mut o.mcast_querier_interval, u64_of(v)),
            IFLA_BR_MCAST_QUERY_INTVL => set(&mut o.mcast_query_interval, u64_of(v)),
            IFLA_BR_MCAST_QUERY_RESPONSE_INTVL => {
                set(&mut o.mcast_query_response_interval, u64_of(v))
            }
            IFLA_BR_MCAST_STARTUP_QUERY_INTVL => {
                set(&mut o.mcast_startup_query_interval, u64_of(v))
            }
            _ => {}
        }
    }
    (o, vlans)
}

/// A bridge port's IFLA_INFO_SLAVE_DATA.
pub(super) fn decode_port(data: &[u8]) -> BridgePortOptions {
    let mut o = BridgePortOptions::default();
    for (kind, v) in wire::attrs(data) {
        match kind {
            IFLA_BRPORT_PRIORITY => set(&mut o.priority, u16_of(v)),
            IFLA_BRPORT_COST => set(&mut o.cost, wire::as_u32(v)),
            IFLA_BRPORT_MODE => set(&mut o.hairpin, u8_of(v).map(|b| b != 0)),
            _ => {}
        }
    }
    o
}

/// A field of a change and the attribute that carries it.
type Field<T> = (Option<T>, fn(T) -> InfoBridge);

/// The IFLA_BR_* attributes of `c`, in the kernel's units.
fn attributes(c: &BridgeChange) -> Vec<InfoBridge> {
    let mut data = Vec::new();
    if let Some(on) = c.stp {
        data.push(InfoBridge::StpState(if on {
            BridgeStpState::KernelStp
        } else {
            BridgeStpState::Disabled
        }));
    }
    let u32s: [Field<u32>; 7] = [
        (c.forward_delay, InfoBridge::ForwardDelay),
        (c.hello_time, InfoBridge::HelloTime),
        (c.max_age, InfoBridge::MaxAge),
        (c.ageing_time, InfoBridge::AgeingTime),
        (c.mcast_hash_max, InfoBridge::MulticastHashMax),
        (
            c.mcast_last_member_count,
            InfoBridge::MulticastLastMemberCount,
        ),
        (
            c.mcast_startup_query_count,
            InfoBridge::MulticastStartupQueryCount,
        ),
    ];
    data.extend(u32s.into_iter().filter_map(|(v, f)| v.map(f)));
    let u64s: [Field<u64>; 6] = [
        (
            c.mcast_last_member_interval,
            InfoBridge::MulticastLastMemberInterval,
        ),
        (
            c.mcast_membership_interval,
            InfoBridge::MulticastMembershipInterval,
        ),
        (
            c.mcast_querier_interval,
            InfoBridge::MulticastQuerierInterval,
        ),
        (c.mcast_query_interval, InfoBridge::MulticastQueryInterval),
        (
            c.mcast_query_response_interval,
            InfoBridge::MulticastQueryResponseInterval,
        ),
        (
            c.mcast_startup_query_interval,
            InfoBridge::MulticastStartupQueryInterval,
        ),
    ];
    data.extend(u64s.into_iter().filter_map(|(v, f)| v.map(f)));
    let bools: [Field<bool>; 3] = [
        (c.mcast_snooping, InfoBridge::MulticastSnooping),
        (c.mcast_querier, InfoBridge::MulticastQuerier),
        (
            c.mcast_query_use_ifaddr,
            InfoBridge::MulticastQueryUseIfaddr,
        ),
    ];
    data.extend(bools.into_iter().filter_map(|(v, f)| v.map(f)));
    data.extend(c.vlan_filtering.map(InfoBridge::VlanFiltering));
    data.extend(
        c.vlan_protocol
            .map(|p| InfoBridge::VlanProtocol(VlanProtocol::from(p))),
    );
    data.extend(c.vlan_default_pvid.map(InfoBridge::VlanDefaultPvid));
    data.extend(c.priority.map(InfoBridge::Priority));
    data.extend(c.group_fwd_mask.map(InfoBridge::GroupFwdMask));
    data.extend(c.group_addr.map(|m| InfoBridge::GroupAddr(m.0)));
    data.extend(
        c.mcast_router
            .map(|r| InfoBridge::MulticastRouter(BridgeMulticastRouterType::from(r))),
    );
    data
}

/// IFLA_LINKINFO of a new bridge: STP state, forward delay, and every setting that
/// differs from the kernel's default (so that a kernel whose defaults differ keeps its
/// own where the file says nothing).
pub(super) fn create_info(o: &BridgeOptions) -> LinkAttribute {
    let mut c = BridgeChange::between(&BridgeOptions::default(), o);
    c.stp = Some(o.stp);
    c.forward_delay = Some(o.forward_delay);
    kinds::link_info(InfoKind::Bridge, InfoData::Bridge(attributes(&c)))
}

/// IFLA_LINKINFO changing a bridge's settings.
pub(super) fn change_info(c: &BridgeChange) -> LinkAttribute {
    kinds::link_info(InfoKind::Bridge, InfoData::Bridge(attributes(c)))
}

/// IFLA_LINKINFO changing a port's settings in its bridge.
pub(super) fn port_info(c: &PortChange) -> LinkAttribute {
    let mut data = Vec::new();
    data.extend(c.priority.map(InfoBridgePort::Priority));
    data.extend(c.cost.map(InfoBridgePort::Cost));
    data.extend(c.hairpin.map(InfoBridgePort::HairpinMode));
    LinkAttribute::LinkInfo(vec![
        LinkInfo::PortKind(InfoPortKind::Bridge),
        LinkInfo::PortData(InfoPortData::BridgePort(data)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    fn emitted(attr: &LinkAttribute) -> Vec<u8> {
        let mut buf = vec![0u8; attr.buffer_len()];
        attr.emit(&mut buf);
        buf
    }

    /// What is sent decodes back to the same settings (the dump's layout is the
    /// request's: IFLA_LINKINFO { IFLA_INFO_KIND, IFLA_INFO_DATA { IFLA_BR_* } }).
    #[test]
    fn settings_round_trip_through_the_wire_format() {
        let want = BridgeOptions {
            stp: true,
            forward_delay: 1400,
            hello_time: 300,
            priority: 28672,
            group_fwd_mask: 0x4000,
            group_addr: MacAddr([0x01, 0x80, 0xc2, 0, 0, 0x0e]),
            mcast_router: 2,
            mcast_querier: true,
            mcast_hash_max: 2048,
            mcast_startup_query_interval: 3500,
            ..BridgeOptions::default()
        };
        let bytes = emitted(&create_info(&want));
        // Skip IFLA_LINKINFO's header, then find IFLA_INFO_DATA (2).
        let data = wire::attrs(&bytes[4..])
            .find(|(k, _)| *k == 2)
            .map(|(_, v)| v.to_vec())
            .expect("info data");
        assert_eq!(decode_options(&data).0, want);
        let port = PortChange {
            hairpin: Some(true),
            cost: Some(150),
            priority: Some(20),
        };
        let bytes = emitted(&port_info(&port));
        let data = wire::attrs(&bytes[4..])
            .find(|(k, _)| *k == 5)
            .map(|(_, v)| v.to_vec())
            .expect("slave data");
        let mut o = BridgePortOptions::default();
        port.apply_to(&mut o);
        assert_eq!(decode_port(&data), o);
    }
}
