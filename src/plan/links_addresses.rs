//! The addresses of links: what the file gives goes on, what it no longer gives comes
//! off, in an order that keeps the kernel from flushing routes on the way. Split out of
//! `links.rs` (issue 15: files under 600 lines).

use std::collections::BTreeSet;

use super::super::{Phase, Plan};
use crate::expand::Intent;
use crate::model::IfaceState;
use crate::netdev::{Address, KernelState, Op};

pub(in crate::plan) fn plan_addresses(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    let mut removals: BTreeSet<&Address> = BTreeSet::new();
    // Per-link lookups through an index: scanning every address for every link is
    // quadratic at a thousand networks.
    let mut by_link: std::collections::HashMap<&str, Vec<&Address>> =
        std::collections::HashMap::new();
    for a in &current.addresses {
        by_link.entry(a.ifname.as_str()).or_default().push(a);
    }
    let mut adds: Vec<Address> = Vec::new();
    for (name, li) in &intent.links {
        if li.state == IfaceState::Absent {
            continue;
        }
        for (want, v4) in [(&li.ipv4, true), (&li.ipv6, false)] {
            let Some(want) = want else { continue };
            let have: Vec<&Address> = by_link
                .get(name.as_str())
                .into_iter()
                .flatten()
                .copied()
                .filter(|a| a.addr.addr().is_ipv4() == v4)
                .collect();
            // An exact list is exact about permanent addresses: a dynamic one (SLAAC, a
            // DHCP client's) is its maker's, which would only add it again.
            for a in have.iter().filter(|a| !a.dynamic) {
                if !want.contains(&a.addr) {
                    removals.insert(a);
                }
            }
            for w in want {
                if !have.iter().any(|a| a.addr == *w) {
                    adds.push(Address::new(name.clone(), *w));
                }
            }
        }
    }
    // A removed network's address that a link wants (a network taking over its NIC has
    // it too) stays.
    let wanted = |r: &Address| {
        intent.links.get(&r.ifname).is_some_and(|li| {
            let list = if r.addr.addr().is_ipv4() {
                &li.ipv4
            } else {
                &li.ipv6
            };
            list.as_ref().is_some_and(|l| l.contains(&r.addr))
        })
    };
    for r in intent.address_removals.iter().filter(|r| !wanted(r)) {
        if let Some(a) = current
            .addresses
            .iter()
            .find(|a| !a.dynamic && a.same_key(r))
        {
            removals.insert(a);
        }
    }
    // Removing an IPv4 subnet's primary address takes its secondaries with it (unless
    // promote_secondaries is set), so the addresses kept in that subnet are put back;
    // a dynamic one is not (added back it would be permanent, and hostnet's): its client
    // adds it again at its next renewal.
    let mut readd: BTreeSet<&Address> = BTreeSet::new();
    for r in removals.iter().filter(|r| r.addr.addr().is_ipv4()) {
        for k in by_link
            .get(r.ifname.as_str())
            .into_iter()
            .flatten()
            .copied()
            .filter(|k| {
                !k.dynamic
                    && !removals.contains(k)
                    && k.addr.prefix_len() == r.addr.prefix_len()
                    && r.addr.contains(&k.addr.addr())
            })
        {
            readd.insert(k);
        }
    }
    for a in removals.iter().chain(readd.iter()) {
        plan.push(Phase::DeleteAddresses, Op::DeleteAddress((*a).clone()));
    }
    for a in adds {
        let phase = if adds_first(current, &removals, &readd, &a) {
            Phase::AddAddressesFirst
        } else {
            Phase::AddAddresses
        };
        plan.push(phase, Op::AddAddress(a));
    }
    for a in readd {
        plan.push(Phase::AddAddresses, Op::AddAddress(a.clone()));
    }
}

/// Whether new address `a` can go on its device before the addresses the plan removes:
/// the device exists, and the removals cannot take `a` with them. An IPv4 address in
/// the subnet of one that goes would be that subnet's secondary and go with its primary;
/// an address whose IP goes with another prefix length would collide with it (IPv6) or
/// change what the kernel keeps (IPv4). Adding first keeps an address on the device, so
/// the kernel does not flush its routes while the plan swaps them (see
/// [`crate::netdev::model::delete_address`]).
fn adds_first(
    current: &KernelState,
    removals: &BTreeSet<&Address>,
    readd: &BTreeSet<&Address>,
    a: &Address,
) -> bool {
    if !current.links.contains_key(&a.ifname) {
        return false;
    }
    let v4 = a.addr.addr().is_ipv4();
    !removals.iter().chain(readd.iter()).any(|r| {
        r.ifname == a.ifname
            && (r.addr.addr() == a.addr.addr()
                || (v4
                    && r.addr.addr().is_ipv4()
                    && r.addr.prefix_len() == a.addr.prefix_len()
                    && r.addr.contains(&a.addr.addr())))
    })
}
