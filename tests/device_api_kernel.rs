//! The device API (`hostnet::devices`) against the kernel: `ensure_bridge` moves an
//! uplink's addresses and routes to a new bridge while a peer namespace pings the
//! host, without losing a packet.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::peer::{apply_yaml, echo_server, echoes, move_to, query, Peer};
use common::{enter_private_netns, run_ops, veth};
use hostnet::devices;
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::TapOptions;

fn have_ping(test: &str) -> bool {
    let ok = Command::new("ping")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("{test}: ping (iputils-ping) is missing and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP {test}: no ping (apt-get install iputils-ping)");
    }
    ok
}

/// "N packets transmitted, M received" of ping's summary.
fn sent_received(out: &str) -> (u32, u32) {
    let line = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    let nums: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn ensure_bridge_moves_addresses_and_routes_under_a_running_ping() {
    let test = "ensure_bridge_moves_addresses_and_routes_under_a_running_ping";
    if !enter_private_netns(test) || !have_ping(test) {
        return;
    }
    let wire = Peer::new();
    run_ops(&[veth("eth0", "wire0")]);
    move_to(&wire, "wire0");
    wire.run(|| {
        apply_yaml(
            "
interfaces:
  - {name: wire0, type: veth, ipv4: {enabled: true, address: [{ip: 192.0.2.1, prefix-length: 24}]}}
  - name: lo
    type: loopback
    ipv4: {enabled: true, address: [{ip: 203.0.113.1, prefix-length: 32}]}
routes:
  config:
    - {destination: 192.0.2.10/32, next-hop-interface: wire0}
",
        )
        .expect("the wire side applies")
    });
    apply_yaml(
        "
interfaces:
  - {name: eth0, type: veth, mtu: 1400, ipv4: {enabled: true, address: [{ip: 192.0.2.10, prefix-length: 24}]}}
routes:
  config:
    - {destination: 0.0.0.0/0, next-hop-address: 192.0.2.1, next-hop-interface: eth0, metric: 50}
",
    )
    .expect("the host's uplink applies");

    // 400 echo requests, 5 ms apart, from the wire's namespace to the host.
    let ping = wire.run(|| {
        Command::new("ping")
            .args([
                "-n",
                "-q",
                "-i",
                "0.005",
                "-c",
                "400",
                "-W",
                "1",
                "192.0.2.10",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ping starts")
    });
    std::thread::sleep(std::time::Duration::from_millis(400));
    let mut d = LinuxDriver::new().expect("netlink");
    devices::ensure_bridge(&mut d, "br0", Some("eth0")).expect("ensure_bridge");
    let out = ping.wait_with_output().expect("ping ends");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (sent, received) = sent_received(&text);
    // No loss on an idle machine; under CI load one 5 ms probe out of 400 was once lost
    // (cause not found yet: see the issue note). More than one is a real gap.
    assert!(
        sent.saturating_sub(received) <= 1,
        "packets lost across the move:\n{text}"
    );

    let s = query();
    assert_eq!(s.links["eth0"].controller.as_deref(), Some("br0"));
    assert_eq!(s.links["br0"].mac, s.links["eth0"].mac, "MAC not pinned");
    assert_eq!(s.links["br0"].mtu, 1400, "MTU not taken over");
    assert!(s.addresses.iter().all(|a| a.ifname != "eth0"));
    assert!(s
        .addresses
        .iter()
        .any(|a| a.ifname == "br0" && a.addr.to_string() == "192.0.2.10/24"));
    let default = s
        .routes
        .iter()
        .find(|r| r.destination.prefix_len() == 0)
        .expect("default route");
    assert_eq!(
        (default.dev.as_deref(), default.metric),
        (Some("br0"), Some(50))
    );
    // Off-link traffic answers through the moved default route.
    let _echo = echo_server(&wire, "203.0.113.1:7300".parse().expect("addr"));
    assert!(echoes(None, "203.0.113.1:7300".parse().expect("addr")));

    // Again: nothing to do.
    let before = query();
    devices::ensure_bridge(&mut d, "br0", Some("eth0")).expect("again");
    assert_eq!(query(), before);
}

#[test]
fn device_calls_against_the_kernel() {
    if !enter_private_netns("device_calls_against_the_kernel") {
        return;
    }
    let mut d = LinuxDriver::new().expect("netlink");
    devices::create_veth_pair(&mut d, "va", "vb", Some(1450)).expect("veth");
    devices::create_tap(
        &mut d,
        "vnet0",
        &TapOptions {
            owner: Some(1000),
            ..TapOptions::default()
        },
    )
    .expect("tap");
    devices::ensure_bridge(&mut d, "brg", None).expect("bridge");
    devices::set_mtu(&mut d, "vnet0", 1450).expect("mtu");
    for name in ["va", "vb", "vnet0", "brg"] {
        assert!(
            devices::device_exists(&mut d, name).expect("query"),
            "{name}"
        );
    }
    let s = query();
    assert_eq!((s.links["va"].mtu, s.links["vnet0"].mtu), (1450, 1450));
    devices::delete_device(&mut d, "va").expect("delete");
    devices::delete_device(&mut d, "vnet0").expect("delete");
    devices::delete_device(&mut d, "vnet0").expect("delete again");
    assert!(!devices::device_exists(&mut d, "vb").expect("query"));
    assert!(!devices::device_exists(&mut d, "vnet0").expect("query"));
}

#[test]
fn a_host_holds_the_namespace_lock_across_its_device_calls() {
    let test = "a_host_holds_the_namespace_lock_across_its_device_calls";
    if !enter_private_netns(test) {
        return;
    }
    let state = tempfile::tempdir().expect("tempdir");
    // The lock file goes under the test's own directory, never the machine's /run/hostnet;
    // no other test of this binary reads the state directory.
    std::env::set_var("HOSTNET_STATE_DIR", state.path());
    let mut host = devices::Host::open(Duration::ZERO).expect("the lock is free");
    devices::create_veth_pair(host.driver(), "hl0", "hl1", Some(1400)).expect("veth pair");
    // Another hostnet session on this namespace (an apply, a DHCP event, another agent's
    // Host) waits for it, and gives up after its timeout.
    let waited = devices::Host::open(Duration::from_millis(200)).err();
    assert!(
        matches!(waited, Some(devices::DeviceError::Lock(_))),
        "a second Host got the lock: {:?}",
        waited.map(|e| e.to_string())
    );
    assert!(devices::device_exists(host.driver(), "hl1").expect("query"));
    drop(host);
    devices::Host::open(Duration::ZERO).expect("free again once the Host is dropped");
}
