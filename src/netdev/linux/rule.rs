//! Policy rules: RTM_*RULE requests and decoding of rule dumps.

use ipnet::IpNet;
use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction as NlAction, RuleAttribute, RuleFlags, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::wire;
use crate::netdev::{Family, Rule, RuleAction};

const FRA_DST: u16 = 1;
const FRA_SRC: u16 = 2;
const FRA_IIFNAME: u16 = 3;
const FRA_GOTO: u16 = 4;
const FRA_PRIORITY: u16 = 6;
const FRA_FWMARK: u16 = 10;
const FRA_SUPPRESS_IFGROUP: u16 = 13;
const FRA_SUPPRESS_PREFIXLEN: u16 = 14;
const FRA_TABLE: u16 = 15;
const FRA_FWMASK: u16 = 16;
const FRA_OIFNAME: u16 = 17;
const FRA_PROTOCOL: u16 = 21;
/// `not` in `ip rule`.
const FIB_RULE_INVERT: u32 = 0x2;
/// Flags the kernel reports about a rule's state rather than its content: a goto whose
/// target does not exist (yet), an iif/oif device that does not exist (yet).
const FIB_RULE_STATE: u32 = 0x4 | 0x8 | 0x10;
/// What the kernel reports for the suppress_* selectors when they are not set.
const UNSET: u32 = u32::MAX;
const FR_ACT_TO_TBL: u8 = 1;
const FR_ACT_GOTO: u8 = 2;
const FR_ACT_NOP: u8 = 3;
const FR_ACT_BLACKHOLE: u8 = 6;
const FR_ACT_UNREACHABLE: u8 = 7;
const FR_ACT_PROHIBIT: u8 = 8;
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

/// The action of a rule header, when [`RuleAction`] has it (the goto's target comes from
/// FRA_GOTO later).
fn action_of(code: u8) -> Option<RuleAction> {
    Some(match code {
        FR_ACT_TO_TBL => RuleAction::Lookup,
        FR_ACT_GOTO => RuleAction::Goto(0),
        FR_ACT_NOP => RuleAction::Nop,
        FR_ACT_BLACKHOLE => RuleAction::Blackhole,
        FR_ACT_UNREACHABLE => RuleAction::Unreachable,
        FR_ACT_PROHIBIT => RuleAction::Prohibit,
        _ => return None,
    })
}

