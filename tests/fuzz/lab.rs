//! The fuzz sandbox: a host namespace where hostnet runs, with three NICs into routers
//! `r0`..`r2` and two guest ports into guests `g0`, `g1`, all wired by the test.
//!
//! Every router has the gateway address (`.1`, `::1`) of every subnet the generator uses
//! on its side, and the "remote" addresses [`REMOTE4`]/[`REMOTE6`] on its loopback; a UDP
//! echo server on each answers with the router's name, so a check can tell which
//! gateway a packet left through. Guests have `.5` of their network's first subnet and
//! a default route via `.1`. Duplicate address detection is off everywhere (addresses
//! are usable at once) and the host forwards IPv4.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, KernelState};
use hostnet::sandbox::{addr, route_via, Sandbox, SandboxError};

use super::gen::{self, Effective, GUEST_PORTS, NETS, NICS};

pub const REMOTE4: &str = "203.0.113.99";
pub const REMOTE6: &str = "2001:db8:ff::99";
pub const ECHO_PORT: u16 = 7;
/// OVSDB is not namespaced: hostnet must never reach the machine's own.
const NO_OVSDB: &str = "unix:/nonexistent/hostnet-tests/no-ovsdb.sock";

fn check<T>(what: &str, r: Result<T, SandboxError>) -> T {
    r.unwrap_or_else(|e| panic!("fuzz lab: {what}: {}", hostnet::error_chain(&e)))
}

pub struct Lab {
    pub sb: Sandbox,
    dir: tempfile::TempDir,
    stop: Arc<AtomicBool>,
    servers: Vec<std::thread::JoinHandle<()>>,
}

impl Lab {
    pub fn new(tag: &str) -> Lab {
        let mut sb = Sandbox::new(&format!("hz{}{tag}", std::process::id()));
        for role in ["host", "r0", "r1", "r2", "g0", "g1"] {
            check(role, sb.add(role));
            for conf in ["all", "default"] {
                let key = format!("net.ipv6.conf.{conf}.accept_dad");
                check("accept_dad", sb.sysctl(role, &key, "0"));
            }
        }
        check("ip_forward", sb.sysctl("host", "net.ipv4.ip_forward", "1"));
        let stop = Arc::new(AtomicBool::new(false));
        let mut servers = Vec::new();
        for (k, nic) in NICS.iter().enumerate() {
            let r = format!("r{k}");
            check("wire router", sb.wire("host", nic, &r, "up0"));
            let mut ops = vec![
                addr("lo", &format!("{REMOTE4}/32")).expect("addr"),
                addr("lo", &format!("{REMOTE6}/128")).expect("addr"),
            ];
            let mut echo_at: Vec<IpAddr> = vec![
                REMOTE4.parse().expect("addr"),
                REMOTE6.parse().expect("addr"),
            ];
            for i in 0..3 {
                for s in 0..3u8 {
                    let a4 = gen::v4(i, (s, 1));
                    let a6 = gen::v6(i, (s, 1));
                    echo_at.push(gen::ip_of(&a4).parse().expect("addr"));
                    ops.push(addr("up0", &a4).expect("addr"));
                    ops.push(addr("up0", &a6).expect("addr"));
                }
            }
            check("router addresses", sb.ops(&r, &ops));
            for at in echo_at {
                servers.push(echo_server(&sb, &r, at, stop.clone()));
            }
        }
        for (g, port) in GUEST_PORTS.iter().enumerate() {
            let role = format!("g{g}");
            check("wire guest", sb.wire("host", port, &role, "eth0"));
            let i = 3 + g;
            let gw4 = gen::ip_of(&gen::v4(i, (0, 1))).to_string();
            let gw6 = gen::ip_of(&gen::v6(i, (0, 1))).to_string();
            let ops = [
                addr("eth0", &gen::v4(i, (0, 5))).expect("addr"),
                addr("eth0", &gen::v6(i, (0, 5))).expect("addr"),
                route_via("0.0.0.0/0", &gw4).expect("route"),
                route_via("::/0", &gw6).expect("route"),
            ];
            check("guest", sb.ops(&role, &ops));
        }
        Lab {
            sb,
            dir: tempfile::tempdir().expect("tempdir"),
            stop,
            servers,
        }
    }

    pub fn netns(&self) -> String {
        self.sb.netns("host")
    }

    fn path(&self, sub: &str) -> std::path::PathBuf {
        self.dir.path().join(sub)
    }

