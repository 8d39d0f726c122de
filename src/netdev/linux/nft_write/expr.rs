//! nf_tables expressions for the rules hostnet renders, encoded from the very text
//! `firewall::nft` renders (one source of truth: the text `nft -f` would read, and that
//! `nft list` prints back). Only the shapes the renderer produces are understood; any
//! other word is [`Unsupported`], and the caller then writes with `nft -f` instead.
//!
//! The encoding is the one nft 1.0.6 sends for the same text (checked by the
//! differential kernel test `tests/firewall_nfnl_write.rs`): in an `inet` table an
//! `ip`/`ip6` match first checks `meta nfproto`, a transport port `meta l4proto`; a prefix
//! on a byte boundary loads only its bytes, any other prefix loads the whole address
//! through a mask.

use std::net::IpAddr;

use super::super::wire::align4;

/// A rule word (or the end of a rule) the encoder does not know.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode nft rule `{rule}`: {why}")]
pub struct Unsupported {
    pub rule: String,
    pub why: String,
}

pub(in crate::netdev::linux) const NLA_F_NESTED: u16 = 0x8000;

// Registers.
const REG_VERDICT: u32 = 0;
const REG_1: u32 = 1;
const REG_2: u32 = 2;

const META_IIFNAME: u32 = 6;
const META_OIFNAME: u32 = 7;
const META_NFPROTO: u32 = 15;
const META_L4PROTO: u32 = 16;
const CT_STATE: u32 = 0;
const CT_STATUS: u32 = 2;
const PAYLOAD_NETWORK: u32 = 1;
const PAYLOAD_TRANSPORT: u32 = 2;
const CMP_EQ: u32 = 0;
const CMP_NEQ: u32 = 1;
const FIB_RESULT_ADDRTYPE: u32 = 3;
const FIB_F_DADDR: u32 = 1 << 1;
const RTN_LOCAL: u32 = 2;
const NAT_SNAT: u32 = 0;
const NAT_DNAT: u32 = 1;
const NF_NAT_RANGE_PROTO_SPECIFIED: u32 = 2;
const IPS_DST_NAT: u32 = 1 << 5;
pub(in crate::netdev::linux) const NF_ACCEPT: i32 = 1;
pub(in crate::netdev::linux) const NF_DROP: i32 = 0;
pub(in crate::netdev::linux) const NFT_JUMP: i32 = -3;
const IFNAMSIZ: usize = 16;
const NFPROTO_IPV4: u8 = 2;
const NFPROTO_IPV6: u8 = 10;

/// The name nft gives an anonymous set; the kernel numbers it.
pub(in crate::netdev::linux) const ANON_SET: &str = "__set%d";
/// `meta l4proto { icmp, ipv6-icmp }`'s set: type `inet_proto` (12), one byte, and
/// the set userdata nft 1.0.6 writes for it (key byte order, `typeof meta l4proto`).
pub(in crate::netdev::linux) const ANON_KEY_TYPE: u32 = 12;
pub(in crate::netdev::linux) const ANON_UDATA: [u8; 22] = [
    0, 4, 1, 0, 0, 0, 3, 14, 0, 4, 9, 0, 0, 0, 1, 6, 0, 4, 16, 0, 0, 0,
];

/// One netlink attribute, padded.
pub(in crate::netdev::linux) fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let len = 4 + value.len();
    let mut out = Vec::with_capacity(align4(len));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(value);
    out.resize(align4(len), 0);
    out
}

pub(in crate::netdev::linux) fn nest(kind: u16, parts: &[Vec<u8>]) -> Vec<u8> {
    attr(kind | NLA_F_NESTED, &parts.concat())
}

pub(in crate::netdev::linux) fn u32a(kind: u16, v: u32) -> Vec<u8> {
    attr(kind, &v.to_be_bytes())
}

pub(in crate::netdev::linux) fn stra(kind: u16, s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    attr(kind, &v)
}

/// `NFTA_DATA_VALUE` inside the nest `kind`.
pub(in crate::netdev::linux) fn data(kind: u16, value: &[u8]) -> Vec<u8> {
    nest(kind, &[attr(1, value)])
}

/// `NFTA_DATA_VERDICT` inside the nest `kind`.
pub(in crate::netdev::linux) fn verdict(kind: u16, code: i32, chain: Option<&str>) -> Vec<u8> {
    let mut v = vec![attr(1, &code.to_be_bytes())];
    if let Some(c) = chain {
        v.push(stra(2, c));
    }
    nest(kind, &[nest(2, &v)])
}

