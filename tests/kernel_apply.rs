//! The engine and the CLI against the real kernel, each test in its own namespace.

mod common;

use common::*;
use hostnet::engine::{self, ApplyOptions};
use hostnet::expand::expand;
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, DriverError, KernelState, Op};

const TWO_NETWORKS: &str = "
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    default-route: true
    source-routing: {table: 1001}
  - name: blue
    uplink: up-blue
    mtu: 1400
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
    ipv6: {address: ['2001:db8:2::10/64'], gateway: '2001:db8:2::1'}
";

fn uplinks() {
    run_ops(&[veth("up-red", "up-red-p"), veth("up-blue", "up-blue-p")]);
}

fn intent(yaml: &str) -> hostnet::expand::Intent {
    let d = parse(yaml).expect("parses");
    validate(&d).expect("valid");
    expand(&d).expect("expands")
}

/// Counts what reaches the kernel.
struct Counting {
    inner: LinuxDriver,
    ops: usize,
}

impl Driver for Counting {
    fn query(&mut self) -> Result<KernelState, DriverError> {
        self.inner.query()
    }
    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        self.ops += ops.len();
        self.inner.execute(ops)
    }
    fn name(&self) -> &'static str {
        "counting"
    }
}

#[test]
fn apply_then_reapply_writes_nothing() {
    if !enter_private_netns("apply_then_reapply_writes_nothing") {
        return;
    }
    uplinks();
    let mut d = Counting {
        inner: LinuxDriver::new().expect("netlink"),
        ops: 0,
    };
    let first = engine::apply(
        &mut d,
        &intent(TWO_NETWORKS),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("applies");
    assert!(first.changed && first.plan.len() > 20);
    let written = d.ops;
    let again = engine::apply(
        &mut d,
        &intent(TWO_NETWORKS),
        ApplyOptions::default(),
        |_, _| Ok(()),
    )
    .expect("reapplies");
    assert!(again.plan.is_empty() && !again.changed);
    assert_eq!(d.ops, written, "re-apply wrote to the kernel");
    let state = d.query().expect("query");
    let blue = &state.links["blue"];
    assert_eq!(blue.mtu, 1400);
    assert_eq!(state.links["up-blue"].controller.as_deref(), Some("blue"));
}

#[test]
fn cli_dry_run_changes_nothing_and_invalid_input_exits_2() {
    if !enter_private_netns("cli_dry_run_changes_nothing_and_invalid_input_exits_2") {
        return;
    }
    uplinks();
    let before = show_json();
    let o = hostnet(&["apply", "--dry-run", "-"], Some(TWO_NETWORKS));
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("+ linux-bridge red stp off down (then up once its addresses are on)"),
        "{out}"
    );
    assert!(out.contains("Dry run: nothing was changed"), "{out}");
    assert_eq!(show_json(), before);

    let bad = TWO_NETWORKS.replace("gateway: 198.51.100.1", "gateway: 203.0.113.1");
    let o = hostnet(&["apply", "-"], Some(&bad));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("networks[1].ipv4.gateway: 203.0.113.1 is outside every subnet of the network (198.51.100.0/24)"),
        "{err}"
    );
    assert_eq!(show_json(), before);

    let o = hostnet(
        &["apply", "-"],
        Some("networks:\n- name: a\n  colour: red\n"),
    );
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("networks[0]: unknown field `colour`"));
}

#[test]
fn kernel_rejection_mid_plan_restores_the_previous_state_exactly() {
    if !enter_private_netns("kernel_rejection_mid_plan_restores_the_previous_state_exactly") {
        return;
    }
    uplinks();
    let o = hostnet(&["apply", "-"], Some(TWO_NETWORKS));
    assert!(o.status.success(), "{}", text(&o));
    let before = show_json();
    // Changes everywhere, then a route through a gateway no subnet reaches: the kernel
    // refuses it after links, addresses and other routes have been changed.
    let change = format!(
        "{}\ninterfaces:\n  - {{name: v0, type: veth, veth: {{peer: v1}}}}\nroutes:\n  config:\n    - {{destination: 10.0.0.0/8, next-hop-address: 203.0.113.1, next-hop-interface: red}}\n",
        TWO_NETWORKS
            .replace("mtu: 1400", "mtu: 1450")
            .replace("gateway: 198.51.100.1", "gateway: 198.51.100.254")
            .replace("192.0.2.10/24", "192.0.2.11/24")
    );
    let o = hostnet(&["apply", "-"], Some(&change));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("the previous state was restored and verified"),
        "{err}"
    );
    assert!(
        err.contains("add route 10.0.0.0/8 via 203.0.113.1"),
        "{err}"
    );
    assert_eq!(show_json(), before, "state after rollback differs");
    // And hostnet's own routes/rules (not in show) are back too.
    let d = &mut LinuxDriver::new().expect("netlink");
    let p = hostnet::plan::plan(&d.query().expect("query"), &intent(TWO_NETWORKS)).expect("plans");
    assert!(p.is_empty(), "owned objects not restored:\n{p}");
}

