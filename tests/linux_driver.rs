//! Kernel tests of the Linux driver. Each test moves its own thread into a fresh network
//! namespace first, so the machine's own namespace is never touched. Without root they
//! are skipped (with a visible line), unless HOSTNET_REQUIRE_KERNEL_TESTS=1.
//!
//! This sandbox kernel has bridge, veth and policy routing, but no dummy, vlan, bond or
//! vrf devices: everything here is built from veth pairs and bridges.

mod common;

use common::veth;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use hostnet::netdev::linux::{
    create_named_netns, delete_named_netns, enter_named_netns, open_named_netns, LinuxDriver,
    NetnsError,
};
use hostnet::netdev::{
    Address, BridgeChange, BridgeOptions, Driver, DriverError, Family, KernelState, Link,
    LinkChange, LinkKind, MacAddr, NewLink, Op, PeerSettings, Route, RouteScope, Rule, RuleAction,
    HOSTNET_PROTO, TABLE_MAIN,
};
use ipnet::IpNet;
use nix::sched::CloneFlags;

/// Moves the test thread into a new network namespace (with `lo` up) and opens a driver
/// there; `None` when the test cannot run here (see `common::enter_private_netns`).
fn setup(test: &str) -> Option<LinuxDriver> {
    common::enter_private_netns(test).then(|| LinuxDriver::new().expect("open the netlink socket"))
}

fn ok_all(results: Vec<Result<(), DriverError>>) {
    for (i, r) in results.into_iter().enumerate() {
        if let Err(e) = r {
            panic!("op {i} failed: {e} ({e:?})");
        }
    }
}

fn mac(s: &str) -> MacAddr {
    s.parse().expect("MAC address")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("prefix")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

/// A bridge's STP state, `None` for another kind.
fn stp_of(kind: &LinkKind) -> Option<bool> {
    match kind {
        LinkKind::Bridge(o) => Some(o.stp),
        _ => None,
    }
}

fn bridge(name: &str, stp: bool, mtu: Option<u32>) -> Op {
    Op::CreateLink(NewLink {
        name: name.into(),
        kind: LinkKind::Bridge(BridgeOptions {
            stp,
            ..BridgeOptions::new_bridge()
        }),
        up: true,
        mtu,
        mac: None,
        controller: None,
        peer: None,
    })
}

fn addr(ifname: &str, a: &str) -> Address {
    Address::new(ifname, net(a))
}

fn ours_routes(state: &KernelState) -> BTreeSet<Route> {
    state
        .routes
        .iter()
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .cloned()
        .collect()
}

fn ours_rules(state: &KernelState) -> BTreeSet<Rule> {
    state
        .rules
        .iter()
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .cloned()
        .collect()
}

/// A veth pair va/vb, both up, with 192.0.2.1/24 and 2001:db8::1/64 on va.
fn addressed_pair(driver: &mut LinuxDriver) {
    ok_all(driver.execute(&[veth("va", "vb")]));
    ok_all(driver.execute(&[
        Op::AddAddress(addr("va", "192.0.2.1/24")),
        Op::AddAddress(addr("va", "2001:db8::1/64")),
    ]));
}

#[test]
fn create_bridge_and_veth_in_one_request_each() {
    let Some(mut d) = setup("create_bridge_and_veth_in_one_request_each") else {
        return;
    };
    ok_all(d.execute(&[bridge("br0", false, Some(1400))]));
    ok_all(d.execute(&[Op::CreateLink(NewLink {
        name: "va".into(),
        kind: LinkKind::Veth {
            peer: Some("vb".into()),
        },
        up: true,
        mtu: Some(1400),
        mac: Some(mac("02:00:00:00:00:0a")),
        controller: Some("br0".into()),
        peer: Some(PeerSettings {
            up: true,
            mtu: Some(1300),
            mac: Some(mac("02:00:00:00:00:0b")),
            controller: Some("br0".into()),
        }),
    })]));
    let state = d.query().expect("query");
    let names: Vec<&str> = state.links.keys().map(String::as_str).collect();
    assert_eq!(names, ["br0", "lo", "va", "vb"]);
    assert_eq!(state.links["lo"].kind, LinkKind::Loopback);
    assert!(state.links["lo"].up);
    let br0 = &state.links["br0"];
    assert_eq!(stp_of(&br0.kind), Some(false));
    assert!(br0.up);
    assert!(br0.mac.is_some());
    assert_eq!(
        state.links["va"],
        Link {
            name: "va".into(),
            kind: LinkKind::Veth {
                peer: Some("vb".into())
            },
            up: true,
            mtu: 1400,
            mac: Some(mac("02:00:00:00:00:0a")),
            controller: Some("br0".into()),
        }
    );
    assert_eq!(
        state.links["vb"],
        Link {
            name: "vb".into(),
            kind: LinkKind::Veth {
                peer: Some("va".into())
            },
            up: true,
            mtu: 1300,
            mac: Some(mac("02:00:00:00:00:0b")),
            controller: Some("br0".into()),
        }
    );

    // A bridge created with STP on reports it.
    ok_all(d.execute(&[bridge("br1", true, None)]));
    let state = d.query().expect("query");
    assert_eq!(stp_of(&state.links["br1"].kind), Some(true));
    assert_eq!(state.links["br1"].mtu, 1500);
    // New bridges get the shortest forward delay: 0 is raised to STP's 2 s minimum.
    if let Ok(out) = std::process::Command::new("ip")
        .args(["-d", "link", "show", "br1"])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("forward_delay 200 "), "{text}");
    }
}

