//! Addresses: RTM_*ADDR requests and decoding of address dumps.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::wire;
use crate::netdev::Address;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// The 32-bit flags, which supersede the header's 8 bits when present.
const IFA_FLAGS: u16 = 8;
/// Set on addresses without a lifetime (configured by hand or by hostnet); unset on
/// SLAAC and temporary addresses and on those DHCP clients add with their lease time.
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
/// Length of `struct ifaddrmsg`.
const IFADDRMSG_LEN: usize = 8;

pub(super) fn dump_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = family;
    RouteNetlinkMessage::GetAddress(msg)
}

/// Decodes one RTM_NEWADDR dump message. Only global-scope addresses are reported:
/// link-local and host addresses (fe80::/64, 127.0.0.1) are the kernel's own. Those
/// without IFA_F_PERMANENT are reported as dynamic (see [`Address::dynamic`]).
pub(super) fn parse(payload: &[u8], names: &HashMap<u32, String>) -> Option<Address> {
    let prefix_len = *payload.get(1)?;
    let mut flags = u32::from(*payload.get(2)?);
    let scope = *payload.get(3)?;
    let index = wire::u32_at(payload, 4)?;
    if scope != RT_SCOPE_UNIVERSE {
        return None;
    }
    let mut address = None;
    let mut local = None;
    for (kind, value) in wire::attrs(payload.get(IFADDRMSG_LEN..)?) {
        match kind {
            IFA_ADDRESS => address = wire::as_ip(value),
            IFA_LOCAL => local = wire::as_ip(value),
            IFA_FLAGS => {
                if let Some(f) = value.get(..4).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
                    flags = u32::from_ne_bytes(f);
                }
            }
            _ => {}
        }
    }
    // On point-to-point links IFA_ADDRESS is the peer; IFA_LOCAL is always our own.
    let ip = local.or(address)?;
    Some(Address {
        ifname: names.get(&index)?.clone(),
        addr: IpNet::new(ip, prefix_len).ok()?,
        dynamic: flags & IFA_F_PERMANENT == 0,
    })
}

/// The ifindex an address message is on, when [`parse`] would keep it.
pub(super) fn device(payload: &[u8]) -> Option<u32> {
    (*payload.get(3)? == RT_SCOPE_UNIVERSE)
        .then(|| wire::u32_at(payload, 4))
        .flatten()
}

/// RTM_NEWADDR (send with NLM_F_CREATE | NLM_F_EXCL) or RTM_DELADDR body.
pub(super) fn message(index: u32, address: &Address, adding: bool) -> AddressMessage {
    let mut msg = AddressMessage::default();
    let ip = address.addr.addr();
    msg.header.index = index;
    msg.header.prefix_len = address.addr.prefix_len();
    msg.header.scope = AddressScope::Universe;
    match ip {
        IpAddr::V4(_) => {
            msg.header.family = AddressFamily::Inet;
            msg.attributes.push(AddressAttribute::Local(ip));
            msg.attributes.push(AddressAttribute::Address(ip));
        }
        IpAddr::V6(_) => {
            msg.header.family = AddressFamily::Inet6;
            if adding {
                // Skip duplicate address detection: a tentative address cannot be used
                // as a source for the first second or so after it is configured.
                msg.header.flags = AddressHeaderFlags::Nodad;
            }
            msg.attributes.push(AddressAttribute::Address(ip));
        }
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ifaddrmsg(family: u8, prefix: u8, scope: u8, index: u32, attrs: &[(u16, &[u8])]) -> Vec<u8> {
        let mut out = vec![family, prefix, 0x80, scope];
        out.extend(index.to_ne_bytes());
        for (kind, value) in attrs {
            out.extend(((4 + value.len()) as u16).to_ne_bytes());
            out.extend(kind.to_ne_bytes());
            out.extend_from_slice(value);
            out.resize(wire::align4(out.len()), 0);
        }
        out
    }

    #[test]
    fn ipv4_prefers_local_and_skips_host_scope() {
        let names = HashMap::from([(2, "eth0".to_string())]);
        let msg = ifaddrmsg(
            2,
            24,
            0,
            2,
            &[(IFA_ADDRESS, &[10, 0, 0, 9]), (IFA_LOCAL, &[10, 0, 0, 1])],
        );
        let got = parse(&msg, &names).expect("test value");
        assert_eq!(got.ifname, "eth0");
        assert_eq!(
            got.addr,
            "10.0.0.1/24".parse::<IpNet>().expect("test value")
        );
        let lo = ifaddrmsg(2, 8, 254, 2, &[(IFA_LOCAL, &[127, 0, 0, 1])]);
        assert!(parse(&lo, &names).is_none());
        let unknown = ifaddrmsg(2, 24, 0, 9, &[(IFA_LOCAL, &[10, 0, 0, 1])]);
        assert!(parse(&unknown, &names).is_none());
    }

    #[test]
    fn addresses_without_the_permanent_flag_are_dynamic() {
        let names = HashMap::from([(2, "br0".to_string())]);
        let v6 = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0x85, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5,
        ];
        // A SLAAC address: header flags 0 and IFA_FLAGS without IFA_F_PERMANENT
        // (IFA_F_MANAGETEMPADDR, 0x100, as with use_tempaddr).
        let mut slaac = ifaddrmsg(
            10,
            64,
            0,
            2,
            &[(IFA_ADDRESS, &v6), (IFA_FLAGS, &0x100u32.to_ne_bytes())],
        );
        slaac[2] = 0;
        assert!(parse(&slaac, &names).expect("test value").dynamic);
        // The header's byte says permanent, IFA_FLAGS (which wins) says not.
        let flags_win = ifaddrmsg(
            10,
            64,
            0,
            2,
            &[(IFA_ADDRESS, &v6), (IFA_FLAGS, &0u32.to_ne_bytes())],
        );
        assert!(parse(&flags_win, &names).expect("test value").dynamic);
        let permanent = ifaddrmsg(
            2,
            24,
            0,
            2,
            &[
                (IFA_LOCAL, &[192, 0, 2, 1]),
                (IFA_FLAGS, &0x80u32.to_ne_bytes()),
            ],
        );
        assert!(!parse(&permanent, &names).expect("test value").dynamic);
        // Without IFA_FLAGS (older kernels) the header decides.
        let mut dhcp = ifaddrmsg(2, 24, 0, 2, &[(IFA_LOCAL, &[192, 0, 2, 7])]);
        dhcp[2] = 0;
        assert!(parse(&dhcp, &names).expect("test value").dynamic);
    }
}