/// An interface name as a key: IFNAMSIZ bytes, zero-padded.
pub(in crate::netdev::linux) fn ifname(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.resize(IFNAMSIZ.max(v.len() + 1), 0);
    v
}

pub(in crate::netdev::linux) fn ip_bytes(a: &IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// One expression: its name and its data attributes.
fn expr(name: &str, parts: &[Vec<u8>]) -> Vec<u8> {
    nest(1, &[stra(1, name), nest(2, parts)])
}

fn meta(key: u32) -> Vec<u8> {
    expr("meta", &[u32a(2, key), u32a(1, REG_1)])
}

fn cmp(op: u32, value: &[u8]) -> Vec<u8> {
    expr("cmp", &[u32a(1, REG_1), u32a(2, op), data(3, value)])
}

fn payload(base: u32, offset: u32, len: u32) -> Vec<u8> {
    expr(
        "payload",
        &[u32a(1, REG_1), u32a(2, base), u32a(3, offset), u32a(4, len)],
    )
}

fn bitwise(mask: &[u8]) -> Vec<u8> {
    expr(
        "bitwise",
        &[
            u32a(1, REG_1),
            u32a(2, REG_1),
            u32a(3, mask.len() as u32),
            data(4, mask),
            data(5, &vec![0; mask.len()]),
        ],
    )
}

fn immediate(reg: u32, value: &[u8]) -> Vec<u8> {
    expr("immediate", &[u32a(1, reg), data(2, value)])
}

pub(in crate::netdev::linux) fn immediate_verdict(code: i32) -> Vec<u8> {
    expr("immediate", &[u32a(1, REG_VERDICT), verdict(2, code, None)])
}

/// A lookup of register 1 in `set` (an anonymous set of this batch has an id).
fn lookup(set: &str, set_id: Option<u32>) -> Vec<u8> {
    let mut parts = vec![stra(1, set), u32a(2, REG_1)];
    if let Some(id) = set_id {
        parts.push(u32a(4, id));
    }
    expr("lookup", &parts)
}

/// The `ct` word's load and test `(reg & bits) != 0`, in host byte order.
fn ct_bits(key: u32, bits: u32) -> Vec<Vec<u8>> {
    vec![
        expr("ct", &[u32a(2, key), u32a(1, REG_1)]),
        bitwise(&bits.to_ne_bytes()),
        cmp(CMP_NEQ, &[0; 4]),
    ]
}

/// A rule as expressions, with its comment and (for `meta l4proto { … }`) the elements
/// of its anonymous set, whose lookup is patched with the set's id by the batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    pub exprs: Vec<Vec<u8>>,
    pub comment: Option<String>,
    /// (index of the lookup expression in `exprs`, keys of the set)
    pub anon: Option<(usize, Vec<Vec<u8>>)>,
}

impl Encoded {
    /// The expressions, the anonymous set's lookup pointing at batch set `set_id`.
    pub fn expressions(&self, set_id: u32) -> Vec<u8> {
        let mut all = self.exprs.clone();
        if let Some((i, _)) = &self.anon {
            all[*i] = lookup(ANON_SET, Some(set_id));
        }
        all.concat()
    }

    /// libnftnl's rule userdata: the comment TLV.
    pub fn userdata(&self) -> Option<Vec<u8>> {
        let c = self.comment.as_ref()?;
        let len = u8::try_from(c.len() + 1).ok()?;
        let mut u = vec![0, len];
        u.extend_from_slice(c.as_bytes());
        u.push(0);
        Some(u)
    }
}

/// Splits a rule into words; a quoted string and a `{ … }` group are one word each.
fn words(rule: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = rule.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
            continue;
        }
        let close = match c {
            '"' => Some('"'),
            '{' => Some('}'),
            _ => None,
        };
        let mut w = String::new();
        w.push(c);
        chars.next();
        for d in chars.by_ref() {
            if close.map_or(d == ' ', |e| d == e) {
                if close.is_some() {
                    w.push(d);
                }
                break;
            }
            w.push(d);
        }
        out.push(w);
    }
    out
}

fn unquote(w: &str) -> Option<&str> {
    w.strip_prefix('"')?.strip_suffix('"')
}

/// Encodes one rule as `firewall::nft` renders it.
pub fn encode(rule: &str) -> Result<Encoded, Unsupported> {
    let fail = |why: String| Unsupported {
        rule: rule.to_string(),
        why,
    };
    let w = words(rule);
    let mut out = Encoded {
        exprs: Vec::new(),
        comment: None,
        anon: None,
    };
    let mut i = 0;
    let word = |i: usize| w.get(i).map(String::as_str);
    while let Some(cur) = word(i) {
        let used = step(&w[i..], &mut out).map_err(|why| fail(format!("at `{cur}`: {why}")))?;
        i += used;
    }
    Ok(out)
}

