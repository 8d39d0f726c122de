//! nmstate's veth files and interfaces named without their type (docs/NMSTATE.md,
//! "`ethernet` and `veth` sections" and the `type` row): a pair made and removed, an
//! existing veth end configured as `type: ethernet`, an existing interface named alone.

use super::*;
use hostnet::netdev::LinkKind;

fn peer_of(name: &str) -> Option<String> {
    match &query().links.get(name)?.kind {
        LinkKind::Veth { peer } => peer.clone(),
        _ => None,
    }
}

#[test]
fn veth_pair_up_and_absent() {
    if !enter_private_netns("veth_pair_up_and_absent") {
        return;
    }
    converges("veth_up.yml", &["vnm0", "vnm0p"]);
    has_all(
        "vnm0",
        &ip(&["-d", "link", "show", "vnm0"]),
        &["vnm0@vnm0p:", "veth"],
    );
    has_all(
        "addresses",
        &ip(&["addr", "show", "vnm0"]),
        &["198.51.100.1/30"],
    );
    assert!(query().links["vnm0p"].up);
    apply_ok("veth_absent.yml");
    let links = query().links;
    assert!(
        !links.contains_key("vnm0") && !links.contains_key("vnm0p"),
        "{:?}",
        links.keys().collect::<Vec<_>>()
    );
}

#[test]
fn a_veth_named_as_ethernet_and_an_interface_named_without_type() {
    if !enter_private_netns("a_veth_named_as_ethernet_and_an_interface_named_without_type") {
        return;
    }
    fixture();
    converges("veth_as_ethernet.yml", &["eth1"]);
    has_all("eth1", &ip(&["link", "show", "eth1"]), &["mtu 1400"]);
    has_all("eth1", &ip(&["addr", "show", "eth1"]), &["192.0.2.20/24"]);
    // Still the same veth: nothing was re-created.
    assert_eq!(peer_of("eth1").as_deref(), Some("eth1p"));
    converges("iface_name_only.yml", &["eth1"]);
    has_all("eth1", &ip(&["link", "show", "eth1"]), &["mtu 1450"]);
    has_all(
        "eth1",
        &ip(&["-6", "addr", "show", "eth1"]),
        &["2001:db8:20::1/64"],
    );
    assert_eq!(peer_of("eth1").as_deref(), Some("eth1p"));
    // A name the kernel lacks needs its type: exit 2, naming the field, nothing changed.
    let before = query();
    let o = hostnet(
        &["apply", "-"],
        Some(&read("iface_name_only.yml").replace("eth1", "eth9")),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    has_all(
        "refusal",
        &text(&o),
        &[
            "interfaces[0].type:",
            "eth9 does not exist; give its type to create it",
        ],
    );
    let after = query();
    assert_eq!(before.links, after.links);
    assert_eq!(before.addresses, after.addresses);
}
