//! The kernel's side effects of deleting addresses, as the model applies them (the same
//! cases run against the kernel in `tests/day2.rs`).

use super::*;
use crate::netdev::{RouteScope, HOSTNET_PROTO, TABLE_MAIN};

fn link(name: &str) -> Link {
    Link {
        name: name.into(),
        kind: LinkKind::Ethernet,
        up: true,
        mtu: 1500,
        mac: None,
        controller: None,
    }
}

fn addr(ifname: &str, a: &str) -> Address {
    Address::new(ifname, a.parse().expect("test value"))
}

fn route(table: u32, dst: &str, via: Option<&str>, dev: &str, src: Option<&str>) -> Route {
    let destination: ipnet::IpNet = dst.parse().expect("test value");
    Route {
        table,
        destination,
        gateway: via.map(|g| g.parse().expect("test value")),
        dev: Some(dev.into()),
        metric: destination.addr().is_ipv6().then_some(1024),
        scope: RouteScope::Universe,
        src: src.map(|s| s.parse().expect("test value")),
        protocol: HOSTNET_PROTO,
        attrs: Default::default(),
    }
}

fn model(addresses: &[Address], routes: &[Route]) -> ModelDriver {
    let mut s = KernelState::default();
    for n in ["br0", "e2"] {
        s.links.insert(n.into(), link(n));
    }
    s.addresses = addresses.to_vec();
    s.routes = routes.to_vec();
    ModelDriver::new(s)
}

fn delete(m: &mut ModelDriver, a: &Address) {
    for r in m.execute(&[Op::DeleteAddress(a.clone())]) {
        r.expect("delete");
    }
}

#[test]
fn a_device_left_without_ipv4_addresses_loses_every_ipv4_route_through_it() {
    let routes = [
        route(100, "0.0.0.0/0", Some("192.0.2.1"), "br0", None),
        route(TABLE_MAIN, "0.0.0.0/0", Some("192.0.2.1"), "br0", None),
        route(200, "10.2.0.0/16", None, "br0", Some("192.0.2.10")),
        route(200, "10.3.0.0/16", None, "e2", Some("192.0.2.10")),
        route(100, "::/0", Some("2001:db8:1::1"), "br0", None),
    ];
    let mut m = model(
        &[addr("br0", "192.0.2.10/24"), addr("e2", "203.0.113.10/24")],
        &routes,
    );
    delete(&mut m, &addr("br0", "192.0.2.10/24"));
    // Only what does not go through br0 stays; a source in another table than main
    // does not count.
    assert_eq!(m.state().routes, vec![routes[3].clone(), routes[4].clone()]);
}

#[test]
fn an_address_that_is_gone_takes_the_main_tables_routes_preferring_it() {
    let routes = [
        route(100, "0.0.0.0/0", Some("192.0.2.1"), "br0", None),
        route(TABLE_MAIN, "0.0.0.0/0", Some("192.0.2.1"), "br0", None),
        route(
            TABLE_MAIN,
            "10.4.0.0/16",
            Some("198.51.100.1"),
            "br0",
            Some("192.0.2.10"),
        ),
        route(TABLE_MAIN, "10.5.0.0/16", None, "e2", Some("192.0.2.10")),
        route(253, "10.6.0.0/16", None, "e2", Some("192.0.2.10")),
        route(100, "192.0.2.0/24", None, "br0", Some("192.0.2.10")),
    ];
    let mut m = model(
        &[
            addr("br0", "192.0.2.10/24"),
            addr("br0", "198.51.100.10/24"),
        ],
        &routes,
    );
    delete(&mut m, &addr("br0", "192.0.2.10/24"));
    let left = &m.state().routes;
    assert_eq!(
        left,
        &vec![
            routes[0].clone(),
            routes[1].clone(),
            routes[4].clone(),
            routes[5].clone()
        ],
        "gateway routes stay even when no subnet reaches the gateway any more"
    );
}

