//! Day-2 changes on a running host (issue 12): renumbering, a second address, removal by
//! name, uplink moves, priorities, complete networks, plan-time checks. Each change goes
//! through `hostnet` in the test's own namespace and through the model with the same
//! input (`Host::step`): both must plan the same, end the same, and re-apply to nothing.
//! First, what the kernel does with routes when addresses go, against the model.
mod common;
#[path = "day2/host.rs"]
mod host;

use common::text;
use host::{have, ip, kernel_part, query, Host};
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{Address, Driver, Op};

/// Sets the namespace up with `ip` (an independent tool), then runs `change` on the kernel
/// (with `ip`) and `op` on a model seeded with the state before: they must agree.
fn kernel_and_model_agree(test: &str, setup: &[&str], change: &str, op: Op) {
    let Some(_host) = Host::new(test) else { return };
    for cmd in setup {
        ip(cmd);
    }
    let before = query();
    ip(change);
    let kernel = query();
    let mut model = ModelDriver::new(before.clone());
    for r in model.execute(&[op]) {
        r.expect("model");
    }
    let model = model.query().expect("model");
    assert_eq!(
        kernel_part(&model),
        kernel_part(&kernel),
        "before:\n{}",
        kernel_part(&before)
    );
}

fn del(ifname: &str, addr: &str) -> Op {
    Op::DeleteAddress(Address::new(ifname, addr.parse().expect("test value")))
}

const BR0: [&str; 4] = [
    "link add br0 type bridge",
    "link set br0 up",
    "link set eth1 master br0",
    "addr add 203.0.113.10/24 dev eth2",
];

#[test]
fn the_last_ipv4_address_takes_every_ipv4_route_through_its_device() {
    let setup = [
        &BR0[..],
        &[
            "addr add 192.0.2.10/24 dev br0",
            "route add default via 192.0.2.1 dev br0 proto 201",
            "route add default via 192.0.2.1 dev br0 table 100 proto 201",
            "route add 192.0.2.0/24 dev br0 scope link src 192.0.2.10 table 100 proto 201",
            "route add 10.2.0.0/16 dev br0 table 200 proto 201",
            "route add 10.3.0.0/16 dev eth2 src 192.0.2.10 table 200 proto 201",
            "-6 addr add 2001:db8:1::10/64 dev br0 nodad",
            "-6 route add default via 2001:db8:1::1 dev br0 table 100 proto 201",
        ],
    ]
    .concat();
    kernel_and_model_agree(
        "the_last_ipv4_address_takes_every_ipv4_route_through_its_device",
        &setup,
        "addr del 192.0.2.10/24 dev br0",
        del("br0", "192.0.2.10/24"),
    );
}

#[test]
fn an_address_gone_takes_only_the_main_tables_routes_preferring_it() {
    let setup = [
        &BR0[..],
        &[
            "addr add 192.0.2.10/24 dev br0",
            "addr add 198.51.100.10/24 dev br0",
            "route add default via 192.0.2.1 dev br0 proto 201",
            "route add 10.1.0.0/16 via 192.0.2.1 table 100 proto 201",
            "route add 10.2.0.0/16 dev br0 src 192.0.2.10 table 200 proto 201",
            "route add 10.3.0.0/16 dev eth2 src 192.0.2.10 proto 201",
            "route add 10.4.0.0/16 via 198.51.100.1 dev br0 src 192.0.2.10 proto 201",
            "route add 10.5.0.0/16 via 203.0.113.1 dev eth2 src 192.0.2.10 table 253 proto 201",
        ],
    ]
    .concat();
    kernel_and_model_agree(
        "an_address_gone_takes_only_the_main_tables_routes_preferring_it",
        &setup,
        "addr del 192.0.2.10/24 dev br0",
        del("br0", "192.0.2.10/24"),
    );
}

