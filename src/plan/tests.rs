//! Plans as snapshots, and the planner's contract on the model driver.

use super::*;
use crate::expand::expand;
use crate::model::{parse, validate};
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, Family, Link, LinkKind, Rule, HOSTNET_PROTO};

pub(crate) fn intent_of(yaml: &str) -> Intent {
    let d = parse(yaml).expect("parses");
    validate(&d).expect("valid");
    expand(&d).expect("expands")
}

/// [`host`] after applying `yaml` through the engine.
pub(crate) fn applied(yaml: &str) -> ModelDriver {
    let mut m = host();
    crate::engine::apply(
        &mut m,
        &intent_of(yaml),
        crate::engine::ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    m
}

/// `show` of `m` as YAML, once it is checked that applying it back plans nothing.
pub(crate) fn shown_applies_to_nothing(m: &ModelDriver) -> String {
    let yaml = serde_yaml_ng::to_string(&crate::show::show(m.state()).document).expect("yaml");
    let d = parse(&yaml).expect("parses");
    validate(&d).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let p = plan(m.state(), &expand(&d).expect("expands")).expect("plans");
    assert!(p.is_empty(), "show output changes:\n{p}\n{yaml}");
    yaml
}

/// A host with `lo` and two NICs, as a fresh test host looks.
pub(crate) fn host() -> ModelDriver {
    let mut m = ModelDriver::fresh_namespace();
    let nics = [("eth0", 1u8), ("eth1", 2u8)];
    let ops: Vec<Op> = nics
        .iter()
        .map(|(n, i)| {
            Op::CreateLink(crate::netdev::NewLink {
                name: (*n).into(),
                kind: LinkKind::Bridge(Default::default()),
                up: true,
                mtu: Some(1500),
                mac: Some(crate::netdev::MacAddr([0x52, 0x54, 0, 0, 0, *i])),
                controller: None,
                peer: None,
            })
        })
        .collect();
    let mut s = m.query().expect("query");
    for op in ops {
        if let Op::CreateLink(l) = op {
            s.links.insert(
                l.name.clone(),
                Link {
                    name: l.name,
                    kind: LinkKind::Ethernet,
                    up: true,
                    mtu: 1500,
                    mac: l.mac,
                    controller: None,
                },
            );
        }
    }
    m = ModelDriver::new(s);
    m
}

fn apply_to(m: &mut ModelDriver, yaml: &str) {
    let p = plan(m.state(), &intent_of(yaml)).expect("plans");
    run(m, &p);
}

fn run(m: &mut ModelDriver, p: &Plan) {
    for phase in &p.phases {
        for r in m.execute(phase) {
            r.expect("model accepts the op");
        }
    }
}

const TWO_NETWORKS: &str = "
networks:
  - name: mgmt
    uplink: eth0
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    default-route: true
    source-routing: {table: 1001}
  - name: storage
    uplink: eth1
    mtu: 9000
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
";

#[test]
fn two_networks_from_scratch() {
    let m = host();
    let p = plan(m.state(), &intent_of(TWO_NETWORKS)).expect("plans");
    insta::assert_snapshot!(p.to_string());
}

#[test]
fn reapply_is_empty_and_writes_nothing() {
    let mut m = host();
    let intent = intent_of(TWO_NETWORKS);
    let p = plan(m.state(), &intent).expect("plans");
    run(&mut m, &p);
    let before = m.ops_executed;
    let again = plan(&m.query().expect("query"), &intent).expect("plans");
    assert!(again.is_empty(), "second plan not empty:\n{again}");
    assert_eq!(m.ops_executed, before);
}

#[test]
fn gateway_change_touches_only_that_route() {
    let mut m = host();
    apply_to(&mut m, TWO_NETWORKS);
    let changed = TWO_NETWORKS.replace("gateway: 198.51.100.1", "gateway: 198.51.100.254");
    let p = plan(&m.query().expect("query"), &intent_of(&changed)).expect("plans");
    insta::assert_snapshot!(p.to_string());
}

#[test]
fn absent_network_removes_what_it_owns_and_nothing_else() {
    let mut m = host();
    apply_to(&mut m, TWO_NETWORKS);
    // Someone else's rule and route that merely look related stay.
    // (Below the networks' block: a foreign rule inside it is refused, see
    // `rule_block::tests`.)
    let foreign_rule = Rule {
        from: Some("192.0.2.0/24".parse().expect("net")),
        ..Rule::lookup(Family::Ipv4, 3000, 77, crate::netdev::PROTO_STATIC)
    };
    m.execute(&[Op::AddRule(foreign_rule.clone())])
        .remove(0)
        .expect("added");
    let removal =
        TWO_NETWORKS.replacen("  - name: mgmt\n", "  - name: mgmt\n    state: absent\n", 1);
    let p = plan(&m.query().expect("query"), &intent_of(&removal)).expect("plans");
    insta::assert_snapshot!(p.to_string());
    run(&mut m, &p);
    let s = m.query().expect("query");
    assert!(s.rules.contains(&foreign_rule));
    assert!(!s.links.contains_key("mgmt"));
    assert!(s.links.contains_key("storage"));
    assert!(s
        .rules
        .iter()
        .all(|r| r.protocol != HOSTNET_PROTO || r.table != 1001));
    assert!(plan(&s, &intent_of(&removal)).expect("plans").is_empty());
}

#[test]
fn derived_table_in_use_by_someone_else_is_an_error() {
    let m = host();
    let intent = intent_of("networks:\n- name: a\n  uplink: eth0\n  ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}\n");
    let table = intent.networks[0].table.expect("table");
    let mut s = m.state().clone();
    s.rules.push(Rule {
        fwmark: Some(1),
        fwmask: Some(u32::MAX),
        ..Rule::lookup(Family::Ipv4, 100, table, crate::netdev::PROTO_STATIC)
    });
    let errs = plan(&s, &intent).expect_err("collides");
    assert_eq!(errs[0].path, "networks[0].source-routing.table");
    assert!(
        errs[0].message.contains("set an explicit table"),
        "{}",
        errs[0]
    );
}

#[test]
fn derived_tables_are_stable_and_distinct() {
    let names: Vec<String> = (0..300).map(|i| format!("n{i}")).collect();
    let yaml: String = std::iter::once("networks:\n".to_string())
        .chain(names.iter().enumerate().map(|(i, n)| {
            format!(
                "- name: {n}\n  ipv4: {{address: [10.{}.{}.10/24], gateway: 10.{}.{}.1}}\n",
                i / 256,
                i % 256,
                i / 256,
                i % 256
            )
        }))
        .collect();
    let a = intent_of(&yaml);
    let b = intent_of(&yaml);
    let tables: std::collections::BTreeSet<u32> =
        a.networks.iter().filter_map(|n| n.table).collect();
    assert_eq!(a, b);
    assert_eq!(tables.len(), 300);
    assert!(tables.iter().all(|t| (1000..=9999).contains(t)));
}

#[test]
fn unmentioned_things_are_left_alone() {
    let mut m = host();
    apply_to(&mut m, TWO_NETWORKS);
    let only_storage = "networks:\n  - name: storage\n    uplink: eth1\n    mtu: 9000\n    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}\n";
    let p = plan(&m.query().expect("query"), &intent_of(only_storage)).expect("plans");
    assert!(p.is_empty(), "{p}");
}

#[test]
fn interfaces_routes_and_rules() {
    let m = host();
    let yaml = "
interfaces:
  - name: br0
    type: linux-bridge
    mtu: 1400
    bridge: {options: {stp: {enabled: true}}, port: [{name: v0}]}
    ipv4: {enabled: true, address: [{ip: 203.0.113.1, prefix-length: 24}]}
  - name: v0
    type: veth
    veth: {peer: v1}
  - name: v1
    type: veth
    state: down
    veth: {peer: v0}
routes:
  config:
    - {destination: 10.0.0.0/8, next-hop-address: 203.0.113.254, next-hop-interface: br0, table-id: 100000, metric: 50}
    - {destination: 0.0.0.0/0, state: absent, table-id: 77}
route-rules:
  config:
    - {ip-from: 203.0.113.0/24, priority: 1000, route-table: 100000}
    - {family: ipv4, fwmark: 0x10, fwmask: 0xff, priority: 1001, route-table: 100000}
";
    let p = plan(m.state(), &intent_of(yaml)).expect("plans");
    insta::assert_snapshot!(p.to_string());
    let mut m = m;
    run(&mut m, &p);
    assert!(plan(&m.query().expect("query"), &intent_of(yaml))
        .expect("plans")
        .is_empty());
}

#[test]
fn exact_port_list_releases_other_ports() {
    let mut m = host();
    let yaml = "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth0}, {name: eth1}]}}\n";
    apply_to(&mut m, yaml);
    let fewer = "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth0}]}}\n";
    let p = plan(&m.query().expect("query"), &intent_of(fewer)).expect("plans");
    assert_eq!(p.to_string(), "~ link eth1 nomaster\n");
}

#[test]
fn wrong_kind_and_missing_uplink_are_errors() {
    let m = host();
    let errs = plan(
        m.state(),
        &intent_of("interfaces:\n- {name: eth0, type: linux-bridge}\n"),
    )
    .expect_err("kind");
    // A NIC is never to be removed for another device (issue 13).
    assert_eq!(
        errs[0].to_string(),
        "interfaces[0]: eth0 exists as an ethernet device, not a linux-bridge; give its type \
         as ethernet (or leave type out), or choose another name for the linux-bridge"
    );
    let errs = plan(
        m.state(),
        &intent_of("networks:\n- {name: a, uplink: nope0}\n"),
    )
    .expect_err("uplink");
    assert_eq!(
        errs[0].to_string(),
        "networks[0].uplink: nope0 does not exist"
    );
}

#[test]
fn someone_elses_default_route_is_reported_or_removed_on_request() {
    let mut m = host();
    apply_to(&mut m, "interfaces:\n- name: eth0\n  type: ethernet\n  ipv4: {enabled: true, address: [{ip: 192.0.2.50, prefix-length: 24}]}\nroutes:\n  config:\n  - {destination: 0.0.0.0/0, next-hop-address: 192.0.2.254, next-hop-interface: eth0}\n");
    let net = "networks:\n- name: a\n  uplink: eth1\n  ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}\n  default-route: true\n";
    let errs = plan(m.state(), &intent_of(net)).expect_err("collides");
    assert!(
        errs[0].to_string().starts_with(
            "networks[0]: the kernel already has route default via 192.0.2.254 dev eth0"
        ),
        "{}",
        errs[0]
    );
    let with_removal = format!("{net}routes:\n  config:\n  - {{destination: 0.0.0.0/0, next-hop-interface: eth0, state: absent}}\n");
    apply_to(&mut m, &with_removal);
    let s = m.query().expect("query");
    assert!(s.routes.iter().all(|r| r.dev.as_deref() != Some("eth0")));
}

#[test]
fn a_partial_file_never_takes_over_an_unmentioned_networks_table() {
    // net350 and net400 both hash to table 8788; in a file with both, net400 probes on to
    // 8789. A file that mentions only net400 derives 8788 for it.
    let mut m = host();
    apply_to(
        &mut m,
        "networks:
  - {name: net350, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}
  - {name: net400, uplink: eth1, ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}}
",
    );
    let owned_350 = |s: &crate::netdev::KernelState| -> usize {
        s.routes
            .iter()
            .filter(|r| r.table == 8788 && r.dev.as_deref() == Some("net350"))
            .count()
            + s.rules.iter().filter(|r| r.table == 8788).count()
    };
    // Two routes and the `from SUBNET` rule.
    assert_eq!(owned_350(m.state()), 3);
    // Removing net400 removes what is on its device and leaves net350's table alone.
    let p = plan(
        m.state(),
        &intent_of("networks:\n  - {name: net400, state: absent}\n"),
    )
    .expect("plans");
    run(&mut m, &p);
    assert_eq!(
        owned_350(m.state()),
        3,
        "net350's table was emptied by a file that does not mention it"
    );
    // A present net400 alone would derive net350's table: refused, with the way out.
    let mut m = host();
    apply_to(
        &mut m,
        "networks:
  - {name: net350, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}
",
    );
    let errs = plan(
        m.state(),
        &intent_of("networks:\n  - {name: net400, uplink: eth1, ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}}\n"),
    )
    .expect_err("refused");
    assert!(
        errs[0].to_string().starts_with(
            "networks[0].source-routing.table: table 8788 of network net400 already holds hostnet's routes for device net350"
        ),
        "{}",
        errs[0]
    );
}

