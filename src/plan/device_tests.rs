//! The device kinds beyond bridges and veths on the model driver: plans, re-apply,
//! rollback from a failure at every op, show round-trip, and the errors that exit 2.

use super::tests::{applied, host, intent_of, shown_applies_to_nothing};
use super::*;
use crate::engine::tests::fail_at_every_op;
use crate::engine::{apply, ApplyOptions};
use crate::model::{parse, validate};
use crate::netdev::model::ModelDriver;
use crate::netdev::{BondMode, Driver, LinkKind};

/// Every kind at once: a bond of both NICs as a VLAN-tagged network's uplink with
/// source routing, a vxlan on the bond, a macvlan, a macvtap and a tap in the bridge.
const ALL: &str = "
interfaces:
  - name: bond0
    type: bond
    mtu: 9000
    link-aggregation: {mode: active-backup, options: {miimon: 100}, port: [eth0, eth1]}
  - name: vx0
    type: vxlan
    vxlan: {id: 4242, base-iface: bond0, remote: 192.0.2.99, local: 192.0.2.10, learning: false}
  - name: mv0
    type: mac-vlan
    mac-vlan: {base-iface: bond0, mode: bridge}
  - name: mvt0
    type: mac-vtap
    mtu: 1400
    mac-vtap: {base-iface: bond0, mode: passthru}
  - name: tap0
    type: tap
    tap: {owner: 107, group: 115, multi-queue: true}
networks:
  - name: tenant
    uplink: bond0
    vlan: 100
    mtu: 9000
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
  - name: guests
    ipv4: {address: [198.51.100.1/24]}
";

