//! The firewall lab: a host namespace where hostnet runs, an "internet" namespace behind
//! its uplink, and one guest namespace per network behind the network's bridge. Traffic
//! is real TCP between them, to addresses assigned here.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hostnet::sandbox::{addr, route_via, Sandbox, SandboxError};

/// One test per backend variant of `scenario(tag, variant)`, in a module `name`
/// (`name::nftables`, `name::iptables_nft`, `name::iptables_legacy`), so every scenario
/// runs on all three the same way.
#[allow(unused_macros)]
macro_rules! every_backend {
    ($name:ident, $scenario:ident) => {
        mod $name {
            use crate::lab::Variant;

            #[test]
            fn nftables() {
                super::$scenario("n", Variant::Nftables);
            }

            #[test]
            fn iptables_nft() {
                super::$scenario("i", Variant::IptablesNft);
            }

            #[test]
            fn iptables_legacy() {
                super::$scenario("l", Variant::IptablesLegacy);
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use every_backend;

/// Which backend (and iptables variant) a run uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    Nftables,
    IptablesNft,
    IptablesLegacy,
}

impl Variant {
    pub fn backend(self) -> &'static str {
        match self {
            Variant::Nftables => "nftables",
            _ => "iptables",
        }
    }

    /// `HOSTNET_IPTABLES` for hostnet.
    pub fn env(self) -> &'static str {
        match self {
            Variant::IptablesLegacy => "legacy",
            _ => "nft",
        }
    }

    /// The programs this variant needs.
    pub fn tools(self) -> &'static [&'static str] {
        match self {
            Variant::Nftables => &["nft", "conntrack"],
            Variant::IptablesNft => &["iptables-nft-restore", "ip6tables-nft-restore", "conntrack"],
            Variant::IptablesLegacy => &[
                "iptables-legacy-restore",
                "ip6tables-legacy-restore",
                "conntrack",
            ],
        }
    }

    /// The save program of the variant (IPv4).
    pub fn save(self) -> &'static str {
        match self {
            Variant::IptablesLegacy => "iptables-legacy-save",
            _ => "iptables-nft-save",
        }
    }

    /// The rule-editing program of the variant (IPv4), for tests that play the host's
    /// admin or another tool.
    pub fn iptables(self) -> String {
        self.save().replace("-save", "")
    }
}

/// Every network the lab's documents declare, removed: a teardown.
pub const TEARDOWN: &str = "
networks:
  - {name: tenant1, state: absent}
  - {name: tenant2, state: absent}
  - {name: tenant3, state: absent}
";

/// The address a server saw its peer at, as text, for comparing exchanges.
pub fn ip(peer: Option<SocketAddr>) -> Option<String> {
    peer.map(|p| p.ip().to_string())
}

fn installed(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// True when the test can run here; prints `SKIP` (or fails under CI) otherwise.
pub fn may_run(test: &str, tools: &[&str]) -> bool {
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root".to_string())
    } else {
        tools
            .iter()
            .find(|t| !installed(t))
            .map(|t| format!("needs {t} (apt-get install nftables iptables conntrack)"))
    };
    match why {
        None => true,
        Some(why) => {
            if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
                panic!("{test}: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
            }
            eprintln!("SKIP {test}: {why}");
            false
        }
    }
}

/// The namespaces and hostnet's state directories of one run.
pub struct Lab {
    pub sb: Sandbox,
    pub variant: Variant,
    state: tempfile::TempDir,
    lib: tempfile::TempDir,
}

pub const GUESTS: [(&str, &str); 3] = [("g1", "10.10.0"), ("g2", "10.20.0"), ("g3", "10.30.0")];

/// The IPv6 twin of an IPv4 guest subnet: 10.20.0 and host 5 → fd00:20::5/64.
pub fn v6(net: &str, host: u8) -> String {
    let n = net.split('.').nth(1).unwrap_or("0");
    format!("fd00:{n}::{host}/64")
}

fn check<T>(what: &str, r: Result<T, SandboxError>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {}", hostnet::error_chain(&e)))
}

