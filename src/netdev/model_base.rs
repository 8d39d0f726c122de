//! The model's half of the base keys every link has besides its kind: the alias
//! (IFLA_IFALIAS), the user's IFF_PROMISC, and what `disable_ipv6` takes with it; and a
//! bond port's settings in its bond.

use crate::firewall::{sysctl, FwOp};
use crate::netdev::inet6::{Inet6Change, Inet6Link, STABLE_PRIVACY};
use crate::netdev::{BondMode, KernelState, LinkChange, LinkKind, Op};

/// The limit of an alias (IFALIASZ 256 with its NUL): longer is EINVAL.
pub const MAX_ALIAS: usize = 255;

/// Checks `change`'s base keys and bond port settings as the kernel does, before
/// anything of it applies.
pub(super) fn check(
    s: &KernelState,
    name: &str,
    change: &LinkChange,
) -> Result<(), (i32, &'static str)> {
    if change.alias.as_ref().is_some_and(|a| a.len() > MAX_ALIAS) {
        return Err((libc::EINVAL, "alias longer than 255 bytes"));
    }
    if let Some(i) = &change.inet6 {
        check_inet6(s, name, i)?;
    }
    if let Some(LinkKind::Bond(b)) = &change.settings {
        if b.primary.is_some() && !b.has_primary() {
            return Err((libc::EACCES, "option primary: mode dependency failed"));
        }
        // Sent in place only in balance-rr; another mode with it set is what the
        // kernel would refuse.
        if b.packets_per_slave != 1 && b.mode != BondMode::BalanceRr {
            return Err((
                libc::EACCES,
                "option packets_per_slave: mode dependency failed",
            ));
        }
        if b.arp_interval != 0 && !b.has_arp_monitor() {
            return Err((libc::EACCES, "option arp_interval: mode dependency failed"));
        }
        if b.miimon != 0 && (b.arp_interval != 0 || b.arp_validate != 0) {
            return Err((
                libc::EINVAL,
                "ARP monitoring cannot be used with MII monitoring",
            ));
        }
    }
    let Some(p) = &change.bond_port else {
        return Ok(());
    };
    let bond = s
        .links
        .get(name)
        .and_then(|l| l.controller.as_ref())
        .and_then(|c| s.links.get(c))
        .and_then(|b| match &b.kind {
            LinkKind::Bond(o) => Some(o.mode),
            _ => None,
        });
    let Some(mode) = bond else {
        return Err((libc::EOPNOTSUPP, "not a bond port"));
    };
    let primary = matches!(
        mode,
        BondMode::ActiveBackup | BondMode::BalanceTlb | BondMode::BalanceAlb
    );
    if p.prio.is_some() && !primary {
        return Err((libc::EACCES, "option prio: mode dependency failed"));
    }
    Ok(())
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
    if let (Some(p), Some(o)) = (&change.bond_port, s.bond_ports.get_mut(name)) {
        p.apply_to(o);
    }
    if let Some(i) = &change.inet6 {
        i.apply_to(
            s.inet6
                .entry(name.to_string())
                .or_insert_with(|| Inet6Link {
                    token_settable: true,
                    ..Inet6Link::default()
                }),
        );
    }
}

/// The kernel's refusals of an address generation mode or token (inet6_set_link_af). A
/// link the model knows no IPv6 state of (made by this apply) takes them, as a new
/// device with the default sysctls does.
fn check_inet6(s: &KernelState, name: &str, i: &Inet6Change) -> Result<(), (i32, &'static str)> {
    let have = s.inet6.get(name);
    if i.token.is_some() && have.is_some_and(|h| !h.token_settable) {
        return Err((
            libc::EINVAL,
            "token: router advertisements or solicitations are off on the device",
        ));
    }
    if i.addr_gen_mode == Some(STABLE_PRIVACY) && !s.stable_secret {
        return Err((libc::EINVAL, "stable-privacy without a stable_secret"));
    }
    Ok(())
}

