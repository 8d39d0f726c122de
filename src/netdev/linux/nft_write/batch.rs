//! One nf_tables transaction over nfnetlink: a batch of messages the kernel applies
//! together or not at all. Every message asks for its acknowledgement, and each rule
//! for its echo (the rule as the kernel holds it, handle included): the caller learns
//! what it wrote without reading it back.
//!
//! The kernel handles a batch inside `sendmsg`: when it returns, every acknowledgement,
//! error and echo is queued on the socket, so they are drained without waiting.

use std::io;

use nix::sys::socket::{setsockopt, sockopt};

use super::super::nfnl::{rule_of, Nfnl, NftRule, NFNL_SUBSYS_NFTABLES};
use super::super::wire::{self, NLMSG_HDR_LEN};

const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;
pub(in crate::netdev::linux) const NFT_MSG_NEWCHAIN: u16 = 3;
pub(in crate::netdev::linux) const NFT_MSG_DELCHAIN: u16 = 5;
pub(in crate::netdev::linux) const NFT_MSG_NEWRULE: u16 = 6;
pub(in crate::netdev::linux) const NFT_MSG_DELRULE: u16 = 8;
pub(in crate::netdev::linux) const NFT_MSG_NEWSET: u16 = 9;
pub(in crate::netdev::linux) const NFT_MSG_NEWSETELEM: u16 = 12;
pub(in crate::netdev::linux) const NFT_MSG_DELSETELEM: u16 = 14;

const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
pub(in crate::netdev::linux) const NLM_F_ECHO: u16 = 8;
pub(in crate::netdev::linux) const NLM_F_APPEND: u16 = 0x800;
pub(in crate::netdev::linux) const NLM_F_CREATE: u16 = 0x400;

/// Why a transaction was not committed.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("nfnetlink socket")]
    Io(#[from] io::Error),
    /// The kernel refused one message (and so the whole transaction).
    #[error("{op}: {errno_text}")]
    Refused {
        op: String,
        errno: i32,
        errno_text: String,
    },
    #[error("nfnetlink transaction: {0}")]
    Incomplete(String),
}

/// The messages of one transaction, each with what it does (for errors).
pub struct Batch {
    family: u8,
    msgs: Vec<(u16, u16, Vec<u8>, String)>,
}

/// What a committed transaction wrote: the rules, as the kernel echoed them.
pub struct Committed {
    pub rules: Vec<NftRule>,
}

impl Batch {
    pub fn new(family: u8) -> Self {
        Batch {
            family,
            msgs: Vec::new(),
        }
    }

    /// Adds message `msg` (an `NFT_MSG_*`) with `flags` and attributes; `op` names it in
    /// an error.
    pub fn push(&mut self, msg: u16, flags: u16, attrs: Vec<u8>, op: String) {
        self.msgs.push((msg, flags, attrs, op));
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    fn encode(&self, first_seq: u32) -> Vec<u8> {
        let mut buf = Vec::new();
        let subsys = NFNL_SUBSYS_NFTABLES.to_be_bytes();
        header(
            &mut buf,
            NFNL_MSG_BATCH_BEGIN,
            0,
            first_seq,
            [0, 0, subsys[0], subsys[1]],
            &[],
        );
        for (i, (msg, flags, attrs, _)) in self.msgs.iter().enumerate() {
            let kind = (NFNL_SUBSYS_NFTABLES << 8) | msg;
            let seq = first_seq + 1 + i as u32;
            header(
                &mut buf,
                kind,
                *flags | NLM_F_ACK,
                seq,
                [self.family, 0, 0, 0],
                attrs,
            );
        }
        let end = first_seq + 1 + self.msgs.len() as u32;
        header(
            &mut buf,
            NFNL_MSG_BATCH_END,
            0,
            end,
            [0, 0, subsys[0], subsys[1]],
            &[],
        );
        buf
    }
}

fn header(buf: &mut Vec<u8>, kind: u16, flags: u16, seq: u32, nfgen: [u8; 4], attrs: &[u8]) {
    let len = NLMSG_HDR_LEN + 4 + attrs.len();
    buf.extend_from_slice(&(len as u32).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(&(flags | NLM_F_REQUEST).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(&nfgen);
    buf.extend_from_slice(attrs);
}

impl Nfnl {
    /// Sends `batch` as one transaction; the rules it wrote, as the kernel echoed them.
    pub fn commit(&mut self, batch: &Batch) -> Result<Committed, BatchError> {
        let first = self.seq.wrapping_add(1);
        let n = batch.msgs.len() as u32;
        self.seq = first.wrapping_add(n + 1);
        let buf = batch.encode(first);
        // The whole batch is one datagram: a bigger one than the send buffer (208 KiB by
        // default) is refused.
        if buf.len() > 128 * 1024
            && setsockopt(&self.sock, sockopt::SndBufForce, &(buf.len() * 2)).is_err()
        {
            let _ = setsockopt(&self.sock, sockopt::SndBuf, &(buf.len() * 2));
        }
        self.sock.send(&buf, 0)?;
        let mut acked = 0u32;
        let mut refused: Option<BatchError> = None;
        let mut rules = Vec::new();
        let ours = |seq: u32| seq.wrapping_sub(first) >= 1 && seq.wrapping_sub(first) <= n;
        loop {
            let got = match self.sock.recv(&mut &mut self.rbuf[..], libc::MSG_DONTWAIT) {
                Ok(got) => got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            };
            for m in wire::messages(&self.rbuf[..got]) {
                let m = m.map_err(BatchError::Incomplete)?;
                if m.port != self.port || !ours(m.seq) {
                    continue;
                }
                if m.kind == NLMSG_ERROR {
                    acked += 1;
                    let errno = -wire::i32_at(m.payload, 0).unwrap_or(0);
                    if errno != 0 && refused.is_none() {
                        let i = (m.seq.wrapping_sub(first) - 1) as usize;
                        refused = Some(BatchError::Refused {
                            op: batch.msgs[i].3.clone(),
                            errno,
                            errno_text: nix::errno::Errno::from_raw(errno).desc().to_string(),
                        });
                    }
                } else if m.kind == (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE {
                    rules.push(rule_of(m.payload));
                }
            }
        }
        if let Some(e) = refused {
            return Err(e);
        }
        if acked != n {
            return Err(BatchError::Incomplete(format!(
                "{acked} of {n} messages acknowledged"
            )));
        }
        Ok(Committed { rules })
    }
}