#[test]
fn failed_peer_setup_leaves_no_pair_behind() {
    let Some(mut d) = setup("failed_peer_setup_leaves_no_pair_behind") else {
        return;
    };
    ok_all(d.execute(&[veth("vx", "vy")]));
    // The peer is enslaved after the pair exists; a veth cannot be a controller, so
    // that step fails and the new pair must be removed again.
    let op = Op::CreateLink(NewLink {
        name: "va".into(),
        kind: LinkKind::Veth {
            peer: Some("vb".into()),
        },
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: Some(PeerSettings {
            up: true,
            controller: Some("vx".into()),
            ..PeerSettings::default()
        }),
    });
    let results = d.execute(std::slice::from_ref(&op));
    match &results[0] {
        Err(DriverError::Rejected { op: text, .. }) => {
            assert_eq!(text, &format!("{} {op}", op.verb()))
        }
        other => panic!("enslaving to a veth: {other:?}"),
    }
    let state = d.query().expect("query");
    let names: Vec<&str> = state.links.keys().map(String::as_str).collect();
    assert_eq!(names, ["lo", "vx", "vy"]);
}

#[test]
fn change_link_fields() {
    let Some(mut d) = setup("change_link_fields") else {
        return;
    };
    ok_all(d.execute(&[bridge("br0", false, None), veth("va", "vb")]));
    let change = |name: &str, change: LinkChange| Op::ChangeLink {
        name: name.into(),
        change,
    };
    ok_all(d.execute(&[
        change(
            "va",
            LinkChange {
                mtu: Some(1280),
                mac: Some(mac("02:00:00:00:01:01")),
                controller: Some(Some("br0".into())),
                ..LinkChange::default()
            },
        ),
        change(
            "vb",
            LinkChange {
                up: Some(false),
                ..LinkChange::default()
            },
        ),
        change(
            "br0",
            LinkChange {
                bridge: Some(BridgeChange::stp(true)),
                ..LinkChange::default()
            },
        ),
    ]));
    let state = d.query().expect("query");
    let va = &state.links["va"];
    assert_eq!(va.mtu, 1280);
    assert_eq!(va.mac, Some(mac("02:00:00:00:01:01")));
    assert_eq!(va.controller.as_deref(), Some("br0"));
    assert!(va.up);
    assert!(!state.links["vb"].up);
    assert_eq!(stp_of(&state.links["br0"].kind), Some(true));

    ok_all(d.execute(&[
        change(
            "va",
            LinkChange {
                controller: Some(None),
                up: Some(false),
                ..LinkChange::default()
            },
        ),
        change(
            "vb",
            LinkChange {
                up: Some(true),
                ..LinkChange::default()
            },
        ),
        change(
            "br0",
            LinkChange {
                bridge: Some(BridgeChange::stp(false)),
                ..LinkChange::default()
            },
        ),
    ]));
    let state = d.query().expect("query");
    assert_eq!(state.links["va"].controller, None);
    assert!(!state.links["va"].up);
    assert!(state.links["vb"].up);
    assert_eq!(stp_of(&state.links["br0"].kind), Some(false));
    // An empty change is nothing to do.
    ok_all(d.execute(&[change("va", LinkChange::default())]));

    // Links created in one call are usable by name in the next.
    ok_all(d.execute(&[Op::DeleteLink { name: "va".into() }]));
    ok_all(d.execute(&[veth("va", "vc")]));
    ok_all(d.execute(&[change(
        "vc",
        LinkChange {
            controller: Some(Some("br0".into())),
            ..LinkChange::default()
        },
    )]));
    let state = d.query().expect("query");
    assert!(!state.links.contains_key("vb"));
    assert_eq!(state.links["vc"].controller.as_deref(), Some("br0"));
}

