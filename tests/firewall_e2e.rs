//! The firewall end to end, the same behaviour suite for each backend (nftables, iptables
//! with the nf_tables variant, iptables-legacy): real rules, real TCP between namespaces.

#[path = "firewall/lab.rs"]
mod lab;

use lab::{text, Lab, Variant, TEARDOWN};

/// tenant1 and tenant2 isolated, tenant3 not; all masquerade out of uplink0; tenant1 has
/// a floating IP, a port forward, a metadata redirect and a guest allow-list.
fn doc(backend: &str, tenant3_fw: &str) -> String {
    format!(
        "
firewall: {{backend: {backend}}}
networks:
  - name: tenant1
    uplink: g1h
    ipv4: {{address: [10.10.0.1/24]}}
    firewall:
      masquerade: {{out-interface: uplink0}}
      isolate: true
      allow-from-guests: [{{proto: tcp, port: 5353}}]
      floating-ips: [{{external: 198.51.100.10, internal: 10.10.0.5, interface: uplink0}}]
      port-forwards:
        - {{proto: tcp, external-port: 8022, internal: 10.10.0.5, internal-port: 2222, interface: uplink0}}
      metadata: {{address: 169.254.169.254, port: 80, to: 10.10.0.1:8775}}
  - name: tenant2
    uplink: g2h
    ipv4: {{address: [10.20.0.1/24]}}
    ipv6: {{address: [\"fd00:20::1/64\"]}}
    firewall:
      masquerade: {{out-interface: uplink0}}
      isolate: true
  - name: tenant3
    uplink: g3h
    ipv4: {{address: [10.30.0.1/24]}}
    firewall: {tenant3_fw}
"
    )
}

const TENANT3_MASQ: &str = "{masquerade: {out-interface: uplink0}}";
const TENANT3_MASQ_PF: &str = "{masquerade: {out-interface: uplink0}, port-forwards: [{proto: tcp, external-port: 8033, internal: 10.30.0.5, internal-port: 2222, interface: uplink0}]}";

fn behaviour(tag: &str, variant: Variant) {
    let test = format!("firewall_behaviour_{tag}");
    if !lab::may_run(&test, variant.tools()) {
        return;
    }
    let lab = Lab::new(tag, variant);
    let backend = variant.backend();
    let out = lab.apply(&doc(backend, TENANT3_MASQ));
    assert!(out.contains("firewall"), "{out}");
    // Idempotent, and verified by the apply itself (re-plan empty).
    lab.assert_converged(&doc(backend, TENANT3_MASQ));

    let web = lab.listen("inet", "0.0.0.0:9000");
    // Masquerade: the internet sees the uplink's address, and the reply comes back.
    lab.assert_seen_as(
        "g2",
        &web,
        "198.51.100.2:9000",
        "198.51.100.1",
        "tenant2 out through masquerade",
    );
    // The same for IPv6 (and IPv6 forwarding was switched on for it).
    let web6 = lab.listen("inet", "[::]:9001");
    lab.assert_seen_as(
        "g2",
        &web6,
        "[2001:db8:100::2]:9001",
        "2001:db8:100::1",
        "tenant2 out through IPv6 masquerade",
    );
    // Floating IP, outbound: 1:1 source NAT.
    lab.assert_seen_as(
        "g1",
        &web,
        "198.51.100.2:9000",
        "198.51.100.10",
        "tenant1 out through its floating IP",
    );
    // Floating IP and port forward, inbound from the internet.
    let ssh = lab.listen("g1", "0.0.0.0:2222");
    lab.assert_seen_as(
        "inet",
        &ssh,
        "198.51.100.10:2222",
        "198.51.100.2",
        "floating IP reachable from outside",
    );
    lab.assert_seen_as(
        "inet",
        &ssh,
        "198.51.100.1:8022",
        "198.51.100.2",
        "port forward reachable from outside",
    );
    // Hairpin: a neighbour on tenant1 reaches g1 through its floating IP (without the
    // translation of its source, g1 would answer it directly from 10.10.0.5).
    lab.second_guest();
    lab.assert_seen_as(
        "g4",
        &ssh,
        "198.51.100.10:2222",
        "10.10.0.1",
        "hairpin through the floating IP",
    );
    // Isolation: isolated networks cannot reach each other; others can.
    let g2 = lab.listen("g2", "0.0.0.0:7000");
    lab.assert_blocked("g1", &g2, "10.20.0.5:7000", "g1 -> g2 isolated");
    let g1 = lab.listen("g1", "0.0.0.0:7000");
    lab.assert_blocked("g2", &g1, "10.10.0.5:7000", "g2 -> g1 isolated");
    lab.assert_seen_as(
        "g3",
        &g1,
        "10.10.0.5:7000",
        "10.30.0.5",
        "g3 (not isolated) -> g1",
    );
    let g3 = lab.listen("g3", "0.0.0.0:7000");
    lab.assert_seen_as(
        "g1",
        &g3,
        "10.30.0.5:7000",
        "10.10.0.5",
        "g1 -> g3 (not isolated)",
    );
    // Guests reach the host only on the allowed port, and the metadata service.
    let dns = lab.listen("host", "0.0.0.0:5353");
    lab.assert_reaches("g1", &dns, "10.10.0.1:5353", "allowed port");
    let other = lab.listen("host", "0.0.0.0:5454");
    lab.assert_blocked("g1", &other, "10.10.0.1:5454", "other port");
    lab.assert_reaches("g2", &other, "10.20.0.1:5454", "no allow-list on tenant2");
    // The service listens on the address `to` names only, so a wrong target fails.
    let meta = lab.listen("host", "10.10.0.1:8775");
    lab.assert_reaches("g1", &meta, "169.254.169.254:80", "metadata redirect");

    // A change to tenant3 touches tenant3 only: tenant1's rules keep their handles
    // (nft) or lines (iptables).
    let tenant1 = || -> String {
        match variant {
            Variant::Nftables => ["fwd", "in", "pre", "post"]
                .iter()
                .map(|c| {
                    let chain = format!("n-tenant1-{c}");
                    // Handles tell a rewritten rule; counters move with traffic.
                    lab::no_counters(&lab.run(
                        "host",
                        "nft",
                        &["-a", "list", "chain", "inet", "hostnet", &chain],
                    ))
                })
                .collect(),
            _ => lab
                .ruleset()
                .lines()
                .filter(|l| l.contains("tenant1"))
                .map(|l| format!("{l}\n"))
                .collect(),
        }
    };
    let before = lab.rules();
    let before_t1 = tenant1();
    let o = lab.hostnet(
        &["apply", "-", "--dry-run"],
        Some(&doc(backend, TENANT3_MASQ_PF)),
    );
    let plan = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{}", text(&o));
    let fw_lines: Vec<&str> = plan.lines().filter(|l| l.contains("firewall")).collect();
    assert_eq!(fw_lines.len(), 1, "{plan}");
    assert!(
        fw_lines[0].contains("network tenant3: +port-forward"),
        "{plan}"
    );
    assert_eq!(lab.rules(), before, "a dry run changes nothing");
    lab.apply(&doc(backend, TENANT3_MASQ_PF));
    assert_eq!(tenant1(), before_t1, "tenant1's rules were not rewritten");
    let ssh3 = lab.listen("g3", "0.0.0.0:2222");
    lab.assert_reaches("inet", &ssh3, "198.51.100.1:8033", "new port forward");

    // Without masquerade the internet has no way back: masquerade was the path.
    lab.apply(&doc(backend, "{}"));
    lab.assert_blocked("g3", &web, "198.51.100.2:9000", "no masquerade, no reply");

    // Someone flushes the ruleset: apply puts our rules back.
    match variant {
        Variant::Nftables => {
            lab.run("host", "nft", &["flush", "ruleset"]);
        }
        v => {
            lab.run("host", &v.iptables(), &["-t", "nat", "-F"]);
        }
    }
    let o = lab.apply(&doc(backend, TENANT3_MASQ));
    assert!(o.contains("firewall"), "{o}");
    lab.assert_seen_as(
        "g2",
        &web,
        "198.51.100.2:9000",
        "198.51.100.1",
        "masquerade back after the flush",
    );

    // `show --firewall` reports each network's rules.
    let shown = lab.hostnet_ok(&["show", "--firewall", "-o", "json"], None);
    assert!(shown.contains("\"network\": \"tenant1\""), "{shown}");
    assert!(shown.contains("198.51.100.10"), "{shown}");
    assert!(
        shown.contains(&format!("\"backend\": \"{backend}\"")),
        "{shown}"
    );

    // Teardown removes every rule and the floating IP's address, and forgets the
    // connections the floating IP translated (and only those).
    let tracked = || {
        lab.run(
            "host",
            "conntrack",
            &["-L", "-f", "ipv4", "--orig-src", "10.10.0.5"],
        )
    };
    assert!(tracked().contains("198.51.100.10"), "{}", tracked());
    lab.apply(TEARDOWN);
    assert!(
        !tracked().contains("198.51.100.10"),
        "conntrack entries of the floating IP left: {}",
        tracked()
    );
    let rules = lab.ruleset();
    assert!(
        !rules.contains("hostnet") && !rules.contains("HOSTNET"),
        "{rules}"
    );
    let addrs = lab.run("host", "ip", &["-4", "addr", "show", "dev", "uplink0"]);
    assert!(!addrs.contains("198.51.100.10"), "{addrs}");
}

lab::every_backend!(firewall_behaviour, behaviour);
