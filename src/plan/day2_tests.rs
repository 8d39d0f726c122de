//! Day-2 changes on the model: each converges in one plan and re-plans to nothing.

use std::collections::BTreeSet;

use super::tests::{host, intent_of};
use super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, Route, HOSTNET_PROTO, TABLE_MAIN};

/// Plans `yaml`, runs the plan on `m` (every op must be accepted) and checks that the
/// result re-plans to nothing. Returns the plan.
fn converge(m: &mut ModelDriver, yaml: &str) -> Plan {
    let intent = intent_of(yaml);
    let p = plan(&m.query().expect("query"), &intent).unwrap_or_else(|e| panic!("{e:?}"));
    for phase in &p.phases {
        for (op, r) in phase.iter().zip(m.execute(phase)) {
            r.unwrap_or_else(|e| panic!("{op}: {e}\nplan:\n{p}"));
        }
    }
    let again = plan(&m.query().expect("query"), &intent).expect("plans");
    assert!(again.is_empty(), "not converged:\n{again}\nafter:\n{p}");
    p
}

const MGMT: &str = "networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    default-route: true
";

#[test]
fn renumbering_the_only_address_adds_back_the_routes_the_kernel_drops() {
    let mut m = host();
    converge(&mut m, MGMT);
    let renumbered = MGMT
        .replace("192.0.2.10/24", "192.0.2.20/24")
        .replace("2001:db8:1::10/64", "2001:db8:1::20/64");
    let p = converge(&mut m, &renumbered);
    let text = p.to_string();
    // The new IPv6 address goes on before the old one leaves; IPv4's cannot (it would be
    // the old one's secondary and go with it).
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle}:\n{text}"))
    };
    assert!(pos("+ address 2001:db8:1::20/64") < pos("- address 2001:db8:1::10/64"));
    assert!(pos("- address 192.0.2.10/24") < pos("+ address 192.0.2.20/24"));
    // The device has no IPv4 address for a moment: its gateway routes are added again.
    assert!(
        text.contains("+ route default via 192.0.2.1 dev mgmt"),
        "{text}"
    );
    let defaults = m
        .state()
        .routes
        .iter()
        .filter(|r| r.destination.prefix_len() == 0 && r.protocol == HOSTNET_PROTO)
        .count();
    assert_eq!(defaults, 4, "{:#?}", m.state().routes);
}

#[test]
fn an_ipv6_on_link_route_with_the_earlier_preferred_source_is_replaced_in_one_apply() {
    let mut m = host();
    converge(&mut m, MGMT);
    // As an earlier release made it (and as a boot stack might have): with `src`.
    let now = m.query().expect("query");
    let plain = now
        .routes
        .iter()
        .find(|r| r.table != TABLE_MAIN && r.destination.addr().is_ipv6() && r.gateway.is_none())
        .expect("the IPv6 on-link route of the network's table")
        .clone();
    let old = Route {
        src: Some("2001:db8:1::10".parse().expect("ip")),
        ..plain.clone()
    };
    for op in [Op::DeleteRoute(plain), Op::AddRoute(old.clone())] {
        m.execute(std::slice::from_ref(&op))
            .into_iter()
            .for_each(|r| r.expect("accepted"));
    }
    let p = converge(&mut m, MGMT);
    assert_eq!(p.len(), 2, "{p}");
    assert!(p.to_string().contains(&format!("- {old}")), "{p}");
}

#[test]
fn renumbering_into_another_subnet_keeps_an_address_on_the_device_throughout() {
    let mut m = host();
    converge(&mut m, MGMT);
    let moved = MGMT
        .replace("192.0.2.10/24", "198.51.100.10/24")
        .replace("gateway: 192.0.2.1", "gateway: 198.51.100.1");
    let p = converge(&mut m, &moved);
    let text = p.to_string();
    let pos = |needle: &str| {
        text.find(needle)
            .unwrap_or_else(|| panic!("{needle}:\n{text}"))
    };
    assert!(pos("+ address 198.51.100.10/24") < pos("- address 192.0.2.10/24"));
    assert!(
        m.state().routes.iter().any(
            |r| r.table == TABLE_MAIN && r.gateway == Some("198.51.100.1".parse().expect("ip"))
        ),
        "{text}"
    );
}

