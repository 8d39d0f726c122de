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
