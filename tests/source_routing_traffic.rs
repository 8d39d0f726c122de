//! The rule layout of source routing, proved with packets between namespaces.
//!
//! ```text
//!   [g-nat]  ─ gn-h ┐                  up-a ─ [ra] 198.51.100.1 ─ p-a ┐
//!   10.10.0.5       ├─ [host] ─────────                                ├─ [remote] 203.0.113.5
//!   [g-routed] gr-h ┘  (hostnet)       up-b ─ [rb] 192.0.2.1   ─ p-b ┘  198.18.1.5
//!   10.20.0.5, fd00:20::5                      198.18.0.5               2001:db8:ff::5
//! ```
//!
//! hostnet applies four networks to `host`: the uplinks wan-a (198.51.100.10/24,
//! 2001:db8:a::10/64, the host's default route) and wan-b (192.0.2.10/24,
//! 2001:db8:b::10/64), both bridgeless with a gateway; `natted` (10.10.0.0/24, masqueraded
//! out of up-a) and `routed` (10.20.0.0/24 and fd00:20::/64, routed: the remote and ra
//! route it back to the host). Which router carried a packet is read from its forwarding
//! counters. The host runs strict reverse-path filtering, as RHEL does by default.
mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hostnet::sandbox::{addr, route_via, Sandbox, SandboxError};

const NETWORKS: &str = r#"
networks:
  - name: wan-a
    uplink: up-a
    bridged: false
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
    ipv6: {address: ["2001:db8:a::10/64"], gateway: "2001:db8:a::1"}
    default-route: true
  - name: wan-b
    uplink: up-b
    bridged: false
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ["2001:db8:b::10/64"], gateway: "2001:db8:b::1"}
  - name: natted
    uplink: gn-h
    ipv4: {address: [10.10.0.1/24]}
    firewall: {masquerade: {out-interface: up-a}}
  - name: routed
    uplink: gr-h
    ipv4: {address: [10.20.0.1/24]}
    ipv6: {address: ["fd00:20::1/64"]}
routes:
  config:
    - {destination: 198.18.0.0/24, next-hop-address: 192.0.2.1, next-hop-interface: up-b}
"#;

const PORT: u16 = 7009;

fn check<T>(what: &str, r: Result<T, SandboxError>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {}", hostnet::error_chain(&e)))
}

