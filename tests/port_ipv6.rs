//! Bridge ports come up without IPv6 link-local addresses (issue 18, item 2): a port's
//! own IPv6 is never used, and every IPv6 device costs the kernel time that grows with
//! their number. The bridge itself and a veth peer outside a bridge keep theirs. Each
//! test runs in a namespace of its own (see `common::enter_private_netns`).

mod common;

use std::time::{Duration, Instant};

use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{BridgeOptions, Driver, LinkKind, NewLink, Op, PeerSettings};

fn veth_port(name: &str, peer: &str, bridge: &str, peer_bridge: Option<&str>) -> Op {
    Op::CreateLink(NewLink {
        name: name.into(),
        kind: LinkKind::Veth {
            peer: Some(peer.into()),
        },
        up: true,
        mtu: None,
        mac: None,
        controller: Some(bridge.into()),
        peer: Some(PeerSettings {
            up: true,
            controller: peer_bridge.map(str::to_string),
            ..PeerSettings::default()
        }),
    })
}

fn bridge(name: &str) -> Op {
    Op::CreateLink(NewLink {
        name: name.into(),
        kind: LinkKind::Bridge(BridgeOptions {
            stp: false,
            ..Default::default()
        }),
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: None,
    })
}

/// The devices with an IPv6 link-local address (`/proc/net/if_inet6`, scope 0x20).
fn with_link_local() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/thread-self/net/if_inet6").unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(3) == Some(&"20")).then(|| f.get(5).map(|s| s.to_string()))?
        })
        .collect();
    v.sort();
    v
}

fn addr_gen_mode(dev: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{dev}/addr_gen_mode"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn ports_come_up_without_link_local_addresses() {
    if !common::enter_private_netns("ports_come_up_without_link_local_addresses") {
        return;
    }
    if !std::path::Path::new("/proc/net/if_inet6").exists() {
        println!("SKIP ports_come_up_without_link_local_addresses: no IPv6 in this kernel");
        return;
    }
    let mut d = LinuxDriver::new().expect("netlink socket");
    let ops = [bridge("pb0"), bridge("pb1")];
    for r in d.execute(&ops) {
        r.expect("bridges");
    }
    // pv0 is a port of pb0 with its peer pp0 outside any bridge; pv1 and its peer pp1
    // are both ports (of pb1 and pb0).
    let ops = [
        veth_port("pv0", "pp0", "pb0", None),
        veth_port("pv1", "pp1", "pb1", Some("pb0")),
    ];
    for r in d.execute(&ops) {
        r.expect("ports");
    }
    let state = d.query().expect("query");
    for port in ["pv0", "pv1", "pp1", "pp0"] {
        let l = state.links.get(port).expect("created");
        assert!(l.up, "{port} is up");
    }
    assert_eq!(state.links["pv0"].controller.as_deref(), Some("pb0"));
    assert_eq!(state.links["pp1"].controller.as_deref(), Some("pb0"));
    for port in ["pv0", "pv1", "pp1"] {
        assert_eq!(addr_gen_mode(port), "1", "{port}: addrgenmode none");
    }
    assert_eq!(
        addr_gen_mode("pp0"),
        "0",
        "a peer outside a bridge keeps eui64"
    );
    // The kernel adds link-local addresses once a device is up with a carrier: wait for
    // the ones that must come, then check the ports have none.
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = vec!["pb0".to_string(), "pb1".to_string(), "pp0".to_string()];
    while with_link_local() != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(with_link_local(), want);
}

fn disable(dev: &str) -> Op {
    Op::Firewall(Box::new(hostnet::firewall::FwOp::Sysctl {
        key: format!("net.ipv6.conf.{dev}.disable_ipv6"),
        from: Some("0".into()),
        to: "1".into(),
    }))
}