#[test]
fn an_ipv4_primary_takes_its_secondaries_and_then_the_routes() {
    let setup = [
        &BR0[..],
        &[
            "addr add 192.0.2.10/24 dev br0",
            "addr add 192.0.2.20/24 dev br0",
            "route add default via 192.0.2.1 dev br0 table 100 proto 201",
            "route add 10.3.0.0/16 dev eth2 src 192.0.2.20 proto 201",
        ],
    ]
    .concat();
    kernel_and_model_agree(
        "an_ipv4_primary_takes_its_secondaries_and_then_the_routes",
        &setup,
        "addr del 192.0.2.10/24 dev br0",
        del("br0", "192.0.2.10/24"),
    );
}

#[test]
fn a_deleted_ipv6_address_leaves_routes_without_their_source() {
    let setup = [
        &BR0[..],
        &[
            "-6 addr add 2001:db8:1::10/64 dev br0 nodad",
            "-6 addr add 2001:db8:3::10/64 dev eth2 nodad",
            "-6 route add default via 2001:db8:1::1 dev br0 table 100 proto 201",
            "-6 route add 2001:db8:1::/64 dev br0 src 2001:db8:1::10 table 100 proto 201",
            "-6 route add 2001:db8:b::/64 dev eth2 src 2001:db8:1::10 table 200 proto 201",
            "-6 route add 2001:db8:c::/64 via 2001:db8:1::1 dev br0 table 200 proto 201",
        ],
    ]
    .concat();
    kernel_and_model_agree(
        "a_deleted_ipv6_address_leaves_routes_without_their_source",
        &setup,
        "-6 addr del 2001:db8:1::10/64 dev br0",
        del("br0", "2001:db8:1::10/64"),
    );
}

#[test]
fn a_deleted_device_takes_main_routes_preferring_its_ipv4_address() {
    let setup = [
        &BR0[..],
        &[
            "addr add 192.0.2.10/24 dev br0",
            "-6 addr add 2001:db8:1::10/64 dev br0 nodad",
            "route add 10.3.0.0/16 dev eth2 src 192.0.2.10 table 200 proto 201",
            "route add 10.4.0.0/16 dev eth2 src 192.0.2.10 proto 201",
            "-6 addr add 2001:db8:3::10/64 dev eth2 nodad",
            "-6 route add 2001:db8:b::/64 dev eth2 src 2001:db8:1::10 table 200 proto 201",
        ],
    ]
    .concat();
    kernel_and_model_agree(
        "a_deleted_device_takes_main_routes_preferring_its_ipv4_address",
        &setup,
        "link del br0",
        Op::DeleteLink { name: "br0".into() },
    );
}

const MGMT: &str = "networks:
  - name: mgmt
    uplink: eth1
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    default-route: true
";

#[test]
fn renumbering_a_bridged_network_converges() {
    let Some(h) = Host::new("renumbering_a_bridged_network_converges") else {
        return;
    };
    h.step(MGMT);
    let renumbered = MGMT
        .replace("192.0.2.10/24", "192.0.2.20/24")
        .replace("2001:db8:1::10/64", "2001:db8:1::20/64");
    h.step(&renumbered);
    let routes = ip("route show default");
    assert!(routes.contains("via 192.0.2.1 dev mgmt"), "{routes}");
    // Into another subnet, with another gateway.
    h.step(&renumbered.replace(
        "192.0.2.20/24], gateway: 192.0.2.1",
        "198.51.100.20/24], gateway: 198.51.100.1",
    ));
    // Back, with a secondary address kept through the change of its primary.
    h.step(&MGMT.replace("[192.0.2.10/24]", "[192.0.2.10/24, 192.0.2.11/24]"));
    h.step(&MGMT.replace("[192.0.2.10/24]", "[192.0.2.11/24]"));
}