#[test]
fn a_source_address_still_elsewhere_keeps_its_routes() {
    let r = route(TABLE_MAIN, "10.4.0.0/16", None, "e2", Some("192.0.2.10"));
    let mut m = model(
        &[
            addr("br0", "192.0.2.10/24"),
            addr("br0", "198.51.100.10/24"),
            addr("e2", "192.0.2.10/32"),
        ],
        std::slice::from_ref(&r),
    );
    delete(&mut m, &addr("br0", "192.0.2.10/24"));
    assert_eq!(m.state().routes, vec![r]);
}

#[test]
fn an_ipv4_primary_takes_its_secondaries() {
    let mut m = model(
        &[
            addr("br0", "192.0.2.10/24"),
            addr("br0", "192.0.2.20/24"),
            addr("br0", "192.0.2.30/25"),
            addr("br0", "198.51.100.10/24"),
        ],
        &[],
    );
    delete(&mut m, &addr("br0", "192.0.2.10/24"));
    assert_eq!(
        m.state().addresses,
        vec![
            addr("br0", "192.0.2.30/25"),
            addr("br0", "198.51.100.10/24")
        ]
    );
    // A secondary goes alone.
    let mut m = model(
        &[addr("br0", "192.0.2.10/24"), addr("br0", "192.0.2.20/24")],
        &[],
    );
    delete(&mut m, &addr("br0", "192.0.2.20/24"));
    assert_eq!(m.state().addresses, vec![addr("br0", "192.0.2.10/24")]);
}

#[test]
fn a_deleted_ipv6_address_leaves_its_routes_without_a_source() {
    let routes = [
        route(100, "2001:db8:1::/64", None, "br0", Some("2001:db8:1::10")),
        route(200, "2001:db8:b::/64", None, "e2", Some("2001:db8:1::10")),
        route(100, "::/0", Some("2001:db8:1::1"), "br0", None),
    ];
    let mut m = model(&[addr("br0", "2001:db8:1::10/64")], &routes);
    delete(&mut m, &addr("br0", "2001:db8:1::10/64"));
    let left = &m.state().routes;
    assert_eq!(left.len(), 3, "IPv6 flushes nothing: {left:?}");
    assert!(left.iter().all(|r| r.src.is_none()), "{left:?}");
}

#[test]
fn a_deleted_device_takes_main_routes_preferring_its_ipv4_but_not_ipv6_sources() {
    let routes = [
        route(TABLE_MAIN, "10.4.0.0/16", None, "e2", Some("192.0.2.10")),
        route(200, "10.3.0.0/16", None, "e2", Some("192.0.2.10")),
        route(200, "2001:db8:b::/64", None, "e2", Some("2001:db8:1::10")),
    ];
    let mut m = model(
        &[
            addr("br0", "192.0.2.10/24"),
            addr("br0", "2001:db8:1::10/64"),
            addr("e2", "203.0.113.10/24"),
        ],
        &routes,
    );
    for r in m.execute(&[Op::DeleteLink { name: "br0".into() }]) {
        r.expect("delete");
    }
    assert_eq!(m.state().routes, vec![routes[1].clone(), routes[2].clone()]);
}

