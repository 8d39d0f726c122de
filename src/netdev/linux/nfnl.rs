//! A small nfnetlink reader for one nftables table: its chains, sets and maps with their
//! elements, and its rules (expressions as the kernel holds them, and their comments),
//! over a NETLINK_NETFILTER socket of the calling thread's namespace. Writing is
//! `nft_write` (one transaction per change of networks) or `nft -f` (the skeleton).
//!
//! Our own layer rather than a crate: rustables is GPL-3.0 (hostnet is Apache-2.0), nftnl
//! wraps libnftnl through C, and netlink-packet-netfilter (rust-netlink, MIT) parses every
//! expression into owned attribute vectors and comes with that family's API churn, where
//! the query needs only the raw bytes of each rule and a handful of attributes. Replies
//! are decoded by hand with `wire`, as the rtnetlink replies are.

use std::io;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_NETFILTER, Socket, SocketAddr};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::TimeVal;

use super::wire::{self, align4, as_string, NLMSG_HDR_LEN};

mod kept;
pub use kept::Kept;

pub(super) const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_GETTABLE: u16 = 1;
const NFT_MSG_GETCHAIN: u16 = 4;
const NFT_MSG_GETRULE: u16 = 7;
const NFT_MSG_GETSET: u16 = 10;
const NFT_MSG_GETSETELEM: u16 = 13;
const NFT_MSG_GETGEN: u16 = 16;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_DUMP_INTR: u16 = 0x10;

/// `nfgenmsg.family` of an `inet` table.
pub const NFPROTO_INET: u8 = 1;
pub const NFPROTO_IPV4: u8 = 2;
pub const NFPROTO_IPV6: u8 = 10;

// Attribute numbers (include/uapi/linux/netfilter/nf_tables.h).
const NFTA_TABLE_NAME: u16 = 1;
const NFTA_CHAIN_TABLE: u16 = 1;
const NFTA_CHAIN_NAME: u16 = 3;
const NFTA_RULE_TABLE: u16 = 1;
const NFTA_RULE_CHAIN: u16 = 2;
const NFTA_RULE_HANDLE: u16 = 3;
const NFTA_RULE_EXPRESSIONS: u16 = 4;
const NFTA_RULE_USERDATA: u16 = 7;
const NFTA_LIST_ELEM: u16 = 1;
const NFTA_EXPR_NAME: u16 = 1;
const NFTA_SET_TABLE: u16 = 1;
const NFTA_SET_NAME: u16 = 2;
const NFTA_SET_FLAGS: u16 = 3;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_SET_ELEM_LIST_ELEMENTS: u16 = 3;
const NFTA_SET_ELEM_KEY: u16 = 1;
const NFTA_SET_ELEM_DATA: u16 = 2;
const NFTA_SET_ELEM_FLAGS: u16 = 3;
const NFTA_SET_ELEM_KEY_END: u16 = 10;
const NFTA_DATA_VALUE: u16 = 1;
const NFTA_DATA_VERDICT: u16 = 2;
#[cfg(test)]
const NFTA_VERDICT_CODE: u16 = 1;
const NFTA_VERDICT_CHAIN: u16 = 2;
const NFTA_GEN_ID: u16 = 1;
/// The rule comment in libnftnl's userdata TLVs (`NFTNL_UDATA_RULE_COMMENT`).
const UDATA_RULE_COMMENT: u8 = 0;

/// `NFT_SET_ANONYMOUS`: a set nft made for one rule (`{ icmp, ipv6-icmp }`).
pub const SET_ANONYMOUS: u32 = 0x1;
/// `NFT_SET_ELEM_INTERVAL_END`: the element ends an interval (one past its last key).
pub const ELEM_INTERVAL_END: u32 = 0x1;

const DUMP_ATTEMPTS: u32 = 12;
const RECV_CHUNK: usize = 256 * 1024;
const RCVBUF: usize = 4 * 1024 * 1024;
const RECV_TIMEOUT: Duration = Duration::from_secs(120);

