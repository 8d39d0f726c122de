//! Addresses going away in the model as they do in the kernel: an IPv4 primary takes its
//! subnet's secondaries, and the routes the kernel drops or rewrites with them.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::{Address, KernelState, Route};

/// Deletes the addresses `deletes`, in their order, as the kernel does, with every side
/// effect on addresses and routes (the planner predicts with it which routes a plan makes
/// the kernel drop). An IPv4 subnet's primary address takes the subnet's secondaries
/// with it (the kernel's default, without `promote_secondaries`). The primary is the
/// first address of the subnet on its device in the list, which is the kernel's order for
/// addresses added here; a state read from the kernel is sorted, so for those it is a
/// guess. hostnet's plans delete and re-add every address they keep in a subnet they
/// remove an address from, so the guess does not change where a plan ends.
///
/// One pass over the addresses and one over the routes for all of them: deleting the
/// addresses of N networks one by one cost O(N²) (a teardown's plan of 4,000 networks
/// took over a minute).
pub fn delete_addresses<'a>(s: &mut KernelState, deletes: impl IntoIterator<Item = &'a Address>) {
    // Each device's addresses (indexes into `s.addresses`), in the list's order.
    let mut by_dev: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, a) in s.addresses.iter().enumerate() {
        by_dev.entry(a.ifname.as_str()).or_default().push(i);
    }
    let mut removed = vec![false; s.addresses.len()];
    let mut gone: Vec<usize> = Vec::new();
    for a in deletes {
        // The kernel finds the address to delete by device, address and prefix length,
        // whatever its flags.
        let Some(idx) = by_dev.get_mut(a.ifname.as_str()) else {
            continue;
        };
        let Some(pos) = idx.iter().position(|&i| s.addresses[i].same_key(a)) else {
            continue;
        };
        let i = idx.remove(pos);
        removed[i] = true;
        gone.push(i);
        let same_subnet = |x: &Address| {
            x.addr.prefix_len() == a.addr.prefix_len() && a.addr.contains(&x.addr.addr())
        };
        let primary =
            a.addr.addr().is_ipv4() && !idx[..pos].iter().any(|&j| same_subnet(&s.addresses[j]));
        if primary {
            idx.retain(|&j| {
                let secondary = same_subnet(&s.addresses[j]);
                if secondary {
                    removed[j] = true;
                    gone.push(j);
                }
                !secondary
            });
        }
    }
    let gone: Vec<Address> = gone.into_iter().map(|i| s.addresses[i].clone()).collect();
    let mut i = 0;
    s.addresses.retain(|_| {
        i += 1;
        !removed[i - 1]
    });
    addresses_gone(s, &gone, true);
}

/// Deletes address `a` from `s` as the kernel does (see [`delete_addresses`]).
pub fn delete_address(s: &mut KernelState, a: &Address) {
    delete_addresses(s, [a]);
}

/// What the kernel does to routes when addresses go (`explicit`: deleted one by one, not
/// with their device). Measured on Linux 6.1 and 6.18, see `tests/day2.rs`:
///
/// * IPv4: a device left without IPv4 addresses loses every IPv4 route through it, in
///   every table (`fib_disable_ip`); an address that is no longer anywhere in the
///   namespace takes the *main* table's routes that prefer it as source, on any device
///   (`fib_sync_down_addr` looks at the main table only: other tables keep them).
///   Routes through a gateway that only the removed address' subnet reached stay.
/// * IPv6, only when the address itself is deleted: routes that prefer it as source, in
///   every table and on any device, keep their entry without the source. Deleting the
///   device leaves them as they are. Nothing is flushed when the last global address
///   goes (the link-local address remains).
pub(super) fn addresses_gone(s: &mut KernelState, gone: &[Address], explicit: bool) {
    if gone.is_empty() {
        return;
    }
    // Sets built once: a scan of every address and route per gone address made deleting
    // N devices or addresses O(N²).
    let here: HashSet<IpAddr> = s.addresses.iter().map(|x| x.addr.addr()).collect();
    let with_v4: HashSet<&str> = s
        .addresses
        .iter()
        .filter(|x| x.addr.addr().is_ipv4())
        .map(|x| x.ifname.as_str())
        .collect();
    let emptied: HashSet<String> = gone
        .iter()
        .filter(|a| a.addr.addr().is_ipv4() && !with_v4.contains(a.ifname.as_str()))
        .map(|a| a.ifname.clone())
        .collect();
    let lost: HashSet<IpAddr> = gone
        .iter()
        .map(|a| a.addr.addr())
        .filter(|ip| !here.contains(ip))
        .collect();
    let dropped = |r: &Route| {
        let v4_through_emptied =
            r.destination.addr().is_ipv4() && r.devices().any(|d| emptied.contains(d));
        let prefers_lost_v4 = r.table == super::super::TABLE_MAIN
            && r.src.is_some_and(|ip| ip.is_ipv4() && lost.contains(&ip));
        v4_through_emptied || prefers_lost_v4
    };
    s.routes.retain(|r| !dropped(r));
    s.opaque_routes.retain(|r| !dropped(r));
    if explicit {
        for r in s.routes.iter_mut().chain(s.opaque_routes.iter_mut()) {
            if r.src.is_some_and(|ip| ip.is_ipv6() && lost.contains(&ip)) {
                r.src = None;
            }
        }
    }
}
