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
#[path = "persist_boot/ifupdown.rs"]
mod ifupdown;
#[path = "persist_boot/keys.rs"]
mod keys;
#[path = "persist_boot/networkd.rs"]
mod networkd;
#[path = "persist_boot/networkmanager.rs"]
mod networkmanager;
#[path = "persist_boot/sandbox.rs"]
mod sandbox;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use hostnet::persist::{self, Format};
use hostnet::plan::copies::recognized;
use sandbox::{assert_same, lines_of, picture, Host, Nic};

/// How long a consumer may take to bring the files up on a loaded machine.
const BOOT_LIMIT: Duration = Duration::from_secs(180);

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
        carrier: true,
    },
    Nic {
        name: "up-b",
        router: &["198.51.100.1/24", "2001:db8:2::1/64"],
        carrier: true,
    },
];

/// [`HOST`] for the formats that cannot declare veth pairs (netplan 0.106): the guest
/// bridge's port is a NIC.
const HOST_WITHOUT_VETH: &str = r#"
interfaces:
  - name: br-vm
    type: linux-bridge
    bridge:
      options: {stp: {enabled: false}}
      port: [{name: eth-vm}]
    ipv4:
      address: [{ip: 10.10.0.1, prefix-length: 24}]
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

const NICS_WITH_GUEST_PORT: &[Nic] = &[
    Nic {
        name: "up-a",
        router: &["192.0.2.1/24", "2001:db8:1::1/64"],
        carrier: true,
    },
    Nic {
        name: "up-b",
        router: &["198.51.100.1/24", "2001:db8:2::1/64"],
        carrier: true,
    },
    Nic {
        name: "eth-vm",
        router: &[],
        carrier: true,
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

/// What a consumer printed, stdout then stderr, for its messages and the test's.
fn both_streams(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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

/// One boot: the YAML file, its persisted files, the host that boots them and its twin
/// that `hostnet apply` built.
struct Boot {
    work: tempfile::TempDir,
    yaml: String,
    text: &'static str,
    root: std::path::PathBuf,
    rendered: persist::Rendered,
    booted: Host,
    twin: Host,
}

impl Boot {
    /// Writes `text` to a file, persists it in `format` with the `hostnet` binary, and
    /// builds both hosts (the twin applied).
    fn new(text: &'static str, nics: &[Nic], format: &str, f: Format) -> Boot {
        let work = tempfile::tempdir().expect("tempdir");
        let path = work.path().join("host.yaml");
        std::fs::write(&path, text).expect("write the file");
        let yaml = path.to_str().expect("utf-8").to_string();
        let root = work.path().join("root");
        let root_arg = root.to_str().expect("utf-8");
        let out = common::hostnet(
            &["persist", &yaml, "--format", format, "--root", root_arg],
            None,
        );
        assert!(out.status.success(), "{}", common::text(&out));
        let twin = Host::new(nics);
        twin.hostnet_ok(&["apply", &yaml]);
        Boot {
            rendered: persist::render(&intent_of(text), f),
            booted: Host::booting(nics, root.join("var/lib/hostnet")),
            twin,
            work,
            yaml,
            text,
            root,
        }
    }

    /// A fresh directory under the test's own.
    fn dir(&self, name: &str) -> std::path::PathBuf {
        let d = self.work.path().join(name);
        std::fs::create_dir_all(&d).expect("mkdir");
        d
    }

    /// The booted host as hostnet's planner sees it: the objects `persist` recorded as
    /// written without protocol 201 are hostnet's.
    fn booted_as_hostnet_sees_it(&self) -> BTreeSet<String> {
        let record = persist::record::load(&self.booted.lib_dir()).expect("the record");
        picture(&recognized(&self.booted.query(), &record))
    }

    /// [`Boot::booted_as_hostnet_sees_it`] with what `persist` said the files leave out.
    fn booted_and_left_out(&self) -> BTreeSet<String> {
        let mut got = self.booted_as_hostnet_sees_it();
        got.extend(lines_of(
            &self.rendered.left_out.routes,
            &self.rendered.left_out.rules,
        ));
        got
    }

    /// The booted host must be its twin, but for what `persist` said the files leave out.
    fn assert_like_the_twin(&self, consumer: &str) {
        assert_same(
            &format!("{consumer}'s boot plus what persist said it leaves to `hostnet restore`"),
            &self.booted_and_left_out(),
            &picture(&self.twin.query()),
        );
    }

    /// What `hostnet-restore.service` does after the stack: `hostnet restore` of the
    /// committed state (the same file) adds exactly what the files left out, and then the
    /// host is its twin, `hostnet apply` of the file has nothing to do and `hostnet status`
    /// finds no drift.
    fn restore_then_apply_is_a_no_op(&self) {
        self.booted.commit(self.text);
        let out = self.booted.hostnet_ok(&["restore"]);
        let left_out = self.rendered.left_out.routes.len() + self.rendered.left_out.rules.len();
        let changes = if left_out == 1 { "change" } else { "changes" };
        assert!(
            out.contains(&format!("restored everything: {left_out} {changes}")),
            "hostnet restore after the boot: {out}"
        );
        assert_same(
            "after hostnet restore",
            &self.booted_as_hostnet_sees_it(),
            &picture(&self.twin.query()),
        );
        let out = self.booted.hostnet_ok(&["apply", &self.yaml]);
        assert!(
            out.contains("Nothing to change"),
            "hostnet apply of the booted file: {out}"
        );
        // `status` plans from the host to the record as apply does: the stack's copies
        // are hostnet's, so no drift (exit 0).
        let status = self.booted.hostnet(&["status"]);
        let said = common::text(&status);
        assert!(
            status.status.code() == Some(0) && said.contains("Drift: none"),
            "hostnet status after the boot: {said}"
        );
    }
}

/// Boots `text`'s networkd files with systemd-networkd and compares with the twin.
fn networkd_boot(test: &str, text: &'static str, nics: &[Nic]) -> Option<(Boot, networkd::Daemon)> {
    if !can_boot(test, &[networkd::NETWORKD, "/usr/bin/unshare"]) {
        return None;
    }
    let boot = Boot::new(text, nics, "networkd", Format::Networkd);
    let files = boot.root.join(persist::networkd::DIR);
    let daemon = start_networkd(test, &boot, &files, nics);
    Some((boot, daemon))
}

/// Starts systemd-networkd on the `.netdev`/`.network` files in `files`, waits until it
/// is done with every device and compares the host with its twin.
fn start_networkd(test: &str, boot: &Boot, files: &Path, nics: &[Nic]) -> networkd::Daemon {
    let text = boot.text;
    let run = boot.dir("run");
    let mut daemon = networkd::start(
        &boot.booted,
        files,
        &run,
        &boot.work.path().join("networkd.log"),
    );
    // networkd calls a link configured once its IPv6 addresses have passed duplicate
    // address detection, which needs carrier: without it, the boot is done when the
    // kernel holds what the files say.
    let twin = picture(&boot.twin.query());
    let with_carrier = nics.iter().all(|n| n.carrier);
    let done = |states: &networkd::States| {
        if with_carrier {
            networkd::all_configured(states)
        } else {
            boot.booted_and_left_out() == twin
        }
    };
    if let Err(e) = networkd::wait(
        &boot.booted,
        &mut daemon,
        &run,
        &devices(text),
        BOOT_LIMIT,
        done,
    ) {
        eprintln!("{test}: systemd-networkd did not bring the files up: {e}");
        boot.assert_like_the_twin("systemd-networkd");
        panic!("{test}: systemd-networkd did not bring the files up");
    }
    boot.assert_like_the_twin("systemd-networkd");
    daemon
}

#[test]
fn networkd_boots_the_files_into_what_apply_makes_and_apply_is_then_a_no_op() {
    let test = "networkd_boots_the_files_into_what_apply_makes_and_apply_is_then_a_no_op";
    if let Some((boot, daemon)) = networkd_boot(test, HOST, NICS) {
        // networkd keeps running, as on a host.
        boot.restore_then_apply_is_a_no_op();
        drop(daemon);
    }
}

/// An uplink without carrier at boot (a cable out, a switch port down): its addresses
/// stay tentative, which networkd waits for before it adds a route with a preferred
/// source, and the kernel refuses such a route meanwhile. The network's table must still
/// be complete, as `apply` makes it.
#[test]
fn networkd_completes_a_network_whose_nic_has_no_carrier() {
    const NO_LINK: &[Nic] = &[
        Nic {
            name: "up-a",
            router: &["192.0.2.1/24", "2001:db8:1::1/64"],
            carrier: false,
        },
        Nic {
            name: "up-b",
            router: &["198.51.100.1/24", "2001:db8:2::1/64"],
            carrier: false,
        },
    ];
    networkd_boot(
        "networkd_completes_a_network_whose_nic_has_no_carrier",
        HOST,
        NO_LINK,
    );
}

/// ifupdown2's `ifup -a` (what `networking.service` runs at boot on Debian and Proxmox
/// VE) of the files in `/etc/network/interfaces.d`: bridges, a veth pair, source routing
/// by `post-up ip` commands with protocol 201. The routes and rules are hostnet's as
/// they are, so nothing is left to `restore` and `apply` is a no-op at once.
#[test]
fn ifupdown2_boots_the_files_into_what_apply_makes_and_apply_is_then_a_no_op() {
    const TEST: &str = "ifupdown2_boots_the_files_into_what_apply_makes_and_apply_is_then_a_no_op";
    if !can_boot(
        TEST,
        &[ifupdown::IFUP, ifupdown::IFRELOAD, "/usr/bin/unshare"],
    ) {
        return;
    }
    let boot = Boot::new(HOST, NICS, "ifupdown", Format::Ifupdown);
    assert!(boot.rendered.left_out.routes.is_empty() && boot.rendered.left_out.rules.is_empty());
    let out = ifupdown::ifup_all(
        &boot.booted,
        &boot.root.join(persist::ifupdown::DIR),
        &boot.dir("ifupdown"),
    );
    let said = both_streams(&out);
    assert!(
        out.status.success(),
        "ifup -a failed ({}):\n{said}",
        out.status
    );
    assert!(
        !said.to_lowercase().contains("error") && !said.to_lowercase().contains("warning"),
        "ifup -a complained:\n{said}"
    );
    boot.assert_like_the_twin("ifupdown2");
    // Proxmox VE's "Apply configuration" (and `ifup` of a device that is up) runs every
    // `post-up` again without `pre-down`: each command must succeed a second time and
    // leave one copy of what it adds.
    let out = ifupdown::ifreload_all(
        &boot.booted,
        &boot.root.join(persist::ifupdown::DIR),
        &boot.dir("ifupdown"),
    );
    let said = both_streams(&out);
    assert!(
        out.status.success()
            && !said.to_lowercase().contains("error")
            && !said.to_lowercase().contains("warning"),
        "ifreload -a after the boot ({}):\n{said}",
        out.status
    );
    boot.assert_like_the_twin("ifupdown2 after ifreload -a");
    // ifupdown2 3.0 hides a failure that says "exists", so the run above cannot tell: run
    // every `post-up` command once more by hand, each must succeed and leave one copy.
    let files = boot.root.join(persist::ifupdown::DIR);
    ifupdown::run_each(&boot.booted, &files, "post-up");
    boot.assert_like_the_twin("every post-up command run a third time");
    boot.restore_then_apply_is_a_no_op();
    // `pre-down` twice (ifdown of a device that is down): each succeeds, and no rule
    // the files added is left.
    ifupdown::run_each(&boot.booted, &files, "pre-down");
    ifupdown::run_each(&boot.booted, &files, "pre-down");
    let left: Vec<String> = boot
        .booted
        .query()
        .rules
        .iter()
        .filter(|r| r.protocol == hostnet::netdev::HOSTNET_PROTO || r.priority == 1000)
        .map(ToString::to_string)
        .collect();
    assert!(left.is_empty(), "rules left after pre-down: {left:#?}");
}

/// `netplan generate` (what its systemd generator runs at boot) of the files under
/// `root`: the networkd files it writes, which it must write without a word.
fn netplan_generate(root: &Path) -> std::path::PathBuf {
    // netplan's generator writes /run/systemd/network: here under the root, in a mount
    // namespace where /run is empty, so that nothing of the machine's is touched.
    let mut generate = std::process::Command::new("/bin/sh");
    generate
        .arg(sandbox::script("private-mounts.sh"))
        .args([
            "--tmpfs",
            "/run",
            "--",
            "/usr/sbin/netplan",
            "generate",
            "--root-dir",
        ])
        .arg(root);
    let out = sandbox::output_within(&mut generate, sandbox::RUN_LIMIT);
    let said = both_streams(&out);
    assert!(
        out.status.success() && said.trim().is_empty(),
        "netplan generate:\n{said}"
    );
    root.join("run/systemd/network")
}

/// netplan as at boot: `netplan generate` (its systemd generator) renders the files into
/// networkd's, which systemd-networkd brings up. netplan has no protocol for routes or
/// rules, so hostnet's come up `proto static` and are known by the record; its
/// routing-policy has no `suppress_prefixlength`, goto or nop, so `restore` adds the
/// whole block.
#[test]
fn netplan_boots_the_files_into_what_apply_makes_and_apply_is_then_a_no_op() {
    const TEST: &str = "netplan_boots_the_files_into_what_apply_makes_and_apply_is_then_a_no_op";
    if !can_boot(
        TEST,
        &[networkd::NETWORKD, "/usr/sbin/netplan", "/usr/bin/unshare"],
    ) {
        return;
    }
    let boot = Boot::new(
        HOST_WITHOUT_VETH,
        NICS_WITH_GUEST_PORT,
        "netplan",
        Format::Netplan,
    );
    assert!(boot.rendered.warnings.iter().all(|w| !w.contains("veth")));
    let files = netplan_generate(&boot.root);
    let daemon = start_networkd(TEST, &boot, &files, NICS_WITH_GUEST_PORT);
    boot.restore_then_apply_is_a_no_op();
    drop(daemon);
}

/// NetworkManager 1.42 on a private system bus, on the keyfiles: bridges, the veth
/// pair, routes with `table=`, `routing-ruleN`. It has no protocol for routes or rules,
/// so hostnet's come up `proto static` and are known by the record; keyfiles carry only
/// lookup rules, so `restore` adds the block's goto and nop.
#[test]
fn networkmanager_boots_the_keyfiles_into_what_apply_makes_and_apply_is_then_a_no_op() {
    const TEST: &str =
        "networkmanager_boots_the_keyfiles_into_what_apply_makes_and_apply_is_then_a_no_op";
    if !can_boot(TEST, &networkmanager::PROGRAMS) {
        return;
    }
    let boot = Boot::new(HOST, NICS, "keyfile", Format::Keyfile);
    let mut nm = networkmanager::start(
        &boot.booted,
        &boot.root.join(persist::keyfile::DIR),
        &boot.dir("networkmanager"),
    );
    if let Err(e) = nm.wait_connected(&devices(HOST), BOOT_LIMIT) {
        panic!("{TEST}: NetworkManager did not bring the keyfiles up: {e}");
    }
    boot.assert_like_the_twin("NetworkManager");
    boot.restore_then_apply_is_a_no_op();
    drop(nm);
}
