//! The firewall's safety properties on real tools: foreign rules are never touched, bad
//! input changes nothing, and a failed or interrupted apply gives the previous rules back.

#[path = "firewall/lab.rs"]
mod lab;

use lab::{no_counters, strip_comments, text, Lab, Variant, TEARDOWN};

const FULL: &str = "
networks:
  - name: tenant1
    uplink: g1h
    ipv4: {address: [10.10.0.1/24]}
    firewall:
      masquerade: {out-interface: uplink0}
      isolate: true
      allow-from-guests: [{proto: udp, port: 67}]
      floating-ips: [{external: 198.51.100.10, internal: 10.10.0.5, interface: uplink0}]
      port-forwards:
        - {proto: tcp, external-port: 8022, internal: 10.10.0.5, internal-port: 22, interface: uplink0}
  - name: tenant2
    uplink: g2h
    ipv4: {address: [10.20.0.1/24]}
    firewall: {masquerade: {out-interface: uplink0}}
";

fn with_backend(doc: &str, backend: &str) -> String {
    format!("firewall: {{backend: {backend}}}\n{doc}")
}

/// Both families' rules of others (ours left out), without counters and without tables
/// that hold no rule: the
/// first `iptables-restore` into a family creates its (empty) `nat` table, and hostnet
/// never deletes a table, which another tool may be about to use.
fn foreign_iptables(lab: &Lab) -> String {
    let v = lab.variant;
    let v6 = v.save().replacen("iptables", "ip6tables", 1);
    let all = without_ours(&no_counters(&strip_comments(
        &(lab.run("host", v.save(), &[]) + &lab.run("host", &v6, &[])),
    )));
    let mut out = String::new();
    for table in all.split_inclusive("COMMIT\n") {
        if table.lines().any(|l| l.starts_with("-A ")) {
            out.push_str(table);
        }
    }
    out
}

fn without_ours(s: &str) -> String {
    s.lines()
        .filter(|l| !l.contains("HOSTNET"))
        .map(|l| format!("{l}\n"))
        .collect()
}

fn foreign_rules_survive(tag: &str, variant: Variant, backends: &[&str]) {
    let mut tools = variant.tools().to_vec();
    tools.push("nft");
    if !lab::may_run(&format!("foreign_rules_{tag}"), &tools) {
        return;
    }
    let lab = Lab::new(tag, variant);
    lab.run(
        "host",
        "nft",
        &[
            "add table ip foreign; add chain ip foreign guard { type filter hook forward priority 10 ; policy accept ; }; add rule ip foreign guard ip saddr 192.0.2.0/24 counter drop",
        ],
    );
    let ipt = variant.iptables();
    let ip6t = ipt.replacen("iptables", "ip6tables", 1);
    lab.run(
        "host",
        &ipt,
        &["-A", "FORWARD", "-s", "192.0.2.0/24", "-j", "DROP"],
    );
    lab.run(
        "host",
        &ipt,
        &[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-s",
            "192.0.2.0/24",
            "-o",
            "uplink0",
            "-j",
            "MASQUERADE",
        ],
    );
    lab.run(
        "host",
        &ip6t,
        &["-A", "INPUT", "-s", "2001:db8::/32", "-j", "DROP"],
    );
    let nft_before = lab.run("host", "nft", &["list", "table", "ip", "foreign"]);
    let ipt_before = foreign_iptables(&lab);
    for backend in backends {
        lab.apply(&with_backend(FULL, backend));
        assert_eq!(
            lab.run("host", "nft", &["list", "table", "ip", "foreign"]),
            nft_before,
            "{backend}: foreign nft table changed"
        );
        assert_eq!(
            foreign_iptables(&lab),
            ipt_before,
            "{backend}: foreign iptables rules changed"
        );
        if *backend == "iptables" {
            let ours = lab.run("host", lab.variant.save(), &[]);
            assert!(ours.contains("HOSTNET-tenant1-F"), "{ours}");
        }
    }
    lab.apply(TEARDOWN);
    assert_eq!(
        lab.run("host", "nft", &["list", "table", "ip", "foreign"]),
        nft_before,
        "foreign nft table changed by teardown"
    );
    assert_eq!(
        foreign_iptables(&lab),
        ipt_before,
        "iptables differ after teardown"
    );
    let left = lab.run("host", lab.variant.save(), &[]);
    assert!(!left.contains("HOSTNET"), "{left}");
}

