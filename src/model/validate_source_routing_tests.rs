use crate::model::{parse, validate};

/// The messages of `doc`'s validation errors, as `path: message`.
fn errors(doc: &str) -> Vec<String> {
    let d = parse(doc).expect("parses");
    match validate(&d) {
        Ok(()) => Vec::new(),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

fn assert_one(doc: &str, want: &str) {
    let got = errors(doc);
    assert!(
        got.len() == 1 && got[0].starts_with(want),
        "{doc}\nwant {want}\ngot {got:#?}"
    );
}

fn assert_valid(doc: &str) {
    assert_eq!(errors(doc), Vec::<String>::new(), "{doc}");
}

const NET: &str = "{name: a, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}";

#[test]
fn network_priorities_leave_room_for_the_block() {
    for p in [0, 2, 32766, 40000] {
        assert_one(
            &format!("networks:\n- {NET}, source-routing: {{priority: {p}}}}}\n"),
            &format!("networks[0].source-routing.priority: {p} leaves no room"),
        );
        assert_one(
            &format!("settings: {{source-routing: {{priority: {p}}}}}\nnetworks:\n- {NET}}}\n"),
            "settings.source-routing.priority:",
        );
    }
    for p in [3, 32765] {
        assert_valid(&format!(
            "networks:\n- {NET}, source-routing: {{priority: {p}}}}}\n"
        ));
    }
}

/// The review's bad6.yaml/p4.yaml: a rule of the user's inside the block the file's own
/// networks need (priorities 3198 to 3200 around one network at 3200).
#[test]
fn user_rules_inside_the_networks_block_are_refused() {
    let doc = |p: u32| {
        format!(
            "networks:\n- {NET}}}\nroute-rules:\n  config:\n  - {{ip-from: 10.0.0.0/8, \
             priority: {p}, route-table: 100}}\n"
        )
    };
    for p in [3198, 3199, 3200] {
        assert_one(
            &doc(p),
            &format!(
                "route-rules.config[0].priority: {p} lies inside the ipv4 source-routing block \
                 (3198 to 3201)"
            ),
        );
    }
    for p in [3197, 3201, 5000] {
        assert_valid(&doc(p));
    }
    // Two networks widen the block to the higher one; the other family has none.
    let two = format!(
        "networks:\n- {NET}}}\n- {{name: b, uplink: eth1, ipv4: {{address: [198.51.100.10/24], \
         gateway: 198.51.100.1}}, source-routing: {{priority: 3300}}}}\nroute-rules:\n  config:\n\
         \x20 - {{ip-from: 10.0.0.0/8, priority: 3250, route-table: 100}}\n\
         \x20 - {{ip-from: '2001:db8:9::/64', priority: 3250, route-table: 100}}\n\
         \x20 - {{family: ipv4, priority: 3250, action: blackhole, state: absent}}\n"
    );
    let got = errors(&two);
    assert!(
        got.len() == 1 && got[0].contains("config[0].priority: 3250 lies inside the ipv4"),
        "{got:#?}"
    );
}

/// What only the host decides is left to the planner: a network without source routing,
/// one without a gateway, a DHCP family, an absent network; and a copy of a network's own
/// rule (a boot stack's, without hostnet's protocol) is not someone else's.
#[test]
fn only_networks_that_surely_have_rules_make_a_block() {
    let rule =
        "route-rules:\n  config:\n  - {ip-from: 10.0.0.0/8, priority: 3199, route-table: 100}\n";
    for net in [
        format!("{NET}, source-routing: {{enabled: false}}}}"),
        "{name: a, uplink: eth0, ipv4: {address: [192.0.2.10/24]}}".to_string(),
        "{name: a, uplink: eth0, ipv4: {dhcp: true}}".to_string(),
        "{name: a, state: absent}".to_string(),
    ] {
        assert_valid(&format!("networks:\n- {net}\n{rule}"));
    }
    assert_valid(&format!(
        "networks:\n- {NET}, source-routing: {{table: 1001}}}}\nroute-rules:\n  config:\n  \
         - {{ip-from: 192.0.2.0/24, priority: 3200, route-table: 1001}}\n"
    ));
}

/// The review's p5.yaml and bad6.yaml: a gateway that is its subnet's broadcast or
/// network address (IPv6: the subnet-router anycast address) black-holes the network.
#[test]
fn gateways_that_are_no_host_of_their_subnet_are_refused() {
    let with_gw = |a: &str, gw: &str| {
        let fam = if a.contains(':') { "ipv6" } else { "ipv4" };
        format!("networks:\n- {{name: a, uplink: eth0, {fam}: {{address: ['{a}'], gateway: '{gw}'}}}}\n")
    };
    assert_one(
        &with_gw("198.51.100.10/24", "198.51.100.255"),
        "networks[0].ipv4.gateway: 198.51.100.255 is the broadcast address of the subnet 198.51.100.0/24",
    );
    assert_one(
        &with_gw("203.0.113.5/24", "203.0.113.0"),
        "networks[0].ipv4.gateway: 203.0.113.0 is the network address of the subnet 203.0.113.0/24",
    );
    assert_one(
        &with_gw("2001:db8:1::10/64", "2001:db8:1::"),
        "networks[0].ipv6.gateway: 2001:db8:1:: is the subnet-router anycast address of 2001:db8:1::/64",
    );
    // Point-to-point subnets have neither (RFC 3021, RFC 6164); hosts are fine.
    for (a, gw) in [
        ("192.0.2.0/31", "192.0.2.1"),
        ("192.0.2.1/31", "192.0.2.0"),
        ("2001:db8::1/127", "2001:db8::"),
        ("198.51.100.10/24", "198.51.100.254"),
        ("198.51.100.10/24", "198.51.100.1"),
        ("2001:db8:1::10/64", "2001:db8:1::1"),
    ] {
        assert_valid(&with_gw(a, gw));
    }
}
