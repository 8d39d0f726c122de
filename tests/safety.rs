//! Checkpoints, crash recovery, the lock between concurrent commands, and boot restore;
//! each test in its own namespace, with its own state directories.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::cli::Hostnet;
use common::{enter_private_netns, run_ops, text, veth};

const BASE: &str = "
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    source-routing: {table: 1001}
";

const CHANGE: &str = "
interfaces:
  - {name: v0, type: veth, veth: {peer: v1}}
networks:
  - name: red
    uplink: up-red
    mtu: 1400
    ipv4: {address: [192.0.2.11/24], gateway: 192.0.2.254}
    source-routing: {table: 1001}
  - name: blue
    uplink: up-blue
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
";

fn setup(test: &str) -> Option<Hostnet> {
    if !enter_private_netns(test) {
        return None;
    }
    run_ops(&[veth("up-red", "up-red-p"), veth("up-blue", "up-blue-p")]);
    let h = Hostnet::new();
    let o = h.run(&["apply", "-"], BASE);
    assert!(o.status.success(), "{}", text(&o));
    Some(h)
}

fn wait_until(what: &str, timeout: Duration, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn checkpoint_not_committed_rolls_back_by_itself() {
    let Some(h) = setup("checkpoint_not_committed_rolls_back_by_itself") else {
        return;
    };
    let before = h.show();
    // Long enough for the checks below to see the change pending on a loaded machine
    // (an apply and two `show`s take seconds at a load average of 15).
    let o = h.run(&["apply", "--confirm-timeout", "6", "-"], CHANGE);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("rolls back by itself at"),
        "{}",
        text(&o)
    );
    assert_ne!(h.show(), before);
    let shown = h.run(&["show"], "");
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("# checkpoint pending"),
        "{}",
        text(&shown)
    );
    // The apply process is gone; its watchdog is not.
    let start = Instant::now();
    while h.show() != before {
        if start.elapsed() > Duration::from_secs(40) {
            let status = h.run(&["status"], "");
            let files = std::fs::read_dir(h.state.path())
                .map(|d| {
                    d.flatten()
                        .map(|e| e.path().display().to_string())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            panic!(
                "timed out waiting for the watchdog's rollback; status:\n{}\nstate: {files:?}\nshow now: {}\nbefore: {before}",
                text(&status),
                h.show()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_until(
        "the checkpoint record to go",
        Duration::from_secs(5),
        || h.run(&["commit"], "").status.code() == Some(1),
    );
}

#[test]
fn committed_checkpoint_stays() {
    let Some(h) = setup("committed_checkpoint_stays") else {
        return;
    };
    // The commit must come before the deadline, even on a loaded machine; the check
    // after it waits past the deadline.
    let o = h.run(&["apply", "--confirm-timeout", "6", "-"], CHANGE);
    assert!(o.status.success(), "{}", text(&o));
    let changed = h.show();
    let o = h.run(&["commit"], "");
    assert!(o.status.success(), "{}", text(&o));
    std::thread::sleep(Duration::from_secs(8));
    assert_eq!(h.show(), changed);
    // Committed means recorded for restore, and applying again is allowed.
    let o = h.run(&["apply", "-"], CHANGE);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing to change"),
        "{}",
        text(&o)
    );
}

#[test]
fn rollback_now_and_no_apply_while_a_checkpoint_is_pending() {
    let Some(h) = setup("rollback_now_and_no_apply_while_a_checkpoint_is_pending") else {
        return;
    };
    let before = h.show();
    let o = h.run(&["apply", "--confirm-timeout", "120", "-"], CHANGE);
    assert!(o.status.success(), "{}", text(&o));
    let o = h.run(&["apply", "-"], BASE);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("a checkpoint is pending"),
        "{}",
        text(&o)
    );
    let o = h.run(&["rollback"], "");
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(h.show(), before);
    let o = h.run(&["rollback"], "");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

#[test]
fn an_apply_killed_at_any_point_is_rolled_back_exactly() {
    if !enter_private_netns("an_apply_killed_at_any_point_is_rolled_back_exactly") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p"), veth("up-blue", "up-blue-p")]);
    let h = Hostnet::new();
    let o = h.run(&["apply", "-"], BASE);
    assert!(o.status.success(), "{}", text(&o));
    let before = h.show();
    // CHANGE has more than six non-empty phases: crash before the first, and after each
    // of the next ones.
    for k in 0..7 {
        let n = k.to_string();
        let o = h.run_env(
            &["apply", "-"],
            CHANGE,
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", &n)],
        );
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&o.status),
            Some(9),
            "crash point {k}: {}",
            text(&o)
        );
        let shown = h.run(&["show"], "");
        assert!(
            String::from_utf8_lossy(&shown.stderr).contains("did not finish"),
            "{}",
            text(&shown)
        );
        let o = h.run(&["rollback"], "");
        assert!(o.status.success(), "crash point {k}: {}", text(&o));
        assert_eq!(
            h.show(),
            before,
            "crash point {k}: not back to the previous state"
        );
    }
    // An apply over a dead one's journal is refused (the way back would be lost), until
    // `rollback` ran or the journal is discarded explicitly (issue 16 item 8).
    let o = h.run_env(
        &["apply", "-"],
        CHANGE,
        &[("HOSTNET_TEST_CRASH_AFTER_PHASE", "3")],
    );
    assert!(!o.status.success());
    let half = h.show();
    let o = h.run(&["apply", "-"], CHANGE);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("did not finish; nothing was changed")
            && err.contains("hostnet rollback")
            && err.contains("--discard-stale-journal"),
        "{}",
        text(&o)
    );
    assert_eq!(h.show(), half, "the refused apply changed something");
    let o = h.run(&["apply", "--discard-stale-journal", "-"], CHANGE);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("its journal is discarded"),
        "{}",
        text(&o)
    );
    let o = h.run(&["rollback"], "");
    assert_eq!(
        o.status.code(),
        Some(1),
        "journal should be gone: {}",
        text(&o)
    );
}