/// Decodes one RTM_NEWRULE dump message.
///
/// The flag is true for a rule with something [`Rule`] cannot hold (tos, ports, uid
/// range, ip protocol, suppress_ifgroup, realms, an action of another kind, …): such a
/// rule is reported so that it can be shown and collided with, but must never be deleted
/// or re-created from the lossy view.
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
    let action = action_of(*payload.get(7)?);
    let flags = wire::u32_at(payload, 8)?;
    let mut opaque =
        tos != 0 || action.is_none() || flags & !(FIB_RULE_INVERT | FIB_RULE_STATE) != 0;
    let mut rule = Rule {
        invert: flags & FIB_RULE_INVERT != 0,
        action: action.unwrap_or(RuleAction::Nop),
        ..Rule::lookup(family, 0, u32::from(header_table), 0)
    };
    for (kind, value) in wire::attrs(payload.get(FIB_RULE_HDR_LEN..)?) {
        match kind {
            FRA_PRIORITY => rule.priority = wire::as_u32(value).unwrap_or(0),
            FRA_SRC => rule.from = wire::as_ip(value).and_then(|ip| IpNet::new(ip, src_len).ok()),
            FRA_DST => rule.to = wire::as_ip(value).and_then(|ip| IpNet::new(ip, dst_len).ok()),
            FRA_IIFNAME => rule.iif = Some(wire::as_string(value)),
            FRA_OIFNAME => rule.oif = Some(wire::as_string(value)),
            FRA_FWMARK => rule.fwmark = wire::as_u32(value),
            FRA_FWMASK => rule.fwmask = wire::as_u32(value),
            FRA_TABLE => rule.table = wire::as_u32(value).unwrap_or(rule.table),
            FRA_PROTOCOL => rule.protocol = value.first().copied().unwrap_or(0),
            FRA_GOTO => match (&mut rule.action, wire::as_u32(value)) {
                (RuleAction::Goto(target), Some(t)) => *target = t,
                _ => opaque = true,
            },
            FRA_SUPPRESS_PREFIXLEN => {
                rule.suppress_prefixlength = wire::as_u32(value).filter(|n| *n != UNSET)
            }
            FRA_SUPPRESS_IFGROUP => opaque |= wire::as_u32(value) != Some(UNSET),
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
///
/// A delete matches on what the message sets (see [`Rule::kernel_delete_matches`]), so
/// every attribute the rule has is sent, the protocol included.
pub(super) fn message(rule: &Rule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = family_to_nl(rule.family);
    // Without an explicit action the kernel installs FR_ACT_UNSPEC, which it treats
    // like a blackhole: lookups through the rule fail with EINVAL.
    msg.header.action = match rule.action {
        RuleAction::Lookup => NlAction::ToTable,
        RuleAction::Goto(_) => NlAction::Goto,
        RuleAction::Nop => NlAction::Nop,
        RuleAction::Blackhole => NlAction::Blackhole,
        RuleAction::Unreachable => NlAction::Unreachable,
        RuleAction::Prohibit => NlAction::Prohibit,
    };
    if rule.invert {
        msg.header.flags = RuleFlags::Invert;
    }
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
    if let Some(oif) = &rule.oif {
        msg.attributes.push(RuleAttribute::Oifname(oif.clone()));
    }
    if let Some(mark) = rule.fwmark {
        msg.attributes.push(RuleAttribute::FwMark(mark));
        if let Some(mask) = rule.fwmask {
            msg.attributes.push(RuleAttribute::FwMask(mask));
        }
    }
    if let RuleAction::Goto(target) = rule.action {
        msg.attributes.push(RuleAttribute::Goto(target));
    }
    if rule.table != 0 {
        msg.attributes.push(RuleAttribute::Table(rule.table));
    }
    if let Some(n) = rule.suppress_prefixlength {
        msg.attributes.push(RuleAttribute::SuppressPrefixLen(n));
    }
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
    fn actions_and_defaults() {
        let (main, opaque) = parse(&hdr(10, 0, 0, 254, FR_ACT_TO_TBL, &[])).expect("test value");
        assert!(!opaque);
        assert_eq!(
            (main.family, main.priority, main.table, main.protocol),
            (Family::Ipv6, 0, 254, 0)
        );
        let (goto, opaque) = parse(&hdr(
            2,
            0,
            0,
            0,
            FR_ACT_GOTO,
            &[
                (FRA_PRIORITY, &3198u32.to_ne_bytes()),
                (FRA_GOTO, &3201u32.to_ne_bytes()),
            ],
        ))
        .expect("decodes");
        assert!(!opaque);
        assert_eq!((goto.action, goto.table), (RuleAction::Goto(3201), 0));
        for (code, want) in [
            (FR_ACT_NOP, RuleAction::Nop),
            (FR_ACT_BLACKHOLE, RuleAction::Blackhole),
            (FR_ACT_UNREACHABLE, RuleAction::Unreachable),
            (FR_ACT_PROHIBIT, RuleAction::Prohibit),
        ] {
            let (r, opaque) = parse(&hdr(2, 0, 0, 0, code, &[])).expect("decodes");
            assert_eq!((r.action, opaque), (want, false));
        }
        // FR_ACT_UNSPEC and the reserved codes are kept, but opaque.
        for code in [0, 4, 5, 9] {
            assert!(parse(&hdr(2, 0, 0, 0, code, &[])).expect("decodes").1);
        }
    }

    #[test]
    fn not_oif_and_suppress_prefixlength_are_modelled() {
        let mut msg = hdr(
            2,
            0,
            0,
            254,
            FR_ACT_TO_TBL,
            &[
                (FRA_IIFNAME, b"lo\0"),
                (FRA_OIFNAME, b"eth0\0"),
                (FRA_SUPPRESS_PREFIXLEN, &0u32.to_ne_bytes()),
                (FRA_SUPPRESS_IFGROUP, &UNSET.to_ne_bytes()),
            ],
        );
        // An unresolved goto, a detached iif: state, not content.
        msg[8..12].copy_from_slice(&(FIB_RULE_INVERT | FIB_RULE_STATE).to_ne_bytes());
        let (r, opaque) = parse(&msg).expect("decodes");
        assert!(!opaque);
        assert!(r.invert);
        assert_eq!(r.iif.as_deref(), Some("lo"));
        assert_eq!(r.oif.as_deref(), Some("eth0"));
        assert_eq!(r.suppress_prefixlength, Some(0));
        let (plain, _) = parse(&hdr(
            2,
            0,
            0,
            254,
            FR_ACT_TO_TBL,
            &[(FRA_SUPPRESS_PREFIXLEN, &UNSET.to_ne_bytes())],
        ))
        .expect("decodes");
        assert_eq!(plain.suppress_prefixlength, None);
    }

    #[test]
    fn selectors_the_type_cannot_hold_make_a_rule_opaque() {
        let ifgroup = hdr(
            2,
            0,
            0,
            254,
            FR_ACT_TO_TBL,
            &[(FRA_SUPPRESS_IFGROUP, &0u32.to_ne_bytes())],
        );
        assert!(parse(&ifgroup).expect("decodes").1);
        let mut tos = hdr(2, 0, 0, 100, FR_ACT_TO_TBL, &[]);
        tos[3] = 0x10;
        assert!(parse(&tos).expect("decodes").1);
        let mut permanent = hdr(2, 0, 0, 100, FR_ACT_TO_TBL, &[]);
        permanent[8..12].copy_from_slice(&1u32.to_ne_bytes());
        assert!(parse(&permanent).expect("decodes").1);
        // FRA_DPORT_RANGE
        let ports = hdr(2, 0, 0, 100, FR_ACT_TO_TBL, &[(24, &[0, 80, 0, 80])]);
        assert!(parse(&ports).expect("decodes").1);
    }

    /// What `message` sends is what `parse` reads back from a dump of the same rule.
    #[test]
    fn messages_round_trip() {
        use netlink_packet_core::Emitable;
        let net = |s: &str| Some(s.parse::<IpNet>().expect("test value"));
        let base = Rule::lookup(Family::Ipv4, 3200, 100_000, 201);
        let rules = [
            Rule {
                from: net("192.0.2.0/24"),
                ..base.clone()
            },
            Rule {
                invert: true,
                iif: Some("lo".into()),
                action: RuleAction::Goto(3201),
                table: 0,
                ..base.clone()
            },
            Rule {
                action: RuleAction::Nop,
                table: 0,
                ..base.clone()
            },
            Rule {
                suppress_prefixlength: Some(0),
                table: 254,
                ..base.clone()
            },
            Rule {
                family: Family::Ipv6,
                to: net("2001:db8::/64"),
                oif: Some("eth0".into()),
                fwmark: Some(0x10),
                fwmask: Some(0xff),
                action: RuleAction::Prohibit,
                table: 0,
                ..base.clone()
            },
        ];
        for r in rules {
            let msg = message(&r);
            let mut buf = vec![0u8; msg.buffer_len()];
            msg.emit(&mut buf);
            assert_eq!(parse(&buf), Some((r.clone(), false)), "{r}");
        }
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