#[test]
fn addresses_add_query_delete() {
    let Some(mut d) = setup("addresses_add_query_delete") else {
        return;
    };
    ok_all(d.execute(&[veth("va", "vb")]));
    let wanted = [
        addr("va", "192.0.2.10/24"),
        addr("va", "198.51.100.7/32"),
        addr("vb", "2001:db8:1::10/64"),
        addr("vb", "2001:db8:2::1/128"),
    ];
    ok_all(
        d.execute(
            &wanted
                .iter()
                .cloned()
                .map(Op::AddAddress)
                .collect::<Vec<_>>(),
        ),
    );
    let state = d.query().expect("query");
    let mut sorted = wanted.to_vec();
    sorted.sort();
    // No 127.0.0.1, ::1 or fe80:: addresses: those are host or link scope.
    assert_eq!(state.addresses, sorted);

    ok_all(
        d.execute(
            &wanted
                .iter()
                .cloned()
                .map(Op::DeleteAddress)
                .collect::<Vec<_>>(),
        ),
    );
    assert!(d.query().expect("query").addresses.is_empty());
}

#[test]
fn routes_in_main_and_big_tables() {
    let Some(mut d) = setup("routes_in_main_and_big_tables") else {
        return;
    };
    addressed_pair(&mut d);
    let route = |table: u32, dst: &str, gw: Option<&str>, metric: Option<u32>| Route {
        table,
        destination: net(dst),
        gateway: gw.map(ip),
        dev: Some("va".into()),
        metric,
        scope: RouteScope::Universe,
        src: None,
        protocol: HOSTNET_PROTO,
        attrs: Default::default(),
    };
    let wanted = vec![
        route(TABLE_MAIN, "0.0.0.0/0", Some("192.0.2.254"), Some(100)),
        Route {
            scope: RouteScope::Link,
            src: Some(ip("192.0.2.1")),
            ..route(TABLE_MAIN, "198.51.100.0/24", None, None)
        },
        route(1000, "203.0.113.0/24", Some("192.0.2.254"), None),
        route(100_000, "0.0.0.0/0", Some("192.0.2.254"), Some(5)),
        route(1000, "2001:db8:100::/48", Some("2001:db8::fe"), Some(1024)),
        route(TABLE_MAIN, "::/0", Some("2001:db8::fe"), Some(300)),
    ];
    ok_all(d.execute(&wanted.iter().cloned().map(Op::AddRoute).collect::<Vec<_>>()));
    let state = d.query().expect("query");
    assert_eq!(ours_routes(&state), wanted.iter().cloned().collect());
    // The kernel's own routes are hidden: prefix routes of the addresses (protocol
    // kernel) and the local table.
    assert!(state
        .routes
        .iter()
        .all(|r| r.protocol != 2 && r.table != 255));

    // IPv6 routes always have a metric: without one the kernel picks 1024.
    let no_metric = route(2000, "2001:db8:200::/48", Some("2001:db8::fe"), None);
    ok_all(d.execute(&[Op::AddRoute(no_metric.clone())]));
    let state = d.query().expect("query");
    let reported: Vec<&Route> = state.routes.iter().filter(|r| r.table == 2000).collect();
    assert_eq!(
        reported,
        [&Route {
            metric: Some(1024),
            ..no_metric.clone()
        }]
    );

    let mut all = wanted.clone();
    all.push(no_metric);
    ok_all(d.execute(&all.iter().cloned().map(Op::DeleteRoute).collect::<Vec<_>>()));
    assert!(ours_routes(&d.query().expect("query")).is_empty());
}

