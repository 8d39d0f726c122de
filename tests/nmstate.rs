//! The nmstate-format corpus (`tests/nmstate/*.yml`, issue 13) applied with `hostnet` in
//! a namespace of each test's own, as `tests/nmstate/README.md` says: the kernel facts
//! checked with `ip`/`bridge`, a second apply changes nothing, `hostnet show`'s output
//! applied back changes nothing, and the dry run (the model driver) ends where the
//! kernel does for the objects the file names.
//!
//! Fixture: `lo` up, `eth1` and `eth2` one end of a veth pair each (`eth1p`, `eth2p`),
//! standing in for NICs (so every `type: ethernet` also checks that a veth is one).
//! Files for kinds this kernel lacks run in the VM tier (`tests/real_kernel.rs`).

#[path = "nmstate/alt_names.rs"]
mod alt_names;
#[path = "nmstate/base_keys.rs"]
mod base_keys;
mod common;
#[path = "nmstate/controller.rs"]
mod controller;
#[path = "nmstate/devices.rs"]
mod devices;
#[path = "nmstate/ipv6_token.rs"]
mod ipv6_token;
#[path = "nmstate/kinds.rs"]
mod kinds;
#[path = "nmstate/veth.rs"]
mod veth;
#[path = "nmstate/vrf.rs"]
mod vrf;

use std::process::Command;

use common::*;
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{Driver, KernelState};

/// The corpus, compiled in: the VM tier runs this binary in a guest without the source
/// tree.
macro_rules! corpus {
    ($($file:literal),* $(,)?) => {
        fn read(file: &str) -> &'static str {
            match file {
                $($file => include_str!(concat!("nmstate/", $file)),)*
                other => panic!("{other} is not in the corpus"),
            }
        }
    };
}

corpus!(
    "linux_bridge_up.yml",
    "linux_bridge_absent.yml",
    "linux_bridge_stp.yml",
    "linux_bridge_multicast.yml",
    "linux_bridge_port_vlan.yml",
    "veth_up.yml",
    "veth_absent.yml",
    "veth_as_ethernet.yml",
    "iface_name_only.yml",
    "routes_add.yml",
    "routes_remove_all.yml",
    "routes_types_metrics.yml",
    "routes_multipath.yml",
    "rules_add.yml",
    "rules_remove_all.yml",
    "rules_action_iif.yml",
    "mac_vlan.yml",
    "mac_vlan_absent.yml",
    "mac_vtap_passthru.yml",
    "mac_vtap_absent.yml",
    "vlan_up.yml",
    "vlan_qinq.yml",
    "vlan_absent.yml",
    "vxlan.yml",
    "bond_up.yml",
    "bond_lacp.yml",
    "bond_absent.yml",
    "bond_rr.yml",
    "bond_tlb.yml",
    "bond_lacp_passive.yml",
    "bond_arp.yml",
    "ovs_bridge.yml",
    "ovs_bridge_absent.yml",
    "nm_only_keys.yml",
    "refused_8021x.yml",
    "refused_sriov.yml",
    "refused_many.yml",
    "base_keys.yml",
    "base_keys_reset.yml",
    "dummy.yml",
    "dummy_absent.yml",
    "ipvlan.yml",
    "ipvlan_absent.yml",
    "vrf.yml",
    "vrf_routes.yml",
    "vrf_absent.yml",
    "controller.yml",
    "controller_detach.yml",
    "ipv6_token.yml",
    "ipv6_token_reset.yml",
    "linux_bridge_extra_ports.yml",
    "alt_names.yml",
    "alt_names_absent.yml",
);

/// `hostnet apply` of a corpus file (through standard input).
fn apply_file(file: &str) -> std::process::Output {
    hostnet(&["apply", "-"], Some(read(file)))
}

/// `eth1`/`eth1p` and `eth2`/`eth2p`, up.
fn fixture() {
    run_ops(&[veth("eth1", "eth1p"), veth("eth2", "eth2p")]);
}