/// Findings F8 and F12: a bridge whose MAC was not set follows its lowest port's MAC,
/// and is zero once empty; one set explicitly keeps its MAC.
#[test]
fn a_bridge_without_an_explicit_mac_follows_its_ports() {
    let mac = |last: u8| MacAddr([0x52, 0x54, 0, 0, 0, last]);
    let mut s = KernelState::default();
    for (n, last) in [("e1", 1), ("e2", 2)] {
        s.links.insert(
            n.into(),
            Link {
                mac: Some(mac(last)),
                ..link(n)
            },
        );
    }
    let mut m = ModelDriver::new(s);
    let bridge = |name: &str, mac: Option<MacAddr>| {
        Op::CreateLink(crate::netdev::NewLink {
            name: name.into(),
            kind: LinkKind::Bridge(Default::default()),
            up: true,
            mtu: None,
            mac,
            controller: None,
            peer: None,
        })
    };
    let port = |name: &str, bridge: Option<&str>| Op::ChangeLink {
        name: name.into(),
        change: crate::netdev::LinkChange {
            controller: Some(bridge.map(Into::into)),
            ..Default::default()
        },
    };
    let run = |m: &mut ModelDriver, op: Op| {
        for r in m.execute(&[op]) {
            r.expect("accepted");
        }
    };
    let mac_of = |m: &ModelDriver, n: &str| m.state().links[n].mac;
    run(&mut m, bridge("br0", None));
    run(&mut m, port("e2", Some("br0")));
    assert_eq!(mac_of(&m, "br0"), Some(mac(2)));
    run(&mut m, port("e1", Some("br0")));
    assert_eq!(mac_of(&m, "br0"), Some(mac(1)), "the lowest port's");
    run(&mut m, port("e1", None));
    assert_eq!(mac_of(&m, "br0"), Some(mac(2)));
    run(&mut m, Op::DeleteLink { name: "e2".into() });
    assert_eq!(mac_of(&m, "br0"), Some(MacAddr([0; 6])), "empty");
    // Set explicitly: kept whatever the ports.
    run(&mut m, bridge("br1", Some(mac(9))));
    run(&mut m, port("e1", Some("br1")));
    assert_eq!(mac_of(&m, "br1"), Some(mac(9)));
    // Read from a kernel: a bridge with ports and another MAC than theirs was set.
    let mut m2 = ModelDriver::new(m.state().clone());
    run(&mut m2, port("e1", None));
    assert_eq!(mac_of(&m2, "br1"), Some(mac(9)));
}

/// Finding F3: a new link gets the `default` per-interface sysctls, a deleted one's go.
#[test]
fn a_new_link_gets_the_default_sysctls_and_a_deleted_one_loses_its_own() {
    let mut s = KernelState::default();
    for (k, v) in [
        ("net.ipv4.conf.default.forwarding", "1"),
        ("net.ipv6.conf.default.forwarding", "0"),
        ("net.ipv6.conf.default.accept_ra", "1"),
        ("net.ipv6.conf.all.forwarding", "0"),
    ] {
        s.firewall.sysctls.insert(k.into(), v.into());
    }
    let mut m = ModelDriver::new(s);
    let veth = Op::CreateLink(crate::netdev::NewLink {
        name: "v0".into(),
        kind: LinkKind::Veth {
            peer: Some("v1".into()),
        },
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: Some(Default::default()),
    });
    for r in m.execute(&[veth]) {
        r.expect("created");
    }
    let sysctls = |m: &ModelDriver| m.state().firewall.sysctls.clone();
    for dev in ["v0", "v1"] {
        let s = sysctls(&m);
        assert_eq!(s[&format!("net.ipv4.conf.{dev}.forwarding")], "1");
        assert_eq!(s[&format!("net.ipv6.conf.{dev}.forwarding")], "0");
        assert_eq!(s[&format!("net.ipv6.conf.{dev}.accept_ra")], "1");
    }
    let bridge = Op::CreateLink(crate::netdev::NewLink {
        name: "b0".into(),
        kind: LinkKind::Bridge(Default::default()),
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: None,
    });
    // Deleting one end of the veth takes both.
    for r in m.execute(&[bridge, Op::DeleteLink { name: "v1".into() }]) {
        r.expect("accepted");
    }
    assert_eq!(sysctls(&m).len(), 7, "{:#?}", sysctls(&m));
    // IPv6 forwarding on: every device's follows, as the kernel does it; a deleted
    // device's key written from an older plan is a no-op, as the Linux driver takes it.
    let write = |key: &str| {
        Op::Firewall(Box::new(crate::firewall::FwOp::Sysctl {
            key: key.into(),
            from: Some("0".into()),
            to: "1".into(),
        }))
    };
    let ops = [
        write("net.ipv6.conf.v1.forwarding"),
        write("net.ipv6.conf.all.forwarding"),
    ];
    for r in m.execute(&ops) {
        r.expect("written");
    }
    let s = sysctls(&m);
    assert_eq!(s["net.ipv6.conf.b0.forwarding"], "1");
    assert_eq!(s["net.ipv6.conf.default.forwarding"], "1");
    assert!(!s.contains_key("net.ipv6.conf.v1.forwarding"));
    let refused = m.execute(&[write("net.ipv6.conf.all.nothing")]);
    assert!(refused[0].is_err(), "not a device's key: ENOENT");
}