#[test]
fn a_second_apply_waits_for_the_lock_or_times_out_clearly() {
    let Some(h) = setup("a_second_apply_waits_for_the_lock_or_times_out_clearly") else {
        return;
    };
    let held =
        hostnet::engine::lock::lock_current_netns(&h.state.path().join("locks"), Duration::ZERO)
            .expect("lock");
    let o = h.run(&["apply", "--lock-timeout", "1", "-"], CHANGE);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("cannot take the hostnet lock; nothing was changed"),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "another hostnet command (pid {})",
            std::process::id()
        )),
        "{err}"
    );
    // Started while the lock is held, it waits and then applies.
    let mut waiting = h
        .cmd(&["apply", "--lock-timeout", "30", "-"], &[])
        .spawn()
        .expect("spawn");
    {
        use std::io::Write;
        let mut stdin = waiting.stdin.take().expect("stdin");
        stdin.write_all(CHANGE.as_bytes()).expect("write");
    }
    std::thread::sleep(Duration::from_millis(700));
    assert!(
        waiting.try_wait().expect("status").is_none(),
        "the second apply did not wait"
    );
    drop(held);
    let o = waiting.wait_with_output().expect("finishes");
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn restore_brings_back_the_committed_state_network_by_network() {
    let Some(h) = setup("restore_brings_back_the_committed_state_network_by_network") else {
        return;
    };
    let o = h.run(&["apply", "-"], CHANGE);
    assert!(o.status.success(), "{}", text(&o));
    let committed = h.show();
    // As after a reboot: hostnet's devices gone, and one network's NIC missing too.
    run_ops(&[
        hostnet::netdev::Op::DeleteLink { name: "red".into() },
        hostnet::netdev::Op::DeleteLink {
            name: "blue".into(),
        },
        hostnet::netdev::Op::DeleteLink { name: "v0".into() },
        hostnet::netdev::Op::DeleteLink {
            name: "up-blue".into(),
        },
    ]);
    let o = h.run(&["restore"], "");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("restored network red"), "{out}");
    assert!(out.contains("NOT restored network blue"), "{out}");
    assert!(out.contains("up-blue does not exist"), "{out}");
    // With the NIC back, everything is.
    run_ops(&[veth("up-blue", "up-blue-p")]);
    let o = h.run(&["restore"], "");
    assert!(o.status.success(), "{}", text(&o));
    let state = hostnet::netdev::linux::LinuxDriver::new().expect("netlink");
    drop(state);
    let now = h.show();
    for name in ["\"red\"", "\"blue\"", "\"v0\"", "192.0.2.11"] {
        assert!(
            now.contains(name) && committed.contains(name),
            "{name} missing after restore:\n{now}"
        );
    }
}