fn ip(args: &[&str]) -> String {
    let o = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        o.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn query() -> KernelState {
    LinuxDriver::new().expect("netlink").query().expect("query")
}

/// Asserts that every word sequence of `facts` appears in `have` (whitespace-separated
/// words, so that `ip`'s spacing does not matter).
fn has_all(what: &str, have: &str, facts: &[&str]) {
    let words: Vec<&str> = have.split_whitespace().collect();
    for fact in facts {
        let want: Vec<&str> = fact.split_whitespace().collect();
        let found = words.windows(want.len()).any(|w| w == want.as_slice());
        assert!(found, "{what}: {fact:?} not in:\n{have}");
    }
}

/// The dry run of `file` on the model of this namespace: its end state.
fn model_of(file: &str, yaml: &str) -> KernelState {
    let d = hostnet::model::parse(yaml).expect("parses");
    hostnet::model::validate(&d).expect("valid");
    let intent = hostnet::expand::expand(&d).expect("expands");
    let mut model = ModelDriver::new(query());
    // Applied to the model itself (a dry run would apply to a copy of it).
    let opts = hostnet::engine::ApplyOptions {
        dry_run: false,
        journal: None,
        discard_stale_journal: false,
    };
    hostnet::engine::apply(&mut model, &intent, opts, |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("{file}: dry run: {e}"));
    model.state().clone()
}

/// What the model and the kernel must agree on for the links `names`: kind with its
/// settings, up, MTU, master, and settings as a bridge port.
fn same_links(file: &str, model: &KernelState, kernel: &KernelState, names: &[&str]) {
    for n in names {
        let (m, k) = (model.links.get(*n), kernel.links.get(*n));
        let strip = |l: Option<&hostnet::netdev::Link>| {
            l.map(|l| (l.kind.clone(), l.up, l.mtu, l.controller.clone()))
        };
        assert_eq!(
            strip(m),
            strip(k),
            "{file}: model and kernel disagree on {n}"
        );
        assert_eq!(
            model.bridge_ports.get(*n),
            kernel.bridge_ports.get(*n),
            "{file}: model and kernel disagree on {n}'s port settings"
        );
        assert_eq!(
            model.bond_ports.get(*n),
            kernel.bond_ports.get(*n),
            "{file}: model and kernel disagree on {n}'s bond port settings"
        );
        assert_eq!(
            base_keys::of(model, n),
            base_keys::of(kernel, n),
            "{file}: model and kernel disagree on {n}'s alias, promiscuous flag or IPv6 switches"
        );
    }
}

/// The model and the kernel agree on the routes and rules of protocol static (the ones
/// `routes` and `route-rules` make).
fn same_static(file: &str, model: &KernelState, kernel: &KernelState) {
    const STATIC: u8 = 4;
    let routes = |s: &KernelState| -> Vec<hostnet::netdev::Route> {
        let mut v: Vec<_> = s
            .routes
            .iter()
            .filter(|r| r.protocol == STATIC)
            .cloned()
            .collect();
        v.sort();
        v
    };
    let rules = |s: &KernelState| -> Vec<hostnet::netdev::Rule> {
        let mut v: Vec<_> = s
            .rules
            .iter()
            .filter(|r| r.protocol == STATIC)
            .cloned()
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        routes(model),
        routes(kernel),
        "{file}: routes of the model and the kernel"
    );
    assert_eq!(
        rules(model),
        rules(kernel),
        "{file}: rules of the model and the kernel"
    );
}

/// Applies `file`, checks that it converged: a second apply and `show`'s output applied
/// back change nothing; the model predicted the kernel for `names`. Returns the first
/// apply's output.
fn converges(file: &str, names: &[&str]) -> String {
    converges_yaml(file, read(file), names)
}

/// [`converges`] for a file's text (`file`: what to call it in messages).
fn converges_yaml(file: &str, yaml: &str, names: &[&str]) -> String {
    let predicted = model_of(file, yaml);
    let o = hostnet(&["apply", "-"], Some(yaml));
    assert!(o.status.success(), "{file}: {}", text(&o));
    let first = text(&o);
    let now = query();
    same_links(file, &predicted, &now, names);
    same_static(file, &predicted, &now);
    let again = hostnet(&["apply", "-"], Some(yaml));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{file}: second apply: {}",
        text(&again)
    );
    let shown = hostnet(&["show"], None);
    assert!(shown.status.success(), "{}", text(&shown));
    let yaml = String::from_utf8_lossy(&shown.stdout).into_owned();
    let back = hostnet(&["apply", "-"], Some(&yaml));
    assert!(
        String::from_utf8_lossy(&back.stdout).contains("Nothing to change"),
        "{file}: show applied back: {}\n--- show:\n{yaml}",
        text(&back)
    );
    first
}