/// Review finding 9: a link whose IPv6 is disabled refuses IPv6 addresses (EACCES) until
/// its `disable_ipv6` is written back to 0; IPv4 is not affected.
#[test]
fn a_link_with_ipv6_disabled_refuses_ipv6_addresses_until_enabled() {
    let mut s = KernelState::default();
    s.links.insert("e1".into(), link("e1"));
    s.ipv6_disabled.insert("e1".into());
    let mut m = ModelDriver::new(s);
    let v6 = Op::AddAddress(addr("e1", "2001:db8::1/64"));
    let r = m.execute(&[v6.clone(), Op::AddAddress(addr("e1", "192.0.2.1/24"))]);
    assert!(
        matches!(&r[0], Err(DriverError::Rejected { errno, .. }) if *errno == libc::EACCES),
        "{r:?}"
    );
    assert!(r[1].is_ok(), "{r:?}");
    let enable = Op::Firewall(Box::new(crate::firewall::FwOp::Sysctl {
        key: "net.ipv6.conf.e1.disable_ipv6".into(),
        from: Some("1".into()),
        to: "0".into(),
    }));
    for r in m.execute(&[enable, v6]) {
        r.expect("enabled, then added");
    }
    let disable = Op::Firewall(Box::new(crate::firewall::FwOp::Sysctl {
        key: "net.ipv6.conf.e1.disable_ipv6".into(),
        from: Some("0".into()),
        to: "1".into(),
    }));
    for r in m.execute(&[disable]) {
        r.expect("disabled");
    }
    assert!(m.state().ipv6_disabled.contains("e1"));
    // A deleted link's switch goes with it.
    for r in m.execute(&[Op::DeleteLink { name: "e1".into() }]) {
        r.expect("deleted");
    }
    assert!(m.state().ipv6_disabled.is_empty());
}

/// A host with networks on bridges (veth uplinks and extra ports), a bond with a primary,
/// a MAC-VLAN on a veth, secondary addresses and routes preferring them, as the model
/// makes it from a file.
fn batch_host() -> ModelDriver {
    let base = r"
interfaces:
  - {name: hv1, type: veth, veth: {peer: hp1}}
  - {name: hv2, type: veth, veth: {peer: hp2}}
  - {name: hv3, type: veth, veth: {peer: hp3}}
  - {name: x1, type: veth, veth: {peer: y1}, controller: hb1}
  - {name: b0, type: bond, link-aggregation: {mode: active-backup, port: [p1, p2], options: {primary: p1}}}
  - {name: p1, type: veth, veth: {peer: q1}}
  - {name: p2, type: veth, veth: {peer: q2}}
networks:
  - {name: hb1, uplink: hv1, ipv4: {address: [10.0.1.1/24, 10.0.1.2/24], gateway: 10.0.1.254}, source-routing: {table: 1001}}
  - {name: hb2, uplink: hv2, ipv4: {address: [10.0.2.1/24], gateway: 10.0.2.254}, source-routing: {table: 1002}}
  - {name: hb3, uplink: hv3, ipv4: {address: [10.0.3.1/24], gateway: 10.0.3.254}, ipv6: {address: [fd00:3::1/64]}}
";
    // The MAC-VLAN's base must exist before a plan can put one on it.
    let stacked = base.replace(
        "networks:",
        "  - {name: m0, type: mac-vlan, mac-vlan: {base-iface: hp2, mode: bridge}}\nnetworks:",
    );
    let mut m = ModelDriver::fresh_namespace();
    for yaml in [base, stacked.as_str()] {
        let d = crate::model::parse(yaml).expect("parses");
        crate::model::validate(&d).expect("valid");
        let intent = crate::expand::expand(&d).expect("expands");
        let p = crate::plan::plan(&m.query().expect("query"), &intent).expect("plans");
        for phase in &p.phases {
            for (op, r) in phase.iter().zip(m.execute(phase)) {
                r.unwrap_or_else(|e| panic!("{op}: {e}"));
            }
        }
    }
    assert!(m.state().links.contains_key("m0"));
    ModelDriver::new(m.query().expect("query"))
}

