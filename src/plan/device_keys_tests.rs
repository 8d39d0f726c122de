//! nmstate's device keys (docs/NMSTATE.md, the kinds' sections) on the model driver: VLAN
//! protocol and flags, MACVLAN/MACVTAP `promiscuous`: created, re-applied as nothing,
//! shown and applied back as nothing, flags changed in place, fixed settings refused.

use super::tests::{applied, intent_of, shown_applies_to_nothing};
use super::*;
use crate::engine::tests::fail_at_every_op;
use crate::engine::{apply, ApplyOptions};
use crate::model::{parse, validate};
use crate::netdev::model::ModelDriver;
use crate::netdev::{LinkKind, VlanProtocol};

const VLANS: &str = "
interfaces:
  - name: eth0.101
    type: vlan
    vlan: {base-iface: eth0, id: 101, protocol: 802.1q, reorder-headers: false,
           loose-binding: true, registration-protocol: mvrp}
  - name: eth0.300
    type: vlan
    vlan: {base-iface: eth0, id: 300, protocol: 802.1ad}
  - name: eth0.300.10
    type: vlan
    vlan: {base-iface: eth0.300, id: 10}
  - name: mvt0
    type: mac-vtap
    mac-vtap: {base-iface: eth1, mode: passthru, promiscuous: false}
  - name: mv0
    type: mac-vlan
    mac-vlan: {base-iface: eth0, mode: bridge, accept-all-mac: true}
";

#[test]
fn vlan_and_macvlan_keys_are_created_and_reapply_is_empty() {
    let m = applied(VLANS);
    let s = m.state();
    let LinkKind::Vlan(v) = &s.links["eth0.101"].kind else {
        panic!("{:?}", s.links["eth0.101"])
    };
    assert_eq!(v.protocol, VlanProtocol::Dot1Q);
    assert!(
        !v.reorder_headers && v.loose_binding && v.mvrp && !v.gvrp,
        "{v:?}"
    );
    let LinkKind::Vlan(qinq) = &s.links["eth0.300"].kind else {
        panic!()
    };
    assert_eq!(qinq.protocol, VlanProtocol::Dot1Ad);
    assert!(qinq.reorder_headers, "the kernel's default");
    let LinkKind::MacVtap(t) = &s.links["mvt0"].kind else {
        panic!()
    };
    assert!(!t.promiscuous);
    let LinkKind::MacVlan(mv) = &s.links["mv0"].kind else {
        panic!()
    };
    assert!(mv.promiscuous);
    let again = plan(s, &intent_of(VLANS)).expect("plans");
    assert!(again.is_empty(), "{again}");
    // Through nmstate's key check too (accept-all-mac is its alias of promiscuous).
    let again = plan(s, &intent_of(VLANS)).expect("plans");
    assert!(again.is_empty(), "{again}");
}

#[test]
fn show_of_the_keys_applies_to_nothing() {
    let yaml = shown_applies_to_nothing(&applied(VLANS));
    for key in [
        "protocol: 802.1ad",
        "reorder-headers: false",
        "loose-binding: true",
        "registration-protocol: mvrp",
        "promiscuous: false",
    ] {
        assert!(yaml.contains(key), "{key} not in:\n{yaml}");
    }
}

#[test]
fn flags_change_in_place_and_a_failure_restores_them() {
    let m = applied(VLANS);
    let changed = VLANS
        .replace("reorder-headers: false", "reorder-headers: true")
        .replace("registration-protocol: mvrp", "registration-protocol: gvrp")
        .replace("promiscuous: false", "promiscuous: true");
    let p = plan(m.state(), &intent_of(&changed)).expect("plans");
    let changes: Vec<&str> = p
        .ops()
        .filter_map(|op| match op {
            Op::ChangeLink { name, change } if change.settings.is_some() => Some(name.as_str()),
            Op::CreateLink(_) | Op::DeleteLink { .. } => panic!("re-created: {p}"),
            _ => None,
        })
        .collect();
    assert_eq!(changes, ["eth0.101", "mvt0"], "{p}");
    fail_at_every_op(
        || ModelDriver::new(m.state().clone()),
        &intent_of(&changed),
        |s| s,
    );
    let done = {
        let mut d = ModelDriver::new(m.state().clone());
        apply(
            &mut d,
            &intent_of(&changed),
            ApplyOptions::default(),
            |_, _| Ok(()),
        )
        .expect("applies");
        d
    };
    assert!(plan(done.state(), &intent_of(&changed))
        .expect("plans")
        .is_empty());
}

