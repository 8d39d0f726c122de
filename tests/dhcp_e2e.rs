//! Source routing for DHCP networks, end to end: real dnsmasq serving the host's uplinks
//! from router namespaces, real ISC dhclient and dhcpcd in the host namespace running the
//! hooks `hostnet hooks install` wrote, and `hostnet monitor` on its own.

mod common;
#[path = "dhcp/lab.rs"]
mod lab;

use std::time::Duration;

use common::{hostnet, text};
use hostnet::netdev::{KernelState, HOSTNET_PROTO};
use lab::{may_run, Lab};

const NET: &str =
    "networks:\n- {name: lan, uplink: up-lan, ipv4: {dhcp: true}, source-routing: {table: 1100}}\n";

fn ours(s: &KernelState) -> (Vec<String>, Vec<String>) {
    let routes = s
        .routes
        .iter()
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .map(ToString::to_string)
        .collect();
    let rules = s
        .rules
        .iter()
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .map(ToString::to_string)
        .collect();
    (routes, rules)
}

/// The lease's `from SUBNET` rule inside the block of three around it.
fn assert_rules(rules: &[String]) {
    assert_eq!(rules.len(), 4, "{rules:#?}");
    assert_eq!(
        rules
            .iter()
            .filter(|r| r.contains(" from 10.7") && r.contains("lookup 1100"))
            .count(),
        1,
        "{rules:#?}"
    );
}

fn default_in_table(s: &KernelState) -> Option<String> {
    s.routes
        .iter()
        .find(|r| r.table == 1100 && r.gateway.is_some())
        .and_then(|r| r.gateway)
        .map(|g| g.to_string())
}

fn apply_in_host(lab: &Lab, yaml: &str) {
    let ns = lab.sb.netns("host");
    let o = hostnet(&["apply", "--netns", &ns, "-"], Some(yaml));
    assert!(o.status.success(), "{}", text(&o));
}

fn install_hook(lab: &Lab, client: &str) -> std::path::PathBuf {
    let root = lab.path("root");
    let o = hostnet(
        &[
            "hooks",
            "install",
            "--client",
            client,
            "--root",
            &root.display().to_string(),
        ],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let written = String::from_utf8_lossy(&o.stdout);
    let path = written
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("wrote "))
        .expect("path");
    std::path::PathBuf::from(path)
}

fn dhclient(lab: &Lab, args: &[&str], script: &std::path::Path) -> std::process::Output {
    dhclient_on(lab, "lan", args, script)
}

fn dhclient_on(
    lab: &Lab,
    iface: &str,
    args: &[&str],
    script: &std::path::Path,
) -> std::process::Output {
    let (lf, pf) = (
        lab.path(&format!("dhclient-{iface}.leases")),
        lab.path(&format!("dhclient-{iface}.pid")),
    );
    let (sf, lf, pf) = (
        script.display().to_string(),
        lf.display().to_string(),
        pf.display().to_string(),
    );
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-sf", &sf, "-lf", &lf, "-pf", &pf, iface]);
    lab.run("host", "dhclient", &all)
}

