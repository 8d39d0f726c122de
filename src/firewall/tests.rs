//! Pure tests of the backends' rendering and parsing, and of the planner.

use super::*;
use crate::expand::FirewallIntent;
use crate::plan::firewall::{plan, restore};

pub(crate) fn sample(dev: &str, subnet: &str) -> NetFirewall {
    NetFirewall {
        device: dev.into(),
        subnets: [subnet.parse().expect("literal")].into(),
        masquerade: Some("up0".into()),
        isolate: true,
        allow: Some(
            [Allow {
                proto: Proto::Udp,
                port: 67,
            }]
            .into(),
        ),
        floating: [FloatingIp {
            external: "203.0.113.10".parse().expect("literal"),
            internal: subnet.replace(".0/24", ".5").parse().expect("literal"),
            interface: "up0".into(),
        }]
        .into(),
        forwards: [PortForward {
            proto: Proto::Tcp,
            external_port: 8022,
            internal: subnet.replace(".0/24", ".5").parse().expect("literal"),
            internal_port: 22,
            interface: "up0".into(),
        }]
        .into(),
        metadata: Some(Metadata {
            address: "169.254.169.254".parse().expect("literal"),
            port: 80,
            to: "127.0.0.1:8775".parse().expect("literal"),
        }),
    }
}

fn state_with(b: BackendKind, nets: &[(&str, NetFirewall)]) -> FirewallState {
    let mut st = FirewallState::default();
    let be = st.backend_mut(b);
    be.base = expected_base(b);
    for (n, s) in nets {
        be.networks.insert(n.to_string(), expected(b, n, s));
    }
    st
}

#[test]
fn iptables_removal_deletes_jumps_before_chains() {
    let s = sample("br0", "10.10.0.0/24");
    let from = expected(BackendKind::Iptables, "a", &s);
    let op = FwOp::Network {
        backend: BackendKind::Iptables,
        name: "a".into(),
        from: Some(from),
        to: None,
    };
    let [(v4, _), _] = iptables::render(&[&op]);
    let pos = |needle: &str| {
        v4.find(needle)
            .unwrap_or_else(|| panic!("{needle} in\n{v4}"))
    };
    assert!(
        pos("-D HOSTNET-FORWARD -i br0 -j HOSTNET-a-F") < pos("-X HOSTNET-a-F"),
        "{v4}"
    );
}

fn intent(b: BackendKind, nets: &[(&str, Option<NetFirewall>)]) -> FirewallIntent {
    FirewallIntent {
        backend: b,
        networks: nets
            .iter()
            .map(|(n, s)| (n.to_string(), s.clone()))
            .collect(),
        ..FirewallIntent::default()
    }
}

fn thousand(b: BackendKind) -> FirewallState {
    let nets: Vec<(String, NetFirewall)> = (0..1000)
        .map(|i| {
            let mut s = sample(
                &format!("br{i}"),
                &format!("10.{}.{}.0/24", i / 250, i % 250),
            );
            s.floating.clear();
            s.forwards.clear();
            (format!("n{i}"), s)
        })
        .collect();
    let refs: Vec<(&str, NetFirewall)> =
        nets.iter().map(|(n, s)| (n.as_str(), s.clone())).collect();
    state_with(b, &refs)
}

#[test]
fn a_change_to_one_network_plans_and_renders_only_that_network() {
    for b in [BackendKind::Nftables, BackendKind::Iptables] {
        let cur = thousand(b);
        let mut changed = cur.backend(b).networks["n7"].spec.clone();
        changed.isolate = false;
        let p = plan(&cur, &intent(b, &[("n7", Some(changed))])).expect("plans");
        assert!(p.teardown.is_empty() && p.sysctls.is_empty(), "{p:?}");
        assert_eq!(p.setup.len(), 1, "{p:?}");
        let ops: Vec<&FwOp> = p.setup.iter().collect();
        let text = match b {
            BackendKind::Nftables => nft::render(&ops),
            BackendKind::Iptables => {
                let [(v4, _), (v6, _)] = iptables::render(&ops);
                v4 + &v6
            }
        };
        assert!(text.contains("n7"), "{text}");
        for other in ["n6", "n70", "n8"] {
            let hit = text
                .split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == other);
            assert!(!hit, "{b}: {other} in\n{text}");
        }
        // Only the isolation entry of the shared dispatch changes.
        assert!(text.lines().count() < 40, "{b}: {text}");
    }
}

