//! The devices a plan creates without IPv6 (`port_ipv6.rs`), on the model driver.

use super::base_keys_tests::{host_with_v1, run};
use super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, Link, LinkKind};

/// The `disable_ipv6` switches of `p` in `phase`, by device.
fn switched_off(p: &Plan, phase: Phase) -> Vec<String> {
    p.phases[phase as usize]
        .iter()
        .filter_map(|op| match op {
            Op::Firewall(fw) => match &**fw {
                crate::firewall::FwOp::Sysctl { key, to, .. } if to == "1" => {
                    crate::firewall::sysctl::disable_ipv6_of(key).map(str::to_string)
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// `host_with_v1()` plus Ethernet links `names`, with IPv6 on or off (`ipv6`).
fn host_with(names: &[String], ipv6: bool) -> ModelDriver {
    let mut s = host_with_v1().query().expect("query");
    for name in names {
        s.links.insert(
            name.clone(),
            Link {
                name: name.clone(),
                kind: LinkKind::Ethernet,
                up: true,
                mtu: 1500,
                mac: None,
                controller: None,
            },
        );
        if !ipv6 {
            s.ipv6_disabled.insert(name.clone());
        }
    }
    ModelDriver::new(s)
}

#[test]
fn ports_their_unused_peers_and_bridges_without_ipv6_are_created_without_it() {
    let mut m = host_with(&["v2".into()], false);
    let p = run(
        &mut m,
        "interfaces:\n\
         - {name: hv1, type: veth, veth: {peer: hp1}}\n\
         - {name: hv2, type: veth, veth: {peer: hp2}}\n\
         - {name: hv3, type: veth, veth: {peer: hp3}, ipv6: {enabled: true}}\n\
         - {name: hv4, type: veth, veth: {peer: hp4}}\n\
         networks:\n\
         - {name: n1, uplink: hv1, ipv4: {address: [10.1.0.1/24]}}\n\
         - {name: n2, uplink: hv2, ipv6: {address: ['2001:db8:2::1/64']}}\n\
         - {name: n3, uplink: hv3, ipv4: {address: [10.3.0.1/24]}}\n\
         - {name: n4, uplink: v1, ipv4: {address: [10.4.0.1/24]}}\n\
         - {name: n5, ipv4: {address: [10.5.0.1/24]}}\n\
         - {name: n6, uplink: v2, ipv4: {address: [10.6.0.1/24]}}\n",
    );
    // Each right after the op that creates its device, in the same phase. Of the
    // IPv4-only networks' bridges only n4 keeps IPv6: its uplink was there with IPv6 (its
    // routers may configure the host there). n1's and n3's uplinks are new (even one
    // with IPv6 of its own), n6's had IPv6 off, n5 has none.
    assert_eq!(
        switched_off(&p, Phase::CreateBridges),
        ["n1", "n3", "n5", "n6"],
        "{p}"
    );
    assert_eq!(
        switched_off(&p, Phase::CreateVeths),
        ["hv1", "hp1", "hv2", "hp2", "hp3"],
        "{p}"
    );
    let veths = &p.phases[Phase::CreateVeths as usize];
    assert!(
        matches!(&veths[0], Op::CreateLink(l) if l.name == "hv1"),
        "{p}"
    );
    // hv4 is no port and its peer is not unused: as the kernel makes them. v1 existed.
    for dev in ["n2", "n4", "hv3", "hv4", "hp4", "v1"] {
        assert!(!m.state().ipv6_disabled.contains(dev), "{dev}");
    }
    for dev in [
        "n1", "n3", "n5", "n6", "hv1", "hp1", "hv2", "hp2", "hp3", "v2",
    ] {
        assert!(m.state().ipv6_disabled.contains(dev), "{dev}");
    }
}

#[test]
fn a_bridge_the_file_asks_ipv6_of_keeps_it_whatever_its_uplink() {
    let mut m = host_with_v1();
    let p = run(
        &mut m,
        "interfaces:\n\
         - {name: hv1, type: veth, veth: {peer: hp1}}\n\
         - {name: hv2, type: veth, veth: {peer: hp2}}\n\
         networks:\n\
         - {name: n1, uplink: hv1, ipv4: {address: [10.1.0.1/24]}, ipv6: {dhcp: true}}\n\
         - {name: n2, uplink: hv2, ipv6: {address: ['2001:db8:2::1/64']}}\n",
    );
    // Their uplinks are new, but the file asks for IPv6 on them (router advertisements
    // and DHCPv6, an address).
    assert!(switched_off(&p, Phase::CreateBridges).is_empty(), "{p}");
    for dev in ["n1", "n2"] {
        assert!(!m.state().ipv6_disabled.contains(dev), "{dev}");
    }
}

#[test]
fn a_port_keeps_its_switch_when_it_leaves_its_bridge() {
    let mut m = host_with_v1();
    let net = "interfaces:\n- {name: hv1, type: veth, veth: {peer: hp1}}\n\
               networks:\n- {name: n1, uplink: hv1, ipv4: {address: [10.1.0.1/24]}}\n\
               - {name: n9, ipv4: {address: [10.9.0.1/24]}}\n";
    run(&mut m, net);
    // A network's bridge made without IPv6 gets it back once the network has IPv6.
    let p = run(
        &mut m,
        "networks:\n- {name: n9, ipv4: {address: [10.9.0.1/24]}, ipv6: {address: ['2001:db8:9::1/64']}}\n",
    );
    assert!(
        p.to_string()
            .contains("sysctl net.ipv6.conf.n9.disable_ipv6 = 0 (was 1)"),
        "{p}"
    );
    let p = run(&mut m, "networks:\n- {name: n1, state: absent}\n");
    assert!(!p.to_string().contains("disable_ipv6"), "{p}");
    assert!(m.state().ipv6_disabled.contains("hv1"));
    // The file wins over what the port was given.
    let p = run(
        &mut m,
        "interfaces:\n- {name: hv1, type: veth, veth: {peer: hp1}, ipv6: {enabled: true}}\n",
    );
    assert!(
        p.to_string()
            .contains("sysctl net.ipv6.conf.hv1.disable_ipv6 = 0 (was 1)"),
        "{p}"
    );
}

#[test]
fn a_host_whose_new_devices_start_without_ipv6_gets_no_switches() {
    let mut s = host_with_v1().query().expect("query");
    s.ipv6_default = Some(crate::netdev::Ipv6Switches {
        disabled: true,
        autoconf: true,
    });
    let mut m = ModelDriver::new(s);
    let p = run(
        &mut m,
        "interfaces:\n- {name: hv1, type: veth, veth: {peer: hp1}}\n\
         networks:\n- {name: n1, uplink: hv1, ipv4: {address: [10.1.0.1/24]}}\n",
    );
    // Nothing to switch off, and a bridge with an uplink is not switched on either.
    assert!(!p.to_string().contains("disable_ipv6"), "{p}");
    assert!(m.state().ipv6_disabled.contains("hp1"));
    assert!(m.state().ipv6_disabled.contains("n1"));
}

/// The bench's networks 1..=n: a veth uplink each, IPv4 only; with `nics`, on existing
/// links `e1..=en` instead.
fn uplinked(n: usize, nics: bool) -> String {
    let mut y = String::from("interfaces:\n");
    for i in 1..=n {
        y.push_str(&format!(
            "- {{name: hv{i}, type: veth, veth: {{peer: hp{i}}}}}\n"
        ));
    }
    y.push_str("networks:\n");
    for i in 1..=n {
        let up = if nics { "e" } else { "hv" };
        y.push_str(&format!(
            "- {{name: hb{i}, uplink: {up}{i}, ipv4: {{address: [10.0.{i}.1/24]}}}}\n"
        ));
    }
    y
}

fn nics(n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("e{i}")).collect()
}

#[test]
fn the_bench_s_bridges_on_new_veths_are_created_without_ipv6() {
    let mut m = host_with_v1();
    let p = run(&mut m, &uplinked(40, false));
    let off = switched_off(&p, Phase::CreateBridges);
    assert_eq!(off.len(), 40, "{p}");
    // None is switched back on later.
    assert!(p.phases[Phase::LinkSysctls as usize].is_empty(), "{p}");
    let s = m.state();
    for dev in ["hb7", "hv7", "hp7"] {
        assert!(s.ipv6_disabled.contains(dev), "{dev}");
    }
    // `show` gives them as `ipv6: {enabled: false}`, and its output applies as no change
    // (on `host()`, whose NICs have MAC addresses to show).
    let mut m = super::tests::host();
    let mut s = m.query().expect("query");
    s.ipv6_default = host_with_v1().query().expect("query").ipv6_default;
    let mut m = ModelDriver::new(s);
    run(&mut m, &uplinked(3, false));
    let shown = super::tests::shown_applies_to_nothing(&m);
    assert!(shown.contains("name: hb2"), "{shown}");
    assert_eq!(
        shown.matches("  ipv6:\n    enabled: false").count(),
        9,
        "{shown}"
    );
}

#[test]
fn bridges_on_existing_uplinks_with_ipv6_get_it_at_once() {
    // 40 bridges, each on a NIC that had IPv6: they keep it, created as the kernel makes
    // them, and nothing switches it off and on again later.
    let mut m = host_with(&nics(40), true);
    let p = run(&mut m, &uplinked(40, true));
    assert!(switched_off(&p, Phase::CreateBridges).is_empty(), "{p}");
    assert!(p.phases[Phase::LinkSysctls as usize].is_empty(), "{p}");
    assert!(!m.state().ipv6_disabled.contains("hb7"));
    // The same NICs with IPv6 off: the bridges are made without.
    let mut m = host_with(&nics(40), false);
    let p = run(&mut m, &uplinked(40, true));
    assert_eq!(switched_off(&p, Phase::CreateBridges).len(), 40, "{p}");
}
