//! The firewall state of our table as read: its skeleton items and, per network, the
//! chains, dispatch entries and comment tokens, with whether they are intact by their
//! structure (the rules' content is compared by fingerprint, see [`super`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;

use crate::firewall::nft::{network_of_chain, q, BASE_CHAINS, MAPS, SUFFIXES};
use crate::firewall::{nft, BackendState, NetFirewall, NetFwState};
use crate::netdev::linux::nfnl::{self, NftElem, NftTable};

/// The state. Rules are not yet compared: a network is intact here when its chains, map
/// elements and rule count match what its comment tokens render to.
pub fn from_table(t: &NftTable) -> BackendState {
    build(t, None)
}

/// The states of networks `names` alone (those the table has), as [`from_table`] finds
/// them: what a transaction of ours changed, without going over every other network.
pub fn networks_of(t: &NftTable, names: &BTreeSet<String>) -> BTreeMap<String, NetFwState> {
    build(t, Some(names)).networks
}

fn build(t: &NftTable, only: Option<&BTreeSet<String>>) -> BackendState {
    let wanted: Option<HashSet<String>> = only.map(|names| {
        names
            .iter()
            .flat_map(|n| SUFFIXES.iter().map(move |s| nft::chain(n, s)))
            .collect()
    });
    let want = |c: &str| wanted.as_ref().is_none_or(|w| w.contains(c));
    let mut st = BackendState::default();
    st.base.insert("table".into());
    let mut chains: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in &t.chains {
        if BASE_CHAINS.iter().any(|(b, _)| b == c) {
            st.base.insert(format!("chain {c}"));
        } else if !want(c) {
            continue;
        } else if let Some((net, _)) = network_of_chain(c) {
            chains.entry(net.to_string()).or_default().insert(c.clone());
        }
    }
    let (mut dispatch, isolated) = dispatch_of(t, &mut st, wanted.as_ref());
    let mut tokens: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in t.rules.iter().filter(|r| want(&r.chain)) {
        let comment = r.comment.clone().unwrap_or_default();
        if let Some((net, _)) = network_of_chain(&r.chain) {
            tokens.entry(net.to_string()).or_default().push(comment);
        } else if let Some(m) = comment.strip_prefix("dispatch ") {
            st.base.insert(format!("rule dispatch {m}"));
        }
    }
    let names: BTreeSet<String> = chains.keys().chain(dispatch.keys()).cloned().collect();
    for name in names {
        let toks = tokens.remove(&name).unwrap_or_default();
        let spec = NetFirewall::from_tokens(toks.iter().map(String::as_str));
        let mut found = NetFwState {
            spec: spec.clone().unwrap_or_default(),
            intact: false,
            chains: chains.remove(&name).unwrap_or_default(),
            dispatch: dispatch.remove(&name).unwrap_or_default(),
            unread: false,
        };
        // Without rules to read the device from (not read, or gone), its dispatch has it.
        let device = match &spec {
            Some(s) => q(&s.device),
            None => found
                .dispatch
                .iter()
                .find_map(|e| e.strip_prefix("fwd_if "))
                .unwrap_or_default()
                .to_string(),
        };
        if isolated.contains(&device) {
            found.dispatch.insert(format!("isolated {device}"));
        }
        if let Some(spec) = spec {
            let want = nft::expected(&name, &spec);
            found.intact = want.chains == found.chains
                && want.dispatch == found.dispatch
                && toks.len() == nft::rule_count(&name, &spec);
        }
        st.networks.insert(name, found);
    }
    st
}

/// Each network's dispatch entries (`MAP KEY`) with the skeleton's sets and maps noted in
/// `st`, and the devices in the `isolated` set. With `wanted`, only entries jumping to
/// those chains are formatted.
fn dispatch_of(
    t: &NftTable,
    st: &mut BackendState,
    wanted: Option<&HashSet<String>>,
) -> (BTreeMap<String, BTreeSet<String>>, BTreeSet<String>) {
    let mut dispatch: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut isolated: BTreeSet<String> = BTreeSet::new();
    for s in &t.sets {
        if s.name == "isolated" {
            st.base.insert("set isolated".into());
            isolated.extend(s.elements.iter().map(|e| q(&nfnl_string(&e.key))));
        } else if MAPS.iter().any(|m| m.0 == s.name) {
            st.base.insert(format!("map {}", s.name));
            let picked: Vec<NftElem>;
            let elements: &[NftElem] = match wanted {
                None => &s.elements,
                Some(w) => {
                    // An interval's end carries no target: every end is kept for the
                    // starts.
                    picked = s
                        .elements
                        .iter()
                        .filter(|e| {
                            e.flags & nfnl::ELEM_INTERVAL_END != 0
                                || e.target.as_deref().is_some_and(|c| w.contains(c))
                        })
                        .cloned()
                        .collect();
                    &picked
                }
            };
            for (key, target) in map_entries(&s.name, elements) {
                if let Some((net, _)) = network_of_chain(&target) {
                    dispatch
                        .entry(net.to_string())
                        .or_default()
                        .insert(format!("{} {key}", s.name));
                }
            }
        }
    }
    (dispatch, isolated)
}