/// Encodes the statement or match at the start of `w` into `out`; returns how many
/// words it took.
fn step(w: &[String], out: &mut Encoded) -> Result<usize, String> {
    let at = |i: usize| w.get(i).map(String::as_str).unwrap_or("");
    let e = &mut out.exprs;
    match at(0) {
        "counter" => e.push(expr("counter", &[attr(1, &[0; 8]), attr(2, &[0; 8])])),
        "accept" => e.push(immediate_verdict(NF_ACCEPT)),
        "drop" => e.push(immediate_verdict(NF_DROP)),
        "masquerade" => e.push(expr("masq", &[])),
        "comment" => {
            out.comment = Some(unquote(at(1)).ok_or("comment not quoted")?.to_string());
            return Ok(2);
        }
        "ip" | "ip6" => {
            address_match(at(0), at(1), at(2), e)?;
            return Ok(3);
        }
        "iifname" | "oifname" => {
            let key = if at(0) == "iifname" {
                META_IIFNAME
            } else {
                META_OIFNAME
            };
            let (op, value) = if at(1) == "!=" {
                (CMP_NEQ, at(2))
            } else {
                (CMP_EQ, at(1))
            };
            e.push(meta(key));
            if let Some(set) = value.strip_prefix('@') {
                if op != CMP_EQ {
                    return Err("negated set lookup".into());
                }
                e.push(lookup(set, None));
            } else {
                e.push(cmp(op, &ifname(unquote(value).ok_or("name not quoted")?)));
            }
            return Ok(if op == CMP_NEQ { 3 } else { 2 });
        }
        "ct" => {
            match (at(1), at(2)) {
                ("state", states) => e.extend(ct_bits(CT_STATE, ct_states(states)?)),
                ("status", "dnat") => e.extend(ct_bits(CT_STATUS, IPS_DST_NAT)),
                (k, v) => return Err(format!("ct {k} {v}")),
            }
            return Ok(3);
        }
        "meta" if at(1) == "l4proto" => {
            let keys = at(2)
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .ok_or("not a set")?
                .split(',')
                .map(|p| l4proto(p.trim()).map(|n| vec![n]))
                .collect::<Result<Vec<_>, _>>()?;
            e.push(meta(META_L4PROTO));
            out.anon = Some((e.len(), keys));
            e.push(lookup(ANON_SET, None));
            return Ok(3);
        }
        "tcp" | "udp" if at(1) == "dport" => {
            let port: u16 = at(2).parse().map_err(|_| "port")?;
            e.push(meta(META_L4PROTO));
            e.push(cmp(CMP_EQ, &[l4proto(at(0))?]));
            e.push(payload(PAYLOAD_TRANSPORT, 2, 2));
            e.push(cmp(CMP_EQ, &port.to_be_bytes()));
            return Ok(3);
        }
        "fib" if (at(1), at(2), at(3)) == ("daddr", "type", "local") => {
            e.push(expr(
                "fib",
                &[
                    u32a(1, REG_1),
                    u32a(2, FIB_RESULT_ADDRTYPE),
                    u32a(3, FIB_F_DADDR),
                ],
            ));
            e.push(cmp(CMP_EQ, &RTN_LOCAL.to_ne_bytes()));
            return Ok(4);
        }
        "dnat" | "snat" if at(2) == "to" => {
            nat(at(0), at(1), at(3), e)?;
            return Ok(4);
        }
        other => return Err(format!("unknown word `{other}`")),
    }
    Ok(1)
}

fn l4proto(p: &str) -> Result<u8, String> {
    Ok(match p {
        "tcp" => 6,
        "udp" => 17,
        "icmp" => 1,
        "ipv6-icmp" => 58,
        o => return Err(format!("protocol {o}")),
    })
}

fn ct_states(list: &str) -> Result<u32, String> {
    list.split(',').try_fold(0, |acc, s| {
        Ok(acc
            | match s {
                "invalid" => 1,
                "established" => 2,
                "related" => 4,
                "new" => 8,
                "untracked" => 64,
                o => return Err(format!("ct state {o}")),
            })
    })
}

