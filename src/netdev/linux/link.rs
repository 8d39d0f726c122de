//! Links: RTM_*LINK requests and decoding of link dumps.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::fd::RawFd;

use netlink_packet_core::DefaultNla;
use netlink_packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkExtentMask, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

use super::{bond_port, bridge, kinds, wire};
use crate::netdev::{
    BondPortOptions, BridgeOptions, BridgePortOptions, Link, LinkChange, LinkKind, MacAddr,
    NewLink, PeerSettings,
};

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MTU: u16 = 4;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_IFALIAS: u16 = 20;
const IFLA_AF_SPEC: u16 = 26;
const IFLA_GROUP: u16 = 27;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const IFLA_INFO_SLAVE_KIND: u16 = 4;
const IFLA_INFO_SLAVE_DATA: u16 = 5;
const ARPHRD_LOOPBACK: u16 = 772;
const IFF_UP: u32 = 1;
const IFF_PROMISC: u32 = 0x100;
/// Length of `struct ifinfomsg`.
const IFINFOMSG_LEN: usize = 16;

/// A link as one dump message describes it, before ifindexes are turned into names.
#[derive(Debug, Clone)]
pub(super) struct RawLink {
    pub index: u32,
    pub name: String,
    pub kind: Option<String>,
    /// A bridge's settings.
    pub bridge: Option<BridgeOptions>,
    /// A bridge's dump says the kernel has no bridge VLAN filtering.
    pub no_bridge_vlans: bool,
    /// A bridge port's settings in its bridge.
    pub port: Option<BridgePortOptions>,
    /// A bond port's settings in its bond.
    pub bond_port: Option<BondPortOptions>,
    pub loopback: bool,
    pub up: bool,
    /// The user-set IFF_PROMISC (the kernel reports that, not the device's promiscuity).
    pub promisc: bool,
    /// IFLA_IFALIAS (absent when empty).
    pub alias: Option<String>,
    pub alt_names: Vec<String>,
    pub mtu: u32,
    pub mac: Option<MacAddr>,
    pub master: Option<u32>,
    /// IFLA_LINK: for veth the peer's ifindex (in the peer's namespace).
    pub link: Option<u32>,
    /// IFLA_LINK points into another namespace.
    pub link_elsewhere: bool,
    /// IFLA_GROUP (0 unless someone set one).
    pub group: u32,
    /// IFLA_INFO_DATA, decoded once names are known (see `kinds`).
    pub info_data: Vec<u8>,
    /// Its IPv6 switches (see `ipv6_conf`); `None` without IPv6.
    pub ipv6: Option<crate::netdev::Ipv6Switches>,
    /// Its IPv6 address generation mode and token (see `inet6_keys`).
    pub inet6: Option<crate::netdev::inet6::Inet6Link>,
}

pub(super) fn dump_request() -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    // Counters are most of a link message and we never read them.
    msg.attributes
        .push(LinkAttribute::ExtMask(vec![LinkExtentMask::SkipStats]));
    RouteNetlinkMessage::GetLink(msg)
}

