//! The firewall's effects: running nft and iptables, reading and writing the forwarding
//! sysctls, forgetting conntrack entries. What the rules are, how they are rendered and
//! parsed, and how a plan changes them are pure and live in [`crate::firewall`] and
//! [`crate::plan::firewall`].

pub mod backend;
pub(crate) mod run;
pub mod sysctl;

use std::collections::{BTreeMap, BTreeSet};

use crate::firewall::sysctl as keys;
use crate::firewall::{FirewallError, FirewallState, Focus, FwOp};

/// The firewall's effects as a driver carries them out: reading the state and one
/// phase's ops. [`Kernel`] runs the tools on the calling thread's namespace; the model
/// driver's implementation (`netdev/model_firewall.rs`) changes a state in memory as the
/// kernel would. Another platform's driver brings its own (docs/PORTING.md, section 5).
pub trait FirewallDriver {
    /// The state, reading only what a plan for `focus` can touch (all of it when `None`).
    fn query(&mut self, focus: Option<&Focus>) -> Result<FirewallState, FirewallError>;
    /// Carries out `ops`: they succeed or fail together.
    fn execute(&mut self, ops: &[&FwOp]) -> Result<(), FirewallError>;
}

/// The calling thread's network namespace: nft, iptables, `/proc/sys`, conntrack.
pub struct Kernel;

impl FirewallDriver for Kernel {
    fn query(&mut self, focus: Option<&Focus>) -> Result<FirewallState, FirewallError> {
        query_for(focus)
    }
    fn execute(&mut self, ops: &[&FwOp]) -> Result<(), FirewallError> {
        execute(ops)
    }
}

/// Reads the firewall state of the calling thread's network namespace: our nft table,
/// our iptables chains, the forwarding sysctls. A tool that is not installed holds
/// nothing of ours.
pub fn query() -> Result<FirewallState, FirewallError> {
    query_for(None)
}

/// [`query`], reading only what a plan for `focus` can touch (everything when `None`):
/// the sysctls it needs (see [`sysctl::read_for`]), and the rules of the networks it
/// names (the others are marked [`crate::firewall::NetFwState::unread`]).
pub fn query_for(focus: Option<&Focus>) -> Result<FirewallState, FirewallError> {
    let mut state = FirewallState {
        sysctls: sysctl::read_for(focus.map(|f| &f.sysctls)),
        read: true,
        ..FirewallState::default()
    };
    for be in backend::all() {
        *state.backend_mut(be.kind()) = be.query(focus.map(|f| &f.networks))?;
    }
    Ok(state)
}

/// Carries out firewall ops: one transaction per backend (nft), one restore per family
/// (iptables), then the sysctls, then conntrack cleanup for floating IPs that went away.
pub fn execute(ops: &[&FwOp]) -> Result<(), FirewallError> {
    // Backends in the order their ops come: a network moving backends is added to the
    // new one before it leaves the old one.
    let mut order: Vec<&dyn backend::FirewallBackend> = Vec::new();
    for op in ops {
        if let FwOp::Base { backend, .. } | FwOp::Network { backend, .. } = op {
            if !order.iter().any(|be| be.kind() == *backend) {
                order.push(backend::backend(*backend));
            }
        }
    }
    for be in order {
        let b = be.kind();
        let mine: Vec<&FwOp> = ops
            .iter()
            .copied()
            .filter(|op| match op {
                FwOp::Base { backend, .. } | FwOp::Network { backend, .. } => *backend == b,
                FwOp::Sysctl { .. } | FwOp::ForgetFlows { .. } => false,
            })
            .collect();
        if mine.is_empty() {
            continue;
        }
        be.apply(&mine)?;
    }
    for op in ops {
        if let FwOp::Sysctl { key, from, to } = op {
            // A switch someone else changed since we read it is theirs now (a rollback
            // must not turn off forwarding another service switched on meanwhile). The
            // kernel's side effects are written regardless: they follow the switch.
            let theirs = !keys::is_side_effect(key)
                && from
                    .as_ref()
                    .is_some_and(|f| sysctl::read(key).is_some_and(|now| now != *f));
            if !theirs {
                match sysctl::write(key, to) {
                    // An interface's switch is planned from the state read before the
                    // apply; an interface the apply deleted meanwhile has nothing to set
                    // (and a rollback that re-creates it restores its defaults).
                    Err(FirewallError::Sysctl { source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound
                            && keys::interface_of(key).is_some() => {}
                    r => r?,
                }
            }
        }
    }
    for op in ops {
        if let FwOp::ForgetFlows { external } = op {
            run::forget_conntrack(*external);
        }
    }
    Ok(())
}

/// Before a checkpoint's rollback: a switch whose value is no longer the one the apply
/// set was changed by someone else since, and is theirs: the rollback keeps it (and the
/// kernel's side effects of a forwarding switch that stays).
pub fn keep_changed_switches(target: &mut FirewallState, set: &BTreeMap<String, String>) {
    for (key, ours) in set {
        let Some(now) = sysctl::read(key) else {
            continue;
        };
        if now != *ours {
            if matches!(
                key.as_str(),
                crate::firewall::IPV4_FORWARD | crate::firewall::IPV6_FORWARD
            ) {
                let effects: BTreeSet<String> = keys::side_effects(key, ours, &target.sysctls)
                    .into_iter()
                    .map(|(k, _)| k)
                    .collect();
                target.sysctls.retain(|k, _| !effects.contains(k));
            }
            target.sysctls.insert(key.clone(), now);
        }
    }
}