#[test]
fn dhclient_hook_installs_renews_and_removes() {
    if !may_run(
        "dhclient_hook_installs_renews_and_removes",
        &["dnsmasq", "dhclient"],
    ) {
        return;
    }
    let mut lab = Lab::new("a", &[("router", "up-lan", 77)]);
    lab.dnsmasq("router", 77, Some("10.77.0.1"));
    apply_in_host(&lab, NET);
    let hook = install_hook(&lab, "dhclient");
    let script = lab.client_script("dhclient-script", Some(&hook), false);

    // BOUND: the lease's table and rules.
    let o = dhclient(&lab, &["-1", "-v"], &script);
    assert!(
        o.status.success(),
        "dhclient: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = lab.host_state();
    let (routes, rules) = ours(&s);
    assert_eq!(
        default_in_table(&s).as_deref(),
        Some("10.77.0.1"),
        "{routes:#?}"
    );
    assert!(
        routes
            .iter()
            .any(|r| r.starts_with("route 10.77.0.0/24 dev lan table 1100 src 10.77.0.")),
        "{routes:#?}"
    );
    assert_rules(&rules);
    let shown = hostnet(
        &[
            "show",
            "--netns",
            &lab.sb.netns("host"),
            "--dhcp",
            "-o",
            "json",
        ],
        None,
    );
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("\"router\": \"10.77.0.1\""),
        "{}",
        text(&shown)
    );

    // The server's router changes; the client renews at T1 (60 s with dnsmasq's shortest
    // lease) and the table follows.
    lab.dnsmasq("router", 77, Some("10.77.0.254"));
    lab.wait_for(
        "the renewed router in table 1100",
        Duration::from_secs(100),
        |s| default_in_table(s).as_deref() == Some("10.77.0.254"),
    );

    // RELEASE: everything goes.
    let o = dhclient(&lab, &["-r", "-v"], &script);
    assert!(
        o.status.success(),
        "dhclient -r: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (routes, rules) = ours(&lab.host_state());
    assert!(
        routes.is_empty() && rules.is_empty(),
        "{routes:#?} {rules:#?}"
    );
}

/// A DHCP network without a bridge: the client runs on the NIC itself, and its events
/// (through the hook) and `hostnet monitor` converge the network as it was applied.
/// Before, the event's intent said "a bridge without an uplink", and the plan-time
/// check for a bridge whose gateway no port reaches refused every event and every
/// monitor round: the table stayed empty.
#[test]
fn a_network_without_a_bridge_follows_its_lease() {
    if !may_run(
        "a_network_without_a_bridge_follows_its_lease",
        &["dnsmasq", "dhclient"],
    ) {
        return;
    }
    let mut lab = Lab::new("g", &[("router", "up-lan", 85)]);
    lab.dnsmasq("router", 85, Some("10.85.0.1"));
    apply_in_host(
        &lab,
        "networks:\n- {name: lan, uplink: up-lan, bridged: false, ipv4: {dhcp: true}, source-routing: {table: 1100}}\n",
    );
    let hook = install_hook(&lab, "dhclient");
    let script = lab.client_script("dhclient-script", Some(&hook), false);
    let o = dhclient_on(&lab, "up-lan", &["-1", "-v"], &script);
    assert!(
        o.status.success(),
        "dhclient: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = lab.host_state();
    let (routes, rules) = ours(&s);
    assert_eq!(
        default_in_table(&s).as_deref(),
        Some("10.85.0.1"),
        "{routes:#?}"
    );
    assert!(
        routes
            .iter()
            .any(|r| r.starts_with("route 10.85.0.0/24 dev up-lan table 1100 src 10.85.0.")),
        "{routes:#?}"
    );
    assert_eq!(rules.len(), 4, "{rules:#?}");
    assert!(
        rules
            .iter()
            .any(|r| r.contains(" from 10.85.0.0/24 lookup 1100")),
        "{rules:#?}"
    );
    let o = dhclient_on(&lab, "up-lan", &["-r"], &script);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (routes, rules) = ours(&lab.host_state());
    assert!(
        routes.is_empty() && rules.is_empty(),
        "{routes:#?} {rules:#?}"
    );

    // The same through `hostnet monitor`, with a client that runs no hook (it sets the
    // main default route, where the monitor finds the router).
    let monitor = lab.spawn("host", env!("CARGO_BIN_EXE_hostnet"), &["monitor"]);
    let plain = lab.client_script("plain-script", None, true);
    let o = dhclient_on(&lab, "up-lan", &["-1"], &plain);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s = lab.wait_for(
        "the monitor's table and rules",
        Duration::from_secs(20),
        |s| default_in_table(s).is_some() && ours(s).1.len() == 4,
    );
    // The client's script added the lease with its lifetime: the monitor read the lease
    // from a dynamic address.
    assert!(
        s.addresses.iter().any(|a| a.ifname == "up-lan"
            && a.dynamic
            && a.addr.to_string().starts_with("10.85.0.")),
        "{:#?}",
        s.addresses
    );
    let o = dhclient_on(&lab, "up-lan", &["-r"], &plain);
    assert!(o.status.success());
    lab.wait_for("the monitor's cleanup", Duration::from_secs(20), |s| {
        let (routes, rules) = ours(s);
        routes.is_empty() && rules.is_empty()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(monitor.id()).expect("pid")),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let out = monitor.wait_with_output().expect("monitor exits");
    assert!(
        out.status.success(),
        "monitor: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("no port through which"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn lease_without_router_gives_rules_and_on_link_route_only() {
    if !may_run(
        "lease_without_router_gives_rules_and_on_link_route_only",
        &["dnsmasq", "dhclient"],
    ) {
        return;
    }
    let mut lab = Lab::new("b", &[("router", "up-lan", 78)]);
    lab.dnsmasq("router", 78, None);
    apply_in_host(&lab, NET);
    let hook = install_hook(&lab, "dhclient");
    let script = lab.client_script("dhclient-script", Some(&hook), false);
    let o = dhclient(&lab, &["-1", "-v"], &script);
    assert!(
        o.status.success(),
        "dhclient: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let s = lab.host_state();
    let (routes, rules) = ours(&s);
    assert_eq!(default_in_table(&s), None, "{routes:#?}");
    assert_eq!(routes.len(), 1, "{routes:#?}");
    assert_rules(&rules);
    let o = dhclient(&lab, &["-r"], &script);
    assert!(o.status.success());
}

#[test]
fn dhcpcd_hook_installs_source_routing() {
    if !may_run(
        "dhcpcd_hook_installs_source_routing",
        &["dnsmasq", "dhcpcd"],
    ) {
        return;
    }
    let mut lab = Lab::new("c", &[("router", "up-lan", 79)]);
    lab.dnsmasq("router", 79, Some("10.79.0.1"));
    apply_in_host(&lab, NET);
    let hook = install_hook(&lab, "dhcpcd");
    let script = lab.client_script("dhcpcd-script", Some(&hook), false);
    let conf = lab.path("dhcpcd.conf");
    // noarp: no 6 s probe of the offered address; no hooks of its own.
    std::fs::write(&conf, "noarp\nnoipv4ll\nipv4only\n").expect("conf");
    let (script_s, conf_s) = (script.display().to_string(), conf.display().to_string());
    let o = lab.run_timeout(
        "host",
        "dhcpcd",
        &[
            "-4", "-1", "-B", "-t", "60", "-c", &script_s, "-f", &conf_s, "lan",
        ],
        Duration::from_secs(90),
    );
    // dhcpcd's privilege-separated script runner may still be running the hook when the
    // oneshot client exits (seen on a loaded machine): wait for the hook's work.
    eprintln!(
        "dhcpcd exited with {:?}; its stderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let s = lab.wait_for(
        "the hook's default route in the network's table and its rules",
        Duration::from_secs(30),
        |s| default_in_table(s).as_deref() == Some("10.79.0.1") && ours(s).1.len() == 4,
    );
    assert_rules(&ours(&s).1);
    // dhcpcd keeps files of its own; take its lease back and leave nothing behind.
    let _ = lab.run_timeout(
        "host",
        "dhcpcd",
        &["-k", "-c", &script_s, "-f", &conf_s, "lan"],
        Duration::from_secs(10),
    );
    let _ = std::fs::remove_file("/var/lib/dhcpcd/lan.lease");
}

#[test]
fn monitor_alone_follows_the_lease() {
    if !may_run("monitor_alone_follows_the_lease", &["dnsmasq", "dhclient"]) {
        return;
    }
    let mut lab = Lab::new("d", &[("router", "up-lan", 80)]);
    lab.dnsmasq("router", 80, Some("10.80.0.1"));
    apply_in_host(&lab, NET);
    let mut monitor = lab.spawn("host", env!("CARGO_BIN_EXE_hostnet"), &["monitor"]);
    // A client without hooks, which sets the address and the main default route itself.
    let script = lab.client_script("plain-script", None, true);
    let o = dhclient(&lab, &["-1"], &script);
    assert!(
        o.status.success(),
        "dhclient: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    lab.wait_for(
        "the monitor's table and rules",
        Duration::from_secs(10),
        |s| default_in_table(s).as_deref() == Some("10.80.0.1") && ours(s).1.len() == 4,
    );
    let o = dhclient(&lab, &["-r"], &script);
    assert!(o.status.success());
    lab.wait_for("the monitor's cleanup", Duration::from_secs(10), |s| {
        let (routes, rules) = ours(s);
        routes.is_empty() && rules.is_empty()
    });
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(monitor.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .expect("signal");
    let status = monitor.wait().expect("monitor exits");
    assert!(status.success(), "monitor exited with {status:?}");
}

#[test]
fn malformed_and_foreign_events_change_nothing() {
    if !may_run("malformed_and_foreign_events_change_nothing", &[]) {
        return;
    }
    let lab = Lab::new("e", &[("router", "up-lan", 81)]);
    apply_in_host(&lab, NET);
    let before = lab.host_state();
    let ns = lab.sb.netns("host");
    let run = |env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hostnet"));
        cmd.args(["dhcp-event", "--client", "dhclient", "--netns", &ns])
            .env_clear();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("runs")
    };
    let good = [
        ("reason", "BOUND"),
        ("interface", "lan"),
        ("new_ip_address", "10.81.0.50"),
        ("new_subnet_mask", "255.255.255.0"),
        ("new_routers", "10.81.0.1"),
    ];
    for (key, value) in [
        ("new_ip_address", "10.81.0.999"),
        ("new_subnet_mask", "255.255.0.255"),
        ("new_routers", "10.81.0.1;reboot"),
        ("interface", "lan/../../etc"),
        ("interface", "lan\nlo"),
    ] {
        let env: Vec<(&str, &str)> = good
            .iter()
            .filter(|(k, _)| *k != key)
            .copied()
            .chain([(key, value)])
            .collect();
        let o = run(&env);
        assert_eq!(o.status.code(), Some(2), "{key}={value:?}: {}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("malformed DHCP event"),
            "{}",
            text(&o)
        );
    }
    let long = "1".repeat(70_000);
    let env: Vec<(&str, &str)> = good
        .iter()
        .filter(|(k, _)| *k != "new_routers")
        .copied()
        .chain([("new_routers", long.as_str())])
        .collect();
    assert_eq!(run(&env).status.code(), Some(2));
    // An interface of no DHCP network: ignored, with a line saying so.
    let env: Vec<(&str, &str)> = good
        .iter()
        .map(|(k, v)| {
            if *k == "interface" {
                (*k, "up-lan")
            } else {
                (*k, *v)
            }
        })
        .collect();
    let o = run(&env);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("ignored: interface \"up-lan\" belongs to no DHCP network"),
        "{}",
        text(&o)
    );
    assert_eq!(lab.host_state(), before);
}

/// A router's count of forwarded IPv4 datagrams.
fn forwarded(lab: &Lab, role: &str) -> u64 {
    let snmp = lab.sb.proc_net(role, "snmp").expect("snmp");
    let mut ip = snmp.lines().filter(|l| l.starts_with("Ip: "));
    let (names, values) = (ip.next().expect("names"), ip.next().expect("values"));
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "ForwDatagrams")
        .and_then(|(_, v)| v.parse().ok())
        .expect("counter")
}

#[test]
fn two_dhcp_networks_and_a_static_one_each_leave_through_their_own_gateway() {
    if !may_run(
        "two_dhcp_networks_and_a_static_one_each_leave_through_their_own_gateway",
        &["dnsmasq", "dhclient", "ping"],
    ) {
        return;
    }
    use hostnet::sandbox::{addr, route_via};
    let routers = [("ra", "up-a", 82u8), ("rb", "up-b", 83), ("rc", "up-c", 84)];
    let mut lab = Lab::new("f", &routers);
    // Each router forwards to one peer, which answers from 203.0.113.100 and routes each
    // subnet back through its own router.
    lab.sb.add("peer").expect("peer");
    lab.sb
        .ops("peer", &[addr("lo", "203.0.113.100/32").expect("addr")])
        .expect("peer address");
    for (i, (role, _, octet)) in routers.iter().enumerate() {
        let p = format!("p-{role}");
        lab.sb.wire(role, "r-peer", "peer", &p).expect("wire");
        lab.sb
            .ops(
                role,
                &[addr("r-peer", &format!("10.255.{i}.1/30")).expect("addr")],
            )
            .expect("router side");
        lab.sb
            .ops(
                "peer",
                &[addr(&p, &format!("10.255.{i}.2/30")).expect("addr")],
            )
            .expect("peer side");
        lab.sb
            .ops(
                role,
                &[route_via("203.0.113.100/32", &format!("10.255.{i}.2")).expect("route")],
            )
            .expect("router route");
        lab.sb
            .ops(
                "peer",
                &[
                    route_via(&format!("10.{octet}.0.0/24"), &format!("10.255.{i}.1"))
                        .expect("route"),
                ],
            )
            .expect("peer route");
        lab.sb
            .sysctl(role, "net.ipv4.ip_forward", "1")
            .expect("forwarding");
    }
    lab.dnsmasq("ra", 82, Some("10.82.0.1"));
    lab.dnsmasq("rb", 83, Some("10.83.0.1"));
    apply_in_host(
        &lab,
        "networks:
- {name: a, uplink: up-a, ipv4: {dhcp: true}}
- {name: b, uplink: up-b, ipv4: {dhcp: true}}
- {name: c, uplink: up-c, ipv4: {address: [10.84.0.10/24], gateway: 10.84.0.1}}
",
    );
    let hook = install_hook(&lab, "dhclient");
    // The clients set no default route: the main table has none, so only source routing
    // can get these packets out.
    let script = lab.client_script("dhclient-script", Some(&hook), false);
    for iface in ["a", "b"] {
        let o = dhclient_on(&lab, iface, &["-1"], &script);
        assert!(
            o.status.success(),
            "dhclient on {iface}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    let s = lab.host_state();
    let source = |dev: &str| {
        s.addresses
            .iter()
            .find(|a| a.ifname == dev)
            .map(|a| a.addr.addr().to_string())
            .unwrap_or_else(|| panic!("no address on {dev}"))
    };
    for (dev, via) in [("a", "ra"), ("b", "rb"), ("c", "rc")] {
        let src = source(dev);
        let before: Vec<u64> = routers.iter().map(|(r, _, _)| forwarded(&lab, r)).collect();
        let o = lab.run(
            "host",
            "ping",
            &[
                "-n",
                "-q",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "2",
                "-I",
                &src,
                "203.0.113.100",
            ],
        );
        assert!(
            o.status.success(),
            "ping from {src}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        let after: Vec<u64> = routers.iter().map(|(r, _, _)| forwarded(&lab, r)).collect();
        for (i, (role, _, _)) in routers.iter().enumerate() {
            let n = after[i] - before[i];
            if *role == via {
                assert!(
                    n >= 6,
                    "{src}: router {role} forwarded {n}, expected the 3 pings and their replies"
                );
            } else {
                assert_eq!(
                    n, 0,
                    "{src}: router {role} forwarded packets of another network"
                );
            }
        }
    }
    for iface in ["a", "b"] {
        let _ = dhclient_on(&lab, iface, &["-r"], &script);
    }
}
