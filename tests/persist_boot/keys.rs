//! A device's keys beyond kind, addresses, routes and rules (bridge options, port
//! settings, `accept-all-mac-addresses`, IPv6 switches), booted: for each format, a file
//! of only the keys its files carry (`persist` must not warn about any), and after the
//! boot `hostnet apply` of the file has nothing to change, which compares every key
//! hostnet manages with the kernel. Port VLANs and VLAN filtering need a kernel with
//! CONFIG_BRIDGE_VLAN_FILTERING, which this suite's host may lack: their files are
//! checked by the writers' unit tests.

use super::{both_streams, ifupdown, netplan_generate};
use super::{can_boot, devices, networkd, networkmanager, start_networkd, Boot, BOOT_LIMIT};
use super::{Format, NICS};

/// What systemd-networkd 252 carries.
const NETWORKD_KEYS: &str = r#"
interfaces:
  - name: br-k
    type: linux-bridge
    bridge:
      options:
        stp: {enabled: false, hello-time: 3, max-age: 30, priority: 4096}
        mac-ageing-time: 100
        multicast-snooping: false
        group-forward-mask: 8
      port: [{name: up-a, stp-path-cost: 7, stp-priority: 20, stp-hairpin-mode: true}]
    ipv4:
      address: [{ip: 10.10.0.1, prefix-length: 24}]
  - {name: up-a, type: ethernet}
  - name: up-b
    type: ethernet
    accept-all-mac-addresses: true
    ipv4:
      address: [{ip: 198.51.100.10, prefix-length: 24}]
    ipv6:
      enabled: true
      addr-gen-mode: eui64
      address: [{ip: "2001:db8:2::10", prefix-length: 64}]
"#;

/// What NetworkManager 1.42's keyfiles carry.
const KEYFILE_KEYS: &str = r#"
interfaces:
  - name: br-k
    type: linux-bridge
    bridge:
      options:
        stp: {enabled: false, hello-time: 3, max-age: 30, priority: 4096}
        mac-ageing-time: 100
        multicast-snooping: false
        group-forward-mask: 8
      port: [{name: up-a, stp-path-cost: 7, stp-priority: 20, stp-hairpin-mode: true}]
    ipv4:
      address: [{ip: 10.10.0.1, prefix-length: 24}]
  - {name: up-a, type: ethernet}
  - name: up-b
    type: ethernet
    accept-all-mac-addresses: true
    ipv4:
      address: [{ip: 198.51.100.10, prefix-length: 24}]
    ipv6:
      enabled: false
"#;

/// What ifupdown2 3.0's stanzas carry.
const IFUPDOWN_KEYS: &str = r#"
interfaces:
  - name: br-k
    type: linux-bridge
    description: guests of tenant k
    bridge:
      options:
        stp: {enabled: false, hello-time: 3, max-age: 30, priority: 4096}
        mac-ageing-time: 100
        multicast-snooping: false
        hash-max: 1024
      port: [{name: up-a, stp-path-cost: 7, stp-priority: 20}]
    ipv4:
      address: [{ip: 10.10.0.1, prefix-length: 24}]
  - {name: up-a, type: ethernet}
  - name: up-b
    type: ethernet
    description: uplink b
    ipv4:
      address: [{ip: 198.51.100.10, prefix-length: 24}]
"#;

/// What netplan 0.106 carries of a bridge (its `parameters`).
const NETPLAN_KEYS: &str = r#"
interfaces:
  - name: br-k
    type: linux-bridge
    bridge:
      options:
        stp: {enabled: false, hello-time: 3, max-age: 30, priority: 4096}
        mac-ageing-time: 100
      port: [{name: up-a, stp-path-cost: 7, stp-priority: 20}]
    ipv4:
      address: [{ip: 10.10.0.1, prefix-length: 24}]
  - {name: up-a, type: ethernet}
"#;

/// `persist` said nothing is left out, the boot matches the twin, and `apply` of the
/// file then changes nothing (every key hostnet manages is as the file says).
fn nothing_left(test: &str, consumer: &str, boot: &Boot) {
    assert!(
        boot.rendered.warnings.is_empty(),
        "{test}: persist warned: {:?}",
        boot.rendered.warnings
    );
    boot.assert_like_the_twin(consumer);
    let out = boot.booted.hostnet_ok(&["apply", "--dry-run", &boot.yaml]);
    if !out.contains("Nothing to change") {
        // The plan's operations say which setting differs.
        let json = boot
            .booted
            .hostnet(&["apply", "--dry-run", "-o", "json", &boot.yaml]);
        let links = boot.booted.run(|| {
            std::process::Command::new("ip")
                .args(["-d", "link", "show"])
                .output()
                .expect("ip")
        });
        panic!(
            "{test}: after {consumer}'s boot, apply would still change: {out}\n{}\n{}",
            String::from_utf8_lossy(&json.stdout),
            String::from_utf8_lossy(&links.stdout)
        );
    }
}

