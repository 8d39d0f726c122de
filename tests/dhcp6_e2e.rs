//! IPv6 for guests, end to end: `hostnet apply` runs a real dnsmasq with router
//! advertisements and DHCPv6 on a network's bridge in a namespace of the test's own;
//! guests in other namespaces configure themselves with their kernel (`accept_ra`, SLAAC)
//! and with real ISC `dhclient -6`, ask DNS questions over IPv6, and reach an "outside"
//! namespace through the host, routed and masqueraded.

mod common;
#[allow(dead_code)] // the helpers serve the IPv4 tests too
#[path = "dhcp/guests.rs"]
mod guests;
#[path = "dhcp/guests6.rs"]
mod guests6;
#[allow(dead_code)] // the lab serves other tests too
#[path = "dhcp/lab.rs"]
mod lab;

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::text;
use guests::{env_value, join, Net, G1_MAC, G2_MAC};
use guests6::{
    dhclient6, dns_aaaa, global6, guest_sysctl, outside, outside_sees, ra_default_route,
    set_route_back, slaac_address, solicit_ra, wait_until,
};
use lab::may_run;

const G3_MAC: &str = "52:54:00:00:00:03";
/// The DUID guest g2 presents (a DUID-EN: type 2, enterprise 0xab11, identifier 01..06):
/// nothing in it is g2's MAC, so only the DUID can match its declared host.
const D7: [u8; 12] = [0, 2, 0, 0, 0xab, 0x11, 1, 2, 3, 4, 5, 6];
const D7_TEXT: &str = "00:02:00:00:ab:11:01:02:03:04:05:06";

fn v6(s: &str) -> Ipv6Addr {
    s.parse().expect("IPv6 address")
}

/// Network tenant1 (bridge tenant1, guests' ports gv1…) with both families, a server
/// with `ipv6` given, extra lines before `dhcp-server` (a firewall) and `hosts` (lines of
/// `hosts:`, or empty for none).
fn network6(ipv6: &str, before: &str, hosts: &str) -> String {
    let hosts = if hosts.is_empty() {
        String::new()
    } else {
        format!("      hosts:\n{hosts}")
    };
    format!(
        "networks:
  - name: tenant1
    uplink: gv1
    ipv4: {{address: [10.10.0.1/24]}}
    ipv6: {{address: ['2001:db8:10::1/64']}}
{before}    dhcp-server:
      domain: tenant1.example
      ping-check: false
      ipv6: {ipv6}
{hosts}"
    )
}

fn vm1_host() -> String {
    format!(
        "        - {{mac: \"{G1_MAC}\", ip: 10.10.0.5, ipv6: '2001:db8:10::5', hostname: vm1}}\n"
    )
}

fn vm7_host() -> String {
    format!("        - {{duid: '{D7_TEXT}', ipv6: '2001:db8:10::7', hostname: vm7}}\n")
}

/// Waits until the lease file no longer mentions `what` (dnsmasq rewrites it in place).
fn wait_lease_gone(net: &Net, what: &str) {
    let start = Instant::now();
    while net.file("leases").contains(what) && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!net.file("leases").contains(what), "{}", net.file("leases"));
}

