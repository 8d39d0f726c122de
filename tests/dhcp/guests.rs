//! Guests for the DHCP server tests: a host namespace where `hostnet apply` runs, guest
//! namespaces wired to the network's bridge with declared MACs, their dhclient, DNS
//! questions over UDP, and the network's YAML.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::common::text;
use super::lab::Lab;

pub const G1_MAC: &str = "52:54:00:12:34:56";
pub const G2_MAC: &str = "52:54:00:00:00:02";

/// A lab (host namespace, guests) whose dnsmasq instances are stopped on drop.
pub struct Net {
    pub lab: Lab,
}

impl Net {
    /// A host namespace and guests `g1`, `g2`, … each wired to the host (`gv1`, …) with
    /// the declared MACs on the guest ends.
    pub fn new(tag: &str, guests: &[&str]) -> Net {
        let mut lab = Lab::new(tag, &[]);
        use std::os::unix::fs::PermissionsExt;
        // dnsmasq drops to nobody, which must reach the files under the lab.
        std::fs::set_permissions(lab.dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        for (i, mac) in guests.iter().enumerate() {
            let g = format!("g{}", i + 1);
            lab.sb.add(&g).expect("guest netns");
            lab.sb
                .wire("host", &format!("gv{}", i + 1), &g, "eth0")
                .expect("wire");
            let o = lab.run(&g, "ip", &["link", "set", "eth0", "address", mac]);
            assert!(o.status.success(), "{o:?}");
        }
        Net { lab }
    }

    /// `HOSTNET_DNSMASQ_DIR`: the parent of every namespace's server directories.
    pub fn root(&self) -> PathBuf {
        self.lab.path("dnsmasq")
    }

    /// The directory of the host namespace's servers (keyed by its name).
    pub fn dir(&self) -> PathBuf {
        self.root()
            .join(format!("netns.{}", self.lab.sb.netns("host")))
    }

    /// `hostnet ARGS` with the lab's state directories, in the host namespace.
    pub fn hostnet(&self, args: &[&str], stdin: Option<&str>) -> Output {
        self.hostnet_env(args, stdin, &[])
    }

    pub fn hostnet_env(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        use std::io::Write;
        let ns = self.lab.sb.netns("host");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--netns", &ns]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(&all)
            .env("HOSTNET_DNSMASQ_DIR", self.root())
            .env("HOSTNET_STATE_DIR", self.lab.path("run"))
            .env("HOSTNET_LIB_DIR", self.lab.path("lib"))
            // The fork path, wherever the tests run; tests/dhcp_units.rs tests the other.
            .env("HOSTNET_DNSMASQ_UNITS", "no")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hostnet");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("hostnet")
    }

    pub fn apply(&self, yaml: &str) -> String {
        let o = self.hostnet(&["apply", "-"], Some(yaml));
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir().join("tenant1").join(name)).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<i32> {
        self.file("dnsmasq.pid").trim().parse().ok()
    }

    /// Start time of a process in clock ticks since boot (`/proc/PID/stat` field 22).
    pub fn started(pid: i32) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
        let after = &stat[stat.rfind(')').expect("comm") + 2..];
        after
            .split(' ')
            .nth(19)
            .and_then(|s| s.parse().ok())
            .expect("starttime")
    }