/// Waits (up to 10 s) until `name`'s operational state is UP.
fn operstate_up(name: &str) {
    let start = std::time::Instant::now();
    loop {
        // Not /sys/class/net: sysfs shows the namespace it was mounted in.
        let state = ip(&["link", "show", name]);
        if state
            .split_whitespace()
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w == ["state", "UP"])
        {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(10),
            "{name}: not state UP: {state}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `hostnet show -o yaml`, parsed, and the named interface in it.
fn shown_iface(name: &str) -> hostnet::model::InterfaceSpec {
    let shown = hostnet(&["show"], None);
    let d = hostnet::model::parse(&String::from_utf8_lossy(&shown.stdout)).expect("show parses");
    d.interfaces
        .into_iter()
        .find(|i| i.name == name)
        .expect("interface shown")
}

#[test]
fn linux_bridge_up_and_absent() {
    if !enter_private_netns("linux_bridge_up_and_absent") {
        return;
    }
    fixture();
    converges("linux_bridge_up.yml", &["br-nm0", "eth1"]);
    let br = ip(&["-d", "link", "show", "br-nm0"]);
    has_all("br-nm0", &br, &["mtu 1500", "stp_state 0"]);
    // The operational state follows the port's carrier through the kernel's link watch,
    // which may take a moment (seen in the VM tier).
    operstate_up("br-nm0");
    has_all("eth1", &ip(&["link", "show", "eth1"]), &["master br-nm0"]);
    has_all(
        "addresses",
        &ip(&["addr", "show", "br-nm0"]),
        &["192.0.2.10/24", "2001:db8:10::10/64"],
    );
    // `autoconf: false` is the bridge's SLAAC switch.
    let autoconf = std::fs::read_to_string("/proc/sys/net/ipv6/conf/br-nm0/autoconf");
    assert_eq!(autoconf.expect("br-nm0's autoconf").trim(), "0");
    let o = apply_file("linux_bridge_absent.yml");
    assert!(o.status.success(), "{}", text(&o));
    assert!(!query().links.contains_key("br-nm0"));
    let eth1 = &query().links["eth1"];
    assert!(eth1.controller.is_none() && eth1.up, "{eth1:?}");
}

#[test]
fn linux_bridge_stp_timers_and_port_settings() {
    if !enter_private_netns("linux_bridge_stp_timers_and_port_settings") {
        return;
    }
    fixture();
    converges("linux_bridge_stp.yml", &["br-stp0", "eth1", "eth2"]);
    has_all(
        "br-stp0",
        &ip(&["-d", "link", "show", "br-stp0"]),
        &[
            "stp_state 1",
            "forward_delay 1400",
            "hello_time 300",
            "max_age 2500",
            "ageing_time 24000",
            "priority 28672",
            "group_fwd_mask 0x4000",
            "group_address 01:80:c2:00:00:00",
        ],
    );
    has_all(
        "eth1",
        &ip(&["-d", "link", "show", "eth1"]),
        &["priority 20 cost 150 hairpin off"],
    );
    has_all(
        "eth2",
        &ip(&["-d", "link", "show", "eth2"]),
        &["priority 40 cost 250 hairpin on"],
    );
    // `show` gives the timers back in seconds, nmstate's unit.
    let shown = shown_iface("br-stp0");
    let o = shown.bridge.and_then(|b| b.options).expect("options");
    let stp = o.stp.expect("stp");
    assert_eq!(
        (
            stp.forward_delay,
            stp.hello_time,
            stp.max_age,
            o.mac_ageing_time
        ),
        (Some(14), Some(3), Some(25), Some(240))
    );
}

#[test]
fn linux_bridge_multicast_settings() {
    if !enter_private_netns("linux_bridge_multicast_settings") {
        return;
    }
    fixture();
    converges("linux_bridge_multicast.yml", &["br-mc0", "eth1"]);
    has_all(
        "br-mc0",
        &ip(&["-d", "link", "show", "br-mc0"]),
        &[
            "mcast_hash_max 2048",
            "mcast_snooping 1",
            "mcast_router 2",
            "mcast_querier 1",
            "mcast_query_use_ifaddr 1",
            "mcast_last_member_count 3",
            "mcast_startup_query_count 4",
            "mcast_last_member_interval 200",
            "mcast_membership_interval 30000",
            "mcast_querier_interval 28000",
            "mcast_query_interval 14000",
            "mcast_query_response_interval 1200",
            "mcast_startup_query_interval 3500",
        ],
    );
}

/// Settings change in place, STP goes off with a forward delay of 0 (two requests: the
/// kernel checks the delay first), and settings another tool set in fractions of a
/// second or a jiffy apart are left alone.
#[test]
fn linux_bridge_settings_change_in_place() {
    if !enter_private_netns("linux_bridge_settings_change_in_place") {
        return;
    }
    fixture();
    converges("linux_bridge_stp.yml", &["br-stp0", "eth1", "eth2"]);
    let before = query().links["br-stp0"].clone();
    let change = "interfaces:\n- name: br-stp0\n  type: linux-bridge\n  bridge:\n    options:\n      stp: {enabled: false, forward-delay: 0}\n      multicast-startup-query-interval: 3125\n    port:\n    - {name: eth1, stp-priority: 10}\n    - {name: eth2}\n";
    let o = hostnet(&["apply", "-"], Some(change));
    assert!(o.status.success(), "{}", text(&o));
    let after = query();
    assert_eq!(
        after.links["br-stp0"].mac, before.mac,
        "the bridge was not made again"
    );
    has_all(
        "br-stp0",
        &ip(&["-d", "link", "show", "br-stp0"]),
        &["stp_state 0", "forward_delay 0", "hello_time 300"],
    );
    assert_eq!(after.bridge_ports["eth1"].priority, 10);
    // 3125 cs reads back as 3124 with HZ 250: the same value to hostnet.
    let again = hostnet(&["apply", "-"], Some(change));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{}",
        text(&again)
    );
    // Another tool's 2.5 s hello time is 2 s to a file that says 2.
    let o = Command::new("ip")
        .args([
            "link",
            "set",
            "br-stp0",
            "type",
            "bridge",
            "hello_time",
            "250",
        ])
        .status()
        .expect("ip");
    assert!(o.success());
    let two = "interfaces:\n- {name: br-stp0, type: linux-bridge, bridge: {options: {stp: {hello-time: 2}}}}\n";
    let again = hostnet(&["apply", "-"], Some(two));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{}",
        text(&again)
    );
}

