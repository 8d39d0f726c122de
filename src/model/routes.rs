//! nmstate's route keys beyond the next hop: `route-type`, `weight` (multipath),
//! `source` and the metrics (`mtu`, `cwnd`, `initcwnd`, `initrwnd`, `advmss`,
//! `quickack`, `lock-mtu`), with hostnet's `onlink`: their checks, and what a route entry
//! asks of the kernel ([`crate::netdev::RouteAttrs`]).

use std::collections::BTreeMap;

use super::validate::Errors;
use super::{Desired, EntryState, RouteSpec};
use crate::netdev::{RouteKind, RouteMetrics, LOCK_CWND, LOCK_MTU, TABLE_MAIN};

/// The table an entry names: nmstate's 0 is main, as is no table.
pub fn table_of(r: &RouteSpec) -> u32 {
    r.table_id.filter(|t| *t != 0).unwrap_or(TABLE_MAIN)
}

/// The metrics an entry asks for. nmstate locks `cwnd` always (the kernel's TCP takes a
/// route's cwnd only when it is locked).
pub fn metrics(r: &RouteSpec) -> RouteMetrics {
    let mut locks = 0;
    if r.cwnd.is_some() {
        locks |= LOCK_CWND;
    }
    if r.lock_mtu == Some(true) {
        locks |= LOCK_MTU;
    }
    RouteMetrics {
        locks,
        mtu: r.mtu,
        cwnd: r.cwnd,
        advmss: r.advmss,
        initcwnd: r.initcwnd,
        initrwnd: r.initrwnd,
        quickack: r.quickack.filter(|q| *q).map(|_| 1),
    }
}

/// The kernel's key of an entry (table, destination, metric): entries with a weight
/// that share it are one multipath route.
pub type GroupKey = (u32, Option<ipnet::IpNet>, Option<u32>);

pub fn group_key(r: &RouteSpec) -> GroupKey {
    (table_of(r), r.destination.map(|d| d.0), r.metric)
}

fn present(r: &RouteSpec) -> bool {
    r.state.is_none()
}

/// Checks the keys of this module on every entry of `routes.config`.
pub(super) fn check(errs: &mut Errors, d: &Desired) {
    let Some(routes) = &d.routes else { return };
    let mut groups: BTreeMap<GroupKey, Vec<usize>> = BTreeMap::new();
    for (i, r) in routes.config.iter().enumerate() {
        if r.state == Some(EntryState::Ignore) {
            continue;
        }
        let p = format!("routes.config[{i}]");
        if present(r) && r.weight.is_some() {
            groups.entry(group_key(r)).or_default().push(i);
        }
        check_entry(errs, &p, r);
    }
    for (i, r) in routes.config.iter().enumerate().filter(|(_, r)| present(r)) {
        if r.weight.is_some() {
            continue;
        }
        if let Some(first) = groups.get(&group_key(r)).and_then(|g| g.first()) {
            errs.push(
                format!("routes.config[{i}].weight"),
                format!(
                    "routes.config[{first}] is a next hop of a multipath route to the same destination, table and metric: give this entry a weight too"
                ),
            );
        }
    }
    for members in groups.values() {
        check_group(errs, &routes.config, members);
    }
}

fn check_entry(errs: &mut Errors, p: &str, r: &RouteSpec) {
    let kind = r.route_type.unwrap_or_default();
    if kind != RouteKind::Unicast {
        let t = kind.as_str();
        if r.next_hop_address.is_some() {
            errs.push(
                format!("{p}.next-hop-address"),
                format!("a {t} route has no next hop"),
            );
        }
        if r.next_hop_interface.as_deref().is_some_and(|i| i != "lo") {
            errs.push(
                format!("{p}.next-hop-interface"),
                format!("a {t} route has no next-hop interface (nmstate accepts lo only)"),
            );
        }
        if r.weight.is_some() {
            errs.push(
                format!("{p}.weight"),
                format!("a {t} route has no next hops to weigh"),
            );
        }
    }
    if let Some(w) = r.weight.filter(|w| !(1..=256).contains(w)) {
        errs.push(format!("{p}.weight"), format!("{w} is outside 1-256"));
    }
    if let (Some(s), Some(dst)) = (r.source, r.destination) {
        if s.is_ipv4() != dst.0.addr().is_ipv4() {
            errs.push(
                format!("{p}.source"),
                format!("{s} is not of the same family as {dst}"),
            );
        }
        if s.is_unspecified() || s.is_multicast() {
            errs.push(format!("{p}.source"), format!("{s} is no host address"));
        }
    }
    if let Some(m) = r.mtu.filter(|m| !(68..=65535).contains(m)) {
        errs.push(format!("{p}.mtu"), format!("{m} is outside 68-65535"));
    }
    if r.lock_mtu == Some(true) && r.mtu.is_none() {
        errs.push(format!("{p}.lock-mtu"), "lock-mtu needs mtu".to_string());
    }
    for (key, v) in [
        ("cwnd", r.cwnd),
        ("initcwnd", r.initcwnd),
        ("initrwnd", r.initrwnd),
    ] {
        if v == Some(0) {
            errs.push(
                format!("{p}.{key}"),
                format!("{key} 0 is no {key}; leave it out"),
            );
        }
    }
}

