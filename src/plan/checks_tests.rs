//! Plan-time refusals of what the kernel would refuse half-way through an apply (issue
//! 16): routes through missing interfaces, routers that are the lease itself.

use crate::plan::plan;
use crate::plan::tests::{host, intent_of};

/// Issue 16 item 5: the kernel would refuse the route (ENODEV) after the rest of the
/// file was applied; the plan refuses it, naming the field.
#[test]
fn a_route_through_a_missing_interface_is_a_plan_error() {
    let m = host();
    let errs = plan(
        m.state(),
        &intent_of(
            "routes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-interface: nope0}\n",
        ),
    )
    .expect_err("refused");
    assert_eq!(
        errs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        ["routes.config[0].next-hop-interface: nope0 does not exist and the file does not create it"]
    );
    // One the file creates (a bridge, a veth's peer) or the host has is fine.
    for yaml in [
        "interfaces:\n- {name: br9, type: linux-bridge}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-interface: br9}\n",
        "interfaces:\n- {name: v0, type: veth, veth: {peer: v1}}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-interface: v1}\n",
        "routes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-interface: eth0}\n",
    ] {
        plan(m.state(), &intent_of(yaml)).expect(yaml);
    }
    // One the file removes is not there any more.
    let errs = plan(
        m.state(),
        &intent_of("interfaces:\n- {name: eth1, state: absent}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-interface: eth1}\n"),
    )
    .expect_err("refused");
    assert!(
        errs.iter()
            .any(|e| e.path == "routes.config[0].next-hop-interface"),
        "{errs:?}"
    );
}

/// Issue 16 item 6, for the clients whose router hostnet reads from the kernel
/// (dhcpcd, networkd, `monitor`): a default route through the lease's own address
/// is refused like the same router in an event.
#[test]
fn a_kernel_router_that_is_the_lease_itself_is_a_plan_error() {
    use crate::netdev::{Address, Driver, Op, Route, RouteScope};
    let mut m = host();
    let net = intent_of(
        "networks:\n- {name: lan, uplink: eth0, ipv4: {dhcp: true}, source-routing: {table: 1100}}\n",
    );
    let p = plan(m.state(), &net).expect("plans");
    for phase in &p.phases {
        assert!(m.execute(phase).iter().all(Result::is_ok));
    }
    for (addr, gw) in [
        ("192.0.2.50/24", "192.0.2.50"),
        ("192.0.2.50/24", "192.0.2.255"),
    ] {
        let mut m2 = crate::netdev::model::ModelDriver::new(m.state().clone());
        let ops = [
            Op::AddAddress(Address::new("lan", addr.parse().expect("net"))),
            Op::AddRoute(Route {
                table: 254,
                destination: "0.0.0.0/0".parse().expect("net"),
                gateway: Some(gw.parse().expect("ip")),
                dev: Some("lan".into()),
                metric: None,
                scope: RouteScope::Universe,
                src: None,
                protocol: 16,
                attrs: Default::default(),
            }),
        ];
        for op in &ops {
            m2.execute(std::slice::from_ref(op));
        }
        let errs = plan(m2.state(), &net).expect_err("refused");
        assert!(
            errs.iter()
                .any(|e| e.message.contains(&format!("router {gw} is the"))),
            "{errs:?}"
        );
    }
}

/// A DHCP event for a network without a bridge is planned as the network was applied:
/// its device is the NIC itself, which has no ports, and that is no reason to refuse
/// the lease's gateway. Before, the event's intent said "bridged, no uplink", and the
/// check for a bridge's unreachable gateway refused every event and `monitor` round.
#[test]
fn a_lease_of_a_network_without_a_bridge_is_planned() {
    use crate::engine::applied::Applied;
    use crate::expand::{Intent, Lease, LeaseSource, Router};
    use crate::netdev::Op;
    let m = host();
    for yaml in [
        "networks:\n- {name: lan, uplink: eth0, bridged: false, ipv4: {dhcp: true}, source-routing: {table: 1100}}\n",
        "networks:\n- {name: lan, uplink: eth1, ipv4: {dhcp: true}, source-routing: {table: 1100}}\n",
    ] {
        let mut applied = Applied::default();
        applied.merge(&intent_of(yaml));
        let net = &applied.dhcp_networks[0];
        let lease = Lease {
            address: "192.0.2.50/24".parse().expect("net"),
            router: Router::Via("192.0.2.1".parse().expect("ip")),
        };
        let event = Intent {
            networks: vec![applied.dhcp_intent(
                net,
                Some(LeaseSource::Event(Some(lease))),
                None,
            )],
            ..Intent::default()
        };
        let mut state = m.state().clone();
        if !state.links.contains_key(&net.device) {
            let mut lan = state.links["eth0"].clone();
            lan.name = net.device.clone();
            state.links.insert(net.device.clone(), lan);
            state.links.get_mut("eth1").expect("eth1").controller = Some(net.device.clone());
        }
        let p = plan(&state, &event).unwrap_or_else(|e| panic!("{yaml}: {e:?}"));
        assert!(
            p.ops().any(|op| matches!(op, Op::AddRoute(r)
                if r.table == 1100 && r.gateway == Some("192.0.2.1".parse().expect("ip"))
                    && r.dev.as_deref() == Some(net.device.as_str()))),
            "{yaml}: {p:?}"
        );
    }
}
