//! nmstate's IPv6 `addr-gen-mode` and `token` on the wire: decoded from the
//! IFLA_AF_SPEC{AF_INET6} every link dump message carries, and set with RTM_SETLINK.
//! The AF_INET6 part is found by `ipv6_conf`, which reads the same attribute's switches.

use std::collections::BTreeMap;
use std::net::Ipv6Addr;

use netlink_packet_route::link::{AfSpecInet6, AfSpecUnspec, In6AddrGenMode, LinkAttribute};

use super::ipv6_conf::IFLA_INET6_CONF;
use super::wire;
use crate::netdev::inet6::{Inet6Change, Inet6Link};

const IFLA_INET6_TOKEN: u16 = 7;
const IFLA_INET6_ADDR_GEN_MODE: u16 = 8;
/// DEVCONF_* indexes of include/uapi/linux/ipv6.h.
const DEVCONF_FORWARDING: usize = 0;
const DEVCONF_ACCEPT_RA: usize = 3;
const DEVCONF_RTR_SOLICITS: usize = 7;

/// A link's address generation mode and token from its IFLA_AF_SPEC `af_spec`; `None`
/// for a link without IPv6 state (no AF_INET6 part). `loopback`: the kernel refuses a
/// token there.
pub(super) fn decode(af_spec: &[u8], loopback: bool) -> Option<Inet6Link> {
    let inet6 = super::ipv6_conf::inet6(af_spec)?;
    let mut out = Inet6Link::default();
    let conf = |i: usize, at: &[u8]| wire::i32_at(at, i * 4).unwrap_or(0);
    for (kind, value) in wire::attrs(inet6) {
        match kind {
            IFLA_INET6_ADDR_GEN_MODE => out.addr_gen_mode = value.first().copied().unwrap_or(0),
            IFLA_INET6_TOKEN => {
                out.token = <[u8; 16]>::try_from(value)
                    .ok()
                    .map(Ipv6Addr::from)
                    .filter(|t| !t.is_unspecified());
            }
            IFLA_INET6_CONF => {
                // The kernel's ipv6_accept_ra(): with forwarding on, only accept_ra 2.
                let ra = match conf(DEVCONF_FORWARDING, value) {
                    0 => conf(DEVCONF_ACCEPT_RA, value) != 0,
                    _ => conf(DEVCONF_ACCEPT_RA, value) == 2,
                };
                out.token_settable = !loopback && ra && conf(DEVCONF_RTR_SOLICITS, value) != 0;
            }
            _ => {}
        }
    }
    Some(out)
}

/// The links' IPv6 address generation modes and tokens among `raw`.
pub(super) fn of_links(raw: &[super::link::RawLink]) -> BTreeMap<String, Inet6Link> {
    raw.iter()
        .filter_map(|l| Some((l.name.clone(), l.inet6.clone()?)))
        .collect()
}

/// IFLA_AF_SPEC{AF_INET6{IFLA_INET6_TOKEN, IFLA_INET6_ADDR_GEN_MODE}} for `change`.
pub(super) fn attribute(change: &Inet6Change) -> LinkAttribute {
    let mut inet6 = Vec::new();
    if let Some(t) = change.token {
        inet6.push(AfSpecInet6::Token(t));
    }
    if let Some(m) = change.addr_gen_mode {
        inet6.push(AfSpecInet6::AddrGenMode(In6AddrGenMode::from(m)));
    }
    LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(inet6)])
}

/// Whether `net.ipv6.conf.default.stable_secret` is set. The file reads EIO while it is
/// not; its value (a secret) is read by the kernel for us and dropped here, never kept.
pub(super) fn default_secret_set() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/default/stable_secret")
        .is_ok_and(|s| !s.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::linux::wire::nla;

    fn af_spec(forwarding: i32, accept_ra: i32, mode: u8, token: Ipv6Addr) -> Vec<u8> {
        let mut conf = vec![0u8; 4 * 40];
        let mut set = |i: usize, v: i32| conf[4 * i..4 * i + 4].copy_from_slice(&v.to_ne_bytes());
        set(DEVCONF_FORWARDING, forwarding);
        set(DEVCONF_ACCEPT_RA, accept_ra);
        set(DEVCONF_RTR_SOLICITS, -1);
        let mut inet6 = nla(IFLA_INET6_CONF, &conf);
        inet6.extend(nla(IFLA_INET6_TOKEN, &token.octets()));
        inet6.extend(nla(IFLA_INET6_ADDR_GEN_MODE, &[mode]));
        nla(libc::AF_INET6 as u16, &inet6)
    }

    #[test]
    fn mode_token_and_whether_a_token_is_taken_are_decoded() {
        let t: Ipv6Addr = "::1:2".parse().expect("addr");
        let l = decode(&af_spec(0, 1, 2, t), false).expect("inet6");
        assert_eq!(
            (l.addr_gen_mode, l.token, l.token_settable),
            (2, Some(t), true)
        );
        // Forwarding on: only accept_ra 2 takes router advertisements.
        assert!(
            !decode(&af_spec(1, 1, 0, t), false)
                .expect("inet6")
                .token_settable
        );
        assert!(
            decode(&af_spec(1, 2, 0, t), false)
                .expect("inet6")
                .token_settable
        );
        assert!(
            !decode(&af_spec(0, 1, 0, t), true)
                .expect("inet6")
                .token_settable
        );
        let none = decode(&af_spec(0, 1, 0, Ipv6Addr::UNSPECIFIED), false).expect("inet6");
        assert_eq!(none.token, None);
        assert_eq!(decode(&nla(2, &[]), false), None);
    }
}