#[test]
fn an_uplink_with_addresses_is_not_stranded_silently() {
    let mut m = host();
    apply_to(
        &mut m,
        "interfaces:\n- name: eth0\n  type: ethernet\n  ipv4: {enabled: true, address: [{ip: 192.0.2.10, prefix-length: 24}]}\n",
    );
    let net = "networks:\n- {name: mgmt, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n";
    let errs = plan(m.state(), &intent_of(net)).expect_err("refused");
    assert!(
        errs[0].to_string().starts_with(
            "networks[0].uplink: eth0 has ipv4 addresses (192.0.2.10/24) that would stop working once it is a port of bridge mgmt"
        ),
        "{}",
        errs[0]
    );
    // Saying what happens to them makes the move one apply.
    apply_to(
        &mut m,
        &format!("{net}interfaces:\n- {{name: eth0, type: ethernet, ipv4: {{enabled: false}}}}\n"),
    );
    let s = m.query().expect("query");
    assert!(s.addresses.iter().all(|a| a.ifname != "eth0"));
    assert!(s.addresses.iter().any(|a| a.ifname == "mgmt"));
}

#[test]
fn dhcp_network_follows_the_lease_in_the_kernel() {
    let mut m = host();
    let net = "networks:\n- {name: lan, uplink: eth0, ipv4: {dhcp: true}, source-routing: {table: 1100}}\n";
    // No lease yet: the bridge, no routes or rules.
    apply_to(&mut m, net);
    assert!(m.state().rules.is_empty());
    // The client configures its lease: address and main default route.
    let lease_ops = [
        Op::AddAddress(crate::netdev::Address::new(
            "lan",
            "192.0.2.50/24".parse().expect("net"),
        )),
        Op::AddRoute(crate::netdev::Route {
            table: 254,
            destination: "0.0.0.0/0".parse().expect("net"),
            gateway: Some("192.0.2.1".parse().expect("ip")),
            dev: Some("lan".into()),
            metric: None,
            scope: crate::netdev::RouteScope::Universe,
            src: None,
            protocol: 16,
            attrs: Default::default(),
        }),
    ];
    run(
        &mut m,
        &Plan {
            phases: vec![lease_ops[..1].to_vec(), lease_ops[1..].to_vec()],
            notes: Vec::new(),
        },
    );
    let p = plan(m.state(), &intent_of(net)).expect("plans");
    insta::assert_snapshot!(p.to_string());
    run(&mut m, &p);
    // The lease goes: so do the table's routes and the rules.
    run(
        &mut m,
        &Plan {
            phases: vec![vec![Op::DeleteAddress(crate::netdev::Address::new(
                "lan",
                "192.0.2.50/24".parse().expect("net"),
            ))]],
            notes: Vec::new(),
        },
    );
    let p = plan(m.state(), &intent_of(net)).expect("plans");
    run(&mut m, &p);
    let s = m.query().expect("query");
    assert!(
        s.rules.is_empty() && s.routes.iter().all(|r| r.table != 1100),
        "{s:#?}"
    );
}

