//! Plans of nmstate-format files on the model (issue 13): interfaces named without a
//! type, veths named as ethernet, and the options nmstate has keys for.

use super::tests::{host, intent_of};
use super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, Link, LinkKind};

/// `host()` plus a veth pair `v1`/`v1p` standing in for a NIC, as the tests' fixture.
fn host_with_veth() -> ModelDriver {
    let mut s = host().query().expect("query");
    for (name, peer) in [("v1", "v1p"), ("v1p", "v1")] {
        s.links.insert(
            name.into(),
            Link {
                name: name.into(),
                kind: LinkKind::Veth {
                    peer: Some(peer.into()),
                },
                up: true,
                mtu: 1500,
                mac: None,
                controller: None,
            },
        );
    }
    ModelDriver::new(s)
}

fn converge(m: &mut ModelDriver, yaml: &str) -> Plan {
    let intent = intent_of(yaml);
    let p = plan(m.state(), &intent).expect("plans");
    for phase in &p.phases {
        for r in m.execute(phase) {
            r.expect("model accepts the op");
        }
    }
    let again = plan(m.state(), &intent).expect("plans again");
    assert!(again.is_empty(), "not converged:\n{again}");
    p
}

#[test]
fn an_interface_named_without_type_takes_the_kernels() {
    let mut m = host_with_veth();
    let p = converge(
        &mut m,
        "interfaces:\n- name: v1\n  mtu: 1450\n  ipv6: {enabled: true, address: [{ip: 2001:db8:20::1, prefix-length: 64}]}\n",
    );
    assert_eq!(
        p.to_string(),
        "+ address 2001:db8:20::1/64 dev v1\n~ link v1 mtu 1450\n"
    );
    assert!(matches!(m.state().links["v1"].kind, LinkKind::Veth { .. }));
    // A NIC too; and a name the kernel lacks needs its type.
    converge(&mut m, "interfaces:\n- {name: eth0, mtu: 1400}\n");
    let errs = plan(
        m.state(),
        &intent_of("interfaces:\n- {name: eth9, mtu: 1400}\n"),
    )
    .expect_err("missing");
    assert_eq!(
        errs[0].to_string(),
        "interfaces[0].type: eth9 does not exist; give its type to create it"
    );
}

#[test]
fn a_typeless_interface_with_a_types_settings_is_refused() {
    let d =
        crate::model::parse("interfaces:\n- {name: br0, bridge: {port: []}}\n").expect("parses");
    let e = crate::model::validate(&d).expect_err("invalid");
    assert_eq!(
        e.to_string(),
        "interfaces[0].bridge: give the interface's type with its bridge settings"
    );
}

#[test]
fn a_veth_named_as_ethernet_is_configured() {
    let mut m = host_with_veth();
    let p = converge(
        &mut m,
        "interfaces:\n- name: v1\n  type: ethernet\n  mtu: 1400\n  ipv4: {enabled: true, address: [{ip: 192.0.2.20, prefix-length: 24}]}\n",
    );
    assert_eq!(
        p.to_string(),
        "+ address 192.0.2.20/24 dev v1\n~ link v1 mtu 1400\n"
    );
    // With nmstate's veth section naming its peer; another peer is refused.
    converge(
        &mut m,
        "interfaces:\n- {name: v1, type: ethernet, veth: {peer: v1p}}\n",
    );
    let errs = plan(
        m.state(),
        &intent_of("interfaces:\n- {name: v1, type: ethernet, veth: {peer: other}}\n"),
    )
    .expect_err("peer");
    assert_eq!(
        errs[0].to_string(),
        "interfaces[0].veth.peer: veth v1 exists with peer v1p, not other"
    );
}

#[test]
fn a_nic_is_never_to_be_removed_for_another_kind() {
    let m = host_with_veth();
    let errs = plan(
        m.state(),
        &intent_of("interfaces:\n- {name: eth0, type: veth, veth: {peer: x}}\n"),
    )
    .expect_err("kind");
    let e = errs[0].to_string();
    assert!(!e.contains("remove it") && !e.contains("absent"), "{e}");
    // A device hostnet makes may be.
    let errs = plan(
        m.state(),
        &intent_of("interfaces:\n- {name: v1, type: linux-bridge}\n"),
    )
    .expect_err("kind");
    assert!(
        errs[0]
            .to_string()
            .contains("remove it first (state: absent)"),
        "{}",
        errs[0]
    );
}

/// A bridge of another tool's with two ports, STP off, the kernel's defaults.
fn host_with_bridge() -> ModelDriver {
    let mut m = host_with_veth();
    let ops = [
        Op::CreateLink(crate::netdev::NewLink {
            name: "br0".into(),
            kind: LinkKind::Bridge(crate::netdev::BridgeOptions::default()),
            up: true,
            mtu: None,
            mac: None,
            controller: None,
            peer: None,
        }),
        Op::ChangeLink {
            name: "v1".into(),
            change: crate::netdev::LinkChange {
                controller: Some(Some("br0".into())),
                ..Default::default()
            },
        },
    ];
    for op in &ops {
        for r in m.execute(std::slice::from_ref(op)) {
            r.expect("set up");
        }
    }
    m
}