#[test]
fn slaac_guests_get_an_address_and_a_route_and_reach_the_outside() {
    if !may_run(
        "slaac_guests_get_an_address_and_a_route_and_reach_the_outside",
        &["dnsmasq", "ip", "nft"],
    ) {
        return;
    }
    let mut net = Net::new("6a", &[G1_MAC]);
    outside(&mut net, true);
    // Routed: the operator's host forwards IPv6 (hostnet turns it on for masquerade only).
    net.lab
        .sb
        .sysctl("host", "net.ipv6.conf.all.forwarding", "1")
        .expect("forwarding");
    let ra = "{ra: slaac, mtu: 1400, ra-interval: 10, router-lifetime: 60}";
    let yaml = network6(ra, "", "");
    let out = net.apply(&yaml);
    assert!(
        out.contains("dnsmasq started") || out.contains("dnsmasq restarted"),
        "{out}"
    );

    // The guest's kernel makes its EUI-64 address from the advertised prefix, takes the
    // host as its default router and the advertised MTU.
    let addr = slaac_address(&net, "g1", "2001:db8:10::/64");
    assert_eq!(addr, v6("2001:db8:10:0:5054:ff:fe12:3456"));
    let route = ra_default_route(&net, "g1");
    assert!(route.contains("via fe80::"), "{route}");
    assert_eq!(guest_sysctl(&net, "g1", "net.ipv6.conf.eth0.mtu"), "1400");
    let adv = solicit_ra(&net, "g1");
    assert!(adv.autonomous && !adv.managed && !adv.other, "{adv:?}");
    assert_eq!((adv.router_lifetime, adv.mtu), (60, Some(1400)), "{adv:?}");
    let shown = net.servers_json();
    assert!(shown.contains("\"ipv6\": true"), "{shown}");
    assert!(shown.contains("\"running\": true"), "{shown}");

    // Routed: the outside sees the guest's own address.
    let seen = outside_sees(&net, "g1", 8080, Duration::from_secs(30));
    assert_eq!(seen, Some(IpAddr::V6(addr)));

    // Masqueraded: without a route back, the guest still gets out, as the host.
    set_route_back(&net, false);
    let masq = network6(ra, "    firewall: {masquerade: {out-interface: hv0}}\n", "");
    let out = net.apply(&masq);
    assert!(!out.contains("dhcp-server tenant1 process"), "{out}");
    let seen = outside_sees(&net, "g1", 8081, Duration::from_secs(30));
    assert_eq!(seen, Some(IpAddr::V6(v6("2001:db8:99::1"))));
    let out = net.apply(&masq);
    assert!(out.contains("Nothing to change"), "{out}");
}

