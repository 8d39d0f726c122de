//! The machine a persisted configuration boots on: a network namespace whose "NICs" are
//! veth ends, each wired to a router namespace of its own that holds the gateway
//! addresses. Two are built from one description: one boots the files with the real
//! consumer, its twin gets `hostnet apply` of the same YAML file, and their kernel states
//! are compared.

use std::collections::BTreeSet;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{
    Address, Driver, KernelState, LinkKind, NewLink, Op, PeerSettings, Route, Rule,
};

use crate::common::peer::{move_to, Peer};
use crate::common::{run_ops, text, NO_OVSDB};

/// A NIC of the sandbox: its name in the host namespace and the addresses of the router
/// at its other end.
pub struct Nic {
    pub name: &'static str,
    pub router: &'static [&'static str],
    /// Whether its cable is in: the router's end is up (else the NIC has no carrier).
    pub carrier: bool,
}

/// One host of the sandbox with its routers, and its own hostnet record directories.
pub struct Host {
    pub ns: Peer,
    _routers: Vec<Peer>,
    records: tempfile::TempDir,
    lib: PathBuf,
}

impl Host {
    /// A namespace with `lo` up and every NIC present but down (as at boot, before the
    /// network stack runs), each router with its addresses (and its end up where the NIC
    /// has carrier).
    pub fn new(nics: &[Nic]) -> Host {
        let records = tempfile::tempdir().expect("tempdir");
        let lib = records.path().join("lib");
        Host::with_lib(nics, records, lib)
    }

    /// [`Host::new`] whose persistent directory (`/var/lib/hostnet`) is `lib`: the one
    /// `hostnet persist --root` wrote its records under, as on a host booted from them.
    pub fn booting(nics: &[Nic], lib: PathBuf) -> Host {
        Host::with_lib(nics, tempfile::tempdir().expect("tempdir"), lib)
    }

    fn with_lib(nics: &[Nic], records: tempfile::TempDir, lib: PathBuf) -> Host {
        let ns = Peer::new();
        let mut routers = Vec::new();
        for (i, nic) in nics.iter().enumerate() {
            let router = Peer::new();
            let far = format!("rt{i}");
            ns.run(|| {
                run_ops(&[Op::CreateLink(NewLink {
                    name: nic.name.into(),
                    kind: LinkKind::Veth {
                        peer: Some(far.clone()),
                    },
                    up: false,
                    mtu: None,
                    mac: None,
                    controller: None,
                    peer: Some(PeerSettings::default()),
                })]);
                move_to(&router, &far);
            });
            if !nic.carrier {
                router.run(|| {
                    run_ops(&[Op::ChangeLink {
                        name: far.clone(),
                        change: hostnet::netdev::LinkChange {
                            up: Some(false),
                            ..Default::default()
                        },
                    }])
                });
            }
            let addrs: Vec<Op> = nic
                .router
                .iter()
                .map(|a| {
                    Op::AddAddress(Address {
                        ifname: far.clone(),
                        addr: a.parse().expect("router address"),
                        dynamic: false,
                    })
                })
                .collect();
            router.run(|| run_ops(&addrs));
            routers.push(router);
        }
        Host {
            ns,
            _routers: routers,
            records,
            lib,
        }
    }

    /// Runs `f` on a thread inside the host namespace.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.ns.run(f)
    }

    /// The kernel state of the host namespace.
    pub fn query(&self) -> KernelState {
        self.run(|| {
            let mut s = LinuxDriver::new().expect("netlink").query().expect("query");
            s.normalize();
            s
        })
    }

    /// The interface index of `name`, if it exists.
    pub fn ifindex(&self, name: &str) -> Option<u32> {
        self.run(|| nix::net::if_::if_nametoindex(name).ok())
    }

    /// hostnet's persistent directory for this host (`HOSTNET_LIB_DIR`).
    pub fn lib_dir(&self) -> PathBuf {
        self.lib.clone()
    }

    /// Runs the hostnet binary in the host namespace, with record directories of this
    /// host's own.
    pub fn hostnet(&self, args: &[&str]) -> Output {
        let state = self.records.path().join("state");
        let lib = self.lib_dir();
        self.run(|| {
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostnet"));
            cmd.args(args)
                .env("HOSTNET_OVSDB", NO_OVSDB)
                .env("HOSTNET_STATE_DIR", &state)
                .env("HOSTNET_LIB_DIR", &lib);
            output_within(&mut cmd, RUN_LIMIT)
        })
    }

    /// [`Host::hostnet`], which must succeed.
    pub fn hostnet_ok(&self, args: &[&str]) -> String {
        let o = self.hostnet(args);
        assert!(o.status.success(), "hostnet {args:?}: {}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// Records `yaml` as the committed state of this namespace, as `apply` (or `commit`)
    /// did before the reboot: what `hostnet restore` applies at boot.
    pub fn commit(&self, yaml: &str) {
        let lib = self.lib_dir();
        let state = self.records.path().join("state");
        let path = self.run(|| {
            hostnet::engine::records::committed_path(&lib, &state).expect("committed path")
        });
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, yaml).expect("write the committed state");
    }
}

