//! Reading our nftables table through nfnetlink (no `nft` process), and deciding which
//! chains' rules are exactly what their specs render to.
//!
//! The structure (chains, maps and their elements, each rule's comment token, the rule
//! counts) comes straight from netlink. The rules' *content* is checked by fingerprint:
//! a chain's fingerprint hashes its rules' expressions as the kernel holds them
//! (counters' values left out) with their comments. A fingerprint is recorded as
//! verified (in `verified`) when either
//!
//! * `nft list` printed that chain exactly as our renderer writes its rules (the check
//!   hostnet always made), or
//! * our own `nft -f` transaction wrote the chain and the ruleset generation shows that
//!   no other transaction came between it and our read-back.
//!
//! A chain whose fingerprint is not recorded as verified (someone edited or replaced a
//! rule, keeping its comment or not; or the record is gone) is printed by `nft` and
//! compared as text, that chain only. So an edited or foreign rule in our chains is still
//! found and repaired, and the common case reads no text at all.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::nfnl::{self, Nfnl, NfnlError, NftElem, NftTable};
use crate::firewall::nft::{network_of_chain, BASE_CHAINS, SUFFIXES};
use crate::firewall::{nft, BackendState, FirewallError};
use crate::netdev::firewall::run;

pub const TABLE_NAME: &str = "hostnet";

/// More unverified chains than this are printed with one `nft list table` rather than
/// one `nft list chain` process each (nft 1.0.6 fails a script of several `list chain`
/// commands: its cache then holds only the first chain).
const LIST_EACH_UP_TO: usize = 4;

/// A query focused on more networks than this reads the whole table.
const FOCUS_UP_TO: usize = 32;

fn read_error(e: NfnlError) -> FirewallError {
    FirewallError::Output {
        program: "nfnetlink (table inet hostnet)".into(),
        message: crate::error_chain(&e),
    }
}

/// Reads our table: state, damage marked. With `focus`, only the rules of the base
/// chains and of the networks named are read (a one-network change among a thousand
/// then dumps its four chains, not four thousand); the other networks are known by their
/// chains and dispatch entries and marked [`NetFwState::unread`]. A damaged skeleton is
/// repaired by re-creating the table with every network in it: then the whole table is
/// read.
pub fn query(focus: Option<&BTreeSet<String>>) -> Result<BackendState, FirewallError> {
    // Each focused chain is a dump of its own: for many networks one dump of all is less.
    let focus = focus.filter(|f| f.len() <= FOCUS_UP_TO);
    let mut nl = match Nfnl::kept() {
        Ok(nl) => nl,
        Err(e) if e.unsupported() => return Ok(BackendState::default()),
        Err(e) => return Err(read_error(e)),
    };
    let key = memo_key();
    let now = match nl.generation() {
        Ok(g) => Some(g),
        Err(e) if e.unsupported() => return Ok(BackendState::default()),
        Err(_) => None,
    };
    let Some(Reading {
        prints,
        focus: read_focus,
        state: mut st,
        fresh,
    }) = reading(&mut nl, key, now, focus)?
    else {
        return Ok(BackendState::default());
    };
    if let Some(names) = &read_focus {
        if st.base != nft::expected_base() {
            drop(nl);
            return query(None);
        }
        for (name, n) in st.networks.iter_mut() {
            if !names.contains(name) {
                n.unread = true;
                n.intact = false;
            }
        }
    }
    let mut record = verified::load();
    let unverified: BTreeSet<String> = ours_to_check(&st)
        .into_iter()
        .filter(|c| prints.get(c).is_none_or(|p| !record.contains(c, *p)))
        .collect();
    if !unverified.is_empty() {
        let listing = list_chains(&unverified)?;
        nft::check_rules(&mut st, &listing, Some(&unverified));
        for c in &unverified {
            if chain_sound(&st, c) {
                if let Some(p) = prints.get(c) {
                    record.insert(c, *p);
                }
            }
        }
    }
    // Every chain that exists keeps its record, read this time or not (a remembered
    // table has only the chains our own transactions left, whose records they kept).
    if fresh {
        record.keep_only(prints.keys());
    }
    verified::store(record);
    Ok(st)
}

