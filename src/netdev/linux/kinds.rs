//! IFLA_INFO_DATA of the kinds beyond bridges and veths: decoding from dumps and the
//! link-info attributes of create requests.

mod bond;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_route::link::{
    InfoData, InfoIpVlan, InfoKind, InfoMacVlan, InfoMacVtap, InfoVlan, InfoVrf, InfoVxlan,
    IpVlanFlags, IpVlanMode as NlIpVlanMode, LinkAttribute, LinkInfo, MacVlanFlags,
    MacVlanMode as NlMacVlanMode, VlanFlags, VlanProtocol as NlVlanProtocol,
};

use super::wire;
use crate::netdev::{
    IpVlanMode, IpVlanOptions, LinkKind, MacVlanMode, MacVlanOptions, TapOptions, VlanOptions,
    VlanProtocol, VxlanOptions, IPVLAN_F_PRIVATE, IPVLAN_F_VEPA, MACVLAN_FLAG_NOPROMISC,
    VLAN_FLAGS_MASK,
};
use bond::{bond_changeable, bond_create, decode_bond};

const IFLA_VLAN_ID: u16 = 1;
const IFLA_VLAN_FLAGS: u16 = 2;
const IFLA_VLAN_PROTOCOL: u16 = 5;
const IFLA_VXLAN_ID: u16 = 1;
const IFLA_VXLAN_GROUP: u16 = 2;
const IFLA_VXLAN_LINK: u16 = 3;
const IFLA_VXLAN_LOCAL: u16 = 4;
const IFLA_VXLAN_LEARNING: u16 = 7;
const IFLA_VXLAN_PORT: u16 = 15;
const IFLA_VXLAN_GROUP6: u16 = 16;
const IFLA_VXLAN_LOCAL6: u16 = 17;
const IFLA_MACVLAN_MODE: u16 = 1;
const IFLA_MACVLAN_FLAGS: u16 = 2;
const IFLA_IPVLAN_MODE: u16 = 1;
const IFLA_IPVLAN_FLAGS: u16 = 2;
const IFLA_VRF_TABLE: u16 = 1;
const IFLA_TUN_OWNER: u16 = 1;
const IFLA_TUN_GROUP: u16 = 2;
const IFLA_TUN_TYPE: u16 = 3;
const IFLA_TUN_PERSIST: u16 = 6;
const IFLA_TUN_MULTI_QUEUE: u16 = 7;
/// IFF_TAP in IFLA_TUN_TYPE.
const TUN_TYPE_TAP: u8 = 2;
/// The kernel reports "no owner" as the invalid id.
const INVALID_ID: u32 = u32::MAX;

fn attr(data: &[u8], kind: u16) -> Option<&[u8]> {
    wire::attrs(data).find(|(k, _)| *k == kind).map(|(_, v)| v)
}

fn u8_attr(data: &[u8], kind: u16) -> Option<u8> {
    attr(data, kind).and_then(|v| v.first().copied())
}

fn u32_attr(data: &[u8], kind: u16) -> Option<u32> {
    attr(data, kind).and_then(wire::as_u32)
}

fn ip_attr(data: &[u8], v4: u16, v6: u16) -> Option<IpAddr> {
    if let Some(b) = attr(data, v4).and_then(|v| <[u8; 4]>::try_from(v).ok()) {
        let a = Ipv4Addr::from(b);
        return (!a.is_unspecified()).then_some(IpAddr::V4(a));
    }
    let b = attr(data, v6).and_then(|v| <[u8; 16]>::try_from(v).ok())?;
    let a = Ipv6Addr::from(b);
    (!a.is_unspecified()).then_some(IpAddr::V6(a))
}

/// The ifindex a link of kernel kind `kind` names in its IFLA_INFO_DATA as its lower
/// device (a VXLAN's; the others' is IFLA_LINK), for a read that resolves only what it
/// needs.
pub(super) fn lower_index(kind: &str, data: &[u8]) -> Option<u32> {
    (kind == "vxlan")
        .then(|| u32_attr(data, IFLA_VXLAN_LINK))
        .flatten()
        .filter(|i| *i != 0)
}

