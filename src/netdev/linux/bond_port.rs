//! A bond port's settings in its bond: IFLA_BOND_SLAVE_* in IFLA_INFO_SLAVE_DATA.

use netlink_packet_route::link::{
    InfoBondPort, InfoPortData, InfoPortKind, LinkAttribute, LinkInfo,
};

use super::wire;
use crate::netdev::{BondPortChange, BondPortOptions};

const IFLA_BOND_SLAVE_QUEUE_ID: u16 = 5;
const IFLA_BOND_SLAVE_PRIO: u16 = 9;

/// A bond port's IFLA_INFO_SLAVE_DATA (`prio` absent before Linux 6.0: its default).
pub(super) fn decode(data: &[u8]) -> BondPortOptions {
    let mut o = BondPortOptions::default();
    for (kind, v) in wire::attrs(data) {
        match kind {
            IFLA_BOND_SLAVE_QUEUE_ID => {
                if let Some(q) = v.get(..2).and_then(|b| <[u8; 2]>::try_from(b).ok()) {
                    o.queue_id = u16::from_ne_bytes(q);
                }
            }
            IFLA_BOND_SLAVE_PRIO => {
                if let Some(p) = wire::as_u32(v) {
                    o.prio = p as i32;
                }
            }
            _ => {}
        }
    }
    o
}

/// IFLA_LINKINFO with a bond port's settings.
pub(super) fn info(c: &BondPortChange) -> LinkAttribute {
    let mut data = Vec::new();
    data.extend(c.queue_id.map(InfoBondPort::QueueId));
    data.extend(c.prio.map(InfoBondPort::Prio));
    LinkAttribute::LinkInfo(vec![
        LinkInfo::PortKind(InfoPortKind::Bond),
        LinkInfo::PortData(InfoPortData::BondPort(data)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::Emitable;

    /// What is sent decodes back (the dump's IFLA_INFO_SLAVE_DATA has the request's layout).
    #[test]
    fn settings_round_trip_through_the_wire_format() {
        let c = BondPortChange {
            queue_id: Some(3),
            prio: Some(-5),
        };
        let LinkAttribute::LinkInfo(items) = info(&c) else {
            panic!("not IFLA_LINKINFO");
        };
        let Some(LinkInfo::PortData(data)) = items.get(1) else {
            panic!("no IFLA_INFO_SLAVE_DATA");
        };
        let mut buf = vec![0u8; data.buffer_len()];
        data.emit(&mut buf);
        // `buf` is IFLA_INFO_SLAVE_DATA itself: its value follows the 4-byte header.
        let got = decode(&buf[4..]);
        assert_eq!((got.queue_id, got.prio), (3, -5));
    }
}