#[test]
fn networkd_boots_a_devices_bridge_port_and_link_keys() {
    const TEST: &str = "networkd_boots_a_devices_bridge_port_and_link_keys";
    if !can_boot(TEST, &[networkd::NETWORKD, "/usr/bin/unshare"]) {
        return;
    }
    let boot = Boot::new(NETWORKD_KEYS, NICS, "networkd", Format::Networkd);
    let files = boot.root.join(hostnet::persist::networkd::DIR);
    let daemon = start_networkd(TEST, &boot, &files, NICS);
    nothing_left(TEST, "systemd-networkd", &boot);
    drop(daemon);
}

#[test]
fn networkmanager_boots_a_devices_bridge_port_and_link_keys() {
    const TEST: &str = "networkmanager_boots_a_devices_bridge_port_and_link_keys";
    if !can_boot(TEST, &networkmanager::PROGRAMS) {
        return;
    }
    let boot = Boot::new(KEYFILE_KEYS, NICS, "keyfile", Format::Keyfile);
    let mut nm = networkmanager::start(
        &boot.booted,
        &boot.root.join(hostnet::persist::keyfile::DIR),
        &boot.dir("networkmanager"),
    );
    if let Err(e) = nm.wait_connected(&devices(KEYFILE_KEYS), BOOT_LIMIT) {
        panic!("{TEST}: NetworkManager did not bring the keyfiles up: {e}");
    }
    nothing_left(TEST, "NetworkManager", &boot);
    drop(nm);
}

#[test]
fn ifupdown2_boots_a_devices_bridge_port_and_link_keys() {
    const TEST: &str = "ifupdown2_boots_a_devices_bridge_port_and_link_keys";
    if !can_boot(
        TEST,
        &[ifupdown::IFUP, ifupdown::IFRELOAD, "/usr/bin/unshare"],
    ) {
        return;
    }
    let boot = Boot::new(IFUPDOWN_KEYS, NICS, "ifupdown", Format::Ifupdown);
    let out = ifupdown::ifup_all(
        &boot.booted,
        &boot.root.join(hostnet::persist::ifupdown::DIR),
        &boot.dir("ifupdown"),
    );
    assert!(
        out.status.success(),
        "ifup -a failed:\n{}",
        both_streams(&out)
    );
    nothing_left(TEST, "ifupdown2", &boot);
}

#[test]
fn netplan_boots_a_bridges_parameters() {
    const TEST: &str = "netplan_boots_a_bridges_parameters";
    if !can_boot(
        TEST,
        &[networkd::NETWORKD, "/usr/sbin/netplan", "/usr/bin/unshare"],
    ) {
        return;
    }
    let boot = Boot::new(NETPLAN_KEYS, NICS, "netplan", Format::Netplan);
    let files = netplan_generate(&boot.root);
    let daemon = start_networkd(TEST, &boot, &files, NICS);
    nothing_left(TEST, "netplan and systemd-networkd", &boot);
    drop(daemon);
}

/// A bond's options through netplan's generator (this kernel has no bonding, so they are
/// not booted): each option the file gives is in the `.netdev` netplan writes.
#[test]
fn netplan_generates_a_bonds_options() {
    const TEST: &str = "netplan_generates_a_bonds_options";
    if !can_boot(TEST, &["/usr/sbin/netplan", "/usr/bin/unshare"]) {
        return;
    }
    const BOND: &str = r#"
interfaces:
  - name: bond0
    type: bond
    link-aggregation:
      mode: active-backup
      options: {miimon: 100, updelay: 200, downdelay: 300, primary: up-a, num_grat_arp: 3, primary_reselect: better, fail_over_mac: active, resend_igmp: 2}
      port: [up-a, up-b]
"#;
    let work = tempfile::tempdir().expect("tempdir");
    let yaml = work.path().join("host.yaml");
    std::fs::write(&yaml, BOND).expect("write");
    let root = work.path().join("root");
    let out = super::common::hostnet(
        &[
            "persist",
            yaml.to_str().expect("utf-8"),
            "--format",
            "netplan",
            "--root",
            root.to_str().expect("utf-8"),
        ],
        None,
    );
    let said = super::common::text(&out);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("not written by"), "{said}");
    let netdev = std::fs::read_to_string(netplan_generate(&root).join("10-netplan-bond0.netdev"))
        .expect("netplan's .netdev of bond0");
    for line in [
        "Mode=active-backup",
        "MIIMonitorSec=100ms",
        "UpDelaySec=200ms",
        "DownDelaySec=300ms",
        "GratuitousARP=3",
        "PrimaryReselectPolicy=better",
        "FailOverMACPolicy=active",
        "ResendIGMP=2",
    ] {
        assert!(
            netdev.lines().any(|l| l == line),
            "{line} not in:\n{netdev}"
        );
    }
    let port = std::fs::read_to_string(root.join("run/systemd/network/10-netplan-up-a.network"))
        .expect("netplan's .network of up-a");
    assert!(port.contains("PrimarySlave=true"), "{port}");
}