#[test]
fn rules_add_query_delete() {
    let Some(mut d) = setup("rules_add_query_delete") else {
        return;
    };
    let rule = |family: Family, priority: u32, table: u32| {
        Rule::lookup(family, priority, table, HOSTNET_PROTO)
    };
    let wanted = vec![
        Rule {
            from: Some(net("10.1.0.0/16")),
            iif: Some("br-guests".into()),
            fwmark: Some(0x10),
            fwmask: Some(0xff),
            ..rule(Family::Ipv4, 100, 100_000)
        },
        Rule {
            to: Some(net("10.2.0.0/24")),
            ..rule(Family::Ipv4, 101, 1000)
        },
        Rule {
            from: Some(net("2001:db8::/32")),
            to: Some(net("2001:db8:ff::/48")),
            fwmark: Some(7),
            fwmask: Some(0xffff_ffff),
            ..rule(Family::Ipv6, 102, 100_000)
        },
        rule(Family::Ipv6, 103, 200),
        // Actions other than lookup, `not`, oif and suppress_prefixlength.
        Rule {
            invert: true,
            iif: Some("lo".into()),
            action: RuleAction::Goto(110),
            ..rule(Family::Ipv4, 105, 0)
        },
        Rule {
            action: RuleAction::Nop,
            ..rule(Family::Ipv6, 110, 0)
        },
        Rule {
            suppress_prefixlength: Some(0),
            ..rule(Family::Ipv4, 106, TABLE_MAIN)
        },
        Rule {
            oif: Some("va".into()),
            action: RuleAction::Blackhole,
            ..rule(Family::Ipv4, 107, 0)
        },
        Rule {
            to: Some(net("2001:db8:dead::/48")),
            action: RuleAction::Unreachable,
            ..rule(Family::Ipv6, 108, 0)
        },
        Rule {
            fwmark: Some(1),
            fwmask: Some(1),
            action: RuleAction::Prohibit,
            ..rule(Family::Ipv4, 109, 0)
        },
    ];
    ok_all(d.execute(&wanted.iter().cloned().map(Op::AddRule).collect::<Vec<_>>()));
    let state = d.query().expect("query");
    assert_eq!(ours_rules(&state), wanted.iter().cloned().collect());
    // The kernel's default lookup rules are reported too.
    assert!(state
        .rules
        .iter()
        .any(|r| r.family == Family::Ipv4 && r.priority == 32766 && r.table == TABLE_MAIN));

    // A mark without a mask: the kernel stores and reports the full mask.
    let mark_only = Rule {
        fwmark: Some(0x20),
        ..rule(Family::Ipv4, 104, 1000)
    };
    ok_all(d.execute(&[Op::AddRule(mark_only.clone())]));
    let state = d.query().expect("query");
    let reported: Vec<&Rule> = state.rules.iter().filter(|r| r.priority == 104).collect();
    assert_eq!(
        reported,
        [&Rule {
            fwmask: Some(0xffff_ffff),
            ..mark_only.clone()
        }]
    );

    let mut all = wanted.clone();
    all.push(mark_only);
    ok_all(d.execute(&all.iter().cloned().map(Op::DeleteRule).collect::<Vec<_>>()));
    assert!(ours_rules(&d.query().expect("query")).is_empty());
    // Deleting them again is fine: they are gone.
    ok_all(d.execute(&all.iter().cloned().map(Op::DeleteRule).collect::<Vec<_>>()));
}

