//! Regressions of the firewall review (issue 4), with real rules and real TCP between
//! namespaces the tests create, for each backend.

#[path = "firewall/lab.rs"]
mod lab;

use lab::{text, Lab, Variant};

/// tenant1 forwards tcp 8022 to g1:2222; tenant3 only masquerades.
fn doc(backend: &str) -> String {
    format!(
        "
firewall: {{backend: {backend}}}
networks:
  - name: tenant1
    uplink: g1h
    ipv4: {{address: [10.10.0.1/24]}}
    firewall:
      masquerade: {{out-interface: uplink0}}
      port-forwards:
        - {{proto: tcp, external-port: 8022, internal: 10.10.0.5, internal-port: 2222, interface: uplink0}}
  - name: tenant3
    uplink: g3h
    ipv4: {{address: [10.30.0.1/24]}}
    firewall: {{masquerade: {{out-interface: uplink0}}}}
"
    )
}

fn apply(lab: &Lab, yaml: &str) -> String {
    let o = lab.hostnet(&["apply", "-"], Some(yaml));
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ip(peer: Option<std::net::SocketAddr>) -> Option<String> {
    peer.map(|p| p.ip().to_string())
}

/// Finding 1: a port forward translates only traffic addressed to the host, and guests
/// reach it on the host's public address (hairpin, masqueraded within the network).
fn port_forward_scope(tag: &str, variant: Variant) {
    let test = format!("port_forward_only_for_the_host_{tag}");
    if !lab::may_run(&test, variant.tools()) {
        return;
    }
    let lab = Lab::new(&format!("f1{tag}"), variant);
    apply(&lab, &doc(variant.backend()));
    let again = apply(&lab, &doc(variant.backend()));
    assert!(again.contains("Nothing to change"), "{again}");
    // The internet routes tenant3's subnet through the host: traffic to g3 on the
    // forwarded port is routed, not translated.
    lab.run(
        "inet",
        "ip",
        &["route", "add", "10.30.0.0/24", "via", "198.51.100.1"],
    );
    let g3 = lab.listen("g3", "0.0.0.0:8022");
    assert_eq!(
        ip(lab.exchange("inet", &g3, "10.30.0.5:8022")),
        Some("198.51.100.2".into()),
        "routed traffic on the forwarded port reaches its own destination"
    );
    let g1 = lab.listen("g1", "0.0.0.0:2222");
    assert_eq!(
        ip(lab.exchange("inet", &g1, "198.51.100.1:8022")),
        Some("198.51.100.2".into()),
        "port forward from outside"
    );
    assert_eq!(
        ip(lab.exchange("g3", &g1, "198.51.100.1:8022")),
        Some("10.30.0.5".into()),
        "hairpin from another network's guest"
    );
    lab.second_guest();
    assert_eq!(
        ip(lab.exchange("g4", &g1, "198.51.100.1:8022")),
        Some("10.10.0.1".into()),
        "hairpin from the target's own network, masqueraded"
    );
}

#[test]
fn port_forward_only_for_the_host_nftables() {
    port_forward_scope("n", Variant::Nftables);
}

#[test]
fn port_forward_only_for_the_host_iptables_nft() {
    port_forward_scope("i", Variant::IptablesNft);
}

#[test]
fn port_forward_only_for_the_host_iptables_legacy() {
    port_forward_scope("l", Variant::IptablesLegacy);
}