const STP_ON: &str = "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge:\n    options:\n      stp: {enabled: true, forward-delay: 4, hello-time: 3, priority: 4096}\n      mac-ageing-time: 100\n      multicast-snooping: false\n    port:\n    - {name: v1, stp-path-cost: 150, stp-hairpin-mode: true}\n";

#[test]
fn bridge_and_port_settings_change_in_place_and_converge() {
    let mut m = host_with_bridge();
    let p = converge(&mut m, STP_ON);
    assert_eq!(
        p.to_string(),
        "~ link v1 bridge_slave hairpin on cost 150\n\
         ~ link br0 stp on forward_delay 400 hello_time 300 priority 4096 ageing_time 10000 mcast_snooping off\n"
    );
    // STP off with a forward delay of 0: STP goes first, in a request of its own.
    let p = converge(
        &mut m,
        "interfaces:\n- {name: br0, type: linux-bridge, bridge: {options: {stp: {enabled: false, forward-delay: 0}}}}\n",
    );
    assert_eq!(
        p.to_string(),
        "~ link br0 stp off\n~ link br0 forward_delay 0\n"
    );
}

#[test]
fn a_rollback_takes_bridge_settings_back_exactly() {
    let mut m = host_with_bridge();
    let before = m.query().expect("query");
    let p = converge(&mut m, STP_ON);
    let done: Vec<Op> = p.ops().cloned().collect();
    let now = m.query().expect("query");
    let undo = super::undo::Undo {
        before: &before,
        done: &done,
        left: Some(&now),
        recreated: &Default::default(),
    }
    .plan(&now);
    assert!(undo.kept.is_empty() && undo.blocked.is_empty(), "{undo:?}");
    for phase in &undo.plan.phases {
        for r in m.execute(phase) {
            r.expect("rollback op");
        }
    }
    assert_eq!(m.query().expect("query"), before);
    // Exact convergence gets there too.
    let mut m = host_with_bridge();
    converge(&mut m, STP_ON);
    let back = restore_plan(&m.query().expect("query"), &before);
    for phase in &back.phases {
        for r in m.execute(phase) {
            r.expect("restore op");
        }
    }
    assert_eq!(m.query().expect("query"), before);
}

#[test]
fn a_rollback_leaves_a_setting_another_tool_changed_since() {
    let mut m = host_with_bridge();
    let before = m.query().expect("query");
    let p = converge(&mut m, STP_ON);
    let done: Vec<Op> = p.ops().cloned().collect();
    let other = Op::ChangeLink {
        name: "br0".into(),
        change: crate::netdev::LinkChange {
            bridge: Some(crate::netdev::BridgeChange {
                priority: Some(8192),
                ..Default::default()
            }),
            ..Default::default()
        },
    };
    for r in m.execute(std::slice::from_ref(&other)) {
        r.expect("other tool");
    }
    let now = m.query().expect("query");
    let undo = super::undo::Undo {
        before: &before,
        done: &done,
        left: None,
        recreated: &Default::default(),
    }
    .plan(&now);
    assert_eq!(
        undo.kept,
        ["link br0 priority: 8192 now, this apply set 4096 (it was 32768); left as another tool set it"]
    );
    assert!(
        undo.plan.to_string().contains("~ link br0 stp off"),
        "{}",
        undo.plan
    );
}

/// `lo`, and NICs `eth1` and `eth2`, on a kernel with bridge VLAN filtering or without.
fn host_with_nics(vlans: bool) -> ModelDriver {
    let mut s = host().query().expect("query");
    for n in ["eth1", "eth2"] {
        s.links.insert(
            n.into(),
            Link {
                name: n.into(),
                kind: LinkKind::Ethernet,
                up: true,
                mtu: 1500,
                mac: None,
                controller: None,
            },
        );
    }
    s.no_bridge_vlans = !vlans;
    ModelDriver::new(s)
}

const PORT_VLANS: &str = include_str!("../../tests/nmstate/linux_bridge_port_vlan.yml");