#[test]
fn a_vlan_protocol_or_passthru_change_is_refused_naming_the_section() {
    let m = applied(VLANS);
    let changed = VLANS.replace("protocol: 802.1ad", "protocol: 802.1q");
    let errors: Vec<String> = match plan(m.state(), &intent_of(&changed)) {
        Ok(p) => panic!("planned:\n{p}"),
        Err(e) => e.iter().map(ToString::to_string).collect(),
    };
    assert_eq!(
        errors,
        [
            "interfaces[1].vlan: vlan eth0.300 exists with link eth0 protocol 802.1ad id 300, not \
          link eth0 id 300; hostnet does not change these settings in place: remove it first \
          (state: absent) and apply again"
        ]
    );
}

#[test]
fn bad_values_name_their_field() {
    let d = parse(
        "interfaces:\n  - {name: v0, type: vlan, vlan: {base-iface: eth0, id: 5, protocol: 802.1x, registration-protocol: garp}}\n  - {name: m0, type: mac-vlan, mac-vlan: {base-iface: eth0, mode: bridge, promiscuous: false}}",
    )
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    for want in [
        "interfaces[0].vlan.protocol: unknown VLAN protocol \"802.1x\"",
        "interfaces[0].vlan.registration-protocol: unknown registration protocol \"garp\"",
        "interfaces[1].mac-vlan.promiscuous: only passthru mode uses promiscuous: false",
    ] {
        assert!(e.contains(want), "{want} not in {e}");
    }
}

const LACP: &str = "
interfaces:
  - name: bond1
    type: bond
    link-aggregation:
      mode: 802.3ad
      options: {miimon: 100, updelay: 200, lacp_rate: fast, ad_select: bandwidth,
                xmit_hash_policy: layer3+4, min_links: 1, ad_actor_sys_prio: 100,
                ad_user_port_key: 10, all_slaves_active: delivered, num_grat_arp: 2}
      port: [eth0, eth1]
";

#[test]
fn bond_options_are_created_shown_and_reapplied_as_nothing() {
    let m = applied(LACP);
    let LinkKind::Bond(b) = &m.state().links["bond1"].kind else {
        panic!()
    };
    assert_eq!(
        (
            b.updelay,
            b.lacp_rate,
            b.ad_select,
            b.xmit_hash_policy,
            b.min_links
        ),
        (200, 1, 1, 1, 1)
    );
    assert_eq!((b.ad_actor_sys_prio, b.ad_user_port_key), (100, 10));
    assert_eq!(
        (b.all_slaves_active, b.num_grat_arp, b.resend_igmp),
        (1, 2, 1)
    );
    assert!(plan(m.state(), &intent_of(LACP)).expect("plans").is_empty());
    let yaml = shown_applies_to_nothing(&m);
    assert!(yaml.contains("lacp_rate: fast"), "{yaml}");
    assert!(
        !yaml.contains("resend_igmp"),
        "defaults are not shown: {yaml}"
    );
}

