//! An apply whose file gives no network a firewall does not read the firewall, and its
//! rollback leaves the firewall alone: other networks' rules survive both.

#[path = "firewall/lab.rs"]
mod lab;

use lab::{Lab, Variant};

const WITH_FIREWALL: &str = "
networks:
  - name: tenant1
    uplink: g1h
    ipv4: {address: [10.10.0.1/24]}
    firewall: {masquerade: {out-interface: uplink0}}
";

const WITHOUT_FIREWALL: &str = "
networks:
  - name: tenant2
    uplink: g2h
    ipv4: {address: [10.20.0.1/24]}
";

#[test]
fn an_apply_without_firewall_and_its_rollback_leave_the_firewall_alone() {
    let v = Variant::Nftables;
    if !lab::may_run("firewall_scope", v.tools()) {
        return;
    }
    let lab = Lab::new("sc", v);
    lab.apply(WITH_FIREWALL);
    let rules = lab.ruleset();
    assert!(rules.contains("tenant1"), "{rules}");

    // The file without firewall: the rules are untouched.
    lab.hostnet_ok(
        &["apply", "--confirm-timeout", "120", "-"],
        Some(WITHOUT_FIREWALL),
    );
    assert_eq!(lab.ruleset(), rules, "an apply without firewall changed it");

    // Someone flushes the ruleset meanwhile; rolling back the checkpoint (which never
    // read the firewall) must not try to "restore" it either way.
    lab.run("host", "nft", &["flush", "ruleset"]);
    lab.hostnet_ok(&["rollback"], None);
    assert_eq!(
        lab.ruleset(),
        "",
        "rollback of an apply without firewall touched the firewall"
    );

    // The next apply of the firewall file puts the rules back.
    lab.apply(WITH_FIREWALL);
    assert_eq!(lab.ruleset(), rules);
}