/// A value the kernel would refuse is refused before anything changes, naming the key.
#[test]
fn linux_bridge_settings_the_kernel_refuses_exit_2() {
    if !enter_private_netns("linux_bridge_settings_the_kernel_refuses_exit_2") {
        return;
    }
    fixture();
    let before = show_json();
    let bad = "interfaces:\n- name: br-bad\n  type: linux-bridge\n  bridge:\n    options:\n      group-addr: 01:80:C2:00:00:02\n      group-forward-mask: 1\n      stp: {enabled: true, forward-delay: 1, hello-time: 11}\n    port:\n    - {name: eth1, stp-priority: 64, stp-path-cost: 0}\n";
    let o = hostnet(&["apply", "-"], Some(bad));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for path in [
        "interfaces[0].bridge.options.group-addr",
        "interfaces[0].bridge.options.group-forward-mask",
        "interfaces[0].bridge.options.stp.forward-delay",
        "interfaces[0].bridge.options.stp.hello-time",
        "interfaces[0].bridge.port[0].stp-priority",
        "interfaces[0].bridge.port[0].stp-path-cost",
    ] {
        assert!(err.contains(path), "{path} not in {err}");
    }
    assert_eq!(show_json(), before);
    // STP on in the kernel and a forward delay below 2 s: refused at plan time.
    converges("linux_bridge_stp.yml", &["br-stp0"]);
    let before = show_json();
    let short = "interfaces:\n- {name: br-stp0, type: linux-bridge, bridge: {options: {stp: {forward-delay: 1}}}}\n";
    let o = hostnet(&["apply", "-"], Some(short));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "interfaces[0].bridge.options.stp.forward-delay: 1 s is below the 2 s STP allows"
        ),
        "{}",
        text(&o)
    );
    assert_eq!(show_json(), before);
}