#[test]
fn rule_lookups_reach_the_table() {
    let Some(mut d) = setup("rule_lookups_reach_the_table") else {
        return;
    };
    addressed_pair(&mut d);
    ok_all(d.execute(&[
        Op::AddRoute(Route {
            table: 100_000,
            destination: net("0.0.0.0/0"),
            gateway: Some(ip("192.0.2.254")),
            dev: Some("va".into()),
            metric: None,
            scope: RouteScope::Universe,
            src: None,
            protocol: HOSTNET_PROTO,
            attrs: Default::default(),
        }),
        Op::AddRule(Rule {
            to: Some(net("203.0.113.0/24")),
            ..Rule::lookup(Family::Ipv4, 100, 100_000, HOSTNET_PROTO)
        }),
    ]));
    // A rule with action "unspec" makes this fail with EINVAL; ours must route.
    let out = std::process::Command::new("ip")
        .args(["route", "get", "203.0.113.5"])
        .output();
    if let Ok(out) = out {
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "ip route get failed: {out:?}");
        assert!(
            text.contains("via 192.0.2.254") && text.contains("table 100000"),
            "{text}"
        );
    }
}

#[test]
fn deleting_what_is_gone_is_ok() {
    let Some(mut d) = setup("deleting_what_is_gone_is_ok") else {
        return;
    };
    addressed_pair(&mut d);
    let gone_route = Route {
        table: 1000,
        destination: net("203.0.113.0/24"),
        gateway: Some(ip("192.0.2.254")),
        dev: Some("va".into()),
        metric: None,
        scope: RouteScope::Universe,
        src: None,
        protocol: HOSTNET_PROTO,
        attrs: Default::default(),
    };
    ok_all(d.execute(&[
        Op::DeleteLink {
            name: "nosuch".into(),
        },
        Op::DeleteAddress(addr("va", "192.0.2.99/24")),
        Op::DeleteAddress(addr("va", "2001:db8::99/64")),
        Op::DeleteAddress(addr("nosuch", "192.0.2.99/24")),
        Op::DeleteRoute(gone_route.clone()),
        Op::DeleteRoute(Route {
            dev: Some("nosuch".into()),
            ..gone_route.clone()
        }),
        Op::DeleteRoute(Route {
            destination: net("2001:db8:5::/48"),
            gateway: Some(ip("2001:db8::fe")),
            ..gone_route
        }),
    ]));
    // Deleting both ends of a pair: the second is gone with the first.
    ok_all(d.execute(&[
        Op::DeleteLink { name: "va".into() },
        Op::DeleteLink { name: "vb".into() },
    ]));
    let state = d.query().expect("query");
    assert_eq!(state.links.keys().collect::<Vec<_>>(), ["lo"]);
}

#[test]
fn rejected_ops_carry_errno_and_extack() {
    let Some(mut d) = setup("rejected_ops_carry_errno_and_extack") else {
        return;
    };
    addressed_pair(&mut d);
    let unreachable = Op::AddRoute(Route {
        table: TABLE_MAIN,
        destination: net("203.0.113.0/24"),
        gateway: Some(ip("10.99.0.1")),
        dev: Some("va".into()),
        metric: None,
        scope: RouteScope::Universe,
        src: None,
        protocol: HOSTNET_PROTO,
        attrs: Default::default(),
    });
    let ops = [veth("va", "vx"), unreachable.clone()];
    let results = d.execute(&ops);
    match &results[0] {
        Err(DriverError::Rejected { op, errno, .. }) => {
            assert_eq!(*errno, libc::EEXIST);
            assert_eq!(op, &format!("{} {}", ops[0].verb(), ops[0]));
        }
        other => panic!("creating an existing link: {other:?}"),
    }
    match &results[1] {
        Err(e @ DriverError::Rejected { op, errno, message }) => {
            assert_eq!(*errno, libc::ENETUNREACH);
            assert_eq!(op, &format!("add {unreachable}"));
            assert_eq!(message.as_deref(), Some("Nexthop has invalid gateway"));
            assert_eq!(e.errno(), Some(libc::ENETUNREACH));
            assert!(
                e.to_string().contains(": Nexthop has invalid gateway"),
                "{e}"
            );
        }
        other => panic!("route via unreachable gateway: {other:?}"),
    }
    // An interface nobody has heard of.
    let results = d.execute(&[Op::AddAddress(addr("nosuch", "192.0.2.5/24"))]);
    assert!(
        matches!(&results[0], Err(DriverError::NoSuchInterface { name, .. }) if name == "nosuch"),
        "{results:?}"
    );
}

