//! Alternative names: RTM_NEWLINKPROP / RTM_DELLINKPROP with
//! IFLA_PROP_LIST{IFLA_ALT_IFNAME}, one name per request, and their decoding from the
//! link dump (each link's IFLA_PROP_LIST).
//!
//! The kernel keeps names and alternative names in one namespace: a name another link
//! has as its name or alternative name is EEXIST; deleting a name the link does not have
//! is ENOENT, or EINVAL when it is the link's own name or another link's. An
//! alternative name is at most 127 bytes (ALTIFNAMSIZ 128, ERANGE beyond); 6.18 checks
//! nothing else of it (an empty name, spaces and '/' are taken), which is why validation
//! refuses more (see `model::alt_names`).

use std::collections::{BTreeMap, BTreeSet};

use netlink_packet_route::link::{LinkAttribute, LinkMessage, Prop};
use netlink_packet_route::RouteNetlinkMessage;

use super::link::RawLink;
use super::wire;

pub(super) const IFLA_PROP_LIST: u16 = 52;
const IFLA_ALT_IFNAME: u16 = 53;

/// The request that adds (`add`) or removes alternative name `alt` of link `index`.
pub(super) fn request(index: u32, alt: &str, add: bool) -> RouteNetlinkMessage {
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    msg.attributes
        .push(LinkAttribute::PropList(vec![Prop::AltIfName(
            alt.to_string(),
        )]));
    if add {
        RouteNetlinkMessage::NewLinkProp(msg)
    } else {
        RouteNetlinkMessage::DelLinkProp(msg)
    }
}

/// The alternative names in one link's IFLA_PROP_LIST, in the kernel's order.
pub(super) fn decode(prop_list: &[u8]) -> Vec<String> {
    wire::attrs(prop_list)
        .filter(|(kind, _)| *kind == IFLA_ALT_IFNAME)
        .map(|(_, value)| wire::as_string(value))
        .collect()
}

/// The alternative names of the links among `raw`, by link name.
pub(super) fn of_links(raw: &[RawLink]) -> BTreeMap<String, BTreeSet<String>> {
    raw.iter()
        .filter(|l| !l.alt_names.is_empty())
        .map(|l| (l.name.clone(), l.alt_names.iter().cloned().collect()))
        .collect()
}

/// Errnos that mean a removal found the name already gone with its link, or gone.
pub(super) fn already_gone(add: bool, errno: i32) -> bool {
    !add && matches!(errno, libc::ENOENT | libc::ENODEV)
}

/// The kernel's bare errno explained.
pub(super) fn why(add: bool, errno: i32) -> Option<String> {
    match (add, errno) {
        (true, libc::EEXIST) => Some(
            "the name is taken: another interface has it as its name or alternative name".into(),
        ),
        (false, libc::EINVAL) => Some(
            "the name is the interface's own name or another interface's alternative name".into(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::linux::wire::nla;
    use netlink_packet_core::Emitable;

    #[test]
    fn decodes_the_names_of_a_prop_list() {
        let mut list = nla(IFLA_ALT_IFNAME, b"port1\0");
        list.extend(nla(99, b"x\0"));
        list.extend(nla(IFLA_ALT_IFNAME, b"a-long-alternative-name\0"));
        assert_eq!(decode(&list), vec!["port1", "a-long-alternative-name"]);
        assert!(decode(&[]).is_empty());
    }

    #[test]
    fn one_name_per_request() {
        for (add, kind) in [(true, 108u16), (false, 109)] {
            let msg = request(7, "port1", add);
            assert_eq!(msg.message_type(), kind);
            let (RouteNetlinkMessage::NewLinkProp(m) | RouteNetlinkMessage::DelLinkProp(m)) = &msg
            else {
                panic!("not a link property message");
            };
            assert_eq!(m.header.index, 7);
            let mut buf = vec![0; m.buffer_len()];
            m.emit(&mut buf);
            let attrs: Vec<(u16, Vec<u8>)> = wire::attrs(&buf[16..])
                .map(|(k, v)| (k, v.to_vec()))
                .collect();
            assert_eq!(attrs.len(), 1);
            assert_eq!(attrs[0].0, IFLA_PROP_LIST);
            assert_eq!(decode(&attrs[0].1), vec!["port1"]);
        }
    }
}