fn apply_ok(file: &str) -> String {
    let o = apply_file(file);
    assert!(o.status.success(), "{file}: {}", text(&o));
    text(&o)
}

#[test]
fn routes_add_and_remove_all() {
    if !enter_private_netns("routes_add_and_remove_all") {
        return;
    }
    fixture();
    converges("routes_add.yml", &["eth1"]);
    has_all(
        "main",
        &ip(&["route", "show", "table", "main"]),
        &[
            "198.51.100.0/24 via 192.0.2.1 dev eth1 proto static metric 150",
            "203.0.113.0/24 via 192.0.2.2 dev eth1 proto static src 192.0.2.30 metric 50",
        ],
    );
    has_all(
        "table 100",
        &ip(&["route", "show", "table", "100"]),
        &["default via 192.0.2.1 dev eth1"],
    );
    has_all(
        "table 100 (IPv6)",
        &ip(&["-6", "route", "show", "table", "100"]),
        &["2001:db8:99::/64 via 2001:db8:30::1 dev eth1 proto static metric 300"],
    );
    // A route of another tool's on eth2 stays.
    run_ip(&["addr", "add", "198.51.100.60/24", "dev", "eth2"]);
    run_ip(&[
        "route",
        "add",
        "10.60.0.0/16",
        "via",
        "198.51.100.1",
        "dev",
        "eth2",
    ]);
    apply_ok("routes_remove_all.yml");
    for family in ["-4", "-6"] {
        let left = ip(&[family, "route", "show", "table", "all", "dev", "eth1"]);
        for line in left.lines() {
            assert!(
                line.contains("proto kernel") || line.contains("table local"),
                "left through eth1: {line}"
            );
        }
    }
    has_all(
        "eth2",
        &ip(&["route", "show"]),
        &["10.60.0.0/16 via 198.51.100.1 dev eth2"],
    );
}

fn run_ip(args: &[&str]) {
    ip(args);
}

#[test]
fn routes_of_a_type_and_with_metrics() {
    if !enter_private_netns("routes_of_a_type_and_with_metrics") {
        return;
    }
    fixture();
    converges("routes_types_metrics.yml", &["eth1"]);
    has_all(
        "main",
        &ip(&["route", "show"]),
        &["blackhole 198.51.100.0/25 proto static"],
    );
    has_all(
        "table 100",
        &ip(&["route", "show", "table", "100"]),
        &["unreachable 198.51.100.128/25 proto static"],
    );
    let v6 = ip(&["-6", "route", "show"]);
    has_all(
        "IPv6",
        &v6,
        &[
            "prohibit 2001:db8:41::/64 dev lo proto static metric 1024",
            "2001:db8:42::/64 via 2001:db8:40::1 dev eth1 proto static metric 1024 mtu 1300 initcwnd 20",
        ],
    );
    has_all(
        "metrics",
        &ip(&["route", "show", "203.0.113.0/24"]),
        &["203.0.113.0/24 via 192.0.2.1 dev eth1 proto static mtu 1400 cwnd lock 20 advmss 1360 initcwnd 30 initrwnd 40 quickack 1"],
    );
    // `show` leaves out the loopback device of the IPv6 prohibit route.
    let shown = hostnet(&["show"], None);
    let d = hostnet::model::parse(&String::from_utf8_lossy(&shown.stdout)).expect("show parses");
    let prohibit = d
        .routes
        .expect("routes")
        .config
        .into_iter()
        .find(|r| r.route_type == Some(hostnet::netdev::RouteKind::Prohibit))
        .expect("prohibit route shown");
    assert_eq!(prohibit.next_hop_interface, None);
}