#[test]
fn two_addresses_in_one_subnet_get_one_on_link_route_and_one_pair_of_rules() {
    let mut m = host();
    let yaml = "networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [192.0.2.21/24, 192.0.2.20/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::21/64', '2001:db8:1::20/64'], gateway: '2001:db8:1::1'}
    source-routing: {table: 1001}
";
    converge(&mut m, yaml);
    let s = m.state();
    let on_link: Vec<String> = s
        .routes
        .iter()
        .filter(|r| r.table == 1001 && r.gateway.is_none())
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        on_link,
        [
            "route 192.0.2.0/24 dev mgmt table 1001 src 192.0.2.21",
            "route 2001:db8:1::/64 dev mgmt table 1001"
        ],
        "the first IPv4 address in the file is the source; IPv6 on-link routes have none"
    );
    // The rules are those of one address per subnet, once (whatever rules a subnet gets).
    let mut single = host();
    converge(
        &mut single,
        &yaml
            .replace("192.0.2.21/24, 192.0.2.20/24", "192.0.2.21/24")
            .replace(
                "'2001:db8:1::21/64', '2001:db8:1::20/64'",
                "'2001:db8:1::21/64'",
            ),
    );
    assert_eq!(s.rules, single.state().rules);
    // Reordering the file moves the source.
    converge(
        &mut m,
        &yaml.replace(
            "192.0.2.21/24, 192.0.2.20/24",
            "192.0.2.20/24, 192.0.2.21/24",
        ),
    );
    assert!(m
        .state()
        .routes
        .iter()
        .any(|r| r.src == Some("192.0.2.20".parse().expect("ip"))));
}

/// A host with a record of what was applied to it, as `hostnet apply` keeps it.
struct Host {
    m: ModelDriver,
    applied: crate::engine::applied::Applied,
}

impl Host {
    fn new() -> Host {
        Host {
            m: host(),
            applied: Default::default(),
        }
    }

    fn intent(&self, yaml: &str) -> crate::expand::Intent {
        let d = crate::model::parse(yaml).expect("parses");
        crate::model::validate(&d).expect("valid");
        self.applied.intent_for(&d).expect("expands")
    }

    /// Plans with the record, runs, checks convergence, records.
    fn apply(&mut self, yaml: &str) -> Plan {
        let intent = self.intent(yaml);
        let p = plan(&self.m.query().expect("query"), &intent).unwrap_or_else(|e| panic!("{e:?}"));
        for phase in &p.phases {
            for (op, r) in phase.iter().zip(self.m.execute(phase)) {
                r.unwrap_or_else(|e| panic!("{op}: {e}\nplan:\n{p}"));
            }
        }
        let again = plan(&self.m.query().expect("query"), &intent).expect("plans");
        assert!(again.is_empty(), "not converged:\n{again}\nafter:\n{p}");
        self.applied.merge(&intent);
        p
    }

    fn refused(&self, yaml: &str) -> Vec<PlanError> {
        plan(self.m.state(), &self.intent(yaml)).expect_err("refused")
    }

    fn tagged(&self) -> usize {
        let s = self.m.state();
        s.routes
            .iter()
            .filter(|r| r.protocol == HOSTNET_PROTO)
            .count()
            + s.rules
                .iter()
                .filter(|r| r.protocol == HOSTNET_PROTO)
                .count()
    }
}

const VMBR0: &str = "networks:
  - name: mgmt
    bridge: vmbr0
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    default-route: true
    source-routing: {table: 1234, priority: 3100}
";

#[test]
fn a_network_removed_by_name_alone_takes_its_bridge_table_and_rules() {
    let mut h = Host::new();
    h.apply(VMBR0);
    assert!(h.tagged() > 0);
    let p = h.apply("networks:\n  - {name: mgmt, state: absent}\n");
    assert!(p.notes.is_empty(), "{:?}", p.notes);
    let s = h.m.state();
    assert!(!s.links.contains_key("vmbr0"), "{p}");
    assert_eq!(s.links["eth0"].controller, None);
    assert_eq!(h.tagged(), 0, "{p}");
    // Again: nothing left, nothing said.
    let p = h.apply("networks:\n  - {name: mgmt, state: absent}\n");
    assert!(p.is_empty() && p.notes.is_empty(), "{p}{:?}", p.notes);
}

