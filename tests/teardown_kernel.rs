//! The model driver predicts the kernel: a teardown by name planned without the apply's
//! record (a host whose `/run/hostnet` is gone), where one removed network's derived table
//! is another's, run on the kernel (in a namespace of the test's own) and on the model
//! from the same state, ends alike and empty on both. The benchmark's dry teardown found
//! that case (`hb207`'s derived table is `hb30`'s, leaving 16 rules of 300 networks).
//! The model alone: `netdev::model::tests::a_teardown_by_name_whose_guessed_table_is_anothers_leaves_nothing`.

mod common;

use common::*;
use hostnet::engine::{self, ApplyOptions};
use hostnet::expand::{expand, Intent};
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{Driver, KernelState, HOSTNET_PROTO};
use hostnet::plan::plan;

fn intent(yaml: &str) -> Intent {
    let d = parse(yaml).expect("parses");
    validate(&d).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    expand(&d).expect("expands")
}

/// Networks `a` and `b`, `b`'s table being the one the teardown by name derives for `a`,
/// and that teardown.
fn documents() -> (Intent, Intent) {
    let down = intent(
        "interfaces:\n- {name: va, type: veth, state: absent}\n- {name: vb, type: veth, state: absent}\nnetworks:\n- {name: a, state: absent}\n- {name: b, state: absent}\n",
    );
    let guess = down.networks[0].table.expect("a derived table");
    let other = if guess == 1001 { 1002 } else { 1001 };
    let up = intent(&format!(
        "interfaces:\n- {{name: va, type: veth, veth: {{peer: pa}}}}\n- {{name: vb, type: veth, veth: {{peer: pb}}}}\nnetworks:\n\
         - {{name: a, uplink: va, ipv4: {{address: [192.0.2.1/24], gateway: 192.0.2.254}}, source-routing: {{table: {other}}}}}\n\
         - {{name: b, uplink: vb, ipv4: {{address: [198.51.100.1/24], gateway: 198.51.100.254}}, source-routing: {{table: {guess}}}}}\n"
    ));
    (up, down)
}

/// What the two drivers are compared on: devices, addresses, routes and rules.
fn netlink(s: &KernelState) -> Vec<String> {
    let mut v: Vec<String> = s.links.keys().map(|n| format!("link {n}")).collect();
    v.extend(s.addresses.iter().map(|a| format!("address {a:?}")));
    v.extend(s.routes.iter().map(|r| format!("route {r}")));
    v.extend(s.rules.iter().map(|r| format!("rule {r}")));
    v.sort();
    v
}

#[test]
fn a_teardown_by_name_of_a_guessed_table_ends_alike_on_kernel_and_model() {
    let test = "a_teardown_by_name_of_a_guessed_table_ends_alike_on_kernel_and_model";
    if !enter_private_netns(test) {
        return;
    }
    let (up, down) = documents();
    let mut kernel = LinuxDriver::new().expect("netlink");
    engine::apply(&mut kernel, &up, ApplyOptions::default(), |_, _| Ok(())).expect("applies");
    let before = kernel.query().expect("query");
    assert_eq!(
        before
            .rules
            .iter()
            .filter(|r| r.protocol == HOSTNET_PROTO)
            .count(),
        5,
        "two networks' rules and the block: {:#?}",
        before.rules
    );
    let p = plan(&before, &down).expect("plans");
    let mut model = ModelDriver::new(before.clone());
    for phase in engine::phases_of(&p) {
        for (driver, results) in [
            ("kernel", kernel.execute(&phase)),
            ("model", model.execute(&phase)),
        ] {
            for (op, r) in phase.iter().zip(results) {
                r.unwrap_or_else(|e| panic!("{driver}: {op}: {e}"));
            }
        }
    }
    let (k, m) = (
        kernel.query().expect("query"),
        model.query().expect("query"),
    );
    assert_eq!(netlink(&m), netlink(&k), "the model predicted another end");
    let ours: Vec<String> = (k.rules.iter().filter(|r| r.protocol == HOSTNET_PROTO))
        .map(ToString::to_string)
        .chain((k.routes.iter().filter(|r| r.protocol == HOSTNET_PROTO)).map(ToString::to_string))
        .collect();
    assert_eq!(ours, Vec::<String>::new(), "the teardown left hostnet's");
    let again = plan(&k, &down).expect("plans");
    assert!(again.is_empty(), "the teardown verifies: {again}");
}