#[test]
fn unmentioned_networks_are_left_alone_and_the_last_one_takes_the_skeleton() {
    let b = BackendKind::Nftables;
    let cur = state_with(
        b,
        &[
            ("a", sample("br0", "10.10.0.0/24")),
            ("b", sample("br1", "10.11.0.0/24")),
        ],
    );
    let p = plan(&cur, &intent(b, &[("a", None)])).expect("plans");
    assert_eq!(p.teardown.len(), 1, "{p:?}");
    assert!(p.setup.is_empty());
    let mut one = cur.clone();
    one.nftables.networks.remove("b");
    let p = plan(&one, &intent(b, &[("a", None)])).expect("plans");
    assert!(
        matches!(p.teardown.last(), Some(FwOp::Base { up: false, .. })),
        "{p:?}"
    );
}

#[test]
fn switching_backends_moves_the_network() {
    let cur = state_with(
        BackendKind::Nftables,
        &[("a", sample("br0", "10.10.0.0/24"))],
    );
    let p = plan(
        &cur,
        &intent(
            BackendKind::Iptables,
            &[("a", Some(sample("br0", "10.10.0.0/24")))],
        ),
    )
    .expect("plans");
    // The old backend lets go only after the new one holds the network (no gap).
    assert!(p.teardown.is_empty(), "{:?}", p.teardown);
    let t: Vec<String> = p.cleanup.iter().map(ToString::to_string).collect();
    let s: Vec<String> = p.setup.iter().map(ToString::to_string).collect();
    assert_eq!(
        t,
        ["firewall nftables network a: masquerade out up0, isolate, allow-from-guests [udp/67], floating-ip 203.0.113.10 <-> 10.10.0.5 on up0, port-forward tcp up0:8022 -> 10.10.0.5:22, metadata 169.254.169.254:80 -> 127.0.0.1:8775", "firewall nftables skeleton"]
    );
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s[0].starts_with("firewall iptables skeleton"), "{s:?}");
}

#[test]
fn a_damaged_network_is_rewritten_from_what_is_there() {
    let b = BackendKind::Iptables;
    let mut cur = state_with(b, &[("a", sample("br0", "10.10.0.0/24"))]);
    if let Some(n) = cur.iptables.networks.get_mut("a") {
        n.intact = false;
    }
    let want = cur.iptables.networks["a"].spec.clone();
    let p = plan(&cur, &intent(b, &[("a", Some(want))])).expect("plans");
    assert_eq!(p.setup.len(), 1);
    assert!(
        p.setup[0].to_string().ends_with("rewrite damaged chains"),
        "{}",
        p.setup[0]
    );
}

#[test]
fn restore_and_inverse_return_to_the_state_before() {
    let b = BackendKind::Nftables;
    let before = state_with(b, &[("a", sample("br0", "10.10.0.0/24"))]);
    let p = plan(
        &before,
        &intent(
            b,
            &[("a", None), ("c", Some(sample("br2", "10.12.0.0/24")))],
        ),
    )
    .expect("plans");
    let mut after = before.clone();
    for op in p.teardown.iter().chain(&p.setup).chain(&p.sysctls) {
        apply_to_state(&mut after, op);
    }
    assert_ne!(after, before);
    // Undo through the inverses, in reverse order.
    let mut undone = after.clone();
    for op in p.teardown.iter().chain(&p.setup).rev() {
        if let Some((_, inv)) = inverse(op) {
            apply_to_state(&mut undone, &inv);
        }
    }
    assert_eq!(undone, before);
    // Or by exact convergence.
    let r = restore(&after, &before);
    let mut restored = after;
    for op in r.teardown.iter().chain(&r.setup).chain(&r.sysctls) {
        apply_to_state(&mut restored, op);
    }
    assert_eq!(restored, before);
}

#[test]
fn iptables_save_parses_back_and_ignores_foreign_lines() {
    let spec = sample("br0", "10.10.0.0/24");
    let ops = [
        FwOp::Base {
            backend: BackendKind::Iptables,
            from: Default::default(),
            up: true,
        },
        FwOp::Network {
            backend: BackendKind::Iptables,
            name: "a".into(),
            from: None,
            to: Some(spec.clone()),
        },
    ];
    let refs: Vec<&FwOp> = ops.iter().collect();
    let [(v4, _), (v6, _)] = iptables::render(&refs);
    // What iptables-save prints: `-I X 1` lands as `-A X`, foreign lines around ours.
    let saved = |s: &str| -> String {
        let mut out = String::new();
        for l in s.lines() {
            if let Some(rest) = l.strip_prefix("-I ") {
                let (chain, tail) = rest.split_once(" 1 ").unwrap_or((rest, ""));
                out.push_str(&format!("-A {chain} {tail}\n"));
            } else if l == "COMMIT" {
                out.push_str("-A FORWARD -s 192.0.2.0/24 -m comment --comment \"net evil dev x\" -j DROP\nCOMMIT\n");
            } else {
                out.push_str(l);
                out.push('\n');
            }
        }
        out.replace(
            "*filter\n",
            "*filter\n:FORWARD ACCEPT [3:4]\n:FOREIGN - [0:0]\n",
        )
    };
    let st = iptables::parse_for_test(&saved(&v4), &saved(&v6));
    assert_eq!(st.base, iptables::expected_base());
    assert_eq!(st.networks.len(), 1, "{:?}", st.networks.keys());
    assert_eq!(st.networks["a"], iptables::expected("a", &spec));
}