/// The table as read now, or as remembered.
struct Reading {
    prints: Rc<BTreeMap<String, u64>>,
    /// The networks whose rules were read (`None`: all).
    focus: Option<BTreeSet<String>>,
    /// [`from_table`] of it.
    state: BackendState,
    /// Read now, not remembered.
    fresh: bool,
}

/// The remembered table when no transaction came since (`now`), else the table read
/// (and remembered); `None` when there is no table or no nf_tables.
fn reading(
    nl: &mut Nfnl,
    key: Option<String>,
    now: Option<u32>,
    focus: Option<&BTreeSet<String>>,
) -> Result<Option<Reading>, FirewallError> {
    // The state is handed over, not copied (a query after our transaction is the
    // verify's, normally the last); a later query without a transaction between builds it
    // again from the table.
    let remembered = LAST.with(|l| {
        l.borrow_mut()
            .as_mut()
            .filter(|m| Some(&m.key) == key.as_ref() && Some(m.table.generation) == now)
            .filter(|m| m.focus.is_none() || m.focus.as_ref() == focus)
            .map(|m| Reading {
                prints: m.prints.clone(),
                focus: m.focus.clone(),
                state: m.state.take().unwrap_or_else(|| from_table(&m.table)),
                fresh: false,
            })
    });
    if remembered.is_some() {
        return Ok(remembered);
    }
    let chains = focus.map(focus_chains);
    let table = match nl.read_table(nfnl::NFPROTO_INET, TABLE_NAME, chains.as_deref()) {
        Ok(Some(t)) => t,
        Ok(None) => {
            LAST.with(|l| l.borrow_mut().take());
            return Ok(None);
        }
        Err(e) if e.unsupported() => return Ok(None),
        Err(e) => return Err(read_error(e)),
    };
    let prints = Rc::new(chain_prints(&table));
    let state = from_table(&table);
    if let Some(key) = key {
        LAST.with(|l| {
            *l.borrow_mut() = Some(Memo {
                key,
                table: Rc::new(table),
                prints: prints.clone(),
                state: Some(state.clone()),
                focus: focus.cloned(),
            })
        });
    }
    Ok(Some(Reading {
        prints,
        focus: focus.cloned(),
        state,
        fresh: true,
    }))
}

/// The chains whose rules a query focused on `names` reads: the base chains and the
/// networks' own.
fn focus_chains(names: &BTreeSet<String>) -> Vec<String> {
    let mut out: Vec<String> = BASE_CHAINS.iter().map(|(c, _)| c.to_string()).collect();
    for name in names {
        out.extend(SUFFIXES.iter().map(|s| nft::chain(name, s)));
    }
    out
}

/// The chains whose rules decide whether the state is sound: the base chains that exist
/// and the chains of every network that is intact by its structure.
fn ours_to_check(st: &BackendState) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = BASE_CHAINS
        .iter()
        .map(|(c, _)| c.to_string())
        .filter(|c| st.base.contains(&format!("chain {c}")))
        .collect();
    for n in st.networks.values().filter(|n| n.intact) {
        out.extend(n.chains.iter().cloned());
    }
    out
}

/// Whether the text check left chain `c` as ours: its network intact, or a base chain
/// with no foreign rule recorded.
fn chain_sound(st: &BackendState, c: &str) -> bool {
    match network_of_chain(c) {
        Some((net, _)) => st.networks.get(net).is_some_and(|n| n.intact),
        None => !st
            .base
            .iter()
            .any(|b| b.starts_with(&format!("foreign {c}:"))),
    }
}

/// `nft list` output of the chains (only they are compared as text).
fn list_chains(chains: &BTreeSet<String>) -> Result<String, FirewallError> {
    if chains.len() > LIST_EACH_UP_TO {
        return Ok(run::output("nft", &["list", "table", "inet", TABLE_NAME])?.unwrap_or_default());
    }
    let mut listing = String::new();
    for c in chains {
        let args = ["list", "chain", "inet", TABLE_NAME, c.as_str()];
        listing.push_str(&run::output("nft", &args)?.unwrap_or_default());
    }
    Ok(listing)
}