#[test]
fn pipelined_batches_answer_every_op_in_order() {
    let Some(mut d) = setup("pipelined_batches_answer_every_op_in_order") else {
        return;
    };
    ok_all(d.execute(&[veth("va", "vb")]));
    // More than one window's worth.
    let many: Vec<Address> = (0..600u32)
        .map(|i| addr("va", &format!("10.{}.{}.1/32", 20 + i / 250, i % 250)))
        .collect();
    let results = d.execute(&many.iter().cloned().map(Op::AddAddress).collect::<Vec<_>>());
    assert_eq!(results.len(), 600);
    ok_all(results);
    assert_eq!(d.query().expect("query").addresses.len(), 600);

    // 200 ops, the 100th of which fails: only it fails.
    let mut batch: Vec<Op> = (0..200u32)
        .map(|i| Op::AddAddress(addr("vb", &format!("10.50.{}.{}/32", i / 100, i % 100))))
        .collect();
    batch[99] = Op::AddAddress(many[7].clone());
    let results = d.execute(&batch);
    assert_eq!(results.len(), 200);
    for (i, r) in results.iter().enumerate() {
        if i == 99 {
            assert_eq!(
                r.as_ref().err().and_then(DriverError::errno),
                Some(libc::EEXIST)
            );
        } else {
            assert!(r.is_ok(), "op {i}: {r:?}");
        }
    }
    let state = d.query().expect("query");
    assert_eq!(state.addresses.len(), 799);

    let results = d.execute(&many.into_iter().map(Op::DeleteAddress).collect::<Vec<_>>());
    ok_all(results);
    let state = d.query().expect("query");
    assert!(state.addresses.iter().all(|a| a.ifname == "vb"));
    assert_eq!(state.addresses.len(), 199);
}

static NETNS_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Deletes the named namespace when the test ends, passed or failed.
struct NetnsGuard(String);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = delete_named_netns(&self.0);
    }
}

