//! Kinds nmstate creates (docs/NMSTATE.md, "Interface types"): `dummy`,
//! `ipvlan`. This
//! host's kernel lacks them; the VM tier runs these tests on Debian's kernel.

use super::devices::kernel_has;
use super::*;
use hostnet::netdev::{IpVlanMode, IpVlanOptions, LinkKind};

#[test]
fn dummy_device_apply_converge_and_remove() {
    const TEST: &str = "dummy_device_apply_converge_and_remove";
    if !enter_private_netns(TEST) {
        return;
    }
    fixture();
    if !kernel_has(TEST, LinkKind::Dummy) {
        return;
    }
    converges("dummy.yml", &["dummy-nm0"]);
    let d = ip(&["-d", "link", "show", "dummy-nm0"]);
    has_all("dummy-nm0", &d, &["mtu 9000", "dummy"]);
    assert!(d.contains(",UP"), "{d}");
    has_all(
        "addresses",
        &ip(&["addr", "show", "dummy-nm0"]),
        &["203.0.113.5/32"],
    );
    // `show` names its type.
    let shown = hostnet(&["show"], None);
    has_all(
        "show",
        &String::from_utf8_lossy(&shown.stdout),
        &["name: dummy-nm0", "type: dummy"],
    );
    // A failure after the creation removes it again.
    let failing = format!(
        "{}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 192.0.2.99, next-hop-interface: dummy-nm1}}\n",
        read("dummy.yml").replace("dummy-nm0", "dummy-nm1")
    );
    let o = hostnet(&["apply", "-"], Some(&failing));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!query().links.contains_key("dummy-nm1"), "{}", text(&o));
    apply_ok("dummy_absent.yml");
    assert!(!query().links.contains_key("dummy-nm0"));
}

#[test]
fn ipvlan_device_apply_change_in_place_and_remove() {
    const TEST: &str = "ipvlan_device_apply_change_in_place_and_remove";
    if !enter_private_netns(TEST) {
        return;
    }
    fixture();
    let probe = LinkKind::IpVlan(IpVlanOptions {
        base: Some("eth2".into()),
        mode: IpVlanMode::L3,
        private: false,
        vepa: false,
    });
    if !kernel_has(TEST, probe) {
        return;
    }
    converges("ipvlan.yml", &["ipvnm0"]);
    let d = ip(&["-d", "link", "show", "ipvnm0"]);
    has_all("ipvnm0", &d, &["ipvlan mode l2 private"]);
    assert!(d.contains(",UP"), "{d}");
    has_all(
        "addresses",
        &ip(&["addr", "show", "ipvnm0"]),
        &["192.0.2.70/24"],
    );
    let shown = shown_iface("ipvnm0");
    let spec = shown.ipvlan.expect("show has the ipvlan section");
    assert_eq!(spec.base_iface, "eth1");
    assert_eq!(spec.mode.as_deref(), Some("l2"));
    assert_eq!((spec.private, spec.vepa), (Some(true), Some(false)));

    // Mode and flags change in place: the same device afterwards.
    let index = |d: &str| d.split(':').next().unwrap_or_default().to_string();
    let before = index(&d);
    let changed = read("ipvlan.yml")
        .replace("mode: l2", "mode: l3")
        .replace("private: true", "vepa: true");
    converges_yaml("ipvlan.yml (l3 vepa)", &changed, &["ipvnm0"]);
    let d = ip(&["-d", "link", "show", "ipvnm0"]);
    has_all("ipvnm0", &d, &["ipvlan mode l3 vepa"]);
    assert_eq!(index(&d), before, "{d}");

    // Both flags at once is refused before anything changes.
    let both = read("ipvlan.yml").replace("private: true", "private: true\n      vepa: true");
    let o = hostnet(&["apply", "-"], Some(&both));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("interfaces[0].ipvlan.vepa"),
        "{}",
        text(&o)
    );

    // Another IPVLAN on eth1 with other settings would switch ipvnm0, which that file
    // does not list (the kernel keeps mode and flags per base): refused, nothing changed.
    let other = read("ipvlan.yml")
        .replace("ipvnm0", "ipvnm1")
        .replace("192.0.2.70", "192.0.2.71");
    let o = hostnet(&["apply", "-"], Some(&other));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("interfaces[0].ipvlan: ipvlan ipvnm0 on eth1"),
        "{}",
        text(&o)
    );
    assert!(!query().links.contains_key("ipvnm1"), "{}", text(&o));
    has_all(
        "ipvnm0",
        &ip(&["-d", "link", "show", "ipvnm0"]),
        &["ipvlan mode l3 vepa"],
    );

    // A failure after the creation removes it again (with ipvnm0's mode and flags).
    let failing = format!(
        "{}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.99, next-hop-interface: ipvnm1}}\n",
        changed.replace("ipvnm0", "ipvnm1").replace("192.0.2.70", "192.0.2.71")
    );
    let o = hostnet(&["apply", "-"], Some(&failing));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(!query().links.contains_key("ipvnm1"), "{}", text(&o));
    has_all(
        "ipvnm0",
        &ip(&["-d", "link", "show", "ipvnm0"]),
        &["ipvlan mode l3 vepa"],
    );

    apply_ok("ipvlan_absent.yml");
    assert!(!query().links.contains_key("ipvnm0"));
}
