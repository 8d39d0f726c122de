//! nmstate's device keys (docs/NMSTATE.md, the kinds' sections): MACVLAN/MACVTAP `promiscuous` on this
//! kernel, VLAN `protocol` and flags where 802.1q exists (the VM tier).

use super::*;
use hostnet::netdev::{BondMode, BondOptions, LinkKind, NewLink, Op, VlanOptions};

/// `ip -d link show NAME`.
fn details(name: &str) -> String {
    ip(&["-d", "link", "show", name])
}

fn ifindex(name: &str) -> String {
    details(name)
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn mac_vlan_and_mac_vtap_promiscuous() {
    if !enter_private_netns("mac_vlan_and_mac_vtap_promiscuous") {
        return;
    }
    fixture();
    converges("mac_vlan.yml", &["mvnm0"]);
    let mv = details("mvnm0");
    has_all("mvnm0", &mv, &["macvlan mode bridge"]);
    assert!(!mv.contains("nopromisc"), "{mv}");
    has_all(
        "addresses",
        &ip(&["addr", "show", "mvnm0"]),
        &["192.0.2.60/24"],
    );
    apply_ok("mac_vlan_absent.yml");
    assert!(!query().links.contains_key("mvnm0"));

    converges("mac_vtap_passthru.yml", &["mtnm0"]);
    has_all(
        "mtnm0",
        &details("mtnm0"),
        &["macvtap mode passthru nopromisc"],
    );
    // The point of the flag: passthru leaves its base out of promiscuous mode.
    has_all("eth2", &details("eth2"), &["promiscuity 0"]);

    // The flag changes in place: same device, base now promiscuous.
    let before = ifindex("mtnm0");
    let on = read("mac_vtap_passthru.yml").replace("promiscuous: false", "promiscuous: true");
    let o = hostnet(&["apply", "-"], Some(&on));
    assert!(o.status.success(), "{}", text(&o));
    let now = details("mtnm0");
    assert!(!now.contains("nopromisc"), "{now}");
    assert_eq!(ifindex("mtnm0"), before, "re-created: {}", text(&o));
    has_all("eth2", &details("eth2"), &["promiscuity 1"]);
    let again = hostnet(&["apply", "-"], Some(&on));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{}",
        text(&again)
    );
    apply_ok("mac_vtap_absent.yml");
    assert!(!query().links.contains_key("mtnm0"));
}

/// Whether this kernel makes devices of `kind` (a probe, removed again); a skip prints
/// `SKIP`, and is a failure with `HOSTNET_REQUIRE_KERNEL_FEATURES=1` (the VM tier).
pub(crate) fn kernel_has(test: &str, kind: LinkKind) -> bool {
    let mut d = LinuxDriver::new().expect("netlink");
    let probe = Op::CreateLink(NewLink {
        name: "hnprobe0".into(),
        kind,
        up: false,
        mtu: None,
        mac: None,
        controller: None,
        peer: None,
    });
    match d.execute(&[probe]).remove(0) {
        Ok(()) => {
            run_ops(&[Op::DeleteLink {
                name: "hnprobe0".into(),
            }]);
            true
        }
        Err(e) => {
            if std::env::var("HOSTNET_REQUIRE_KERNEL_FEATURES").as_deref() == Ok("1") {
                panic!("{test}: kernel lacks the device ({e})");
            }
            eprintln!("SKIP {test}: {e} (covered by the VM tier)");
            false
        }
    }
}