#[test]
fn a_removal_nothing_is_found_of_says_so() {
    // Applied without a record (an older hostnet): the name alone does not find vmbr0.
    let mut h = Host::new();
    h.apply(VMBR0);
    h.applied = Default::default();
    let intent = h.intent("networks:\n  - {name: mgmt, state: absent}\n");
    let p = plan(h.m.state(), &intent).expect("plans");
    assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
    assert!(
        p.notes[0].starts_with("networks[0] (mgmt): there is no device mgmt, and hostnet has no record of this network here"),
        "{}",
        p.notes[0]
    );
    // Giving the bridge and table finds them.
    h.apply("networks:\n  - {name: mgmt, state: absent, bridge: vmbr0, source-routing: {table: 1234}}\n");
    assert!(!h.m.state().links.contains_key("vmbr0"));
    assert_eq!(h.tagged(), 0);
}

#[test]
fn a_bridgeless_network_moves_to_another_nic() {
    let mut h = Host::new();
    let on = |nic: &str| {
        format!("networks:\n  - {{name: mgmt, uplink: {nic}, bridged: false, ipv4: {{address: [192.0.2.10/24], gateway: 192.0.2.1}}, default-route: true}}\n")
    };
    h.apply(&on("eth0"));
    h.apply(&on("eth1"));
    let s = h.m.state();
    assert!(
        s.addresses.iter().all(|a| a.ifname != "eth0"),
        "{:#?}",
        s.addresses
    );
    assert!(s
        .routes
        .iter()
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .all(|r| r.dev.as_deref() == Some("eth1")));
    // ... and into a bridge on the NIC it had.
    h.apply("networks:\n  - {name: mgmt, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, default-route: true}\n");
    let s = h.m.state();
    assert!(
        s.addresses.iter().all(|a| a.ifname == "mgmt"),
        "{:#?}",
        s.addresses
    );
    assert_eq!(s.links["eth0"].controller.as_deref(), Some("mgmt"));
}

/// Finding F11: the moving network's routes on the NIC it leaves, in its own table, are
/// its own even though another network takes that NIC in the same file.
#[test]
fn a_network_moves_off_a_nic_another_network_takes() {
    let mut h = Host::new();
    h.apply("networks:\n  - {name: mgmt, uplink: eth0, bridged: false, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n");
    let table = |h: &Host| {
        let t: BTreeSet<u32> =
            h.m.state()
                .rules
                .iter()
                .filter(|r| r.protocol == HOSTNET_PROTO && r.table > 255)
                .map(|r| r.table)
                .collect();
        assert_eq!(t.len(), 1, "{t:?}");
        t.into_iter().next().expect("one")
    };
    let before = table(&h);
    h.apply("networks:\n  - {name: lab, uplink: eth0, bridged: false, ipv4: {address: [198.51.100.10/24]}}\n  - {name: mgmt, uplink: eth1, bridged: false, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n");
    // mgmt keeps its table and its rules; its routes there moved to eth1.
    assert_eq!(table(&h), before);
    let s = h.m.state();
    let in_table: Vec<_> = s.routes.iter().filter(|r| r.table == before).collect();
    assert!(!in_table.is_empty());
    assert!(
        in_table.iter().all(|r| r.dev.as_deref() == Some("eth1")),
        "{in_table:#?}"
    );
}

/// Finding F9: a bridgeless network removed and another taking its NIC in one file; the
/// removed one takes only what is its own (its table), the new one keeps its routes and
/// the address they share.
#[test]
fn a_removed_bridgeless_network_hands_its_nic_over() {
    let mut h = Host::new();
    h.apply("networks:\n  - {name: old, uplink: eth0, bridged: false, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, default-route: true}\n");
    h.apply("networks:\n  - {name: old, uplink: eth0, bridged: false, state: absent}\n  - {name: new, uplink: eth0, bridged: false, ipv4: {address: [192.0.2.10/24, 198.51.100.10/24], gateway: 198.51.100.1}, default-route: true}\n");
    let s = h.m.state();
    let on_eth0: BTreeSet<String> = s
        .addresses
        .iter()
        .filter(|a| a.ifname == "eth0")
        .map(|a| a.addr.to_string())
        .collect();
    assert_eq!(on_eth0.len(), 2, "{on_eth0:?}");
    assert!(s.routes.iter().any(|r| r.table == TABLE_MAIN
        && r.protocol == HOSTNET_PROTO
        && r.gateway == Some("198.51.100.1".parse().expect("ip"))));
    assert!(
        !s.routes
            .iter()
            .any(|r| r.gateway == Some("192.0.2.1".parse().expect("ip"))),
        "{:#?}",
        s.routes
    );
}