#[test]
fn foreign_nft_table_and_iptables_rules_are_untouched() {
    foreign_rules_survive("fn", Variant::IptablesNft, &["nftables", "iptables"]);
}

#[test]
fn foreign_legacy_iptables_rules_are_untouched() {
    foreign_rules_survive("fl", Variant::IptablesLegacy, &["iptables"]);
}

#[test]
fn bad_input_exits_2_and_changes_nothing() {
    if !lab::may_run(
        "bad_input_exits_2_and_changes_nothing",
        Variant::Nftables.tools(),
    ) {
        return;
    }
    let lab = Lab::new("bad", Variant::Nftables);
    let net = |fw: &str| {
        format!(
            "networks:\n  - name: tenant1\n    uplink: g1h\n    ipv4: {{address: [10.10.0.1/24]}}\n    firewall: {fw}\n"
        )
    };
    let cases = [
        (
            net("{port-forwards: [{proto: tcp, external-port: 70000, internal: 10.10.0.5, internal-port: 22, interface: uplink0}]}"),
            "networks[0].firewall.port-forwards[0].external-port",
        ),
        (
            net("{port-forwards: [{proto: tcp, external-port: 0, internal: 10.10.0.5, internal-port: 22, interface: uplink0}]}"),
            "networks[0].firewall.port-forwards[0].external-port: port 0",
        ),
        (
            net("{floating-ips: [{external: 198.51.100.10, internal: 10.99.0.5, interface: uplink0}]}"),
            "networks[0].firewall.floating-ips[0].internal: 10.99.0.5 is outside the network",
        ),
        (
            net("{allow-from-guests: [{proto: icmp, port: 1}]}"),
            "networks[0].firewall.allow-from-guests[0].proto",
        ),
        (
            net("{masquerade: {out-interface: 'up\"0'}}"),
            "networks[0].firewall.masquerade.out-interface",
        ),
        (
            net("{masquerade: {out-interface: 'g*'}}"),
            "networks[0].firewall.masquerade.out-interface",
        ),
        (
            net("{metadata: {address: 169.254.169.254, port: 80, to: '127.0.0.1:8775'}}"),
            "networks[0].firewall.metadata.to: 127.0.0.1:8775 is a loopback address",
        ),
        (
            format!(
                "{}  - name: tenant2\n    uplink: g2h\n    ipv4: {{address: [10.20.0.1/24]}}\n    firewall: {{floating-ips: [{{external: 198.51.100.10, internal: 10.20.0.5, interface: uplink0}}]}}\n",
                net("{floating-ips: [{external: 198.51.100.10, internal: 10.10.0.5, interface: uplink0}]}")
            ),
            "networks[1].firewall.floating-ips[0].external: 198.51.100.10 is already a floating IP at networks[0].firewall.floating-ips[0]",
        ),
    ];
    let snapshot = || {
        let o = lab.hostnet(&["show", "-o", "json"], None);
        assert!(o.status.success(), "{}", text(&o));
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            lab.ruleset(),
        )
    };
    let before = snapshot();
    for (doc, expected) in &cases {
        let o = lab.hostnet(&["apply", "-"], Some(doc));
        assert_eq!(o.status.code(), Some(2), "{doc}\n{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(expected), "want {expected:?} in\n{}", text(&o));
        assert_eq!(snapshot(), before, "{doc} changed something");
    }
}

/// A partial file adds a network whose port forward collides with one of a network it
/// does not mention: nft refuses the transaction after the first network's firewall and
/// bridge were torn down; rollback brings both back.
#[test]
fn a_rejected_firewall_change_rolls_back_everything() {
    if !lab::may_run(
        "a_rejected_firewall_change_rolls_back_everything",
        Variant::Nftables.tools(),
    ) {
        return;
    }
    let lab = Lab::new("rb", Variant::Nftables);
    lab.apply(FULL);
    let before = lab.snapshot();
    let clash = "
networks:
  - {name: tenant2, state: absent}
  - name: tenant3
    uplink: g3h
    ipv4: {address: [10.30.0.1/24]}
    firewall:
      port-forwards:
        - {proto: tcp, external-port: 8022, internal: 10.30.0.5, internal-port: 22, interface: uplink0}
";
    let o = lab.hostnet(&["apply", "-"], Some(clash));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("restored and verified"),
        "{}",
        text(&o)
    );
    assert_eq!(lab.snapshot(), before, "not back to the previous state");
}

