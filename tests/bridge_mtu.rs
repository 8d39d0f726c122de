//! A bridge's MTU, kernel and model side by side (see `netdev::bridge_mtu`): a bridge
//! follows its ports' smallest MTU until its MTU is set to another value than it has, and
//! the model moves it exactly where the kernel does; and hostnet sets a bridge's MTU so
//! that the kernel keeps it. Before, hostnet lowered a port's MTU before its bridge's,
//! the kernel moved the bridge along, hostnet's own change of the bridge was then no
//! change, and the bridge went back to 1500 when its last port left (and followed any
//! guest's tap meanwhile), where the model kept the file's MTU.

mod common;
#[path = "day2/host.rs"]
#[allow(dead_code)]
mod host;

use host::{ip, query, Host};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{BridgeOptions, Driver, LinkChange, LinkKind, NewLink, Op};

fn bridge(name: &str, mtu: Option<u32>) -> Op {
    Op::CreateLink(NewLink {
        name: name.into(),
        kind: LinkKind::Bridge(BridgeOptions {
            stp: false,
            ..Default::default()
        }),
        up: true,
        mtu,
        mac: None,
        controller: None,
        peer: None,
    })
}

fn change(name: &str, f: impl FnOnce(&mut LinkChange)) -> Op {
    let mut c = LinkChange::default();
    f(&mut c);
    Op::ChangeLink {
        name: name.into(),
        change: c,
    }
}

fn mtu(name: &str, m: u32) -> Op {
    change(name, |c| c.mtu = Some(m))
}

fn join(port: &str, br: &str) -> Op {
    change(port, |c| c.controller = Some(Some(br.into())))
}

fn leave(port: &str) -> Op {
    change(port, |c| c.controller = Some(None))
}

/// Runs `steps` on the kernel and on a model started from the kernel's state, and after
/// each step compares br0's MTU with the kernel's and with `expected`. At `Restart`, the
/// model starts again from the kernel's state, as a new hostnet command's would: what
/// it infers from the state must carry on.
// A few steps per test: their size does not matter.
#[allow(clippy::large_enum_variant)]
enum Step {
    Op(Op, u32),
    Restart,
}

fn run(steps: Vec<Step>) {
    let mut kernel = LinuxDriver::new().expect("netlink");
    let mut model = ModelDriver::new(kernel.query().expect("query"));
    for (i, step) in steps.into_iter().enumerate() {
        match step {
            Step::Restart => model = ModelDriver::new(kernel.query().expect("query")),
            Step::Op(op, expected) => {
                let ops = std::slice::from_ref(&op);
                kernel
                    .execute(ops)
                    .remove(0)
                    .unwrap_or_else(|e| panic!("{op}: {e}"));
                model
                    .execute(ops)
                    .remove(0)
                    .unwrap_or_else(|e| panic!("model: {op}: {e}"));
                let k = kernel.query().expect("query").links["br0"].mtu;
                let m = model.query().expect("query").links["br0"].mtu;
                assert_eq!(
                    (k, m),
                    (expected, expected),
                    "step {i} ({op}): (kernel, model)"
                );
            }
        }
    }
    kernel.execute(&[Op::DeleteLink { name: "br0".into() }]);
}

#[test]
fn the_model_moves_a_bridge_mtu_where_the_kernel_does() {
    if !common::enter_private_netns("the_model_moves_a_bridge_mtu_where_the_kernel_does") {
        return;
    }
    common::run_ops(&[common::veth("v1", "v1p"), common::veth("v2", "v2p")]);
    use Step::{Op as Do, Restart};
    // Never set: it follows its ports, and is 1500 without any.
    run(vec![
        Do(bridge("br0", None), 1500),
        Do(mtu("v1", 1400), 1500),
        Do(join("v1", "br0"), 1400),
        Do(join("v2", "br0"), 1400),
        Do(mtu("v1", 9000), 1500),
        Do(mtu("v2", 9000), 9000),
        Restart,
        Do(leave("v1"), 9000),
        Do(leave("v2"), 1500),
        Do(mtu("v1", 1500), 1500),
        Do(mtu("v2", 1500), 1500),
    ]);
    // An MTU given at creation marks nothing.
    run(vec![
        Do(bridge("br0", Some(9000)), 9000),
        Do(join("v1", "br0"), 1500),
        Do(leave("v1"), 1500),
    ]);
    // Set to what it has: no change, nothing marked; the port moves it.
    run(vec![
        Do(bridge("br0", None), 1500),
        Do(join("v1", "br0"), 1500),
        Do(mtu("br0", 1500), 1500),
        Do(mtu("v1", 1400), 1400),
        Do(leave("v1"), 1500),
        Do(mtu("v1", 1500), 1500),
    ]);
    // Set to another value: kept whatever the ports do, above them too, also for a
    // new command that reads it from the kernel.
    run(vec![
        Do(bridge("br0", None), 1500),
        Do(join("v1", "br0"), 1500),
        Do(mtu("br0", 1400), 1400),
        Restart,
        Do(mtu("v1", 1300), 1400),
        Do(join("v2", "br0"), 1400),
        Do(mtu("br0", 9000), 9000),
        Restart,
        Do(leave("v1"), 9000),
        Do(leave("v2"), 9000),
        Do(mtu("v1", 1500), 9000),
    ]);
}