#[test]
fn a_renumbering_the_kernel_rejects_later_is_rolled_back_exactly() {
    let Some(h) = Host::new("a_renumbering_the_kernel_rejects_later_is_rolled_back_exactly") else {
        return;
    };
    h.step(MGMT);
    let before = kernel_part(&query());
    // The renumbering drops the gateway routes; then the kernel refuses a route whose
    // gateway no subnet reaches, and everything must come back, dropped routes included.
    let failing = format!(
        "{}routes:\n  config:\n    - {{destination: 10.0.0.0/8, next-hop-address: 203.0.113.1, next-hop-interface: mgmt}}\n",
        MGMT.replace("192.0.2.10/24", "192.0.2.20/24")
    );
    let o = h.hostnet(&["apply", "-"], Some(&failing));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("the previous state was restored and verified"),
        "{}",
        text(&o)
    );
    assert_eq!(kernel_part(&query()), before);
    // The rollback's own restoration is not another tool's replacement (review finding 4).
    assert!(!text(&o).contains("kept:"), "{}", text(&o));
}

#[test]
fn two_addresses_in_one_subnet_apply() {
    let Some(h) = Host::new("two_addresses_in_one_subnet_apply") else {
        return;
    };
    h.step(MGMT);
    h.step(
        &MGMT
            .replace("[192.0.2.10/24]", "[192.0.2.20/24, 192.0.2.21/24]")
            .replace(
                "['2001:db8:1::10/64']",
                "['2001:db8:1::20/64', '2001:db8:1::21/64']",
            ),
    );
    let on_link = ip("route show table all proto 201 192.0.2.0/24");
    assert_eq!(on_link.lines().count(), 1, "{on_link}");
    assert!(on_link.contains("src 192.0.2.20"), "{on_link}");
}

const VMBR0: &str = "networks:
  - name: mgmt
    bridge: vmbr0
    uplink: eth1
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    default-route: true
    source-routing: {table: 1234, priority: 3100}
";

const BY_NAME: &str = "networks:\n  - {name: mgmt, state: absent}\n";

/// hostnet's rules (`ip rule show proto 201` does not filter in iproute2 6.1).
fn tagged_rules(family: &str) -> Vec<String> {
    ip(&format!("{family} rule show"))
        .lines()
        .filter(|l| l.contains("proto 201"))
        .map(str::to_string)
        .collect()
}

fn nothing_tagged() {
    for family in ["-4", "-6"] {
        assert_eq!(ip(&format!("{family} route show table all proto 201")), "");
        assert_eq!(tagged_rules(family), Vec::<String>::new());
    }
}

#[test]
fn a_network_is_removed_by_its_name_alone() {
    let test = "a_network_is_removed_by_its_name_alone";
    if !have(test, "nft") || !have(test, "dnsmasq") {
        return;
    }
    let Some(h) = Host::new(test) else { return };
    h.step(&format!(
        "{VMBR0}    firewall: {{isolate: true}}\n    dhcp-server: {{range: {{start: 192.0.2.100, end: 192.0.2.200}}, ping-check: false}}\n"
    ));
    let nft = || {
        let o = Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&o.stdout).contains("mgmt")
    };
    let server = || {
        let o = h.hostnet(&["show", "--dhcp-servers"], None);
        String::from_utf8_lossy(&o.stdout).contains("mgmt")
    };
    assert!(nft() && server());
    let o = h.step(BY_NAME);
    assert!(
        String::from_utf8_lossy(&o.stderr).is_empty(),
        "{}",
        text(&o)
    );
    assert!(!nft() && !server());
    assert_eq!(ip("link show type bridge"), "");
    assert!(!ip("link show eth1").contains("master"));
    nothing_tagged();
    // A bridgeless network too: its addresses leave the NIC, the NIC stays.
    let bridgeless = "networks:\n  - {name: lan, uplink: eth2, bridged: false, ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}}\n";
    h.step(bridgeless);
    h.step("networks:\n  - {name: lan, state: absent}\n");
    assert_eq!(ip("-4 addr show dev eth2"), "");
    nothing_tagged();
}

