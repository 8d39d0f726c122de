//! Addresses going away in the model as they do in the kernel: an IPv4 primary takes its
//! subnet's secondaries, and the routes the kernel drops or rewrites with them.

use super::{Address, KernelState, Route};

/// Removes address `a` as the kernel does and returns what went: an IPv4 subnet's primary
/// address takes the subnet's secondaries with it (the kernel's default, without
/// `promote_secondaries`). The primary is the first address of the subnet in the list,
/// which is the kernel's order for addresses added here; a state read from the kernel is
/// sorted, so for those it is a guess. hostnet's plans delete and re-add every address
/// they keep in a subnet they remove an address from, so the guess does not change where
/// a plan ends.
fn take_address(s: &mut KernelState, a: &Address) -> Vec<Address> {
    // The kernel finds the address to delete by device, address and prefix length,
    // whatever its flags.
    let Some(pos) = s.addresses.iter().position(|x| x.same_key(a)) else {
        return Vec::new();
    };
    let removed = s.addresses.remove(pos);
    let same_subnet = |x: &Address| {
        x.ifname == a.ifname
            && x.addr.prefix_len() == a.addr.prefix_len()
            && a.addr.contains(&x.addr.addr())
    };
    let primary = a.addr.addr().is_ipv4() && !s.addresses[..pos].iter().any(same_subnet);
    let mut gone = vec![removed];
    if primary {
        let (secondaries, kept) = std::mem::take(&mut s.addresses)
            .into_iter()
            .partition(|x| same_subnet(x));
        s.addresses = kept;
        gone.extend::<Vec<Address>>(secondaries);
    }
    gone
}

/// Deletes address `a` from `s` as the kernel does, with every side effect on addresses
/// and routes (the planner predicts with it which routes a plan makes the kernel drop).
pub fn delete_address(s: &mut KernelState, a: &Address) {
    let gone = take_address(s, a);
    addresses_gone(s, &gone, true);
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
    let still_here =
        |s: &KernelState, ip: &std::net::IpAddr| s.addresses.iter().any(|x| x.addr.addr() == *ip);
    let mut emptied: Vec<String> = Vec::new();
    for a in gone.iter().filter(|a| a.addr.addr().is_ipv4()) {
        let left = s
            .addresses
            .iter()
            .any(|x| x.ifname == a.ifname && x.addr.addr().is_ipv4());
        if !left && !emptied.contains(&a.ifname) {
            emptied.push(a.ifname.clone());
        }
    }
    let v4_through_emptied = |r: &Route| {
        r.destination.addr().is_ipv4() && r.devices().any(|d| emptied.iter().any(|e| e == d))
    };
    s.routes.retain(|r| !v4_through_emptied(r));
    s.opaque_routes.retain(|r| !v4_through_emptied(r));
    for a in gone {
        let ip = a.addr.addr();
        if still_here(s, &ip) {
            continue;
        }
        if ip.is_ipv4() {
            let prefers = |r: &Route| r.table == super::super::TABLE_MAIN && r.src == Some(ip);
            s.routes.retain(|r| !prefers(r));
            s.opaque_routes.retain(|r| !prefers(r));
        } else if explicit {
            for r in s.routes.iter_mut().chain(s.opaque_routes.iter_mut()) {
                if r.src == Some(ip) {
                    r.src = None;
                }
            }
        }
    }
}
