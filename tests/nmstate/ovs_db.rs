//! nmstate's `ovs-db` of Open vSwitch rows (docs/NMSTATE.md, "Open vSwitch"): an ovs-bridge's own
//! (Bridge row), a bond's (Port row), the global one (Open_vSwitch row) and
//! `ovn.bridge-mappings`, each applied, checked with `ovs-vsctl`, re-applied and shown
//! back as no-ops, and rolled back after a failure.

use super::*;

#[test]
fn ovs_bridge_row_external_ids_and_other_config() {
    let test = "ovs_bridge_row_external_ids_and_other_config";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "ovs_bridge_db.yml", read("ovs_bridge_db.yml"));
    let columns = ["external_ids", "other_config", "stp_enable"];
    assert_eq!(
        get(&ovs, "Bridge", "ovs-br-db", &columns),
        [
            "{owner=rack-a, purpose=guests}",
            "{mac-table-size=\"4096\", stp-priority=\"28672\"}",
            "true"
        ]
    );
    // `show` gives the STP key back as the option, the rest as the row's maps.
    let shown = run(&ovs, &["show"], "");
    has_all(
        "show",
        &String::from_utf8_lossy(&shown.stdout),
        &["priority: 28672", "mac-table-size: '4096'", "owner: rack-a"],
    );

    // A failure after a change of both maps puts them back.
    let before = state(&ovs).ovs;
    let changed = format!(
        "{}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.9, next-hop-interface: eth1}}\n",
        read("ovs_bridge_db.yml")
            .replace("purpose: guests", "purpose: tests")
            .replace("mac-table-size: \"4096\"", "mac-table-size: \"8192\"")
    );
    let o = run(&ovs, &["apply", "-"], &changed);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(state(&ovs).ovs, before, "{}", text(&o));

    // A map given is complete (empty: cleared), a map not given is kept; the STP key
    // belongs to bridge.options and stays.
    let cleared = "interfaces: [{name: ovs-br-db, type: ovs-bridge, ovs-db: {external_ids: {}}}]";
    converges_ovs(&ovs, "external_ids: {}", cleared);
    assert_eq!(
        get(&ovs, "Bridge", "ovs-br-db", &columns[..2]),
        ["{}", "{mac-table-size=\"4096\", stp-priority=\"28672\"}"]
    );
    // Named without its type, as nmstate allows for an existing interface.
    let untyped = "interfaces: [{name: ovs-br-db, ovs-db: {other_config: {}}}]";
    converges_ovs(&ovs, "untyped bridge, other_config: {}", untyped);
    assert_eq!(
        get(&ovs, "Bridge", "ovs-br-db", &["other_config"]),
        ["{stp-priority=\"28672\"}"]
    );
    // An STP key that contradicts the option is refused before anything changes.
    let both = "interfaces: [{name: ovs-br-db, type: ovs-bridge, ovs-db: {other_config: {stp-priority: '4096'}}, bridge: {options: {stp: {priority: 8192}}}}]";
    let o = run(&ovs, &["apply", "-"], both);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("interfaces[0].ovs-db.other_config.stp-priority"),
        "{}",
        text(&o)
    );
}

/// `ovs-vsctl ARGS` against the private database, which must succeed.
pub(super) fn vsctl(ovs: &Ovs, args: &[&str]) {
    let o = Command::new("ovs-vsctl")
        .arg(format!("--db={}", ovs.db))
        .arg("--timeout=30")
        .args(args)
        .output()
        .expect("ovs-vsctl runs");
    assert!(o.status.success(), "ovs-vsctl {args:?}: {}", text(&o));
}

/// A failing route after `yaml`'s changes: the apply exits 1 and rolls back.
pub(super) fn failing(yaml: &str) -> String {
    format!(
        "{yaml}routes:\n  config:\n    - {{destination: 198.51.100.0/24, next-hop-address: 203.0.113.9, next-hop-interface: eth1}}\n"
    )
}

