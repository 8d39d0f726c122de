//! Policy rules: RTM_*RULE requests and decoding of rule dumps.

use ipnet::IpNet;
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::wire;
use crate::netdev::{Family, Rule};

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_PROTOCOL: u16 = 21;
/// `not` in `ip rule`.
const FIB_RULE_INVERT: u32 = 0x2;
/// What the kernel reports for the suppress_* selectors when they are not set.
const UNSET: u32 = u32::MAX;
const FR_ACT_TO_TBL: u8 = 1;
/// Length of `struct fib_rule_hdr`.
const FIB_RULE_HDR_LEN: usize = 12;

fn family_to_nl(family: Family) -> AddressFamily {
    match family {
        Family::Ipv4 => AddressFamily::Inet,
        Family::Ipv6 => AddressFamily::Inet6,
    }
}

pub(super) fn dump_request(family: Family) -> RouteNetlinkMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = family_to_nl(family);
    RouteNetlinkMessage::GetRule(msg)
}

/// Decodes one RTM_NEWRULE dump message; only "lookup table" rules are reported.
///
/// The flag is true for a rule with a selector [`Rule`] cannot hold (`not`, tos, oif,
/// ports, uid range, suppress_prefixlength, …): such a rule is reported so that it can be
/// shown and collided with, but must never be deleted or re-created from the lossy view.
pub(super) fn parse(payload: &[u8]) -> Option<(Rule, bool)> {
    let family = match i32::from(*payload.first()?) {
        libc::AF_INET => Family::Ipv4,
        libc::AF_INET6 => Family::Ipv6,
        _ => return None,
    };
    let dst_len = *payload.get(1)?;
    let src_len = *payload.get(2)?;
    let tos = *payload.get(3)?;
    let header_table = *payload.get(4)?;
    if *payload.get(7)? != FR_ACT_TO_TBL {
        return None;
    }
    let flags = wire::u32_at(payload, 8)?;
    let mut opaque = tos != 0 || flags & FIB_RULE_INVERT != 0;
    let mut rule = Rule {
        family,
        priority: 0,
        from: None,
        to: None,
        iif: None,
        fwmark: None,
        fwmask: None,
        table: u32::from(header_table),
        protocol: 0,
    };
    for (kind, value) in wire::attrs(payload.get(FIB_RULE_HDR_LEN..)?) {
        match kind {
            FRA_PRIORITY => rule.priority = wire::as_u32(value).unwrap_or(0),
            FRA_SRC => rule.from = wire::as_ip(value).and_then(|ip| IpNet::new(ip, src_len).ok()),
            FRA_DST => rule.to = wire::as_ip(value).and_then(|ip| IpNet::new(ip, dst_len).ok()),
            FRA_IIFNAME => rule.iif = Some(wire::as_string(value)),
            FRA_FWMARK => rule.fwmark = wire::as_u32(value),
            FRA_FWMASK => rule.fwmask = wire::as_u32(value),
            FRA_TABLE => rule.table = wire::as_u32(value).unwrap_or(rule.table),
            FRA_PROTOCOL => rule.protocol = value.first().copied().unwrap_or(0),
            FRA_SUPPRESS_IFGROUP | FRA_SUPPRESS_PREFIXLEN => {
                opaque |= wire::as_u32(value) != Some(UNSET)
            }
            _ => opaque = true,
        }
    }
    // The kernel leaves out a zero mark but still sends its mask ("fwmark 0/0xff").
    if rule.fwmask.is_some() && rule.fwmark.is_none() {
        rule.fwmark = Some(0);
    }
    Some((rule, opaque))
}