/// A bond whose primary port left it (or went) reports no primary any more (the kernel
/// keeps the name and makes the port primary again if it comes back: not modelled).
fn forget_gone_primary(s: &mut KernelState, op: &Op) {
    let left = match op {
        Op::DeleteLink { name } => name,
        Op::ChangeLink { name, change } if change.controller.is_some() => name,
        _ => return,
    };
    let still_port = |s: &KernelState, bond: &str| {
        s.links
            .get(left.as_str())
            .is_some_and(|l| l.controller.as_deref() == Some(bond))
    };
    let bonds: Vec<String> = s
        .links
        .values()
        .filter(|l| matches!(&l.kind, LinkKind::Bond(b) if b.primary.as_ref() == Some(left)))
        .map(|l| l.name.clone())
        .filter(|b| !still_port(s, b))
        .collect();
    for b in bonds {
        if let Some(LinkKind::Bond(o)) = s.links.get_mut(&b).map(|l| &mut l.kind) {
            o.primary = None;
        }
    }
}

/// Keeps `s.bond_ports` in step with the links' controllers: a link that joined a bond
/// has the defaults, one that left has none.
fn sync_bond_ports(s: &mut KernelState) {
    let in_bond: Vec<String> = s
        .links
        .values()
        .filter(|l| {
            l.controller
                .as_ref()
                .and_then(|c| s.links.get(c))
                .is_some_and(|b| matches!(b.kind, LinkKind::Bond(_)))
        })
        .map(|l| l.name.clone())
        .collect();
    s.bond_ports.retain(|n, _| in_bond.contains(n));
    for n in in_bond {
        s.bond_ports.entry(n).or_default();
    }
}

/// The links `l` creates: it, and a veth's peer.
pub(super) fn created(l: &crate::netdev::NewLink) -> impl Iterator<Item = &str> {
    let peer = match &l.kind {
        LinkKind::Veth { peer: Some(p) } => Some(p.as_str()),
        _ => None,
    };
    std::iter::once(l.name.as_str()).chain(peer)
}

/// After a run of deletions of `names` (see `model_batch.rs`): as [`after`] for each.
pub(super) fn after_deletes(s: &mut KernelState, names: &[&String]) {
    sync_bond_ports(s);
    let names: std::collections::BTreeSet<&str> = names.iter().map(|n| n.as_str()).collect();
    // A bond's primary that was deleted (a port still in its bond was not).
    let forget: Vec<String> = s
        .links
        .values()
        .filter(|l| match &l.kind {
            LinkKind::Bond(b) => b.primary.as_deref().is_some_and(|p| {
                let still_port =
                    |x: &crate::netdev::Link| x.controller.as_deref() == Some(l.name.as_str());
                names.contains(p) && s.links.get(p).is_none_or(|x| !still_port(x))
            }),
            _ => false,
        })
        .map(|l| l.name.clone())
        .collect();
    for b in forget {
        if let Some(LinkKind::Bond(o)) = s.links.get_mut(&b).map(|l| &mut l.kind) {
            o.primary = None;
        }
    }
    let links = &s.links;
    s.aliases.retain(|n, _| links.contains_key(n));
    s.promisc.retain(|n| links.contains_key(n));
    s.inet6.retain(|n, _| links.contains_key(n));
}

/// After `op` succeeded: a deleted link's keys go with it, and an interface whose IPv6 is
/// disabled loses its IPv6 addresses and routes (the kernel flushes them).
pub(super) fn after(s: &mut KernelState, op: &Op) {
    let joins_or_leaves = match op {
        // A new link (or its peer) can only join: a pass over every link per creation
        // made a dry run of N networks O(N²).
        Op::CreateLink(l) => {
            for n in created(l) {
                let in_bond = s
                    .links
                    .get(n)
                    .and_then(|l| l.controller.as_ref())
                    .and_then(|c| s.links.get(c))
                    .is_some_and(|b| matches!(b.kind, LinkKind::Bond(_)));
                if in_bond {
                    s.bond_ports.entry(n.to_string()).or_default();
                }
            }
            false
        }
        Op::DeleteLink { .. } => true,
        Op::ChangeLink { change, .. } => change.controller.is_some(),
        _ => false,
    };
    if joins_or_leaves {
        sync_bond_ports(s);
        forget_gone_primary(s, op);
    }
    match op {
        Op::DeleteLink { .. } => {
            let links = &s.links;
            s.aliases.retain(|n, _| links.contains_key(n));
            s.alt_names.retain(|n, _| links.contains_key(n));
            s.promisc.retain(|n| links.contains_key(n));
            s.inet6.retain(|n, _| links.contains_key(n));
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
