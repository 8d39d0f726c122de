//! Plans of nmstate's base keys on the model: alias, promiscuous flag, IPv6 switches.

use super::tests::{host, intent_of};
use super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Address, Driver, Link, LinkChange, LinkKind};

/// `host()` plus `v1` with the switches a read of the kernel gives (IPv6 on, SLAAC on).
pub(super) fn host_with_v1() -> ModelDriver {
    let mut s = host().query().expect("query");
    s.links.insert(
        "v1".into(),
        Link {
            name: "v1".into(),
            kind: LinkKind::Ethernet,
            up: true,
            mtu: 1500,
            mac: None,
            controller: None,
        },
    );
    s.ipv6_default = Some(crate::netdev::Ipv6Switches {
        disabled: false,
        autoconf: true,
    });
    ModelDriver::new(s)
}

pub(super) fn run(m: &mut ModelDriver, yaml: &str) -> Plan {
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
fn alias_and_promiscuous_flag_change_and_reset() {
    let mut m = host_with_v1();
    let p = run(
        &mut m,
        "interfaces:\n- {name: v1, description: uplink A, accept-all-mac-addresses: true}\n",
    );
    assert_eq!(p.to_string(), "~ link v1 alias \"uplink A\" promisc on\n");
    assert_eq!(m.state().aliases["v1"], "uplink A");
    assert!(m.state().promisc.contains("v1"));
    run(
        &mut m,
        "interfaces:\n- {name: v1, description: \"\", accept-all-mac-addresses: false}\n",
    );
    assert!(m.state().aliases.is_empty() && m.state().promisc.is_empty());
    // A new bridge gets them once it exists; its deletion takes them.
    let p = run(
        &mut m,
        "interfaces:\n- {name: br9, type: linux-bridge, description: guests, accept-all-mac-addresses: true}\n",
    );
    assert!(
        p.to_string()
            .contains("~ link br9 alias \"guests\" promisc on"),
        "{p}"
    );
    run(&mut m, "interfaces:\n- {name: br9, state: absent}\n");
    assert!(m.state().aliases.is_empty() && m.state().promisc.is_empty());
}

#[test]
fn ipv6_off_then_on_with_an_address_in_one_apply() {
    let mut m = host_with_v1();
    let a = Address::new("v1", "2001:db8:1::1/64".parse().expect("net"));
    m.execute(&[Op::AddAddress(a.clone())])
        .remove(0)
        .expect("added");
    let p = run(
        &mut m,
        "interfaces:\n- {name: v1, ipv6: {enabled: false}}\n",
    );
    // The address goes (explicitly, so that a rollback adds it back after IPv6 is on).
    assert_eq!(
        p.to_string(),
        "- address 2001:db8:1::1/64 dev v1\n~ sysctl net.ipv6.conf.v1.disable_ipv6 = 1 (was 0)\n"
    );
    assert!(!m.state().addresses.contains(&a));
    let p = run(
        &mut m,
        "interfaces:\n- {name: v1, ipv6: {enabled: true, autoconf: false, address: [{ip: 2001:db8:1::1, prefix-length: 64}]}}\n",
    );
    let switch = p.phases[Phase::LinkSysctls as usize].len();
    assert_eq!(switch, 2, "{p}");
    assert!(
        p.phases[Phase::AddAddressesFirst as usize].is_empty(),
        "{p}"
    );
    assert_eq!(
        p.phases[Phase::AddAddresses as usize],
        vec![Op::AddAddress(a.clone())]
    );
    assert!(m.state().ipv6_no_autoconf.contains("v1"));
}

#[test]
fn a_new_device_starts_from_the_default_sysctls() {
    let mut m = host_with_v1();
    let p = run(
        &mut m,
        "interfaces:\n- {name: br9, type: linux-bridge, ipv6: {enabled: true, autoconf: false}}\n",
    );
    assert!(
        p.to_string()
            .contains("~ sysctl net.ipv6.conf.br9.autoconf = 0 (was 1)"),
        "{p}"
    );
    // `enabled: true` is what a new device has: nothing to write.
    assert!(!p.to_string().contains("disable_ipv6"), "{p}");
}

#[test]
fn a_state_without_the_sysctls_plans_none() {
    let m = ModelDriver::new(host().query().expect("query"));
    let p = plan(
        m.state(),
        &intent_of("interfaces:\n- {name: br9, type: linux-bridge, ipv6: {autoconf: false}}\n"),
    )
    .expect("plans");
    assert!(!p.to_string().contains("sysctl"), "{p}");
}

#[test]
fn validation_names_the_base_keys_it_refuses() {
    let long = "x".repeat(256);
    let yaml = format!(
        "interfaces:\n- name: v1\n  description: {long}\n  ipv4: {{autoconf: false}}\n  ipv6: {{enabled: false, autoconf: true}}\n"
    );
    let d = crate::model::parse(&yaml).expect("parses");
    let errs = crate::model::validate(&d).expect_err("refused").to_string();
    for want in [
        "interfaces[0].description: 256 bytes; the kernel keeps at most 255",
        "interfaces[0].ipv4.autoconf: autoconf is IPv6's (SLAAC)",
        "interfaces[0].ipv6.autoconf: ipv6 is disabled but autoconf is on",
    ] {
        assert!(errs.contains(want), "{want} not in {errs}");
    }
}

#[test]
fn bond_ports_config_joins_then_changes_only_what_differs() {
    let mut m = host_with_v1();
    let bond = |prio: i32| {
        format!(
            "interfaces:\n- name: bond0\n  type: bond\n  link-aggregation:\n    mode: active-backup\n    port: [v1]\n    ports-config:\n    - {{name: v1, priority: {prio}, queue-id: 0}}\n"
        )
    };
    let p = run(&mut m, &bond(10));
    // A joining port has the kernel's 0 and 0: only the priority is sent.
    assert!(
        p.to_string().contains("~ link v1 bond_slave prio 10"),
        "{p}"
    );
    assert_eq!(m.state().bond_ports["v1"].prio, 10);
    let p = run(&mut m, &bond(7));
    assert_eq!(p.to_string(), "~ link v1 bond_slave prio 7\n");
    // The model refuses a priority where the kernel does (802.3ad), even unchanged.
    let change = LinkChange {
        bond_port: Some(crate::netdev::BondPortChange {
            prio: Some(7),
            ..Default::default()
        }),
        ..LinkChange::default()
    };
    let mut s = m.state().clone();
    if let Some(l) = s.links.get_mut("bond0") {
        l.kind = LinkKind::Bond(crate::netdev::BondOptions::new(
            crate::netdev::BondMode::Lacp,
            100,
        ));
    }
    let mut m = ModelDriver::new(s);
    let r = m.execute(&[Op::ChangeLink {
        name: "v1".into(),
        change,
    }]);
    assert!(r[0].is_err(), "{r:?}");
}

#[test]
fn validation_names_the_ports_config_it_refuses() {
    let yaml = "interfaces:\n- name: bond0\n  type: bond\n  link-aggregation:\n    mode: 802.3ad\n    port: [v1]\n    ports-config:\n    - {name: v2, queue-id: 1}\n    - {name: v1, priority: 3}\n";
    let d = crate::model::parse(yaml).expect("parses");
    let errs = crate::model::validate(&d).expect_err("refused").to_string();
    for want in [
        "interfaces[0].link-aggregation.ports-config[0].name: v2 is not in the bond's port list",
        "interfaces[0].link-aggregation.ports-config[1].priority: only active-backup, balance-tlb and balance-alb bonds use port priorities",
    ] {
        assert!(errs.contains(want), "{want} not in {errs}");
    }
}

#[test]
fn a_new_bonds_primary_is_set_once_its_ports_are_in() {
    let mut m = host_with_v1();
    let yaml = "interfaces:\n- name: bond0\n  type: bond\n  link-aggregation:\n    mode: active-backup\n    options: {miimon: 100, primary: v1}\n    port: [v1]\n";
    let p = run(&mut m, yaml);
    let created = p.phases[Phase::CreateDevices as usize]
        .iter()
        .any(|op| matches!(op, Op::CreateLink(l) if matches!(&l.kind, LinkKind::Bond(b) if b.primary.is_none())));
    assert!(created, "{p}");
    let set = p.phases[Phase::ChangeBridges as usize].iter().any(|op| {
        matches!(op, Op::ChangeLink { name, change } if name == "bond0"
            && matches!(&change.settings, Some(LinkKind::Bond(b)) if b.primary.as_deref() == Some("v1")))
    });
    assert!(set, "{p}");
    // The port leaving takes the primary with it (the kernel no longer reports it).
    run(
        &mut m,
        "interfaces:\n- name: bond0\n  type: bond\n  link-aggregation:\n    mode: active-backup\n    options: {miimon: 100}\n    port: [eth0]\n",
    );
    let LinkKind::Bond(b) = &m.state().links["bond0"].kind else {
        panic!("not a bond");
    };
    assert_eq!(b.primary, None);
}

#[test]
fn controller_joins_and_detaches_a_port_and_copy_mac_from_takes_the_mac() {
    let mut m = host_with_v1();
    run(
        &mut m,
        "interfaces:\n- {name: br9, type: linux-bridge, copy-mac-from: eth1}\n- {name: v1, controller: br9}\n",
    );
    let s = m.state();
    assert_eq!(s.links["v1"].controller.as_deref(), Some("br9"));
    assert_eq!(s.links["br9"].mac, s.links["eth1"].mac);
    // Listing the bridge again without a port list keeps the port.
    run(&mut m, "interfaces:\n- {name: br9, type: linux-bridge}\n");
    assert_eq!(m.state().links["v1"].controller.as_deref(), Some("br9"));
    let p = run(&mut m, "interfaces:\n- {name: v1, controller: \"\"}\n");
    assert_eq!(p.to_string(), "~ link v1 nomaster\n");
    assert_eq!(m.state().links["v1"].controller, None);
}

#[test]
fn controller_and_copy_mac_from_naming_what_is_not_there_are_refused() {
    let m = host_with_v1();
    let errs = |yaml: &str| -> Vec<String> {
        plan(m.state(), &intent_of(yaml))
            .expect_err("refused")
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    assert_eq!(
        errs("interfaces:\n- {name: v1, controller: br7}\n"),
        ["interfaces[0].controller: br7 does not exist and the file does not create it"]
    );
    assert_eq!(
        errs("interfaces:\n- {name: v1, controller: eth0}\n"),
        ["interfaces[0].controller: eth0 is not a bridge, bond or VRF (it is ethernet)"]
    );
    assert_eq!(
        errs("interfaces:\n- {name: br9, type: linux-bridge, copy-mac-from: eth7}\n"),
        ["interfaces[0].copy-mac-from: br9: eth7 does not exist"]
    );
    assert_eq!(
        errs("interfaces:\n- {name: br9, type: linux-bridge, copy-mac-from: v9}\n- {name: v9, type: veth, veth: {peer: v9p}}\n"),
        ["interfaces[0].copy-mac-from: br9: v9 is made by this apply with a MAC address the kernel chooses; give it a mac-address"]
    );
}

/// `host_with_v1()` with `v1`'s IPv6 state as a read of the kernel gives it.
fn host_with_inet6(token_settable: bool, stable_secret: bool) -> ModelDriver {
    let mut s = host_with_v1().state().clone();
    s.inet6.insert(
        "v1".into(),
        crate::netdev::inet6::Inet6Link {
            addr_gen_mode: 0,
            token: None,
            token_settable,
        },
    );
    s.stable_secret = stable_secret;
    ModelDriver::new(s)
}

#[test]
fn token_and_addr_gen_mode_change_converge_and_reset() {
    let mut m = host_with_inet6(true, true);
    let p = run(
        &mut m,
        "interfaces:\n- {name: v1, ipv6: {addr-gen-mode: stable-privacy, token: \"::1:2\"}}\n",
    );
    assert_eq!(
        p.to_string(),
        "~ link v1 addrgenmode stable-privacy token ::1:2\n"
    );
    let p = run(
        &mut m,
        "interfaces:\n- {name: v1, ipv6: {addr-gen-mode: eui64, token: \"::\"}}\n",
    );
    assert_eq!(p.to_string(), "~ link v1 addrgenmode eui64 token ::\n");
    assert_eq!(m.state().inet6["v1"].token, None);
}

#[test]
fn what_the_kernel_refuses_of_them_is_refused_at_plan_time() {
    let errs = |m: &ModelDriver, yaml: &str| -> Vec<String> {
        plan(m.state(), &intent_of(yaml))
            .expect_err("refused")
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let m = host_with_inet6(false, false);
    let e = errs(
        &m,
        "interfaces:\n- {name: v1, ipv6: {addr-gen-mode: stable-privacy, token: \"::1\"}}\n",
    );
    assert_eq!(e.len(), 2, "{e:?}");
    assert!(e[0].starts_with("interfaces[0].ipv6.token: v1: the kernel takes a token only"));
    assert!(e[1].starts_with("interfaces[0].ipv6.addr-gen-mode: v1: stable-privacy needs"));
    // Already so: nothing to send, nothing to refuse.
    let mut m = host_with_inet6(false, false);
    run(
        &mut m,
        "interfaces:\n- {name: v1, ipv6: {addr-gen-mode: eui64}}\n",
    );
    // A link without IPv6 state.
    let m = host_with_v1();
    assert_eq!(
        errs(&m, "interfaces:\n- {name: v1, ipv6: {token: \"::1\"}}\n"),
        ["interfaces[0].ipv6.token: v1: has no IPv6 state (MTU below 1280, or IPv6 off in the kernel)"]
    );
}
