//! Decoding of the raw rtnetlink wire format.
//!
//! Replies are decoded by hand rather than through netlink-packet-route's message parsers:
//! those reject a whole message when one attribute does not match what the crate expects,
//! so a kernel newer than the crate (or an exotic device) would make the whole query fail.
//! Attribute numbers and header layouts are kernel ABI and never change; we read only the
//! few attributes we need and skip everything else.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Length of `struct nlmsghdr`.
pub(super) const NLMSG_HDR_LEN: usize = 16;

pub(super) const fn align4(len: usize) -> usize {
    (len + 3) & !3
}

/// One netlink message inside a received datagram.
#[derive(Debug, Clone, Copy)]
pub(super) struct RawMessage<'a> {
    pub kind: u16,
    pub flags: u16,
    pub seq: u32,
    pub port: u32,
    pub payload: &'a [u8],
}

/// Splits a datagram into its netlink messages; yields an error (and stops) on a
/// malformed length.
pub(super) fn messages(buf: &[u8]) -> impl Iterator<Item = Result<RawMessage<'_>, String>> {
    let mut rest = buf;
    std::iter::from_fn(move || {
        if rest.len() < NLMSG_HDR_LEN {
            return None;
        }
        let len = u32_at(rest, 0)? as usize;
        if len < NLMSG_HDR_LEN || len > rest.len() {
            let err = format!(
                "netlink message length {len} does not fit the {} bytes received",
                rest.len()
            );
            rest = &[];
            return Some(Err(err));
        }
        let msg = RawMessage {
            kind: u16_at(rest, 4)?,
            flags: u16_at(rest, 6)?,
            seq: u32_at(rest, 8)?,
            port: u32_at(rest, 12)?,
            payload: &rest[NLMSG_HDR_LEN..len],
        };
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some(Ok(msg))
    })
}

/// Iterates the attributes (type with the NESTED/BYTEORDER bits masked off, value) of a
/// TLV area. A truncated trailing attribute ends the iteration.
pub(super) fn attrs(buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    const NLA_TYPE_MASK: u16 = !(libc::NLA_F_NESTED as u16 | libc::NLA_F_NET_BYTEORDER as u16);
    let mut rest = buf;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(rest, 0)?);
        let kind = u16_at(rest, 2)? & NLA_TYPE_MASK;
        if len < 4 || len > rest.len() {
            return None;
        }
        let value = &rest[4..len];
        rest = rest.get(align4(len)..).unwrap_or(&[]);
        Some((kind, value))
    })
}

pub(super) fn u16_at(buf: &[u8], at: usize) -> Option<u16> {
    let bytes = buf.get(at..at + 2)?;
    Some(u16::from_ne_bytes([bytes[0], bytes[1]]))
}

pub(super) fn u32_at(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at + 4)?;
    Some(u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

pub(super) fn i32_at(buf: &[u8], at: usize) -> Option<i32> {
    u32_at(buf, at).map(|v| v as i32)
}

/// A u32 attribute value (exactly four bytes).
pub(super) fn as_u32(value: &[u8]) -> Option<u32> {
    if value.len() == 4 {
        u32_at(value, 0)
    } else {
        None
    }
}

/// A NUL-terminated (or unterminated) string attribute value.
pub(super) fn as_string(value: &[u8]) -> String {
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end]).into_owned()
}

/// An address attribute: four bytes are IPv4, sixteen IPv6.
pub(super) fn as_ip(value: &[u8]) -> Option<IpAddr> {
    match value.len() {
        4 => {
            let b: [u8; 4] = value.try_into().ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(b)))
        }
        16 => {
            let b: [u8; 16] = value.try_into().ok()?;
            Some(IpAddr::V6(Ipv6Addr::from(b)))
        }
        _ => None,
    }
}

/// One attribute as the kernel writes it, padded: what the decoders' tests feed them.
#[cfg(test)]
pub(crate) fn nla(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = u16::try_from(4 + value.len()).expect("a test attribute under 64 KiB");
    let mut out = Vec::new();
    out.extend_from_slice(&len.to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(align4(out.len()), 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_split_and_padding_skipped() {
        let mut buf = nla(3, b"br0\0");
        buf.extend(nla(4, &1500u32.to_ne_bytes()));
        buf.extend(nla(1, &[2, 0, 0, 0, 0, 1]));
        buf.extend(nla(18 | libc::NLA_F_NESTED as u16, &nla(1, b"bridge\0")));
        let got: Vec<(u16, Vec<u8>)> = attrs(&buf).map(|(k, v)| (k, v.to_vec())).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(as_string(&got[0].1), "br0");
        assert_eq!(as_u32(&got[1].1), Some(1500));
        assert_eq!(got[2].1, vec![2, 0, 0, 0, 0, 1]);
        assert_eq!(got[3].0, 18);
        let inner: Vec<_> = attrs(&got[3].1).collect();
        assert_eq!(as_string(inner[0].1), "bridge");
    }

    #[test]
    fn truncated_attribute_ends_iteration() {
        let mut buf = nla(3, b"eth0\0");
        buf.extend_from_slice(&[40, 0, 4, 0, 1, 2]);
        assert_eq!(attrs(&buf).count(), 1);
    }

    #[test]
    fn messages_reject_bad_length() {
        let mut buf = vec![0u8; 20];
        buf[..4].copy_from_slice(&64u32.to_ne_bytes());
        let got: Vec<_> = messages(&buf).collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].is_err());
    }

    #[test]
    fn ip_values() {
        assert_eq!(
            as_ip(&[192, 0, 2, 1]),
            Some("192.0.2.1".parse().expect("test value"))
        );
        assert_eq!(as_ip(&[0; 16]), Some("::".parse().expect("test value")));
        assert_eq!(as_ip(&[1, 2, 3]), None);
    }
}
