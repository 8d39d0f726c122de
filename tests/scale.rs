//! Scale: 1,000 networks in one namespace, applied, verified and re-applied.
//!
//! In a binary of its own so that it runs after the other kernel tests: the kernel takes
//! tens of seconds to tear down a namespace with 3,000 devices, holding the RTNL lock that
//! every other netlink request waits for. Timings are printed, never asserted; the
//! benchmarks measure performance.

mod common;

use std::time::Instant;

use common::*;
use hostnet::engine::{self, ApplyOptions};
use hostnet::expand::expand;
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::Driver;

fn intent(yaml: &str) -> hostnet::expand::Intent {
    let d = parse(yaml).expect("parses");
    validate(&d).expect("valid");
    expand(&d).expect("expands")
}

#[test]
fn thousand_networks_apply_verify_and_reapply_empty() {
    if !enter_private_netns("thousand_networks_apply_verify_and_reapply_empty") {
        return;
    }
    let n = 1000;
    let mut yaml = String::from("interfaces:\n");
    for i in 0..n {
        yaml.push_str(&format!(
            "  - {{name: hv{i}, type: veth, veth: {{peer: hp{i}}}}}\n"
        ));
    }
    yaml.push_str("networks:\n");
    for i in 0..n {
        let (a, b) = (i / 256, i % 256);
        yaml.push_str(&format!(
            "  - {{name: hb{i}, uplink: hv{i}, ipv4: {{address: [10.{a}.{b}.1/24], gateway: 10.{a}.{b}.254}}}}\n"
        ));
    }
    let intent = intent(&yaml);
    let mut d = LinuxDriver::new().expect("netlink");
    let t = Instant::now();
    let r = engine::apply(&mut d, &intent, ApplyOptions::default(), |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("apply: {e}: {:#?}", e.details()));
    let applied = t.elapsed();
    let t = Instant::now();
    let again = engine::apply(&mut d, &intent, ApplyOptions::default(), |_, _| Ok(()))
        .unwrap_or_else(|e| panic!("re-apply: {e}: {:#?}", e.details()));
    let reapplied = t.elapsed();
    assert!(again.plan.is_empty());
    // Reported, not asserted: timings belong to the benchmarks.
    eprintln!(
        "{n} networks: {} ops applied and verified in {applied:?} ({:?}); re-apply {reapplied:?}",
        r.plan.len(),
        r.timings
    );
    let s = d.query().expect("query");
    assert_eq!(s.links.len(), 3 * n + 1);
    assert_eq!(
        s.rules
            .iter()
            .filter(|r| r.protocol == hostnet::netdev::HOSTNET_PROTO)
            .count(),
        // One `from SUBNET` rule per network, and the block around them.
        n + 3
    );
}
