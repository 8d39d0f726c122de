//! Kinds nmstate creates that hostnet added in item 10 of docs/NMSTATE.md: `dummy`. This
//! host's kernel lacks them; the VM tier runs these tests on Debian's kernel.

use super::devices::kernel_has;
use super::*;
use hostnet::netdev::LinkKind;

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
