//! `hostnet demo`: the multi-gateway example on a sandbox of namespaces, proved with real
//! packets.
//!
//! Topology (each box a network namespace, each line a veth pair):
//!
//! ```text
//!              up-red ── r-host [router red]  r-peer ── p-red
//!   [host]                                                    [peer 203.0.113.100
//!              up-blue ─ r-host [router blue] r-peer ── p-blue       2001:db8:ff::100]
//! ```
//!
//! The peer routes the red subnet back through router red and the blue subnet back through
//! router blue. The proof reads each router's count of forwarded packets around a ping
//! from each source address: red's addresses must be forwarded by red only, blue's by
//! blue only, although the host's main table sends everything to red.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::output::count;
use super::plan_view::PlanView;
use crate::engine::{self, ApplyOptions};
use crate::expand::expand;
use crate::model::{parse, validate};
use crate::netdev::linux::LinuxDriver;
use crate::netdev::{Driver, HOSTNET_PROTO};
use crate::sandbox::{addr, route_via, Sandbox, SandboxError};

/// The example the demo applies (also shipped as `examples/multi-gateway.yaml`).
pub const EXAMPLE: &str = include_str!("../../examples/multi-gateway.yaml");

/// `hostnet demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Leave the namespaces in place afterwards (remove them with `ip netns del`).
    #[arg(long)]
    pub keep: bool,
    /// Prefix of the namespaces' names (default `hn-demo-PID`).
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe, and
        // no other code in this process installs handlers for these signals.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            tracing::warn!("cannot handle {sig}: {e}; interrupting may leave namespaces behind");
        }
    }
}

/// A failed step of the demo.
#[derive(Debug, thiserror::Error)]
enum DemoError {
    #[error("interrupted")]
    Interrupted,
    #[error("sandbox")]
    Sandbox(#[from] SandboxError),
    #[error("{0}")]
    Step(String),
}

fn check_interrupted() -> Result<(), DemoError> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err(DemoError::Interrupted)
    } else {
        Ok(())
    }
}

