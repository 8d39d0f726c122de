//! The device API on the model driver.

use super::*;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Address, LinkKind, Route, RouteScope, PROTO_STATIC, TABLE_MAIN};

fn host_with_addressed_uplink() -> ModelDriver {
    let mut m = ModelDriver::fresh_namespace();
    create_veth_pair(&mut m, "eth0", "wire", Some(9000)).expect("veth");
    let mut s = m.query().expect("query");
    s.addresses
        .push(Address::new("eth0", "192.0.2.10/24".parse().expect("net")));
    s.routes.push(Route {
        table: TABLE_MAIN,
        destination: "0.0.0.0/0".parse().expect("net"),
        gateway: Some("192.0.2.1".parse().expect("ip")),
        dev: Some("eth0".into()),
        metric: Some(100),
        scope: RouteScope::Universe,
        src: None,
        protocol: PROTO_STATIC,
        attrs: Default::default(),
    });
    ModelDriver::new(s)
}

#[test]
fn ensure_bridge_moves_addresses_and_routes_and_pins_the_mac() {
    let mut m = host_with_addressed_uplink();
    ensure_bridge(&mut m, "br0", Some("eth0")).expect("ensure");
    let s = m.query().expect("query");
    assert_eq!(s.links["eth0"].controller.as_deref(), Some("br0"));
    assert_eq!(s.links["br0"].mac, s.links["eth0"].mac);
    assert_eq!(s.links["br0"].mtu, 9000);
    assert!(matches!(&s.links["br0"].kind, LinkKind::Bridge(b) if !b.stp));
    let on = |dev: &str| s.addresses.iter().filter(|a| a.ifname == dev).count();
    assert_eq!((on("br0"), on("eth0")), (1, 0));
    let default = s
        .routes
        .iter()
        .find(|r| r.destination.prefix_len() == 0)
        .expect("the default route");
    assert_eq!(default.dev.as_deref(), Some("br0"));
    assert_eq!(default.metric, Some(100));

    let before = m.ops_executed;
    ensure_bridge(&mut m, "br0", Some("eth0")).expect("again");
    assert_eq!(m.ops_executed, before, "a second ensure changed something");
}

#[test]
fn a_failed_ensure_leaves_the_host_as_it_was() {
    let mut m = host_with_addressed_uplink();
    let before = m.query().expect("query");
    m.fail_when(|op| matches!(op, crate::netdev::Op::AddAddress(a) if a.ifname == "br0"));
    let err = ensure_bridge(&mut m, "br0", Some("eth0")).expect_err("fails");
    assert!(matches!(err, DeviceError::Apply(_)), "{err:?}");
    assert_eq!(m.query().expect("query"), before);
}

#[test]
fn vlans_taps_and_mtu_are_idempotent_ensures() {
    let mut m = ModelDriver::fresh_namespace();
    create_veth_pair(&mut m, "eth0", "wire", None).expect("veth");
    let vlan = ensure_vlan_bridge(&mut m, 42, "br42", "eth0", Some(1400)).expect("vlan bridge");
    assert_eq!(vlan, "eth0.42");
    create_tap(&mut m, "vnet0", &TapOptions::default()).expect("tap");
    set_mtu(&mut m, "vnet0", 1400).expect("mtu");
    let before = m.ops_executed;
    ensure_vlan_bridge(&mut m, 42, "br42", "eth0", Some(1400)).expect("again");
    create_tap(&mut m, "vnet0", &TapOptions::default()).expect("again");
    create_veth_pair(&mut m, "eth0", "wire", None).expect("again");
    assert_eq!(m.ops_executed, before);
    let s = m.query().expect("query");
    assert_eq!(s.links["eth0.42"].controller.as_deref(), Some("br42"));
    assert_eq!(s.links["vnet0"].mtu, 1400);
    assert!(matches!(
        set_mtu(&mut m, "nope", 1500),
        Err(DeviceError::NoSuchDevice(_))
    ));
    assert!(matches!(
        ensure_vlan(&mut m, 4095, "eth0", None),
        Err(DeviceError::Invalid(_))
    ));
    delete_device(&mut m, "eth0").expect("delete");
    assert!(!device_exists(&mut m, "eth0.42").expect("query"));
    assert!(!device_exists(&mut m, "wire").expect("query"));
}

#[test]
fn ensure_bridge_failing_at_any_step_leaves_the_host_as_it_was() {
    use crate::netdev::Op;
    type Pred = fn(&Op) -> bool;
    let steps: [(&str, Pred); 3] = [
        (
            "1: the bridge",
            |op| matches!(op, Op::CreateLink(l) if l.name == "br0"),
        ),
        (
            "2: the uplink joins",
            |op| matches!(op, Op::ChangeLink { name, change } if name == "eth0" && change.controller.is_some()),
        ),
        (
            "3: addresses leave the uplink",
            |op| matches!(op, Op::DeleteAddress(a) if a.ifname == "eth0"),
        ),
    ];
    for (step, pred) in steps {
        let mut m = host_with_addressed_uplink();
        let before = m.query().expect("query");
        m.fail_when(pred);
        ensure_bridge(&mut m, "br0", Some("eth0")).expect_err(step);
        assert_eq!(m.query().expect("query"), before, "step {step}");
    }
}