/// The file's MTU of a bridge and of its uplink, lowered together: the bridge's is set
/// first, which the kernel counts as set, so it keeps it when a guest's port joins and
/// when the uplink leaves.
/// Each change goes through the day-2 step (dry run, model and kernel agree; applying
/// again changes nothing).
#[test]
fn a_bridge_keeps_the_mtu_hostnet_gave_it_when_its_ports_change() {
    let test = "a_bridge_keeps_the_mtu_hostnet_gave_it_when_its_ports_change";
    let Some(h) = Host::new(test) else { return };
    if !host::have(test, "ip") {
        return;
    }
    h.step("networks:\n  - {name: lan, uplink: eth1, ipv4: {address: [192.0.2.10/24]}}\n");
    assert_eq!(query().links["lan"].mtu, 1500);
    let lowered = "interfaces:
  - {name: eth1, type: veth, mtu: 1400}
networks:
  - {name: lan, uplink: eth1, mtu: 1400, ipv4: {address: [192.0.2.10/24]}}
";
    // The order (the bridge's MTU before its port's) is in the plan's snapshot tests;
    // the grouped apply output shows objects, not steps. What it is for is seen here.
    h.step(lowered);
    assert_eq!(query().links["lan"].mtu, 1400);
    // A guest's port with a larger MTU joins: the bridge stays at the file's MTU.
    ip("link set eth2 master lan");
    assert_eq!(query().links["lan"].mtu, 1400);
    ip("link set eth2 nomaster");
    // The uplink leaves (the network keeps its MTU): the bridge keeps it too.
    h.step(
        "interfaces:
  - {name: eth1, type: veth, mtu: 1400}
networks:
  - {name: lan, mtu: 1400, ipv4: {address: [192.0.2.10/24]}}
",
    );
    assert_eq!(query().links["lan"].mtu, 1400);
}

/// A bridge the kernel gave its MTU from its ports (hostnet's change of it was no change,
/// as it was before this fix): when its ports change, hostnet sets the file's MTU again,
/// and the model predicts where the kernel would have it.
#[test]
fn a_bridge_that_follows_its_ports_gets_the_files_mtu_again_when_they_change() {
    let test = "a_bridge_that_follows_its_ports_gets_the_files_mtu_again_when_they_change";
    let Some(h) = Host::new(test) else { return };
    if !host::have(test, "ip") {
        return;
    }
    // What the earlier order left: the port lowered first, the bridge following it
    // (made here with `ip`, which marks nothing either).
    ip("link add lan type bridge");
    ip("link set eth1 mtu 1400");
    ip("link set eth1 master lan");
    ip("link set lan up");
    let o = h.step(
        "interfaces:
  - {name: eth1, type: veth, mtu: 1400}
networks:
  - {name: lan, uplink: eth1, mtu: 1400, ipv4: {address: [192.0.2.10/24]}}
",
    );
    assert!(
        !String::from_utf8_lossy(&o.stdout).contains("mtu"),
        "{}",
        common::text(&o)
    );
    assert_eq!(query().links["lan"].mtu, 1400);
    // Its uplink moves to eth2 (MTU 1500): without the file's MTU set again, the kernel
    // would leave the bridge at 1500 once eth1 left.
    let o = h.step(
        "interfaces:
  - {name: eth1, type: veth, mtu: 1400}
networks:
  - {name: lan, uplink: eth2, mtu: 1400, ipv4: {address: [192.0.2.10/24]}}
",
    );
    assert_eq!(query().links["lan"].mtu, 1400, "{}", common::text(&o));
}
