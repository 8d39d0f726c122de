//! IPv6 guests for the DHCP server tests: what a guest's kernel made of the router
//! advertisements (addresses, default route, MTU), ISC `dhclient -6` (stateful and
//! stateless) with a script of the test's own, DNS questions over IPv6, and an "outside"
//! namespace behind the host to reach.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use super::common::text;
use super::guests::Net;

/// Polls `f` every 100 ms until it returns something, for at most `timeout`.
pub fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            if start.elapsed() > Duration::from_secs(10) {
                eprintln!("slow: {what} took {:?}", start.elapsed());
            }
            return v;
        }
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A guest's global IPv6 addresses on eth0 that DAD is done with: (address, prefix
/// length, made by the kernel from an advertisement).
pub fn global6(net: &Net, g: &str) -> Vec<(Ipv6Addr, u8, bool)> {
    let o = net.lab.run(
        g,
        "ip",
        &[
            "-6",
            "-j",
            "addr",
            "show",
            "dev",
            "eth0",
            "scope",
            "global",
            "-tentative",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let mut out = Vec::new();
    for link in v.as_array().into_iter().flatten() {
        for a in link["addr_info"].as_array().into_iter().flatten() {
            let Some(ip) = a["local"].as_str().and_then(|s| s.parse().ok()) else {
                continue;
            };
            let plen = a["prefixlen"].as_u64().and_then(|p| u8::try_from(p).ok());
            // SLAAC addresses carry `mngtmpaddr`/`dynamic`; an address a client set does not.
            let auto = a["dynamic"].as_bool() == Some(true);
            out.push((ip, plen.unwrap_or(0), auto));
        }
    }
    out
}

/// Waits for the guest's SLAAC address in `prefix` (a /64).
pub fn slaac_address(net: &Net, g: &str, prefix: &str) -> Ipv6Addr {
    let prefix: ipnet::Ipv6Net = prefix.parse().expect("prefix");
    let start = Instant::now();
    loop {
        let found = global6(net, g)
            .into_iter()
            .find(|(ip, plen, auto)| *auto && *plen == 64 && prefix.contains(ip));
        if let Some((ip, _, _)) = found {
            if start.elapsed() > Duration::from_secs(10) {
                eprintln!("slow: a SLAAC address on {g} took {:?}", start.elapsed());
            }
            return ip;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let addr = net.lab.run(g, "ip", &["-6", "addr"]);
            let route = net.lab.run(g, "ip", &["-6", "route"]);
            let host = net.lab.run("host", "ip", &["-6", "addr"]);
            panic!(
                "no SLAAC address in {prefix} on {g}:\n{}\n{}\nhost: {}\nlog: {}",
                text(&addr),
                text(&route),
                text(&host),
                net.file("dnsmasq.log")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The guest's default route as `ip -6 route` prints it, once there is one from an
/// advertisement.
pub fn ra_default_route(net: &Net, g: &str) -> String {
    wait_until(
        &format!("a default route from an advertisement on {g}"),
        Duration::from_secs(40),
        || {
            let o = net.lab.run(g, "ip", &["-6", "route", "show", "default"]);
            let s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.contains("proto ra").then_some(s)
        },
    )
}

/// A value of the guest's `/proc/sys/net` (its own namespace's).
pub fn guest_sysctl(net: &Net, g: &str, key: &str) -> String {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let o = net.lab.run(g, "cat", &[&path]);
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// A `default-duid` statement for dhclient's lease file (octal escapes, as it writes them).
fn duid_statement(duid: &[u8]) -> String {
    let escaped: String = duid.iter().map(|b| format!("\\{b:03o}")).collect();
    format!("default-duid \"{escaped}\";\n")
}

/// `dhclient -6` once in guest `g` (`-S`: stateless, an Information-request), with a
/// script that records its environment and sets the address it got, and a DUID of the
/// test's choosing (or dhclient's own, made from the MAC). Returns the environment, or
/// `None` when no reply came within `timeout`.
pub fn dhclient6(
    net: &Net,
    g: &str,
    stateless: bool,
    duid: Option<&[u8]>,
    timeout: Duration,
) -> Option<String> {
    let p = |s: &str| net.lab.path(&format!("{g}-v6.{s}")).display().to_string();
    let env_file = p("env");
    let _ = std::fs::remove_file(&env_file);
    // Never the stock script: it would rewrite the machine's /etc/resolv.conf.
    let script = p("script");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$reason\" in\n  BOUND6|RENEW6|REBIND6|REBOOT6|INFORM6)\n    env > '{env_file}.tmp' && mv '{env_file}.tmp' '{env_file}'\n    [ -n \"$new_ip6_address\" ] && ip -6 addr replace \"$new_ip6_address/$new_ip6_prefixlen\" dev \"$interface\" nodad\n    ;;\nesac\nexit 0\n"
        ),
    )
    .expect("script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let conf = p("conf");
    // With -1, dhclient gives up after `timeout` seconds by itself (it ignores SIGTERM
    // while it solicits).
    std::fs::write(
        &conf,
        format!(
            "timeout {};\nrequest dhcp6.name-servers, dhcp6.domain-search, dhcp6.fqdn;\n",
            timeout.as_secs().max(1)
        ),
    )
    .expect("conf");
    let leases = p("leases");
    if let Some(d) = duid {
        std::fs::write(&leases, duid_statement(d)).expect("lease file");
    }
    // One client per guest: an earlier one (a daemon by now) goes first.
    net.stop_client(&p("pid"));
    let mut args = vec![
        "-6", "-1", "-v", "-cf", &conf, "-sf", &script, "-lf", &leases,
    ];
    let pid = p("pid");
    args.extend(["-pf", &pid]);
    if stateless {
        args.push("-S");
    }
    args.push("eth0");
    // The guest's link-local address must be usable before dhclient binds to it.
    wait_until(
        &format!("{g}'s link-local address"),
        Duration::from_secs(20),
        || {
            let o = net.lab.run(
                g,
                "ip",
                &[
                    "-6",
                    "addr",
                    "show",
                    "dev",
                    "eth0",
                    "scope",
                    "link",
                    "-tentative",
                ],
            );
            String::from_utf8_lossy(&o.stdout)
                .contains("fe80::")
                .then_some(())
        },
    );
    let o = net
        .lab
        .run_timeout(g, "dhclient", &args, timeout + Duration::from_secs(10));
    if !o.status.success() {
        eprintln!("dhclient -6 in {g}: {}", text(&o));
    }
    std::fs::read_to_string(&env_file).ok()
}

/// An AAAA query for `name` to `server`:53 from guest `g`: the answer's addresses.
pub fn dns_aaaa(net: &Net, g: &str, server: Ipv6Addr, name: &str) -> Vec<Ipv6Addr> {
    let mut q = vec![0x56, 0x78, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).expect("label"));
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 28, 0, 1]);
    let qlen = q.len();
    let reply = net
        .lab
        .sb
        .run_in(g, move || {
            let s = UdpSocket::bind("[::]:0").expect("bind");
            s.set_read_timeout(Some(Duration::from_secs(3)))
                .expect("timeout");
            s.send_to(&q, (server, 53)).expect("send");
            let mut buf = [0u8; 512];
            let (n, _) = s.recv_from(&mut buf).expect("a DNS answer");
            Ok(buf[..n].to_vec())
        })
        .expect("in guest");
    assert_eq!(reply[3] & 0x0f, 0, "rcode of {reply:?}");
    let answers = u16::from_be_bytes([reply[6], reply[7]]);
    let mut at = qlen;
    let mut out = Vec::new();
    for _ in 0..answers {
        while reply[at] != 0 && reply[at] & 0xc0 != 0xc0 {
            at += usize::from(reply[at]) + 1;
        }
        at += if reply[at] == 0 { 1 } else { 2 };
        let rtype = u16::from_be_bytes([reply[at], reply[at + 1]]);
        let len = usize::from(u16::from_be_bytes([reply[at + 8], reply[at + 9]]));
        at += 10;
        if rtype == 28 && len == 16 {
            let mut b = [0u8; 16];
            b.copy_from_slice(&reply[at..at + 16]);
            out.push(Ipv6Addr::from(b));
        }
        at += len;
    }
    out
}

/// The host's uplink `hv0` (2001:db8:99::1/64) wired to an "outside" namespace's `ov0`
/// (2001:db8:99::2/64), which has no route to the guests unless `route_back`.
pub fn outside(net: &mut Net, route_back: bool) {
    let sb = &mut net.lab.sb;
    sb.add("out").expect("outside netns");
    sb.wire("host", "hv0", "out", "ov0").expect("wire");
    sb.ops(
        "host",
        &[hostnet::sandbox::addr("hv0", "2001:db8:99::1/64").expect("addr")],
    )
    .expect("host uplink address");
    sb.ops(
        "out",
        &[hostnet::sandbox::addr("ov0", "2001:db8:99::2/64").expect("addr")],
    )
    .expect("outside address");
    if route_back {
        set_route_back(net, true);
    }
}

/// Adds (or deletes) the outside's route to the guests' prefix through the host.
pub fn set_route_back(net: &Net, on: bool) {
    let verb = if on { "replace" } else { "del" };
    let o = net.lab.run(
        "out",
        "ip",
        &[
            "-6",
            "route",
            verb,
            "2001:db8:10::/64",
            "via",
            "2001:db8:99::1",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// A TCP connection from guest `g` to the outside's `[2001:db8:99::2]:port`: the source
/// address the outside saw. Retried until `timeout` (DAD on both ends, the guest's route).
pub fn outside_sees(net: &Net, g: &str, port: u16, timeout: Duration) -> Option<IpAddr> {
    let server: SocketAddr = (Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 2), port).into();
    let deadline = Instant::now() + timeout;
    let listener = net.lab.sb.spawn_in("out", move || {
        // The outside's address may still be tentative: bind once DAD is done.
        let l = loop {
            match TcpListener::bind(server) {
                Ok(l) => break l,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => panic!("bind {server}: {e}"),
            }
        };
        l.set_nonblocking(true).expect("nonblocking");
        while Instant::now() < deadline {
            if let Ok((_, peer)) = l.accept() {
                return Ok(Some(peer.ip()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(None)
    });
    net.lab
        .sb
        .run_in(g, move || {
            while Instant::now() < deadline {
                if TcpStream::connect_timeout(&server, Duration::from_millis(500)).is_ok() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        })
        .expect("in guest");
    listener.join().expect("listener").expect("in outside")
}

/// What a router advertisement says, as a guest receives it.
#[derive(Debug, Default)]
pub struct Ra {
    /// M: addresses from DHCPv6.
    pub managed: bool,
    /// O: other configuration from DHCPv6.
    pub other: bool,
    /// The prefix information's A flag: make an address of your own.
    pub autonomous: bool,
    pub router_lifetime: u16,
    pub mtu: Option<u32>,
    /// RDNSS addresses.
    pub dns: Vec<Ipv6Addr>,
    /// DNSSL names.
    pub search: Vec<String>,
}

/// Reads the options of an advertisement (`msg` from its ICMPv6 type on).
fn parse_ra(msg: &[u8]) -> Option<Ra> {
    if msg.len() < 16 || msg[0] != 134 {
        return None;
    }
    let mut ra = Ra {
        managed: msg[5] & 0x80 != 0,
        other: msg[5] & 0x40 != 0,
        router_lifetime: u16::from_be_bytes([msg[6], msg[7]]),
        ..Ra::default()
    };
    let mut at = 16;
    while at + 2 <= msg.len() {
        let (kind, len) = (msg[at], usize::from(msg[at + 1]) * 8);
        if len == 0 || at + len > msg.len() {
            return None;
        }
        let opt = &msg[at..at + len];
        match kind {
            3 if len >= 32 => ra.autonomous |= opt[3] & 0x40 != 0,
            5 => ra.mtu = Some(u32::from_be_bytes([opt[4], opt[5], opt[6], opt[7]])),
            25 => {
                for a in opt[8..].chunks_exact(16) {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(a);
                    ra.dns.push(Ipv6Addr::from(b));
                }
            }
            31 => {
                let mut name: Vec<String> = Vec::new();
                let mut i = 8;
                while i < opt.len() {
                    let l = usize::from(opt[i]);
                    i += 1;
                    if l == 0 {
                        if !name.is_empty() {
                            ra.search.push(name.join("."));
                            name.clear();
                        }
                        continue;
                    }
                    let end = (i + l).min(opt.len());
                    name.push(String::from_utf8_lossy(&opt[i..end]).into_owned());
                    i = end;
                }
            }
            _ => {}
        }
        at += len;
    }
    Some(ra)
}

/// Sends router solicitations from guest `g`'s eth0 and returns the first advertisement
/// that answers (solicited advertisements are unicast to the guest's link-local address).
pub fn solicit_ra(net: &Net, g: &str) -> Ra {
    net.lab
        .sb
        .run_in(g, || {
            let index = nix::net::if_::if_nametoindex("eth0").expect("eth0");
            // SAFETY: socket(2) with constant arguments; the result is checked.
            let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_ICMPV6) };
            assert!(
                fd >= 0,
                "raw ICMPv6 socket: {}",
                std::io::Error::last_os_error()
            );
            // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
            let sock = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
            let raw = std::os::fd::AsRawFd::as_raw_fd(&sock);
            let hops: libc::c_int = 255;
            let timeout = libc::timeval {
                tv_sec: 1,
                tv_usec: 0,
            };
            // SAFETY: the option values are live locals of the sizes given.
            unsafe {
                libc::setsockopt(
                    raw,
                    libc::IPPROTO_IPV6,
                    libc::IPV6_MULTICAST_HOPS,
                    (&raw const hops).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                );
                libc::setsockopt(
                    raw,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&raw const timeout).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                );
            }
            // All routers (ff02::2) on eth0: type 133, code 0, checksum (the kernel's),
            // reserved.
            // SAFETY: sockaddr_in6 is plain data, valid when all zero.
            let mut to: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            to.sin6_addr.s6_addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2).octets();
            to.sin6_scope_id = index;
            let rs = [133u8, 0, 0, 0, 0, 0, 0, 0];
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline {
                // SAFETY: `rs` and `to` are live for the call, their lengths given.
                unsafe {
                    libc::sendto(
                        raw,
                        rs.as_ptr().cast(),
                        rs.len(),
                        0,
                        (&raw const to).cast(),
                        std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
                    );
                }
                let mut buf = [0u8; 1500];
                let until = Instant::now() + Duration::from_secs(2);
                while Instant::now() < until {
                    // SAFETY: `buf` is live and its length given; a timeout returns -1.
                    let n = unsafe { libc::recv(raw, buf.as_mut_ptr().cast(), buf.len(), 0) };
                    let Ok(n) = usize::try_from(n) else { continue };
                    if let Some(ra) = parse_ra(&buf[..n]) {
                        return Ok(ra);
                    }
                }
            }
            panic!("no router advertisement on {g}'s eth0");
        })
        .expect("in guest")
}