#[test]
fn show_output_reapplied_changes_nothing() {
    if !enter_private_netns("show_output_reapplied_changes_nothing") {
        return;
    }
    uplinks();
    let extra = "
interfaces:
  - {name: br9, type: linux-bridge, bridge: {options: {stp: {enabled: true}}, port: [{name: v9}]}}
  - {name: v9, type: veth, veth: {peer: v9p}}
routes:
  config:
    - {destination: 10.9.0.0/16, next-hop-address: 192.0.2.254, next-hop-interface: red, metric: 77}
    - {destination: 10.8.0.0/16, next-hop-interface: red, table-id: 300000}
route-rules:
  config:
    - {family: ipv4, fwmark: 0x42, fwmask: 0xff, priority: 900, route-table: 300000}
    - {ip-to: '2001:db8:9::/48', priority: 901, route-table: 300000}
";
    let o = hostnet(&["apply", "-"], Some(&format!("{TWO_NETWORKS}{extra}")));
    assert!(o.status.success(), "{}", text(&o));
    let shown = hostnet(&["show"], None);
    assert!(shown.status.success(), "{}", text(&shown));
    let yaml = String::from_utf8_lossy(&shown.stdout).into_owned();
    let o = hostnet(&["apply", "-"], Some(&yaml));
    assert!(o.status.success(), "{}\n--- applied:\n{yaml}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to change"),
        "{}\n--- applied:\n{yaml}",
        text(&o)
    );
}

#[test]
fn absent_network_removes_only_what_it_owns() {
    if !enter_private_netns("absent_network_removes_only_what_it_owns") {
        return;
    }
    uplinks();
    let o = hostnet(&["apply", "-"], Some(TWO_NETWORKS));
    assert!(o.status.success(), "{}", text(&o));
    let removal = TWO_NETWORKS.replacen("  - name: red\n", "  - name: red\n    state: absent\n", 1);
    let o = hostnet(&["apply", "-"], Some(&removal));
    assert!(o.status.success(), "{}", text(&o));
    let s = LinuxDriver::new().expect("netlink").query().expect("query");
    assert!(!s.links.contains_key("red"));
    assert!(
        s.links.contains_key("up-red"),
        "the uplink is not the network's to delete"
    );
    assert!(s.links.contains_key("blue"));
    assert!(s.rules.iter().all(|r| r.table != 1001));
    assert!(s.routes.iter().all(|r| r.table != 1001));
    let o = hostnet(&["apply", "-"], Some(&removal));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to change"),
        "{}",
        text(&o)
    );
}

#[test]
fn lock_serializes_commands_on_one_namespace() {
    if !enter_private_netns("lock_serializes_commands_on_one_namespace") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let held = engine::lock::lock_current_netns(dir.path(), std::time::Duration::ZERO)
        .expect("first lock");
    let dir_path = dir.path().to_path_buf();
    // Threads start in their creator's namespace, so this one contends for the same lock.
    let second = std::thread::spawn(move || {
        engine::lock::lock_current_netns(&dir_path, std::time::Duration::from_millis(200))
            .map(|_| ())
    })
    .join()
    .expect("thread");
    let err = second.expect_err("must time out").to_string();
    assert!(
        err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    drop(held);
    // Free again, but not necessarily at once: a process another test of this binary is
    // spawning at that moment holds a copy of the lock's descriptor (fork copies every
    // descriptor; close-on-exec closes it only at exec), and the flock lasts until the
    // last copy closes. Waiting with a timeout of zero failed under load that way
    // (Timeout, waited 8 µs); a command's waiting covers it, as here.
    engine::lock::lock_current_netns(dir.path(), std::time::Duration::from_secs(10))
        .expect("free again");
}

#[test]
fn netns_option_works_inside_the_named_namespace_only() {
    if !enter_private_netns("netns_option_works_inside_the_named_namespace_only") {
        return;
    }
    let name = format!("hn-cli-{}", std::process::id());
    hostnet::netdev::linux::create_named_netns(&name).expect("create netns");
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = hostnet::netdev::linux::delete_named_netns(&self.0);
        }
    }
    let _gone = Gone(name.clone());
    let yaml = "interfaces:\n- {name: lo, type: loopback, state: up}\n- {name: v0, type: veth, veth: {peer: v1}}\nnetworks:\n- {name: nsbr, uplink: v0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n";
    let o = hostnet(&["apply", "--netns", &name, "-"], Some(yaml));
    assert!(o.status.success(), "{}", text(&o));
    let o = hostnet(&["show", "--netns", &name, "-o", "json"], None);
    assert!(o.status.success(), "{}", text(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    assert!(shown.contains("\"name\": \"nsbr\""), "{shown}");
    // Nothing happened in the caller's namespace.
    let here = LinuxDriver::new().expect("netlink").query().expect("query");
    assert!(!here.links.contains_key("nsbr") && !here.links.contains_key("v0"));
    // A namespace that is not there is bad input: exit 2, as for `status`.
    let o = hostnet(&["apply", "--netns", "hn-does-not-exist", "-"], Some(yaml));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("cannot enter network namespace hn-does-not-exist"));
}