/// The platform-neutral kind of a link of kernel kind `kind` with IFLA_INFO_DATA
/// `data`; `base` is the name of its IFLA_LINK (`None` when elsewhere or unknown).
/// `None` when the kind is not one of these (or its data is not what it should be).
pub(super) fn decode(
    kind: &str,
    data: &[u8],
    base: Option<String>,
    names: &HashMap<u32, String>,
) -> Option<LinkKind> {
    Some(match kind {
        "vlan" => LinkKind::Vlan(decode_vlan(data, base)?),
        "bond" => LinkKind::Bond(decode_bond(data, names)?),
        "dummy" => LinkKind::Dummy,
        "vrf" => LinkKind::Vrf {
            table: u32_attr(data, IFLA_VRF_TABLE)?,
        },
        "vxlan" => LinkKind::Vxlan(VxlanOptions {
            id: u32_attr(data, IFLA_VXLAN_ID)?,
            base: u32_attr(data, IFLA_VXLAN_LINK)
                .filter(|i| *i != 0)
                .and_then(|i| names.get(&i).cloned()),
            remote: ip_attr(data, IFLA_VXLAN_GROUP, IFLA_VXLAN_GROUP6),
            local: ip_attr(data, IFLA_VXLAN_LOCAL, IFLA_VXLAN_LOCAL6),
            dst_port: attr(data, IFLA_VXLAN_PORT)
                .and_then(|v| <[u8; 2]>::try_from(v).ok())
                .map(u16::from_be_bytes)?,
            learning: u8_attr(data, IFLA_VXLAN_LEARNING).unwrap_or(0) != 0,
        }),
        "macvlan" | "macvtap" => {
            let flags = attr(data, IFLA_MACVLAN_FLAGS)
                .and_then(|v| wire::u16_at(v, 0))
                .unwrap_or(0);
            let options = MacVlanOptions {
                base,
                mode: MacVlanMode::from_number(u32_attr(data, IFLA_MACVLAN_MODE)?)?,
                promiscuous: flags & MACVLAN_FLAG_NOPROMISC == 0,
            };
            if kind == "macvlan" {
                LinkKind::MacVlan(options)
            } else {
                LinkKind::MacVtap(options)
            }
        }
        "ipvlan" => {
            let u16_attr = |k| attr(data, k).and_then(|v| wire::u16_at(v, 0));
            let flags = u16_attr(IFLA_IPVLAN_FLAGS).unwrap_or(0);
            LinkKind::IpVlan(IpVlanOptions {
                base,
                mode: IpVlanMode::from_number(u16_attr(IFLA_IPVLAN_MODE).unwrap_or(0))?,
                private: flags & IPVLAN_F_PRIVATE != 0,
                vepa: flags & IPVLAN_F_VEPA != 0,
            })
        }
        "tun" if u8_attr(data, IFLA_TUN_TYPE) == Some(TUN_TYPE_TAP) => LinkKind::Tap(TapOptions {
            owner: u32_attr(data, IFLA_TUN_OWNER).filter(|u| *u != INVALID_ID),
            group: u32_attr(data, IFLA_TUN_GROUP).filter(|g| *g != INVALID_ID),
            multi_queue: u8_attr(data, IFLA_TUN_MULTI_QUEUE).unwrap_or(0) != 0,
            persistent: u8_attr(data, IFLA_TUN_PERSIST).unwrap_or(0) != 0,
        }),
        _ => return None,
    })
}

/// A VLAN's id, protocol (802.1Q when the kernel does not say) and flags.
fn decode_vlan(data: &[u8], base: Option<String>) -> Option<VlanOptions> {
    let id = attr(data, IFLA_VLAN_ID).and_then(|v| wire::u16_at(v, 0))?;
    let mut v = VlanOptions::new(base, id);
    if let Some(p) = attr(data, IFLA_VLAN_PROTOCOL) {
        let t = <[u8; 2]>::try_from(p).ok().map(u16::from_be_bytes)?;
        v.protocol = VlanProtocol::from_ethertype(t)?;
    }
    // struct ifla_vlan_flags { u32 flags; u32 mask; }
    if let Some(flags) = attr(data, IFLA_VLAN_FLAGS).and_then(|f| wire::u32_at(f, 0)) {
        v.set_flags(flags);
    }
    Some(v)
}

/// IFLA_VLAN_FLAGS with hostnet's mask: the flags it manages, set or cleared.
fn vlan_flags(v: &VlanOptions) -> InfoVlan {
    InfoVlan::Flags((
        VlanFlags::from_bits_retain(v.flags()),
        VlanFlags::from_bits_retain(VLAN_FLAGS_MASK),
    ))
}

fn macvlan_flags(m: &MacVlanOptions) -> MacVlanFlags {
    let mut f = MacVlanFlags::empty();
    if !m.promiscuous {
        f |= MacVlanFlags::NoPromisc;
    }
    f
}