#[test]
fn ovs_db_global_keys_merge_and_roll_back_per_key() {
    let test = "ovs_db_global_keys_merge_and_roll_back_per_key";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    // Keys another tool set: one the file removes (null), one it does not mention.
    vsctl(
        &ovs,
        &[
            "set",
            "Open_vSwitch",
            ".",
            "external_ids:obsolete-hint=x",
            "external_ids:system-id=host-a",
        ],
    );
    converges_ovs(&ovs, "ovs_db_global.yml", read("ovs_db_global.yml"));
    let s = state(&ovs).ovs.global;
    assert_eq!(
        s.external_ids.get("owner").map(String::as_str),
        Some("hostnet-corpus")
    );
    assert_eq!(
        s.external_ids.get("system-id").map(String::as_str),
        Some("host-a")
    );
    assert!(!s.external_ids.contains_key("obsolete-hint"), "{s:?}");
    assert_eq!(
        get(
            &ovs,
            "Open_vSwitch",
            ".",
            &["other_config:stats-update-interval"]
        ),
        ["\"10000\""]
    );

    // A failure puts back the keys the apply changed, and only those.
    let before = state(&ovs).ovs;
    let changed = read("ovs_db_global.yml")
        .replace("owner: hostnet-corpus", "owner: someone-else")
        .replace("\"10000\"", "null");
    let o = run(&ovs, &["apply", "-"], &failing(&changed));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(state(&ovs).ovs, before, "{}", text(&o));

    // An empty map removes every key of it.
    converges_ovs(&ovs, "other_config: {}", "ovs-db: {other_config: {}}");
    assert!(state(&ovs).ovs.global.other_config.is_empty());
    assert_eq!(
        state(&ovs)
            .ovs
            .global
            .external_ids
            .get("system-id")
            .map(String::as_str),
        Some("host-a")
    );
}

#[test]
fn ovn_bridge_mappings_merge_per_localnet() {
    let test = "ovn_bridge_mappings_merge_per_localnet";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    vsctl(
        &ovs,
        &[
            "set",
            "Open_vSwitch",
            ".",
            "external_ids:ovn-bridge-mappings=\"retired:br-old,keep:br-keep\"",
        ],
    );
    let mappings = |ovs: &Ovs| {
        state(ovs)
            .ovs
            .global
            .external_ids
            .get("ovn-bridge-mappings")
            .cloned()
    };
    converges_ovs(
        &ovs,
        "ovn_bridge_mappings.yml",
        read("ovn_bridge_mappings.yml"),
    );
    assert_eq!(
        mappings(&ovs).as_deref(),
        Some("keep:br-keep,tenantblue:ovs-br-ovn,tenantred:ovs-br-ovn")
    );
    // `show` gives them as `ovn`, not inside `ovs-db`.
    let shown = run(&ovs, &["show"], "");
    let doc = String::from_utf8_lossy(&shown.stdout).into_owned();
    has_all(
        "show",
        &doc,
        &["localnet: tenantblue", "bridge: ovs-br-ovn"],
    );
    assert!(!doc.contains("ovn-bridge-mappings"), "{doc}");

    // A failure after a removal puts the key back as it was.
    let before = state(&ovs).ovs;
    let remove = "ovn: {bridge-mappings: [{localnet: tenantred, state: absent}]}\n";
    let o = run(&ovs, &["apply", "-"], &failing(remove));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(state(&ovs).ovs, before, "{}", text(&o));
    converges_ovs(&ovs, "tenantred absent", remove);
    assert_eq!(
        mappings(&ovs).as_deref(),
        Some("keep:br-keep,tenantblue:ovs-br-ovn")
    );
    // Given in ovs-db too: refused before anything changes.
    let both = "ovs-db: {external_ids: {ovn-bridge-mappings: 'a:b'}}\novn: {bridge-mappings: [{localnet: a, bridge: b}]}\n";
    let o = run(&ovs, &["apply", "-"], both);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("ovs-db.external_ids.ovn-bridge-mappings"),
        "{}",
        text(&o)
    );
}

