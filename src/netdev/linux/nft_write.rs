//! Writing a change of networks' firewalls to our table through nfnetlink: one batch
//! (chains, their rules, the networks' map elements), the same transaction `nft -f`
//! would make of `firewall::nft::render`'s text, without the nft process and its
//! reading of the whole ruleset (nft 1.0.6 lists every chain of the table for any
//! `add rule`, and the elements of interval maps for any `add element`).
//!
//! Only what the hot path needs: networks added, changed or removed in a table whose
//! skeleton exists. Creating or repairing the skeleton, a change of more than
//! [`UP_TO`] networks, or a rule the encoder does not know is left to `nft -f`
//! ([`write`] answers `None`).

use std::collections::BTreeSet;
use std::net::IpAddr;

mod batch;
mod expr;

use self::batch::{self as b, Batch, BatchError};
use self::expr::{self as x, attr, nest, stra, u32a, Encoded, Unsupported};
use super::nfnl::{Nfnl, NftElem, Written, ELEM_INTERVAL_END, NFPROTO_INET};
use super::nft_read::TABLE_NAME;
use crate::firewall::nft::{chain, dispatch, rules, verdict_target, SUFFIXES};
use crate::firewall::{FwOp, NetFirewall, NetFwState};

/// More networks than this in one change go through `nft -f`: each rule's echo and
/// acknowledgement must fit the socket's receive buffer.
pub const UP_TO: usize = 64;

/// Why the change was not written.
#[derive(Debug, thiserror::Error)]
pub enum NftWriteError {
    #[error("nfnetlink")]
    Open(#[source] super::nfnl::NfnlError),
    #[error("nftables transaction")]
    Batch(#[from] BatchError),
    #[error(transparent)]
    Encode(#[from] Unsupported),
    #[error("map element `{0}`")]
    Element(String),
}

/// Writes `ops` (all of the nftables backend) as one nfnetlink transaction and gives
/// what it wrote (the rules as the kernel holds them); `None` when they are for `nft -f`.
pub fn write(ops: &[&FwOp]) -> Result<Option<Written>, NftWriteError> {
    let Some(nets) = networks(ops) else {
        return Ok(None);
    };
    if nets.is_empty() {
        return Ok(Some(Written::default()));
    }
    let mut elements = Vec::new();
    let batch = match batch(&nets, &mut elements) {
        Ok(b) => b,
        Err(NftWriteError::Encode(_) | NftWriteError::Element(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut nl = Nfnl::kept().map_err(NftWriteError::Open)?;
    let rules = nl.commit(&batch)?.rules;
    Ok(Some(Written { rules, elements }))
}

/// The firewall's error for a transaction that was not written: the message the
/// kernel refused, or why the socket failed.
pub fn firewall_error(e: NftWriteError) -> crate::firewall::FirewallError {
    let (op, message) = match &e {
        NftWriteError::Batch(BatchError::Refused { op, errno_text, .. }) => {
            (op.clone(), errno_text.clone())
        }
        _ => (
            format!("write table inet {TABLE_NAME}"),
            crate::error_chain(&e),
        ),
    };
    crate::firewall::FirewallError::Netlink { op, message }
}

type Net<'a> = (&'a str, Option<&'a NetFwState>, Option<&'a NetFirewall>);

/// The network ops, when there is nothing else (no skeleton op) and not too many.
fn networks<'a>(ops: &[&'a FwOp]) -> Option<Vec<Net<'a>>> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            FwOp::Network { name, from, to, .. } => {
                out.push((name.as_str(), from.as_ref(), to.as_ref()))
            }
            _ => return None,
        }
    }
    (out.len() <= UP_TO).then_some(out)
}

