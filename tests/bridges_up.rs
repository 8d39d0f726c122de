//! A new network's bridge is created down and comes up once its addresses are on (phase
//! "bridges up", `plan/bridges_up.rs`), on the real kernel: the state in between (seen
//! through the apply's pause hook), the end state and traffic through the bridge, and
//! the way back from a crash or a failure after the bridge was made. Each test runs in a
//! namespace of its own, with its own state directories.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::cli::Hostnet;
use common::peer::{echo_server, echoes, move_to, Peer};
use common::{enter_private_netns, run_ops, text, veth};

const RED: &str = "
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ['2001:db8:1::10/64'], gateway: '2001:db8:1::1'}
    source-routing: {table: 1001}
";

/// `ip ARGS` in the calling thread's namespace, which must succeed.
fn ip(args: &str) -> String {
    let o = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("ip");
    assert!(o.status.success(), "ip {args}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ip -j -d link show dev NAME`'s flags, or `None` when there is no such link.
fn flags(name: &str) -> Option<Vec<String>> {
    let o = Command::new("ip")
        .args(["-j", "link", "show", "dev", name])
        .output()
        .expect("ip");
    if !o.status.success() {
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    Some(
        v[0]["flags"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// The groups `/proc/net/igmp` (`text`) lists for device `dev`, as it writes them.
fn groups(text: &str, dev: &str) -> Vec<String> {
    let mut current = String::new();
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        if line.starts_with('\t') {
            if current == dev {
                out.extend(line.split_whitespace().next().map(str::to_string));
            }
        } else {
            current = line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_string();
        }
    }
    out
}

fn sa(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

#[test]
fn a_new_bridge_comes_up_after_its_addresses_and_carries_traffic() {
    if !enter_private_netns("a_new_bridge_comes_up_after_its_addresses_and_carries_traffic") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p")]);
    let peer = Peer::new();
    move_to(&peer, "up-red-p");
    peer.run(|| {
        ip("addr add 192.0.2.1/24 dev up-red-p");
        ip("addr add 2001:db8:1::1/64 dev up-red-p nodad");
    });
    let h = Hostnet::new();
    let paused = h.apply_paused(RED, "bridges up");
    // In between: the bridge is there, down, with its addresses, and without routes.
    let f = flags("red").expect("red is made");
    assert!(!f.iter().any(|x| x == "UP"), "{f:?}");
    let addrs = ip("-br addr show dev red");
    assert!(
        addrs.contains("192.0.2.10/24") && addrs.contains("2001:db8:1::10/64"),
        "{addrs}"
    );
    for family in ["-4", "-6"] {
        let routes = ip(&format!("{family} route show table all proto 201"));
        assert_eq!(routes, "", "hostnet's routes before the bridge is up");
    }
    let o = paused.resume();
    assert!(o.status.success(), "{}", text(&o));
    // After: up, its addresses, its routes (on-link and gateway, both families).
    let f = flags("red").expect("red");
    assert!(f.iter().any(|x| x == "UP"), "{f:?}");
    let v4 = ip("route show table 1001");
    assert!(
        v4.contains("192.0.2.0/24 dev red") && v4.contains("default via 192.0.2.1 dev red"),
        "{v4}"
    );
    let v6 = ip("-6 route show table 1001");
    assert!(
        v6.contains("2001:db8:1::/64 dev red") && v6.contains("default via 2001:db8:1::1 dev red"),
        "{v6}"
    );
    assert!(ip("route show dev red").contains("192.0.2.0/24 proto kernel"));
    // Snooping is as the kernel makes it: the bridge joined the all-snoopers group.
    let igmp = std::fs::read_to_string("/proc/thread-self/net/igmp").expect("igmp");
    assert!(
        groups(&igmp, "red").iter().any(|g| g == "6A0000E0"),
        "224.0.0.106 not joined:\n{igmp}"
    );
    // Traffic through the bridge and its port, from the bridge's own addresses.
    let e4 = echo_server(&peer, sa("192.0.2.1:7001"));
    assert!(echoes(
        Some("192.0.2.10".parse().expect("ip")),
        sa("192.0.2.1:7001")
    ));
    let e6 = echo_server(&peer, sa("[2001:db8:1::1]:7001"));
    assert!(echoes(None, sa("[2001:db8:1::1]:7001")));
    // Applied again: nothing to do.
    let o = h.run_env(&["apply", "--dry-run", "-"], RED, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to change"),
        "{}",
        text(&o)
    );
    drop((e4, e6));
}

#[test]
fn a_crash_before_the_bridges_come_up_is_rolled_back_to_nothing() {
    if !enter_private_netns("a_crash_before_the_bridges_come_up_is_rolled_back_to_nothing") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p")]);
    let h = Hostnet::new();
    let before = h.show();
    let o = h.run_env(
        &["apply", "-"],
        RED,
        &[("HOSTNET_TEST_CRASH_AFTER_PHASE", "bridges up")],
    );
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "{}",
        text(&o)
    );
    let f = flags("red").expect("red is made");
    assert!(!f.iter().any(|x| x == "UP"), "{f:?}");
    let o = h.run_env(&["rollback"], "", &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(flags("red"), None, "the bridge is left");
    assert_eq!(h.show(), before);
    assert!(flags("up-red").is_some());
}

#[test]
fn a_failure_after_the_bridge_is_made_leaves_nothing_of_it() {
    if !enter_private_netns("a_failure_after_the_bridge_is_made_leaves_nothing_of_it") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p"), veth("other", "other-p")]);
    let h = Hostnet::new();
    let before = h.show();
    let paused = h.apply_paused(RED, "bridges up");
    // Another tool takes the place of the network's default route in its table: the
    // apply's own is refused after the bridge came up.
    ip("route add default dev other table 1001");
    let o = paused.resume();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("add route default via 192.0.2.1 dev red table 1001: File exists")
            && err.contains("the previous state was restored"),
        "{}",
        text(&o)
    );
    assert_eq!(flags("red"), None, "the bridge is left:\n{}", text(&o));
    assert!(flags("up-red").is_some_and(|f| f.iter().any(|x| x == "UP")));
    // The other tool's route stays, and nothing else changed.
    assert_eq!(
        ip("route show table 1001").trim(),
        "default dev other scope link"
    );
    ip("route del default dev other table 1001");
    assert_eq!(h.show(), before);
}
