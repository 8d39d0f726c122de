//! Shared setup of the kernel tests: every test runs in a network namespace of its own.
#![allow(dead_code)]

pub mod cli;
pub mod ovs;
pub mod peer;

use std::process::{Command, Output};

use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, LinkChange, LinkKind, NewLink, Op, PeerSettings};

/// Moves the calling test thread into a fresh network namespace with `lo` up. Returns
/// false (after printing why) when the test cannot run here; with
/// `HOSTNET_REQUIRE_KERNEL_TESTS=1` (CI) that is a failure instead.
pub fn enter_private_netns(test: &str) -> bool {
    no_host_ovsdb();
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)".to_string())
    } else if let Err(e) = nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET) {
        Some(format!("cannot create a network namespace: {e}"))
    } else {
        None
    };
    if let Some(why) = why {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("{test}: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP {test}: {why}");
        return false;
    }
    run_ops(&[Op::ChangeLink {
        name: "lo".into(),
        change: LinkChange {
            up: Some(true),
            ..LinkChange::default()
        },
    }]);
    true
}

/// OVSDB is not namespaced: no kernel test may read or change the machine's own. Tests of
/// Open vSwitch pass their private daemon's database explicitly (`with_ovs`, or
/// `HOSTNET_OVSDB` on the command they spawn).
pub const NO_OVSDB: &str = "unix:/nonexistent/hostnet-tests/no-ovsdb.sock";

fn no_host_ovsdb() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("HOSTNET_OVSDB", NO_OVSDB));
}

/// Runs ops in the current namespace, panicking on any failure.
pub fn run_ops(ops: &[Op]) {
    let mut d = LinuxDriver::new().expect("netlink");
    for (op, r) in ops.iter().zip(d.execute(ops)) {
        r.unwrap_or_else(|e| panic!("{op}: {e}"));
    }
}

/// A veth pair, both ends up: stands in for a NIC (this kernel has no dummy devices).
pub fn veth(name: &str, peer: &str) -> Op {
    Op::CreateLink(NewLink {
        name: name.into(),
        kind: LinkKind::Veth {
            peer: Some(peer.into()),
        },
        up: true,
        mtu: None,
        mac: None,
        controller: None,
        peer: Some(PeerSettings {
            up: true,
            ..PeerSettings::default()
        }),
    })
}

/// Runs the hostnet binary in the calling thread's namespace.
pub fn hostnet(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostnet"));
    cmd.args(args)
        .env("HOSTNET_OVSDB", NO_OVSDB)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn hostnet");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    } else {
        drop(child.stdin.take());
    }
    child.wait_with_output().expect("hostnet runs")
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `hostnet show -o json` of the current namespace.
pub fn show_json() -> String {
    let o = hostnet(&["show", "-o", "json"], None);
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `ChangeLink` that sets a link up.
pub fn up_op(name: &str) -> Op {
    Op::ChangeLink {
        name: name.into(),
        change: LinkChange {
            up: Some(true),
            ..LinkChange::default()
        },
    }
}