    /// The environment hostnet runs with: private state directories, no OVSDB.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("HOSTNET_STATE_DIR", self.path("run")),
            ("HOSTNET_LIB_DIR", self.path("lib")),
            ("HOSTNET_DNSMASQ_DIR", self.path("dnsmasq")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.display().to_string()))
        .chain([("HOSTNET_OVSDB".to_string(), NO_OVSDB.to_string())])
        .collect()
    }

    /// `hostnet ARGS --netns HOST` with `stdin`.
    pub fn hostnet(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let ns = self.netns();
        let mut c = Command::new(env!("CARGO_BIN_EXE_hostnet"));
        c.args(args)
            .args(["--netns", &ns])
            .envs(self.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn hostnet");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("hostnet runs")
    }

    /// The host's state as hostnet's own driver reads it (firewall included).
    pub fn query(&self) -> Result<KernelState, String> {
        let dir = self.path("dnsmasq");
        self.sb
            .run_in("host", move || {
                // Servers live under the namespace's own key, as `hostnet` keeps them.
                let id = hostnet::netdev::netns_id::NetnsId::current().map_err(|e| {
                    SandboxError::Other {
                        ns: "host".into(),
                        message: e.to_string(),
                    }
                })?;
                let dir = match id {
                    hostnet::netdev::netns_id::NetnsId::Host => dir,
                    _ => dir.join(id.key()),
                };
                let mut d = LinuxDriver::new()
                    .map_err(|e| SandboxError::Other {
                        ns: "host".into(),
                        message: e.to_string(),
                    })?
                    .with_dhcp_server_dir(dir);
                d.consider_ovs(false);
                d.consider_firewall(true);
                d.query().map_err(|e| SandboxError::Other {
                    ns: "host".into(),
                    message: hostnet::error_chain(&e),
                })
            })
            .map_err(|e| hostnet::error_chain(&e))
    }

    /// Routes in each router back to the guest subnets, through the host's address on
    /// that router's segment (forwarded, not NAT'd, guest traffic needs them).
    pub fn route_guests_back(&self, eff: &Effective) {
        for k in 0..3 {
            let via = (0..3)
                .filter_map(|i| eff.nets[i].as_ref().map(|n| (i, n)))
                .find(|(_, n)| n.uplink == k)
                .and_then(|(i, n)| {
                    n.v4.first()
                        .map(|a| gen::ip_of(&gen::v4(i, *a)).to_string())
                });
            let ns = self.sb.netns(&format!("r{k}"));
            let _ = Command::new("ip")
                .args(["-n", &ns, "route", "del", "10.200.0.0/15"])
                .stderr(Stdio::null())
                .status();
            if let Some(via) = via {
                let st = Command::new("ip")
                    .args(["-n", &ns, "route", "replace", "10.200.0.0/15", "via", &via])
                    .status()
                    .expect("ip runs");
                assert!(st.success(), "route back to the guests in r{k} via {via}");
            }
        }
    }

    /// Sends UDP datagrams from `role` (bound to `src`, if given) to `dst` until one is
    /// answered; the answering router's name, or `None`.
    pub fn echo(&self, role: &str, src: Option<IpAddr>, dst: IpAddr) -> Option<String> {
        let dst = SocketAddr::new(dst, ECHO_PORT);
        self.sb
            .run_in(role, move || {
                let bind = match src {
                    Some(a) => SocketAddr::new(a, 0),
                    None if dst.is_ipv4() => "0.0.0.0:0".parse().expect("addr"),
                    None => "[::]:0".parse().expect("addr"),
                };
                let sock = UdpSocket::bind(bind).map_err(|e| SandboxError::Other {
                    ns: role.into(),
                    message: format!("bind {bind}: {e}"),
                })?;
                let _ = sock.set_read_timeout(Some(Duration::from_millis(250)));
                let mut buf = [0u8; 64];
                for i in 0..12u8 {
                    if sock.send_to(&[i], dst).is_err() {
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                    if let Ok((n, from)) = sock.recv_from(&mut buf) {
                        if from == dst {
                            return Ok(Some(String::from_utf8_lossy(&buf[..n]).into_owned()));
                        }
                    }
                }
                Ok(None)
            })
            .unwrap_or(None)
    }

    /// Removes every network (stopping their DHCP servers) before the namespaces go.
    fn teardown(&self) {
        let yaml: String = NETS
            .iter()
            .map(|n| format!("  - {{name: {n}, state: absent}}\n"))
            .collect();
        let _ = self.hostnet(&["apply", "-"], Some(&format!("networks:\n{yaml}")));
        kill_dnsmasq(&self.path("dnsmasq"));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.teardown();
        self.stop.store(true, Ordering::Relaxed);
        for s in self.servers.drain(..) {
            let _ = s.join();
        }
    }
}

/// A UDP echo server on `at` in `role` that answers with the role's name.
fn echo_server(
    sb: &Sandbox,
    role: &str,
    at: IpAddr,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    let sock = check(
        "echo server",
        sb.run_in(role, || {
            UdpSocket::bind(SocketAddr::new(at, ECHO_PORT)).map_err(|e| SandboxError::Other {
                ns: role.into(),
                message: format!("bind {at}: {e}"),
            })
        }),
    );
    let name = role.to_string();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((_, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(name.as_bytes(), from);
            }
        }
    })
}

/// Kills the dnsmasq processes whose PID files are under `dir` (a teardown that failed
/// must not leave them running).
fn kill_dnsmasq(dir: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    // One directory per server, under one per namespace (`netns.NAME/NET/`).
    let dirs = entries.flatten().flat_map(|e| {
        let inner: Vec<_> = std::fs::read_dir(e.path())
            .into_iter()
            .flatten()
            .flatten()
            .map(|f| f.path())
            .filter(|p| p.is_dir())
            .collect();
        std::iter::once(e.path()).chain(inner)
    });
    for d in dirs {
        let Ok(files) = std::fs::read_dir(&d) else {
            continue;
        };
        for f in files.flatten() {
            if !f.file_name().to_string_lossy().ends_with("pid") {
                continue;
            }
            let Some(pid) = std::fs::read_to_string(f.path())
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            else {
                continue;
            };
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmd).contains("dnsmasq") {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }
}