/// The body of RTM_NEWRULE (send with NLM_F_CREATE | NLM_F_EXCL) or RTM_DELRULE.
pub(super) fn message(rule: &Rule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = family_to_nl(rule.family);
    // Without an explicit action the kernel installs FR_ACT_UNSPEC, which it treats
    // like a blackhole: lookups through the rule fail with EINVAL.
    msg.header.action = RuleAction::ToTable;
    msg.header.table = u8::try_from(rule.table).unwrap_or(0);
    msg.attributes.push(RuleAttribute::Priority(rule.priority));
    if let Some(from) = rule.from {
        msg.header.src_len = from.prefix_len();
        msg.attributes.push(RuleAttribute::Source(from.addr()));
    }
    if let Some(to) = rule.to {
        msg.header.dst_len = to.prefix_len();
        msg.attributes.push(RuleAttribute::Destination(to.addr()));
    }
    if let Some(iif) = &rule.iif {
        msg.attributes.push(RuleAttribute::Iifname(iif.clone()));
    }
    if let Some(mark) = rule.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(mark));
        if let Some(mask) = rule.fwmask {
            msg.attributes.push(RuleAttribute::FwMask(mask));
        }
    }
    msg.attributes.push(RuleAttribute::Table(rule.table));
    msg.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::from(rule.protocol)));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(
        family: u8,
        dst_len: u8,
        src_len: u8,
        table: u8,
        action: u8,
        attrs: &[(u16, &[u8])],
    ) -> Vec<u8> {
        let mut out = vec![family, dst_len, src_len, 0, table, 0, 0, action, 0, 0, 0, 0];
        for (k, v) in attrs {
            out.extend(((4 + v.len()) as u16).to_ne_bytes());
            out.extend(k.to_ne_bytes());
            out.extend_from_slice(v);
            out.resize(wire::align4(out.len()), 0);
        }
        out
    }

    #[test]
    fn lookup_rules_decode() {
        let msg = hdr(
            2,
            0,
            24,
            0,
            FR_ACT_TO_TBL,
            &[
                (FRA_PRIORITY, &100u32.to_ne_bytes()),
                (FRA_SRC, &[10, 1, 0, 0]),
                (FRA_IIFNAME, b"br0\0"),
                (FRA_FWMARK, &0x10u32.to_ne_bytes()),
                (FRA_FWMASK, &0xffu32.to_ne_bytes()),
                (FRA_TABLE, &100_000u32.to_ne_bytes()),
                (FRA_PROTOCOL, &[201]),
            ],
        );
        let (r, opaque) = parse(&msg).expect("test value");
        assert!(!opaque);
        assert_eq!(r.family, Family::Ipv4);
        assert_eq!(r.priority, 100);
        assert_eq!(r.from, Some("10.1.0.0/24".parse().expect("test value")));
        assert_eq!(r.iif.as_deref(), Some("br0"));
        assert_eq!((r.fwmark, r.fwmask), (Some(0x10), Some(0xff)));
        assert_eq!(r.table, 100_000);
        assert_eq!(r.protocol, 201);
    }

    #[test]
    fn other_actions_and_defaults() {
        assert!(parse(&hdr(2, 0, 0, 0, 2, &[])).is_none());
        let (main, _) = parse(&hdr(10, 0, 0, 254, FR_ACT_TO_TBL, &[])).expect("test value");
        assert_eq!(
            (main.family, main.priority, main.table, main.protocol),
            (Family::Ipv6, 0, 254, 0)
        );
    }

    #[test]
    fn selectors_the_type_cannot_hold_make_a_rule_opaque() {
        let unset = UNSET.to_ne_bytes();
        let plain = hdr(
            2,
            0,
            0,
            254,
            FR_ACT_TO_TBL,
            &[(FRA_SUPPRESS_PREFIXLEN, &unset)],
        );
        assert!(!parse(&plain).expect("decodes").1);
        let suppress = hdr(
            2,
            0,
            0,
            254,
            FR_ACT_TO_TBL,
            &[(FRA_SUPPRESS_PREFIXLEN, &0u32.to_ne_bytes())],
        );
        assert!(parse(&suppress).expect("decodes").1);
        let mut inverted = hdr(2, 0, 8, 100, FR_ACT_TO_TBL, &[(FRA_SRC, &[10, 0, 0, 0])]);
        inverted[8..12].copy_from_slice(&FIB_RULE_INVERT.to_ne_bytes());
        assert!(parse(&inverted).expect("decodes").1);
        let oif = hdr(2, 0, 0, 100, FR_ACT_TO_TBL, &[(17, b"eth0\0")]);
        assert!(parse(&oif).expect("decodes").1);
    }

    #[test]
    fn a_zero_mark_comes_back_from_its_mask() {
        let msg = hdr(
            2,
            0,
            0,
            100,
            FR_ACT_TO_TBL,
            &[(FRA_FWMASK, &0xffu32.to_ne_bytes())],
        );
        let (r, _) = parse(&msg).expect("decodes");
        assert_eq!((r.fwmark, r.fwmask), (Some(0), Some(0xff)));
    }
}