/// What the comparison of two hosts looks at, one line per object: links (kind, state,
/// MTU, bridge), addresses, routes of every table and rules. MAC addresses are left
/// out (a bridge networkd creates takes one derived from the machine id, one `apply`
/// creates its uplink's), and so are link-local addresses and routes (they follow the
/// MAC).
pub fn picture(s: &KernelState) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for l in s.links.values() {
        out.insert(format!(
            "link {} {} {} mtu {} master {}",
            l.name,
            l.kind.type_name(),
            if l.up { "up" } else { "down" },
            l.mtu,
            l.controller.as_deref().unwrap_or("-")
        ));
    }
    for a in &s.addresses {
        out.insert(format!("address {} {}", a.ifname, a.addr));
    }
    let link_local = |r: &Route| matches!(r.destination.addr(), std::net::IpAddr::V6(a) if (a.segments()[0] & 0xffc0) == 0xfe80);
    for r in s.routes.iter().filter(|r| !link_local(r)) {
        out.insert(route_line(r));
    }
    for r in &s.opaque_routes {
        out.insert(format!("opaque {r}"));
    }
    for r in &s.rules {
        out.insert(rule_line(r));
    }
    for r in &s.opaque_rules {
        out.insert(format!("opaque {r}"));
    }
    out
}

/// The lines of `routes` and `rules`, as [`picture`] writes them.
pub fn lines_of(routes: &[Route], rules: &[Rule]) -> BTreeSet<String> {
    routes
        .iter()
        .map(route_line)
        .chain(rules.iter().map(rule_line))
        .collect()
}

/// A route with its protocol always written: `ip`'s text leaves out hostnet's (201) and
/// `static`, and a copy the planner does not recognize as hostnet's must show.
fn route_line(r: &Route) -> String {
    format!("{r} (protocol {})", r.protocol)
}

/// A rule with its protocol always written, as [`route_line`].
fn rule_line(r: &Rule) -> String {
    format!("{r} (protocol {})", r.protocol)
}

/// Panics with both sides' extra lines unless `got` equals `want`.
pub fn assert_same(what: &str, got: &BTreeSet<String>, want: &BTreeSet<String>) {
    let missing: Vec<&String> = want.difference(got).collect();
    let extra: Vec<&String> = got.difference(want).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what}:\n  missing (the twin `apply` built has them):\n    {}\n  extra (only here):\n    {}",
        missing
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n    "),
        extra
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n    ")
    );
}

/// The directory this test's helper scripts live in.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/persist_boot")
        .join(name)
}

/// How long one program run of a boot test may take (`ifup -a`, `netplan generate`,
/// `nmcli`, `hostnet`) on a loaded machine before the test fails instead of hanging CI.
pub const RUN_LIMIT: Duration = Duration::from_secs(180);

/// `cmd.output()`, bounded: its output goes to files while it runs, and after `limit` it
/// is killed (by its PID) and the test fails with what it said so far.
pub fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let out = tempfile::tempfile().expect("output file");
    let err = tempfile::tempfile().expect("output file");
    cmd.stdin(Stdio::null())
        .stdout(out.try_clone().expect("output file"))
        .stderr(err.try_clone().expect("output file"));
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let read = |mut f: std::fs::File| {
        let mut v = Vec::new();
        f.seek(SeekFrom::Start(0)).expect("seek");
        f.read_to_end(&mut v).expect("read the output");
        v
    };
    let (stdout, stderr) = (read(out), read(err));
    let Some(status) = status else {
        panic!(
            "{cmd:?} still running after {limit:?}, killed:\n{}{}",
            String::from_utf8_lossy(&stdout),
            String::from_utf8_lossy(&stderr)
        );
    };
    Output {
        status,
        stdout,
        stderr,
    }
}