#[test]
fn bond_options_change_in_place_unless_they_need_the_bond_down() {
    let m = applied(LACP);
    // The 802.3ad actor's priority and MAC change in place too (6.1 takes them on an up
    // bond with ports).
    let changed = LACP
        .replace("min_links: 1", "min_links: 2")
        .replace("updelay: 200", "updelay: 300")
        .replace(
            "ad_actor_sys_prio: 100,",
            "ad_actor_sys_prio: 200, ad_actor_system: 02:00:00:00:00:07,",
        );
    let p = plan(m.state(), &intent_of(&changed)).expect("plans");
    assert!(
        p.ops()
            .any(|op| matches!(op, Op::ChangeLink { name, change }
            if name == "bond1" && change.settings.is_some())),
        "{p}"
    );
    assert!(!p.ops().any(|op| matches!(op, Op::CreateLink(_))), "{p}");
    fail_at_every_op(
        || ModelDriver::new(m.state().clone()),
        &intent_of(&changed),
        |s| s,
    );
    let slow = LACP.replace("lacp_rate: fast", "lacp_rate: slow");
    match plan(m.state(), &intent_of(&slow)) {
        Ok(p) => panic!("planned:\n{p}"),
        Err(e) => {
            let e = e[0].to_string();
            assert!(
                e.starts_with("interfaces[0].link-aggregation: bond bond1 exists with"),
                "{e}"
            );
            assert!(e.contains(" lacp_rate fast"), "{e}");
            assert!(e.contains(" all_slaves_active delivered, not "), "{e}");
        }
    }
}

#[test]
fn bond_options_name_their_field() {
    let d = parse(
        "interfaces:\n  - name: b0\n    type: bond\n    link-aggregation:\n      mode: active-backup\n      options: {updelay: 150, downdelay: 10, lacp_rate: fast, xmit_hash_policy: layer5, num_grat_arp: 300}\n      port: [eth0]",
    )
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    let p = "interfaces[0].link-aggregation.options";
    for want in [
        format!("{p}.updelay: needs miimon"),
        format!("{p}.downdelay: needs miimon"),
        format!("{p}.lacp_rate: only an 802.3ad bond has it"),
        format!("{p}.xmit_hash_policy: unknown value \"layer5\""),
        format!("{p}.num_grat_arp: 300 is out of range (0-255)"),
    ] {
        assert!(e.contains(&want), "{want} not in {e}");
    }
    let d = parse(
        "interfaces:\n  - name: b0\n    type: bond\n    link-aggregation:\n      mode: active-backup\n      options: {miimon: 100, updelay: 150}\n      port: [eth0]",
    )
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    assert!(
        e.contains(&format!(
            "{p}.updelay: 150 ms is not a multiple of miimon 100"
        )),
        "{e}"
    );
}

#[test]
fn num_unsol_na_is_num_grat_arp_and_two_values_are_refused() {
    let one = "interfaces:\n  - name: b0\n    type: bond\n    link-aggregation:\n      mode: active-backup\n      options: {num_unsol_na: 3}\n      port: [eth0]\n";
    let m = applied(one);
    let LinkKind::Bond(b) = &m.state().links["b0"].kind else {
        panic!()
    };
    assert_eq!(b.num_grat_arp, 3);
    assert!(plan(m.state(), &intent_of(one)).expect("plans").is_empty());
    let d = parse(
        "interfaces:\n  - name: b0\n    type: bond\n    link-aggregation:\n      mode: active-backup\n      options: {num_grat_arp: 2, num_unsol_na: 3}\n      port: [eth0]",
    )
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    assert!(
        e.contains(
            "interfaces[0].link-aggregation.options.num_unsol_na: 3 differs from num_grat_arp 2"
        ),
        "{e}"
    );
}

#[test]
fn bond_options_of_some_modes_are_refused_in_the_others() {
    let bond = |mode: &str, opts: &str| {
        format!("interfaces:\n  - name: b0\n    type: bond\n    link-aggregation:\n      mode: {mode}\n      options: {{{opts}}}\n      port: [eth0]\n")
    };
    let d = parse(&bond(
        "active-backup",
        "packets_per_slave: 2, tlb_dynamic_lb: false, lacp_active: false, ad_actor_system: 02:00:00:00:00:01, lp_interval: 0",
    ))
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    let p = "interfaces[0].link-aggregation.options";
    for want in [
        format!("{p}.packets_per_slave: only a balance-rr bond has it, not active-backup"),
        format!("{p}.tlb_dynamic_lb: only a balance-tlb or balance-alb bond has it"),
        format!("{p}.lacp_active: only an 802.3ad bond has it"),
        format!("{p}.ad_actor_system: only an 802.3ad bond has it"),
        format!("{p}.lp_interval: 0 is out of range (1-2147483647)"),
    ] {
        assert!(e.contains(&want), "{want} not in {e}");
    }
    let d = parse(&bond("802.3ad", "ad_actor_system: 01:00:5e:00:00:01")).expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    assert!(
        e.contains(&format!(
            "{p}.ad_actor_system: 01:00:5e:00:00:01 is a multicast"
        )),
        "{e}"
    );
    // Defaults are fine in any mode (a file may spell them out).
    let d = parse(&bond(
        "active-backup",
        "packets_per_slave: 1, tlb_dynamic_lb: true, lacp_active: true",
    ))
    .expect("parses");
    validate(&d).expect("valid");
}