pub fn run(args: &DemoArgs) -> i32 {
    if !nix::unistd::geteuid().is_root() {
        eprintln!(
            "error: hostnet demo creates network namespaces and needs root; try: sudo hostnet demo"
        );
        return 1;
    }
    install_signal_handlers();
    let prefix = args
        .prefix
        .clone()
        .unwrap_or_else(|| format!("hn-demo-{}", std::process::id()));
    let mut sandbox = Sandbox::new(&prefix);
    let result = demo(&mut sandbox);
    if args.keep {
        sandbox.keep();
        outln!("\nKept the namespaces {prefix}-{{host,red,blue,peer}}; remove them with `ip netns del NAME`.");
    } else {
        let left = sandbox.destroy();
        if left.is_empty() {
            outln!("\nSandbox removed.");
        } else {
            for l in left {
                tracing::warn!("could not remove {l}");
            }
        }
    }
    match result {
        Ok(()) => 0,
        Err(DemoError::Interrupted) => {
            eprintln!("Interrupted; the sandbox was removed.");
            130
        }
        Err(e) => {
            eprintln!("error: the demo failed: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            1
        }
    }
}

fn demo(sb: &mut Sandbox) -> Result<(), DemoError> {
    outln!(
        "== 1. Sandbox: namespaces {0}-host, {0}-red, {0}-blue, {0}-peer",
        sb.netns("").trim_end_matches('-')
    );
    build_topology(sb)?;
    check_interrupted()?;

    outln!(
        "\n== 2. hostnet apply examples/multi-gateway.yaml (in {})",
        sb.netns("host")
    );
    let d = parse(EXAMPLE).map_err(|e| DemoError::Step(e.to_string()))?;
    validate(&d).map_err(|e| DemoError::Step(e.to_string()))?;
    let intent = expand(&d).map_err(|e| DemoError::Step(e.to_string()))?;
    let ns = sb.netns("host");
    let (first, second) = sb.run_in("host", || {
        let mut drv = LinuxDriver::new().map_err(|source| SandboxError::Driver {
            ns: ns.clone(),
            source,
        })?;
        let run = |drv: &mut LinuxDriver| {
            engine::apply(drv, &intent, ApplyOptions::default(), |p, before| {
                out!("{}", PlanView::new(p, before, &intent));
                Ok(())
            })
            .map(|r| (PlanView::new(&r.plan, &r.before, &intent).len(), r.timings))
            .map_err(|e| SandboxError::Other {
                ns: ns.clone(),
                message: format!("{e}: {}", e.details().join("; ")),
            })
        };
        let first = run(&mut drv)?;
        let second = run(&mut drv)?;
        Ok((first, second))
    })?;
    let t = first.1;
    outln!(
        "Applied and verified {} in {:.1} ms (query {:.1}, plan {:.1}, execute {:.1}, verify {:.1}).",
        count(first.0, "change", "changes"),
        (t.query + t.plan + t.execute + t.verify).as_secs_f64() * 1000.0,
        t.query.as_secs_f64() * 1000.0,
        t.plan.as_secs_f64() * 1000.0,
        t.execute.as_secs_f64() * 1000.0,
        t.verify.as_secs_f64() * 1000.0
    );
    outln!(
        "Applied again: {} (nothing to do).",
        count(second.0, "change", "changes")
    );
    check_interrupted()?;

    outln!(
        "\n== 3. What hostnet owns in the host now (routes and rules with proto {HOSTNET_PROTO})"
    );
    let state = sb.run_in("host", || {
        LinuxDriver::new()
            .and_then(|mut d| d.query())
            .map_err(|source| SandboxError::Driver {
                ns: ns.clone(),
                source,
            })
    })?;
    for r in state.rules.iter().filter(|r| r.protocol == HOSTNET_PROTO) {
        outln!("  {r}");
    }
    for r in state.routes.iter().filter(|r| r.protocol == HOSTNET_PROTO) {
        outln!("  {r}");
    }
    check_interrupted()?;

    outln!("\n== 4. Proof with real packets: UDP echo from each network's address to the peer;");
    outln!("      who forwarded them? (the routers' ForwDatagrams / Ip6OutForwDatagrams counters)");
    // IPv6 neighbour discovery needs a link-local address that has passed duplicate
    // address detection: until then a router sends no neighbour solicitation at all and
    // drops what it should forward.
    wait_for_dad(sb)?;
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let responder = {
        let stop = stop.clone();
        let ns = sb.netns("peer");
        sb.spawn_in("peer", move || echo_responder(stop, ns, ready_tx))
    };
    // The responder's sockets are bound before the first probe (or it failed, and its
    // error is reported below).
    let _ = ready_rx.recv();
    let checks = run_checks(sb);
    stop.store(true, Ordering::SeqCst);
    let responded = responder.join().unwrap_or_else(|_| {
        Err(SandboxError::Other {
            ns: sb.netns("peer"),
            message: "echo responder panicked".into(),
        })
    });
    let failed = checks?;
    responded?;
    if failed > 0 {
        return Err(DemoError::Step(format!("{failed} traffic checks failed")));
    }
    outln!("Every source address left through its own network's gateway (IPv4 and IPv6).");
    Ok(())
}

/// Runs the four traffic checks; returns how many failed.
fn run_checks(sb: &Sandbox) -> Result<u32, DemoError> {
    let cases = [
        ("red", "192.0.2.10", "203.0.113.100"),
        ("blue", "198.51.100.10", "203.0.113.100"),
        ("red", "2001:db8:1::10", "2001:db8:ff::100"),
        ("blue", "2001:db8:2::10", "2001:db8:ff::100"),
    ];
    let mut failed = 0;
    for (want, src, dst) in cases {
        check_interrupted()?;
        let v6 = src.contains(':');
        let before = (forwarded(sb, "red", v6)?, forwarded(sb, "blue", v6)?);
        let (sent, received) = probe(sb, src, dst)?;
        let after = (forwarded(sb, "red", v6)?, forwarded(sb, "blue", v6)?);
        let (by_red, by_blue) = (after.0 - before.0, after.1 - before.1);
        let (right, wrong) = if want == "red" {
            (by_red, by_blue)
        } else {
            (by_blue, by_red)
        };
        let ok = received > 0 && right >= 2 * u64::from(received) && wrong == 0;
        if !ok {
            failed += 1;
        }
        outln!(
            "  {} from {src:<15} to {dst:<17} {received}/{sent} answered; forwarded by router red: {by_red}, by router blue: {by_blue} -> {}",
            if ok { "ok  " } else { "FAIL" },
            if ok { format!("left through {want}'s gateway") } else { format!("expected {want}'s gateway only") }
        );
    }
    Ok(failed)
}

fn build_topology(sb: &mut Sandbox) -> Result<(), DemoError> {
    for role in ["host", "red", "blue", "peer"] {
        sb.add(role)?;
    }
    sb.wire("host", "up-red", "red", "r-host")?;
    sb.wire("host", "up-blue", "blue", "r-host")?;
    sb.wire("red", "r-peer", "peer", "p-red")?;
    sb.wire("blue", "r-peer", "peer", "p-blue")?;
    for (router, n, v4, v6) in [
        ("red", 1, "192.0.2.1/24", "2001:db8:1::1/64"),
        ("blue", 2, "198.51.100.1/24", "2001:db8:2::1/64"),
    ] {
        sb.ops(
            router,
            &[
                addr("r-host", v4)?,
                addr("r-host", v6)?,
                addr("r-peer", &format!("10.255.{n}.1/30"))?,
                addr("r-peer", &format!("fd00:{n}::1/64"))?,
            ],
        )?;
        sb.ops(
            router,
            &[
                route_via("203.0.113.100/32", &format!("10.255.{n}.2"))?,
                route_via("2001:db8:ff::100/128", &format!("fd00:{n}::2"))?,
            ],
        )?;
        sb.sysctl(router, "net.ipv4.ip_forward", "1")?;
        sb.sysctl(router, "net.ipv6.conf.all.forwarding", "1")?;
    }
    sb.ops(
        "peer",
        &[
            addr("lo", "203.0.113.100/32")?,
            addr("lo", "2001:db8:ff::100/128")?,
            addr("p-red", "10.255.1.2/30")?,
            addr("p-red", "fd00:1::2/64")?,
            addr("p-blue", "10.255.2.2/30")?,
            addr("p-blue", "fd00:2::2/64")?,
        ],
    )?;
    sb.ops(
        "peer",
        &[
            route_via("192.0.2.0/24", "10.255.1.1")?,
            route_via("2001:db8:1::/64", "fd00:1::1")?,
            route_via("198.51.100.0/24", "10.255.2.1")?,
            route_via("2001:db8:2::/64", "fd00:2::1")?,
        ],
    )?;
    outln!("  host: uplinks up-red -> router red (192.0.2.1, 2001:db8:1::1), up-blue -> router blue (198.51.100.1, 2001:db8:2::1)");
    outln!("  peer: 203.0.113.100 and 2001:db8:ff::100, reachable through both routers");
    Ok(())
}

/// The router's count of forwarded datagrams (IPv4 `ForwDatagrams` or IPv6
/// `Ip6OutForwDatagrams`), read from its namespace's /proc/net.
fn forwarded(sb: &Sandbox, role: &str, v6: bool) -> Result<u64, DemoError> {
    let parse_err = || {
        DemoError::Step(format!(
            "cannot read the forwarding counter of router {role}"
        ))
    };
    if v6 {
        let text = sb.proc_net(role, "snmp6")?;
        text.lines()
            .find_map(|l| l.strip_prefix("Ip6OutForwDatagrams"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(parse_err)
    } else {
        let text = sb.proc_net(role, "snmp")?;
        let mut ip = text.lines().filter(|l| l.starts_with("Ip: "));
        let (Some(names), Some(values)) = (ip.next(), ip.next()) else {
            return Err(parse_err());
        };
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "ForwDatagrams")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(parse_err)
    }
}

/// UDP port of the peer's echo responder.
const ECHO_PORT: u16 = 7007;
/// Datagrams sent per check.
const PROBES: u32 = 3;

/// How long duplicate address detection may take on a loaded machine (it takes about a
/// second per address: one probe, `retrans_time_ms` 1000).
const DAD_TIMEOUT: Duration = Duration::from_secs(30);
/// `IFA_F_TENTATIVE` and `IFA_F_DADFAILED` in `/proc/net/if_inet6`'s flags column.
const TENTATIVE: u32 = 0x40;
const DAD_FAILED: u32 = 0x08;

/// Waits until no IPv6 address in the sandbox is tentative; fails naming the address
/// that failed DAD or was still tentative at the deadline.
fn wait_for_dad(sb: &Sandbox) -> Result<(), DemoError> {
    let deadline = std::time::Instant::now() + DAD_TIMEOUT;
    loop {
        check_interrupted()?;
        let mut tentative = None;
        for role in ["host", "red", "blue", "peer"] {
            for (addr, dev, flags) in if_inet6(&sb.proc_net(role, "if_inet6")?) {
                if flags & DAD_FAILED != 0 {
                    return Err(DemoError::Step(format!(
                        "IPv6 address {addr} on {dev} in {role} failed duplicate address detection"
                    )));
                }
                if flags & TENTATIVE != 0 {
                    tentative = Some(format!("{addr} on {dev} in {role}"));
                }
            }
        }
        let Some(which) = tentative else {
            return Ok(());
        };
        if std::time::Instant::now() > deadline {
            return Err(DemoError::Step(format!(
                "IPv6 address {which} still tentative after {} s (duplicate address detection)",
                DAD_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The lines of `/proc/net/if_inet6`: address, device, flags.
fn if_inet6(text: &str) -> Vec<(std::net::Ipv6Addr, String, u32)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let [hex, _, _, _, flags, dev] = f[..] else {
                return None;
            };
            let bits = u128::from_str_radix(hex, 16).ok()?;
            let flags = u32::from_str_radix(flags, 16).ok()?;
            Some((std::net::Ipv6Addr::from(bits), dev.to_string(), flags))
        })
        .collect()
}

/// Answers UDP datagrams on the peer's addresses until `stop` is set; says on `ready`
/// once its sockets are bound.
fn echo_responder(
    stop: Arc<AtomicBool>,
    ns: String,
    ready: std::sync::mpsc::Sender<()>,
) -> Result<(), SandboxError> {
    let err = |e: std::io::Error| SandboxError::Other {
        ns: ns.clone(),
        message: format!("echo responder: {e}"),
    };
    let sockets: Vec<UdpSocket> = ["203.0.113.100", "2001:db8:ff::100"]
        .iter()
        .map(|a| {
            let ip: IpAddr = a
                .parse()
                .map_err(|_| std::io::Error::other("bad address"))?;
            let s = UdpSocket::bind(SocketAddr::new(ip, ECHO_PORT))?;
            s.set_read_timeout(Some(Duration::from_millis(50)))?;
            Ok(s)
        })
        .collect::<Result<_, std::io::Error>>()
        .map_err(err)?;
    let _ = ready.send(());
    let mut buf = [0u8; 512];
    while !stop.load(Ordering::SeqCst) {
        for s in &sockets {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                s.send_to(&buf[..n], from).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// Sends UDP datagrams from source address `src` in the host to the peer's echo
/// responder at `dst`; returns (sent, answered).
fn probe(sb: &Sandbox, src: &str, dst: &str) -> Result<(u32, u32), DemoError> {
    let ns = sb.netns("host");
    let bad = |a: &str| DemoError::Step(format!("{a} is not an address"));
    let src: IpAddr = src.parse().map_err(|_| bad(src))?;
    let dst: IpAddr = dst.parse().map_err(|_| bad(dst))?;
    let answered = sb.run_in("host", move || {
        let err = |e: std::io::Error| SandboxError::Other {
            ns: ns.clone(),
            message: format!("UDP probe from {src}: {e}"),
        };
        // Binding to the source address is what selects the policy rule, as for any
        // service answering from that address.
        let s = UdpSocket::bind(SocketAddr::new(src, 0)).map_err(err)?;
        s.set_read_timeout(Some(Duration::from_millis(100)))
            .map_err(err)?;
        let mut answered = 0;
        let mut buf = [0u8; 64];
        for i in 0..PROBES {
            let msg = format!("hostnet-demo {i}");
            s.send_to(msg.as_bytes(), SocketAddr::new(dst, ECHO_PORT))
                .map_err(err)?;
            // The first datagram waits for neighbour discovery on every hop; an answer
            // may also be a late one to an earlier probe, which does not count twice.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while std::time::Instant::now() < deadline {
                if let Ok((n, _)) = s.recv_from(&mut buf) {
                    if buf[..n] == *msg.as_bytes() {
                        answered += 1;
                        break;
                    }
                }
            }
        }
        Ok(answered)
    })?;
    Ok((PROBES, answered))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_inet6_lines_give_address_device_and_flags() {
        let text = "fe80000000000000ecd1f0fffed8e0fd 03 40 20 c0   up-red\n\
                    20010db8000200000000000000000010 06 40 00 82     blue\n";
        let got = if_inet6(text);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].0,
            "fe80::ecd1:f0ff:fed8:e0fd"
                .parse::<std::net::Ipv6Addr>()
                .expect("address")
        );
        assert_eq!(
            (got[0].1.as_str(), got[0].2 & TENTATIVE),
            ("up-red", TENTATIVE)
        );
        assert_eq!((got[1].1.as_str(), got[1].2 & TENTATIVE), ("blue", 0));
    }
}