/// An apply killed after every phase in turn; `hostnet rollback` returns to the rules
/// (and devices) from before, for both backends.
fn crash_and_rollback(tag: &str, variant: Variant) {
    if !lab::may_run(&format!("crash_and_rollback_{tag}"), variant.tools()) {
        return;
    }
    let lab = Lab::new(tag, variant);
    let backend = variant.backend();
    lab.apply(&with_backend(FULL, backend));
    let change = with_backend(
        "
networks:
  - {name: tenant1, state: absent}
  - name: tenant2
    uplink: g2h
    ipv4: {address: [10.20.0.1/24]}
    firewall: {masquerade: {out-interface: uplink0}, isolate: true}
  - name: tenant3
    uplink: g3h
    ipv4: {address: [10.30.0.1/24]}
    firewall:
      floating-ips: [{external: 198.51.100.30, internal: 10.30.0.5, interface: uplink0}]
",
        backend,
    );
    let before = lab.snapshot();
    for k in 0..8 {
        let n = k.to_string();
        let ns = lab.sb.netns("host");
        let o = lab.hostnet_env(
            &["apply", "-", "--netns", &ns],
            Some(&change),
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", &n)],
        );
        if o.status.success() {
            // Fewer phases than k: the whole change went through.
            lab.apply(&with_backend(FULL, backend));
            continue;
        }
        let o = lab.hostnet(&["rollback"], None);
        assert!(o.status.success(), "crash point {k}: {}", text(&o));
        assert_eq!(lab.snapshot(), before, "crash point {k}: not back");
    }
}

#[test]
fn crash_mid_apply_rolls_back_nftables() {
    crash_and_rollback("cn", Variant::Nftables);
}

#[test]
fn crash_mid_apply_rolls_back_iptables() {
    crash_and_rollback("ci", Variant::IptablesNft);
}

/// The crash journals `dir` holds, parsed.
fn journals(dir: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_dir(dir.join("journal"))
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .filter(|p| {
                    !p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .map(|p| serde_json::from_slice(&std::fs::read(&p).expect("read")).expect("json"))
                .collect()
        })
        .unwrap_or_default()
}

/// A change of firewall rules only (isolation on, an allow-list): its crash journal
/// keeps no link, address, route or rule of the host (their rollback reads only the
/// firewall's state) and of the firewall only the network it changes, and `hostnet rollback` after a crash at each point still returns to
/// the rules from before.
#[test]
fn crash_mid_firewall_only_change_rolls_back() {
    if !lab::may_run(
        "crash_mid_firewall_only_change_rolls_back",
        Variant::Nftables.tools(),
    ) {
        return;
    }
    let lab = Lab::new("cf", Variant::Nftables);
    lab.apply(FULL);
    let change = "
networks:
  - name: tenant2
    uplink: g2h
    ipv4: {address: [10.20.0.1/24]}
    firewall:
      masquerade: {out-interface: uplink0}
      isolate: true
      allow-from-guests: [{proto: udp, port: 53}]
";
    let before = lab.snapshot();
    let mut crashed = 0;
    for k in 0..4 {
        let n = k.to_string();
        let ns = lab.sb.netns("host");
        let o = lab.hostnet_env(
            &["apply", "-", "--netns", &ns],
            Some(change),
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", &n)],
        );
        if o.status.success() {
            lab.apply(FULL);
            continue;
        }
        crashed += 1;
        let left = journals(lab.state_dir());
        assert_eq!(left.len(), 1, "crash point {k}: {left:?}");
        let kept = &left[0]["before"];
        for part in ["links", "addresses", "routes", "rules"] {
            let empty = kept[part].as_array().map_or_else(
                || kept[part].as_object().is_none_or(|o| o.is_empty()),
                Vec::is_empty,
            );
            assert!(
                empty,
                "crash point {k}: the journal keeps {part}: {}",
                kept[part]
            );
        }
        assert!(kept["firewall"]["read"] == true, "crash point {k}: {kept}");
        // Of the firewall, the networks the change touches (the rollback converges no
        // other), and the skeleton.
        let fw = &kept["firewall"]["nftables"];
        let nets: Vec<&String> = fw["networks"]
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(nets, ["tenant2"], "crash point {k}: {fw}");
        assert!(
            fw["base"].as_array().is_some_and(|b| !b.is_empty()),
            "crash point {k}: {fw}"
        );
        let o = lab.hostnet(&["rollback"], None);
        assert!(o.status.success(), "crash point {k}: {}", text(&o));
        assert_eq!(lab.snapshot(), before, "crash point {k}: not back");
    }
    assert!(crashed > 0, "the change never crashed");
}