#[test]
fn ovs_bond_port_row_external_ids_and_other_config() {
    let test = "ovs_bond_port_row_external_ids_and_other_config";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "ovs_bond_db.yml", read("ovs_bond_db.yml"));
    let columns = ["other_config", "external_ids"];
    assert_eq!(
        get(&ovs, "Port", "bond-nm1", &columns),
        [
            "{bond-detect-mode=miimon, bond-miimon-interval=\"100\", bond-rebalance-interval=\"5000\"}",
            "{hostnet-created=\"true\", owner=rack-a}"
        ]
    );

    // A failure after a change of both maps puts them back.
    let before = state(&ovs).ovs;
    let changed = read("ovs_bond_db.yml")
        .replace("owner: rack-a", "owner: rack-b")
        .replace("bond-detect-mode: miimon", "bond-detect-mode: carrier");
    let o = run(&ovs, &["apply", "-"], &failing(&changed));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(state(&ovs).ovs, before, "{}", text(&o));

    // `other_config: {}` clears that map; external_ids and hostnet's mark stay.
    let cleared = read("ovs_bond_db.yml").replace(
        "              other_config:\n                bond-detect-mode: miimon\n                bond-miimon-interval: \"100\"\n                bond-rebalance-interval: \"5000\"\n",
        "              other_config: {}\n",
    );
    assert_ne!(cleared, read("ovs_bond_db.yml"));
    converges_ovs(&ovs, "bond other_config: {}", &cleared);
    assert_eq!(
        get(&ovs, "Port", "bond-nm1", &columns),
        ["{}", "{hostnet-created=\"true\", owner=rack-a}"]
    );
    // hostnet's own mark is not a file's to give.
    let mark = read("ovs_bond_db.yml").replace("owner: rack-a", "hostnet-created: \"true\"");
    let o = run(&ovs, &["apply", "-"], &mark);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        text(&o).contains("link-aggregation.ovs-db.external_ids.hostnet-created"),
        "{}",
        text(&o)
    );
}

#[test]
fn ovs_db_numbers_and_booleans_are_their_text() {
    let test = "ovs_db_numbers_and_booleans_are_their_text";
    if !enter_private_netns(test) {
        return;
    }
    let Some(ovs) = Ovs::start(test) else { return };
    fixture();
    converges_ovs(&ovs, "ovs_db_values.yml", read("ovs_db_values.yml"));
    assert_eq!(
        get(
            &ovs,
            "Open_vSwitch",
            ".",
            &[
                "other_config:stats-update-interval",
                "other_config:flow-restore-wait"
            ]
        ),
        ["\"10000\"", "\"false\""]
    );
    assert_eq!(
        get(&ovs, "Bridge", "ovs-br-val", &["external_ids", "other_config"]),
        [
            "{rack=\"7\"}",
            "{mac-aging-time=\"300\", mcast-snooping-disable-flood-unregistered=\"true\", stp-priority=\"4096\"}"
        ]
    );
    assert_eq!(
        get(
            &ovs,
            "Interface",
            "ovsval0",
            &["external_ids", "other_config"]
        ),
        ["{vm-slot=\"3\"}", "{emc-enable=\"false\"}"]
    );
    assert_eq!(
        get(&ovs, "Port", "bond-val", &["other_config"]),
        ["{bond-detect-mode=miimon, bond-miimon-interval=\"100\"}"]
    );
    // The same values written as strings are the same row: nothing to change.
    let quoted = read("ovs_db_values.yml")
        .replace("10000", "\"10000\"")
        .replace("wait: false", "wait: \"false\"")
        .replace("rack: 7", "rack: \"7\"")
        .replace("priority: 4096", "priority: \"4096\"")
        .replace("unregistered: true", "unregistered: \"true\"")
        .replace("interval: 100", "interval: \"100\"")
        .replace("emc-enable: false", "emc-enable: \"false\"");
    no_change(&ovs, "the values quoted", &quoted);
    // In a map that is complete when given, `null` leaves the key out: it goes.
    let nulled = "interfaces: [{name: ovsval0, ovs-db: {other_config: {emc-enable: null}}}]";
    converges_ovs(&ovs, "emc-enable: null", nulled);
    assert_eq!(get(&ovs, "Interface", "ovsval0", &["other_config"]), ["{}"]);
}
