//! The kinds of docs/NMSTATE.md ("Interface types") on the model driver (`ipvlan`): created,
//! re-applied as nothing, shown and applied back as nothing, mode and flags changed in
//! place, a failure at any op rolled back, bad values named by their field.

use super::tests::{applied, host, intent_of, shown_applies_to_nothing};
use super::*;
use crate::engine::tests::fail_at_every_op;
use crate::model::{parse, validate};
use crate::netdev::model::ModelDriver;
use crate::netdev::{IpVlanMode, LinkKind};

const IPVLANS: &str = "
interfaces:
  - name: ipv0
    type: ipvlan
    ipvlan: {base-iface: eth0, mode: l2, private: true}
  - name: ipv1
    type: ipvlan
    mtu: 1400
    ipvlan: {base-iface: eth1}
";

#[test]
fn ipvlans_are_created_after_their_base_and_reapply_is_empty() {
    let p = plan(host().state(), &intent_of(IPVLANS)).expect("plans");
    let text = p.to_string();
    assert!(
        text.contains("ipvlan ipv0 link eth0 mode l2 private"),
        "{text}"
    );
    assert!(text.contains("ipvlan ipv1 link eth1 mode l3"), "{text}");
    let m = applied(IPVLANS);
    let s = m.state();
    let LinkKind::IpVlan(a) = &s.links["ipv0"].kind else {
        panic!("{:?}", s.links["ipv0"])
    };
    assert_eq!(
        (a.base.as_deref(), a.mode, a.private, a.vepa),
        (Some("eth0"), IpVlanMode::L2, true, false)
    );
    let LinkKind::IpVlan(b) = &s.links["ipv1"].kind else {
        panic!()
    };
    assert_eq!(b.mode, IpVlanMode::L3, "the kernel's default");
    assert_eq!(s.links["ipv1"].mtu, 1400);
    let again = plan(s, &intent_of(IPVLANS)).expect("plans");
    assert!(again.is_empty(), "{again}");
}

#[test]
fn show_of_an_ipvlan_applies_to_nothing() {
    let yaml = shown_applies_to_nothing(&applied(IPVLANS));
    for key in [
        "type: ipvlan",
        "base-iface: eth0",
        "mode: l2",
        "private: true",
    ] {
        assert!(yaml.contains(key), "{key} not in:\n{yaml}");
    }
}

#[test]
fn a_failure_at_any_op_rolls_back_exactly() {
    fail_at_every_op(host, &intent_of(IPVLANS), |s| s);
}

#[test]
fn mode_and_flags_change_in_place_a_new_base_recreates() {
    let m = applied(IPVLANS);
    let changed = IPVLANS.replace("mode: l2, private: true", "mode: l3s, vepa: true");
    let p = plan(m.state(), &intent_of(&changed)).expect("plans");
    let changes: Vec<&str> = p
        .ops()
        .filter_map(|op| match op {
            Op::ChangeLink { name, change } if change.settings.is_some() => Some(name.as_str()),
            Op::CreateLink(_) | Op::DeleteLink { .. } => panic!("re-created: {p}"),
            _ => None,
        })
        .collect();
    assert_eq!(changes, ["ipv0"], "{p}");
    fail_at_every_op(
        || ModelDriver::new(m.state().clone()),
        &intent_of(&changed),
        |s| s,
    );
    let moved = IPVLANS.replace(
        "base-iface: eth0, mode: l2, private: true",
        "base-iface: eth1",
    );
    assert!(plan(m.state(), &intent_of(&moved)).is_err(), "a new base");
}

#[test]
fn bad_values_name_their_field() {
    let d = parse(
        "interfaces:\n  - {name: i0, type: ipvlan, ipvlan: {base-iface: eth0, mode: l4}}\n  - {name: i1, type: ipvlan, ipvlan: {base-iface: eth0, private: true, vepa: true}}\n  - {name: i2, type: dummy, ipvlan: {base-iface: eth0}}\n  - {name: i3, type: ipvlan, ipvlan: {base-iface: i3}}\n  - {name: i4, type: ipvlan, ipvlan: {base-iface: eth1, mode: l2}}\n  - {name: i5, type: ipvlan, ipvlan: {base-iface: eth1}}",
    )
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    for want in [
        "interfaces[0].ipvlan.mode: unknown mode \"l4\" (one of l2, l3, l3s)",
        "interfaces[1].ipvlan.vepa: private and vepa exclude each other",
        "interfaces[2].ipvlan: only an ipvlan has ipvlan settings, not a dummy",
        "interfaces[3].ipvlan.base-iface: i3 cannot be its own base interface",
        "interfaces[5].ipvlan: IPVLANs on eth1 share one mode and flags (the kernel keeps \
         them per base): interfaces[4] has mode l2, private false, vepa false",
    ] {
        assert!(e.contains(want), "{want} not in:\n{e}");
    }
}

#[test]
fn an_ipvlan_that_would_switch_an_unlisted_one_on_its_base_is_refused() {
    let m = applied(IPVLANS);
    let other =
        "interfaces:\n  - name: ipv2\n    type: ipvlan\n    ipvlan: {base-iface: eth0, mode: l3}\n";
    let e = plan(m.state(), &intent_of(other)).expect_err("refused");
    let e = e[0].to_string();
    assert!(
        e.starts_with("interfaces[0].ipvlan: ipvlan ipv0 on eth0"),
        "{e}"
    );
    assert!(e.contains("mode l2, private true, vepa false"), "{e}");
    // The same mode and flags leave ipv0 as it is.
    let same = other.replace("mode: l3}", "mode: l2, private: true}");
    let p = plan(m.state(), &intent_of(&same)).expect("plans");
    assert!(p.ops().any(|op| matches!(op, Op::CreateLink(_))), "{p}");
    // Listed with the new mode, ipv0 is the file's: both change.
    let both = format!(
        "{other}  - name: ipv0\n    type: ipvlan\n    ipvlan: {{base-iface: eth0, mode: l3}}\n"
    );
    plan(m.state(), &intent_of(&both)).expect("plans");
    // Changing ipv0 in place would switch an unlisted ipv2 too.
    let m = applied(&format!("{IPVLANS}{}", &same["interfaces:\n".len()..]));
    let change = "interfaces:\n  - name: ipv0\n    type: ipvlan\n    ipvlan: {base-iface: eth0, mode: l3s}\n";
    let e = plan(m.state(), &intent_of(change)).expect_err("refused")[0].to_string();
    assert!(
        e.starts_with("interfaces[0].ipvlan: ipvlan ipv2 on eth0"),
        "{e}"
    );
}

#[test]
fn a_vxlan_without_destination_port_keeps_the_one_it_has_and_a_new_one_gets_8472() {
    let vx = |port: &str| {
        format!("interfaces:\n  - name: vx0\n    type: vxlan\n    vxlan: {{id: 42, base-iface: eth0, remote: 192.0.2.9{port}}}\n")
    };
    let m = applied(&vx(", destination-port: 4789"));
    let p = plan(m.state(), &intent_of(&vx(""))).expect("plans");
    assert!(p.is_empty(), "an existing port is kept:\n{p}");
    let p = plan(host().state(), &intent_of(&vx(""))).expect("plans");
    assert!(p.to_string().contains("dstport 8472"), "{p}");
    let e = plan(m.state(), &intent_of(&vx(", destination-port: 8472"))).expect_err("refused");
    assert!(e[0].to_string().contains("dstport 4789"), "{}", e[0]);
}
