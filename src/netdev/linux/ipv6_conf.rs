//! A link's IPv6 switches (`disable_ipv6`, `autoconf`), as every link dump message already
//! carries them (IFLA_AF_SPEC, AF_INET6, IFLA_INET6_CONF: the interface's
//! `net.ipv6.conf.IF.*`, an array of s32 by DEVCONF_* index): reading them costs no request
//! and no /proc file per interface. Only the `default` ones, which no link carries, are
//! read from /proc.

use super::wire;
use crate::netdev::Ipv6Switches;

const AF_INET6: u16 = libc::AF_INET6 as u16;
pub(super) const IFLA_INET6_CONF: u16 = 2;
/// DEVCONF_DISABLE_IPV6 in include/uapi/linux/ipv6.h.
const DEVCONF_DISABLE_IPV6: usize = 26;
/// DEVCONF_AUTOCONF in include/uapi/linux/ipv6.h.
const DEVCONF_AUTOCONF: usize = 5;

/// The switches the IFLA_AF_SPEC attribute `af_spec` gives its link; `None` when it has no
/// IPv6 devconf (a kernel without IPv6).
pub(super) fn switches(af_spec: &[u8]) -> Option<Ipv6Switches> {
    let conf = wire::attrs(inet6(af_spec)?)
        .find(|(kind, _)| *kind == IFLA_INET6_CONF)?
        .1;
    let on = |i: usize| wire::i32_at(conf, i * 4).is_some_and(|v| v != 0);
    Some(Ipv6Switches {
        disabled: on(DEVCONF_DISABLE_IPV6),
        autoconf: on(DEVCONF_AUTOCONF),
    })
}

/// The AF_INET6 part of a link's IFLA_AF_SPEC `af_spec` (its IFLA_INET6_* attributes);
/// `None` for a link without IPv6 state.
pub(super) fn inet6(af_spec: &[u8]) -> Option<&[u8]> {
    wire::attrs(af_spec)
        .find(|(family, _)| *family == AF_INET6)
        .map(|(_, inet6)| inet6)
}

/// The switches a new link starts with, from `/proc/sys/net/ipv6/conf/default` of the
/// calling thread's namespace; `None` on a host without IPv6.
pub(super) fn defaults() -> Option<Ipv6Switches> {
    let read = |leaf: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/default/{leaf}"))
            .ok()
            .map(|v| v.trim() != "0")
    };
    Some(Ipv6Switches {
        disabled: read("disable_ipv6")?,
        autoconf: read("autoconf")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::linux::wire::nla;

    fn af_spec(disable: i32, autoconf: i32) -> Vec<u8> {
        let mut conf = vec![0u8; 4 * (DEVCONF_DISABLE_IPV6 + 4)];
        conf[4 * DEVCONF_DISABLE_IPV6..4 * DEVCONF_DISABLE_IPV6 + 4]
            .copy_from_slice(&disable.to_ne_bytes());
        conf[4 * DEVCONF_AUTOCONF..4 * DEVCONF_AUTOCONF + 4]
            .copy_from_slice(&autoconf.to_ne_bytes());
        let inet6 = nla(IFLA_INET6_CONF, &conf);
        let mut out = nla(libc::AF_INET as u16, &nla(1, &[0; 8]));
        out.extend(nla(AF_INET6, &inet6));
        out
    }

    #[test]
    fn the_switches_are_read_from_the_inet6_devconf() {
        let sw = |disabled, autoconf| Some(Ipv6Switches { disabled, autoconf });
        assert_eq!(switches(&af_spec(1, 1)), sw(true, true));
        assert_eq!(switches(&af_spec(0, 0)), sw(false, false));
        assert_eq!(switches(&af_spec(0, 1)), sw(false, true));
        // A kernel without IPv6 sends no AF_INET6 part.
        assert_eq!(switches(&nla(libc::AF_INET as u16, &nla(1, &[0; 8]))), None);
    }
}