/// Decodes one RTM_NEWLINK dump message; `None` for a message too short to be one.
pub(super) fn parse(payload: &[u8]) -> Option<RawLink> {
    let link_type = wire::u16_at(payload, 2)?;
    let mut link = RawLink {
        index: wire::u32_at(payload, 4)?,
        name: String::new(),
        kind: None,
        bridge: None,
        no_bridge_vlans: false,
        port: None,
        bond_port: None,
        loopback: link_type == ARPHRD_LOOPBACK,
        up: wire::u32_at(payload, 8)? & IFF_UP != 0,
        promisc: wire::u32_at(payload, 8)? & IFF_PROMISC != 0,
        alias: None,
        alt_names: Vec::new(),
        mtu: 0,
        mac: None,
        master: None,
        link: None,
        link_elsewhere: false,
        group: 0,
        info_data: Vec::new(),
        ipv6: None,
        inet6: None,
    };
    for (kind, value) in wire::attrs(payload.get(IFINFOMSG_LEN..)?) {
        match kind {
            IFLA_IFNAME => link.name = wire::as_string(value),
            IFLA_MTU => link.mtu = wire::as_u32(value).unwrap_or(0),
            IFLA_IFALIAS => link.alias = Some(wire::as_string(value)).filter(|a| !a.is_empty()),
            IFLA_ADDRESS => link.mac = <[u8; 6]>::try_from(value).ok().map(MacAddr),
            super::alt_names::IFLA_PROP_LIST => link.alt_names = super::alt_names::decode(value),
            IFLA_MASTER => link.master = wire::as_u32(value).filter(|&i| i != 0),
            IFLA_GROUP => link.group = wire::as_u32(value).unwrap_or(0),
            IFLA_LINK => link.link = wire::as_u32(value).filter(|&i| i != 0),
            IFLA_LINK_NETNSID => link.link_elsewhere = true,
            IFLA_AF_SPEC => {
                link.ipv6 = super::ipv6_conf::switches(value);
                link.inet6 = super::inet6_keys::decode(value, link.loopback);
            }
            IFLA_LINKINFO => {
                let mut slave_kind = None;
                for (info, data) in wire::attrs(value) {
                    match info {
                        IFLA_INFO_KIND => link.kind = Some(wire::as_string(data)),
                        // What INFO_DATA holds depends on the kind, which the kernel
                        // always puts first (and SLAVE_KIND before SLAVE_DATA).
                        IFLA_INFO_DATA if link.kind.as_deref() == Some("bridge") => {
                            let (options, vlans) = bridge::decode_options(data);
                            link.bridge = Some(options);
                            link.no_bridge_vlans = !vlans;
                        }
                        IFLA_INFO_DATA => link.info_data = data.to_vec(),
                        IFLA_INFO_SLAVE_KIND => slave_kind = Some(wire::as_string(data)),
                        IFLA_INFO_SLAVE_DATA if slave_kind.as_deref() == Some("bridge") => {
                            link.port = Some(bridge::decode_port(data));
                        }
                        IFLA_INFO_SLAVE_DATA if slave_kind.as_deref() == Some("bond") => {
                            link.bond_port = Some(bond_port::decode(data));
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    (!link.name.is_empty()).then_some(link)
}

/// Turns decoded links into the platform-neutral form, resolving ifindexes to names.
/// Also returns the ifindex → name map of this namespace.
pub(super) fn to_links(raw: &[RawLink]) -> (BTreeMap<String, Link>, HashMap<u32, String>) {
    let names: HashMap<u32, String> = raw.iter().map(|l| (l.index, l.name.clone())).collect();
    let links = raw
        .iter()
        .map(|l| {
            let kind = match l.kind.as_deref() {
                Some("bridge") => LinkKind::Bridge(l.bridge.clone().unwrap_or_default()),
                Some("veth") => LinkKind::Veth {
                    peer: if l.link_elsewhere {
                        None
                    } else {
                        l.link.and_then(|i| names.get(&i).cloned())
                    },
                },
                Some(other) => {
                    let base = (!l.link_elsewhere)
                        .then(|| l.link.and_then(|i| names.get(&i).cloned()))
                        .flatten();
                    kinds::decode(other, &l.info_data, base, &names)
                        .unwrap_or_else(|| LinkKind::Other(other.to_string()))
                }
                None if l.loopback => LinkKind::Loopback,
                None => LinkKind::Ethernet,
            };
            let link = Link {
                name: l.name.clone(),
                kind,
                up: l.up,
                mtu: l.mtu,
                mac: l.mac,
                controller: l.master.and_then(|i| names.get(&i).cloned()),
            };
            (l.name.clone(), link)
        })
        .collect();
    (links, names)
}

/// The settings of the bridge ports among `raw`, by port name.
pub(super) fn bridge_ports(raw: &[RawLink]) -> BTreeMap<String, BridgePortOptions> {
    raw.iter()
        .filter_map(|l| Some((l.name.clone(), l.port.clone()?)))
        .collect()
}

/// The settings of the bond ports among `raw`, by port name.
pub(super) fn bond_ports(raw: &[RawLink]) -> BTreeMap<String, BondPortOptions> {
    raw.iter()
        .filter_map(|l| Some((l.name.clone(), l.bond_port.clone()?)))
        .collect()
}

/// The links' aliases and user-set promiscuous flags among `raw` (see
/// [`crate::netdev::KernelState::aliases`]).
pub(super) fn base_keys(raw: &[RawLink]) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let aliases = raw
        .iter()
        .filter_map(|l| Some((l.name.clone(), l.alias.clone()?)))
        .collect();
    let promisc = raw
        .iter()
        .filter(|l| l.promisc)
        .map(|l| l.name.clone())
        .collect();
    (aliases, promisc)
}

/// The IFF_UP bit in `flags` and `change_mask`, as a new-link or set-link request wants it.
fn set_up(msg: &mut LinkMessage, up: bool) {
    msg.header.change_mask |= LinkFlags::Up;
    if up {
        msg.header.flags |= LinkFlags::Up;
    } else {
        msg.header.flags.remove(LinkFlags::Up);
    }
}

/// RTM_NEWLINK creating `link` (send with NLM_F_CREATE | NLM_F_EXCL). `master` is the
/// ifindex of the bridge named by `link.controller`.
pub(super) fn create(link: &NewLink, master: Option<u32>, base: Option<u32>) -> LinkMessage {
    // What finishes a device made outside netlink (name, MTU, MAC, controller, up), + kind.
    let mut msg = finish_by_name(link, master);
    if port_without_ipv6(link, master) {
        // Up only in `followups`, once IPv6 is off (the kernel refuses it at creation).
        set_up(&mut msg, false);
    }
    match &link.kind {
        // The kernel applies the forward delay before the STP state, so a delay below
        // STP's 2 s minimum is taken (and raised to 2 s when STP comes on).
        LinkKind::Bridge(options) => msg.attributes.push(bridge::create_info(options)),
        LinkKind::Veth { peer } => {
            let mut info = vec![LinkInfo::Kind(InfoKind::Veth)];
            if let Some(peer) = peer {
                let settings = link.peer.clone().unwrap_or_default();
                info.push(LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(
                    peer_message(peer, &settings),
                ))));
            }
            msg.attributes.push(LinkAttribute::LinkInfo(info));
            msg.attributes.extend(kinds::single_queue());
        }
        // Any other kind goes by name, refused by the kernel if it makes no sense.
        LinkKind::Other(kind) => {
            msg.attributes
                .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                    InfoKind::Other(kind.clone()),
                )]))
        }
        LinkKind::Ethernet | LinkKind::Loopback | LinkKind::Tap(_) => {}
        other => msg.attributes.extend(kinds::create_attributes(other, base)),
    }
    msg
}