#[test]
fn stateful_dhcpv6_gives_declared_and_range_addresses_and_names() {
    if !may_run(
        "stateful_dhcpv6_gives_declared_and_range_addresses_and_names",
        &["dnsmasq", "dhclient", "ip", "dhcp_release6"],
    ) {
        return;
    }
    let net = Net::new("6b", &[G1_MAC, G2_MAC, G3_MAC]);
    let ra = "{ra: stateful, range: {start: '2001:db8:10::100', end: '2001:db8:10::1ff'}, \
              dns-servers: ['2001:db8:10::1'], lease-time: 1h}";
    net.apply(&network6(ra, "", &vm1_host()));
    join(&net, "gv2");
    join(&net, "gv3");
    let wait = Duration::from_secs(30);

    // The declared host (by MAC) gets its address, the DNS server and the search domain.
    let env = dhclient6(&net, "g1", false, None, wait).expect("a DHCPv6 lease for g1");
    assert_eq!(
        env_value(&env, "new_ip6_address"),
        Some("2001:db8:10::5"),
        "{env}"
    );
    assert_eq!(
        env_value(&env, "new_dhcp6_name_servers"),
        Some("2001:db8:10::1"),
        "{env}"
    );
    assert_eq!(
        env_value(&env, "new_dhcp6_domain_search"),
        Some("tenant1.example."),
        "{env}"
    );
    // The advertisement gives the route (M flag) and no SLAAC address (no A flag).
    let route = ra_default_route(&net, "g1");
    assert!(route.contains("via fe80::"), "{route}");
    assert!(
        global6(&net, "g1").iter().all(|(_, _, auto)| !auto),
        "{:?}",
        global6(&net, "g1")
    );
    let adv = solicit_ra(&net, "g1");
    assert!(adv.managed && adv.other && !adv.autonomous, "{adv:?}");
    assert_eq!(adv.dns, [v6("2001:db8:10::1")], "{adv:?}");
    assert_eq!(adv.search, ["tenant1.example"], "{adv:?}");
    // An undeclared guest gets an address from the range.
    let env = dhclient6(&net, "g3", false, None, wait).expect("a DHCPv6 lease for g3");
    let ip = env_value(&env, "new_ip6_address")
        .map(v6)
        .expect("an address");
    assert!(
        (v6("2001:db8:10::100")..=v6("2001:db8:10::1ff")).contains(&ip),
        "{ip}"
    );

    // A host by DUID: a new file, no signal, no restart; its guest gets its address.
    let pid = net.pid().expect("dnsmasq pid");
    let reads = net.option_reads();
    let with_vm7 = network6(ra, "", &format!("{}{}", vm1_host(), vm7_host()));
    let out = net.apply(&with_vm7);
    assert!(
        out.contains(&format!(
            "+ dhcp-host duid {D7_TEXT} 2001:db8:10::7 vm7 on tenant1"
        )),
        "{out}"
    );
    let env = dhclient6(&net, "g2", false, Some(&D7), wait).expect("a DHCPv6 lease for g2");
    assert_eq!(
        env_value(&env, "new_ip6_address"),
        Some("2001:db8:10::7"),
        "{env}"
    );
    assert_eq!(net.pid(), Some(pid));
    assert_eq!(net.option_reads(), reads, "{}", net.file("dnsmasq.log"));

    // Its name resolves over IPv6, from the network's address.
    let aaaa = dns_aaaa(&net, "g1", v6("2001:db8:10::1"), "vm7.tenant1.example");
    assert_eq!(aaaa, [v6("2001:db8:10::7")]);
    let shown = net.servers_json();
    assert!(shown.contains("\"active-leases6\": 3"), "{shown}");
    assert!(shown.contains(D7_TEXT), "{shown}");
    let o = net.hostnet(&["show"], None);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("3 active IPv6 leases"),
        "{}",
        text(&o)
    );

    // Removed: its lease is released (dhcp_release6) and one SIGHUP makes dnsmasq forget it.
    let out = net.apply(&network6(ra, "", &vm1_host()));
    assert!(
        out.contains(&format!("- dhcp-host duid {D7_TEXT}")),
        "{out}"
    );
    wait_lease_gone(&net, D7_TEXT);
    assert_eq!(net.pid(), Some(pid));
    wait_until("one SIGHUP", Duration::from_secs(5), || {
        (net.option_reads() == reads + 1).then_some(())
    });
    let out = net.apply(&network6(ra, "", &vm1_host()));
    assert!(out.contains("Nothing to change"), "{out}");

    // While it advertises, the bridge takes no advertisements (its own, looped back, or a
    // guest's); without `ipv6` it gets its value back.
    let accept_ra = || {
        let o = net.lab.run(
            "host",
            "cat",
            &["/proc/sys/net/ipv6/conf/tenant1/accept_ra"],
        );
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    assert_eq!(accept_ra(), "0");
    let v4_only = network6(ra, "", "").replace("      ipv6: ", "      # ipv6: ");
    let out = net.apply(&v4_only);
    assert!(
        out.contains("dnsmasq started") || out.contains("dnsmasq restarted"),
        "{out}"
    );
    assert_eq!(accept_ra(), "1");
    let out = net.apply(&v4_only);
    assert!(out.contains("Nothing to change"), "{out}");
}

