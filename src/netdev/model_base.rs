//! The model's half of the base keys every link has besides its kind: the alias
//! (IFLA_IFALIAS), the user's IFF_PROMISC, and what `disable_ipv6` takes with it.

use crate::firewall::{sysctl, FwOp};
use crate::netdev::{KernelState, LinkChange, Op};

/// The limit of an alias (IFALIASZ 256 with its NUL): longer is EINVAL.
pub const MAX_ALIAS: usize = 255;

/// Checks `change`'s base keys as the kernel does, before anything of it applies.
pub(super) fn check(change: &LinkChange) -> Result<(), (i32, &'static str)> {
    match &change.alias {
        Some(a) if a.len() > MAX_ALIAS => Err((libc::EINVAL, "alias longer than 255 bytes")),
        _ => Ok(()),
    }
}

/// Applies `change`'s base keys to link `name` (which exists).
pub(super) fn change(s: &mut KernelState, name: &str, change: &LinkChange) {
    match change.alias.as_deref() {
        Some("") => {
            s.aliases.remove(name);
        }
        Some(a) => {
            s.aliases.insert(name.to_string(), a.to_string());
        }
        None => {}
    }
    match change.promisc {
        Some(true) => {
            s.promisc.insert(name.to_string());
        }
        Some(false) => {
            s.promisc.remove(name);
        }
        None => {}
    }
}

/// After `op` succeeded: a deleted link's keys go with it, and an interface whose IPv6 is
/// disabled loses its IPv6 addresses and routes (the kernel flushes them).
pub(super) fn after(s: &mut KernelState, op: &Op) {
    match op {
        Op::DeleteLink { .. } => {
            let links = &s.links;
            s.aliases.retain(|n, _| links.contains_key(n));
            s.promisc.retain(|n| links.contains_key(n));
        }
        Op::Firewall(fw) => {
            let FwOp::Sysctl { key, to, .. } = &**fw else {
                return;
            };
            let Some(dev) = sysctl::disable_ipv6_of(key) else {
                return;
            };
            if to == "1" {
                s.addresses
                    .retain(|a| !(a.ifname == dev && a.addr.addr().is_ipv6()));
                s.routes
                    .retain(|r| !(r.destination.addr().is_ipv6() && r.devices().any(|d| d == dev)));
            }
        }
        _ => {}
    }
}
