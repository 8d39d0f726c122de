//! One NETLINK_NETFILTER socket kept per thread (and namespace) for the life of the
//! thread, shared by the firewall's query, its transaction and its verification.
//!
//! Why not one socket per request: closing a bound nfnetlink socket sends
//! `NETLINK_URELEASE`, and nf_tables' handler of it (`nft_rcv_nl_event`) takes the commit
//! mutex and, while the destroy list of the last transaction is not empty, flushes the
//! destroy work, which waits for a whole RCU grace period after the commit (~15 ms here).
//! A socket closed right after our transaction therefore blocked for that grace period;
//! a kept one lets the grace period run while the verification and the records are done,
//! and what is left of it is paid once, when the thread's socket closes at exit.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};
use std::os::unix::fs::MetadataExt;

use super::{Nfnl, NfnlError};
use crate::netdev::netns_id::SELF_NS;

/// `(device, inode)` of the calling thread's namespace file. A socket holds a reference
/// to its namespace, so the inode cannot be reused while the kept socket lives.
type NsId = (u64, u64);

thread_local! {
    static KEPT: RefCell<Option<(NsId, Nfnl)>> = const { RefCell::new(None) };
}

fn namespace() -> Result<NsId, NfnlError> {
    let m = std::fs::metadata(SELF_NS)?;
    Ok((m.dev(), m.ino()))
}

/// The thread's socket for its current namespace, handed back to the thread when
/// dropped. A request left half read on it does no harm: every reader skips replies
/// that are not to its own sequence number.
pub struct Kept {
    ns: NsId,
    nl: Option<Nfnl>,
}

impl Nfnl {
    /// The socket kept for the calling thread's namespace (opened on first use; a socket
    /// of the namespace the thread was in before is closed).
    pub fn kept() -> Result<Kept, NfnlError> {
        let ns = namespace()?;
        let found = KEPT.with(|k| match k.borrow_mut().take() {
            Some((id, nl)) if id == ns => Some(nl),
            // Another namespace's: it is closed here, outside any transaction of ours.
            _ => None,
        });
        let nl = match found {
            Some(nl) => nl,
            None => Nfnl::open()?,
        };
        Ok(Kept { ns, nl: Some(nl) })
    }
}

impl Deref for Kept {
    type Target = Nfnl;
    fn deref(&self) -> &Nfnl {
        // Present until drop.
        self.nl.as_ref().unwrap_or_else(|| unreachable!())
    }
}

impl DerefMut for Kept {
    fn deref_mut(&mut self) -> &mut Nfnl {
        self.nl.as_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        let Some(nl) = self.nl.take() else { return };
        // A second socket taken while this one was out is the one kept: this one closes.
        let _ = KEPT.try_with(|k| {
            let mut slot = k.borrow_mut();
            if slot.is_none() {
                *slot = Some((self.ns, nl));
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_is_kept_between_uses() {
        let Ok(first) = Nfnl::kept() else {
            eprintln!("SKIP: no nfnetlink socket");
            return;
        };
        let port = first.port;
        drop(first);
        let again = Nfnl::kept().expect("kept socket");
        assert_eq!(again.port, port);
        // Taken twice at once: the second is a socket of its own.
        let other = Nfnl::kept().expect("second socket");
        assert_ne!(other.port, port);
    }
}