#[test]
fn a_removal_without_a_record_says_what_it_could_not_find() {
    let Some(h) = Host::new("a_removal_without_a_record_says_what_it_could_not_find") else {
        return;
    };
    h.apply(VMBR0);
    // As if an older hostnet had applied it: no record.
    std::fs::remove_dir_all(h.state_dir().join("applied")).expect("remove the record");
    let o = h.apply(BY_NAME);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("warning: networks[0] (mgmt): there is no device mgmt, and hostnet has no record of this network here"),
        "{}",
        text(&o)
    );
    assert!(ip("link show type bridge").contains("vmbr0"));
    // Naming the bridge and the table removes the rest.
    h.step("networks:\n  - {name: mgmt, state: absent, bridge: vmbr0, source-routing: {table: 1234, priority: 3100}}\n");
    assert_eq!(ip("link show type bridge"), "");
    nothing_tagged();
}

#[test]
fn a_bridgeless_network_moves_to_another_nic() {
    let Some(h) = Host::new("a_bridgeless_network_moves_to_another_nic") else {
        return;
    };
    let on = |nic: &str| {
        MGMT.replace(
            "uplink: eth1",
            &format!("uplink: {nic}\n    bridged: false"),
        )
    };
    h.step(&on("eth1"));
    h.step(&on("eth2"));
    assert_eq!(ip("-4 addr show dev eth1"), "");
    assert!(!ip("-6 addr show dev eth1").contains("2001:db8:1::10"));
    let tagged = ip("route show table all proto 201");
    assert!(!tagged.contains("eth1"), "{tagged}");
    // And back into a bridge on the first NIC.
    h.step(MGMT);
    assert!(!ip("addr show dev eth2").contains("192.0.2.10"));
}

#[test]
fn a_bridged_network_changes_its_uplink_and_keeps_guests() {
    let Some(h) = Host::new("a_bridged_network_changes_its_uplink_and_keeps_guests") else {
        return;
    };
    h.step(MGMT);
    // A guest's port, plugged in by someone else.
    ip("link add vnet0 type veth peer name vnet0p");
    ip("link set vnet0 master mgmt up");
    h.step(&MGMT.replace("uplink: eth1", "uplink: eth2"));
    assert!(!ip("link show eth1").contains("master"));
    assert!(ip("link show eth2").contains("master mgmt"));
    assert!(ip("link show vnet0").contains("master mgmt"));
    // A renamed bridge: the old one goes, the uplink and addresses move.
    h.step(&MGMT.replace("name: mgmt", "name: mgmt\n    bridge: vmbr1"));
    assert!(ip("link show eth1").contains("master vmbr1"));
    assert!(!ip("link show type bridge").contains("mgmt:"));
}

#[test]
fn a_new_priority_replaces_the_old_rules() {
    let Some(h) = Host::new("a_new_priority_replaces_the_old_rules") else {
        return;
    };
    h.step(MGMT);
    h.step(&format!(
        "{MGMT}settings:\n  source-routing: {{priority: 3300}}\n"
    ));
    h.step(&format!("{MGMT}    source-routing: {{priority: 3400}}\n"));
    for family in ["-4", "-6"] {
        let rules = tagged_rules(family);
        assert!(!rules.is_empty());
        // The network's rules at 3400, the block around them; nothing left at 3200 or 3300.
        let priorities: Vec<&str> = rules.iter().filter_map(|l| l.split(':').next()).collect();
        assert!(
            priorities
                .iter()
                .all(|p| ["3398", "3399", "3400", "3401"].contains(p)),
            "{rules:?}"
        );
        assert!(rules.iter().any(|l| l.starts_with("3400:")), "{rules:?}");
    }
    // A new table takes the routes and rules; without source-routing the defaults
    // (a derived table, the default priority) do.
    h.step(&format!(
        "{MGMT}    source-routing: {{table: 1001}}
"
    ));
    assert!(tagged_rules("-4")
        .iter()
        .filter(|l| l.contains(" lookup ") && !l.contains("lookup main"))
        .all(|l| l.contains("lookup 1001")));
    h.step(MGMT);
    assert_eq!(ip("route show table 1001"), "");
    assert!(tagged_rules("-4")
        .iter()
        .all(|l| ["3198:", "3199:", "3200:", "3201:"]
            .iter()
            .any(|p| l.starts_with(p))));
}

