//! The checks of `dhcp-server`, field by field.

use crate::model::{parse, validate};

fn errors(server: &str) -> Vec<String> {
    let yaml = format!(
        "networks:\n  - name: t1\n    ipv4: {{address: [10.10.0.1/24]}}\n    dhcp-server: {server}\n"
    );
    match parse(&yaml) {
        Err(e) => vec![e.to_string()],
        Ok(d) => validate(&d)
            .err()
            .map(|e| e.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    }
}

fn refused(server: &str, expected: &str) {
    let e = errors(server);
    assert!(
        e.iter().any(|m| m.starts_with(expected)),
        "{server}: expected {expected}, got {e:?}"
    );
}

#[test]
fn a_complete_server_is_valid() {
    assert_eq!(
        errors(
            "{range: {start: 10.10.0.100, end: 10.10.0.200}, lease-time: 1h, router: none, \
             dns-servers: [10.10.0.1], domain: t1.example, mtu: 1450, \
             hosts: [{mac: '52:54:00:12:34:56', ip: 10.10.0.5, hostname: vm1}]}"
        ),
        Vec::<String>::new()
    );
    assert!(errors("{}").is_empty());
    assert!(errors("{lease-time: infinite}").is_empty());
    assert!(errors("{lease-time: 7200}").is_empty());
    // Near the keywords and lease times, but hostnames to dnsmasq.
    for ok in ["ignored", "vm2m", "2mm", "m2", "infinity", "2x"] {
        assert!(
            errors(&format!(
                "{{hosts: [{{mac: '52:54:00:12:34:56', ip: 10.10.0.5, hostname: {ok}}}]}}"
            ))
            .is_empty(),
            "{ok}"
        );
    }
}

#[test]
fn hostile_hostnames_and_domains_are_refused() {
    for bad in [
        "\"vm1\\nport=0\"",
        "\"vm1,10.10.0.9\"",
        "\"vm#1\"",
        "\"vm 1\"",
        "\"-vm\"",
        "\"\"",
        "\"vm1.t1\"",
        "\"vm\\u00e9\"",
        &"a".repeat(64),
        "ignore",
        "IGNORE",
        "Infinite",
        "\"2m\"",
        "\"90\"",
        "\"12H\"",
        "\"3w\"",
    ] {
        refused(
            &format!("{{hosts: [{{mac: '52:54:00:12:34:56', ip: 10.10.0.5, hostname: {bad}}}]}}"),
            "networks[0].dhcp-server.hosts[0].hostname:",
        );
    }
    for bad in [
        "\"a..b\"",
        "\"x.example\\nserver=1.2.3.4\"",
        "\"a,b\"",
        "\"/x/\"",
    ] {
        refused(
            &format!("{{domain: {bad}}}"),
            "networks[0].dhcp-server.domain:",
        );
    }
}

#[test]
fn values_are_checked_field_by_field() {
    refused("{lease-time: 1x}", "networks[0].dhcp-server.lease-time:");
    refused("{lease-time: 60s}", "networks[0].dhcp-server.lease-time:");
    refused(
        "{lease-time: \"1h,static\"}",
        "networks[0].dhcp-server.lease-time:",
    );
    refused(
        "{router: \"10.10.0.1,evil\"}",
        "networks[0].dhcp-server.router:",
    );
    refused("{router: 224.0.0.1}", "networks[0].dhcp-server.router:");
    refused(
        "{router: 10.20.0.1}",
        "networks[0].dhcp-server.router: 10.20.0.1 is outside",
    );
    refused(
        "{router: 10.10.0.0}",
        "networks[0].dhcp-server.router: 10.10.0.0 is not a host address",
    );
    refused(
        "{router: 10.10.0.255}",
        "networks[0].dhcp-server.router: 10.10.0.255 is not a host address",
    );
    assert!(errors("{router: 10.10.0.254}").is_empty());
    refused("{mtu: 20}", "networks[0].dhcp-server.mtu:");
    refused(
        "{dns-servers: [0.0.0.0]}",
        "networks[0].dhcp-server.dns-servers[0]:",
    );
    refused(
        "{dns-servers: [\"10.0.0.1,8.8.8.8\"]}",
        "networks[0].dhcp-server.dns-servers[0]",
    );
    refused(
        "{range: {start: 10.10.1.100, end: 10.10.0.200}}",
        "networks[0].dhcp-server.range.start: 10.10.1.100 is outside",
    );
    refused(
        "{range: {start: 10.10.0.200, end: 10.10.0.100}}",
        "networks[0].dhcp-server.range: start",
    );
    refused(
        "{range: {start: 10.10.0.100, end: 10.10.0.255}}",
        "networks[0].dhcp-server.range.end: 10.10.0.255 is not a host address",
    );
    let two = |a: &str, b: &str| format!("{{hosts: [{a}, {b}]}}");
    refused(
        &two(
            "{mac: '52:54:00:00:00:01', ip: 10.10.0.5}",
            "{mac: '52:54:00:00:00:01', ip: 10.10.0.6}",
        ),
        "networks[0].dhcp-server.hosts[1].mac: 52:54:00:00:00:01 is already declared",
    );
    refused(
        &two(
            "{mac: '52:54:00:00:00:01', ip: 10.10.0.5}",
            "{mac: '52:54:00:00:00:02', ip: 10.10.0.5}",
        ),
        "networks[0].dhcp-server.hosts[1].ip: 10.10.0.5 is already declared",
    );
    refused(
        "{hosts: [{mac: '52:54:00:00:00:01', ip: 10.20.0.5}]}",
        "networks[0].dhcp-server.hosts[0].ip: 10.20.0.5 is outside",
    );
    refused(
        "{hosts: [{mac: '52:54:00:00:00:01', ip: 10.10.0.1}]}",
        "networks[0].dhcp-server.hosts[0].ip: 10.10.0.1 is the network's own address",
    );
    refused(
        "{hosts: [{mac: '01:00:5e:00:00:01', ip: 10.10.0.7}]}",
        "networks[0].dhcp-server.hosts[0].mac:",
    );
    refused(
        "{hosts: [{mac: '52:54:00:00:00:0g', ip: 10.10.0.7}]}",
        "networks[0].dhcp-server.hosts[0]: \"52:54:00:00:00:0g\" is not a MAC",
    );
    refused(
        "{bogus: 1}",
        "networks[0].dhcp-server: unknown field `bogus`",
    );
}

#[test]
fn device_names_dnsmasq_reads_as_lists_or_wildcards_are_refused() {
    for (net, path) in [
        ("{name: t1, bridge: 't1,eth0'", "networks[0].bridge:"),
        ("{name: 't*'", "networks[0].name:"),
        (
            "{name: t1, bridged: false, uplink: 'eth*'",
            "networks[0].uplink:",
        ),
        (
            "{name: t1, bridged: false, uplink: 'a,b'",
            "networks[0].uplink:",
        ),
    ] {
        let yaml = format!(
            "networks:\n  - {net}, ipv4: {{address: [10.10.0.1/24]}}, dhcp-server: {{}}}}\n"
        );
        let d = parse(&yaml).expect("parses");
        let e = validate(&d).expect_err("invalid").to_string();
        assert!(
            e.contains(&format!("{path} \"")) && e.contains("list or wildcard"),
            "{yaml}: {e}"
        );
    }
}

#[test]
fn a_server_needs_a_static_ipv4_address_and_a_present_network() {
    let d = parse("networks:\n  - {name: t1, ipv4: {dhcp: true}, uplink: eth0, dhcp-server: {}}\n")
        .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    assert!(
        e.contains("networks[0].dhcp-server: a DHCP server needs a static IPv4"),
        "{e}"
    );
    let d = parse("networks:\n  - {name: t1, state: absent, dhcp-server: {}}\n").expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    assert!(
        e.contains("networks[0].dhcp-server: a network with state: absent"),
        "{e}"
    );
}

fn errors6(ipv6: &str, server: &str) -> Vec<String> {
    let yaml = format!(
        "networks:\n  - name: t1\n    mtu: 1500\n    ipv4: {{address: [10.10.0.1/24]}}\n    ipv6: {{address: [\"{ipv6}\"]}}\n    dhcp-server: {server}\n"
    );
    match parse(&yaml) {
        Err(e) => vec![e.to_string()],
        Ok(d) => validate(&d)
            .err()
            .map(|e| e.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default(),
    }
}

fn refused6(server: &str, expected: &str) {
    let e = errors6("2001:db8:10::1/64", server);
    assert!(
        e.iter().any(|m| m.starts_with(expected)),
        "{server}: expected {expected}, got {e:?}"
    );
}

#[test]
fn complete_ipv6_servers_are_valid() {
    for ok in [
        "{ipv6: {ra: slaac}}",
        "{ipv6: {ra: stateless, dns-servers: ['2001:db8:10::1'], domain-search: [t1.example, example]}}",
        "{ipv6: {ra: stateful, range: {start: '2001:db8:10::100', end: '2001:db8:10::1ff'}, \
          lease-time: 2h, mtu: 1400, ra-interval: 60, router-lifetime: 0}, \
          hosts: [{mac: '52:54:00:12:34:56', ip: 10.10.0.5, ipv6: '2001:db8:10::5', hostname: vm1}, \
                  {duid: '00:02:00:00:ab:11:01:02', ipv6: '2001:db8:10::7', hostname: vm7}]}",
        "{ipv6: {ra: stateful, ra-interval: 4, router-lifetime: 9000}}",
    ] {
        assert_eq!(errors6("2001:db8:10::1/64", ok), Vec::<String>::new(), "{ok}");
    }
    // A longer prefix serves stateful DHCPv6.
    assert!(errors6("2001:db8:10::1/112", "{ipv6: {ra: stateful}}").is_empty());
}

#[test]
fn an_ipv6_only_server_is_valid_and_refuses_ipv4_settings() {
    let doc = |server: &str| {
        format!(
            "networks:\n  - name: t1\n    ipv6: {{address: ['fd00:10::1/64']}}\n    dhcp-server: {server}\n"
        )
    };
    let errs = |server: &str| -> Vec<String> {
        validate(&parse(&doc(server)).expect("parses"))
            .err()
            .map(|e| e.0.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    };
    assert!(errs(
        "{ipv6: {ra: stateful}, hosts: [{mac: '52:54:00:12:34:56', ipv6: 'fd00:10::5'}]}"
    )
    .is_empty());
    for (server, path) in [
        (
            "{ipv6: {ra: slaac}, range: {start: 10.0.0.2, end: 10.0.0.3}}",
            "range",
        ),
        ("{ipv6: {ra: slaac}, router: none}", "router"),
        ("{ipv6: {ra: slaac}, lease-time: 1h}", "lease-time"),
        (
            "{ipv6: {ra: slaac}, dns-servers: [10.0.0.1]}",
            "dns-servers",
        ),
        ("{ipv6: {ra: slaac}, mtu: 1400}", "mtu"),
        (
            "{ipv6: {ra: stateful}, hosts: [{mac: '52:54:00:12:34:56', ip: 10.0.0.5}]}",
            "hosts[0].ip",
        ),
    ] {
        let e = errs(server);
        let want = format!("networks[0].dhcp-server.{path}: ");
        assert!(
            e.iter()
                .any(|m| m.starts_with(&want) && m.contains("no static IPv4")),
            "{server}: {e:?}"
        );
    }
    // Neither family: nothing to serve.
    let d =
        parse("networks:\n  - {name: t1, ipv6: {address: ['fd00:10::1/64']}, dhcp-server: {}}\n")
            .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    assert!(e.contains("or an `ipv6` section"), "{e}");
}

#[test]
fn ipv6_values_are_checked_field_by_field() {
    let p = "networks[0].dhcp-server.ipv6";
    refused6(
        "{ipv6: {ra: dhcp}}",
        "networks[0].dhcp-server.ipv6.ra: unknown variant",
    );
    refused6(
        "{ipv6: {}}",
        "networks[0].dhcp-server.ipv6: missing field `ra`",
    );
    refused6(
        "{ipv6: {ra: slaac, bogus: 1}}",
        "networks[0].dhcp-server.ipv6: unknown field `bogus`",
    );
    refused6(
        "{ipv6: {ra: slaac, range: {start: '2001:db8:10::100', end: '2001:db8:10::1ff'}}}",
        &format!("{p}.range: a DHCPv6 range needs ra: stateful"),
    );
    refused6(
        "{ipv6: {ra: stateful, range: {start: '2001:db8:11::100', end: '2001:db8:10::1ff'}}}",
        &format!("{p}.range.start: 2001:db8:11::100 is outside"),
    );
    refused6(
        "{ipv6: {ra: stateful, range: {start: '2001:db8:10::', end: '2001:db8:10::1ff'}}}",
        &format!("{p}.range.start: 2001:db8:10:: is the subnet-router anycast"),
    );
    refused6(
        "{ipv6: {ra: stateful, range: {start: '2001:db8:10::200', end: '2001:db8:10::1ff'}}}",
        &format!("{p}.range: start"),
    );
    refused6(
        "{ipv6: {ra: slaac, lease-time: 60}}",
        &format!("{p}.lease-time:"),
    );
    refused6(
        "{ipv6: {ra: slaac, dns-servers: ['::']}}",
        &format!("{p}.dns-servers[0]:"),
    );
    refused6(
        "{ipv6: {ra: slaac, dns-servers: ['ff02::1']}}",
        &format!("{p}.dns-servers[0]:"),
    );
    refused6(
        "{ipv6: {ra: slaac, dns-servers: ['2001:db8::1,2001:db8::2']}}",
        "networks[0].dhcp-server.ipv6.dns-servers[0]",
    );
    refused6(
        "{ipv6: {ra: slaac, domain-search: ['a,b']}}",
        &format!("{p}.domain-search[0]:"),
    );
    refused6(
        "{ipv6: {ra: slaac, domain-search: [\"x.example\\nserver=1.2.3.4\"]}}",
        &format!("{p}.domain-search[0]:"),
    );
    refused6(
        "{ipv6: {ra: slaac, mtu: 1200}}",
        &format!("{p}.mtu: 1200 is outside"),
    );
    refused6(
        "{ipv6: {ra: slaac, mtu: 9000}}",
        &format!("{p}.mtu: 9000 is above the network's MTU 1500"),
    );
    refused6(
        "{ipv6: {ra: slaac, ra-interval: 3}}",
        &format!("{p}.ra-interval: 3 is outside"),
    );
    refused6(
        "{ipv6: {ra: slaac, ra-interval: 1801}}",
        &format!("{p}.ra-interval:"),
    );
    refused6(
        "{ipv6: {ra: slaac, ra-interval: 60, router-lifetime: 30}}",
        &format!("{p}.router-lifetime: 30 is neither 0"),
    );
    refused6(
        "{ipv6: {ra: slaac, router-lifetime: 9001}}",
        &format!("{p}.router-lifetime:"),
    );
}

#[test]
fn the_ipv6_prefix_must_suit_the_mode() {
    let p = "networks[0].dhcp-server.ipv6";
    // The prefix: /64 for SLAAC, /64 to /120 for DHCPv6, never link-local.
    let e = errors6("2001:db8:10::1/56", "{ipv6: {ra: slaac}}");
    assert!(
        e.iter()
            .any(|m| m.starts_with(&format!("{p}.ra: slaac needs a /64"))),
        "{e:?}"
    );
    let e = errors6("2001:db8:10::1/48", "{ipv6: {ra: stateful}}");
    assert!(
        e.iter()
            .any(|m| m.starts_with(&format!("{p}.ra: stateful DHCPv6 needs"))),
        "{e:?}"
    );
    let e = errors6("fe80::1/64", "{ipv6: {ra: slaac}}");
    assert!(
        e.iter()
            .any(|m| m.starts_with(&format!("{p}: the network's first IPv6 address"))),
        "{e:?}"
    );
    // No IPv6 address at all.
    let d = parse("networks:\n  - {name: t1, ipv4: {address: [10.10.0.1/24]}, dhcp-server: {ipv6: {ra: slaac}}}\n")
        .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    assert!(
        e.contains(&format!(
            "{p}: router advertisements need a static IPv6 address"
        )),
        "{e}"
    );
}

#[test]
fn ipv6_hosts_are_checked() {
    let h = "networks[0].dhcp-server.hosts";
    let hosts = |list: &str| format!("{{ipv6: {{ra: stateful}}, hosts: [{list}]}}");
    refused6(
        &hosts("{mac: '52:54:00:12:34:56', duid: '00:01:00:01', ipv6: '2001:db8:10::5'}"),
        &format!("{h}[0].duid: a host is known"),
    );
    refused6(
        &hosts("{ipv6: '2001:db8:10::5'}"),
        &format!("{h}[0]: a host needs a mac or a duid"),
    );
    refused6(
        &hosts("{mac: '52:54:00:12:34:56'}"),
        &format!("{h}[0]: a host needs an ip"),
    );
    refused6(
        &hosts("{duid: '00:01', ipv6: '2001:db8:10::5'}"),
        &format!("{h}[0].duid: \"00:01\" has 2 octets"),
    );
    refused6(
        &hosts("{duid: '00:01:zz', ipv6: '2001:db8:10::5'}"),
        &format!("{h}[0].duid: \"00:01:zz\" is not a DUID"),
    );
    refused6(
        &hosts("{duid: '00:01:00:01:00', ipv6: '2001:db8:10::5', ip: 10.10.0.5}"),
        &format!("{h}[0].ip: a host known by its duid"),
    );
    refused6(&hosts("{duid: '00:01:00:01:00', ipv6: '2001:db8:10::5'}, {duid: '00:01:00:01:00', ipv6: '2001:db8:10::6'}"), &format!("{h}[1].duid: 00:01:00:01:00 is already declared"));
    refused6(&hosts("{mac: '52:54:00:12:34:56', ipv6: '2001:db8:10::5'}, {mac: '52:54:00:12:34:57', ipv6: '2001:db8:10::5'}"), &format!("{h}[1].ipv6: 2001:db8:10::5 is already declared"));
    refused6(
        &hosts("{mac: '52:54:00:12:34:56', ipv6: '2001:db8:11::5'}"),
        &format!("{h}[0].ipv6: 2001:db8:11::5 is outside"),
    );
    refused6(
        &hosts("{mac: '52:54:00:12:34:56', ipv6: '2001:db8:10::1'}"),
        &format!("{h}[0].ipv6: 2001:db8:10::1 is the network's own address"),
    );
    refused6(
        &hosts("{mac: '52:54:00:12:34:56', ipv6: '2001:db8:10::'}"),
        &format!("{h}[0].ipv6: 2001:db8:10:: is the subnet-router anycast"),
    );
    refused6(
        "{ipv6: {ra: stateless}, hosts: [{mac: '52:54:00:12:34:56', ipv6: '2001:db8:10::5'}]}",
        &format!("{h}[0].ipv6: fixed IPv6 addresses are given by DHCPv6"),
    );
    refused6(
        "{hosts: [{mac: '52:54:00:12:34:56', ipv6: '2001:db8:10::5'}]}",
        &format!("{h}[0].ipv6: fixed IPv6 addresses are given by DHCPv6"),
    );
    // The longest DUID a host file can be named after, and one octet more.
    let long = vec!["ab"; 125].join(":");
    assert!(errors6(
        "2001:db8:10::1/64",
        &hosts(&format!("{{duid: '{long}', ipv6: '2001:db8:10::5'}}"))
    )
    .is_empty());
    refused6(
        &hosts(&format!("{{duid: '{long}:cd', ipv6: '2001:db8:10::5'}}")),
        &format!("{h}[0].duid: "),
    );
}