/// RTM_NEWLINK by name (no ifindex, no NLM_F_CREATE) setting what a device created
/// outside netlink (a tap) still needs from `link`: MTU, MAC, controller, up.
pub(super) fn finish_by_name(link: &NewLink, master: Option<u32>) -> LinkMessage {
    let mut msg = LinkMessage::default();
    set_up(&mut msg, link.up);
    push_name_mtu_mac(&mut msg, &link.name, link.mtu, link.mac);
    if let Some(index) = master {
        msg.attributes.push(LinkAttribute::Controller(index));
    }
    msg
}

/// [`finish_by_name`] for a tap made by ioctl: a port comes up without IPv6 link-local
/// addresses (see [`port_without_ipv6`]). One message does: the tap exists already, and
/// has no carrier (so no link-local address yet) until a process attaches to it.
pub(super) fn finish_tap(link: &NewLink, master: Option<u32>) -> LinkMessage {
    let mut msg = finish_by_name(link, master);
    if master.is_some() && link.up && ipv6_settable(link.mtu) {
        msg.attributes.push(no_link_local());
    }
    msg
}

/// The ifinfomsg + attributes inside VETH_INFO_PEER. The kernel applies the peer's name,
/// MTU, MAC and queues but ignores IFLA_MASTER there, and bringing the peer up inside the
/// create request fails with ENOTCONN (the peer is opened before the pair is linked): both
/// are left to [`peer_followup`]. The queues: [`kinds::single_queue`].
fn peer_message(name: &str, settings: &PeerSettings) -> LinkMessage {
    let mut msg = LinkMessage::default();
    push_name_mtu_mac(&mut msg, name, settings.mtu, settings.mac);
    msg.attributes.extend(kinds::single_queue());
    msg
}