#[test]
fn named_netns_round_trip_and_moving_links() {
    let Some(mut d) = setup("named_netns_round_trip_and_moving_links") else {
        return;
    };
    let name = format!(
        "hn-test-{}-{}",
        std::process::id(),
        NETNS_COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    create_named_netns(&name).expect("create named netns");
    let guard = NetnsGuard(name.clone());
    let path = Path::new("/run/netns").join(&name);
    assert!(path.exists());
    assert!(matches!(
        create_named_netns(&name),
        Err(NetnsError::Exists(_))
    ));

    ok_all(d.execute(&[veth("va", "vb")]));
    let target = open_named_netns(&name).expect("open named netns");
    d.move_link_to_netns("vb", target.as_fd())
        .expect("move vb into the named namespace");
    let state = d.query().expect("query");
    assert!(!state.links.contains_key("vb"));
    assert_eq!(state.links["va"].kind, LinkKind::Veth { peer: None });
    assert!(matches!(
        d.move_link_to_netns("nosuch", target.as_fd()),
        Err(DriverError::NoSuchInterface { .. })
    ));

    enter_named_netns(&name).expect("enter named netns");
    let mut inside = LinuxDriver::new().expect("driver inside");
    let state = inside.query().expect("query inside");
    let names: Vec<&str> = state.links.keys().map(String::as_str).collect();
    assert_eq!(names, ["lo", "vb"]);
    assert_eq!(state.links["vb"].kind, LinkKind::Veth { peer: None });
    // The first driver still works in its own namespace.
    assert!(d.query().expect("query").links.contains_key("va"));

    drop(guard);
    assert!(!path.exists());
    delete_named_netns(&name).expect("deleting a deleted namespace is fine");
    assert!(matches!(
        enter_named_netns(&name),
        Err(NetnsError::Io { .. })
    ));
}

#[test]
fn dumps_stay_consistent_under_concurrent_changes() {
    let Some(mut d) = setup("dumps_stay_consistent_under_concurrent_changes") else {
        return;
    };
    ok_all(d.execute(&[veth("va", "vb")]));
    // Enough addresses for a dump of several datagrams, so that changes land between
    // two of them.
    let stable: Vec<Address> = (0..1500u32)
        .map(|i| addr("va", &format!("10.{}.{}.1/32", 60 + i / 250, i % 250)))
        .collect();
    ok_all(
        d.execute(
            &stable
                .iter()
                .cloned()
                .map(Op::AddAddress)
                .collect::<Vec<_>>(),
        ),
    );

    // Another thread keeps removing the first address and adding it back at the end of
    // the list: a dump that resumes by position would then skip an address. It works in
    // bursts, as real churn does: a query overlapped by a change reads again, and one
    // that never finds a quiet moment gives up.
    let netns = std::fs::File::open("/proc/thread-self/ns/net").expect("own netns");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        let first = stable[0].clone();
        std::thread::spawn(move || {
            nix::sched::setns(&netns, CloneFlags::CLONE_NEWNET).expect("join the test netns");
            let mut other = LinuxDriver::new().expect("driver");
            while !stop.load(Ordering::Relaxed) {
                for _ in 0..50 {
                    ok_all(other.execute(&[Op::DeleteAddress(first.clone())]));
                    ok_all(other.execute(&[Op::AddAddress(first.clone())]));
                }
                std::thread::sleep(std::time::Duration::from_millis(30));
            }
        })
    };
    // Each query either sees every address or gives up after retrying; never a partial
    // state, and never an error from starting a dump while the last one is unfinished.
    let (mut consistent, mut interrupted) = (0, 0);
    for _ in 0..10 {
        match d.query() {
            Ok(state) => {
                let got: BTreeSet<&Address> = state.addresses.iter().collect();
                let missing: Vec<_> = stable[1..].iter().filter(|a| !got.contains(a)).collect();
                assert!(
                    missing.is_empty(),
                    "an interrupted dump went unnoticed: {missing:?}"
                );
                consistent += 1;
            }
            Err(DriverError::DumpInterrupted { .. }) => interrupted += 1,
            Err(e) => panic!("query: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().expect("churn thread");
    eprintln!("{consistent} consistent queries, {interrupted} gave up after retries");
    assert!(
        consistent > 0,
        "no query found a quiet moment between the bursts: nothing was checked"
    );
}

#[test]
fn deleting_many_links_at_once_deletes_them_all() {
    let Some(mut d) = setup("deleting_many_links_at_once_deletes_them_all") else {
        return;
    };
    let mut create: Vec<Op> = vec![bridge("brd", false, None)];
    create.extend((0..20).map(|i| veth(&format!("da{i}"), &format!("db{i}"))));
    ok_all(d.execute(&create[..1]));
    ok_all(d.execute(&create[1..]));
    let mut delete: Vec<Op> = (0..20)
        .map(|i| Op::DeleteLink {
            name: format!("da{i}"),
        })
        .collect();
    delete.push(Op::DeleteLink { name: "brd".into() });
    // Already gone, and both ends of one pair: both are "done".
    delete.push(Op::DeleteLink {
        name: "nothere".into(),
    });
    delete.push(Op::DeleteLink { name: "db0".into() });
    let results = d.execute(&delete);
    assert_eq!(results.len(), delete.len());
    ok_all(results);
    let state = d.query().expect("query");
    let names: Vec<&str> = state.links.keys().map(String::as_str).collect();
    assert_eq!(names, ["lo"]);
}