/// Why the table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum NfnlError {
    #[error("nfnetlink socket")]
    Io(#[from] io::Error),
    #[error("nfnetlink dump of {what}: {errno_text}")]
    Kernel {
        what: &'static str,
        errno: i32,
        errno_text: String,
    },
    #[error("nfnetlink dump of {what} was interrupted {attempts} times by other changes")]
    Interrupted { what: &'static str, attempts: u32 },
    #[error("nfnetlink reply: {0}")]
    Decode(String),
}

impl NfnlError {
    /// The kernel has no nf_tables (module missing): nothing of ours can exist.
    pub fn unsupported(&self) -> bool {
        matches!(self, NfnlError::Kernel { errno, .. }
            if [libc::EPROTONOSUPPORT, libc::EOPNOTSUPP, libc::EAFNOSUPPORT].contains(errno))
            || matches!(self, NfnlError::Io(e) if e.raw_os_error() == Some(libc::EPROTONOSUPPORT))
    }
}

/// One rule: its chain, handle, expressions and comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftRule {
    pub chain: String,
    pub handle: u64,
    /// The expressions attribute as the kernel sends it, except that a `counter`'s
    /// values are left out: equal rules have equal bytes whatever they counted.
    pub canon: Vec<u8>,
    pub comment: Option<String>,
}

/// One element of a set or map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftElem {
    pub key: Vec<u8>,
    /// The end of a range element (sets with both ends in one element).
    pub key_end: Option<Vec<u8>>,
    pub flags: u32,
    /// The chain a map's verdict jumps or goes to.
    pub target: Option<String>,
}

/// What a transaction of ours wrote: the rules as the kernel echoed them, and each
/// element it added (`true`) to or deleted from a named set.
#[derive(Clone, Debug, Default)]
pub struct Written {
    pub rules: Vec<NftRule>,
    pub elements: Vec<(String, bool, NftElem)>,
}

/// A named set or map of the table with its elements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NftSet {
    pub name: String,
    pub flags: u32,
    pub elements: Vec<NftElem>,
}

/// What one table holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NftTable {
    pub chains: Vec<String>,
    pub sets: Vec<NftSet>,
    pub rules: Vec<NftRule>,
    /// The ruleset generation the reading started at.
    pub generation: u32,
}

/// A NETLINK_NETFILTER socket in the calling thread's namespace.
pub struct Nfnl {
    pub(super) sock: Socket,
    pub(super) port: u32,
    pub(super) seq: u32,
    pub(super) rbuf: Vec<u8>,
}