#[test]
fn an_ipv6_only_network_serves_dns_statelessly_and_a_dns_change_is_a_sighup() {
    if !may_run(
        "an_ipv6_only_network_serves_dns_statelessly_and_a_dns_change_is_a_sighup",
        &["dnsmasq", "dhclient", "ip"],
    ) {
        return;
    }
    let net = Net::new("6c", &[G1_MAC]);
    let yaml = |dns: &str, ra: &str| {
        format!(
            "networks:
  - name: tenant1
    uplink: gv1
    ipv6: {{address: ['2001:db8:10::1/64']}}
    dhcp-server:
      domain: tenant1.example
      ipv6: {{ra: {ra}, dns-servers: ['{dns}'], domain-search: [tenant1.example, example.org]}}
"
        )
    };
    let out = net.apply(&yaml("2001:db8:10::53", "stateless"));
    assert!(
        out.contains("dnsmasq started") || out.contains("dnsmasq restarted"),
        "{out}"
    );
    let argv = hostnet::netdev::dnsmasq::cmdline(net.pid().expect("pid")).expect("runs");
    assert!(!argv.iter().any(|a| a.contains("10.10.")), "{argv:?}");

    slaac_address(&net, "g1", "2001:db8:10::/64");
    // The host's own bridge makes no address from the advertisements it sends.
    let o = net
        .lab
        .run("host", "ip", &["-6", "addr", "show", "dev", "tenant1"]);
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("dynamic"),
        "{}",
        text(&o)
    );
    let wait = Duration::from_secs(30);
    let env = dhclient6(&net, "g1", true, None, wait).expect("an Information-request reply");
    assert_eq!(
        env_value(&env, "new_dhcp6_name_servers"),
        Some("2001:db8:10::53"),
        "{env}"
    );
    assert_eq!(
        env_value(&env, "new_dhcp6_domain_search"),
        Some("tenant1.example. example.org."),
        "{env}"
    );
    let adv = solicit_ra(&net, "g1");
    assert!(adv.autonomous && adv.other && !adv.managed, "{adv:?}");
    assert_eq!(adv.dns, [v6("2001:db8:10::53")], "{adv:?}");
    assert_eq!(adv.search, ["tenant1.example", "example.org"], "{adv:?}");

    // New DNS servers are options: one SIGHUP, the same process.
    let pid = net.pid().expect("pid");
    let reads = net.option_reads();
    let out = net.apply(&yaml("2001:db8:10::54", "stateless"));
    assert!(!out.contains("process"), "{out}");
    wait_until("one SIGHUP", Duration::from_secs(5), || {
        (net.option_reads() == reads + 1).then_some(())
    });
    assert_eq!(net.pid(), Some(pid));
    let env = dhclient6(&net, "g1", true, None, wait).expect("an Information-request reply");
    assert_eq!(
        env_value(&env, "new_dhcp6_name_servers"),
        Some("2001:db8:10::54"),
        "{env}"
    );
    // ... and so do the advertisements, from the options file the SIGHUP re-read.
    assert_eq!(solicit_ra(&net, "g1").dns, [v6("2001:db8:10::54")]);

    // Another mode is another command line: under a checkpoint, then rolled back.
    let o = net.hostnet(
        &["apply", "--confirm-timeout", "120", "-"],
        Some(&yaml("2001:db8:10::54", "slaac")),
    );
    assert!(o.status.success(), "{}", text(&o));
    let slaac = hostnet::netdev::dnsmasq::cmdline(net.pid().expect("pid")).expect("runs");
    assert!(slaac.iter().any(|a| a.contains(",ra-only,")), "{slaac:?}");
    let o = net.hostnet(&["rollback"], None);
    assert!(o.status.success(), "{}", text(&o));
    let back = hostnet::netdev::dnsmasq::cmdline(net.pid().expect("pid")).expect("runs");
    assert!(
        back.iter().any(|a| a.contains(",ra-stateless,")),
        "{back:?}"
    );
    let out = net.apply(&yaml("2001:db8:10::54", "stateless"));
    assert!(out.contains("Nothing to change"), "{out}");
}