#[test]
fn a_bridged_network_changes_uplink_and_keeps_guests_ports() {
    let mut h = Host::new();
    let with = |nic: &str| {
        format!("networks:\n  - {{name: mgmt, uplink: {nic}, ipv4: {{address: [192.0.2.10/24], gateway: 192.0.2.1}}}}\n")
    };
    h.apply(&with("eth0"));
    // A guest's tap joins the bridge behind hostnet's back.
    let tap = Op::CreateLink(crate::netdev::NewLink {
        name: "vnet0".into(),
        kind: crate::netdev::LinkKind::Veth {
            peer: Some("vnet0p".into()),
        },
        up: true,
        mtu: None,
        mac: None,
        controller: Some("mgmt".into()),
        peer: Some(Default::default()),
    });
    for r in h.m.execute(&[tap]) {
        r.expect("tap");
    }
    let p = h.apply(&with("eth1"));
    let s = h.m.state();
    assert_eq!(s.links["eth0"].controller, None, "{p}");
    assert_eq!(s.links["eth1"].controller.as_deref(), Some("mgmt"));
    assert_eq!(s.links["vnet0"].controller.as_deref(), Some("mgmt"));
    // Without an uplink the old one leaves too, but a gateway needs a port: the guest's
    // counts.
    h.apply("networks:\n  - {name: mgmt, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n");
    assert_eq!(h.m.state().links["eth1"].controller, None);
}

#[test]
fn a_new_priority_replaces_the_old_rules() {
    let mut h = Host::new();
    h.apply(VMBR0);
    let before: Vec<u32> = h.m.state().rules.iter().map(|r| r.priority).collect();
    assert!(before.contains(&3100));
    h.apply(&VMBR0.replace("priority: 3100", "priority: 3300"));
    let mut tagged: Vec<u32> =
        h.m.state()
            .rules
            .iter()
            .filter(|r| r.protocol == HOSTNET_PROTO)
            .map(|r| r.priority)
            .collect();
    tagged.sort();
    tagged.dedup();
    // The network's rules at 3300, the block around them (P-2, P-1, Q+1), nothing at 3100.
    assert_eq!(tagged, vec![3298, 3299, 3300, 3301]);
}

#[test]
fn a_stray_tagged_rule_outside_any_table_goes_with_the_block() {
    // A tagged rule that looks up no network's table belongs to the block around the
    // networks' rules, which is planned as a whole: one that is not the block's goes,
    // once, whichever networks move.
    let mut h = Host::new();
    let two = "networks:
  - {name: a, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}
  - {name: b, uplink: eth1, ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}}
";
    h.apply(two);
    let stray = crate::netdev::Rule {
        iif: Some("lo".into()),
        ..crate::netdev::Rule::lookup(crate::netdev::Family::Ipv4, 3200, TABLE_MAIN, HOSTNET_PROTO)
    };
    for r in h.m.execute(&[Op::AddRule(stray.clone())]) {
        r.expect("rule");
    }
    let a_moves = "networks:\n  - {name: a, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, source-routing: {priority: 3300}}\n";
    let p = plan(h.m.state(), &h.intent(a_moves)).expect("plans");
    let text = p.to_string();
    assert_eq!(text.matches("iif lo lookup main").count(), 1, "{p}");
    assert!(
        text.contains("- rule ipv4 priority 3200 iif lo lookup main"),
        "{p}"
    );
}

#[test]
fn a_listed_network_is_described_completely() {
    let mut h = Host::new();
    let full = "networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    default-route: true
";
    h.apply(full);
    // Without ipv6: no IPv6 address, routes or rules.
    h.apply(&full.replace(
        "    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}\n",
        "",
    ));
    let s = h.m.state();
    assert!(
        s.addresses.iter().all(|a| a.addr.addr().is_ipv4()),
        "{:#?}",
        s.addresses
    );
    assert!(s.routes.iter().all(|r| r.destination.addr().is_ipv4()));
    // Without default-route: the host's default route goes.
    h.apply(&full.replace("    default-route: true\n", ""));
    assert!(h.m.state().routes.iter().all(|r| r.table != TABLE_MAIN));
    // Without uplink or gateway: the uplink leaves the bridge.
    h.apply("networks:\n  - {name: mgmt, ipv4: {address: [192.0.2.10/24]}}\n");
    assert_eq!(h.m.state().links["eth0"].controller, None);
    assert_eq!(h.tagged(), 0);
    // Without ipv4: no address at all.
    h.apply("networks:\n  - {name: mgmt}\n");
    assert!(h.m.state().addresses.iter().all(|a| a.ifname != "mgmt"));
}