/// The entries of one multipath route: one route, so what is not a next hop's is the
/// route's and must agree.
fn check_group(errs: &mut Errors, config: &[RouteSpec], members: &[usize]) {
    let Some(&first) = members.first() else {
        return;
    };
    if members.len() < 2 {
        errs.push(
            format!("routes.config[{first}].weight"),
            "a weight needs another next hop for the same destination, table and metric (the kernel drops the weight of a route with one)".to_string(),
        );
        return;
    }
    let shared = |r: &RouteSpec| (r.source, metrics(r), r.onlink);
    for &i in &members[1..] {
        if shared(&config[i]) != shared(&config[first]) {
            errs.push(
                format!("routes.config[{i}]"),
                format!("the next hops of one multipath route share its source, metrics and onlink: give the same as routes.config[{first}]"),
            );
        }
        let hop = |r: &RouteSpec| (r.next_hop_address, r.next_hop_interface.clone());
        if members[..members.iter().position(|m| *m == i).unwrap_or(0)]
            .iter()
            .any(|j| hop(&config[*j]) == hop(&config[i]))
        {
            errs.push(
                format!("routes.config[{i}]"),
                "this next hop is given twice for one multipath route".to_string(),
            );
        }
    }
}

/// For `show`: a route as `routes.config` entries (one per next hop of a multipath
/// route, each with its weight), in nmstate's keys. The loopback device the kernel gives
/// an IPv6 route of a type that drops traffic is left out, as nmstate leaves it.
pub fn show(r: &crate::netdev::Route) -> Vec<RouteSpec> {
    use crate::netdev::RouteKind;
    let m = &r.attrs.metrics;
    let base = RouteSpec {
        destination: Some(super::Prefix(r.destination)),
        next_hop_address: r.gateway,
        next_hop_interface: r.dev.clone(),
        table_id: (r.table != TABLE_MAIN).then_some(r.table),
        metric: r.metric,
        route_type: (r.attrs.kind != RouteKind::Unicast).then_some(r.attrs.kind),
        source: r.src,
        mtu: m.mtu,
        lock_mtu: (m.locks & LOCK_MTU != 0).then_some(true),
        cwnd: m.cwnd,
        initcwnd: m.initcwnd,
        initrwnd: m.initrwnd,
        advmss: m.advmss,
        quickack: m.quickack.map(|q| q != 0),
        onlink: r.attrs.onlink.then_some(true),
        ..RouteSpec::default()
    };
    if r.attrs.kind != RouteKind::Unicast {
        return vec![RouteSpec {
            next_hop_address: None,
            next_hop_interface: r.dev.clone().filter(|d| d != "lo"),
            ..base
        }];
    }
    if r.attrs.nexthops.is_empty() {
        return vec![base];
    }
    r.attrs
        .nexthops
        .iter()
        .map(|h| RouteSpec {
            next_hop_address: h.gateway,
            next_hop_interface: h.dev.clone(),
            weight: Some(u32::from(h.weight)),
            onlink: h.onlink.then_some(true),
            ..base.clone()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::model::{parse, validate};

    fn errors(yaml: &str) -> String {
        let d = parse(yaml).expect("parses");
        validate(&d)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn route_keys_are_checked() {
        let e = errors("routes:\n  config:\n  - {destination: 10.0.0.0/8, route-type: blackhole, next-hop-address: 192.0.2.1}\n  - {destination: 10.1.0.0/16, next-hop-address: 192.0.2.1, weight: 2}\n  - {destination: 10.2.0.0/16, next-hop-address: 192.0.2.1, lock-mtu: true, source: '2001:db8::1'}\n");
        for want in [
            "routes.config[0].next-hop-address: a blackhole route has no next hop",
            "routes.config[1].weight: a weight needs another next hop",
            "routes.config[2].source: 2001:db8::1 is not of the same family as 10.2.0.0/16",
            "routes.config[2].lock-mtu: lock-mtu needs mtu",
        ] {
            assert!(e.contains(want), "{want} not in {e}");
        }
        // One multipath route: the next hops share its metrics; all have a weight.
        let e = errors("routes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-address: 192.0.2.1, weight: 1, mtu: 1400}\n  - {destination: 10.0.0.0/8, next-hop-address: 192.0.2.2, weight: 2}\n  - {destination: 10.0.0.0/8, next-hop-address: 192.0.2.3}\n");
        assert!(
            e.contains("routes.config[1]: the next hops of one multipath route share"),
            "{e}"
        );
        assert!(
            e.contains("routes.config[2].weight: routes.config[0] is a next hop"),
            "{e}"
        );
        assert_eq!(errors("routes:\n  config:\n  - {destination: 10.0.0.0/8, route-type: prohibit, table-id: 0}\n"), "");
    }

    #[test]
    fn a_multipath_route_is_one_intent() {
        let d = parse(include_str!("../../tests/nmstate/routes_multipath.yml")).expect("parses");
        validate(&d).expect("valid");
        let intent = crate::expand::expand(&d).expect("expands");
        assert_eq!(intent.routes.len(), 1);
        let r = &intent.routes[0].route;
        assert_eq!(r.to_string(), "route 203.0.113.0/24 table 200 nexthop via 192.0.2.1 dev eth1 weight 1 nexthop via 198.51.100.1 dev eth2 weight 3");
        // `show` gives it back as two entries.
        assert_eq!(super::show(r).len(), 2);
    }
}