/// Runs `ops` once as one call (a run of deletions in one pass) and once op by op, from
/// the same host: both must end in the same state.
fn batch_matches_one_by_one(ops: &[Op]) {
    let (mut batch, mut single) = (batch_host(), batch_host());
    for r in batch.execute(ops) {
        r.expect("batch");
    }
    for op in ops {
        for r in single.execute(std::slice::from_ref(op)) {
            r.expect("single");
        }
    }
    assert_eq!(batch.ops_executed, single.ops_executed);
    let (b, s) = (
        batch.query().expect("query"),
        single.query().expect("query"),
    );
    assert_eq!(b, s, "batch and one-by-one deletions differ");
    assert_ne!(
        b,
        batch_host().query().expect("query"),
        "nothing was deleted"
    );
}

#[test]
fn a_run_of_link_deletions_ends_as_one_by_one() {
    let names = [
        "hb1", "hv2", "hp1", "q1", "b0", "hb3", "m0", "hb2", "x1", "nosuch",
    ];
    let ops: Vec<Op> = names
        .iter()
        .map(|n| Op::DeleteLink { name: (*n).into() })
        .collect();
    batch_matches_one_by_one(&ops);
    // Every prefix too: each stops somewhere else.
    for k in 2..ops.len() {
        batch_matches_one_by_one(&ops[..k]);
    }
}

#[test]
fn a_run_of_address_deletions_ends_as_one_by_one() {
    let m = batch_host();
    let mut ops: Vec<Op> = m
        .state()
        .addresses
        .iter()
        .rev()
        .map(|a| Op::DeleteAddress(a.clone()))
        .collect();
    ops.push(Op::DeleteAddress(addr("hb1", "10.9.9.9/24")));
    for k in 2..=ops.len() {
        batch_matches_one_by_one(&ops[..k]);
    }
}

/// A new bridge has a random locally administered MAC, as the kernel's (6.1 and 6.18:
/// `addr_assign_type` 1); ports whose MAC the state does not know (a test host's NICs)
/// leave it that MAC rather than the zero address, which the kernel gives a bridge only
/// once it has no port; and `show` of the result applies back as nothing to do.
#[test]
fn a_bridge_has_a_mac_that_show_round_trips() {
    let mut s = KernelState::default();
    for n in ["lo", "eth1", "eth2"] {
        s.links.insert(n.into(), link(n));
    }
    let mut m = ModelDriver::new(s);
    let yaml = "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth1}, {name: eth2}]}}\n- {name: br1, type: linux-bridge}\n";
    let intent = |yaml: &str| {
        let d = crate::model::parse(yaml).expect("parses");
        crate::model::validate(&d).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        crate::expand::expand(&d).expect("expands")
    };
    crate::engine::apply(&mut m, &intent(yaml), Default::default(), |_, _| Ok(()))
        .expect("applies");
    for b in ["br0", "br1"] {
        let mac = m.state().links[b].mac.expect("a MAC");
        assert_ne!(mac, MacAddr([0; 6]), "{b}");
        assert_eq!(
            mac.0[0] & 3,
            2,
            "{b}: {mac} is locally administered unicast"
        );
    }
    let shown = serde_yaml_ng::to_string(&crate::show::show(m.state()).document).expect("yaml");
    let again = crate::plan::plan(m.state(), &intent(&shown)).expect("plans");
    assert!(again.is_empty(), "show output changes:\n{again}\n{shown}");
    // The kernel's rule where it can be followed: the lowest port MAC, zero once empty.
    let port = |name: &str, mac: u8| Op::ChangeLink {
        name: name.into(),
        change: crate::netdev::LinkChange {
            mac: Some(MacAddr([0x02, 0, 0, 0, 0, mac])),
            ..Default::default()
        },
    };
    for r in m.execute(&[port("eth1", 9), port("eth2", 8)]) {
        r.expect("accepted");
    }
    assert_eq!(
        m.state().links["br0"].mac,
        Some(MacAddr([0x02, 0, 0, 0, 0, 8]))
    );
    // Its ports gone, the kernel's zero address: `show` leaves it out, so it applies back.
    let release = |name: &str| Op::ChangeLink {
        name: name.into(),
        change: crate::netdev::LinkChange {
            controller: Some(None),
            ..Default::default()
        },
    };
    for r in m.execute(&[release("eth1"), release("eth2")]) {
        r.expect("accepted");
    }
    assert_eq!(m.state().links["br0"].mac, Some(MacAddr([0; 6])));
    let shown = serde_yaml_ng::to_string(&crate::show::show(m.state()).document).expect("yaml");
    let again = crate::plan::plan(m.state(), &intent(&shown)).expect("plans");
    assert!(again.is_empty(), "show output changes:\n{again}\n{shown}");
}