impl Lab {
    /// host ─uplink0/eth0─ inet (198.51.100.0/24; no route back to the guests), and
    /// guests g1..g3 (10.N0.0.5/24, default via .1) wired to host's g1h..g3h.
    pub fn new(tag: &str, variant: Variant) -> Lab {
        let mut sb = Sandbox::new(&format!("hnfw{tag}{}", std::process::id()));
        for role in ["host", "inet", "g1", "g2", "g3", "g4"] {
            check(role, sb.add(role));
            // IPv6 addresses usable at once (no duplicate address detection to wait for).
            for conf in ["all", "default"] {
                check(
                    "accept_dad",
                    sb.sysctl(role, &format!("net.ipv6.conf.{conf}.accept_dad"), "0"),
                );
            }
        }
        check("wire inet", sb.wire("host", "uplink0", "inet", "eth0"));
        for (role, dev, n) in [("host", "uplink0", 1), ("inet", "eth0", 2)] {
            let v4 = format!("198.51.100.{n}/24");
            let v6 = format!("2001:db8:100::{n}/64");
            let ops = [addr(dev, &v4).expect("addr"), addr(dev, &v6).expect("addr")];
            check("addresses", sb.ops(role, &ops));
        }
        for (g, net) in GUESTS {
            check("wire guest", sb.wire("host", &format!("{g}h"), g, "eth0"));
            check(
                "guest",
                sb.ops(
                    g,
                    &[
                        addr("eth0", &format!("{net}.5/24")).expect("addr"),
                        route_via("0.0.0.0/0", &format!("{net}.1")).expect("route"),
                        addr("eth0", &v6(net, 5)).expect("addr"),
                        route_via("::/0", v6(net, 1).trim_end_matches("/64")).expect("route"),
                    ],
                ),
            );
        }
        // g4: a second guest of tenant1's subnet, for hairpin (its port joins tenant1's
        // bridge once the bridge exists: see `Lab::second_guest`).
        check("wire guest", sb.wire("host", "g4h", "g4", "eth0"));
        check(
            "guest",
            sb.ops(
                "g4",
                &[
                    addr("eth0", "10.10.0.6/24").expect("addr"),
                    route_via("0.0.0.0/0", "10.10.0.1").expect("route"),
                ],
            ),
        );
        Lab {
            sb,
            variant,
            state: tempfile::tempdir().expect("tempdir"),
            lib: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Puts g4's port into tenant1's bridge (a guest that joined after the apply).
    pub fn second_guest(&self) {
        let op = hostnet::netdev::Op::ChangeLink {
            name: "g4h".into(),
            change: hostnet::netdev::LinkChange {
                controller: Some(Some("tenant1".into())),
                ..hostnet::netdev::LinkChange::default()
            },
        };
        check("g4h into tenant1", self.sb.ops("host", &[op]));
    }

    /// The lab's runtime state directory (`HOSTNET_STATE_DIR`).
    #[allow(dead_code)]
    pub fn state_dir(&self) -> &std::path::Path {
        self.state.path()
    }

    /// `hostnet ARGS` in the host namespace with the lab's state directories.
    pub fn hostnet(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let ns = self.sb.netns("host");
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--netns", &ns]);
        self.hostnet_env(&full, stdin, &[])
    }

    /// `hostnet ARGS` that must succeed; its stdout.
    pub fn hostnet_ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.hostnet(args, stdin);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// `hostnet apply` of `yaml`, which must succeed; its stdout.
    pub fn apply(&self, yaml: &str) -> String {
        self.hostnet_ok(&["apply", "-"], Some(yaml))
    }

    /// Applies `yaml` again and checks that nothing was left to change (what the first
    /// apply wrote is what the re-plan reads back).
    pub fn assert_converged(&self, yaml: &str) {
        let again = self.apply(yaml);
        assert!(again.contains("Nothing to change"), "{again}");
    }

    /// What `show` and `show --firewall` report (JSON), to compare a state with a
    /// later one.
    pub fn snapshot(&self) -> (String, String) {
        let a = self.hostnet(&["show", "-o", "json"], None);
        let f = self.hostnet(&["show", "--firewall", "-o", "json"], None);
        assert!(a.status.success(), "{}", text(&a));
        assert!(f.status.success(), "{}", text(&f));
        (
            String::from_utf8_lossy(&a.stdout).into_owned(),
            String::from_utf8_lossy(&f.stdout).into_owned(),
        )
    }

    pub fn hostnet_env(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hostnet"));
        c.args(args)
            .env("HOSTNET_STATE_DIR", self.state.path())
            .env("HOSTNET_LIB_DIR", self.lib.path())
            .env("HOSTNET_IPTABLES", self.variant.env())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().expect("spawn hostnet");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
        drop(input);
        child.wait_with_output().expect("hostnet runs")
    }

    /// Runs a program in `role`'s namespace; its stdout.
    pub fn run(&self, role: &str, program: &str, args: &[&str]) -> String {
        let out = check(
            program,
            self.sb.run_in(role, || {
                Command::new(program)
                    .args(args)
                    .output()
                    .map_err(|e| SandboxError::Other {
                        ns: role.into(),
                        message: e.to_string(),
                    })
            }),
        );
        assert!(
            out.status.success(),
            "{program} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A TCP listener in `role`'s namespace (a socket stays in the namespace it was made
    /// in, whichever thread uses it later).
    pub fn listen(&self, role: &str, at: &str) -> TcpListener {
        let at: SocketAddr = at.parse().expect("socket address");
        check(
            "listen",
            self.sb.run_in(role, || {
                TcpListener::bind(at).map_err(|e| SandboxError::Other {
                    ns: role.into(),
                    message: format!("bind {at}: {e}"),
                })
            }),
        )
    }

    /// Connects from `client` to `dst`, sends "ping", expects "pong" from `server`.
    /// Returns the peer address the server saw, or `None` when no exchange happened.
    pub fn exchange(&self, client: &str, server: &TcpListener, dst: &str) -> Option<SocketAddr> {
        let dst: SocketAddr = dst.parse().expect("socket address");
        server.set_nonblocking(true).expect("nonblocking");
        std::thread::scope(|s| {
            let accept = s.spawn(|| {
                let deadline = Instant::now() + Duration::from_secs(2);
                while Instant::now() < deadline {
                    match server.accept() {
                        Ok((mut c, peer)) => {
                            let _ = c.set_nonblocking(false);
                            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
                            let mut buf = [0u8; 4];
                            if c.read_exact(&mut buf).is_ok() && &buf == b"ping" {
                                let _ = c.write_all(b"pong");
                                return Some(peer);
                            }
                            return None;
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
                None
            });
            let replied = self
                .sb
                .run_in(client, || {
                    let ok = (|| -> std::io::Result<bool> {
                        let mut c = TcpStream::connect_timeout(&dst, Duration::from_millis(1500))?;
                        c.set_read_timeout(Some(Duration::from_secs(2)))?;
                        c.write_all(b"ping")?;
                        let mut buf = [0u8; 4];
                        c.read_exact(&mut buf)?;
                        Ok(&buf == b"pong")
                    })();
                    Ok(ok.unwrap_or(false))
                })
                .unwrap_or(false);
            let peer = accept.join().ok().flatten();
            if replied {
                peer
            } else {
                None
            }
        })
    }

    /// Asserts that `client` reaches `server` at `dst` and the server sees it coming
    /// from `seen` (what translation happened on the way).
    pub fn assert_seen_as(
        &self,
        client: &str,
        server: &TcpListener,
        dst: &str,
        seen: &str,
        what: &str,
    ) {
        assert_eq!(
            ip(self.exchange(client, server, dst)),
            Some(seen.to_string()),
            "{client} -> {dst}: {what}"
        );
    }

    /// Asserts that `client` reaches `server` at `dst`, from whatever address.
    pub fn assert_reaches(&self, client: &str, server: &TcpListener, dst: &str, what: &str) {
        assert!(
            self.exchange(client, server, dst).is_some(),
            "{client} -> {dst}: {what}"
        );
    }

    /// Asserts that no exchange from `client` to `server` at `dst` happens.
    pub fn assert_blocked(&self, client: &str, server: &TcpListener, dst: &str, what: &str) {
        assert_eq!(
            self.exchange(client, server, dst),
            None,
            "{client} -> {dst}: {what}"
        );
    }

    /// The rules in the host namespace without their counters, which traffic still in
    /// flight moves; with nft's rule handles, so a rule rewritten to the same text shows.
    pub fn rules(&self) -> String {
        no_counters(&match self.variant {
            Variant::Nftables => self.run("host", "nft", &["-a", "list", "ruleset"]),
            _ => self.ruleset(),
        })
    }

    /// Our firewall as the tool shows it, in the host namespace.
    pub fn ruleset(&self) -> String {
        match self.variant {
            Variant::Nftables => self.run("host", "nft", &["list", "ruleset"]),
            v => {
                let v6 = v.save().replacen("iptables", "ip6tables", 1);
                strip_comments(&(self.run("host", v.save(), &[]) + &self.run("host", &v6, &[])))
            }
        }
    }
}

/// Counters are traffic, not rules: an `iptables-save` chain's `[packets:bytes]` becomes
/// `[0:0]`, and an nft `counter packets P bytes B` counts 0.
pub fn no_counters(s: &str) -> String {
    s.lines()
        .map(|l| match (l.starts_with(':'), l.rfind(" [")) {
            (true, Some(i)) => format!("{} [0:0]\n", &l[..i]),
            _ => {
                let mut prev = "";
                let words: Vec<&str> = l
                    .split(' ')
                    .map(|w| {
                        let w2 = if prev == "packets" || prev == "bytes" {
                            "0"
                        } else {
                            w
                        };
                        prev = w;
                        w2
                    })
                    .collect();
                format!("{}\n", words.join(" "))
            }
        })
        .collect()
}

/// `iptables-save` output without its timestamp comments.
pub fn strip_comments(s: &str) -> String {
    s.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect()
}

pub fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
