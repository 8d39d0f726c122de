//! nmstate's `type: vrf` and routes' `vrf-name` (`vrf.yml`, `vrf_routes.yml`,
//! `vrf_absent.yml`). This host's kernel lacks VRF; the VM tier runs this test on
//! Debian's kernel.

use super::*;
use hostnet::netdev::vrf::without_l3mdev_leftover;

/// Whether the kernel has VRF, without making one: a probe VRF would add the kernel's
/// l3mdev rules before the test, and the dry run must be seen adding them.
fn kernel_has_vrf(test: &str) -> bool {
    // /sys/module shows modules whatever the namespace.
    if std::path::Path::new("/sys/module/vrf").exists() {
        return true;
    }
    if std::env::var("HOSTNET_REQUIRE_KERNEL_FEATURES").as_deref() == Ok("1") {
        panic!("{test}: the kernel has no vrf module");
    }
    eprintln!("SKIP {test}: the kernel has no vrf module (covered by the VM tier)");
    false
}

/// The kernel's l3mdev rule in `ip rule` of one family.
fn has_l3mdev_rule(family: &str) -> bool {
    ip(&[family, "rule", "show"]).contains("1000:\tfrom all lookup [l3mdev-table]")
}

#[test]
fn vrf_with_ports_routes_by_name_and_removal() {
    const TEST: &str = "vrf_with_ports_routes_by_name_and_removal";
    if !enter_private_netns(TEST) {
        return;
    }
    fixture();
    if !kernel_has_vrf(TEST) {
        return;
    }
    assert!(
        !has_l3mdev_rule("-4"),
        "a fresh namespace has no l3mdev rule"
    );
    let predicted = model_of("vrf.yml", read("vrf.yml"));

    // A failure after the first VRF was made: rolled back exactly, but for the kernel's
    // l3mdev rules, which it keeps.
    let before = query();
    let failing = "interfaces:\n  - {name: vrf-nm1, type: vrf, vrf: {route-table-id: 101}}\nroutes:\n  config:\n    - {destination: 198.51.100.0/24, next-hop-address: 203.0.113.99, next-hop-interface: vrf-nm1}\n";
    let o = hostnet(&["apply", "-"], Some(failing));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    for family in ["-4", "-6"] {
        assert!(has_l3mdev_rule(family), "{}", ip(&[family, "rule", "show"]));
    }
    let after = without_l3mdev_leftover(&before, query());
    let view = |s: &KernelState| {
        (
            s.links.clone(),
            s.addresses.clone(),
            s.routes.clone(),
            s.rules.clone(),
            s.opaque_routes.clone(),
            s.opaque_rules.clone(),
        )
    };
    assert_eq!(view(&after), view(&before), "{}", text(&o));

    converges("vrf.yml", &["vrf-nm0", "eth1"]);
    // The dry run predicted the kernel's own rules, as the Linux driver reads them.
    let now = query();
    assert_eq!(predicted.opaque_rules, now.opaque_rules, "l3mdev rules");
    for family in ["-4", "-6"] {
        assert!(has_l3mdev_rule(family), "{}", ip(&[family, "rule", "show"]));
    }
    has_all(
        "vrf-nm0",
        &ip(&["-d", "link", "show", "vrf-nm0"]),
        &["vrf table 100"],
    );
    has_all("eth1", &ip(&["link", "show", "eth1"]), &["master vrf-nm0"]);
    has_all(
        "table 100",
        &ip(&["route", "show", "table", "100"]),
        &["192.0.2.0/24 dev eth1 proto kernel"],
    );
    let shown = shown_iface("vrf-nm0");
    let spec = shown.vrf.expect("show has the vrf section");
    assert_eq!(spec.port.as_deref(), Some(&["eth1".to_string()][..]));
    assert_eq!(spec.route_table_id, Some(100));

    // Routes by the VRF's name, its table read from the kernel.
    converges("vrf_routes.yml", &["vrf-nm0", "eth1"]);
    has_all(
        "table 100",
        &ip(&["route", "show", "table", "100"]),
        &[
            "198.51.100.0/24 via 192.0.2.1 dev eth1 proto static",
            "203.0.113.0/24 via 192.0.2.2 dev eth1 proto static metric 50",
        ],
    );
    let show = String::from_utf8_lossy(&hostnet(&["show"], None).stdout).into_owned();
    has_all("show", &show, &["vrf-name: vrf-nm0", "table-id: 100"]);

    // The kernel cannot change a VRF's table: refused before anything changes.
    let moved = read("vrf.yml").replace("route-table-id: 100", "route-table-id: 101");
    let o = hostnet(&["apply", "-"], Some(&moved));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("interfaces[0].vrf.route-table-id"),
        "{}",
        text(&o)
    );
    // A route's table contradicting its VRF's.
    let contra = read("vrf_routes.yml").replace("metric: 50", "metric: 50\n      table-id: 7");
    let o = hostnet(&["apply", "-"], Some(&contra));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("routes.config[1].table-id"),
        "{}",
        text(&o)
    );

    let before = query();
    apply_ok("vrf_absent.yml");
    let after = query();
    assert!(!after.links.contains_key("vrf-nm0"));
    assert_eq!(after.links["eth1"].controller, None);
    assert!(has_l3mdev_rule("-4"), "the kernel keeps its rule");
    assert_eq!(before.opaque_rules, after.opaque_rules);
}
