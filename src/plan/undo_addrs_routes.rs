//! The addresses, routes and rules half of the rollback: each one the apply added goes,
//! each one it removed (or the kernel dropped on its behalf) comes back where its place
//! is free. Split out of `undo.rs` (issue 15: files under 600 lines).

use super::{same_rule, taken_route, Ctx};
use crate::netdev::{Address, Op, Route};
use crate::plan::Phase;

fn in_subnet(a: &Address, of: &Address) -> bool {
    a.ifname == of.ifname && of.addr.trunc().contains(&a.addr.addr()) && a.addr.addr().is_ipv4()
}

pub(super) fn addresses(cx: &mut Ctx<'_>) {
    let before = cx.u.before;
    for (a, added) in &cx.e.addrs {
        let there = cx.now.addresses.contains(a);
        if *added {
            if there && !cx.deleting.contains(&a.ifname) {
                cx.push(Phase::DeleteAddresses, Op::DeleteAddress(a.clone()));
            }
            continue;
        }
        if there || cx.recreating.contains(&a.ifname) {
            continue;
        }
        add_back(cx, a, "deleted by this apply");
    }
    // Side effects: IPv6 addresses of links that went down, IPv4 secondaries of deleted
    // primaries. Dynamic ones are their makers' to add again (hostnet would make them
    // permanent).
    let candidates: Vec<&Address> = before
        .addresses
        .iter()
        .filter(|a| !a.dynamic && !cx.e.addrs.contains_key(*a))
        .filter(|a| {
            (cx.e.lossy.contains(&a.ifname) && a.addr.addr().is_ipv6())
                || cx.e.lost_v4.iter().any(|p| in_subnet(a, p))
        })
        .collect();
    for a in candidates {
        let gone_since = cx.u.left.is_some_and(|s| s.addresses.contains(a));
        if cx.now.addresses.contains(a) || gone_since || cx.recreating.contains(&a.ifname) {
            continue;
        }
        add_back(cx, a, "lost as a side effect of this apply");
    }
}

fn add_back(cx: &mut Ctx<'_>, a: &Address, why: &str) {
    if !cx.link_ok(&a.ifname) {
        cx.kept(format!(
            "address {} dev {}: {why}; its device is gone or another one now",
            a.addr, a.ifname
        ));
        return;
    }
    if let Some(other) = cx
        .now
        .addresses
        .iter()
        .find(|x| x.ifname == a.ifname && x.addr.addr() == a.addr.addr())
    {
        cx.blocked(format!(
            "address {} dev {}: {why}; {} holds its place now",
            a.addr, a.ifname, other.addr
        ));
        return;
    }
    cx.push(Phase::AddAddresses, Op::AddAddress(a.clone()));
}

pub(super) fn routes(cx: &mut Ctx<'_>) {
    let before = cx.u.before;
    for (r, added) in &cx.e.routes {
        let exact = cx.now.routes.contains(r);
        if *added {
            if exact && !r.dev.as_ref().is_some_and(|d| cx.deleting.contains(d)) {
                cx.push(Phase::DeleteRoutes, Op::DeleteRoute(r.clone()));
            } else if let Some(other) = taken_route(cx.now, r)
                // The route of before in its place is the rollback's own restoration.
                .filter(|o| !exact && !before.routes.contains(o))
            {
                cx.kept(format!(
                    "{r}: added by this apply, replaced since by {other}; left"
                ));
            }
            continue;
        }
        if exact {
            continue;
        }
        re_add(cx, r, "deleted by this apply");
    }
    let lost_dev = |r: &Route| {
        r.dev
            .as_ref()
            .is_some_and(|d| cx.e.lossy.contains(d) || cx.e.lost_v4.iter().any(|a| a.ifname == *d))
    };
    let candidates: Vec<&Route> = before
        .routes
        .iter()
        .filter(|r| !cx.e.routes.contains_key(*r))
        .filter(|r| lost_dev(r) || r.src.is_some_and(|s| cx.e.lost_ips.contains(&s)))
        .collect();
    for r in candidates {
        let gone_since =
            cx.u.left
                .is_some_and(|s| s.routes.iter().any(|x| x.same_key(r)));
        if gone_since || cx.now.routes.contains(r) {
            continue;
        }
        re_add(cx, r, "lost as a side effect of this apply");
    }
}

fn re_add(cx: &mut Ctx<'_>, r: &Route, why: &str) {
    if let Some(d) = &r.dev {
        if cx.recreating.contains(d) {
            // Made again with its link.
            return;
        }
        if !cx.link_ok(d) {
            cx.kept(format!("{r}: {why}; its device is gone or another one now"));
            return;
        }
    }
    // A route of the apply's in its place goes in this same rollback (see `routes`).
    let ours = |o: &&Route| cx.e.routes.get(*o) == Some(&true);
    if let Some(other) = taken_route(cx.now, r).filter(|o| !ours(o)) {
        cx.blocked(format!("{r}: {why}; {other} holds its place now"));
        return;
    }
    cx.push(Phase::AddRoutes, Op::AddRoute(r.clone()));
}

pub(super) fn rules(cx: &mut Ctx<'_>) {
    for (r, added) in &cx.e.rules {
        let there = cx
            .now
            .rules
            .iter()
            .chain(&cx.now.opaque_rules)
            .any(|x| same_rule(x, r));
        match (*added, there) {
            (true, true) => cx.push(Phase::DeleteRules, Op::DeleteRule(r.clone())),
            (false, false) => cx.push(Phase::AddRules, Op::AddRule(r.clone())),
            _ => {}
        }
    }
}