fn ip_pair(
    ip: Option<IpAddr>,
    v4: fn(Ipv4Addr) -> InfoVxlan,
    v6: fn(Ipv6Addr) -> InfoVxlan,
) -> Option<InfoVxlan> {
    ip.map(|a| match a {
        IpAddr::V4(a) => v4(a),
        IpAddr::V6(a) => v6(a),
    })
}

/// IFLA_LINKINFO: the kind and its data.
pub(super) fn link_info(kind: InfoKind, data: InfoData) -> LinkAttribute {
    LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind), LinkInfo::Data(data)])
}

/// A macvlan's, macvtap's or ipvlan's mode and flags: all of its data, at creation and
/// in a change alike.
fn macvlan_mode(kind: &LinkKind) -> Option<(InfoKind, InfoData)> {
    match kind {
        LinkKind::MacVlan(m) => Some((
            InfoKind::MacVlan,
            InfoData::MacVlan(vec![
                InfoMacVlan::Mode(NlMacVlanMode::from(m.mode.number())),
                InfoMacVlan::Flags(macvlan_flags(m)),
            ]),
        )),
        LinkKind::MacVtap(m) => Some((
            InfoKind::MacVtap,
            InfoData::MacVtap(vec![
                InfoMacVtap::Mode(NlMacVlanMode::from(m.mode.number())),
                InfoMacVtap::Flags(macvlan_flags(m)),
            ]),
        )),
        LinkKind::IpVlan(m) => Some((
            InfoKind::IpVlan,
            InfoData::IpVlan(vec![
                InfoIpVlan::Mode(NlIpVlanMode::from(m.mode.number())),
                InfoIpVlan::Flags(IpVlanFlags::from_bits_retain(m.flags())),
            ]),
        )),
        _ => None,
    }
}

/// The IFLA_LINKINFO that changes a link's settings in place (see
/// [`LinkKind::changes_in_place`]): only what may change is sent.
pub(super) fn change_attributes(kind: &LinkKind, primary: Option<u32>) -> Vec<LinkAttribute> {
    let (info_kind, data) = match kind {
        LinkKind::Bond(b) => (InfoKind::Bond, InfoData::Bond(bond_changeable(b, primary))),
        // The kernel ignores a change of id or protocol; only the flags are sent.
        LinkKind::Vlan(v) => (InfoKind::Vlan, InfoData::Vlan(vec![vlan_flags(v)])),
        other => match macvlan_mode(other) {
            Some(mode) => mode,
            None => return Vec::new(),
        },
    };
    vec![link_info(info_kind, data)]
}

/// IFLA_NUM_TX_QUEUES and IFLA_NUM_RX_QUEUES of 1, for each end of a veth hostnet
/// creates. Without them the kernel gives a veth one queue per possible CPU and shrinks
/// the queues in use to one before the request returns (`veth_init_queues`), which waits
/// for an RCU grace period per pair under RTNL (`netif_set_real_num_tx_queues` →
/// `synchronize_net`): at 1,000 pairs in a namespace, 3.3 s against 1.0 s with them, 2,015
/// context switches against 65, on this 2-CPU machine under load. A pair so made has the
/// one queue a default pair uses, but `ethtool -L` cannot raise it (the maximum is 1, not
/// the CPU count); see README "Devices hostnet creates without IPv6".
pub(super) fn single_queue() -> [LinkAttribute; 2] {
    [LinkAttribute::NumTxQueues(1), LinkAttribute::NumRxQueues(1)]
}

/// The attributes that create a link of `kind` (IFLA_LINKINFO, and IFLA_LINK for a
/// stacked device, with `base` the lower device's ifindex). Empty for kinds not here
/// (and for taps, which are not created over netlink).
pub(super) fn create_attributes(kind: &LinkKind, base: Option<u32>) -> Vec<LinkAttribute> {
    let (info_kind, data) = match kind {
        LinkKind::Vlan(v) => (
            InfoKind::Vlan,
            InfoData::Vlan(vec![
                InfoVlan::Id(v.id),
                InfoVlan::Protocol(NlVlanProtocol::from(v.protocol.ethertype())),
                vlan_flags(v),
            ]),
        ),
        LinkKind::Bond(b) => (InfoKind::Bond, InfoData::Bond(bond_create(b))),
        LinkKind::Dummy => {
            return vec![LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                InfoKind::Dummy,
            )])];
        }
        LinkKind::Vrf { table } => (InfoKind::Vrf, InfoData::Vrf(vec![InfoVrf::TableId(*table)])),
        LinkKind::Vxlan(v) => {
            let mut data = vec![InfoVxlan::Id(v.id)];
            // IFLA_VXLAN_LINK binds the tunnel; it is not the link of the message.
            data.extend(base.map(InfoVxlan::Link));
            data.extend(ip_pair(v.remote, InfoVxlan::Group, InfoVxlan::Group6));
            data.extend(ip_pair(v.local, InfoVxlan::Local, InfoVxlan::Local6));
            data.push(InfoVxlan::Port(v.dst_port));
            data.push(InfoVxlan::Learning(v.learning));
            return vec![link_info(InfoKind::Vxlan, InfoData::Vxlan(data))];
        }
        other => match macvlan_mode(other) {
            Some(mode) => mode,
            None => return Vec::new(),
        },
    };
    let mut attrs = Vec::new();
    attrs.extend(base.map(LinkAttribute::Link));
    attrs.push(link_info(info_kind, data));
    attrs
}

