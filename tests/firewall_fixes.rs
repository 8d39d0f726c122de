//! Regressions of the firewall review (issue 4), with real rules and real TCP between
//! namespaces the tests create, for each backend.

#[path = "firewall/lab.rs"]
mod lab;

use lab::{ip, text, Lab, Variant};

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

/// Finding 1: a port forward translates only traffic addressed to the host, and guests
/// reach it on the host's public address (hairpin, masqueraded within the network).
fn port_forward_scope(tag: &str, variant: Variant) {
    let test = format!("port_forward_only_for_the_host_{tag}");
    if !lab::may_run(&test, variant.tools()) {
        return;
    }
    let lab = Lab::new(&format!("f1{tag}"), variant);
    lab.apply(&doc(variant.backend()));
    lab.assert_converged(&doc(variant.backend()));
    // The internet routes tenant3's subnet through the host: traffic to g3 on the
    // forwarded port is routed, not translated.
    lab.run(
        "inet",
        "ip",
        &["route", "add", "10.30.0.0/24", "via", "198.51.100.1"],
    );
    let g3 = lab.listen("g3", "0.0.0.0:8022");
    lab.assert_seen_as(
        "inet",
        &g3,
        "10.30.0.5:8022",
        "198.51.100.2",
        "routed traffic on the forwarded port reaches its own destination",
    );
    let g1 = lab.listen("g1", "0.0.0.0:2222");
    lab.assert_seen_as(
        "inet",
        &g1,
        "198.51.100.1:8022",
        "198.51.100.2",
        "port forward from outside",
    );
    lab.assert_seen_as(
        "g3",
        &g1,
        "198.51.100.1:8022",
        "10.30.0.5",
        "hairpin from another network's guest",
    );
    lab.second_guest();
    lab.assert_seen_as(
        "g4",
        &g1,
        "198.51.100.1:8022",
        "10.10.0.1",
        "hairpin from the target's own network, masqueraded",
    );
}

lab::every_backend!(port_forward_only_for_the_host, port_forward_scope);

fn sysctl(lab: &Lab, key: &str) -> String {
    lab.run("host", "sysctl", &["-n", key]).trim().to_string()
}