#[test]
fn rollback_leaves_what_others_changed_meanwhile() {
    let Some(h) = setup("rollback_leaves_what_others_changed_meanwhile") else {
        return;
    };
    let o = h.run(&["apply", "--confirm-timeout", "120", "-"], CHANGE);
    assert!(o.status.success(), "{}", text(&o));
    // Another tool, during the checkpoint window: a bridge with an address, a rule.
    let ip = |args: &str| {
        let o = Command::new("ip")
            .args(args.split_whitespace())
            .output()
            .expect("ip");
        assert!(
            o.status.success(),
            "ip {args}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    ip("link add virbr9 type bridge");
    ip("addr add 172.30.0.1/24 dev virbr9");
    ip("rule add priority 500 from 172.30.0.0/24 lookup 77");
    let o = h.run(&["rollback"], "");
    assert!(o.status.success(), "{}", text(&o));
    let s = hostnet::netdev::linux::LinuxDriver::new()
        .and_then(|mut d| hostnet::netdev::Driver::query(&mut d))
        .expect("query");
    assert!(
        s.links.contains_key("virbr9"),
        "the other tool's bridge was removed"
    );
    assert!(
        s.addresses.iter().any(|a| a.ifname == "virbr9"),
        "its address was removed"
    );
    assert!(
        s.rules.iter().any(|r| r.priority == 500),
        "its rule was removed"
    );
    assert!(
        !s.links.contains_key("blue") && !s.links.contains_key("v0"),
        "the change was not rolled back"
    );
}

#[test]
fn a_file_that_does_not_mention_a_network_leaves_its_table_alone() {
    if !enter_private_netns("a_file_that_does_not_mention_a_network_leaves_its_table_alone") {
        return;
    }
    run_ops(&[veth("e1", "e1p")]);
    let h = Hostnet::new();
    // Two files, two networks on one device: a static one, then a DHCP one.
    let one = "networks:\n- {name: mgmt, uplink: e1, bridged: false, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, source-routing: {table: 100}}\n";
    let two = "networks:\n- {name: lan, uplink: e1, bridged: false, ipv4: {dhcp: true}, source-routing: {table: 200}}\n";
    let o = h.run(&["apply", "-"], one);
    assert!(o.status.success(), "{}", text(&o));
    let table_100 = |s: &hostnet::netdev::KernelState| {
        (
            s.routes.iter().filter(|r| r.table == 100).count(),
            s.rules.iter().filter(|r| r.table == 100).count(),
        )
    };
    let query = || {
        hostnet::netdev::linux::LinuxDriver::new()
            .and_then(|mut d| hostnet::netdev::Driver::query(&mut d))
            .expect("query")
    };
    // The default route and the on-link route; the `from SUBNET` rule.
    assert_eq!(table_100(&query()), (2, 1));
    let o = h.run(&["apply", "-"], two);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        table_100(&query()),
        (2, 1),
        "the second file took over mgmt's table"
    );
    // And a file that would use mgmt's table for another network is refused.
    let three = "networks:\n- {name: other, ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}, source-routing: {table: 100}}\n";
    let o = h.run(&["apply", "-"], three);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("table 100 of network other is the table of network mgmt, applied earlier"),
        "{}",
        text(&o)
    );
}

/// A rollback touches what the apply touched: a macvtap a VMM made on the uplink after
/// the apply (whose MTU the apply changed) stays.
#[test]
fn rollback_keeps_a_macvtap_made_after_the_apply_on_a_link_it_changed() {
    use hostnet::netdev::{LinkKind, MacVlanMode, MacVlanOptions, NewLink, Op};
    let Some(h) = setup("rollback_keeps_a_macvtap_made_after_the_apply_on_a_link_it_changed")
    else {
        return;
    };
    let o = h.run(
        &["apply", "--confirm-timeout", "120", "-"],
        "interfaces: [{name: up-blue, type: veth, mtu: 1400}]",
    );
    assert!(o.status.success(), "{}", text(&o));
    run_ops(&[Op::CreateLink(NewLink {
        name: "macvtap7".into(),
        kind: LinkKind::MacVtap(MacVlanOptions {
            base: Some("up-blue".into()),
            mode: MacVlanMode::Bridge,
            promiscuous: true,
        }),
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: None,
    })]);
    let o = h.run(&["rollback"], "");
    assert!(o.status.success(), "{}", text(&o));
    let s = common::peer::query();
    assert_eq!(s.links["up-blue"].mtu, 1500);
    assert!(
        s.links.contains_key("macvtap7"),
        "the VMM's macvtap was deleted"
    );
}