/// Records the fingerprints of the chains our own transaction just wrote, when the
/// ruleset generation shows it was the only one since `before` (read before the
/// transaction). `networks`: those the transaction changed. `echoed`: what a transaction
/// through nfnetlink wrote (else the written chains' rules and the maps are read). Best
/// effort: without a record the next query compares those chains as text.
pub fn record_written(
    before: Option<u32>,
    (written, gone): (&BTreeSet<String>, &BTreeSet<String>),
    networks: &BTreeSet<String>,
    echoed: Option<&nfnl::Written>,
) {
    let Some(before) = before else { return };
    let Ok(mut nl) = Nfnl::kept() else { return };
    let rules = match echoed {
        Some(w) => w.rules.clone(),
        None => {
            let list: Vec<String> = written.iter().cloned().collect();
            let Ok(rules) = nl.rules_of(nfnl::NFPROTO_INET, TABLE_NAME, &list) else {
                return;
            };
            rules
        }
    };
    let Ok(after) = nl.generation() else { return };
    let ours_alone = after == before.wrapping_add(1);
    let elements = echoed.map(|w| w.elements.as_slice());
    let change = (written, gone, rules.as_slice(), elements);
    patch_memo(&mut nl, (before, after), ours_alone, change, networks);
    let mut record = verified::load();
    for c in gone {
        record.remove(c);
    }
    if ours_alone {
        let prints = fingerprints(&rules);
        for c in written {
            match prints.get(c) {
                Some(p) => record.insert(c, *p),
                None => record.insert(c, fingerprint_of(&[])),
            }
        }
    }
    verified::store(record);
}

/// The table as this thread last read it, valid while the ruleset generation is
/// `table.generation` (no transaction since), with each chain's fingerprint: the query
/// that verifies an apply then re-reads nothing but what the apply itself wrote.
/// Shared (`Rc`): a query that finds it hands it on without copying a table of
/// thousands of rules, and the patch after our own transaction changes it in place.
struct Memo {
    key: String,
    table: Rc<NftTable>,
    prints: Rc<BTreeMap<String, u64>>,
    /// [`from_table`] of `table`, kept up to date network by network (`None`: handed to
    /// a query, built again when needed).
    state: Option<BackendState>,
    /// The networks whose rules were read (`None`: all).
    focus: Option<BTreeSet<String>>,
}

thread_local! {
    static LAST: std::cell::RefCell<Option<Memo>> = const { std::cell::RefCell::new(None) };
}

fn memo_key() -> Option<String> {
    crate::netdev::netns_id::NetnsId::current()
        .ok()
        .map(|n| n.key())
}

/// Brings the remembered table up to date after our own transaction, when it was the
/// only one since the table was read (`ours_alone`) and wrote no base chain (the
/// skeleton's repair re-creates the table: then it is read again whole): the written
/// chains' rules (`rules`, echoed or read back) replace theirs, the gone chains go, and
/// the maps take the elements the transaction added and deleted (or, not known, are read
/// again).
fn patch_memo(
    nl: &mut Nfnl,
    (before, after): (u32, u32),
    ours_alone: bool,
    change: Change<'_>,
    networks: &BTreeSet<String>,
) {
    let (written, gone, rules, elements) = change;
    let key = memo_key();
    let mut memo = LAST.with(|l| l.borrow_mut().take());
    let usable = memo
        .as_ref()
        .is_some_and(|m| Some(&m.key) == key.as_ref() && m.table.generation == before)
        && ours_alone
        && !written
            .iter()
            .chain(gone)
            .any(|c| BASE_CHAINS.iter().any(|(b, _)| b == c));
    let Some(m) = memo.as_mut().filter(|_| usable) else {
        return;
    };
    let t = Rc::make_mut(&mut m.table);
    let prints = Rc::make_mut(&mut m.prints);
    match elements {
        Some(changes) => patch_sets(&mut t.sets, changes),
        None => match nl.sets(nfnl::NFPROTO_INET, TABLE_NAME) {
            Ok(sets) => t.sets = sets,
            Err(_) => return,
        },
    }
    t.chains.retain(|c| !gone.contains(c));
    for c in written {
        if !t.chains.contains(c) {
            t.chains.push(c.clone());
        }
    }
    t.rules
        .retain(|r| !written.contains(&r.chain) && !gone.contains(&r.chain));
    t.rules.extend(rules.iter().cloned());
    t.generation = after;
    for c in gone {
        prints.remove(c);
    }
    let fresh = fingerprints(rules);
    for c in written {
        let p = fresh.get(c).copied().unwrap_or_else(|| fingerprint_of(&[]));
        prints.insert(c.clone(), p);
    }
    // Only the networks changed are found again, not every network of the table.
    if let Some(st) = m.state.as_mut() {
        for n in networks {
            st.networks.remove(n);
        }
        st.networks.extend(state::networks_of(t, networks));
    }
    LAST.with(|l| *l.borrow_mut() = memo);
}

