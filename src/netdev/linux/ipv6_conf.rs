//! A link's IPv6 `disable_ipv6`, as every link dump message already carries it (IFLA_AF_SPEC,
//! AF_INET6, IFLA_INET6_CONF: the interface's `net.ipv6.conf.IF.*`, an array of s32 by
//! DEVCONF_* index): reading it costs no request and no /proc file per interface.

use super::wire;

const AF_INET6: u16 = libc::AF_INET6 as u16;
const IFLA_INET6_CONF: u16 = 2;
/// DEVCONF_DISABLE_IPV6 in include/uapi/linux/ipv6.h.
const DEVCONF_DISABLE_IPV6: usize = 26;

/// Whether the IFLA_AF_SPEC attribute `af_spec` says IPv6 is disabled on its link.
pub(super) fn disabled(af_spec: &[u8]) -> bool {
    wire::attrs(af_spec)
        .filter(|(family, _)| *family == AF_INET6)
        .flat_map(|(_, inet6)| wire::attrs(inet6))
        .filter(|(kind, _)| *kind == IFLA_INET6_CONF)
        .any(|(_, conf)| wire::i32_at(conf, DEVCONF_DISABLE_IPV6 * 4).is_some_and(|v| v != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
        let len = u16::try_from(4 + value.len()).expect("short");
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(wire::align4(out.len()), 0);
        out
    }

    fn af_spec(disable: i32) -> Vec<u8> {
        let mut conf = vec![0u8; 4 * (DEVCONF_DISABLE_IPV6 + 4)];
        conf[4 * DEVCONF_DISABLE_IPV6..4 * DEVCONF_DISABLE_IPV6 + 4]
            .copy_from_slice(&disable.to_ne_bytes());
        let inet6 = nla(IFLA_INET6_CONF, &conf);
        let mut out = nla(libc::AF_INET as u16, &nla(1, &[0; 8]));
        out.extend(nla(AF_INET6, &inet6));
        out
    }

    #[test]
    fn disable_ipv6_is_read_from_the_inet6_devconf() {
        assert!(disabled(&af_spec(1)));
        assert!(!disabled(&af_spec(0)));
        // A kernel without IPv6 sends no AF_INET6 part: not disabled by this key.
        assert!(!disabled(&nla(libc::AF_INET as u16, &nla(1, &[0; 8]))));
    }
}