#[test]
fn vlan_protocol_and_flags() {
    const TEST: &str = "vlan_protocol_and_flags";
    if !enter_private_netns(TEST) {
        return;
    }
    fixture();
    if !kernel_has(
        TEST,
        LinkKind::Vlan(VlanOptions::new(Some("eth1".into()), 4094)),
    ) {
        return;
    }
    converges("vlan_up.yml", &["eth1.101"]);
    let v = details("eth1.101");
    has_all(
        "eth1.101",
        &v,
        &["vlan protocol 802.1Q id 101 <LOOSE_BINDING>"],
    );
    has_all(
        "addresses",
        &ip(&["addr", "show", "eth1.101"]),
        &["198.51.100.101/24"],
    );

    // Flags change in place.
    let before = ifindex("eth1.101");
    let reorder = read("vlan_up.yml").replace("reorder-headers: false", "reorder-headers: true");
    let o = hostnet(&["apply", "-"], Some(&reorder));
    assert!(o.status.success(), "{}", text(&o));
    has_all(
        "eth1.101",
        &details("eth1.101"),
        &["id 101 <REORDER_HDR,LOOSE_BINDING>"],
    );
    assert_eq!(ifindex("eth1.101"), before, "re-created: {}", text(&o));

    // The protocol cannot: refused at plan time, nothing changed.
    let shown = show_json();
    let qinq = read("vlan_up.yml").replace("protocol: 802.1q", "protocol: 802.1ad");
    let o = hostnet(&["apply", "-"], Some(&qinq));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("interfaces[0].vlan: vlan eth1.101 exists with"),
        "{}",
        text(&o)
    );
    assert_eq!(show_json(), shown);

    apply_ok("vlan_absent.yml");
    assert!(!query().links.contains_key("eth1.101"));
    assert!(query().links["eth1"].up);

    // Q-in-Q in one apply: the service VLAN is created before the VLAN on it.
    converges("vlan_qinq.yml", &["eth1.300", "eth1.300.10"]);
    has_all(
        "eth1.300",
        &details("eth1.300"),
        &["vlan protocol 802.1ad id 300 <REORDER_HDR>"],
    );
    has_all(
        "eth1.300.10",
        &details("eth1.300.10"),
        &["eth1.300.10@eth1.300:", "vlan protocol 802.1Q id 10"],
    );
}

#[test]
fn bond_options() {
    const TEST: &str = "bond_options";
    if !enter_private_netns(TEST) {
        return;
    }
    fixture();
    if !kernel_has(
        TEST,
        LinkKind::Bond(BondOptions::new(BondMode::BalanceRr, 0)),
    ) {
        return;
    }
    converges("bond_lacp.yml", &["bond-nm1", "eth1", "eth2"]);
    has_all(
        "bond-nm1",
        &details("bond-nm1"),
        &[
            "mode 802.3ad",
            "miimon 100",
            "xmit_hash_policy layer3+4",
            "min_links 1",
            "lacp_rate fast",
            "ad_select bandwidth",
            "ad_actor_sys_prio 100",
            "ad_user_port_key 10",
        ],
    );
    // What the kernel takes with ports changes in place (the 802.3ad actor's priority
    // and system MAC too, on the up bond); lacp_rate would need it down.
    let before = ifindex("bond-nm1");
    let more = read("bond_lacp.yml")
        .replace("min_links: 1", "min_links: 2")
        .replace(
            "ad_actor_sys_prio: 100",
            "ad_actor_sys_prio: 200\n        ad_actor_system: 02:00:00:00:00:07",
        );
    let o = hostnet(&["apply", "-"], Some(&more));
    assert!(o.status.success(), "{}", text(&o));
    has_all(
        "bond-nm1",
        &details("bond-nm1"),
        &[
            "min_links 2",
            "ad_actor_sys_prio 200",
            "ad_actor_system 02:00:00:00:00:07",
        ],
    );
    assert_eq!(ifindex("bond-nm1"), before, "re-created: {}", text(&o));
    let shown = show_json();
    // The kernel's numbers for the named options are the same bond: nothing changes.
    let numbers = more
        .replace("mode: 802.3ad", "mode: 4")
        .replace("lacp_rate: fast", "lacp_rate: 1")
        .replace("ad_select: bandwidth", "ad_select: \"1\"")
        .replace("xmit_hash_policy: layer3+4", "xmit_hash_policy: 1");
    let o = hostnet(&["apply", "-"], Some(&numbers));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(show_json(), shown, "{}", text(&o));
    assert_eq!(ifindex("bond-nm1"), before, "re-created: {}", text(&o));
    let slow = more.replace("lacp_rate: fast", "lacp_rate: slow");
    let o = hostnet(&["apply", "-"], Some(&slow));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(show_json(), shown);
    let gone = "interfaces:\n  - {name: bond-nm1, type: bond, state: absent}\n";
    let o = hostnet(&["apply", "-"], Some(gone));
    assert!(o.status.success(), "{}", text(&o));

    // bond_up.yml unchanged: primary and ports-config too.
    let up = read("bond_up.yml").to_string();
    let first = converges_yaml("bond_up.yml", &up, &["bond-nm0", "eth1", "eth2"]);
    has_all(
        "bond-nm0",
        &details("bond-nm0"),
        &[
            "mode active-backup",
            "miimon 100 updelay 200 downdelay 200",
            "primary_reselect better",
            "fail_over_mac none",
            "num_grat_arp 2",
            "resend_igmp 1",
            "all_slaves_active 0",
            "primary eth1",
        ],
    );
    // ports-config: each port's queue ID and priority in its bond.
    has_all("eth1", &details("eth1"), &["queue_id 0 prio 10"]);
    has_all("eth2", &details("eth2"), &["queue_id 1 prio 5"]);
    assert!(first.contains("-> queue_id 1 prio 5"), "{first}");
    // Changed in place on a port that stays.
    let moved = up.replace(
        "priority: 5\n          queue-id: 1",
        "priority: 7\n          queue-id: 2",
    );
    let o = hostnet(&["apply", "-"], Some(&moved));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("bond_slave queue_id 1 prio 5 -> queue_id 2 prio 7"),
        "{}",
        text(&o)
    );
    has_all("eth2", &details("eth2"), &["queue_id 2 prio 7"]);
    // The primary port changes in place too.
    let up = moved.replace("primary: eth1", "primary: eth2");
    let o = hostnet(&["apply", "-"], Some(&up));
    assert!(o.status.success(), "{}", text(&o));
    has_all("bond-nm0", &details("bond-nm0"), &["primary eth2"]);
    let again = hostnet(&["apply", "-"], Some(&up));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{}",
        text(&again)
    );
    apply_ok("bond_absent.yml");
    assert!(!query().links.contains_key("bond-nm0"));
}

