//! The reach's guarantee, differentially: planning on the host narrowed to an intent's
//! reach gives what planning on the whole host gives (ops, errors and notes).

use proptest::prelude::*;

use super::proptests::{converge, doc, render};
use super::scope::reach;
use super::tests::host;
use super::{plan, Plan, PlanError};
use crate::engine::applied::Applied;
use crate::expand::Intent;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, KernelState};

fn intent(applied: &Applied, yaml: &str) -> Intent {
    let d = crate::model::parse(yaml).expect("parses");
    crate::model::validate(&d).expect("valid");
    applied.intent_for(&d).expect("expands")
}

type Planned = Result<Plan, Vec<PlanError>>;

/// Plans `intent` on `full` and on `full` narrowed to its reach; both results, and
/// whether the reach was bounded.
fn both(full: &KernelState, intent: &Intent) -> (Planned, Planned, bool) {
    let r = reach(intent);
    let narrowed = r
        .as_ref()
        .map_or_else(|| full.clone(), |r| full.narrowed(r));
    (plan(full, intent), plan(&narrowed, intent), r.is_some())
}

/// The file's parts one by one: its interfaces alone, each network alone, its routes and
/// rules alone (partial files, as `apply` takes them).
fn parts(yaml: &str) -> Vec<String> {
    let (ifaces, rest) = yaml.split_once("networks:\n").unwrap_or((yaml, ""));
    let at = (0..rest.len())
        .find(|&i| rest[i..].starts_with("route") && (i == 0 || rest[..i].ends_with('\n')));
    let (nets, tail) = rest.split_at(at.unwrap_or(rest.len()));
    let mut out = vec![ifaces.to_string(), tail.to_string()];
    for block in nets.split("  - name: ").filter(|b| !b.is_empty()) {
        out.push(format!("networks:\n  - name: {block}"));
    }
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

fn check_all(m: &mut ModelDriver, applied: &Applied, yaml: &str) -> Result<usize, TestCaseError> {
    let full = m.query().expect("query");
    let mut bounded = 0;
    for part in std::iter::once(yaml.to_string()).chain(parts(yaml)) {
        let i = intent(applied, &part);
        let (a, b, scoped) = both(&full, &i);
        prop_assert_eq!(a, b, "file:\n{}", part);
        bounded += usize::from(scoped);
    }
    Ok(bounded)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn a_plan_on_the_narrowed_host_is_the_plan_on_the_whole_host(first in doc(), second in doc()) {
        let mut m = host();
        let mut applied = Applied::default();
        converge(&mut m, &mut applied, &render(&first))?;
        check_all(&mut m, &applied, &render(&second))?;
        check_all(&mut m, &applied, &render(&first))?;
    }
}

/// A host with networks, ports, tables and the objects the cross-network checks look
/// at, made by applying `yaml` on the model.
fn made(yaml: &str) -> (ModelDriver, Applied) {
    let mut m = host();
    let mut applied = Applied::default();
    converge(&mut m, &mut applied, yaml).expect("applies");
    (m, applied)
}

const HOST: &str = "interfaces:
  - {name: v0, type: veth, veth: {peer: p0}}
  - {name: v1, type: veth, veth: {peer: p1}}
  - {name: br0, type: linux-bridge, bridge: {port: [{name: v0}, {name: v1}]}}
networks:
  - name: a
    uplink: eth0
    ipv4: {address: [10.1.0.10/24], gateway: 10.1.0.1}
    source-routing: {table: 1001}
  - name: b
    ipv4: {address: [10.2.0.10/24]}
  - name: c
    uplink: eth1
    ipv4: {address: [10.3.0.10/24], gateway: 10.3.0.1}
    source-routing: {table: 1003}
routes:
  config:
    - {destination: 172.16.0.0/12, next-hop-interface: eth0, table-id: 500}
";

/// Each file plans the same on the narrowed host, and is scoped (not the whole host).
fn same_and_scoped(files: &[&str]) {
    let (m, applied) = made(HOST);
    let full = m.state().clone();
    for f in files {
        let i = intent(&applied, f);
        let (a, b, scoped) = both(&full, &i);
        assert_eq!(a, b, "{f}");
        assert!(scoped, "{f}: the whole host");
    }
}

#[test]
fn cross_network_checks_see_the_same_on_the_narrowed_host() {
    same_and_scoped(&[
        // An address another network's bridge holds.
        "networks:\n  - name: d\n    ipv4: {address: [10.2.0.10/24]}\n",
        // A table another network uses; one a route of the file uses.
        "networks:\n  - name: d\n    ipv4: {address: [10.4.0.10/24]}\n    source-routing: {table: 1001}\n",
        "networks:\n  - name: d\n    ipv4: {address: [10.4.0.10/24]}\n    source-routing: {table: 500}\n",
        // A port of a bridge the file does not list, with an exact port list.
        "interfaces:\n  - {name: br0, type: linux-bridge, bridge: {port: [{name: v0}]}}\n",
        // A veth whose peer the file does not name; a port joining another bridge.
        "interfaces:\n  - {name: p0, type: veth, mtu: 1400}\n",
        "interfaces:\n  - {name: v1, type: veth, controller: a}\n",
        // A gateway reached only through another network's subnet.
        "routes:\n  config:\n    - {destination: 192.0.2.0/24, next-hop-address: 10.3.0.1}\n",
        // The uplink of another network taken.
        "networks:\n  - name: d\n    uplink: eth1\n    ipv4: {address: [10.5.0.10/24], gateway: 10.5.0.1}\n",
    ]);
}

#[test]
fn removals_read_the_whole_host() {
    let (_, applied) = made(HOST);
    for f in [
        "networks:\n  - name: b\n    state: absent\n",
        "interfaces:\n  - {name: v0, type: veth, state: absent}\n",
    ] {
        assert!(reach(&intent(&applied, f)).is_none(), "{f}");
    }
}

#[test]
fn a_one_network_file_with_a_firewall_is_scoped() {
    let (_, applied) = made(HOST);
    let f = "firewall: {backend: nftables}
networks:
  - name: fb1
    ipv4: {address: [10.0.1.1/24]}
    firewall:
      masquerade: {out-interface: eth0}
      isolate: true
      allow-from-guests: [{proto: udp, port: 53}]
      floating-ips: [{external: 100.64.0.1, internal: 10.0.1.5, interface: eth0}]
      port-forwards: [{proto: tcp, external-port: 10001, internal: 10.0.1.5, internal-port: 22, interface: eth0}]
";
    let i = intent(&applied, f);
    let r = reach(&i).expect("scoped");
    assert!(r.names.contains("fb1") && r.names.contains("eth0"), "{r:?}");
}
