//! Persisted configuration booted by the programs that read it at boot.
//!
//! For each format, `hostnet persist` writes the files of a YAML file, the format's real
//! consumer brings them up in a sandbox host (a network namespace with veth "NICs" wired
//! to router namespaces, the consumer in a mount namespace of its own), and the result is
//! compared with a twin sandbox host where `hostnet apply` of the same file ran: links,
//! masters, addresses, routes of every table and rules must be the same, but for what
//! `persist` said the files leave to `hostnet restore`. Then `hostnet restore` (what
//! `hostnet-restore.service` runs after the network stack) adds exactly that, and
//! `hostnet apply` of the same file has nothing left to do.

mod common;
#[path = "persist_boot/networkd.rs"]
mod networkd;
#[path = "persist_boot/sandbox.rs"]
mod sandbox;

use std::path::Path;
use std::time::Duration;

use hostnet::netdev::{Rule, HOSTNET_PROTO, PROTO_STATIC};
use hostnet::persist::{self, Format};
use sandbox::{assert_same, lines_of, picture, Host, Nic};

/// How long a consumer may take to bring the files up on a loaded machine.
const BOOT_LIMIT: Duration = Duration::from_secs(90);

/// The issue's host: a bridged network and a bridgeless one, IPv4 and IPv6, gateways,
/// tables derived from their names, one the host's default route; a guest bridge with a
/// veth port, a route and a rule of the user's.
const HOST: &str = r#"
interfaces:
  - name: br-vm
    type: linux-bridge
    bridge:
      options: {stp: {enabled: false}}
      port: [{name: vm-b}]
    ipv4:
      address: [{ip: 10.10.0.1, prefix-length: 24}]
  - name: vm-a
    type: veth
    veth: {peer: vm-b}
routes:
  config:
    - {destination: 10.20.0.0/16, next-hop-address: 10.10.0.254, next-hop-interface: br-vm, table-id: 100, metric: 50}
route-rules:
  config:
    - {ip-from: 10.10.0.0/24, priority: 1000, route-table: 100}
networks:
  - name: isp-a
    uplink: up-a
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ["2001:db8:1::10/64"], gateway: "2001:db8:1::1"}
    default-route: true
  - name: isp-b
    uplink: up-b
    bridged: false
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
    ipv6: {address: ["2001:db8:2::10/64"], gateway: "2001:db8:2::1"}
"#;

const NICS: &[Nic] = &[
    Nic {
        name: "up-a",
        router: &["192.0.2.1/24", "2001:db8:1::1/64"],
    },
    Nic {
        name: "up-b",
        router: &["198.51.100.1/24", "2001:db8:2::1/64"],
    },
];

/// Whether this machine can run the boot tests: root (through the usual probe), and the
/// consumer's programs. Without them, a `SKIP` line (a failure in CI).
fn can_boot(test: &str, programs: &[&str]) -> bool {
    if !common::enter_private_netns(test) {
        return false;
    }
    let missing: Vec<&&str> = programs.iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{missing:?} not installed (see .ci/run)");
    if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
        panic!("{test}: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
    }
    eprintln!("SKIP {test}: {why}");
    false
}

fn intent_of(yaml: &str) -> hostnet::expand::Intent {
    let d = hostnet::model::parse(yaml).expect("parses");
    hostnet::model::validate(&d).expect("valid");
    hostnet::expand::expand(&d).expect("expands")
}

/// The devices the files configure, which the consumer must report up and configured.
fn devices(yaml: &str) -> Vec<String> {
    persist::host_config(&intent_of(yaml))
        .devices
        .into_iter()
        .map(|d| d.name)
        .collect()
}

/// networkd gives its rules its own protocol (it has no setting for one).
fn as_hostnet(r: &Rule) -> Rule {
    let mut r = r.clone();
    if r.protocol == PROTO_STATIC && r.priority != 1000 {
        r.protocol = HOSTNET_PROTO;
    }
    r
}

#[test]
fn networkd_boots_the_files_into_what_apply_makes() {
    const TEST: &str = "networkd_boots_the_files_into_what_apply_makes";
    if !can_boot(TEST, &[networkd::NETWORKD, "/usr/bin/unshare"]) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let yaml = work.path().join("host.yaml");
    std::fs::write(&yaml, HOST).expect("write the file");
    let yaml = yaml.to_str().expect("utf-8");
    let root = work.path().join("root");
    let out = common::hostnet(
        &[
            "persist",
            yaml,
            "--format",
            "networkd",
            "--root",
            root.to_str().expect("utf-8"),
        ],
        None,
    );
    assert!(out.status.success(), "{}", common::text(&out));
    let rendered = persist::render(&intent_of(HOST), Format::Networkd);

    let twin = Host::new(NICS);
    twin.hostnet_ok(&["apply", yaml]);

    let booted = Host::new(NICS);
    let run = work.path().join("run");
    std::fs::create_dir(&run).expect("mkdir");
    let mut daemon = networkd::start(
        &booted,
        &root.join(persist::networkd::DIR),
        &run,
        &work.path().join("networkd.log"),
    );
    if let Err(e) =
        networkd::wait_configured(&booted, &mut daemon, &run, &devices(HOST), BOOT_LIMIT)
    {
        panic!("systemd-networkd did not bring the files up: {e}");
    }

    let mut state = booted.query();
    state.rules = state.rules.iter().map(as_hostnet).collect();
    let mut got = picture(&state);
    got.extend(lines_of(
        &rendered.left_out.routes,
        &rendered.left_out.rules,
    ));
    assert_same(
        "networkd's boot plus what persist said it leaves to `hostnet restore`",
        &got,
        &picture(&twin.query()),
    );
    drop(daemon);
}