fn errors(current: &crate::netdev::KernelState, yaml: &str) -> Vec<String> {
    match plan(current, &intent_of(yaml)) {
        Ok(p) => panic!("planned:\n{p}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn every_kind_is_created_in_order_and_reapply_is_empty() {
    let m = host();
    let p = plan(m.state(), &intent_of(ALL)).expect("plans");
    insta::assert_snapshot!(p.to_string());
    let m = applied(ALL);
    let s = m.state();
    assert_eq!(s.links["eth0"].controller.as_deref(), Some("bond0"));
    assert_eq!(s.links["bond0.100"].controller.as_deref(), Some("tenant"));
    assert!(matches!(
        &s.links["bond0"].kind,
        LinkKind::Bond(b) if b.mode == BondMode::ActiveBackup && b.miimon == 100
    ));
    assert_eq!(s.links["mvt0"].mtu, 1400);
    assert!(plan(s, &intent_of(ALL)).expect("plans").is_empty());
}

#[test]
fn a_failure_at_any_op_rolls_back_exactly() {
    fail_at_every_op(host, &intent_of(ALL), |s| s);
}

#[test]
fn removing_everything_rolls_back_to_every_kind() {
    let removal = "
interfaces:
  - {name: bond0, state: absent}
  - {name: tap0, state: absent}
  - {name: vx0, state: absent}
networks:
  - {name: tenant, uplink: bond0, vlan: 100, state: absent}
  - {name: guests, state: absent}
";
    fail_at_every_op(|| applied(ALL), &intent_of(removal), |s| s);
    let mut m = applied(ALL);
    apply(
        &mut m,
        &intent_of(removal),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("removes");
    let s = m.state();
    for gone in ["bond0", "bond0.100", "vx0", "mv0", "mvt0", "tap0", "tenant"] {
        assert!(!s.links.contains_key(gone), "{gone} is still there");
    }
    assert!(s.links["eth0"].controller.is_none());
}

#[test]
fn show_of_every_kind_applies_to_nothing() {
    let m = applied(ALL);
    let yaml = shown_applies_to_nothing(&m);
    assert!(yaml.contains("link-aggregation"), "{yaml}");
}

#[test]
fn settings_that_differ_are_refused_not_silently_kept() {
    let m = applied(ALL);
    let changed = ALL.replace("id: 4242", "id: 4243");
    assert_eq!(
        errors(m.state(), &changed),
        [
            "interfaces[1].vxlan: vxlan vx0 exists with id 4242 link bond0 remote 192.0.2.99 \
          local 192.0.2.10 dstport 8472 nolearning, not id 4243 link bond0 remote 192.0.2.99 \
          local 192.0.2.10 dstport 8472 nolearning; hostnet does not change these settings \
          in place: remove it first (state: absent) and apply again"
        ]
    );
}

#[test]
fn a_missing_base_or_creating_without_settings_is_a_plan_error() {
    let m = host();
    assert_eq!(
        errors(
            m.state(),
            "interfaces: [{name: v5, type: vlan, vlan: {base-iface: eth9, id: 5}}]"
        ),
        ["interfaces[0].vlan.base-iface: base interface eth9 of vlan v5 does not exist"]
    );
    assert_eq!(
        errors(m.state(), "interfaces: [{name: b0, type: bond}]"),
        ["interfaces[0].link-aggregation: bond b0 does not exist; creating it needs its link-aggregation settings"]
    );
    assert_eq!(
        errors(m.state(), "networks: [{name: t, uplink: eth9, vlan: 7}]"),
        ["networks[0].uplink: eth9 does not exist"]
    );
}

fn validation(yaml: &str) -> Vec<String> {
    let d = parse(yaml).expect("parses");
    validate(&d)
        .expect_err("invalid")
        .0
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn bad_device_settings_name_their_field() {
    let cases: [(&str, &str); 13] = [
        (
            "interfaces: [{name: x, type: vxlan, vxlan: {id: 5, remote: 239.1.1.1}}]",
            "interfaces[0].vxlan.base-iface: remote 239.1.1.1 is a multicast group: base-iface must \
             name the device to join it on",
        ),
        (
            "interfaces: [{name: v, type: vlan, vlan: {base-iface: eth0, id: 4095}}]",
            "interfaces[0].vlan.id: VLAN id 4095 is outside 1-4094",
        ),
        (
            "interfaces: [{name: v, type: vlan, vlan: {base-iface: eth0, id: 0}}]",
            "interfaces[0].vlan.id: VLAN id 0 is outside 1-4094",
        ),
        (
            "networks: [{name: n, uplink: eth0, vlan: 5000}]",
            "networks[0].vlan: VLAN id 5000 is outside 1-4094",
        ),
        (
            "interfaces: [{name: x, type: vxlan, vxlan: {id: 16777216}}]",
            "interfaces[0].vxlan.id: VXLAN id 16777216 does not fit in 24 bits (0-16777215)",
        ),
        (
            "interfaces: [{name: b, type: bond, link-aggregation: {mode: active-backup}}]",
            "interfaces[0].link-aggregation.port: bond b has no ports",
        ),
        (
            "interfaces: [{name: b, type: bond, link-aggregation: {mode: active-backup, port: []}}]",
            "interfaces[0].link-aggregation.port: bond b has no ports",
        ),
        (
            "interfaces: [{name: b, type: bond, link-aggregation: {mode: fastest, port: [eth0]}}]",
            "interfaces[0].link-aggregation.mode: unknown bond mode \"fastest\" (one of balance-rr, \
             active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)",
        ),
        (
            "interfaces: [{name: m, type: mac-vlan, mac-vlan: {base-iface: m}}]",
            "interfaces[0].mac-vlan.base-iface: m cannot be its own base interface",
        ),
        (
            "interfaces: [{name: m, type: mac-vtap, mac-vtap: {base-iface: eth0, mode: wide}}]",
            "interfaces[0].mac-vtap.mode: unknown mode \"wide\" (one of private, vepa, bridge, passthru, source)",
        ),
        (
            "interfaces: [{name: t, type: tap, tap: {persistent: false}}]",
            "interfaces[0].tap.persistent: hostnet exits after applying, and a tap that is not \
             persistent would vanish with it",
        ),
        (
            "interfaces: [{name: t, type: tap, vlan: {base-iface: eth0, id: 3}}]",
            "interfaces[0].vlan: only a vlan has vlan settings, not a tap",
        ),
        (
            "interfaces:\n  - {name: eth0, state: absent}\n  - {name: v, type: vlan, vlan: {base-iface: eth0, id: 3}}",
            "interfaces[1].vlan.base-iface: base interface eth0 is removed by this file (state: absent)",
        ),
    ];
    for (yaml, want) in cases {
        assert_eq!(validation(yaml), [want], "{yaml}");
    }
}

#[test]
fn bond_miimon_and_macvlan_mode_change_in_place_and_roll_back() {
    let changed = ALL
        .replace("options: {miimon: 100}", "options: {miimon: 250}")
        .replace(
            "mac-vlan: {base-iface: bond0, mode: bridge}",
            "mac-vlan: {base-iface: bond0, mode: private}",
        );
    let probe = applied(ALL);
    let p = plan(probe.state(), &intent_of(&changed)).expect("plans");
    assert_eq!(
        p.to_string(),
        "~ link bond0 mode active-backup miimon 250\n~ link mv0 link bond0 mode private\n"
    );
    fail_at_every_op(|| applied(ALL), &intent_of(&changed), |s| s);
    let mut m = applied(ALL);
    apply(
        &mut m,
        &intent_of(&changed),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("changes");
    assert!(plan(m.state(), &intent_of(&changed))
        .expect("plans")
        .is_empty());
    // A bond's mode is not changed in place.
    let e = errors(
        m.state(),
        &changed.replace("mode: active-backup", "mode: balance-xor"),
    );
    assert!(
        e[0].starts_with(
            "interfaces[0].link-aggregation: bond bond0 exists with mode active-backup"
        ),
        "{e:?}"
    );
}

#[test]
fn a_stacked_mtu_above_its_bases_is_a_plan_error_and_the_model_refuses_it_too() {
    let m = host();
    assert_eq!(
        errors(
            m.state(),
            "interfaces: [{name: mv0, type: mac-vlan, mtu: 9000, mac-vlan: {base-iface: eth0, mode: bridge}}]"
        ),
        ["interfaces[0].mtu: MTU 9000 of mv0 is above the 1500 its base eth0 allows (MTU 1500); \
          raise eth0's MTU under interfaces"]
    );
    // A network's MTU is not its VLAN base's.
    assert_eq!(
        errors(
            m.state(),
            "networks: [{name: t, uplink: eth0, vlan: 100, mtu: 9000, ipv4: {address: [192.0.2.10/24]}}]"
        ),
        ["networks[0].mtu: MTU 9000 of eth0.100 is above the 1500 its base eth0 allows (MTU 1500); \
          raise eth0's MTU under interfaces"]
    );
    assert_eq!(
        errors(
            m.state(),
            "interfaces: [{name: vx0, type: vxlan, mtu: 1500, vxlan: {id: 4, base-iface: eth0, remote: 192.0.2.9}}]"
        ),
        ["interfaces[0].mtu: MTU 1500 of vx0 is above the 1450 its base eth0 allows (MTU 1500 less \
          50 of VXLAN headers); raise eth0's MTU under interfaces"]
    );
    // Raised together in one file: fine.
    plan(
        m.state(),
        &intent_of(
            "interfaces:\n  - {name: eth0, type: ethernet, mtu: 9000}\n  - {name: mv0, type: mac-vlan, mtu: 9000, mac-vlan: {base-iface: eth0, mode: bridge}}",
        ),
    )
    .expect("plans");
    // The model driver mirrors the kernel's refusal.
    let mut m = applied(
        "interfaces: [{name: mv0, type: mac-vlan, mac-vlan: {base-iface: eth0, mode: bridge}}]",
    );
    let r = m.execute(&[Op::ChangeLink {
        name: "mv0".into(),
        change: crate::netdev::LinkChange {
            mtu: Some(9000),
            ..Default::default()
        },
    }]);
    assert!(r[0].is_err(), "{r:?}");
}

const BOND2: &str = "
interfaces:
  - name: bond0
    type: bond
    link-aggregation: {mode: active-backup, options: {miimon: 100}, port: [eth0, eth1]}
";

/// Applies `yaml` to a copy of `m`, and checks that a failure at any op of it restores
/// `m`'s state exactly. Returns the applied copy.
fn apply_and_fail_everywhere(m: &ModelDriver, yaml: &str) -> ModelDriver {
    fail_at_every_op(
        || ModelDriver::new(m.state().clone()),
        &intent_of(yaml),
        |s| s,
    );
    let mut done = ModelDriver::new(m.state().clone());
    apply(
        &mut done,
        &intent_of(yaml),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .unwrap_or_else(|e| panic!("{e:?}\n{yaml}"));
    assert!(plan(done.state(), &intent_of(yaml))
        .expect("plans")
        .is_empty());
    done
}

#[test]
fn ports_released_from_a_bond_or_left_by_a_deleted_bond_come_back_up() {
    let m = apply_and_fail_everywhere(&host(), BOND2);
    assert!(m.state().links["eth1"].up);
    // eth1 leaves the bond (not mentioned otherwise: it was up, it stays up).
    let one = BOND2.replace("port: [eth0, eth1]", "port: [eth0]");
    let m = apply_and_fail_everywhere(&m, &one);
    let eth1 = &m.state().links["eth1"];
    assert!(eth1.up && eth1.controller.is_none(), "{eth1:?}");
    // The bond goes: eth0 comes back up.
    let m = apply_and_fail_everywhere(&m, "interfaces: [{name: bond0, state: absent}]");
    assert!(m.state().links["eth0"].up);
    // A released port the file wants down stays down.
    let m = applied(BOND2);
    let down = format!("{one}  - {{name: eth1, type: ethernet, state: down}}\n");
    let m = apply_and_fail_everywhere(&m, &down);
    assert!(!m.state().links["eth1"].up);
}

#[test]
fn a_device_created_into_a_bond_is_created_down_and_joins_after() {
    let y = "
interfaces:
  - name: bond1
    type: bond
    link-aggregation: {mode: active-backup, port: [c0, t0]}
  - {name: c0, type: veth, veth: {peer: c1}}
  - {name: t0, type: tap}
";
    let m = apply_and_fail_everywhere(&host(), y);
    for port in ["c0", "t0"] {
        let l = &m.state().links[port];
        assert!(l.up && l.controller.as_deref() == Some("bond1"), "{l:?}");
    }
}
