//! A second network namespace for a test, held by a file descriptor (no `/run/netns`
//! entry, no external program), and UDP echoes between namespaces: real traffic that
//! needs nothing but the kernel, so it also runs in the bare VM of the real-kernel tier.

use std::fs::File;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::time::Duration;

use hostnet::engine::{self, ApplyError, ApplyOptions, Report};
use hostnet::expand::expand;
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, KernelState, LinkChange, Op};
use nix::sched::{setns, unshare, CloneFlags};

/// A network namespace that lives as long as this value.
pub struct Peer {
    ns: File,
}

impl Peer {
    /// A fresh namespace with `lo` up.
    pub fn new() -> Peer {
        let ns = std::thread::spawn(|| {
            unshare(CloneFlags::CLONE_NEWNET).expect("unshare a network namespace");
            File::open("/proc/thread-self/ns/net").expect("open the namespace")
        })
        .join()
        .expect("thread");
        let peer = Peer { ns };
        peer.run(|| {
            super::run_ops(&[Op::ChangeLink {
                name: "lo".into(),
                change: LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            }])
        });
        peer
    }

    /// The namespace, e.g. to move a link into it.
    pub fn fd(&self) -> &File {
        &self.ns
    }

    /// Runs `f` on a thread inside the namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        std::thread::scope(|s| {
            s.spawn(|| {
                setns(self.ns.as_fd(), CloneFlags::CLONE_NEWNET).expect("enter the namespace");
                f()
            })
            .join()
            .expect("thread in the peer namespace")
        })
    }
}

/// Moves `name` from the calling thread's namespace into `peer` and sets it up there.
pub fn move_to(peer: &Peer, name: &str) {
    let mut d = LinuxDriver::new().expect("netlink");
    d.query().expect("query");
    d.move_link_to_netns(name, peer.fd().as_fd())
        .expect("move the link");
    peer.run(|| super::run_ops(&[super::up_op(name)]));
}

/// Parses, validates, expands and applies `yaml` in the calling thread's namespace.
pub fn apply_yaml(yaml: &str) -> Result<Report, ApplyError> {
    let d = parse(yaml).expect("parses");
    validate(&d).unwrap_or_else(|e| panic!("invalid test input: {e}"));
    let intent = expand(&d).expect("expands");
    let mut driver = LinuxDriver::new().expect("netlink");
    engine::apply(&mut driver, &intent, ApplyOptions::default(), |_, _| Ok(()))
}

/// The plan `yaml` would need now (empty when the namespace is as the file says).
pub fn replan(yaml: &str) -> hostnet::plan::Plan {
    let d = parse(yaml).expect("parses");
    let intent = expand(&d).expect("expands");
    let state = query();
    hostnet::plan::plan(&state, &intent).expect("plans")
}

pub fn query() -> KernelState {
    LinuxDriver::new().expect("netlink").query().expect("query")
}

/// Starts a UDP echo server on `addr` in `peer`; it answers until `Duration` passes
/// without a datagram.
pub fn echo_server(peer: &Peer, addr: SocketAddr) -> std::thread::JoinHandle<()> {
    let sock = peer.run(|| UdpSocket::bind(addr).expect("bind the echo server"));
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n], from);
        }
    })
}

/// Sends datagrams from `src` (any address when `None`) to `dst` in the calling
/// thread's namespace until one comes back (neighbour resolution may eat the first).
pub fn echoes(src: Option<IpAddr>, dst: SocketAddr) -> bool {
    let bind = match src {
        Some(a) => SocketAddr::new(a, 0),
        None if dst.is_ipv4() => "0.0.0.0:0".parse().expect("addr"),
        None => "[::]:0".parse().expect("addr"),
    };
    let sock = UdpSocket::bind(bind).expect("bind the client");
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    // A loaded machine may take seconds to bring a new path up (neighbour resolution,
    // a port that just joined): probe until a deadline, not a count.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut i = 0u8;
    while std::time::Instant::now() < deadline {
        i = i.wrapping_add(1);
        if sock.send_to(&[i], dst).is_err() {
            std::thread::sleep(Duration::from_millis(100));
            continue;
        }
        if let Ok((_, from)) = sock.recv_from(&mut buf) {
            if from == dst {
                return true;
            }
        }
    }
    false
}