impl Nfnl {
    pub fn open() -> Result<Self, NfnlError> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        let addr = sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let _ = sock.set_ext_ack(true);
        if setsockopt(&sock, sockopt::RcvBufForce, &RCVBUF).is_err() {
            let _ = setsockopt(&sock, sockopt::RcvBuf, &RCVBUF);
        }
        let _ = setsockopt(
            &sock,
            sockopt::ReceiveTimeout,
            &TimeVal::new(RECV_TIMEOUT.as_secs() as _, 0),
        );
        Ok(Nfnl {
            sock,
            port: addr.port_number(),
            seq: 0,
            rbuf: vec![0; RECV_CHUNK],
        })
    }

    /// The names of the tables of `family` (`NFPROTO_IPV4`: those `iptables-nft` uses).
    pub fn table_names(&mut self, family: u8) -> Result<Vec<String>, NfnlError> {
        let replies = self.request(NFT_MSG_GETTABLE, family, &[], true, "tables")?;
        Ok(replies
            .iter()
            .flat_map(|p| wire::attrs(body(p)))
            .filter(|(k, _)| *k == NFTA_TABLE_NAME)
            .map(|(_, v)| as_string(v))
            .collect())
    }

    /// The ruleset generation: every committed nftables transaction of the namespace,
    /// whoever made it, adds one.
    pub fn generation(&mut self) -> Result<u32, NfnlError> {
        let replies = self.request(NFT_MSG_GETGEN, 0, &[], false, "generation")?;
        let id = replies
            .iter()
            .flat_map(|p| wire::attrs(body(p)))
            .find(|(k, _)| *k == NFTA_GEN_ID)
            .and_then(|(_, v)| be32(v));
        id.ok_or_else(|| NfnlError::Decode("no generation id".into()))
    }

    /// Reads table `name` of `family`: `None` when it does not exist. With `chains`,
    /// only those chains' rules are read (the chain list and the sets are read whole).
    pub fn read_table(
        &mut self,
        family: u8,
        name: &str,
        chains: Option<&[String]>,
    ) -> Result<Option<NftTable>, NfnlError> {
        let table_attr = nla_str(NFTA_TABLE_NAME, name);
        match self.request(NFT_MSG_GETTABLE, family, &table_attr, false, "table") {
            Ok(_) => {}
            Err(NfnlError::Kernel { errno, .. }) if errno == libc::ENOENT => return Ok(None),
            Err(e) => return Err(e),
        }
        let generation = self.generation()?;
        let mut t = NftTable {
            generation,
            ..NftTable::default()
        };
        for p in self.request(NFT_MSG_GETCHAIN, family, &[], true, "chains")? {
            let (mut table, mut chain) = (None, None);
            for (k, v) in wire::attrs(body(&p)) {
                match k {
                    NFTA_CHAIN_TABLE => table = Some(as_string(v)),
                    NFTA_CHAIN_NAME => chain = Some(as_string(v)),
                    _ => {}
                }
            }
            if let (Some(tb), Some(c)) = (table, chain) {
                if tb == name {
                    t.chains.push(c);
                }
            }
        }
        t.sets = self.sets(family, name)?;
        match chains {
            None => self.rules(family, name, None, &mut t.rules)?,
            Some(list) => {
                for c in list {
                    self.rules(family, name, Some(c), &mut t.rules)?;
                }
            }
        }
        Ok(Some(t))
    }

    /// The named sets and maps of `table` with their elements (an anonymous set's
    /// elements are left out: it belongs to the rule that uses it).
    pub fn sets(&mut self, family: u8, table: &str) -> Result<Vec<NftSet>, NfnlError> {
        let set_filter = nla_str(NFTA_SET_TABLE, table);
        let mut found = Vec::new();
        for p in self.request(NFT_MSG_GETSET, family, &set_filter, true, "sets")? {
            let (mut set, mut flags) = (None, 0);
            for (k, v) in wire::attrs(body(&p)) {
                match k {
                    NFTA_SET_NAME => set = Some(as_string(v)),
                    NFTA_SET_FLAGS => flags = be32(v).unwrap_or(0),
                    _ => {}
                }
            }
            if let Some(s) = set {
                found.push((s, flags));
            }
        }
        let mut out = Vec::new();
        for (set, flags) in found {
            let elements = if flags & SET_ANONYMOUS != 0 {
                Vec::new()
            } else {
                self.elements(family, table, &set)?
            };
            out.push(NftSet {
                name: set,
                flags,
                elements,
            });
        }
        Ok(out)
    }

    /// The rules of `chains` of `table`, in chain order (a chain that does not exist
    /// has none).
    pub fn rules_of(
        &mut self,
        family: u8,
        table: &str,
        chains: &[String],
    ) -> Result<Vec<NftRule>, NfnlError> {
        let mut out = Vec::new();
        for c in chains {
            self.rules(family, table, Some(c), &mut out)?;
        }
        Ok(out)
    }

    /// The rules of `table` (or of one chain of it), appended to `out` in chain order.
    fn rules(
        &mut self,
        family: u8,
        table: &str,
        chain: Option<&str>,
        out: &mut Vec<NftRule>,
    ) -> Result<(), NfnlError> {
        let mut filter = nla_str(NFTA_RULE_TABLE, table);
        if let Some(c) = chain {
            filter.extend(nla_str(NFTA_RULE_CHAIN, c));
        }
        let replies = match self.request(NFT_MSG_GETRULE, family, &filter, true, "rules") {
            // A chain that is gone has no rules.
            Err(NfnlError::Kernel { errno, .. }) if errno == libc::ENOENT && chain.is_some() => {
                return Ok(())
            }
            r => r?,
        };
        out.extend(replies.iter().map(|p| rule_of(p)));
        Ok(())
    }

    fn elements(&mut self, family: u8, table: &str, set: &str) -> Result<Vec<NftElem>, NfnlError> {
        let mut filter = nla_str(NFTA_SET_ELEM_LIST_TABLE, table);
        filter.extend(nla_str(NFTA_SET_ELEM_LIST_SET, set));
        let mut out = Vec::new();
        for p in self.request(NFT_MSG_GETSETELEM, family, &filter, true, "set elements")? {
            for (k, list) in wire::attrs(body(&p)) {
                if k != NFTA_SET_ELEM_LIST_ELEMENTS {
                    continue;
                }
                for (_, e) in wire::attrs(list).filter(|(k, _)| *k == NFTA_LIST_ELEM) {
                    out.push(element(e));
                }
            }
        }
        Ok(out)
    }

    /// Sends one request and reads its replies' payloads (nfgenmsg included); a dump is
    /// repeated when the kernel marks it interrupted.
    fn request(
        &mut self,
        msg: u16,
        family: u8,
        attrs: &[u8],
        dump: bool,
        what: &'static str,
    ) -> Result<Vec<Vec<u8>>, NfnlError> {
        for _ in 0..DUMP_ATTEMPTS {
            self.seq = self.seq.wrapping_add(1);
            let seq = self.seq;
            let flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
            let len = NLMSG_HDR_LEN + 4 + attrs.len();
            let mut buf = Vec::with_capacity(len);
            buf.extend_from_slice(&(len as u32).to_ne_bytes());
            buf.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | msg).to_ne_bytes());
            buf.extend_from_slice(&flags.to_ne_bytes());
            buf.extend_from_slice(&seq.to_ne_bytes());
            buf.extend_from_slice(&0u32.to_ne_bytes());
            buf.extend_from_slice(&[family, 0, 0, 0]);
            buf.extend_from_slice(attrs);
            self.sock.send(&buf, 0)?;
            let (replies, interrupted) = self.read_replies(seq, dump, what)?;
            if !interrupted {
                return Ok(replies);
            }
        }
        Err(NfnlError::Interrupted {
            what,
            attempts: DUMP_ATTEMPTS,
        })
    }

    fn read_replies(
        &mut self,
        seq: u32,
        dump: bool,
        what: &'static str,
    ) -> Result<(Vec<Vec<u8>>, bool), NfnlError> {
        let mut replies = Vec::new();
        let mut interrupted = false;
        let mut error = None;
        loop {
            let n = loop {
                match self.sock.recv(&mut &mut self.rbuf[..], 0) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            let mut done = false;
            for m in wire::messages(&self.rbuf[..n]) {
                let m = m.map_err(NfnlError::Decode)?;
                if m.seq != seq || m.port != self.port {
                    continue;
                }
                interrupted |= m.flags & NLM_F_DUMP_INTR != 0;
                match m.kind {
                    NLMSG_DONE => done = true,
                    NLMSG_ERROR => {
                        let errno = wire::i32_at(m.payload, 0).unwrap_or(0);
                        if errno != 0 {
                            error.get_or_insert(-errno);
                        }
                        // The ACK of a plain request, or a dump that never started.
                        if !dump || errno != 0 {
                            done = true;
                        }
                    }
                    _ => replies.push(m.payload.to_vec()),
                }
            }
            if done {
                break;
            }
        }
        if let Some(errno) = error {
            return Err(NfnlError::Kernel {
                what,
                errno,
                errno_text: nix::errno::Errno::from_raw(errno).desc().to_string(),
            });
        }
        Ok((replies, interrupted))
    }
}