fn disable_ipv6(dev: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The devices with an IPv6 route of their own (`ff00::/8` comes with every device that
/// goes up with IPv6, link-local address or not).
fn with_ipv6_routes() -> Vec<String> {
    let text = std::fs::read_to_string("/proc/thread-self/net/ipv6_route").unwrap_or_default();
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(9).map(str::to_string))
        .filter(|d| d != "lo")
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A `disable_ipv6` op right after the op creating its device, in the same batch (as
/// `plan/port_ipv6.rs` plans it): the device is created down, switched, then brought up,
/// so it never goes up with IPv6 (no route of its own, no link-local address), and the
/// devices without the op are as the kernel makes them.
#[test]
fn devices_switched_in_their_creating_batch_never_go_up_with_ipv6() {
    let test = "devices_switched_in_their_creating_batch_never_go_up_with_ipv6";
    if !common::enter_private_netns(test) {
        return;
    }
    if !std::path::Path::new("/proc/net/if_inet6").exists() {
        println!("SKIP {test}: no IPv6 in this kernel");
        return;
    }
    let mut d = LinuxDriver::new().expect("netlink socket");
    for r in d.execute(&[bridge("qb0"), disable("qb0"), bridge("qb1")]) {
        r.expect("bridges");
    }
    let ops = [
        veth_port("qv0", "qp0", "qb0", None),
        disable("qv0"),
        disable("qp0"),
        veth_port("qv1", "qp1", "qb1", None),
        disable("qv1"),
    ];
    for r in d.execute(&ops) {
        r.expect("ports");
    }
    let state = d.query().expect("query");
    for dev in ["qb0", "qb1", "qv0", "qp0", "qv1", "qp1"] {
        assert!(state.links[dev].up, "{dev} is up");
    }
    assert_eq!(state.links["qv0"].controller.as_deref(), Some("qb0"));
    for dev in ["qb0", "qv0", "qp0", "qv1"] {
        assert_eq!(disable_ipv6(dev), "1", "{dev}");
        assert!(state.ipv6_disabled.contains(dev), "{dev}");
    }
    for dev in ["qb1", "qp1"] {
        assert_eq!(disable_ipv6(dev), "0", "{dev}");
    }
    // qb1 (a port up, so a carrier) and qp1 get link-local addresses; wait for them.
    let deadline = Instant::now() + Duration::from_secs(20);
    let want = vec!["qb1".to_string(), "qp1".to_string()];
    while with_link_local() != want && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(with_link_local(), want);
    assert_eq!(with_ipv6_routes(), want);
}

/// `dev`'s (IFLA_NUM_TX_QUEUES, IFLA_NUM_RX_QUEUES), as `ip -d -j` reads them.
fn queues(dev: &str) -> (u64, u64) {
    let out = std::process::Command::new("ip")
        .args(["-d", "-j", "link", "show", "dev", dev])
        .output()
        .expect("ip");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("ip -j");
    let n = |k: &str| {
        v[0][k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k} of {dev}: {v}"))
    };
    (n("num_tx_queues"), n("num_rx_queues"))
}

/// Both ends of a veth the driver creates have one queue each way (given in the request,
/// so the kernel does not allocate one per CPU and then wait for an RCU grace period to
/// shrink them: `netdev/linux/kinds.rs`, `single_queue`), a peer in a bridge or not.
#[test]
fn veths_are_created_with_one_queue_each_way() {
    if !common::enter_private_netns("veths_are_created_with_one_queue_each_way") {
        return;
    }
    let mut d = LinuxDriver::new().expect("netlink socket");
    for r in d.execute(&[bridge("sb0")]) {
        r.expect("bridge");
    }
    let ops = [
        veth_port("sv0", "sp0", "sb0", None),
        veth_port("sv1", "sp1", "sb0", Some("sb0")),
    ];
    for r in d.execute(&ops) {
        r.expect("veths");
    }
    for dev in ["sv0", "sp0", "sv1", "sp1"] {
        assert_eq!(queues(dev), (1, 1), "{dev}");
    }
}
