//! Pure tests of the backends' rendering and parsing, and of the planner.

use std::collections::BTreeMap;

use super::plan::{plan, restore, FirewallIntent};
use super::*;

pub(crate) fn sample(dev: &str, subnet: &str) -> NetFirewall {
    NetFirewall {
        device: dev.into(),
        subnets: [subnet.parse().unwrap()].into(),
        masquerade: Some("up0".into()),
        isolate: true,
        allow: Some(
            [Allow {
                proto: Proto::Udp,
                port: 67,
            }]
            .into(),
        ),
        floating: [FloatingIp {
            external: "203.0.113.10".parse().unwrap(),
            internal: subnet.replace(".0/24", ".5").parse().unwrap(),
            interface: "up0".into(),
        }]
        .into(),
        forwards: [PortForward {
            proto: Proto::Tcp,
            external_port: 8022,
            internal: subnet.replace(".0/24", ".5").parse().unwrap(),
            internal_port: 22,
            interface: "up0".into(),
        }]
        .into(),
        metadata: Some(Metadata {
            address: "169.254.169.254".parse().unwrap(),
            port: 80,
            to: "127.0.0.1:8775".parse().unwrap(),
        }),
    }
}

fn state_with(b: BackendKind, nets: &[(&str, NetFirewall)]) -> FirewallState {
    let mut st = FirewallState::default();
    let be = st.backend_mut(b);
    be.base = expected_base(b);
    for (n, s) in nets {
        be.networks.insert(n.to_string(), expected(b, n, s));
    }
    st
}

#[test]
fn iptables_removal_deletes_jumps_before_chains() {
    let s = sample("br0", "10.10.0.0/24");
    let from = expected(BackendKind::Iptables, "a", &s);
    let op = FwOp::Network {
        backend: BackendKind::Iptables,
        name: "a".into(),
        from: Some(from),
        to: None,
    };
    let [(v4, _), _] = iptables::render(&[&op]);
    let pos = |needle: &str| {
        v4.find(needle)
            .unwrap_or_else(|| panic!("{needle} in\n{v4}"))
    };
    assert!(
        pos("-D HOSTNET-FORWARD -i br0 -j HOSTNET-a-F") < pos("-X HOSTNET-a-F"),
        "{v4}"
    );
}