/// Removes bond `name` with an nmstate `state: absent`.
fn bond_gone(name: &str) {
    let gone = format!("interfaces:\n  - {{name: {name}, type: bond, state: absent}}\n");
    let o = hostnet(&["apply", "-"], Some(&gone));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!query().links.contains_key(name));
}

/// `bond_rr.yml`, `bond_tlb.yml` and `bond_lacp_passive.yml` unchanged: the options each
/// mode has, seen by `ip -d`; those the kernel takes while the bond is up with ports
/// change in place, those it takes only while down are refused before anything changes.
#[test]
fn bond_options_of_rr_tlb_and_passive_lacp() {
    const TEST: &str = "bond_options_of_rr_tlb_and_passive_lacp";
    if !enter_private_netns(TEST) {
        return;
    }
    fixture();
    if !kernel_has(
        TEST,
        LinkKind::Bond(BondOptions::new(BondMode::BalanceRr, 0)),
    ) {
        return;
    }
    converges("bond_rr.yml", &["bond-nm2", "eth1", "eth2"]);
    has_all(
        "bond-nm2",
        &details("bond-nm2"),
        &[
            "mode balance-rr",
            "miimon 100",
            "use_carrier 0",
            "lp_interval 5",
            "packets_per_slave 4",
        ],
    );
    let before = ifindex("bond-nm2");
    let changed = read("bond_rr.yml")
        .replace("use_carrier: false", "use_carrier: true")
        .replace("lp_interval: 5", "lp_interval: 7")
        .replace("packets_per_slave: 4", "packets_per_slave: 0");
    let o = hostnet(&["apply", "-"], Some(&changed));
    assert!(o.status.success(), "{}", text(&o));
    has_all(
        "bond-nm2",
        &details("bond-nm2"),
        &["use_carrier 1", "lp_interval 7", "packets_per_slave 0"],
    );
    assert_eq!(ifindex("bond-nm2"), before, "re-created: {}", text(&o));
    let again = hostnet(&["apply", "-"], Some(&changed));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
        "{}",
        text(&again)
    );
    bond_gone("bond-nm2");

    converges("bond_tlb.yml", &["bond-nm3", "eth1", "eth2"]);
    has_all(
        "bond-nm3",
        &details("bond-nm3"),
        &["mode balance-tlb", "tlb_dynamic_lb 0"],
    );
    let shown = show_json();
    let on = read("bond_tlb.yml").replace("tlb_dynamic_lb: false", "tlb_dynamic_lb: true");
    let o = hostnet(&["apply", "-"], Some(&on));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert_eq!(show_json(), shown);
    bond_gone("bond-nm3");

    converges("bond_lacp_passive.yml", &["bond-nm4", "eth1", "eth2"]);
    has_all(
        "bond-nm4",
        &details("bond-nm4"),
        &[
            "mode 802.3ad",
            "lacp_active off",
            "ad_actor_system 02:11:22:33:44:55",
        ],
    );
    bond_gone("bond-nm4");
}

