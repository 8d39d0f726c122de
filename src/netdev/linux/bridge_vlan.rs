//! Bridge port VLANs (`bridge vlan`): AF_BRIDGE RTM_GETLINK dumps with
//! RTEXT_FILTER_BRVLAN_COMPRESSED, and RTM_SETLINK / RTM_DELLINK with
//! `ifi_family = AF_BRIDGE` and IFLA_AF_SPEC { IFLA_BRIDGE_VLAN_INFO … }, which add and
//! delete VLANs (an AF_BRIDGE RTM_DELLINK never deletes the link: it must never join the
//! batched link deletions, whose messages are AF_UNSPEC).
//!
//! A bridge's own VLANs (`self` in `bridge vlan`) are addressed with the bridge's ifindex
//! and IFLA_BRIDGE_FLAGS = BRIDGE_FLAGS_SELF.

use std::collections::HashMap;

use netlink_packet_route::link::{
    AfSpecBridge, BridgeFlag, BridgeVlanInfo, BridgeVlanInfoFlags, LinkAttribute, LinkExtentMask,
    LinkMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::wire;
use crate::netdev::{VlanFlags, VlanSet};

const IFLA_AF_SPEC: u16 = 26;
const IFLA_BRIDGE_VLAN_INFO: u16 = 2;
const BRIDGE_VLAN_INFO_PVID: u16 = 0x2;
const BRIDGE_VLAN_INFO_UNTAGGED: u16 = 0x4;
const BRIDGE_VLAN_INFO_RANGE_BEGIN: u16 = 0x8;
const BRIDGE_VLAN_INFO_RANGE_END: u16 = 0x10;
/// Length of `struct ifinfomsg`.
const IFINFOMSG_LEN: usize = 16;

/// The dump of every bridge port's (and bridge's) VLANs, ranges compressed.
pub(super) fn dump_request() -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Bridge;
    msg.attributes.push(LinkAttribute::ExtMask(vec![
        LinkExtentMask::BrvlanCompressed,
    ]));
    RouteNetlinkMessage::GetLink(msg)
}

/// One message of that dump: the link's name and its VLANs. `None` for a message with
/// no VLAN information (a port of a bridge the kernel reports without any).
pub(super) fn parse(payload: &[u8], names: &HashMap<u32, String>) -> Option<(String, VlanSet)> {
    let index = wire::u32_at(payload, 4)?;
    let name = names.get(&index)?.clone();
    let mut set = VlanSet::new();
    let mut begin: Option<u16> = None;
    let spec = wire::attrs(payload.get(IFINFOMSG_LEN..)?).find(|(k, _)| *k == IFLA_AF_SPEC)?;
    for (kind, v) in wire::attrs(spec.1) {
        if kind != IFLA_BRIDGE_VLAN_INFO {
            continue;
        }
        let (Some(flags), Some(vid)) = (wire::u16_at(v, 0), wire::u16_at(v, 2)) else {
            continue;
        };
        let f = VlanFlags {
            pvid: flags & BRIDGE_VLAN_INFO_PVID != 0,
            untagged: flags & BRIDGE_VLAN_INFO_UNTAGGED != 0,
        };
        if flags & BRIDGE_VLAN_INFO_RANGE_BEGIN != 0 {
            begin = Some(vid);
            continue;
        }
        let first = if flags & BRIDGE_VLAN_INFO_RANGE_END != 0 {
            begin.take().unwrap_or(vid)
        } else {
            vid
        };
        for v in first..=vid {
            set.insert(v, f);
        }
    }
    Some((name, set))
}

/// RTM_SETLINK (`add`) or RTM_DELLINK adding or deleting `vlans` on link `index`;
/// `bridge`: the link is a bridge, changing its own VLANs. Consecutive VLANs with the
/// same flags go as one range.
pub(super) fn request(index: u32, vlans: &VlanSet, add: bool, bridge: bool) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.interface_family = AddressFamily::Bridge;
    msg.header.index = index;
    let mut spec = Vec::new();
    if bridge {
        spec.push(AfSpecBridge::Flags(BridgeFlag::LowerDev));
    }
    for (first, last, f) in ranges(vlans, add) {
        let mut flags = BridgeVlanInfoFlags::empty();
        if f.pvid {
            flags |= BridgeVlanInfoFlags::Pvid;
        }
        if f.untagged {
            flags |= BridgeVlanInfoFlags::Untagged;
        }
        if first == last {
            spec.push(AfSpecBridge::VlanInfo(BridgeVlanInfo { flags, vid: first }));
        } else {
            spec.push(AfSpecBridge::VlanInfo(BridgeVlanInfo {
                flags: flags | BridgeVlanInfoFlags::RangeBegin,
                vid: first,
            }));
            spec.push(AfSpecBridge::VlanInfo(BridgeVlanInfo {
                flags: flags | BridgeVlanInfoFlags::RangeEnd,
                vid: last,
            }));
        }
    }
    msg.attributes.push(LinkAttribute::AfSpecBridge(spec));
    if add {
        RouteNetlinkMessage::SetLink(msg)
    } else {
        RouteNetlinkMessage::DelLink(msg)
    }
}

/// Runs of consecutive VLANs with the same flags (a PVID alone: the kernel refuses a
/// range with the PVID flag). Flags do not matter for a delete.
fn ranges(vlans: &VlanSet, add: bool) -> Vec<(u16, u16, VlanFlags)> {
    let mut out: Vec<(u16, u16, VlanFlags)> = Vec::new();
    for (&vid, &f) in vlans {
        let f = if add { f } else { VlanFlags::default() };
        match out.last_mut() {
            Some((_, last, lf)) if *last + 1 == vid && *lf == f && !f.pvid => *last = vid,
            _ => out.push((vid, vid, f)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    fn set(entries: &[(u16, bool, bool)]) -> VlanSet {
        entries
            .iter()
            .map(|&(v, pvid, untagged)| (v, VlanFlags { pvid, untagged }))
            .collect()
    }

    /// What is sent decodes back (the dump's layout is the request's).
    #[test]
    fn vlans_round_trip_through_the_wire_format() {
        let want = set(&[
            (100, true, true),
            (101, false, false),
            (102, false, false),
            (200, false, false),
            (201, false, false),
            (202, false, false),
            (300, false, true),
        ]);
        let RouteNetlinkMessage::SetLink(msg) = request(7, &want, true, false) else {
            panic!("a set-link request");
        };
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.emit(&mut buf);
        let names = HashMap::from([(7, "eth1".to_string())]);
        let (name, got) = parse(&buf, &names).expect("decodes");
        assert_eq!((name.as_str(), got), ("eth1", want.clone()));
        // 101-102 and 200-202 go as ranges, the PVID alone.
        assert_eq!(ranges(&want, true).len(), 4);
    }
}