/// The documents of `tests/model_kernel.rs`: networks `a` and `b` with their veth
/// uplinks, `b`'s table being the one that `a`'s teardown by name derives for `a`; and
/// that teardown (the case of the benchmark's dry teardown, where `hb207`'s derived table
/// was `hb30`'s).
fn colliding_teardown() -> (String, crate::expand::Intent) {
    let intent = |yaml: &str| {
        let d = crate::model::parse(yaml).expect("parses");
        crate::model::validate(&d).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        crate::expand::expand(&d).expect("expands")
    };
    let down = intent(
        "interfaces:\n- {name: va, type: veth, state: absent}\n- {name: vb, type: veth, state: absent}\nnetworks:\n- {name: a, state: absent}\n- {name: b, state: absent}\n",
    );
    let guess = down.networks[0].table.expect("a derived table");
    assert!(down.networks[0].table_derived);
    let other = if guess == 1001 { 1002 } else { 1001 };
    let up = format!(
        "interfaces:\n- {{name: va, type: veth, veth: {{peer: pa}}}}\n- {{name: vb, type: veth, veth: {{peer: pb}}}}\nnetworks:\n\
         - {{name: a, uplink: va, ipv4: {{address: [192.0.2.1/24], gateway: 192.0.2.254}}, source-routing: {{table: {other}}}}}\n\
         - {{name: b, uplink: vb, ipv4: {{address: [198.51.100.1/24], gateway: 198.51.100.254}}, source-routing: {{table: {guess}}}}}\n"
    );
    (up, down)
}

/// A teardown by name without the apply's record (a host whose `/run` was emptied) where
/// one removed network's derived table is another's: every rule and route goes, on the
/// model as on the kernel (`tests/model_kernel.rs` runs the same plan on both).
#[test]
fn a_teardown_by_name_whose_guessed_table_is_anothers_leaves_nothing() {
    let (up, down) = colliding_teardown();
    let mut m = ModelDriver::fresh_namespace();
    let d = crate::model::parse(&up).expect("parses");
    crate::engine::apply(
        &mut m,
        &crate::expand::expand(&d).expect("expands"),
        Default::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    assert!(m.state().rules.iter().any(|r| r.protocol == HOSTNET_PROTO));
    crate::engine::apply(&mut m, &down, Default::default(), |_, _| Ok(()))
        .expect("the teardown verifies");
    let s = m.query().expect("query");
    let left: Vec<String> = (s.rules.iter().filter(|r| r.protocol == HOSTNET_PROTO))
        .map(ToString::to_string)
        .chain(
            s.routes
                .iter()
                .filter(|r| r.protocol == HOSTNET_PROTO)
                .map(ToString::to_string),
        )
        .collect();
    assert_eq!(left, Vec::<String>::new());
    assert_eq!(s.links.keys().collect::<Vec<_>>(), ["lo"]);
}