#[test]
fn what_the_kernel_would_take_but_leave_useless_is_refused() {
    let mut h = Host::new();
    let errs = h.refused(
        "networks:\n  - {name: t, uplink: eth0, ipv4: {address: [10.10.0.1/24]}, firewall: {masquerade: {out-interface: wan9}}}\n",
    );
    let masq = errs
        .iter()
        .find(|e| e.path == "networks[0].firewall.masquerade.out-interface")
        .unwrap_or_else(|| panic!("{errs:?}"));
    assert!(masq.message.starts_with("wan9 does not exist"), "{masq}");
    let errs = h.refused(
        "networks:\n  - {name: t, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n",
    );
    assert_eq!(errs[0].path, "networks[0].uplink");
    assert!(errs[0].message.contains("has no port"), "{}", errs[0]);
    h.apply("interfaces:\n  - {name: v0, type: veth, veth: {peer: v1}}\n");
    let errs = h.refused(
        "interfaces:\n  - {name: v0, type: veth, state: absent}\nroutes:\n  config:\n    - {destination: 10.0.0.0/8, next-hop-interface: v1}\n",
    );
    assert_eq!(errs[0].path, "routes.config[0].next-hop-interface");
    assert!(errs[0].message.starts_with("v1 is removed"), "{}", errs[0]);
}

#[test]
fn a_networks_vlan_device_goes_when_its_vlan_changes_or_it_is_removed() {
    let mut h = Host::new();
    let vlan = |id: u32| {
        format!("networks:\n  - {{name: tenant, uplink: eth0, vlan: {id}, ipv4: {{address: [198.51.100.10/24], gateway: 198.51.100.1}}}}\n")
    };
    h.apply(&vlan(100));
    assert_eq!(
        h.m.state().links["eth0.100"].controller.as_deref(),
        Some("tenant")
    );
    h.apply(&vlan(200));
    let s = h.m.state();
    assert!(!s.links.contains_key("eth0.100"), "{:#?}", s.links.keys());
    assert_eq!(s.links["eth0.200"].controller.as_deref(), Some("tenant"));
    h.apply("networks:\n  - {name: tenant, state: absent}\n");
    let s = h.m.state();
    assert!(!s.links.contains_key("eth0.200") && !s.links.contains_key("tenant"));
    assert!(s.links.contains_key("eth0"));
    assert_eq!(h.tagged(), 0);
}

/// A failure at any op of a day-2 change leaves the host exactly as it was: the routes
/// the kernel dropped with an address come back with the rollback too.
#[test]
fn a_failure_anywhere_in_a_day2_change_restores_the_host_exactly() {
    let base = |yaml: &str| {
        let mut h = Host::new();
        h.apply(yaml);
        h
    };
    let renumbered = MGMT
        .replace("192.0.2.10/24", "192.0.2.20/24")
        .replace("2001:db8:1::10/64", "2001:db8:1::20/64");
    let moved = VMBR0.replace("uplink: eth0", "uplink: eth1");
    let changes = [
        (MGMT, renumbered.as_str()),
        (VMBR0, "networks:\n  - {name: mgmt, state: absent}\n"),
        (VMBR0, moved.as_str()),
        (VMBR0, &VMBR0.replace("priority: 3100", "priority: 3300")),
    ];
    for (from, to) in changes {
        let h = base(from);
        let intent = h.intent(to);
        let p = crate::engine::tests::fail_at_every_op(|| base(from).m, &intent, |s| s);
        assert!(!p.is_empty(), "{to}");
    }
}

#[test]
fn a_rollback_that_removes_the_last_address_adds_back_the_routes_it_keeps() {
    // After a crash: the device has the new address only, the target the old one; both
    // have the gateway route, which the kernel drops when the new address goes.
    let mut m = host();
    converge(&mut m, MGMT);
    let target = m.query().expect("query");
    converge(&mut m, &MGMT.replace("192.0.2.10/24", "192.0.2.20/25"));
    let current = m.query().expect("query");
    let p = restore_plan(&current, &target);
    for phase in &p.phases {
        for (op, r) in phase.iter().zip(m.execute(phase)) {
            r.unwrap_or_else(|e| panic!("{op}: {e}\n{p}"));
        }
    }
    assert_eq!(m.query().expect("query"), target, "{p}");
}