/// `ip saddr 10.0.0.0/24` and the like, with its `meta nfproto` dependency.
fn address_match(fam: &str, dir: &str, value: &str, e: &mut Vec<Vec<u8>>) -> Result<(), String> {
    let v6 = fam == "ip6";
    let (addr, len) = match value.split_once('/') {
        Some((a, l)) => (a, Some(l.parse::<u32>().map_err(|_| "prefix length")?)),
        None => (value, None),
    };
    let addr: IpAddr = addr.parse().map_err(|_| format!("address {addr}"))?;
    if addr.is_ipv6() != v6 {
        return Err("family".into());
    }
    let bytes = ip_bytes(&addr);
    let bits = bytes.len() as u32 * 8;
    let len = len.unwrap_or(bits);
    if len == 0 || len > bits {
        return Err(format!("prefix length {len}"));
    }
    let offset = match (v6, dir) {
        (false, "saddr") => 12,
        (false, "daddr") => 16,
        (true, "saddr") => 8,
        (true, "daddr") => 24,
        _ => return Err(format!("{fam} {dir}")),
    };
    e.push(meta(META_NFPROTO));
    e.push(cmp(CMP_EQ, &[if v6 { NFPROTO_IPV6 } else { NFPROTO_IPV4 }]));
    if len % 8 == 0 {
        let n = (len / 8) as usize;
        e.push(payload(PAYLOAD_NETWORK, offset, n as u32));
        e.push(cmp(CMP_EQ, &bytes[..n]));
    } else {
        let mask: Vec<u8> = (0..bytes.len() as u32)
            .map(|i| {
                let on = len.saturating_sub(i * 8).min(8);
                (0xffu16 << (8 - on)) as u8
            })
            .collect();
        let masked: Vec<u8> = bytes.iter().zip(&mask).map(|(b, m)| b & m).collect();
        e.push(payload(PAYLOAD_NETWORK, offset, bits / 8));
        e.push(bitwise(&mask));
        e.push(cmp(CMP_EQ, &masked));
    }
    Ok(())
}

/// `dnat ip to 10.0.0.2:8080`, `dnat ip6 to [fd00::2]:8080`, `snat ip to 1.2.3.4`.
fn nat(kind: &str, fam: &str, target: &str, e: &mut Vec<Vec<u8>>) -> Result<(), String> {
    let (addr, port) = if let Some(rest) = target.strip_prefix('[') {
        let (a, p) = rest.split_once("]:").ok_or("[address]:port")?;
        (a, Some(p))
    } else if fam == "ip" {
        match target.split_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (target, None),
        }
    } else {
        (target, None)
    };
    let addr: IpAddr = addr.parse().map_err(|_| format!("address {addr}"))?;
    let family = match (fam, addr.is_ipv6()) {
        ("ip", false) => u32::from(NFPROTO_IPV4),
        ("ip6", true) => u32::from(NFPROTO_IPV6),
        _ => return Err("nat family".into()),
    };
    e.push(immediate(REG_1, &ip_bytes(&addr)));
    let mut parts = vec![
        u32a(1, if kind == "dnat" { NAT_DNAT } else { NAT_SNAT }),
        u32a(2, family),
        u32a(3, REG_1),
    ];
    if let Some(p) = port {
        let p: u16 = p.parse().map_err(|_| "port")?;
        e.push(immediate(REG_2, &p.to_be_bytes()));
        parts.push(u32a(5, REG_2));
        parts.push(u32a(7, NF_NAT_RANGE_PROTO_SPECIFIED));
    }
    e.push(expr("nat", &parts));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_and_sets_whole() {
        assert_eq!(
            words(r#"meta l4proto { icmp, ipv6-icmp } accept comment "a b""#),
            [
                "meta",
                "l4proto",
                "{ icmp, ipv6-icmp }",
                "accept",
                "comment",
                "\"a b\""
            ]
        );
    }

    #[test]
    fn an_unknown_word_is_unsupported() {
        assert!(encode("tcp sport 22 accept").is_err());
        assert!(encode("log prefix \"x\"").is_err());
        assert!(encode("ip saddr 10.0.0.0/0 accept").is_err());
    }

    #[test]
    fn a_byte_aligned_prefix_loads_only_its_bytes() {
        let e = encode("ip saddr 10.1.0.0/16 counter").expect("encodes");
        assert_eq!(e.exprs.len(), 5);
        let masked = encode("ip saddr 10.1.0.0/20 counter").expect("encodes");
        assert_eq!(masked.exprs.len(), 6);
    }

    #[test]
    fn the_comment_becomes_userdata() {
        let e = encode(r#"drop comment "net a""#).expect("encodes");
        assert_eq!(e.userdata().expect("comment"), b"\x00\x06net a\x00");
    }
}