#[test]
fn bond_options_rr_change_in_place_and_lacp_active_needs_the_bond_down() {
    let rr = "interfaces:\n  - name: b0\n    type: bond\n    link-aggregation:\n      mode: balance-rr\n      options: {use_carrier: false, lp_interval: 5, packets_per_slave: 4}\n      port: [eth0, eth1]\n";
    let m = applied(rr);
    let LinkKind::Bond(b) = &m.state().links["b0"].kind else {
        panic!()
    };
    assert_eq!(
        (b.use_carrier, b.lp_interval, b.packets_per_slave),
        (false, 5, 4)
    );
    assert!(plan(m.state(), &intent_of(rr)).expect("plans").is_empty());
    let yaml = shown_applies_to_nothing(&m);
    assert!(
        yaml.contains("packets_per_slave: 4") && yaml.contains("use_carrier: false"),
        "{yaml}"
    );
    let changed = rr.replace("packets_per_slave: 4", "packets_per_slave: 0");
    let p = plan(m.state(), &intent_of(&changed)).expect("plans");
    assert!(!p.ops().any(|op| matches!(op, Op::CreateLink(_))), "{p}");
    fail_at_every_op(
        || ModelDriver::new(m.state().clone()),
        &intent_of(&changed),
        |s| s,
    );

    let lacp = "interfaces:\n  - name: b1\n    type: bond\n    link-aggregation:\n      mode: 802.3ad\n      options: {lacp_active: false, ad_actor_system: 02:11:22:33:44:55}\n      port: [eth0]\n";
    let m = applied(lacp);
    assert!(plan(m.state(), &intent_of(lacp)).expect("plans").is_empty());
    let yaml = serde_yaml_ng::to_string(&crate::show::show(m.state()).document).expect("yaml");
    assert!(
        yaml.contains("ad_actor_system: 02:11:22:33:44:55"),
        "{yaml}"
    );
    assert!(
        plan(m.state(), &intent_of(&yaml))
            .expect("plans")
            .is_empty(),
        "{yaml}"
    );
    let active = lacp.replace("lacp_active: false", "lacp_active: true");
    let e = plan(m.state(), &intent_of(&active)).expect_err("refused")[0].to_string();
    assert!(
        e.contains("bond b1 exists with") && e.contains("lacp_active off"),
        "{e}"
    );
}