/// The engine on the model: a failure at any op of a change that tears one network's
/// firewall down and sets up another's leaves exactly the state before.
#[test]
fn a_failure_at_any_op_restores_the_firewall_exactly() {
    use crate::engine::tests::fail_at_every_op;
    use crate::engine::{apply, ApplyOptions};
    use crate::netdev::model::ModelDriver;
    use crate::netdev::Op;
    use crate::plan::tests::{host, intent_of};

    let base = "
networks:
  - name: t1
    uplink: eth0
    ipv4: {address: [10.10.0.1/24]}
    firewall:
      masquerade: {out-interface: eth1}
      isolate: true
      floating-ips: [{external: 203.0.113.10, internal: 10.10.0.5, interface: eth1}]
";
    let change = "
firewall: {backend: iptables}
networks:
  - {name: t1, state: absent}
  - name: t2
    uplink: eth0
    ipv4: {address: [10.20.0.1/24]}
    firewall:
      masquerade: {out-interface: eth1}
      port-forwards: [{proto: tcp, external-port: 80, internal: 10.20.0.5, internal-port: 8080, interface: eth1}]
";
    let fresh = || {
        let mut st = host().state().clone();
        st.firewall.sysctls = [(IPV4_FORWARD.to_string(), "0".to_string())].into();
        let mut m = ModelDriver::new(st);
        apply(&mut m, &intent_of(base), ApplyOptions::default(), |_, _| {
            Ok(())
        })
        .expect("base");
        m
    };
    let p = fail_at_every_op(fresh, &intent_of(change), |s| s);
    assert!(p.ops().any(|op| matches!(op, Op::Firewall(_))), "{p}");
}

#[test]
fn ipv6_forwarding_keeps_accepting_router_advertisements_where_they_were() {
    let mut cur = FirewallState::default();
    for (k, v) in [
        (IPV6_FORWARD, "0"),
        ("net.ipv6.conf.eth0.100.accept_ra", "1"),
        ("net.ipv6.conf.br0.accept_ra", "0"),
        ("net.ipv6.conf.default.accept_ra", "1"),
    ] {
        cur.sysctls.insert(k.into(), v.into());
    }
    let mut want = intent(BackendKind::Nftables, &[]);
    want.sysctls.insert(IPV6_FORWARD.into(), "1".into());
    let p = plan(&cur, &want).expect("plans");
    let keys: Vec<String> = p.sysctls.iter().map(FwOp::scope_key).collect();
    assert_eq!(
        keys,
        [
            "sysctl/net.ipv6.conf.default.accept_ra",
            "sysctl/net.ipv6.conf.eth0.100.accept_ra",
            "sysctl/net.ipv6.conf.all.forwarding"
        ]
    );
    assert_eq!(
        sysctl::accept_ra_of("net.ipv6.conf.eth0.100.accept_ra"),
        Some("eth0.100")
    );
    // Forwarding already on: the host's router-mode interfaces are its choice.
    cur.sysctls.insert(IPV6_FORWARD.into(), "1".into());
    assert!(plan(&cur, &want).expect("plans").sysctls.is_empty());
}

