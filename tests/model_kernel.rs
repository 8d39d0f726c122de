//! The model driver predicts the kernel (the rule: when they disagree, the model is
//! wrong). Each test runs the same ops on the kernel, in a namespace of its own, and on the
//! model started from the kernel's state, and compares the two.
//!
//! * A teardown by name planned without the apply's record (a host whose `/run/hostnet`
//!   is gone), where one removed network's derived table is another's, ends alike and
//!   empty on both. The benchmark's dry teardown found that case (`hb207`'s derived table
//!   is `hb30`'s, leaving 16 rules of 300 networks). The model alone:
//!   `netdev::model::tests::a_teardown_by_name_whose_guessed_table_is_anothers_leaves_nothing`.
//! * A bridge's MAC: random and locally administered at creation, its port's once one
//!   joins, zero once it left; `show` of the kernel's state applies back as nothing to do.

mod common;

use common::*;
use hostnet::engine::{self, ApplyOptions};
use hostnet::expand::{expand, Intent};
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{
    Driver, KernelState, LinkChange, LinkKind, MacAddr, NewLink, Op, HOSTNET_PROTO,
};
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

#[test]
fn a_bridges_mac_on_the_model_is_the_kernels() {
    let test = "a_bridges_mac_on_the_model_is_the_kernels";
    if !enter_private_netns(test) {
        return;
    }
    run_ops(&[veth("v0", "p0")]);
    let mut kernel = LinuxDriver::new().expect("netlink");
    let mut model = ModelDriver::new(kernel.query().expect("query"));
    let mut both = |op: Op| -> (Option<MacAddr>, Option<MacAddr>) {
        for (driver, d) in [
            ("kernel", &mut kernel as &mut dyn Driver),
            ("model", &mut model),
        ] {
            for r in d.execute(std::slice::from_ref(&op)) {
                r.unwrap_or_else(|e| panic!("{driver}: {op}: {e}"));
            }
        }
        let mac = |d: &mut dyn Driver| d.query().expect("query").links["br0"].mac;
        (mac(&mut kernel), mac(&mut model))
    };
    let (k, m) = both(Op::CreateLink(NewLink {
        name: "br0".into(),
        kind: LinkKind::Bridge(Default::default()),
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: None,
    }));
    // Random on the kernel, so compared by kind: unicast, locally administered.
    for (driver, mac) in [("kernel", k), ("model", m)] {
        let mac = mac.unwrap_or_else(|| panic!("{driver}: no MAC"));
        assert_eq!(mac.0[0] & 3, 2, "{driver}: {mac}");
    }
    let port = |controller: Option<&str>| Op::ChangeLink {
        name: "v0".into(),
        change: LinkChange {
            controller: Some(controller.map(Into::into)),
            ..LinkChange::default()
        },
    };
    let (k, m) = both(port(Some("br0")));
    assert_eq!(k, kernel_state().links["v0"].mac, "the port's");
    assert_eq!(m, k);
    let (k, m) = both(port(None));
    assert_eq!((k, m), (Some(MacAddr([0; 6])), Some(MacAddr([0; 6]))));
    // Shown and applied back: nothing to do (the zero address is left out).
    let s = kernel_state();
    let d = parse(&serde_yaml_ng::to_string(&hostnet::show::show(&s).document).expect("yaml"))
        .expect("parses");
    validate(&d).unwrap_or_else(|e| panic!("{e}"));
    let again = plan(&s, &expand(&d).expect("expands")).expect("plans");
    assert!(again.is_empty(), "show output changes: {again}");
}

fn kernel_state() -> KernelState {
    LinuxDriver::new().expect("netlink").query().expect("query")
}