#[cfg(test)]
mod tests {
    //! Golden RTM_NEWLINK bodies for the kinds this kernel cannot create (VLAN, bond),
    //! checked field by field against the kernel's if_link.h numbering, so that a
    //! change in the netlink crate's encoding shows here and not only in the VM tier.

    use netlink_packet_core::Emitable;

    use super::super::{link, wire};
    use crate::netdev::*;

    fn body(kind: LinkKind, base: Option<u32>) -> Vec<u8> {
        let new = NewLink {
            name: "t0".into(),
            kind,
            up: true,
            mtu: None,
            mac: None,
            controller: None,
            peer: None,
        };
        let msg = link::create(&new, None, base);
        let mut buf = vec![0; msg.buffer_len()];
        msg.emit(&mut buf);
        buf
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// (type, value) of the attributes after the 16-byte ifinfomsg.
    fn attrs(b: &[u8]) -> Vec<(u16, Vec<u8>)> {
        wire::attrs(&b[16..])
            .map(|(k, v)| (k, v.to_vec()))
            .collect()
    }

    #[test]
    fn vlan_request_is_golden() {
        let b = body(
            LinkKind::Vlan(VlanOptions::new(Some("eth0".into()), 100)),
            Some(7),
        );
        insta::assert_snapshot!(hex(&b));
        // ifinfomsg: family 0, flags IFF_UP, change mask IFF_UP.
        assert_eq!(&b[8..16], &[1, 0, 0, 0, 1, 0, 0, 0]);
        let a = attrs(&b);
        assert!(a.contains(&(3, b"t0\0".to_vec())), "IFLA_IFNAME");
        assert!(a.contains(&(5, 7u32.to_ne_bytes().to_vec())), "IFLA_LINK");
        let info = &a.iter().find(|(k, _)| *k == 18).expect("IFLA_LINKINFO").1;
        let info: Vec<(u16, Vec<u8>)> = wire::attrs(info).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(info[0], (1, b"vlan\0".to_vec()), "IFLA_INFO_KIND");
        let data: Vec<(u16, Vec<u8>)> = wire::attrs(&info[1].1)
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        // IFLA_VLAN_ID; IFLA_VLAN_PROTOCOL, big-endian 0x8100; IFLA_VLAN_FLAGS,
        // { flags: REORDER_HDR, mask: REORDER_HDR | GVRP | LOOSE_BINDING | MVRP }.
        let flags: Vec<u8> = [1u32, 0xf].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(
            data,
            [
                (1, 100u16.to_ne_bytes().to_vec()),
                (5, vec![0x81, 0x00]),
                (2, flags)
            ],
            "vlan data"
        );
    }

    #[test]
    fn vlan_flags_and_protocol_are_golden_and_decode() {
        use std::collections::HashMap;
        let mut v = VlanOptions::new(Some("eth0".into()), 300);
        v.protocol = VlanProtocol::Dot1Ad;
        v.reorder_headers = false;
        v.loose_binding = true;
        v.mvrp = true;
        let kind = LinkKind::Vlan(v);
        let b = body(kind.clone(), Some(7));
        let a = attrs(&b);
        let info = &a.iter().find(|(k, _)| *k == 18).expect("IFLA_LINKINFO").1;
        let data = wire::attrs(info)
            .find(|(k, _)| *k == 2)
            .expect("IFLA_INFO_DATA")
            .1;
        let fields: Vec<(u16, Vec<u8>)> = wire::attrs(data).map(|(k, v)| (k, v.to_vec())).collect();
        let flags: Vec<u8> = [0xcu32, 0xf].iter().flat_map(|v| v.to_ne_bytes()).collect();
        assert_eq!(
            fields[1],
            (5, vec![0x88, 0xa8]),
            "IFLA_VLAN_PROTOCOL 802.1ad"
        );
        assert_eq!(fields[2], (2, flags), "LOOSE_BINDING | MVRP under the mask");
        let names: HashMap<u32, String> = HashMap::new();
        assert_eq!(
            super::decode("vlan", data, Some("eth0".into()), &names),
            Some(kind.clone())
        );
        // A change sends only the flags: the kernel ignores id and protocol there.
        let change = super::change_attributes(&kind, None);
        let netlink_packet_route::link::LinkAttribute::LinkInfo(info) = &change[0] else {
            panic!("IFLA_LINKINFO")
        };
        assert!(
            matches!(&info[1], netlink_packet_route::link::LinkInfo::Data(
                netlink_packet_route::link::InfoData::Vlan(d)) if d.len() == 1),
            "{info:?}"
        );
    }

    #[test]
    fn bond_request_is_golden() {
        let b = body(LinkKind::Bond(BondOptions::new(BondMode::Lacp, 100)), None);
        insta::assert_snapshot!(hex(&b));
        let a = attrs(&b);
        assert!(!a.iter().any(|(k, _)| *k == 5), "a bond has no IFLA_LINK");
        let info = &a.iter().find(|(k, _)| *k == 18).expect("IFLA_LINKINFO").1;
        let info: Vec<(u16, Vec<u8>)> = wire::attrs(info).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(info[0], (1, b"bond\0".to_vec()), "IFLA_INFO_KIND");
        let data: Vec<(u16, Vec<u8>)> = wire::attrs(&info[1].1)
            .map(|(k, v)| (k, v.to_vec()))
            .collect();
        // IFLA_BOND_MODE (u8, 802.3ad = 4), IFLA_BOND_MIIMON (u32).
        assert_eq!(
            data,
            [(1, vec![4]), (3, 100u32.to_ne_bytes().to_vec())],
            "bond data"
        );
    }

    #[test]
    fn vxlan_macvlan_and_ipvlan_decode_what_they_encode() {
        use std::collections::HashMap;
        let names: HashMap<u32, String> = [(7, "eth0".to_string())].into();
        let vx = LinkKind::Vxlan(VxlanOptions {
            id: 42,
            base: Some("eth0".into()),
            remote: Some("192.0.2.9".parse().expect("ip")),
            local: Some("192.0.2.1".parse().expect("ip")),
            dst_port: 4789,
            learning: false,
        });
        let mv = LinkKind::MacVtap(MacVlanOptions {
            base: Some("eth0".into()),
            mode: MacVlanMode::Passthru,
            promiscuous: false,
        });
        let iv = LinkKind::IpVlan(IpVlanOptions {
            base: Some("eth0".into()),
            mode: IpVlanMode::L3s,
            private: false,
            vepa: true,
        });
        for (kind, name) in [(vx, "vxlan"), (mv, "macvtap"), (iv, "ipvlan")] {
            let b = body(kind.clone(), Some(7));
            let a = attrs(&b);
            let info = &a.iter().find(|(k, _)| *k == 18).expect("IFLA_LINKINFO").1;
            let data = wire::attrs(info)
                .find(|(k, _)| *k == 2)
                .expect("IFLA_INFO_DATA")
                .1;
            let base = kind.base().map(str::to_string);
            assert_eq!(super::decode(name, data, base, &names), Some(kind));
        }
    }

    #[test]
    fn ipvlan_mode_and_flags_have_the_kernels_numbers() {
        let kind = LinkKind::IpVlan(IpVlanOptions {
            base: Some("eth0".into()),
            mode: IpVlanMode::L2,
            private: true,
            vepa: false,
        });
        let b = body(kind, Some(7));
        let a = attrs(&b);
        // IFLA_LINK (5) is the base.
        let link = &a.iter().find(|(k, _)| *k == 5).expect("IFLA_LINK").1;
        assert_eq!(wire::as_u32(link), Some(7));
        let info = &a.iter().find(|(k, _)| *k == 18).expect("IFLA_LINKINFO").1;
        let kind_name = wire::attrs(info).find(|(k, _)| *k == 1).expect("KIND").1;
        assert_eq!(kind_name, b"ipvlan\0");
        let data = wire::attrs(info).find(|(k, _)| *k == 2).expect("DATA").1;
        // IFLA_IPVLAN_MODE 1 = IPVLAN_MODE_L2 (0), IFLA_IPVLAN_FLAGS 2 = IPVLAN_F_PRIVATE (1).
        let d: Vec<(u16, Vec<u8>)> = wire::attrs(data).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(d, vec![(1, vec![0, 0]), (2, vec![1, 0])]);
    }
}
