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
    let programs = [
        networkmanager::NETWORKMANAGER,
        networkmanager::DBUS_DAEMON,
        networkmanager::NMCLI,
        "/usr/bin/unshare",
    ];
    if !can_boot(TEST, &programs) {
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