#[test]
fn guests_reach_dhcpv6_through_the_firewall_only_where_it_is_allowed() {
    if !may_run(
        "guests_reach_dhcpv6_through_the_firewall_only_where_it_is_allowed",
        &["dnsmasq", "dhclient", "ip", "nft"],
    ) {
        return;
    }
    let net = Net::new("6d", &[G1_MAC, G2_MAC]);
    let ra = "{ra: stateful, range: {start: '2001:db8:10::100', end: '2001:db8:10::1ff'}}";
    let allow = |ports: &str| format!("    firewall:\n      allow-from-guests: [{ports}]\n");
    // Guests may reach the host on DHCPv6's port (and DNS); ICMPv6 always passes.
    let yaml = network6(
        ra,
        &allow("{proto: udp, port: 547}, {proto: udp, port: 53}"),
        &vm1_host(),
    );
    net.apply(&yaml);
    ra_default_route(&net, "g1");
    let env = dhclient6(&net, "g1", false, None, Duration::from_secs(30))
        .expect("a DHCPv6 lease through the firewall");
    assert_eq!(
        env_value(&env, "new_ip6_address"),
        Some("2001:db8:10::5"),
        "{env}"
    );

    // Without udp 547 in the list, DHCPv6 is dropped; router solicitations still pass.
    let yaml = network6(ra, &allow("{proto: udp, port: 53}"), &vm1_host());
    net.apply(&yaml);
    join(&net, "gv2");
    let route = ra_default_route(&net, "g2");
    assert!(route.contains("via fe80::"), "{route}");
    let env = dhclient6(&net, "g2", false, None, Duration::from_secs(8));
    assert!(env.is_none(), "DHCPv6 should be filtered: {env:?}");
    assert!(
        !net.file("leases").contains("2001:db8:10::1"),
        "{}",
        net.file("leases")
    );
    // Listed again, the same guest gets its lease: it was the firewall.
    let yaml = network6(
        ra,
        &allow("{proto: udp, port: 547}, {proto: udp, port: 53}"),
        &vm1_host(),
    );
    net.apply(&yaml);
    let env = dhclient6(&net, "g2", false, None, Duration::from_secs(30))
        .expect("a DHCPv6 lease once udp 547 is allowed");
    let ip = env_value(&env, "new_ip6_address")
        .map(v6)
        .expect("an address");
    assert!(
        (v6("2001:db8:10::100")..=v6("2001:db8:10::1ff")).contains(&ip),
        "{ip}"
    );
}

#[test]
fn hostile_ipv6_input_is_refused_before_anything_changes() {
    if !may_run(
        "hostile_ipv6_input_is_refused_before_anything_changes",
        &["ip"],
    ) {
        return;
    }
    let net = Net::new("6e", &[G1_MAC]);
    let host = |h: &str| format!("        - {h}\n");
    for (yaml, field) in [
        (
            network6(
                "{ra: slaac, domain-search: [\"a.example\\nport=0\"]}",
                "",
                "",
            ),
            "ipv6.domain-search[0]",
        ),
        (
            network6("{ra: slaac, ra-interval: 1}", "", ""),
            "ipv6.ra-interval",
        ),
        (network6("{ra: bogus}", "", ""), "ipv6.ra"),
        (
            network6(
                "{ra: stateful}",
                "",
                &host("{duid: 'id:00:01,[::1]', ipv6: '2001:db8:10::7'}"),
            ),
            "hosts[0].duid",
        ),
        (
            network6(
                "{ra: stateful}",
                "",
                &host("{duid: '00:01:00:01:aa', ipv6: '2001:db8:10::7', hostname: \"vm7,[::9]\"}"),
            ),
            "hosts[0].hostname",
        ),
        (
            network6(
                "{ra: stateful}",
                "",
                &host("{mac: '52:54:00:12:34:56', ipv6: 'fd00::7'}"),
            ),
            "hosts[0].ipv6",
        ),
    ] {
        let o = net.hostnet(&["apply", "-"], Some(&yaml));
        assert_eq!(o.status.code(), Some(2), "{yaml}\n{}", text(&o));
        let want = format!("networks[0].dhcp-server.{field}");
        assert!(
            String::from_utf8_lossy(&o.stderr).contains(&want),
            "{want}: {}",
            text(&o)
        );
    }
    let o = net.lab.run("host", "ip", &["link", "show", "tenant1"]);
    assert!(!o.status.success(), "nothing was created");
    assert!(!net.dir().exists());
}