fn nfnl_string(b: &[u8]) -> String {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

fn nfproto(v: u8) -> String {
    match v {
        2 => "ipv4".into(),
        10 => "ipv6".into(),
        n => n.to_string(),
    }
}

fn l4proto(v: u8) -> String {
    match v {
        6 => "tcp".into(),
        17 => "udp".into(),
        n => n.to_string(),
    }
}

/// `nfproto . l4proto . port` from a concatenation's 4-byte-aligned fields at `at`.
fn proto_port(b: &[u8], at: usize) -> Option<String> {
    let nf = *b.get(at)?;
    let l4 = *b.get(at + 4)?;
    let port = u16::from_be_bytes(b.get(at + 8..at + 10)?.try_into().ok()?);
    Some(format!("{} . {} . {port}", nfproto(nf), l4proto(l4)))
}

fn as_ip(b: &[u8]) -> Option<IpAddr> {
    match b.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(b).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(b).ok()?)),
        _ => None,
    }
}

/// A map's entries as (key in nft syntax, as [`nft`]'s dispatch writes it; target
/// chain).
pub(super) fn map_entries(map: &str, elements: &[NftElem]) -> Vec<(String, String)> {
    if map.starts_with("post_") {
        return intervals(elements);
    }
    elements
        .iter()
        .filter_map(|e| {
            let target = e.target.clone()?;
            let key = match map {
                "pre_v4" | "pre_v6" => as_ip(&e.key)?.to_string(),
                "pre_pf" => format!(
                    "{} . {}",
                    q(&nfnl_string(e.key.get(..16)?)),
                    proto_port(&e.key, 16)?
                ),
                "pre_hp" => proto_port(&e.key, 0)?,
                _ => q(&nfnl_string(&e.key)),
            };
            Some((key, target))
        })
        .collect()
}

/// Prefixes of an interval map: a start element (with the verdict) runs up to the next
/// interval end (exclusive) or, with none, to the end of the address space.
pub(super) fn intervals(elements: &[NftElem]) -> Vec<(String, String)> {
    let num = |k: &[u8]| -> Option<(u128, u32)> {
        let bits = u32::try_from(k.len() * 8).ok()?;
        if bits != 32 && bits != 128 {
            return None;
        }
        Some((k.iter().fold(0u128, |a, b| (a << 8) | u128::from(*b)), bits))
    };
    let mut ends: Vec<u128> = elements
        .iter()
        .filter(|e| e.flags & nfnl::ELEM_INTERVAL_END != 0)
        .filter_map(|e| num(&e.key).map(|(v, _)| v))
        .collect();
    ends.sort_unstable();
    let mut out = Vec::new();
    for e in elements
        .iter()
        .filter(|e| e.flags & nfnl::ELEM_INTERVAL_END == 0)
    {
        let (Some((start, bits)), Some(target)) = (num(&e.key), e.target.clone()) else {
            continue;
        };
        let end = match &e.key_end {
            Some(k) => num(k).map(|(v, _)| v.saturating_add(1)),
            None => ends.iter().copied().find(|x| *x > start),
        };
        // No end: the range reaches the top of the address space.
        let size = match end {
            Some(x) => x - start,
            None => (1u128 << (bits - 1)) - start + (1u128 << (bits - 1)),
        };
        if !size.is_power_of_two() {
            continue;
        }
        let len = bits - size.trailing_zeros();
        let addr = if bits == 32 {
            IpAddr::from(std::net::Ipv4Addr::from(start as u32))
        } else {
            IpAddr::from(std::net::Ipv6Addr::from(start))
        };
        let key = if len == bits {
            addr.to_string()
        } else {
            format!("{addr}/{len}")
        };
        out.push((key, target));
    }
    out
}