/// What a transaction changed: chains written and gone, the written chains' rules, the
/// elements added and deleted (when known).
type Change<'a> = (
    &'a BTreeSet<String>,
    &'a BTreeSet<String>,
    &'a [nfnl::NftRule],
    Option<&'a [(String, bool, NftElem)]>,
);

/// Applies element changes to sets as read (an element present twice, as the zero
/// interval end every interval write carries, is kept once).
fn patch_sets(sets: &mut [nfnl::NftSet], changes: &[(String, bool, NftElem)]) {
    for (name, add, e) in changes {
        let Some(s) = sets.iter_mut().find(|s| s.name == *name) else {
            continue;
        };
        let same = |x: &NftElem| x.key == e.key && x.flags == e.flags;
        if *add {
            if !s.elements.iter().any(same) {
                s.elements.push(e.clone());
            }
        } else {
            s.elements.retain(|x| !same(x));
        }
    }
}

/// Whether iptables may hold anything of ours (or a FORWARD policy): a `filter` or `nat`
/// table exists for IPv4 or IPv6, in nf_tables (`iptables-nft`) or in the legacy
/// interface. When not, `iptables-save` would print nothing of interest: a host that
/// uses only nftables is read without its two processes. Any doubt answers yes.
pub fn iptables_tables_exist() -> bool {
    let ours = |n: &str| n == "filter" || n == "nat";
    // `/proc/net` is the main thread's namespace; the query runs in the calling thread's.
    for f in [
        "/proc/thread-self/net/ip_tables_names",
        "/proc/thread-self/net/ip6_tables_names",
    ] {
        if std::fs::read_to_string(f).is_ok_and(|t| t.lines().any(ours)) {
            return true;
        }
    }
    let Ok(mut nl) = Nfnl::kept() else {
        return true;
    };
    [nfnl::NFPROTO_IPV4, nfnl::NFPROTO_IPV6]
        .into_iter()
        .any(|fam| match nl.table_names(fam) {
            Ok(names) => names.iter().any(|n| ours(n)),
            Err(e) => !e.unsupported(),
        })
}

/// The ruleset generation now, if nf_tables answers.
pub fn generation() -> Option<u32> {
    Nfnl::kept().ok()?.generation().ok()
}

/// FNV-1a, 64 bits: stable across builds (the record outlives a process).
fn fnv(h: &mut u64, bytes: &[u8]) {
    for b in bytes {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn fingerprint_of(rules: &[&nfnl::NftRule]) -> u64 {
    let mut h = FNV_START;
    for r in rules {
        fnv(&mut h, &(r.canon.len() as u64).to_le_bytes());
        fnv(&mut h, &r.canon);
        let c = r.comment.as_deref().unwrap_or("\u{0}none");
        fnv(&mut h, &(c.len() as u64).to_le_bytes());
        fnv(&mut h, c.as_bytes());
    }
    h
}

/// Each chain's fingerprint (rules in their order).
fn fingerprints(rules: &[nfnl::NftRule]) -> BTreeMap<String, u64> {
    let mut by_chain: BTreeMap<&str, Vec<&nfnl::NftRule>> = BTreeMap::new();
    for r in rules {
        by_chain.entry(&r.chain).or_default().push(r);
    }
    by_chain
        .into_iter()
        .map(|(c, rs)| (c.to_string(), fingerprint_of(&rs)))
        .collect()
}

/// Each chain's fingerprint (an empty chain has the fingerprint of no rules).
pub fn chain_prints(t: &NftTable) -> BTreeMap<String, u64> {
    let mut prints = fingerprints(&t.rules);
    for c in &t.chains {
        prints
            .entry(c.clone())
            .or_insert_with(|| fingerprint_of(&[]));
    }
    prints
}

mod state;
#[cfg(test)]
mod tests;
mod verified;

pub use state::from_table;
#[cfg(test)]
use state::{intervals, map_entries};