/// `bond_arp.yml` unchanged: the ARP/NS monitor with its targets; the targets change in
/// place, and so does a switch from ARP to MII monitoring.
#[test]
fn bond_arp_monitor() {
    const TEST: &str = "bond_arp_monitor";
    if !enter_private_netns(TEST) {
        return;
    }
    fixture();
    if !kernel_has(
        TEST,
        LinkKind::Bond(BondOptions::new(BondMode::BalanceRr, 0)),
    ) {
        return;
    }
    converges("bond_arp.yml", &["bond-nm5", "eth1", "eth2"]);
    has_all(
        "bond-nm5",
        &details("bond-nm5"),
        &[
            "mode active-backup",
            "arp_interval 1000",
            "arp_missed_max 3",
            "arp_ip_target 192.0.2.1,192.0.2.2",
            "ns_ip6_target 2001:db8::1",
            "arp_validate all",
            "arp_all_targets all",
        ],
    );
    let before = ifindex("bond-nm5");
    let other = read("bond_arp.yml").replace("192.0.2.1,192.0.2.2", "192.0.2.3");
    converges_yaml("bond_arp.yml with another target", &other, &["bond-nm5"]);
    has_all(
        "bond-nm5",
        &details("bond-nm5"),
        &["arp_ip_target 192.0.2.3"],
    );
    let mii = "interfaces:\n  - name: bond-nm5\n    type: bond\n    state: up\n    link-aggregation:\n      mode: active-backup\n      options: {miimon: 100}\n      port: [eth1, eth2]\n";
    converges_yaml("bond_arp.yml switched to miimon", mii, &["bond-nm5"]);
    let now = details("bond-nm5");
    has_all("bond-nm5", &now, &["miimon 100", "arp_interval 0"]);
    assert!(!now.contains("arp_ip_target"), "{now}");
    assert_eq!(ifindex("bond-nm5"), before);
    bond_gone("bond-nm5");
}

/// `vxlan.yml` unchanged; then without `destination-port`: the tunnel keeps its 4789
/// (nmstate's rule for keys left out), and a new one gets 8472, the port NetworkManager
/// gives an nmstate file's tunnel (and the kernel's own default).
#[test]
fn vxlan_destination_port_left_out() {
    if !enter_private_netns("vxlan_destination_port_left_out") {
        return;
    }
    fixture();
    converges("vxlan.yml", &["vxnm42"]);
    has_all(
        "vxnm42",
        &details("vxnm42"),
        &["vxlan id 42", "dstport 4789"],
    );
    let without = read("vxlan.yml").replace("      destination-port: 4789\n", "");
    assert_ne!(without, read("vxlan.yml"));
    let o = hostnet(&["apply", "-"], Some(&without));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to change"),
        "{}",
        text(&o)
    );
    let new = without
        .replace("vxnm42", "vxnm43")
        .replace("id: 42", "id: 43");
    converges_yaml("vxlan.yml without destination-port", &new, &["vxnm43"]);
    has_all(
        "vxnm43",
        &details("vxnm43"),
        &["vxlan id 43", "dstport 8472"],
    );
}