#[test]
fn bond_arp_monitor_is_checked_created_and_shown_back() {
    let bond = |mode: &str, opts: &str| {
        format!("interfaces:\n  - name: b0\n    type: bond\n    link-aggregation:\n      mode: {mode}\n      options: {{{opts}}}\n      port: [eth0, eth1]\n")
    };
    let p = "interfaces[0].link-aggregation.options";
    let d = parse(&bond(
        "balance-tlb",
        "miimon: 100, arp_interval: 1000, arp_validate: all, arp_missed_max: 0, arp_ip_target: '192.0.2.1,192.0.2.1', ns_ip6_target: 'ff02::1'",
    ))
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    for want in [
        format!("{p}.arp_interval: only a balance-rr or active-backup or balance-xor or broadcast bond has it, not balance-tlb"),
        format!("{p}.arp_interval: cannot be used with MII monitoring (miimon 100)"),
        format!("{p}.arp_validate: cannot be used with MII monitoring"),
        format!("{p}.arp_missed_max: 0 is out of range (1-255)"),
        format!("{p}.arp_ip_target: 192.0.2.1 is listed twice"),
        format!("{p}.ns_ip6_target: ff02::1 is not a target the kernel takes"),
    ] {
        assert!(e.contains(&want), "{want} not in {e}");
    }
    let arp = bond(
        "active-backup",
        "arp_interval: 1000, arp_ip_target: '192.0.2.1,192.0.2.2', arp_validate: all, arp_all_targets: all, arp_missed_max: 3, ns_ip6_target: '2001:db8::1'",
    );
    let m = applied(&arp);
    let LinkKind::Bond(b) = &m.state().links["b0"].kind else {
        panic!()
    };
    assert_eq!(
        (
            b.arp_interval,
            b.arp_validate,
            b.arp_all_targets,
            b.arp_missed_max
        ),
        (1000, 3, 1, 3)
    );
    assert_eq!(b.arp_ip_target.len(), 2);
    assert!(plan(m.state(), &intent_of(&arp)).expect("plans").is_empty());
    let yaml = serde_yaml_ng::to_string(&crate::show::show(m.state()).document).expect("yaml");
    assert!(
        yaml.contains("arp_ip_target: 192.0.2.1,192.0.2.2"),
        "{yaml}"
    );
    assert!(
        plan(m.state(), &intent_of(&yaml))
            .expect("plans")
            .is_empty(),
        "{yaml}"
    );
    // ARP to MII monitoring: in place.
    let mii = bond("active-backup", "miimon: 100");
    let p = plan(m.state(), &intent_of(&mii)).expect("plans");
    assert!(!p.ops().any(|op| matches!(op, Op::CreateLink(_))), "{p}");
    fail_at_every_op(
        || ModelDriver::new(m.state().clone()),
        &intent_of(&mii),
        |s| s,
    );
}

#[test]
fn bond_options_given_as_numbers_are_the_named_values_and_shown_by_name() {
    let numbers = LACP
        .replace("mode: 802.3ad", "mode: 4")
        .replace("lacp_rate: fast", "lacp_rate: 1")
        .replace("ad_select: bandwidth", "ad_select: \"1\"")
        .replace("xmit_hash_policy: layer3+4", "xmit_hash_policy: 1")
        .replace("all_slaves_active: delivered", "all_slaves_active: 1");
    let m = applied(LACP);
    let p = plan(m.state(), &intent_of(&numbers)).expect("plans");
    assert!(p.is_empty(), "numbers differ from names:\n{p}");
    assert_eq!(applied(&numbers).state(), m.state());
    let ab = "
interfaces:
  - name: bond2
    type: bond
    link-aggregation:
      mode: \"1\"
      options: {arp_interval: 100, arp_ip_target: 192.0.2.1, arp_validate: 3,
                arp_all_targets: 1, fail_over_mac: 1, primary_reselect: 2}
      port: [eth0]
";
    let m = applied(ab);
    let yaml = serde_yaml_ng::to_string(&crate::show::show(m.state()).document).expect("yaml");
    for want in [
        "mode: active-backup",
        "arp_validate: all",
        "arp_all_targets: all",
        "fail_over_mac: active",
        "primary_reselect: failure",
    ] {
        assert!(yaml.contains(want), "{want} not in {yaml}");
    }
    assert!(plan(m.state(), &intent_of(&yaml))
        .expect("plans")
        .is_empty());
}

#[test]
fn bond_option_numbers_out_of_range_name_their_field() {
    let d = parse(
        "interfaces:\n  - name: b0\n    type: bond\n    link-aggregation:\n      mode: 7\n      options: {xmit_hash_policy: 6, lacp_rate: \"2\", arp_validate: -1, primary_reselect: 3}\n      port: [eth0]",
    )
    .expect("parses");
    let e = validate(&d).expect_err("invalid").to_string();
    let p = "interfaces[0].link-aggregation";
    for want in [
        format!("{p}.mode: 7 is out of range (0-6"),
        format!("{p}.options.xmit_hash_policy: 6 is out of range (0-5: layer2,"),
        format!("{p}.options.lacp_rate: 2 is out of range (0-1"),
        format!("{p}.options.arp_validate: -1 is out of range (0-6"),
        format!("{p}.options.primary_reselect: 3 is out of range (0-2"),
    ] {
        assert!(e.contains(&want), "{want} not in {e}");
    }
}
