//! Routes the kernel drops by itself while a plan runs, and that the plan must add again.
//!
//! Deleting an address makes the kernel delete routes: every IPv4 route through a device
//! left without IPv4 addresses, and main-table routes preferring an address that is gone
//! (the rules, measured, are [`crate::netdev::model::delete_addresses`]). A plan that
//! renumbers a network's only address (`192.0.2.10/24` → `.20/24`) therefore loses its
//! gateway routes although it never deletes them. The planner runs the plan's address
//! deletions through the same rules on a copy of the routes and adds again, after the
//! new addresses, every route it meant to keep that would not survive.

use std::collections::BTreeSet;

use super::{Phase, Plan};
use crate::expand::Intent;
use crate::netdev::model::delete_addresses;
use crate::netdev::{Address, KernelState, Op, Route, HOSTNET_PROTO};

/// What the kernel takes with the address deletions of `plan` that the plan does not
/// delete itself: addresses of `current` (an IPv4 subnet's secondaries go with its
/// primary) and routes of `current` that are gone afterwards. A route the kernel only
/// changes (an IPv6 route losing its preferred source) is not in the list: it cannot be
/// added again beside itself.
pub(super) fn lost_with_addresses(
    current: &KernelState,
    plan: &Plan,
) -> (Vec<Address>, Vec<Route>) {
    let of_phase = |p: Phase| plan.phases[p as usize].iter();
    let deletes: Vec<&Address> = of_phase(Phase::DeleteAddresses)
        .filter_map(|op| match op {
            Op::DeleteAddress(a) => Some(a),
            _ => None,
        })
        .collect();
    if deletes.is_empty() {
        return (Vec::new(), Vec::new());
    }
    let deleted_routes: BTreeSet<&Route> = of_phase(Phase::DeleteRoutes)
        .filter_map(|op| match op {
            Op::DeleteRoute(r) => Some(r),
            _ => None,
        })
        .collect();
    let kept: Vec<&Route> = current
        .routes
        .iter()
        .filter(|r| !deleted_routes.contains(r))
        .collect();
    let mut sim = KernelState {
        addresses: current.addresses.clone(),
        routes: kept.iter().map(|r| (*r).clone()).collect(),
        ..KernelState::default()
    };
    for op in of_phase(Phase::AddAddressesFirst) {
        if let Op::AddAddress(a) = op {
            sim.addresses.push(a.clone());
        }
    }
    // Sets, and the deletions in one pass: a teardown of N networks deletes N addresses,
    // and one at a time with list look-ups cost O(N²).
    delete_addresses(&mut sim, deletes.iter().copied());
    let deleted: BTreeSet<&Address> = deletes.iter().copied().collect();
    let left: BTreeSet<&Address> = sim.addresses.iter().collect();
    let addresses = current
        .addresses
        .iter()
        .filter(|a| !deleted.contains(a) && !left.contains(a))
        .cloned()
        .collect();
    let survivors: BTreeSet<&Route> = sim.routes.iter().collect();
    let keys: BTreeSet<_> = sim.routes.iter().map(route_key).collect();
    let routes = kept
        .into_iter()
        .filter(|r| !survivors.contains(r) && !keys.contains(&route_key(r)))
        .cloned()
        .collect();
    (addresses, routes)
}

/// What [`Route::same_key`] compares.
fn route_key(r: &Route) -> (u32, ipnet::IpNet, u32) {
    (r.table, r.destination, r.metric.unwrap_or(0))
}

/// The routes `plan` adds.
pub(super) fn planned_routes(plan: &Plan) -> BTreeSet<Route> {
    plan.phases[Phase::AddRoutes as usize]
        .iter()
        .filter_map(|op| match op {
            Op::AddRoute(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

/// Adds to `plan` the routes it keeps that its address deletions make the kernel drop.
pub(super) fn readd_dropped_routes(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    let (_, lost) = lost_with_addresses(current, plan);
    if lost.is_empty() {
        return;
    }
    let planned = planned_routes(plan);
    let networks: BTreeSet<&Route> = intent.networks.iter().flat_map(|n| &n.routes).collect();
    let readd: BTreeSet<Route> = lost
        .iter()
        .filter_map(|r| wanted(intent, &networks, r))
        .filter(|r| !planned.contains(r))
        .collect();
    for r in readd {
        plan.push(Phase::AddRoutes, Op::AddRoute(r));
    }
}

/// The form in which the intent wants kernel route `have`, if it wants it: a network's
/// own route as it is, a user's route as the file gives it.
fn wanted(intent: &Intent, networks: &BTreeSet<&Route>, have: &Route) -> Option<Route> {
    if have.protocol == HOSTNET_PROTO {
        return networks.contains(have).then(|| have.clone());
    }
    intent
        .routes
        .iter()
        .find(|ri| super::owned::same_user_route(&ri.route, have))
        .map(|ri| ri.route.clone())
}

/// Adds to a rollback's `plan` what its own address deletions make the kernel take from
/// `current` that `target` (the state before the apply) has: deleting the address a
/// renumbering added leaves the device without IPv4 addresses, and the kernel drops the
/// gateway routes the apply had kept (it added them again after the same drop). They are
/// hostnet's doing, so they come back after the old addresses; nothing another tool added
/// since is (it is not in `target`).
pub(super) fn readd_restored(current: &KernelState, target: &KernelState, plan: &mut Plan) {
    let (addresses, routes) = lost_with_addresses(current, plan);
    let planned_addresses: BTreeSet<Address> = plan.phases[Phase::AddAddresses as usize]
        .iter()
        .filter_map(|op| match op {
            Op::AddAddress(a) => Some(a.clone()),
            _ => None,
        })
        .collect();
    for a in addresses
        .into_iter()
        .filter(|a| target.addresses.contains(a) && !planned_addresses.contains(a))
    {
        plan.push(Phase::AddAddresses, Op::AddAddress(a));
    }
    let planned = planned_routes(plan);
    let readd: Vec<Route> = routes
        .into_iter()
        .filter(|r| target.routes.contains(r) && !planned.iter().any(|p| p.same_key(r)))
        .collect();
    for r in readd {
        plan.push(Phase::AddRoutes, Op::AddRoute(r));
    }
}
