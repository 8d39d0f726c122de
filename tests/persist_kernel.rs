//! The ifcfg route and rule files give the kernel exactly the objects `apply` makes: each
//! line is fed to `ip -4|-6 route|rule add` as network-scripts' `ifup-routes` does, in a
//! private network namespace, and the result is compared with what `apply` made.

mod common;

use std::path::Path;
use std::process::Command;

use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, KernelState, Op, Route, Rule, HOSTNET_PROTO};
use hostnet::persist::{self, Format, Options};

const INPUT: &str = r#"
interfaces:
  - name: br-vm
    type: linux-bridge
    bridge:
      options: {stp: {enabled: false}}
      port: [{name: eth2}]
    ipv4:
      address: [{ip: 10.10.0.1, prefix-length: 24}]
routes:
  config:
    - {destination: 10.20.0.0/16, next-hop-address: 10.10.0.254, next-hop-interface: br-vm, table-id: 100, metric: 50}
route-rules:
  config:
    - {ip-from: 10.10.0.0/24, priority: 1000, route-table: 100}
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ["2001:db8:1::10/64"], gateway: "2001:db8:1::1"}
    default-route: true
    source-routing: {table: 1001}
  - name: blue
    uplink: up-blue
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
    ipv6: {address: ["2001:db8:2::10/64"], gateway: "2001:db8:2::1"}
"#;

/// The routes and rules the files are about: hostnet's own and the user's table 100.
fn persisted(s: &KernelState) -> (Vec<Route>, Vec<Rule>) {
    let mut routes: Vec<Route> = s
        .routes
        .iter()
        .filter(|r| r.protocol == HOSTNET_PROTO || r.table == 100)
        .cloned()
        .collect();
    let mut rules: Vec<Rule> = s
        .rules
        .iter()
        .filter(|r| r.protocol == HOSTNET_PROTO || r.priority == 1000)
        .cloned()
        .collect();
    routes.sort();
    rules.sort();
    (routes, rules)
}

fn query() -> KernelState {
    let mut d = LinuxDriver::new().expect("netlink");
    let mut s = d.query().expect("query");
    s.normalize();
    s
}

/// What `ifup-routes` does with a route-/rule- file: every line that is not a comment
/// becomes `ip -4|-6 route|rule add LINE`, split on white space.
fn ifup_routes(file: &Path) {
    let name = file
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    let kind = name.split('-').next().expect("prefix");
    let (family, object) = match kind {
        "route" => ("-4", "route"),
        "route6" => ("-6", "route"),
        "rule" => ("-4", "rule"),
        "rule6" => ("-6", "rule"),
        _ => return,
    };
    let text = std::fs::read_to_string(file).expect("read");
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let o = Command::new("ip")
            .args([family, object, "add"])
            .args(line.split_whitespace())
            .output()
            .expect("ip runs");
        assert!(
            o.status.success(),
            "ip {family} {object} add {line}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
fn ifcfg_route_and_rule_files_make_the_objects_apply_makes() {
    if !common::enter_private_netns("ifcfg_route_and_rule_files_make_the_objects_apply_makes") {
        return;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("SKIP ifcfg_route_and_rule_files_make_the_objects_apply_makes: no ip");
        return;
    }
    common::run_ops(&[
        common::veth("up-red", "peer-red"),
        common::veth("up-blue", "peer-blue"),
        common::veth("eth2", "peer-eth2"),
    ]);
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = dir.path().join("host.yaml");
    std::fs::write(&yaml, INPUT).expect("write yaml");
    let o = common::hostnet(&["apply", yaml.to_str().expect("utf-8")], None);
    assert!(o.status.success(), "{}", common::text(&o));
    let (routes, rules) = persisted(&query());
    assert!(routes.iter().any(|r| r.table == 1001));

    let root = dir.path().join("root");
    let d = hostnet::model::parse(INPUT).expect("parses");
    hostnet::model::validate(&d).expect("valid");
    let intent = hostnet::expand::expand(&d).expect("expands");
    let opts = Options {
        root: root.clone(),
        dry_run: false,
        adopt: false,
    };
    persist::persist(&intent, Format::Ifcfg, &opts).expect("persist");

    // Take away what apply made, then let the files put it back.
    let ops: Vec<Op> = rules
        .iter()
        .cloned()
        .map(Op::DeleteRule)
        .chain(routes.iter().cloned().map(Op::DeleteRoute))
        .collect();
    common::run_ops(&ops);
    assert_eq!(persisted(&query()), (vec![], vec![]));
    let mut files: Vec<_> = std::fs::read_dir(root.join(persist::ifcfg::DIR))
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    for f in &files {
        ifup_routes(f);
    }
    assert_eq!(persisted(&query()), (routes, rules));

    // And apply has nothing to do: the files' objects are the ones it owns.
    let plan = hostnet::plan::plan(&query(), &intent).expect("plans");
    assert!(plan.is_empty(), "{plan:?}");
}
