//! The contract both firewall backends implement, and the factory that picks one by
//! `firewall.backend`. Everything outside the backends' own modules (planning, the
//! engine's ops, the model driver) goes through this trait.

use std::collections::BTreeSet;

use super::run;
use crate::firewall::NetFwState;
use crate::firewall::{iptables, nft, BackendKind, BackendState, FirewallError, FwOp, NetFirewall};

/// One way of holding the networks' rules in the kernel.
pub trait FirewallBackend: Sync {
    fn kind(&self) -> BackendKind;
    /// Reads what of ours this backend holds (and nothing else), damage marked. With
    /// `focus`, a backend may leave the rules of other networks unread
    /// ([`crate::firewall::NetFwState::unread`]).
    fn query(&self, focus: Option<&BTreeSet<String>>) -> Result<BackendState, FirewallError>;
    /// The skeleton items a complete backend has.
    fn expected_base(&self) -> BTreeSet<String>;
    /// The state a network has right after its chains were written from `spec`.
    fn expected(&self, name: &str, spec: &NetFirewall) -> NetFwState;
    /// Carries out `ops` (all of this backend) as the backend's transactions.
    fn apply(&self, ops: &[&FwOp]) -> Result<(), FirewallError>;
    /// Whether repairing a damaged skeleton re-creates it whole, with every network in
    /// it (nftables: one table), rather than completing it in place (iptables).
    fn repair_recreates_networks(&self) -> bool;
}

struct Nftables;
struct Iptables;

impl FirewallBackend for Nftables {
    fn kind(&self) -> BackendKind {
        BackendKind::Nftables
    }
    /// Our table (and nothing else), through nfnetlink: the reading lives with the other
    /// effects in `netdev/linux` (LAYERING.md), until this backend moves there too.
    fn query(&self, focus: Option<&BTreeSet<String>>) -> Result<BackendState, FirewallError> {
        crate::netdev::linux::nft_read::query(focus)
    }
    fn expected_base(&self) -> BTreeSet<String> {
        nft::expected_base()
    }
    fn expected(&self, name: &str, spec: &NetFirewall) -> NetFwState {
        nft::expected(name, spec)
    }
    /// Through nfnetlink when it can (see `netdev/linux/nft_write.rs`), else `nft -f`;
    /// `HOSTNET_NFT_WRITE=nft` always takes `nft -f`.
    fn apply(&self, ops: &[&FwOp]) -> Result<(), FirewallError> {
        use crate::netdev::linux::{nft_read, nft_write};
        let before = nft_read::generation();
        let (written, gone) = nft::written_chains(ops);
        let networks = nft::networks_changed(ops);
        let by_process = std::env::var("HOSTNET_NFT_WRITE").as_deref() == Ok("nft");
        if !by_process {
            match nft_write::write(ops) {
                Ok(Some(echo)) => {
                    let chains = (&written, &gone);
                    nft_read::record_written(before, chains, &networks, Some(&echo));
                    return Ok(());
                }
                Ok(None) => {}
                Err(e) => return Err(nft_write::firewall_error(e)),
            }
        }
        run::with_input("nft", &["-f", "-"], &nft::render(ops))?;
        nft_read::record_written(before, (&written, &gone), &networks, None);
        Ok(())
    }
    fn repair_recreates_networks(&self) -> bool {
        true
    }
}

impl FirewallBackend for Iptables {
    fn kind(&self) -> BackendKind {
        BackendKind::Iptables
    }
    /// Whole: `iptables-save` prints every chain anyway. Without a `filter` or `nat`
    /// table there is nothing to print: no process runs.
    fn query(&self, _focus: Option<&BTreeSet<String>>) -> Result<BackendState, FirewallError> {
        if !crate::netdev::linux::nft_read::iptables_tables_exist() {
            return Ok(BackendState::default());
        }
        iptables::query(|save| run::output(save, &[]))
    }
    fn expected_base(&self) -> BTreeSet<String> {
        iptables::expected_base()
    }
    fn expected(&self, name: &str, spec: &NetFirewall) -> NetFwState {
        iptables::expected(name, spec)
    }
    fn apply(&self, ops: &[&FwOp]) -> Result<(), FirewallError> {
        iptables::apply(ops, run::with_input)
    }
    fn repair_recreates_networks(&self) -> bool {
        false
    }
}

/// The backend `firewall.backend` names.
pub fn backend(kind: BackendKind) -> &'static dyn FirewallBackend {
    match kind {
        BackendKind::Nftables => &Nftables,
        BackendKind::Iptables => &Iptables,
    }
}

/// Every backend, in a fixed order (state, plans and queries cover both: a backend
/// switch removes a network from the one it leaves).
pub fn all() -> [&'static dyn FirewallBackend; 2] {
    [&Nftables, &Iptables]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_factory_gives_the_backend_named() {
        for k in [BackendKind::Nftables, BackendKind::Iptables] {
            assert_eq!(backend(k).kind(), k);
        }
        assert!(backend(BackendKind::Nftables).repair_recreates_networks());
        assert_eq!(
            all().map(|b| b.kind()),
            [BackendKind::Nftables, BackendKind::Iptables]
        );
    }
}