/// IFLA_IFNAME, and IFLA_MTU and IFLA_ADDRESS where they are asked for: what a link and
/// a veth's peer are given alike.
fn push_name_mtu_mac(msg: &mut LinkMessage, name: &str, mtu: Option<u32>, mac: Option<MacAddr>) {
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    if let Some(mtu) = mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = mac {
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
}

/// Whether a new link is a bridge port created up: it then comes up without IPv6
/// link-local address generation (`addrgenmode none`). A port's own IPv6 is never used
/// (frames go to its bridge), and with it every port would take a link-local address,
/// duplicate address detection, MLD reports and a fe80::/64 route, each of which costs
/// the kernel time that grows with the number of IPv6 devices (issue 18, item 2). veth
/// and tap ports only (taps: [`finish_tap`]); other kinds are left as the kernel makes
/// them.
fn port_without_ipv6(link: &NewLink, master: Option<u32>) -> bool {
    master.is_some()
        && link.up
        && matches!(link.kind, LinkKind::Veth { .. })
        && ipv6_settable(link.mtu)
}

/// Whether the kernel takes IPv6 settings for a link of `mtu`: it has IPv6 (not booted
/// with `ipv6.disable=1`) and the link gets IPv6 state at all (an MTU below 1280 gets
/// none); otherwise the setting is refused (EAFNOSUPPORT) and there is nothing to turn
/// off anyway.
fn ipv6_settable(mtu: Option<u32>) -> bool {
    static IPV6: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *IPV6.get_or_init(|| std::path::Path::new("/proc/net/if_inet6").exists())
        && mtu.is_none_or(|m| m >= 1280)
}

/// IFLA_AF_SPEC { AF_INET6 { IFLA_INET6_ADDR_GEN_MODE: none } }.
fn no_link_local() -> LinkAttribute {
    LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
        In6AddrGenMode::None,
    )])])
}

/// What a new link still needs once it exists, by name (its ifindex is not known yet):
/// a port created down comes up without IPv6 link-local addresses, and a veth's peer
/// that is to be up or enslaved gets that (a peer enslaved and up as a port, too).
pub(super) fn followups(
    link: &NewLink,
    master: Option<u32>,
    peer_master: Option<u32>,
) -> Vec<LinkMessage> {
    let mut out = Vec::new();
    if port_without_ipv6(link, master) {
        out.push(no_link_local_by_name(&link.name));
        let mut msg = LinkMessage::default();
        set_up(&mut msg, true);
        msg.attributes
            .push(LinkAttribute::IfName(link.name.clone()));
        out.push(msg);
    }
    if let (LinkKind::Veth { peer: Some(peer) }, Some(_)) = (&link.kind, peer_master) {
        let mtu = link.peer.as_ref().and_then(|p| p.mtu).or(link.mtu);
        if link.peer.as_ref().is_some_and(|p| p.up) && ipv6_settable(mtu) {
            out.push(no_link_local_by_name(peer));
        }
    }
    out.extend(peer_followup(link, peer_master));
    out
}

/// A message of its own, ahead of the one bringing the link up: in one message the
/// kernel brings the link up first, and a link with a carrier gets its link-local
/// address right then.
fn no_link_local_by_name(name: &str) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg.attributes.push(no_link_local());
    msg
}

/// For a new veth pair whose peer is to be up or enslaved: the RTM_NEWLINK that does it
/// once the pair exists, naming the peer (its ifindex is not known yet).
fn peer_followup(link: &NewLink, peer_master: Option<u32>) -> Option<LinkMessage> {
    let LinkKind::Veth { peer: Some(peer) } = &link.kind else {
        return None;
    };
    let up = link.peer.as_ref().is_some_and(|p| p.up);
    if !up && peer_master.is_none() {
        return None;
    }
    let mut msg = LinkMessage::default();
    if up {
        set_up(&mut msg, true);
    }
    msg.attributes.push(LinkAttribute::IfName(peer.clone()));
    if let Some(index) = peer_master {
        msg.attributes.push(LinkAttribute::Controller(index));
    }
    Some(msg)
}