#[test]
fn forwarding_side_effects_are_planned_before_and_restored_after_the_switch() {
    let mut cur = FirewallState::default();
    for (k, v) in [
        (IPV4_FORWARD, "0"),
        (sysctl::IPV4_ACCEPT_REDIRECTS, "0"),
        ("net.ipv4.conf.up0.forwarding", "1"),
        ("net.ipv4.conf.br0.forwarding", "0"),
    ] {
        cur.sysctls.insert(k.into(), v.into());
    }
    let mut want = intent(BackendKind::Nftables, &[]);
    want.sysctls.insert(IPV4_FORWARD.into(), "1".into());
    let p = plan(&cur, &want).expect("plans");
    let keys: Vec<String> = p.sysctls.iter().map(FwOp::scope_key).collect();
    assert_eq!(
        keys.last().map(String::as_str),
        Some("sysctl/net.ipv4.ip_forward")
    );
    assert_eq!(keys.len(), 4, "{keys:?}");
    // Every op's inverse, in reverse: the switch goes back first, then its effects.
    let undo: Vec<FwOp> = p
        .sysctls
        .iter()
        .rev()
        .filter_map(|op| inverse(op).map(|i| i.1))
        .collect();
    assert_eq!(undo[0].scope_key(), "sysctl/net.ipv4.ip_forward");
    // Convergence from the applied state compares the effects with what the switch
    // will leave: up0's forwarding (1) is written back although it is 1 now.
    let mut after = cur.clone();
    for op in &p.sysctls {
        apply_to_state(&mut after, op);
    }
    let r = restore(&after, &cur);
    let keys: Vec<String> = r.sysctls.iter().map(FwOp::scope_key).collect();
    assert_eq!(keys[0], "sysctl/net.ipv4.ip_forward");
    assert!(
        keys.contains(&"sysctl/net.ipv4.conf.up0.forwarding".to_string()),
        "{keys:?}"
    );
    assert!(
        keys.contains(&format!("sysctl/{}", sysctl::IPV4_ACCEPT_REDIRECTS)),
        "{keys:?}"
    );
}

#[test]
fn a_subnet_change_is_described_as_such_not_as_damage() {
    let old = sample("br0", "10.10.0.0/24");
    let mut new = old.clone();
    new.subnets = ["10.10.0.0/23".parse().expect("literal")].into();
    let op = FwOp::Network {
        backend: BackendKind::Nftables,
        name: "a".into(),
        from: Some(expected(BackendKind::Nftables, "a", &old)),
        to: Some(new),
    };
    let text = op.to_string();
    assert!(text.contains("-subnet 10.10.0.0/24"), "{text}");
    assert!(text.contains("+subnet 10.10.0.0/23"), "{text}");
    assert!(!text.contains("damaged"), "{text}");
}

#[test]
fn per_interface_sysctl_keys_name_their_interface() {
    use super::sysctl::interface_of;
    assert_eq!(interface_of("net.ipv6.conf.br0.accept_ra"), Some("br0"));
    assert_eq!(
        interface_of("net.ipv4.conf.eth0.100.forwarding"),
        Some("eth0.100")
    );
    assert_eq!(interface_of("net.ipv6.conf.all.forwarding"), None);
    assert_eq!(interface_of("net.ipv6.conf.default.accept_ra"), None);
    assert_eq!(interface_of("net.ipv4.ip_forward"), None);
}

/// The networks of an op, for assertions.
fn op_network(op: &FwOp) -> Option<&str> {
    match op {
        FwOp::Network { name, .. } => Some(name),
        _ => None,
    }
}

/// A query focused on the networks a file names leaves the others unread: the plan keeps
/// the skeleton for them and the flows of a floating IP one of them still has (as with a
/// full read), and a restore from or towards such a state leaves them as they are.
#[test]
fn networks_a_focused_query_did_not_read_are_left_as_they_are() {
    let b = BackendKind::Nftables;
    // Both have floating IP 203.0.113.10 (one file refuses that; two applies may not).
    let full = state_with(
        b,
        &[
            ("a", sample("br0", "10.10.0.0/24")),
            ("b", sample("br1", "10.11.0.0/24")),
        ],
    );
    let mut focused = full.clone();
    if let Some(n) = focused.nftables.networks.get_mut("b") {
        n.unread = true;
        n.intact = false;
        n.spec = NetFirewall::default();
    }
    let remove_a = intent(b, &[("a", None)]);
    let p = plan(&focused, &remove_a).expect("plans");
    assert_eq!(p, plan(&full, &remove_a).expect("plans"));
    assert_eq!(p.teardown.len(), 1, "only network a goes: {p:?}");
    assert!(p.sysctls.is_empty(), "b still has the floating IP: {p:?}");

    let mut after = full.clone();
    for op in &p.teardown {
        apply_to_state(&mut after, op);
    }
    let mut after_focused = focused.clone();
    for op in &p.teardown {
        apply_to_state(&mut after_focused, op);
    }
    for (now, then) in [(&after, &focused), (&after_focused, &full)] {
        let r = restore(now, then);
        let ops: Vec<&FwOp> = r
            .teardown
            .iter()
            .chain(&r.setup)
            .chain(&r.cleanup)
            .collect();
        assert_eq!(ops.len(), 1, "{r:?}");
        assert_eq!(op_network(ops[0]), Some("a"), "{r:?}");
        assert!(r.sysctls.is_empty(), "{r:?}");
    }
}
