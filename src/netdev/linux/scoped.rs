//! The read of a [`Reach`]: the links it names, one RTM_GETLINK each (by name, which the
//! kernel also matches against alternative names), then, until nothing is added, their
//! controllers, veth peers and lower devices (by ifindex) and their ports (a link dump
//! filtered by IFLA_MASTER, which the kernel filters before it builds any message). At
//! a thousand networks that is a handful of links instead of every one. The result
//! equals the full read narrowed to the reach ([`crate::netdev::KernelState::narrowed`]).
//!
//! Addresses and routes are still dumped whole; the devices they name outside the reach
//! get their name from SIOCGIFNAME (one lookup, no link message).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use netlink_packet_core::DefaultNla;
use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkExtentMask, LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::link::{self, RawLink};
use super::{LinuxDriver, RTM_NEWLINK};
use crate::netdev::{DriverError, Reach};

/// IFLA_ALT_IFNAME: names longer than IFLA_IFNAME takes (alternative names, up to 127).
const IFLA_ALT_IFNAME: u16 = 53;

fn request(fill: impl FnOnce(&mut LinkMessage)) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    fill(&mut msg);
    RouteNetlinkMessage::GetLink(msg)
}

/// RTM_GETLINK of the link named `name`; `None` for a string no link can be named.
fn by_name(name: &str) -> Option<RouteNetlinkMessage> {
    if name.is_empty() || name.len() > 127 || name.contains('\0') {
        return None;
    }
    Some(request(|msg| {
        if name.len() < 16 {
            msg.attributes.push(LinkAttribute::IfName(name.into()));
        } else {
            let mut v = name.as_bytes().to_vec();
            v.push(0);
            msg.attributes
                .push(LinkAttribute::Other(DefaultNla::new(IFLA_ALT_IFNAME, v)));
        }
    }))
}

fn by_index(index: u32) -> RouteNetlinkMessage {
    request(|msg| msg.header.index = index)
}

/// A link dump of the ports of `index` only.
fn ports_of(index: u32) -> RouteNetlinkMessage {
    request(|msg| msg.attributes.push(LinkAttribute::Controller(index)))
}

/// A link dump of the VRFs only (all links where the kernel has no VRF kind: the
/// caller keeps the VRFs).
fn vrfs() -> RouteNetlinkMessage {
    request(|msg| {
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Vrf)]))
    })
}

/// The ifindexes `l` names that the reach follows: its controller, its IFLA_LINK (a veth
/// peer, a stacked device's lower device) when in this namespace, a VXLAN's lower
/// device.
fn followed(l: &RawLink) -> impl Iterator<Item = u32> + '_ {
    let lower = l
        .kind
        .as_deref()
        .and_then(|k| super::kinds::lower_index(k, &l.info_data));
    l.master
        .into_iter()
        .chain(l.link.filter(|_| !l.link_elsewhere))
        .chain(lower)
}

/// Adds the links among `replies` that `keep` accepts to `got`.
fn add(
    got: &mut BTreeMap<u32, RawLink>,
    replies: impl IntoIterator<Item = super::socket::Reply>,
    keep: impl Fn(&RawLink) -> bool,
) {
    for l in replies
        .into_iter()
        .filter(|r| r.kind == RTM_NEWLINK)
        .filter_map(|r| link::parse(&r.payload))
        .filter(|l| keep(l))
    {
        got.entry(l.index).or_insert(l);
    }
}

impl LinuxDriver {
    /// The raw links of `reach` (see the module documentation).
    pub(super) fn read_links_in(&mut self, reach: &Reach) -> Result<Vec<RawLink>, DriverError> {
        let mut got: BTreeMap<u32, RawLink> = BTreeMap::new();
        if reach.vrfs {
            let replies = self.nl.dump(&vrfs(), "vrfs")?;
            add(&mut got, replies, |l| l.kind.as_deref() == Some("vrf"));
        }
        let named: Vec<RouteNetlinkMessage> =
            reach.names.iter().filter_map(|n| by_name(n)).collect();
        let replies = self.nl.get_each(&named, "links")?;
        add(&mut got, replies.into_iter().flatten(), |_| true);
        let mut ports_read: HashSet<u32> = HashSet::new();
        loop {
            let masters: Vec<u32> = got
                .keys()
                .filter(|i| !ports_read.contains(i))
                .copied()
                .collect();
            for m in &masters {
                ports_read.insert(*m);
                let replies = self.nl.dump(&ports_of(*m), "ports")?;
                add(&mut got, replies, |l| l.master == Some(*m));
            }
            let missing: BTreeSet<u32> = got
                .values()
                .flat_map(followed)
                .filter(|i| !got.contains_key(i))
                .collect();
            if missing.is_empty() && masters.is_empty() {
                break;
            }
            let requests: Vec<RouteNetlinkMessage> = missing.into_iter().map(by_index).collect();
            let replies = self.nl.get_each(&requests, "links")?;
            add(&mut got, replies.into_iter().flatten(), |_| true);
        }
        Ok(got.into_values().collect())
    }

    /// Adds to `names` the name of every ifindex in `indexes` it lacks (a device outside
    /// the reach that an address or route names).
    pub(super) fn name_rest(
        &self,
        names: &mut HashMap<u32, String>,
        indexes: impl IntoIterator<Item = u32>,
    ) {
        for i in indexes {
            if i != 0 && !names.contains_key(&i) {
                if let Some(n) = self.nl.name_of(i) {
                    names.insert(i, n);
                }
            }
        }
    }
}