#[test]
fn routes_multipath_is_one_route() {
    if !enter_private_netns("routes_multipath_is_one_route") {
        return;
    }
    fixture();
    converges("routes_multipath.yml", &["eth1", "eth2"]);
    let t200 = ip(&["route", "show", "table", "200"]);
    has_all(
        "table 200",
        &t200,
        &[
            "nexthop via 192.0.2.1 dev eth1 weight 1",
            "nexthop via 198.51.100.1 dev eth2 weight 3",
        ],
    );
    assert_eq!(t200.matches("203.0.113.0/24").count(), 1, "{t200}");
    let shown = hostnet(&["show"], None);
    let d = hostnet::model::parse(&String::from_utf8_lossy(&shown.stdout)).expect("show parses");
    let weights: Vec<Option<u32>> = d
        .routes
        .expect("routes")
        .config
        .iter()
        .filter(|r| r.table_id == Some(200))
        .map(|r| r.weight)
        .collect();
    assert_eq!(weights, [Some(1), Some(3)]);
}

#[test]
fn rules_add_and_remove_all() {
    if !enter_private_netns("rules_add_and_remove_all") {
        return;
    }
    fixture();
    converges("rules_add.yml", &[]);
    has_all(
        "IPv4 rules",
        &ip(&["rule"]),
        &[
            "1000: from 192.0.2.0/24 lookup 100 proto static",
            "1001: from all to 198.51.100.0/24 lookup 100 proto static",
            "1002: from 203.0.113.0/24 to 192.0.2.0/24 fwmark 0x30/0xff lookup main proto static",
            "1003: from all fwmark 0x10 lookup 200 proto static",
        ],
    );
    has_all(
        "IPv6 rules",
        &ip(&["-6", "rule"]),
        &["1000: from 2001:db8:50::/64 lookup 100 proto static"],
    );
    apply_ok("rules_remove_all.yml");
    for family in ["-4", "-6"] {
        let rules = ip(&[family, "rule"]);
        assert!(!rules.contains("lookup 100"), "{rules}");
        assert!(
            rules.contains("lookup main") && rules.contains("lookup local"),
            "{rules}"
        );
    }
    has_all("kept", &ip(&["rule"]), &["1002:", "1003:"]);
}

#[test]
fn rules_with_actions_iif_and_suppress_prefix_length() {
    if !enter_private_netns("rules_with_actions_iif_and_suppress_prefix_length") {
        return;
    }
    fixture();
    converges("rules_action_iif.yml", &[]);
    has_all(
        "IPv4 rules",
        &ip(&["rule"]),
        &[
            "2000: from all to 198.51.100.0/24 blackhole",
            "2001: from 203.0.113.0/24 unreachable",
            "2003: from 192.0.2.0/24 iif eth1 lookup 100",
            "2004: from all lookup main suppress_prefixlength 0",
        ],
    );
    has_all(
        "IPv6 rules",
        &ip(&["-6", "rule"]),
        &["2002: from all iif eth1 prohibit"],
    );
}

/// True when this kernel has bridge VLAN filtering (a probe bridge's dump says so; the
/// probe is removed again).
fn kernel_has_bridge_vlans() -> bool {
    use hostnet::netdev::{LinkKind, NewLink, Op};
    run_ops(&[Op::CreateLink(NewLink {
        name: "hnprobe0".into(),
        kind: LinkKind::Bridge(Default::default()),
        up: false,
        mtu: None,
        mac: None,
        controller: None,
        peer: None,
    })]);
    let has = !query().no_bridge_vlans;
    run_ops(&[Op::DeleteLink {
        name: "hnprobe0".into(),
    }]);
    has
}

