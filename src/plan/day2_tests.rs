//! Day-2 changes on the model: each converges in one plan and re-plans to nothing.

use super::tests::{host, intent_of};
use super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, HOSTNET_PROTO, TABLE_MAIN};

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
        text.contains("+ route 0.0.0.0/0 via 192.0.2.1 dev mgmt table 254"),
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
            "route 192.0.2.0/24 dev mgmt table 1001 scope link src 192.0.2.21 proto 201",
            "route 2001:db8:1::/64 dev mgmt table 1001 metric 1024 src 2001:db8:1::21 proto 201"
        ],
        "the first address in the file is the source"
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