/// The networkd or keyfile files of a network on a VLAN-aware bridge, under a fresh
/// root: this kernel cannot filter by VLAN, so the readers below load them without
/// bringing them up.
fn persist_vlan_aware(work: &std::path::Path, format: &str) -> std::path::PathBuf {
    const AWARE: &str = r#"
networks:
  - {name: tenant, uplink: up-a, bridge: br0, vlan-aware: true, vlan: 100, ipv4: {address: [192.0.2.10/24]}}
"#;
    let yaml = work.join("host.yaml");
    std::fs::write(&yaml, AWARE).expect("write");
    let root = work.join("root");
    let out = super::common::hostnet(
        &[
            "persist",
            yaml.to_str().expect("utf-8"),
            "--format",
            format,
            "--root",
            root.to_str().expect("utf-8"),
        ],
        None,
    );
    let said = super::common::text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("bridge.options") && !said.contains("VLAN-aware"),
        "{said}"
    );
    root
}

/// The keys of a VLAN-aware bridge, read by NetworkManager itself: it must load the
/// profiles with the bridge's filtering and the VLANs of the uplink and of the bridge.
#[test]
fn networkmanager_reads_the_vlan_keys_of_a_vlan_aware_network() {
    const TEST: &str = "networkmanager_reads_the_vlan_keys_of_a_vlan_aware_network";
    if !can_boot(TEST, &networkmanager::PROGRAMS) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let root = persist_vlan_aware(work.path(), "keyfile");
    let host = super::sandbox::Host::new(&[]);
    let nm = networkmanager::start(
        &host,
        &root.join(hostnet::persist::keyfile::DIR),
        &work.path().join("nm"),
    );
    let fields = "bridge.vlan-filtering,bridge.vlans";
    let start = std::time::Instant::now();
    let mut br0 = String::new();
    while br0.is_empty() && start.elapsed() < BOOT_LIMIT {
        std::thread::sleep(std::time::Duration::from_millis(100));
        br0 = nm.nmcli(&["-t", "-f", fields, "connection", "show", "hostnet-br0"]);
    }
    assert_eq!(
        br0,
        "bridge.vlan-filtering:yes\nbridge.vlans:100\n",
        "{}",
        nm.nm.log()
    );
    let port = nm.nmcli(&[
        "-t",
        "-f",
        "bridge-port.vlans",
        "connection",
        "show",
        "hostnet-up-a",
    ]);
    assert_eq!(port, "bridge-port.vlans:100\n", "{}", nm.nm.log());
}

/// The same for systemd-networkd: it must read every key hostnet wrote
/// (`VLANFiltering=`, `[BridgeVLAN]` of the uplink and of the bridge) without calling
/// one unknown or a file unparsable.
#[test]
fn networkd_reads_the_vlan_keys_of_a_vlan_aware_network() {
    const TEST: &str = "networkd_reads_the_vlan_keys_of_a_vlan_aware_network";
    if !can_boot(TEST, &[networkd::NETWORKD, "/usr/bin/unshare"]) {
        return;
    }
    let work = tempfile::tempdir().expect("tempdir");
    let root = persist_vlan_aware(work.path(), "networkd");
    let files = root.join(hostnet::persist::networkd::DIR);
    let all: String = [
        "50-hostnet-br0.netdev",
        "50-hostnet-br0.network",
        "50-hostnet-up-a.network",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(files.join(f)).expect("a persisted file"))
    .collect();
    assert!(
        all.contains("VLANFiltering=yes") && all.matches("[BridgeVLAN]\nVLAN=100\n").count() == 2,
        "{all}"
    );
    let host = super::sandbox::Host::new(&[]);
    let run = work.path().join("run");
    std::fs::create_dir_all(&run).expect("mkdir");
    let mut daemon = networkd::start(&host, &files, &run, &work.path().join("networkd.log"));
    // networkd reads every file before it creates the bridge, which it then logs.
    let start = std::time::Instant::now();
    while !daemon.log().lines().any(|l| l.starts_with("br0:")) {
        assert!(
            daemon.exited().is_none() && start.elapsed() < BOOT_LIMIT,
            "networkd did not get to br0: {}",
            daemon.log()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let log = daemon.log();
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| {
            l.contains("50-hostnet-")
                && (l.contains("ignoring") || l.contains("Unknown") || l.contains("Failed"))
        })
        .collect();
    assert!(complaints.is_empty(), "{complaints:#?}\n{log}");
}