/// `bridge -j vlan show` for `name`, written as `fmt_vlans` writes a set ("100 pvid
/// untagged 101 …", ranges expanded); "" when the kernel reports no VLANs for it.
fn kernel_vlans(name: &str) -> String {
    let o = Command::new("bridge")
        .args(["-j", "vlan", "show", "dev", name])
        .output()
        .expect("bridge runs");
    assert!(o.status.success(), "bridge vlan show dev {name}: {o:?}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("bridge -j parses");
    let mut words = Vec::new();
    for entry in v.as_array().into_iter().flatten() {
        if entry["ifname"] != name {
            continue;
        }
        for vl in entry["vlans"].as_array().into_iter().flatten() {
            let first = vl["vlan"].as_u64().expect("vlan id");
            let last = vl["vlanEnd"].as_u64().unwrap_or(first);
            let flags: Vec<&str> = vl["flags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .collect();
            for vid in first..=last {
                let mut w = vid.to_string();
                if flags.contains(&"PVID") {
                    w.push_str(" pvid");
                }
                if flags.contains(&"Egress Untagged") {
                    w.push_str(" untagged");
                }
                words.push(w);
            }
        }
    }
    words.join(" ")
}

/// The model's VLANs of `name`, as `kernel_vlans` writes them.
fn model_vlans(s: &KernelState, name: &str) -> String {
    s.bridge_vlans
        .get(name)
        .map(hostnet::netdev::fmt_vlans)
        .unwrap_or_default()
}

/// Applies `file` and checks that the kernel's VLANs of `names` (read with `bridge -j
/// vlan show`) are the ones the dry run predicted.
fn vlans_as_predicted(file: &str, yaml: &str, names: &[&str]) {
    let d = hostnet::model::parse(yaml).expect("parses");
    let intent = hostnet::expand::expand(&d).expect("expands");
    let mut model = ModelDriver::new(query());
    let opts = hostnet::engine::ApplyOptions {
        dry_run: false,
        journal: None,
        discard_stale_journal: false,
    };
    hostnet::engine::apply(&mut model, &intent, opts, |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("{file}: dry run: {e}"));
    let o = hostnet(&["apply", "-"], Some(yaml));
    assert!(o.status.success(), "{file}: {}", text(&o));
    for n in names {
        assert_eq!(
            model_vlans(model.state(), n),
            kernel_vlans(n),
            "{file}: model and kernel disagree on {n}'s VLANs"
        );
    }
    let again = hostnet(&["apply", "-"], Some(yaml));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{file}: second apply: {}",
        text(&again)
    );
}

/// A VLAN-aware bridge: trunk port with a native VLAN and a range, access port; `vlan:
/// {}` takes a port back to the default; the bridge's removal frees the ports. On a
/// kernel without bridge VLAN filtering (this host's), the file is refused before
/// anything changes, and the kernel part skips unless
/// `HOSTNET_REQUIRE_KERNEL_FEATURES=1` (the VM tier, `tests/vm_tier.rs`).
#[test]
fn linux_bridge_port_vlans() {
    const TEST: &str = "linux_bridge_port_vlans";
    if !enter_private_netns(TEST) {
        return;
    }
    fixture();
    if !kernel_has_bridge_vlans() {
        refused_without_vlan_filtering();
        if std::env::var("HOSTNET_REQUIRE_KERNEL_FEATURES").as_deref() == Ok("1") {
            panic!("{TEST}: kernel lacks bridge VLAN filtering");
        }
        eprintln!("SKIP {TEST}: kernel lacks bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING): refusal checked only");
        return;
    }
    let file = "linux_bridge_port_vlan.yml";
    vlans_as_predicted(file, read(file), &["br-vl0", "eth1", "eth2"]);
    assert_eq!(
        kernel_vlans("eth1"),
        "100 pvid untagged 101 102 200 201 202 203 204 205 206 207 208 209"
    );
    assert_eq!(kernel_vlans("eth2"), "101 pvid untagged");
    has_all(
        "br-vl0",
        &ip(&["-d", "link", "show", "br-vl0"]),
        &["vlan_filtering 1", "vlan_protocol 802.1Q"],
    );
    // `show` prints the ports' VLANs back: applying it changes nothing.
    let shown = shown_iface("br-vl0");
    let yaml = String::from_utf8_lossy(&hostnet(&["show"], None).stdout).into_owned();
    let back = hostnet(&["apply", "-"], Some(&yaml));
    assert!(
        String::from_utf8_lossy(&back.stdout).contains("Nothing to change"),
        "show applied back ({shown:?}): {}",
        text(&back)
    );
    // An apply that fails after its VLAN ops (a route the kernel refuses comes later):
    // the rollback gives every port its VLANs back.
    let ports = ["br-vl0", "eth1", "eth2"];
    let vlans_before = ports.map(kernel_vlans);
    let failing = read(file)
        .replace(
            "mode: access\n            tag: 101",
            "mode: access\n            tag: 300",
        )
        .replace("- id: 102", "- id: 103")
        + "routes:\n  config:\n  - {destination: 203.0.113.0/24, next-hop-address: 10.99.0.1, next-hop-interface: eth2}\n";
    let o = hostnet(&["apply", "-"], Some(&failing));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("bridge-vlans eth2: add 300 pvid untagged"),
        "{}",
        text(&o)
    );
    assert_eq!(ports.map(kernel_vlans), vlans_before, "{}", text(&o));
    // `vlan: {}`: back to the bridge's default.
    let reset = read(file).replace(
        "vlan:\n            mode: access\n            tag: 101",
        "vlan: {}",
    );
    assert_ne!(reset, read(file));
    vlans_as_predicted("vlan: {}", &reset, &["br-vl0", "eth1", "eth2"]);
    assert_eq!(kernel_vlans("eth2"), "1 pvid untagged");
    // A new default PVID moves the bridge and the ports still on the old one.
    let pvid = "interfaces:\n- {name: br-vl0, type: linux-bridge, bridge: {options: {vlan-default-pvid: 5}}}\n";
    vlans_as_predicted("vlan-default-pvid", pvid, &["br-vl0", "eth1", "eth2"]);
    assert_eq!(kernel_vlans("eth2"), "5 pvid untagged");
    // No port with VLANs of its own any more: VLAN filtering goes off (nmstate's rule).
    let off = "interfaces:\n- {name: br-vl0, type: linux-bridge, bridge: {port: [{name: eth1, vlan: {}}, {name: eth2, vlan: {}}]}}\n";
    vlans_as_predicted("vlan filtering off", off, &["br-vl0", "eth1", "eth2"]);
    assert_eq!(kernel_vlans("eth1"), "5 pvid untagged");
    has_all(
        "br-vl0",
        &ip(&["-d", "link", "show", "br-vl0"]),
        &["vlan_filtering 0"],
    );
    let o = hostnet(
        &["apply", "-"],
        Some("interfaces:\n- {name: br-vl0, type: linux-bridge, state: absent}\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!query().links.contains_key("br-vl0"));
    assert!(query().links["eth1"].controller.is_none());
}

/// On a kernel without bridge VLAN filtering: with a bridge present the dump says so and
/// the plan refuses the port VLANs at their key (exit 2, nothing changed); with none,
/// the kernel's refusal of `vlan_filtering` is rolled back.
fn refused_without_vlan_filtering() {
    let file = "linux_bridge_port_vlan.yml";
    let before = show_json();
    let o = apply_file(file);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(
            "EOPNOTSUPP]: this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)"
        ),
        "{}",
        text(&o)
    );
    assert_eq!(show_json(), before, "{}", text(&o));
    converges("linux_bridge_up.yml", &["br-nm0"]);
    let before = show_json();
    let o = apply_file(file);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    for want in [
        "interfaces[0].bridge.port[0].vlan: this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING)",
        "interfaces[0].bridge.port[1].vlan",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    assert_eq!(show_json(), before);
}