#[test]
fn port_vlans_converge_exactly() {
    let mut m = host_with_nics(true);
    let before = m.query().expect("query");
    let p = converge(&mut m, PORT_VLANS);
    let s = m.query().expect("query");
    let LinkKind::Bridge(o) = &s.links["br-vl0"].kind else {
        panic!("a bridge");
    };
    assert!(o.vlan_filtering);
    assert_eq!(
        crate::netdev::fmt_vlans(&s.bridge_vlans["eth1"]),
        "100 pvid untagged 101 102 200 201 202 203 204 205 206 207 208 209"
    );
    assert_eq!(
        crate::netdev::fmt_vlans(&s.bridge_vlans["eth2"]),
        "101 pvid untagged"
    );
    // The VLAN the ports got on joining goes; the new ones and the PVID come first.
    let text = p.to_string();
    assert!(text.contains("- bridge-vlan 1 dev eth1"), "{text}");
    assert!(
        text.find("+ bridge-vlan 101 pvid untagged dev eth2")
            < text.find("- bridge-vlan 1 dev eth2"),
        "{text}"
    );
    // `vlan: {}` takes a port back to the bridge's default.
    let back = PORT_VLANS.replace(
        "vlan:\n            mode: access\n            tag: 101",
        "vlan: {}",
    );
    converge(&mut m, &back);
    assert_eq!(
        crate::netdev::fmt_vlans(&m.query().expect("query").bridge_vlans["eth2"]),
        "1 pvid untagged"
    );
    // A rollback takes every VLAN back.
    let mut m = host_with_nics(true);
    let p = converge(&mut m, PORT_VLANS);
    let done: Vec<Op> = p.ops().cloned().collect();
    let now = m.query().expect("query");
    let undo = super::undo::Undo {
        before: &before,
        done: &done,
        left: Some(&now),
        recreated: &Default::default(),
    }
    .plan(&now);
    for phase in &undo.plan.phases {
        for r in m.execute(phase) {
            r.expect("rollback op");
        }
    }
    assert_eq!(m.query().expect("query"), before);
}

#[test]
fn port_vlans_on_a_kernel_without_vlan_filtering_are_refused() {
    let m = host_with_nics(false);
    let errs = plan(m.state(), &intent_of(PORT_VLANS)).expect_err("refused");
    let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"interfaces[0].bridge.port[0].vlan"),
        "{errs:?}"
    );
    assert!(
        errs[0].message.contains("CONFIG_BRIDGE_VLAN_FILTERING"),
        "{errs:?}"
    );
}

#[test]
fn a_new_default_pvid_moves_ports_still_on_the_old_one() {
    let mut m = host_with_nics(true);
    converge(
        &mut m,
        "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth1}, {name: eth2, vlan: {mode: access, tag: 7}}]}}\n",
    );
    converge(
        &mut m,
        "interfaces:\n- {name: br0, type: linux-bridge, bridge: {options: {vlan-default-pvid: 5}}}\n",
    );
    let s = m.query().expect("query");
    assert_eq!(
        crate::netdev::fmt_vlans(&s.bridge_vlans["eth1"]),
        "5 pvid untagged"
    );
    assert_eq!(
        crate::netdev::fmt_vlans(&s.bridge_vlans["br0"]),
        "5 pvid untagged"
    );
    assert_eq!(
        crate::netdev::fmt_vlans(&s.bridge_vlans["eth2"]),
        "7 pvid untagged"
    );
}

fn filtering(m: &ModelDriver, bridge: &str) -> bool {
    matches!(&m.state().links[bridge].kind, LinkKind::Bridge(o) if o.vlan_filtering)
}

#[test]
fn vlan_filtering_goes_off_once_no_port_has_vlans_of_its_own() {
    let mut m = host_with_nics(true);
    converge(&mut m, PORT_VLANS);
    // Ports listed without `vlan` keep their sets, so filtering stays on.
    let kept = "interfaces:\n  - name: br-vl0\n    type: linux-bridge\n    bridge:\n      options: {stp: {enabled: false}}\n      port: [{name: eth1}, {name: eth2}]\n";
    let p = plan(m.state(), &intent_of(kept)).expect("plans");
    assert!(p.is_empty(), "{p}");
    // `vlan: {}` on every port: their sets back to the default, then filtering off.
    let off = kept.replace(
        "{name: eth1}, {name: eth2}",
        "{name: eth1, vlan: {}}, {name: eth2, vlan: {}}",
    );
    let before = m.state().clone();
    crate::engine::tests::fail_at_every_op(
        || ModelDriver::new(before.clone()),
        &intent_of(&off),
        |s| s,
    );
    let p = converge(&mut m, &off);
    assert!(!filtering(&m, "br-vl0"), "{p}");
    let text = p.to_string();
    assert!(
        text.find("- bridge-vlan 100") < text.find("vlan_filtering off"),
        "{text}"
    );
    let mut shown = crate::show::show(m.state()).document;
    shown.interfaces.retain(|i| i.name == "br-vl0");
    let yaml = serde_yaml_ng::to_string(&shown).expect("yaml");
    assert!(!yaml.contains("vlan:"), "{yaml}");
    let again = plan(m.state(), &intent_of(&yaml)).expect("plans");
    assert!(again.is_empty(), "show output changes:\n{again}\n{yaml}");
    // A port with VLANs of its own turns it on again.
    converge(&mut m, PORT_VLANS);
    assert!(filtering(&m, "br-vl0"));
}