/// A rule message's payload (a dump's reply, or the echo of one we wrote).
pub(super) fn rule_of(p: &[u8]) -> NftRule {
    let mut rule = NftRule {
        chain: String::new(),
        handle: 0,
        canon: Vec::new(),
        comment: None,
    };
    for (k, v) in wire::attrs(body(p)) {
        match k {
            NFTA_RULE_CHAIN => rule.chain = as_string(v),
            NFTA_RULE_HANDLE => rule.handle = be64(v).unwrap_or(0),
            NFTA_RULE_EXPRESSIONS => rule.canon = canonical_expressions(v),
            NFTA_RULE_USERDATA => rule.comment = comment(v),
            _ => {}
        }
    }
    rule
}

/// The attributes of a reply (after its nfgenmsg).
fn body(payload: &[u8]) -> &[u8] {
    payload.get(4..).unwrap_or_default()
}

fn nla_str(kind: u16, s: &str) -> Vec<u8> {
    let len = 4 + s.len() + 1;
    let mut out = Vec::with_capacity(align4(len));
    out.extend_from_slice(&(len as u16).to_ne_bytes());
    out.extend_from_slice(&kind.to_ne_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
    out.resize(align4(len), 0);
    out
}

fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

fn be64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

/// The expression list with every `counter`'s data left out (its name kept), as bytes:
/// (name, data) of each expression, length-prefixed.
fn canonical_expressions(list: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(list.len());
    for (_, expr) in wire::attrs(list).filter(|(k, _)| *k == NFTA_LIST_ELEM) {
        let name = wire::attrs(expr)
            .find(|(k, _)| *k == NFTA_EXPR_NAME)
            .map(|(_, v)| as_string(v))
            .unwrap_or_default();
        let kept: &[u8] = if name == "counter" { &[] } else { expr };
        out.extend_from_slice(&(name.len() as u32).to_ne_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&(kept.len() as u32).to_ne_bytes());
        out.extend_from_slice(kept);
    }
    out
}

/// The comment among a rule's userdata TLVs (type u8, length u8, value).
fn comment(udata: &[u8]) -> Option<String> {
    let mut rest = udata;
    while rest.len() >= 2 {
        let (kind, len) = (rest[0], usize::from(rest[1]));
        let value = rest.get(2..2 + len)?;
        if kind == UDATA_RULE_COMMENT {
            return Some(as_string(value));
        }
        rest = &rest[2 + len..];
    }
    None
}

fn data_value(nested: &[u8]) -> Vec<u8> {
    wire::attrs(nested)
        .find(|(k, _)| *k == NFTA_DATA_VALUE)
        .map(|(_, v)| v.to_vec())
        .unwrap_or_default()
}

fn element(e: &[u8]) -> NftElem {
    let mut el = NftElem {
        key: Vec::new(),
        key_end: None,
        flags: 0,
        target: None,
    };
    for (k, v) in wire::attrs(e) {
        match k {
            NFTA_SET_ELEM_KEY => el.key = data_value(v),
            NFTA_SET_ELEM_KEY_END => el.key_end = Some(data_value(v)),
            NFTA_SET_ELEM_FLAGS => el.flags = be32(v).unwrap_or(0),
            NFTA_SET_ELEM_DATA => {
                el.target = wire::attrs(v)
                    .filter(|(k, _)| *k == NFTA_DATA_VERDICT)
                    .flat_map(|(_, verdict)| wire::attrs(verdict))
                    .find(|(k, _)| *k == NFTA_VERDICT_CHAIN)
                    .map(|(_, c)| as_string(c));
            }
            _ => {}
        }
    }
    el
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::linux::wire::nla;

    fn expr(name: &str, data: &[u8]) -> Vec<u8> {
        let mut e = nla(NFTA_EXPR_NAME, format!("{name}\0").as_bytes());
        e.extend(nla(2, data));
        nla(NFTA_LIST_ELEM, &e)
    }

    #[test]
    fn counters_values_do_not_change_the_canonical_form() {
        let cmp = expr("cmp", &nla(1, &[0, 0, 0, 1]));
        let a = [cmp.clone(), expr("counter", &nla(1, &5u64.to_be_bytes()))].concat();
        let b = [cmp.clone(), expr("counter", &nla(1, &9u64.to_be_bytes()))].concat();
        let c = [expr("cmp", &nla(1, &[0, 0, 0, 2])), expr("counter", &[])].concat();
        assert_eq!(canonical_expressions(&a), canonical_expressions(&b));
        assert_ne!(canonical_expressions(&a), canonical_expressions(&c));
    }

    #[test]
    fn the_comment_is_found_among_the_userdata() {
        let mut u = vec![7, 2, 1, 2];
        u.extend([UDATA_RULE_COMMENT, 6]);
        u.extend(b"net a\0");
        assert_eq!(comment(&u).as_deref(), Some("net a"));
        assert_eq!(comment(&[7, 9, 1]), None);
    }

    #[test]
    fn a_map_element_gives_its_key_and_target() {
        let verdict = nla(
            NFTA_DATA_VERDICT,
            &[
                nla(NFTA_VERDICT_CODE, &(-3i32).to_be_bytes()),
                nla(NFTA_VERDICT_CHAIN, b"n-a-fwd\0"),
            ]
            .concat(),
        );
        let e = [
            nla(NFTA_SET_ELEM_KEY, &nla(NFTA_DATA_VALUE, b"br0\0")),
            nla(NFTA_SET_ELEM_DATA, &verdict),
            nla(NFTA_SET_ELEM_FLAGS, &1u32.to_be_bytes()),
        ]
        .concat();
        let el = element(&e);
        assert_eq!(el.key, b"br0\0");
        assert_eq!(el.target.as_deref(), Some("n-a-fwd"));
        assert_eq!(el.flags, ELEM_INTERVAL_END);
    }
}
