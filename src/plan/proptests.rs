//! The planner's contract as a property: from any state the model reaches, planning a valid
//! document, applying the plan, and planning again yields nothing.

use proptest::prelude::*;

use super::plan;
use super::tests::host;
use crate::netdev::Driver;

#[derive(Clone, Debug)]
struct Net {
    present: bool,
    uplink: Option<usize>,
    v4: bool,
    v6: bool,
    gateway: bool,
    table: Option<u32>,
    mtu: Option<u32>,
}

#[derive(Clone, Debug)]
pub(super) struct Doc {
    nets: Vec<Net>,
    default_route: Option<usize>,
    /// veth pairs vN/pN, with vN a port of bridge brN when true.
    veths: Vec<(bool, bool)>,
    route: bool,
    rule: bool,
}

fn net() -> impl Strategy<Value = Net> {
    (
        prop::bool::weighted(0.85),
        prop::option::of(0usize..2),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        // A network keeps its table across documents (taking another network's table
        // while that one still holds it is a plan error, tested on its own).
        prop::option::of(prop_oneof![Just(1001u32), Just(70001)]),
        prop::option::of(prop_oneof![Just(1400u32), Just(1500), Just(9000)]),
    )
        .prop_map(|(present, uplink, v4, v6, gateway, table, mtu)| Net {
            present,
            uplink,
            v4,
            v6,
            gateway,
            table,
            mtu,
        })
}

pub(super) fn doc() -> impl Strategy<Value = Doc> {
    (
        prop::collection::vec(net(), 0..5),
        prop::option::of(0usize..5),
        prop::collection::vec((any::<bool>(), any::<bool>()), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(nets, default_route, veths, route, rule)| Doc {
            nets,
            default_route,
            veths,
            route,
            rule,
        })
}

pub(super) fn render(d: &Doc) -> String {
    let mut y = String::from("interfaces:\n  - {name: lo, type: loopback}\n");
    for (i, (bridged, up)) in d.veths.iter().enumerate() {
        let state = if *up { "up" } else { "down" };
        y.push_str(&format!(
            "  - {{name: v{i}, type: veth, state: {state}, veth: {{peer: p{i}}}}}\n"
        ));
        if *bridged {
            y.push_str(&format!(
                "  - {{name: br{i}, type: linux-bridge, bridge: {{port: [{{name: v{i}}}]}}}}\n"
            ));
        }
    }
    y.push_str("networks:\n");
    let mut used_uplinks = Vec::new();
    let mut used_tables = Vec::new();
    for (i, n) in d.nets.iter().enumerate() {
        y.push_str(&format!("  - name: n{i}\n"));
        if !n.present {
            y.push_str("    state: absent\n");
        }
        let mut has_uplink = false;
        if let Some(u) = n.uplink.filter(|u| !used_uplinks.contains(u)) {
            used_uplinks.push(u);
            has_uplink = true;
            y.push_str(&format!("    uplink: eth{u}\n"));
        }
        // A gateway needs a port to be reached through (a plan error otherwise).
        let gateway = n.gateway && has_uplink;
        if let Some(m) = n.mtu {
            y.push_str(&format!("    mtu: {m}\n"));
        }
        let gw = gateway && (n.v4 || n.v6);
        if n.v4 {
            y.push_str(&format!(
                "    ipv4: {{address: [10.{i}.0.10/24]{}}}\n",
                if gateway {
                    format!(", gateway: 10.{i}.0.1")
                } else {
                    String::new()
                }
            ));
        }
        if n.v6 {
            y.push_str(&format!(
                "    ipv6: {{address: ['fd00:{i}::10/64']{}}}\n",
                if gateway {
                    format!(", gateway: 'fd00:{i}::1'")
                } else {
                    String::new()
                }
            ));
        }
        if gw && n.present && d.default_route == Some(i) {
            y.push_str("    default-route: true\n");
        }
        if let Some(t) = n
            .table
            .map(|t| t + i as u32)
            .filter(|t| !used_tables.contains(t))
        {
            used_tables.push(t);
            y.push_str(&format!("    source-routing: {{table: {t}}}\n"));
        }
    }
    if d.route {
        y.push_str("routes:\n  config:\n    - {destination: 172.16.0.0/12, next-hop-interface: eth0, table-id: 500}\n");
    }
    if d.rule {
        y.push_str("route-rules:\n  config:\n    - {ip-to: 172.16.0.0/12, priority: 100, route-table: 500}\n");
    }
    y
}

/// Plans `yaml` with the record of what was applied before (as `apply` does), runs the
/// plan, checks that it converged, and records it.
pub(super) fn converge(
    m: &mut crate::netdev::model::ModelDriver,
    applied: &mut crate::engine::applied::Applied,
    yaml: &str,
) -> Result<(), TestCaseError> {
    let d = crate::model::parse(yaml).expect("parses");
    crate::model::validate(&d).expect("valid");
    let intent = applied.intent_for(&d).expect("expands");
    let p = plan(&m.query().expect("query"), &intent)
        .map_err(|e| TestCaseError::fail(format!("{e:?}\n{yaml}")))?;
    for phase in &p.phases {
        for (op, r) in phase.iter().zip(m.execute(phase)) {
            r.map_err(|e| TestCaseError::fail(format!("{op}: {e}\nplan:\n{p}\n{yaml}")))?;
        }
    }
    let again = plan(&m.query().expect("query"), &intent)
        .map_err(|e| TestCaseError::fail(format!("{e:?}")))?;
    prop_assert!(
        again.is_empty(),
        "not converged; left:\n{again}\nfirst plan:\n{p}\n{yaml}"
    );
    applied.merge(&intent);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plan_converges_from_any_reached_state(first in doc(), second in doc()) {
        let mut m = host();
        let mut applied = Default::default();
        converge(&mut m, &mut applied, &render(&first))?;
        converge(&mut m, &mut applied, &render(&second))?;
    }
}