#[test]
fn a_dhcp_lease_too_wide_to_trust_is_refused() {
    let mut m = host();
    let net = "networks:\n- {name: lan, uplink: eth0, ipv4: {dhcp: true}, source-routing: {table: 1100}}\n";
    apply_to(&mut m, net);
    run(
        &mut m,
        &Plan {
            phases: vec![vec![Op::AddAddress(crate::netdev::Address::new(
                "lan",
                "10.1.2.3/8".parse().expect("net"),
            ))]],
            notes: Vec::new(),
        },
    );
    let errs = plan(m.state(), &intent_of(net)).expect_err("refused");
    assert!(
        errs[0].message.contains("must be /16 or longer"),
        "{}",
        errs[0]
    );
}

/// A teardown given by name alone (no record of the apply): each removed network gets a
/// derived table, a guess that can be another removed network's table (at 80 networks of
/// the benchmark's workload, one is). That table's rules must still go with its network.
#[test]
fn a_teardown_by_name_leaves_no_rule_behind() {
    let n = 80;
    let (mut up, mut down) = (String::from("interfaces:\n"), String::from("interfaces:\n"));
    for i in 1..=n {
        up.push_str(&format!(
            "  - {{name: hv{i}, type: veth, veth: {{peer: hp{i}}}}}\n"
        ));
        down.push_str(&format!("  - {{name: hv{i}, type: veth, state: absent}}\n"));
    }
    up.push_str("networks:\n");
    down.push_str("networks:\n");
    for i in 1..=n {
        let p = format!("10.{}.{}", i / 256, i % 256);
        up.push_str(&format!(
            "  - {{name: hb{i}, uplink: hv{i}, ipv4: {{address: [{p}.1/24], gateway: {p}.254}}, \
             source-routing: {{table: {}, priority: 3200}}}}\n",
            1000 + i
        ));
        down.push_str(&format!("  - {{name: hb{i}, state: absent}}\n"));
    }
    let mut m = host();
    for yaml in [&up, &down] {
        let p = plan(&m.query().expect("query"), &intent_of(yaml)).expect("plans");
        for phase in &p.phases {
            for r in m.execute(phase) {
                r.expect("executes");
            }
        }
    }
    let left: Vec<String> = m
        .query()
        .expect("query")
        .rules
        .iter()
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .map(Rule::to_string)
        .collect();
    assert_eq!(left, Vec::<String>::new());
}