/// RTM_NEWLINK (without NLM_F_CREATE) changing only the fields `change` names.
/// `master` is the resolved `change.controller`: `Some(0)` releases the link; `primary`
/// the resolved primary port of a bond's settings.
pub(super) fn change(
    index: u32,
    change: &LinkChange,
    master: Option<u32>,
    primary: Option<u32>,
) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    if let Some(up) = change.up {
        set_up(&mut msg, up);
    }
    if let Some(mtu) = change.mtu {
        msg.attributes.push(LinkAttribute::Mtu(mtu));
    }
    if let Some(mac) = change.mac {
        msg.attributes.push(LinkAttribute::Address(mac.0.to_vec()));
    }
    if let Some(master) = master {
        msg.attributes.push(LinkAttribute::Controller(master));
    }
    msg.attributes
        .extend(change.inet6.as_ref().map(super::inet6_keys::attribute));
    if let Some(p) = change.promisc {
        msg.header.change_mask |= LinkFlags::Promisc;
        if p {
            msg.header.flags |= LinkFlags::Promisc;
        }
    }
    match change.alias.as_deref() {
        // An empty attribute removes the alias (one holding just the NUL would set "").
        Some("") => msg.attributes.push(LinkAttribute::Other(DefaultNla::new(
            IFLA_IFALIAS,
            Vec::new(),
        ))),
        Some(a) => msg.attributes.push(LinkAttribute::IfAlias(a.to_string())),
        None => {}
    }
    let mut info: Vec<LinkInfo> = Vec::new();
    let mut linkinfo = |attrs: Vec<LinkAttribute>| {
        for a in attrs {
            match a {
                LinkAttribute::LinkInfo(items) => info.extend(items),
                other => msg.attributes.push(other),
            }
        }
    };
    if let Some(b) = &change.bridge {
        linkinfo(vec![bridge::change_info(b)]);
    }
    if let Some(kind) = &change.settings {
        linkinfo(kinds::change_attributes(kind, primary));
    }
    // A port's settings go in the same IFLA_LINKINFO as its own kind's (the kernel reads
    // one).
    if let Some(p) = &change.port {
        linkinfo(vec![bridge::port_info(p)]);
    }
    if let Some(p) = &change.bond_port {
        linkinfo(vec![bond_port::info(p)]);
    }
    if !info.is_empty() {
        msg.attributes.push(LinkAttribute::LinkInfo(info));
    }
    msg
}

pub(super) fn delete(index: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg
}

/// RTM_NEWLINK putting a link into device group `group`.
pub(super) fn set_group(index: u32, group: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::Group(group));
    msg
}

/// RTM_DELLINK of every device in `group` (no ifindex, no name): the kernel unregisters
/// them in one batch.
pub(super) fn delete_group(group: u32) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::Group(group));
    msg
}

/// RTM_DELLINK by name, for a link whose ifindex we never learnt.
pub(super) fn delete_by_name(name: &str) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    msg
}

/// RTM_NEWLINK moving a link into the namespace `netns_fd` refers to.
pub(super) fn move_to_netns(index: u32, netns_fd: RawFd) -> LinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes.push(LinkAttribute::NetNsFd(netns_fd));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(index: u32, name: &str) -> RawLink {
        RawLink {
            index,
            name: name.into(),
            kind: None,
            bridge: None,
            no_bridge_vlans: false,
            port: None,
            bond_port: None,
            loopback: false,
            up: true,
            promisc: false,
            alias: None,
            alt_names: Vec::new(),
            inet6: None,
            mtu: 1500,
            mac: None,
            master: None,
            link: None,
            link_elsewhere: false,
            group: 0,
            info_data: Vec::new(),
            ipv6: None,
        }
    }

    #[test]
    fn kinds_peers_and_controllers_resolve_by_index() {
        let lo = RawLink {
            loopback: true,
            ..raw(1, "lo")
        };
        let stp = BridgeOptions {
            stp: true,
            ..BridgeOptions::default()
        };
        let br = RawLink {
            kind: Some("bridge".into()),
            bridge: Some(stp.clone()),
            ..raw(2, "br0")
        };
        let a = RawLink {
            kind: Some("veth".into()),
            link: Some(4),
            master: Some(2),
            ..raw(3, "a")
        };
        let b = RawLink {
            kind: Some("veth".into()),
            link: Some(3),
            ..raw(4, "b")
        };
        let far = RawLink {
            kind: Some("veth".into()),
            link: Some(3),
            link_elsewhere: true,
            ..raw(5, "far")
        };
        let vx = RawLink {
            kind: Some("vxlan".into()),
            ..raw(6, "vx")
        };
        let (links, names) = to_links(&[lo, br, a, b, far, vx, raw(7, "eth0")]);
        assert_eq!(names[&3], "a");
        assert_eq!(links["lo"].kind, LinkKind::Loopback);
        assert_eq!(links["br0"].kind, LinkKind::Bridge(stp));
        assert_eq!(
            links["a"].kind,
            LinkKind::Veth {
                peer: Some("b".into())
            }
        );
        assert_eq!(links["a"].controller.as_deref(), Some("br0"));
        assert_eq!(
            links["b"].kind,
            LinkKind::Veth {
                peer: Some("a".into())
            }
        );
        assert_eq!(links["far"].kind, LinkKind::Veth { peer: None });
        assert_eq!(links["vx"].kind, LinkKind::Other("vxlan".into()));
        assert_eq!(links["eth0"].kind, LinkKind::Ethernet);
    }
}