fn v6_doc(fw: &str) -> String {
    format!(
        "
networks:
  - name: tenant2
    uplink: g2h
    ipv4: {{address: [10.20.0.1/24]}}
    ipv6: {{address: [\"fd00:20::1/64\"]}}
    firewall: {fw}
"
    )
}

/// Finding 2: IPv6 forwarding only for a network that routes IPv6, and interfaces that
/// accepted router advertisements keep accepting them (accept_ra 1 → 2, rolled back).
#[test]
fn ipv6_forwarding_only_when_routed_and_keeps_accepting_router_advertisements() {
    let test = "ipv6_forwarding_only_when_routed";
    if !lab::may_run(test, Variant::Nftables.tools()) {
        return;
    }
    let lab = Lab::new("f2", Variant::Nftables);
    let fwd = "net.ipv6.conf.all.forwarding";
    let ra = "net.ipv6.conf.uplink0.accept_ra";
    assert_eq!(sysctl(&lab, fwd), "0");
    assert_eq!(sysctl(&lab, ra), "1");
    lab.apply(&v6_doc("{isolate: true}"));
    assert_eq!(sysctl(&lab, fwd), "0", "isolation alone routes nothing");
    assert_eq!(sysctl(&lab, ra), "1");

    // Routed IPv6, applied under a checkpoint and rolled back.
    let masq = v6_doc("{masquerade: {out-interface: uplink0}}");
    lab.hostnet_ok(&["apply", "--confirm-timeout", "120", "-"], Some(&masq));
    assert_eq!(sysctl(&lab, fwd), "1");
    assert_eq!(sysctl(&lab, ra), "2", "uplink0 keeps accepting RAs");
    assert_eq!(sysctl(&lab, "net.ipv6.conf.default.accept_ra"), "2");
    lab.hostnet_ok(&["rollback"], None);
    assert_eq!(sysctl(&lab, fwd), "0");
    assert_eq!(sysctl(&lab, ra), "1", "rollback gives accept_ra back");

    // Applied for good: the re-plan is empty.
    lab.apply(&masq);
    assert_eq!(sysctl(&lab, ra), "2");
    lab.assert_converged(&masq);
}

/// Finding 3: rollback restores what writing ip_forward changed as a side effect (the
/// interfaces' forwarding, all.accept_redirects), and leaves alone a switch someone else
/// changed after the apply.
#[test]
fn rollback_restores_the_side_effects_of_forwarding() {
    let test = "rollback_restores_the_side_effects_of_forwarding";
    if !lab::may_run(test, Variant::Nftables.tools()) {
        return;
    }
    let lab = Lab::new("f3", Variant::Nftables);
    let set = |k: &str, v: &str| {
        lab.run("host", "sysctl", &["-qw", &format!("{k}={v}")]);
    };
    // The host's own choices before hostnet: forwarding only on uplink0, no redirects.
    set("net.ipv4.conf.uplink0.forwarding", "1");
    set("net.ipv4.conf.all.accept_redirects", "0");
    set("net.ipv4.conf.default.forwarding", "0");
    assert_eq!(sysctl(&lab, "net.ipv4.ip_forward"), "0");
    let masq = v6_doc("{masquerade: {out-interface: uplink0}}");
    lab.hostnet_ok(&["apply", "--confirm-timeout", "120", "-"], Some(&masq));
    assert_eq!(sysctl(&lab, "net.ipv4.ip_forward"), "1");
    assert_eq!(sysctl(&lab, "net.ipv4.conf.g1h.forwarding"), "1");
    // Someone else decides about g1h's router advertisements after the apply.
    set("net.ipv6.conf.g1h.accept_ra", "0");
    lab.hostnet_ok(&["rollback"], None);
    assert_eq!(sysctl(&lab, "net.ipv4.ip_forward"), "0");
    assert_eq!(
        sysctl(&lab, "net.ipv4.conf.uplink0.forwarding"),
        "1",
        "uplink0's own forwarding is back"
    );
    assert_eq!(sysctl(&lab, "net.ipv4.conf.g1h.forwarding"), "0");
    assert_eq!(sysctl(&lab, "net.ipv4.conf.all.accept_redirects"), "0");
    assert_eq!(sysctl(&lab, "net.ipv6.conf.all.forwarding"), "0");
    assert_eq!(sysctl(&lab, "net.ipv6.conf.uplink0.accept_ra"), "1");
    assert_eq!(
        sysctl(&lab, "net.ipv6.conf.g1h.accept_ra"),
        "0",
        "changed since the apply: not ours to restore"
    );
}

/// Finding 4: an edited rule that keeps its comment, and a foreign rule in our base or
/// dispatch chains, are noticed and rewritten by the next apply.
fn drift(tag: &str, variant: Variant) {
    let test = format!("edited_and_foreign_rules_are_repaired_{tag}");
    if !lab::may_run(&test, variant.tools()) {
        return;
    }
    let lab = Lab::new(&format!("f4{tag}"), variant);
    let yaml = doc(variant.backend());
    lab.apply(&yaml);
    let web = lab.listen("inet", "0.0.0.0:9000");
    let out_ok = |lab: &Lab| ip(lab.exchange("g3", &web, "198.51.100.2:9000"));
    assert_eq!(out_ok(&lab), Some("198.51.100.1".into()));
    let tool = variant.iptables();
    // tenant3's masquerade becomes an accept, comment kept.
    match variant {
        Variant::Nftables => {
            let listing = lab.run(
                "host",
                "nft",
                &["-a", "list", "chain", "inet", "hostnet", "n-tenant3-post"],
            );
            let handle = listing
                .lines()
                .find(|l| l.contains("masquerade"))
                .and_then(|l| l.rsplit("handle ").next())
                .map(|h| h.trim().to_string())
                .expect("masquerade rule");
            lab.run("host", "nft", &[&format!("replace rule inet hostnet n-tenant3-post handle {handle} ip saddr 10.30.0.0/24 oifname \"uplink0\" accept comment \"masq uplink0\"")]);
        }
        _ => {
            lab.run(
                "host",
                &tool,
                &[
                    "-t",
                    "nat",
                    "-R",
                    "HOSTNET-tenant3-POST",
                    "1",
                    "-s",
                    "10.30.0.0/24",
                    "-o",
                    "uplink0",
                    "-m",
                    "comment",
                    "--comment",
                    "masq uplink0",
                    "-j",
                    "ACCEPT",
                ],
            );
        }
    }
    assert_eq!(out_ok(&lab), None, "the edit took effect");
    let o = lab.hostnet(&["show", "--firewall", "-o", "json"], None);
    let shown = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(shown.contains("\"intact\": false"), "{shown}");
    let out = lab.apply(&yaml);
    assert!(out.contains("network tenant3"), "{out}");
    assert_eq!(out_ok(&lab), Some("198.51.100.1".into()), "rewritten");

    // A foreign rule in our base (nft) or dispatch (iptables) chain.
    match variant {
        Variant::Nftables => {
            lab.run(
                "host",
                "nft",
                &["insert rule inet hostnet postrouting accept"],
            );
        }
        _ => {
            lab.run(
                "host",
                &tool,
                &[
                    "-t",
                    "nat",
                    "-I",
                    "HOSTNET-POSTROUTING",
                    "1",
                    "-j",
                    "ACCEPT",
                ],
            );
        }
    }
    assert_eq!(out_ok(&lab), None, "the foreign rule took effect");
    let out = lab.apply(&yaml);
    assert!(out.contains("skeleton"), "{out}");
    assert_eq!(out_ok(&lab), Some("198.51.100.1".into()), "repaired");
    lab.assert_converged(&yaml);
}

lab::every_backend!(edited_and_foreign_rules_are_repaired, drift);

fn fip_doc(backend: &str, fip: bool) -> String {
    let fips = if fip {
        ", floating-ips: [{external: 198.51.100.10, internal: 10.10.0.5, interface: uplink0}]"
    } else {
        ""
    };
    format!(
        "
firewall: {{backend: {backend}}}
networks:
  - name: tenant1
    uplink: g1h
    ipv4: {{address: [10.10.0.1/24]}}
    firewall: {{masquerade: {{out-interface: uplink0}}{fips}}}
  - name: tenant3
    uplink: g3h
    ipv4: {{address: [10.30.0.1/24]}}
    firewall: {{masquerade: {{out-interface: uplink0}}}}
"
    )
}

/// Finding 6: removing a floating IP forgets the flows it translated and nothing else;
/// moving it to the other backend forgets nothing.
#[test]
fn conntrack_cleanup_forgets_only_the_floating_ips_flows() {
    let test = "conntrack_cleanup_forgets_only_the_floating_ips_flows";
    let tools = ["nft", "iptables-nft-restore", "conntrack"];
    if !lab::may_run(test, &tools) {
        return;
    }
    let lab = Lab::new("f6", Variant::IptablesNft);
    lab.apply(&fip_doc("nftables", true));
    let web = lab.listen("inet", "0.0.0.0:9000");
    let g3 = lab.listen("g3", "0.0.0.0:7000");
    lab.assert_seen_as("g1", &web, "198.51.100.2:9000", "198.51.100.10", "");
    lab.assert_reaches("g1", &g3, "10.30.0.5:7000", "");
    let flows = |dst: &str| {
        lab.run(
            "host",
            "conntrack",
            &[
                "-L",
                "-f",
                "ipv4",
                "--orig-src",
                "10.10.0.5",
                "--orig-dst",
                dst,
            ],
        )
    };
    assert!(!flows("198.51.100.2").is_empty());
    assert!(!flows("10.30.0.5").is_empty());
    // To iptables: the floating IP moves, its flows stay.
    lab.apply(&fip_doc("iptables", true));
    assert!(!flows("198.51.100.2").is_empty(), "moved, not removed");
    // Removed: its flows go, the guest's flow to its neighbour stays.
    let out = lab.apply(&fip_doc("iptables", false));
    assert!(
        out.contains("connection tracking of floating IP 198.51.100.10"),
        "{out}"
    );
    assert_eq!(
        flows("198.51.100.2"),
        "",
        "the floating IP's flows are forgotten"
    );
    assert!(
        !flows("10.30.0.5").is_empty(),
        "an unrelated flow was killed"
    );
}

/// Finding 13: a guest port the allow-list opens still passes the host's own INPUT
/// rules (iptables used to ACCEPT at position 1 of INPUT, bypassing them).
fn host_input_rules(tag: &str, variant: Variant) {
    let test = format!("allow_list_keeps_the_hosts_input_rules_{tag}");
    if !lab::may_run(&test, variant.tools()) {
        return;
    }
    let lab = Lab::new(&format!("fd{tag}"), variant);
    let yaml = format!(
        "
firewall: {{backend: {}}}
networks:
  - name: tenant1
    uplink: g1h
    ipv4: {{address: [10.10.0.1/24]}}
    firewall: {{allow-from-guests: [{{proto: tcp, port: 5353}}, {{proto: tcp, port: 5454}}]}}
",
        variant.backend()
    );
    lab.apply(&yaml);
    let tool = variant.iptables();
    // The host's own policy: nothing reaches port 5454.
    lab.run(
        "host",
        &tool,
        &["-A", "INPUT", "-p", "tcp", "--dport", "5454", "-j", "DROP"],
    );
    let open = lab.listen("host", "10.10.0.1:5353");
    lab.assert_reaches("g1", &open, "10.10.0.1:5353", "allowed");
    let closed = lab.listen("host", "10.10.0.1:5454");
    lab.assert_blocked(
        "g1",
        &closed,
        "10.10.0.1:5454",
        "the host's own INPUT rule still applies",
    );
}

#[test]
fn allow_list_keeps_the_hosts_input_rules_iptables_nft() {
    host_input_rules("i", Variant::IptablesNft);
}

#[test]
fn allow_list_keeps_the_hosts_input_rules_iptables_legacy() {
    host_input_rules("l", Variant::IptablesLegacy);
}

/// Finding 13: apply and show warn when the host's own FORWARD policy drops.
#[test]
fn a_dropping_forward_policy_is_warned_about() {
    let test = "a_dropping_forward_policy_is_warned_about";
    let variant = Variant::IptablesNft;
    if !lab::may_run(test, variant.tools()) {
        return;
    }
    let lab = Lab::new("fw", variant);
    let tool = variant.iptables();
    lab.run("host", &tool, &["-P", "FORWARD", "DROP"]);
    let o = lab.hostnet(&["apply", "-"], Some(&doc(variant.backend())));
    assert!(o.status.success(), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("FORWARD policy drops (IPv4)"), "{}", text(&o));
    let o = lab.hostnet(&["show", "--firewall"], None);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("FORWARD policy drops"),
        "{}",
        text(&o)
    );
}