fn may_run(test: &str) -> bool {
    let missing = ["nft", "ping", "ip"].into_iter().find(|t| {
        Command::new(t)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
    });
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root".to_string())
    } else {
        missing.map(|t| format!("needs {t} (apt-get install nftables iputils-ping iproute2)"))
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

/// Answers UDP datagrams on some addresses of one namespace until dropped.
struct Echo {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Lab {
    sb: Sandbox,
    state: tempfile::TempDir,
    _echoes: Vec<Echo>,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let mut sb = Sandbox::new(&format!("hnsr{tag}{}", std::process::id()));
        for role in ["host", "ra", "rb", "remote", "g-nat", "g-routed"] {
            check(role, sb.add(role));
            for conf in ["all", "default"] {
                // IPv6 addresses usable at once: no duplicate address detection.
                let key = format!("net.ipv6.conf.{conf}.accept_dad");
                check("accept_dad", sb.sysctl(role, &key, "0"));
            }
        }
        for (a, an, b, bn) in [
            ("host", "up-a", "ra", "r-host"),
            ("host", "up-b", "rb", "r-host"),
            ("ra", "r-core", "remote", "p-a"),
            ("rb", "r-core", "remote", "p-b"),
            ("host", "gn-h", "g-nat", "eth0"),
            ("host", "gr-h", "g-routed", "eth0"),
        ] {
            check("wire", sb.wire(a, an, b, bn));
        }
        let lab = Lab {
            sb,
            state: tempfile::tempdir().expect("tempdir"),
            _echoes: Vec::new(),
        };
        lab.routers();
        lab.remote_and_guests();
        for k in [
            "net.ipv4.conf.all.rp_filter",
            "net.ipv4.conf.default.rp_filter",
        ] {
            check("rp_filter", lab.sb.sysctl("host", k, "1"));
        }
        // hostnet turns IPv6 forwarding on only for a network whose firewall routes
        // IPv6; `routed` has none, so the host's admin (this test) does.
        check(
            "forwarding",
            lab.sb.sysctl("host", "net.ipv6.conf.all.forwarding", "1"),
        );
        lab
    }

    fn ops<const N: usize>(&self, role: &str, ops: [Result<hostnet::netdev::Op, SandboxError>; N]) {
        let ops: Vec<_> = ops.into_iter().map(|o| check("op", o)).collect();
        check(role, self.sb.ops(role, &ops));
    }

    fn routers(&self) {
        for (r, n, v4, v6) in [
            ("ra", 1, "198.51.100.1/24", "2001:db8:a::1/64"),
            ("rb", 2, "192.0.2.1/24", "2001:db8:b::1/64"),
        ] {
            self.ops(
                r,
                [
                    addr("r-host", v4),
                    addr("r-host", v6),
                    addr("r-core", &format!("10.255.{n}.1/30")),
                    addr("r-core", &format!("fd00:{n}::1/64")),
                ],
            );
            self.ops(
                r,
                [
                    route_via("0.0.0.0/0", &format!("10.255.{n}.2")),
                    route_via("::/0", &format!("fd00:{n}::2")),
                ],
            );
            for k in ["net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding"] {
                check("forwarding", self.sb.sysctl(r, k, "1"));
            }
        }
        // ra routes the routed guests back through the host; rb sends 198.18.1.0/24
        // through the host (a router on an uplink's subnet using the host as its
        // gateway), and answers wan-a's addresses directly over the host.
        self.ops(
            "ra",
            [
                route_via("10.20.0.0/24", "198.51.100.10"),
                route_via("fd00:20::/64", "2001:db8:a::10"),
            ],
        );
        self.ops(
            "rb",
            [
                addr("lo", "198.18.0.5/32"),
                route_via("198.18.1.0/24", "192.0.2.10"),
                route_via("198.51.100.0/24", "192.0.2.10"),
                route_via("2001:db8:a::/64", "2001:db8:b::10"),
            ],
        );
    }

    fn remote_and_guests(&self) {
        self.ops(
            "remote",
            [
                addr("lo", "203.0.113.5/32"),
                addr("lo", "198.18.1.5/32"),
                addr("lo", "2001:db8:ff::5/128"),
                addr("p-a", "10.255.1.2/30"),
                addr("p-a", "fd00:1::2/64"),
                addr("p-b", "10.255.2.2/30"),
                addr("p-b", "fd00:2::2/64"),
            ],
        );
        self.ops(
            "remote",
            [
                route_via("198.51.100.0/24", "10.255.1.1"),
                route_via("10.20.0.0/24", "10.255.1.1"),
                route_via("2001:db8:a::/64", "fd00:1::1"),
                route_via("fd00:20::/64", "fd00:1::1"),
                route_via("192.0.2.0/24", "10.255.2.1"),
                route_via("2001:db8:b::/64", "fd00:2::1"),
            ],
        );
        self.ops(
            "g-nat",
            [
                addr("eth0", "10.10.0.5/24"),
                route_via("0.0.0.0/0", "10.10.0.1"),
            ],
        );
        self.ops(
            "g-routed",
            [
                addr("eth0", "10.20.0.5/24"),
                addr("eth0", "fd00:20::5/64"),
                route_via("0.0.0.0/0", "10.20.0.1"),
                route_via("::/0", "fd00:20::1"),
            ],
        );
    }

    /// `hostnet ARGS --netns HOST`, which must succeed; its stdout.
    fn hostnet(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let ns = self.sb.netns("host");
        let mut c = Command::new(env!("CARGO_BIN_EXE_hostnet"));
        c.args(args)
            .args(["--netns", &ns])
            .env("HOSTNET_STATE_DIR", self.state.path().join("run"))
            .env("HOSTNET_LIB_DIR", self.state.path().join("lib"))
            .env("HOSTNET_OVSDB", common::NO_OVSDB)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn hostnet");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
        drop(input);
        let o = child.wait_with_output().expect("hostnet runs");
        assert!(o.status.success(), "hostnet {args:?}: {}", common::text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn apply(&mut self) {
        self.hostnet(&["apply", "-"], Some(NETWORKS));
        let again = self.hostnet(&["apply", "-"], Some(NETWORKS));
        assert!(again.contains("Nothing to change"), "{again}");
    }

    /// A program in `role`'s namespace; its exit status and output.
    fn run(&self, role: &str, program: &str, args: &[&str]) -> (bool, String) {
        let o = check(
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
        let text =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        (o.status.success(), text)
    }

    /// Starts answering UDP on `addrs` in `role`.
    fn echo(&mut self, role: &str, addrs: &[&str]) {
        let sockets: Vec<UdpSocket> = check(
            "echo",
            self.sb.run_in(role, || {
                addrs
                    .iter()
                    .map(|a| {
                        let ip: IpAddr = a.parse().expect("address");
                        let s = UdpSocket::bind(SocketAddr::new(ip, PORT))?;
                        s.set_read_timeout(Some(Duration::from_millis(20)))?;
                        Ok(s)
                    })
                    .collect::<std::io::Result<_>>()
                    .map_err(|e| SandboxError::Other {
                        ns: role.into(),
                        message: format!("bind the echo server: {e}"),
                    })
            }),
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while !flag.load(Ordering::SeqCst) {
                for s in &sockets {
                    if let Ok((n, from)) = s.recv_from(&mut buf) {
                        let _ = s.send_to(&buf[..n], from);
                    }
                }
            }
        });
        self._echoes.push(Echo {
            stop,
            thread: Some(thread),
        });
    }

    /// Echoes from `src` (or any address) in `role` to `dst`: how many of 3 came back.
    fn probe(&self, role: &str, src: Option<&str>, dst: &str) -> u64 {
        let dst = SocketAddr::new(dst.parse().expect("address"), PORT);
        let bind = match src {
            Some(a) => SocketAddr::new(a.parse().expect("address"), 0),
            None if dst.is_ipv4() => "0.0.0.0:0".parse().expect("address"),
            None => "[::]:0".parse().expect("address"),
        };
        let sock = check(
            "client",
            self.sb.run_in(role, || {
                UdpSocket::bind(bind).map_err(|e| SandboxError::Other {
                    ns: role.into(),
                    message: format!("bind {bind}: {e}"),
                })
            }),
        );
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut answered = 0;
        let mut buf = [0u8; 64];
        for i in 0..3u8 {
            let msg = [b'h', b'n', i];
            // The first datagram may wait for neighbour resolution on every hop.
            for _ in 0..10 {
                let _ = sock.send_to(&msg, dst);
                if matches!(sock.recv_from(&mut buf), Ok((3, from)) if from == dst && buf[..3] == msg)
                {
                    answered += 1;
                    break;
                }
            }
        }
        answered
    }

    /// The router's count of forwarded datagrams (IPv4 ForwDatagrams, IPv6
    /// Ip6OutForwDatagrams).
    fn forwarded(&self, router: &str, v6: bool) -> u64 {
        if v6 {
            let t = check("snmp6", self.sb.proc_net(router, "snmp6"));
            t.lines()
                .find_map(|l| l.strip_prefix("Ip6OutForwDatagrams"))
                .and_then(|v| v.trim().parse().ok())
                .expect("Ip6OutForwDatagrams")
        } else {
            let t = check("snmp", self.sb.proc_net(router, "snmp"));
            let mut ip = t.lines().filter(|l| l.starts_with("Ip: "));
            let (names, values) = (ip.next().expect("names"), ip.next().expect("values"));
            names
                .split_whitespace()
                .zip(values.split_whitespace())
                .find(|(n, _)| *n == "ForwDatagrams")
                .and_then(|(_, v)| v.parse().ok())
                .expect("ForwDatagrams")
        }
    }

    /// Runs `f` (which returns how many echoes came back) and what ra and rb forwarded
    /// meanwhile.
    fn through(&self, v6: bool, f: impl FnOnce() -> u64) -> (u64, u64, u64) {
        let before = (self.forwarded("ra", v6), self.forwarded("rb", v6));
        let answered = f();
        let after = (self.forwarded("ra", v6), self.forwarded("rb", v6));
        (answered, after.0 - before.0, after.1 - before.1)
    }

    fn ping(&self, role: &str, dst: &str) -> (bool, String) {
        self.run(role, "ping", &["-c", "1", "-W", "2", dst])
    }

    fn host_rules(&self, v6: bool) -> String {
        let family = if v6 { "-6" } else { "-4" };
        self.run("host", "ip", &[family, "rule", "show"]).1
    }
}

#[test]
fn the_hosts_own_traffic_leaves_through_its_networks_gateway() {
    if !may_run("the_hosts_own_traffic_leaves_through_its_networks_gateway") {
        return;
    }
    let mut lab = Lab::new("o");
    lab.apply();
    lab.echo("remote", &["203.0.113.5", "2001:db8:ff::5"]);
    // wan-a carries the main default route, so only wan-b's addresses show that source
    // routing works; wan-a's show that it does not get in the way.
    for (src, dst, via_a) in [
        ("198.51.100.10", "203.0.113.5", true),
        ("192.0.2.10", "203.0.113.5", false),
        ("2001:db8:a::10", "2001:db8:ff::5", true),
        ("2001:db8:b::10", "2001:db8:ff::5", false),
    ] {
        let (answered, by_a, by_b) =
            lab.through(src.contains(':'), || lab.probe("host", Some(src), dst));
        let (right, wrong) = if via_a { (by_a, by_b) } else { (by_b, by_a) };
        assert_eq!(answered, 3, "from {src}: no answer");
        assert!(
            right >= 2 * answered && wrong == 0,
            "from {src}: forwarded by ra {by_a}, by rb {by_b}"
        );
    }
    // What `ip rule` shows: the block around one rule per subnet.
    let v4 = lab.host_rules(false);
    for line in [
        "3198:\tnot from all iif lo goto 3201 proto 201",
        "3199:\tfrom all lookup main suppress_prefixlength 0 proto 201",
        "3200:\tfrom 198.51.100.0/24 lookup",
        "3200:\tfrom 192.0.2.0/24 lookup",
        "3201:\tfrom all nop proto 201",
    ] {
        assert!(v4.contains(line), "{line} missing from\n{v4}");
    }
    assert!(!v4.contains(" to "), "no `to SUBNET` rules any more:\n{v4}");
    let v6 = lab.host_rules(true);
    assert!(
        v6.contains("3198:\tnot from all iif lo goto 3201 proto 201"),
        "{v6}"
    );
    assert_eq!(v6.matches("lookup").count(), 2 + 2 + 1, "{v6}");
}

#[test]
fn the_hosts_own_traffic_to_what_main_routes_specifically_goes_by_main() {
    if !may_run("the_hosts_own_traffic_to_what_main_routes_specifically_goes_by_main") {
        return;
    }
    let mut lab = Lab::new("m");
    lab.apply();
    lab.echo("rb", &["192.0.2.1", "2001:db8:b::1", "198.18.0.5"]);
    // From wan-a's address to wan-b's subnet: main's connected route, straight out of
    // up-b (the rule `from 198.51.100.0/24` would send it to ra).
    for (src, dst) in [
        ("198.51.100.10", "192.0.2.1"),
        ("2001:db8:a::10", "2001:db8:b::1"),
    ] {
        let (answered, by_a, _) =
            lab.through(src.contains(':'), || lab.probe("host", Some(src), dst));
        assert_eq!(answered, 3, "{src} -> {dst}: no answer");
        assert_eq!(by_a, 0, "{src} -> {dst} went through ra");
    }
    // A route of the user's in main (198.18.0.0/24 via rb) beats wan-a's gateway for
    // wan-a's own address.
    let (answered, by_a, _) = lab.through(false, || {
        lab.probe("host", Some("198.51.100.10"), "198.18.0.5")
    });
    assert_eq!(answered, 3, "no answer from 198.18.0.5");
    assert_eq!(by_a, 0, "198.51.100.10 -> 198.18.0.5 went through ra");
}

#[test]
fn a_routed_guest_reaches_a_remote_and_forwarded_packets_follow_main() {
    if !may_run("a_routed_guest_reaches_a_remote_and_forwarded_packets_follow_main") {
        return;
    }
    let mut lab = Lab::new("r");
    lab.apply();
    lab.echo("remote", &["203.0.113.5", "198.18.1.5", "2001:db8:ff::5"]);
    for dst in ["203.0.113.5", "2001:db8:ff::5"] {
        let (answered, by_a, by_b) =
            lab.through(dst.contains(':'), || lab.probe("g-routed", None, dst));
        assert_eq!(answered, 3, "g-routed -> {dst}: no answer");
        assert!(by_a >= 2 * answered && by_b == 0, "ra {by_a}, rb {by_b}");
    }
    // rb (on wan-b's subnet) sends through the host to what main routes by its default:
    // the packet follows main out of up-a. wan-b's table would send it back to rb,
    // which would send it to the host again, until its TTL ran out.
    let (answered, by_a, _) = lab.through(false, || lab.probe("rb", None, "198.18.1.5"));
    assert_eq!(answered, 3, "rb -> 198.18.1.5 through the host: no answer");
    assert!(
        by_a >= answered,
        "the host did not forward it to ra: {by_a}"
    );
}

#[test]
fn a_natted_guest_reaches_the_uplinks_own_subnet_and_beyond() {
    if !may_run("a_natted_guest_reaches_the_uplinks_own_subnet_and_beyond") {
        return;
    }
    let mut lab = Lab::new("n");
    lab.apply();
    lab.echo("remote", &["203.0.113.5"]);
    let (ok, out) = lab.ping("g-nat", "198.51.100.1");
    assert!(ok, "the natted guest cannot reach wan-a's gateway:\n{out}");
    // The remote has no route back to 10.10.0.0/24: only the masqueraded source answers.
    let (answered, by_a, by_b) = lab.through(false, || lab.probe("g-nat", None, "203.0.113.5"));
    assert_eq!(answered, 3, "the natted guest cannot reach the remote");
    assert!(by_a >= 2 * answered && by_b == 0, "ra {by_a}, rb {by_b}");

    // Without the block (the layout of earlier releases, which had no goto and no main
    // lookup before the networks' rules) the de-NATed reply matches `from
    // 198.51.100.0/24` and goes back out of up-a: no answer.
    for rule in [
        "pref 3198 not iif lo goto 3201",
        "pref 3199 lookup main suppress_prefixlength 0",
    ] {
        let args: Vec<&str> = ["rule", "del"].into_iter().chain(rule.split(' ')).collect();
        let (ok, out) = lab.run("host", "ip", &args);
        assert!(ok, "ip rule del {rule}: {out}");
    }
    let (ok, _) = lab.ping("g-nat", "198.51.100.1");
    assert!(!ok, "the test no longer shows the problem the block solves");
    // The next apply puts the block back, and the guest reaches the subnet again.
    let plan = lab.hostnet(&["apply", "-"], Some(NETWORKS));
    assert_eq!(plan.matches("+ rule").count(), 2, "{plan}");
    let (ok, out) = lab.ping("g-nat", "198.51.100.1");
    assert!(ok, "after the repair:\n{out}");
}

#[test]
fn a_host_with_the_earlier_layout_converges_in_one_apply() {
    if !may_run("a_host_with_the_earlier_layout_converges_in_one_apply") {
        return;
    }
    let mut lab = Lab::new("e");
    lab.apply();
    // Rewind to the layout of earlier releases: no block, `from` and `to` per subnet.
    for v6 in [false, true] {
        let mut batch = String::new();
        for line in lab.host_rules(v6).lines() {
            let (pref, rule) = line.split_once(":\t").expect("ip rule line");
            if !rule.ends_with(" proto 201") {
                continue;
            }
            if let Some(rest) = rule.strip_prefix("from ").filter(|r| !r.starts_with("all")) {
                let (subnet, table) = rest.split_once(" lookup ").expect("lookup");
                let table = table.trim_end_matches(" proto 201");
                batch += &format!("rule add to {subnet} lookup {table} pref {pref} proto 201\n");
            } else {
                batch += &format!("rule del pref {pref} proto 201\n");
            }
        }
        let file = lab.state.path().join("earlier.batch");
        std::fs::write(&file, &batch).expect("batch");
        let family = if v6 { "-6" } else { "-4" };
        let (ok, out) = lab.run("host", "ip", &[family, "-batch", &file.to_string_lossy()]);
        assert!(ok, "{batch}\n{out}");
    }
    assert!(lab.host_rules(false).contains(" to 198.51.100.0/24 lookup"));
    let (ok, _) = lab.ping("g-nat", "198.51.100.1");
    assert!(!ok, "the earlier layout did not show its problem");

    let plan = lab.hostnet(&["apply", "-"], Some(NETWORKS));
    // Four `to` rules go (wan-a and wan-b, each family), two blocks of three come.
    assert_eq!(plan.matches("- rule").count(), 4, "{plan}");
    assert_eq!(plan.matches("+ rule").count(), 6, "{plan}");
    let again = lab.hostnet(&["apply", "-"], Some(NETWORKS));
    assert!(again.contains("Nothing to change"), "{again}");
    let (ok, out) = lab.ping("g-nat", "198.51.100.1");
    assert!(ok, "after the apply:\n{out}");
}