/// The transaction, in `nft::render`'s order: stale elements out, then each network's
/// chains flushed and refilled and its new elements in, then removed networks' chains.
/// `elements` gets each element added or deleted.
fn batch(
    nets: &[Net<'_>],
    elements: &mut Vec<(String, bool, NftElem)>,
) -> Result<Batch, NftWriteError> {
    let mut bt = Batch::new(NFPROTO_INET);
    let wanted =
        |name: &str, to: Option<&NetFirewall>| to.map(|s| dispatch(name, s)).unwrap_or_default();
    for (name, from, to) in nets {
        let keep = wanted(name, *to);
        for e in from.iter().flat_map(|f| f.dispatch.iter()) {
            if !keep.contains(e) {
                element(&mut bt, elements, b::NFT_MSG_DELSETELEM, e, None)?;
            }
        }
    }
    let mut set_id = 0u32;
    for (name, from, to) in nets {
        let Some(spec) = to else { continue };
        for s in SUFFIXES {
            let c = chain(name, s);
            let table_chain = [stra(1, TABLE_NAME), stra(3, &c)].concat();
            bt.push(
                b::NFT_MSG_NEWCHAIN,
                b::NLM_F_CREATE,
                table_chain,
                format!("add chain {c}"),
            );
            let flush = [stra(1, TABLE_NAME), stra(2, &c)].concat();
            bt.push(b::NFT_MSG_DELRULE, 0, flush, format!("flush chain {c}"));
        }
        for (s, text) in rules(name, spec) {
            let c = chain(name, s);
            let enc = x::encode(&text)?;
            set_id += 1;
            rule(&mut bt, &c, &text, &enc, set_id);
        }
        let have: BTreeSet<String> = from.iter().flat_map(|f| f.dispatch.clone()).collect();
        for e in wanted(name, *to).difference(&have) {
            let map = e.split_once(' ').map_or("", |(m, _)| m);
            let target = match map {
                "isolated" => None,
                m => {
                    Some(verdict_target(m, name).ok_or_else(|| NftWriteError::Element(e.clone()))?)
                }
            };
            element(
                &mut bt,
                elements,
                b::NFT_MSG_NEWSETELEM,
                e,
                target.as_deref(),
            )?;
        }
    }
    for (_, from, to) in nets {
        if to.is_some() {
            continue;
        }
        for c in from.iter().flat_map(|f| f.chains.iter()) {
            let tc = |k| [stra(1, TABLE_NAME), stra(k, c)].concat();
            bt.push(b::NFT_MSG_DELRULE, 0, tc(2), format!("flush chain {c}"));
            bt.push(b::NFT_MSG_DELCHAIN, 0, tc(3), format!("delete chain {c}"));
        }
    }
    Ok(bt)
}

/// A rule appended to chain `c`, with its anonymous set first when it has one.
fn rule(bt: &mut Batch, c: &str, text: &str, enc: &Encoded, set_id: u32) {
    if let Some((_, keys)) = &enc.anon {
        let set = [
            stra(1, TABLE_NAME),
            stra(2, x::ANON_SET),
            u32a(3, 0x3), // anonymous, constant
            u32a(4, x::ANON_KEY_TYPE),
            u32a(5, 1),
            nest(9, &[u32a(1, keys.len() as u32)]),
            u32a(10, set_id),
            attr(13, &x::ANON_UDATA),
        ]
        .concat();
        let op = format!("add the set of rule `{text}` in {c}");
        bt.push(b::NFT_MSG_NEWSET, b::NLM_F_CREATE, set, op.clone());
        let elems: Vec<Vec<u8>> = keys.iter().map(|k| nest(1, &[x::data(1, k)])).collect();
        let list = [
            stra(1, TABLE_NAME),
            stra(2, x::ANON_SET),
            u32a(4, set_id),
            nest(3, &elems),
        ]
        .concat();
        bt.push(b::NFT_MSG_NEWSETELEM, b::NLM_F_CREATE, list, op);
    }
    let mut attrs = [
        stra(1, TABLE_NAME),
        stra(2, c),
        attr(4 | x::NLA_F_NESTED, &enc.expressions(set_id)),
    ]
    .concat();
    if let Some(u) = enc.userdata() {
        attrs.extend(attr(7, &u));
    }
    bt.push(
        b::NFT_MSG_NEWRULE,
        b::NLM_F_CREATE | b::NLM_F_APPEND | b::NLM_F_ECHO,
        attrs,
        format!("add rule to {c}: {text}"),
    );
}

/// Adds (`target`: the chain a map's element jumps to) or deletes dispatch entry `e`
/// (`MAP KEY` as `nft::dispatch` writes it).
fn element(
    bt: &mut Batch,
    changes: &mut Vec<(String, bool, NftElem)>,
    msg: u16,
    e: &str,
    target: Option<&str>,
) -> Result<(), NftWriteError> {
    let bad = || NftWriteError::Element(e.to_string());
    let (map, key) = e.split_once(' ').ok_or_else(bad)?;
    let add = msg == b::NFT_MSG_NEWSETELEM;
    let mut data = |k: &[u8], flags: u32, with_target: bool| {
        let target = target.filter(|_| with_target);
        let mut parts = vec![x::data(1, k)];
        if let Some(t) = target {
            parts.push(x::verdict(2, x::NFT_JUMP, Some(t)));
        }
        if flags != 0 {
            parts.push(u32a(3, flags));
        }
        let elem = NftElem {
            key: k.to_vec(),
            key_end: None,
            flags,
            target: target.map(str::to_string),
        };
        changes.push((map.to_string(), add, elem));
        nest(1, &parts)
    };
    let elems: Vec<Vec<u8>> = if map.starts_with("post_") {
        let (start, end) = interval(key).ok_or_else(bad)?;
        let mut v = Vec::new();
        // nft 1.0.6 opens every interval map write with an end at zero (the gap below
        // the first interval); deleting leaves it, as nft does.
        if add {
            v.push(data(&vec![0; start.len()], ELEM_INTERVAL_END, false));
        }
        v.push(data(&start, 0, true));
        if let Some(end) = end {
            v.push(data(&end, ELEM_INTERVAL_END, false));
        }
        v
    } else {
        vec![data(&key_bytes(map, key).ok_or_else(bad)?, 0, true)]
    };
    let attrs = [stra(1, TABLE_NAME), stra(2, map), nest(3, &elems)].concat();
    let verb = if add { "add" } else { "delete" };
    bt.push(msg, b::NLM_F_CREATE, attrs, format!("{verb} element {e}"));
    Ok(())
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('"')?.strip_suffix('"')
}

/// A concatenation's field, padded to four bytes.
fn field(v: &[u8]) -> Vec<u8> {
    let mut f = v.to_vec();
    f.resize(v.len().div_ceil(4) * 4, 0);
    f
}

/// `ipv4 . tcp . 80` as three padded fields.
fn proto_port(parts: &[&str]) -> Option<Vec<u8>> {
    let nf: u8 = match *parts.first()? {
        "ipv4" => 2,
        "ipv6" => 10,
        _ => return None,
    };
    let l4: u8 = match *parts.get(1)? {
        "tcp" => 6,
        "udp" => 17,
        _ => return None,
    };
    let port: u16 = parts.get(2)?.parse().ok()?;
    Some([field(&[nf]), field(&[l4]), field(&port.to_be_bytes())].concat())
}

fn key_bytes(map: &str, key: &str) -> Option<Vec<u8>> {
    match map {
        "pre_v4" | "pre_v6" => Some(x::ip_bytes(&key.parse::<IpAddr>().ok()?)),
        "pre_pf" => {
            let parts: Vec<&str> = key.split(" . ").collect();
            let dev = unquote(parts.first()?)?;
            Some([x::ifname(dev), proto_port(&parts[1..])?].concat())
        }
        "pre_hp" => proto_port(&key.split(" . ").collect::<Vec<_>>()),
        "fwd_if" | "in_if" | "pre_if" | "isolated" => Some(x::ifname(unquote(key)?)),
        _ => None,
    }
}

/// A prefix's first address and the first past it (`None`: the top of the space).
fn interval(key: &str) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let (addr, len) = match key.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u32>().ok()?)),
        None => (key.parse::<IpAddr>().ok()?, None),
    };
    let start = x::ip_bytes(&addr);
    let bits = start.len() as u32 * 8;
    let len = len.unwrap_or(bits);
    if len > bits || len == 0 {
        return None;
    }
    let v = start.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b));
    let n = start.len();
    let end = v
        .checked_add(1u128 << (bits - len))
        .filter(|e| bits == 128 || *e < (1u128 << bits))
        .map(|e| e.to_be_bytes()[16 - n..].to_vec());
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_the_kernel_holds_them() {
        assert_eq!(key_bytes("fwd_if", "\"br0\"").expect("key").len(), 16);
        let pf = key_bytes("pre_pf", "\"eth0\" . ipv4 . tcp . 80").expect("key");
        assert_eq!(pf.len(), 28);
        assert_eq!(&pf[16..], [2, 0, 0, 0, 6, 0, 0, 0, 0, 80, 0, 0]);
        assert_eq!(
            interval("10.0.0.0/24"),
            Some((vec![10, 0, 0, 0], Some(vec![10, 0, 1, 0])))
        );
        assert_eq!(
            interval("10.0.3.1"),
            Some((vec![10, 0, 3, 1], Some(vec![10, 0, 3, 2])))
        );
        assert_eq!(
            interval("255.255.255.0/24"),
            Some((vec![255, 255, 255, 0], None))
        );
        assert!(key_bytes("pre_hp", "ipv4 . sctp . 80").is_none());
    }
}