    /// Not yet exited (a zombie has; a dying process without a command line has not).
    pub fn alive(pid: i32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            let state = stat
                .rfind(')')
                .and_then(|i| stat[i + 1..].split_whitespace().next())
                .unwrap_or("X");
            !matches!(state, "Z" | "X" | "x")
        })
    }

    /// Lines of the log that only a start or a SIGHUP writes (the options file is read
    /// then and at no other time).
    pub fn option_reads(&self) -> usize {
        self.file("dnsmasq.log")
            .lines()
            .filter(|l| l.contains("read ") && l.ends_with("/tenant1/options"))
            .count()
    }

    /// dhclient once in guest `g`, with a script that records the options it got and
    /// configures the address. Returns the recorded environment.
    pub fn dhclient(&self, g: &str) -> String {
        let env_file = self.lab.path(&format!("{g}.env"));
        let script = self.lab.path(&format!("{g}-script"));
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\ncase \"$reason\" in\n  BOUND|RENEW|REBIND|REBOOT)\n    env > '{}'\n    ip addr replace \"$new_ip_address/$new_subnet_mask\" dev \"$interface\"\n    ;;\nesac\n",
                env_file.display()
            ),
        )
        .expect("script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let conf = self.lab.path("dhclient.conf");
        std::fs::write(
            &conf,
            "request subnet-mask, routers, domain-name, domain-name-servers, interface-mtu;\n",
        )
        .expect("conf");
        let p = |s: &str| self.lab.path(&format!("{g}.{s}")).display().to_string();
        // One client per guest: the earlier one (a daemon by now) goes first, or it would
        // outlive the lab, whose cleanup finds only the newest PID file.
        self.stop_client(&p("pid"));
        let (sf, cf) = (script.display().to_string(), conf.display().to_string());
        let o = self.lab.run_timeout(
            g,
            "dhclient",
            &[
                "-1",
                "-v",
                "-cf",
                &cf,
                "-sf",
                &sf,
                "-lf",
                &p("leases"),
                "-pf",
                &p("pid"),
                "eth0",
            ],
            Duration::from_secs(30),
        );
        assert!(o.status.success(), "dhclient in {g}: {}", text(&o));
        std::fs::read_to_string(env_file).expect("dhclient ran the script")
    }

    /// Stops the dhclient of a PID file if it is one this lab started.
    pub fn stop_client(&self, pid_file: &str) {
        let Some(pid) = std::fs::read_to_string(pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
        else {
            return;
        };
        let lab = self.lab.dir.path().display().to_string();
        if hostnet::netdev::dnsmasq::cmdline(pid)
            .is_some_and(|a| a.iter().any(|x| x.contains(&lab)))
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            while Net::alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn guest_address(&self, g: &str) -> String {
        let o = self
            .lab
            .run(g, "ip", &["-4", "-o", "addr", "show", "dev", "eth0"]);
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    pub fn servers_json(&self) -> String {
        let o = self.hostnet(&["show", "--dhcp-servers", "-o", "json"], None);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        // Only the dnsmasq this test's applies started, and only after its command line
        // shows it is one (the stale-PID test leaves another process's PID there).
        let dir = self.dir().join("tenant1");
        if let Some(pid) = self.pid() {
            let ours = hostnet::netdev::dnsmasq::cmdline(pid)
                .is_some_and(|a| a.iter().any(|x| x.contains(&dir.display().to_string())));
            if ours {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }
}

pub fn network(hosts: &str, range_end: u8) -> String {
    format!(
        "networks:
  - name: tenant1
    uplink: gv1
    ipv4: {{address: [10.10.0.1/24]}}
    dhcp-server:
      range: {{start: 10.10.0.100, end: 10.10.0.{range_end}}}
      lease-time: 1h
      dns-servers: [10.10.0.1]
      domain: tenant1.example
      mtu: 1450
      ping-check: false
      hosts:
        - {{mac: \"{G1_MAC}\", ip: 10.10.0.5, hostname: vm1}}
{hosts}"
    )
}

pub fn vm2() -> String {
    format!("        - {{mac: \"{G2_MAC}\", ip: 10.10.0.6, hostname: vm2}}\n")
}

/// Puts `gvN` into the bridge (a guest's port joining after the network exists).
pub fn join(net: &Net, port: &str) {
    let o = net.lab.run(
        "host",
        "ip",
        &["link", "set", port, "master", "tenant1", "up"],
    );
    assert!(o.status.success(), "{o:?}");
}

/// An A query for `name` to `server`:53 from guest `g`: the answer's addresses and the
/// address the answer came from.
pub fn dns_a(net: &Net, g: &str, server: Ipv4Addr, name: &str) -> (Vec<Ipv4Addr>, Ipv4Addr) {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).expect("label"));
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    let qlen = q.len();
    let (reply, from) = net
        .lab
        .sb
        .run_in(g, move || {
            let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            s.send_to(&q, (server, 53)).expect("send");
            let mut buf = [0u8; 512];
            let (n, from) = s.recv_from(&mut buf).expect("a DNS answer");
            Ok((buf[..n].to_vec(), from))
        })
        .expect("in guest");
    let std::net::IpAddr::V4(from) = from.ip() else {
        panic!("answer from {from}");
    };
    assert_eq!(reply[3] & 0x0f, 0, "rcode of {reply:?}");
    let answers = u16::from_be_bytes([reply[6], reply[7]]);
    let mut at = qlen;
    let mut out = Vec::new();
    for _ in 0..answers {
        // Name (a compression pointer or labels), type, class, TTL, length, data.
        while reply[at] != 0 && reply[at] & 0xc0 != 0xc0 {
            at += usize::from(reply[at]) + 1;
        }
        at += if reply[at] == 0 { 1 } else { 2 };
        let rtype = u16::from_be_bytes([reply[at], reply[at + 1]]);
        let len = usize::from(u16::from_be_bytes([reply[at + 8], reply[at + 9]]));
        at += 10;
        if rtype == 1 && len == 4 {
            out.push(Ipv4Addr::new(
                reply[at],
                reply[at + 1],
                reply[at + 2],
                reply[at + 3],
            ));
        }
        at += len;
    }
    (out, from)
}

pub fn env_value<'a>(env: &'a str, key: &str) -> Option<&'a str> {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim_matches('\''))
}