#[test]
fn a_listed_network_is_described_completely() {
    let test = "a_listed_network_is_described_completely";
    if !have(test, "nft") || !have(test, "dnsmasq") {
        return;
    }
    let Some(h) = Host::new(test) else { return };
    let full = "networks:
  - name: guests
    uplink: eth1
    ipv4: {address: [10.10.0.1/24], gateway: 10.10.0.254}
    ipv6: {address: ['2001:db8:a::1/64'], gateway: '2001:db8:a::fe'}
    default-route: true
    firewall: {isolate: true}
    dhcp-server: {range: {start: 10.10.0.100, end: 10.10.0.200}, ping-check: false}
";
    let without = |section: &str| {
        full.lines()
            .filter(|l| !l.trim_start().starts_with(section))
            .map(|l| format!("{l}\n"))
            .collect::<String>()
    };
    let fw = || {
        let o = Command::new("nft")
            .args(["list", "table", "inet", "hostnet"])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let servers = || {
        let o = h.hostnet(&["show", "--dhcp-servers"], None);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    h.step(full);
    assert!(fw().contains("guests"), "{}", fw());

    assert!(servers().contains("guests"), "{}", servers());
    // Each section left out is absent; the others stay.
    h.step(&without("firewall:"));
    assert!(!fw().contains("guests"), "{}", fw());
    assert!(servers().contains("guests"));
    h.step(&without("dhcp-server:"));
    assert!(!servers().contains("guests"), "{}", servers());
    h.step(&without("default-route:"));
    assert_eq!(ip("route show default"), "");
    h.step(&without("ipv6:"));
    assert!(!ip("-6 addr show dev guests").contains("2001:db8:a::1"));
    assert_eq!(ip("-6 route show table all proto 201"), "");
    // Without uplink (and so without gateway: it could not be reached), the uplink
    // leaves the bridge; without ipv4 the bridge has no address left.
    h.step("networks:\n  - {name: guests, ipv4: {address: [10.10.0.1/24]}}\n");
    assert!(!ip("link show eth1").contains("master"));
    h.step("networks:\n  - {name: guests}\n");
    assert_eq!(ip("-4 addr show dev guests"), "");
    nothing_tagged();
}

#[test]
fn an_mtu_left_out_is_kept() {
    // mtu is a setting, not a section: left out, the device keeps the MTU it has. On a
    // NIC: the kernel makes a bridge's MTU follow its ports unless it was set by hand
    // (and a bridge's MTU lowered after its port's was not), which the model does not
    // know.
    let Some(h) = Host::new("an_mtu_left_out_is_kept") else {
        return;
    };
    let lan = "networks:\n  - {name: lan, uplink: eth2, bridged: false, ipv4: {address: [198.51.100.10/24]}}\n";
    h.step(&lan.replace("bridged: false", "bridged: false, mtu: 1400"));
    h.step(lan);
    assert!(ip("link show eth2").contains("mtu 1400"));
}

#[test]
fn what_would_apply_but_not_work_is_refused_at_plan_time() {
    let Some(h) = Host::new("what_would_apply_but_not_work_is_refused_at_plan_time") else {
        return;
    };
    let err = h.refused(
        "networks:\n  - {name: t, uplink: eth1, ipv4: {address: [10.10.0.1/24]}, firewall: {masquerade: {out-interface: wan9}}}\n",
        "networks[0].firewall.masquerade.out-interface: wan9 does not exist",
    );
    assert!(err.contains("nothing was changed"), "{err}");
    h.refused(
        "networks:\n  - {name: t, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n",
        "networks[0].uplink: network t has gateway 192.0.2.1, but its bridge t has no port",
    );
    h.step("interfaces:\n  - {name: v0, type: veth, veth: {peer: v1}}\n");
    h.refused(
        "interfaces:\n  - {name: v0, type: veth, state: absent}\nroutes:\n  config:\n    - {destination: 10.0.0.0/8, next-hop-interface: v1}\n",
        "routes.config[0].next-hop-interface: v1 is removed by this file",
    );
    let with_route = |v4: &str| {
        format!("interfaces:\n  - {{name: eth2, type: veth, ipv4: {v4}}}\nroutes:\n  config:\n    - {{destination: 10.0.0.0/8, next-hop-address: 203.0.113.1}}\n")
    };
    h.step(&with_route(
        "{enabled: true, address: [{ip: 203.0.113.10, prefix-length: 24}]}",
    ));
    h.refused(
        &with_route("{enabled: false}"),
        "routes.config[0].next-hop-address: 203.0.113.1 is reached only through addresses or devices this file removes",
    );
    // The same file creating what the masquerade goes out of is fine.
    h.step("interfaces:\n  - {name: wan9, type: veth, veth: {peer: wan9p}}\nnetworks:\n  - {name: t, uplink: eth1, ipv4: {address: [10.10.0.1/24]}, firewall: {masquerade: {out-interface: wan9}}}\n");
}

use std::process::Command;

/// Review findings 1 and 4: the renumbering drops the gateway routes, which the apply
/// adds again; the rollback deletes the new address, which drops them once more. They are
/// hostnet's doing and must come back, in main and in the network's table, and the
/// rollback's own restoration is nobody's "replacement" (no `kept:` line). `take_back`
/// rolls the checkpoint back (`hostnet rollback`, or the watchdog after `timeout` seconds)
/// and returns what it said.
fn checkpointed_renumbering_rolled_back(test: &str, timeout: &str, take_back: fn(&Host) -> String) {
    let Some(h) = Host::new(test) else { return };
    let base = format!("{MGMT}    source-routing: {{table: 1001}}\n");
    h.step(&base);
    let before = kernel_part(&query());
    let renumbered = base.replace("192.0.2.10/24", "192.0.2.20/24");
    let o = h.hostnet(
        &["apply", "--confirm-timeout", timeout, "-"],
        Some(&renumbered),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let said = take_back(&h);
    let defaults = ip("-4 route show table all default");
    assert_eq!(defaults.lines().count(), 2, "{defaults}\n{said}");
    assert_eq!(kernel_part(&query()), before, "{said}");
    assert!(!said.contains("kept:"), "{said}");
    let status = h.hostnet(&["status"], None);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status));
    assert!(!text(&status).contains("kept:"), "{}", text(&status));
}

fn by_rollback(h: &Host) -> String {
    let o = h.hostnet(&["rollback"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    text(&o)
}

/// Waits (bounded) for the watchdog's note of what it did.
fn by_watchdog(h: &Host) -> String {
    let dir = h.state_dir().join("checkpoint");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let note = std::fs::read_dir(&dir).ok().and_then(|d| {
            d.flatten()
                .find(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .ends_with(".last-rollback.txt")
                })
                .and_then(|e| std::fs::read_to_string(e.path()).ok())
        });
        if let Some(note) = note.filter(|n| n.ends_with('\n')) {
            assert!(note.contains("rolled back ("), "{note}");
            return note;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the watchdog did not roll back within 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn a_checkpointed_renumbering_rolled_back_keeps_its_gateway_routes() {
    checkpointed_renumbering_rolled_back(
        "a_checkpointed_renumbering_rolled_back_keeps_its_gateway_routes",
        "120",
        by_rollback,
    );
}

#[test]
fn a_renumbering_the_watchdog_rolls_back_keeps_its_gateway_routes() {
    checkpointed_renumbering_rolled_back(
        "a_renumbering_the_watchdog_rolls_back_keeps_its_gateway_routes",
        "1",
        by_watchdog,
    );
}
