//! `--forwarding`: what the rules of N source-routed networks cost the data path.
//!
//! ```text
//!   [guest] 10.99.1.2 ─ eth0 ── h-g 10.99.1.1 [host] h-p 10.99.2.1 ── p-h 10.99.2.2 [peer]
//!                                 N networks (hostnet)                    lo 198.18.5.5
//! ```
//!
//! The host carries the workload's N networks (bridge, veth, /24, own table, rule) and
//! one more, `up`, on h-p (10.99.2.1/24, gateway the peer, priority 3300, so its rule is
//! the last one), all applied by hostnet; its main table has the connected routes and a
//! default route to the peer (the admin's, not hostnet's). For every N, each repetition
//! measures three rule sets in turn, swapped with `ip -batch` on the same devices:
//! hostnet's layout (read back from the kernel after the apply, and checked against a
//! re-apply that must change nothing), the earlier layout (`from SUBNET` and `to SUBNET`
//! per network, no block), and no rules at all. After each swap a short blast that is not
//! counted lets the kernel settle; then each measures, for `--seconds`:
//!
//! * forwarded: 64-byte UDP datagrams from the guest to 198.18.5.5 through the host;
//!   the rate is the host's ForwDatagrams counter over the time;
//! * own → main: the host's own datagrams from 10.99.2.1 to the peer's 10.99.2.2, which
//!   main routes specifically (a connected subnet);
//! * own → gateway: from 10.99.2.1 to 198.18.5.5, which main routes only by its
//!   default: it goes through `up`'s table, whose rule comes after every other network's.

use std::fmt::Write as _;
use std::net::{SocketAddrV4, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, Rule, HOSTNET_PROTO};
use hostnet::persist::ifcfg::rule_line;
use hostnet::sandbox::{addr, route_via, Sandbox, SandboxError};
use serde_json::{json, Value};

use crate::blast::{big_receive_buffer, blast, count};
use crate::report::stats;
use crate::run::{check_interrupted, in_ns, run_child, scratch_dir, Res};
use crate::workload::{hostnet_yaml, networks, Tables};
use crate::Tools;

const PORT: u16 = 9000;

/// The rule sets measured on the same devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    Hostnet,
    Earlier,
    NoRules,
}

impl Layout {
    pub fn label(self) -> &'static str {
        match self {
            Layout::Hostnet => "hostnet (block)",
            Layout::Earlier => "earlier (from + to)",
            Layout::NoRules => "no rules",
        }
    }
}

const KINDS: [&str; 3] = ["forwarded", "own → main", "own → gateway"];

pub struct Sample {
    pub n: usize,
    rep: usize,
    pub layout: Layout,
    pub rules: usize,
    kind: &'static str,
    /// Datagrams per second.
    pps: f64,
    /// Of those, per second, what the peer received.
    delivered_pps: f64,
}

fn sb_err(e: SandboxError) -> String {
    hostnet::error_chain(&e)
}

/// Everything one forwarding run measured.
pub struct Measured {
    pub samples: Vec<Sample>,
    /// Kernel, CPUs, load average before and after.
    pub env: Value,
    pub secs: f64,
    pub reps: usize,
}

/// Runs the forwarding benchmark for 0 and every N of `ns` and writes its report.
pub fn run(tools: &Tools, ns: &[usize], reps: usize, secs: f64, out: &Path) -> Res<()> {
    let m = measure(tools, ns, reps, secs)?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let table = table(&m);
    print!("{table}");
    let md = out.join("FORWARDING.md");
    std::fs::write(&md, &table).map_err(|e| format!("{}: {e}", md.display()))?;
    let js = out.join("forwarding.json");
    let text = serde_json::to_string_pretty(&m.json()).map_err(|e| e.to_string())?;
    std::fs::write(&js, text).map_err(|e| format!("{}: {e}", js.display()))?;
    println!("wrote {} and {}", md.display(), js.display());
    Ok(())
}

/// The measurements for 0 and every N of `ns`, nothing written.
pub fn measure(tools: &Tools, ns: &[usize], reps: usize, secs: f64) -> Res<Measured> {
    let mut counts: Vec<usize> = std::iter::once(0).chain(ns.iter().copied()).collect();
    counts.sort_unstable();
    counts.dedup();
    let load_before = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let sb = topology()?;
    let mut lab = Lab::new(&sb, secs)?;
    let mut samples = Vec::new();
    for &n in &counts {
        check_interrupted()?;
        let yaml = scratch_dir().join(format!("forward-{n}.yaml"));
        std::fs::write(&yaml, file(n)).map_err(|e| e.to_string())?;
        hostnet_apply(tools, &sb, &yaml, false)?;
        let ours = lab.hostnet_rules()?;
        let batches = Batches::new(n, &ours)?;
        for rep in 0..reps {
            let mut order = vec![Layout::Hostnet, Layout::Earlier, Layout::NoRules];
            order.rotate_left(rep % 3);
            for layout in order {
                check_interrupted()?;
                let rules = batches.set(&sb, layout)?;
                // A swap of a thousand rules leaves the kernel busy for a moment (RCU
                // frees, route cache regeneration): a first blast, not counted.
                lab.warm_up()?;
                for kind in KINDS {
                    let (pps, delivered_pps) = lab.measure(kind)?;
                    eprintln!(
                        "N={n:<5} rep {}/{reps} {:<20} {kind:<14} {:>8.1} kpps (delivered {:.1})",
                        rep + 1,
                        layout.label(),
                        pps / 1e3,
                        delivered_pps / 1e3
                    );
                    samples.push(Sample {
                        n,
                        rep,
                        layout,
                        rules,
                        kind,
                        pps,
                        delivered_pps,
                    });
                }
            }
        }
        // What was measured as hostnet's layout is what hostnet makes.
        batches.set(&sb, Layout::Hostnet)?;
        hostnet_apply(tools, &sb, &yaml, true)?;
    }
    drop(lab);
    let load_after = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    Ok(Measured {
        samples,
        env: environment(&load_before, &load_after),
        secs,
        reps,
    })
}

impl Measured {
    pub fn json(&self) -> Value {
        let raw: Vec<Value> = self
            .samples
            .iter()
            .map(|s| {
                json!({"n": s.n, "rep": s.rep, "layout": s.layout.label(), "rules": s.rules, "kind": s.kind,
                       "pps": s.pps, "delivered_pps": s.delivered_pps})
            })
            .collect();
        json!({"env": self.env, "seconds": self.secs, "samples": raw})
    }

    /// Per repetition, the forwarded rate of `layout` with `n` networks over the rate
    /// without rules in the same repetition (measured within seconds of each other, so
    /// the ratio cancels the machine's slower changes).
    pub fn ratios(&self, n: usize, layout: Layout) -> Vec<f64> {
        let pps = |l: Layout, rep: usize| {
            self.samples
                .iter()
                .find(|x| x.n == n && x.layout == l && x.rep == rep && x.kind == "forwarded")
                .map(|x| x.pps)
        };
        (0..self.reps)
            .filter_map(|rep| Some(pps(layout, rep)? / pps(Layout::NoRules, rep)?))
            .collect()
    }

    /// The `kind` rates (datagrams per second) of `layout` with `n` networks.
    pub fn rates(&self, n: usize, layout: Layout, kind: &str) -> Vec<f64> {
        self.samples
            .iter()
            .filter(|x| x.n == n && x.layout == layout && x.kind == kind)
            .map(|x| x.pps)
            .collect()
    }
}

/// hostnet's input: the workload's N networks and `up`.
fn file(n: usize) -> String {
    let nets = networks(n, Tables::Own, None);
    let mut s = if nets.is_empty() {
        "networks:\n".to_string()
    } else {
        hostnet_yaml(&nets)
    };
    s.push_str(
        "  - {name: up, uplink: h-p, bridged: false, ipv4: {address: [10.99.2.1/24], gateway: 10.99.2.2}, source-routing: {table: 999, priority: 3300}}\n",
    );
    s
}

/// `hostnet apply FILE --netns HOST` with state kept in the scratch directory; with
/// `unchanged`, the apply must find nothing to do.
fn hostnet_apply(tools: &Tools, sb: &Sandbox, yaml: &Path, unchanged: bool) -> Res<()> {
    let dir = scratch_dir();
    let out = dir.join("forward-apply.out");
    let s = run_child(
        tools
            .hostnet()?
            .arg("apply")
            .arg(yaml)
            .args(["--netns", &sb.netns("host")])
            .env("HOSTNET_STATE_DIR", dir.join("state"))
            .env("HOSTNET_LIB_DIR", dir.join("lib")),
        Some(&out),
    )?;
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    s.ok("hostnet apply")?;
    if unchanged && !text.contains("Nothing to change") {
        return Err(format!(
            "the measured rules are not hostnet's: a re-apply planned\n{text}"
        ));
    }
    Ok(())
}

fn topology() -> Res<Sandbox> {
    let mut sb = Sandbox::new(&format!("hnb-{}-f", std::process::id()));
    for role in ["guest", "host", "peer"] {
        sb.add(role).map_err(sb_err)?;
    }
    sb.wire("guest", "eth0", "host", "h-g").map_err(sb_err)?;
    sb.wire("host", "h-p", "peer", "p-h").map_err(sb_err)?;
    let ops = |role: &str, ops: Vec<Result<hostnet::netdev::Op, SandboxError>>| {
        let ops: Vec<_> = ops.into_iter().collect::<Result<_, _>>().map_err(sb_err)?;
        sb.ops(role, &ops).map_err(sb_err)
    };
    ops(
        "guest",
        vec![
            addr("eth0", "10.99.1.2/24"),
            route_via("0.0.0.0/0", "10.99.1.1"),
        ],
    )?;
    ops(
        "host",
        vec![addr("h-g", "10.99.1.1/24"), addr("h-p", "10.99.2.1/24")],
    )?;
    ops("host", vec![route_via("0.0.0.0/0", "10.99.2.2")])?;
    ops(
        "peer",
        vec![
            addr("p-h", "10.99.2.2/24"),
            addr("lo", "198.18.5.5/32"),
            route_via("10.99.1.0/24", "10.99.2.1"),
        ],
    )?;
    sb.sysctl("host", "net.ipv4.ip_forward", "1")
        .map_err(sb_err)?;
    Ok(sb)
}

/// The sockets and the counter thread of one run.
struct Lab<'a> {
    sb: &'a Sandbox,
    secs: f64,
    guest: UdpSocket,
    host: UdpSocket,
    peer: Arc<UdpSocket>,
}

impl<'a> Lab<'a> {
    fn new(sb: &'a Sandbox, secs: f64) -> Res<Lab<'a>> {
        let bind = |role: &str, at: &'static str| {
            sb.run_in(role, || {
                UdpSocket::bind(at).map_err(|e| SandboxError::Other {
                    ns: role.into(),
                    message: format!("bind {at}: {e}"),
                })
            })
            .map_err(sb_err)
        };
        let peer = bind("peer", "0.0.0.0:9000")?;
        peer.set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(|e| e.to_string())?;
        big_receive_buffer(&peer);
        Ok(Lab {
            sb,
            secs,
            guest: bind("guest", "0.0.0.0:0")?,
            host: bind("host", "10.99.2.1:0")?,
            peer: Arc::new(peer),
        })
    }

    fn forwarded(&self) -> Res<u64> {
        let t = self.sb.proc_net("host", "snmp").map_err(sb_err)?;
        let mut ip = t.lines().filter(|l| l.starts_with("Ip: "));
        let (names, values) = (ip.next().unwrap_or(""), ip.next().unwrap_or(""));
        names
            .split_whitespace()
            .zip(values.split_whitespace())
            .find(|(n, _)| *n == "ForwDatagrams")
            .and_then(|(_, v)| v.parse().ok())
            .ok_or_else(|| "no ForwDatagrams in the host's /proc/net/snmp".to_string())
    }

    fn warm_up(&mut self) -> Res<()> {
        let secs = self.secs;
        self.secs = secs.min(0.5);
        let r = self.measure("forwarded").map(|_| ());
        self.secs = secs;
        r
    }

    /// One measurement: (datagrams per second, delivered per second).
    fn measure(&mut self, kind: &str) -> Res<(f64, f64)> {
        let dur = Duration::from_secs_f64(self.secs);
        let (sock, dst) = match kind {
            "forwarded" => (&self.guest, "198.18.5.5"),
            "own → main" => (&self.host, "10.99.2.2"),
            _ => (&self.host, "198.18.5.5"),
        };
        let dst = SocketAddrV4::new(dst.parse().map_err(|_| "address")?, PORT);
        let stop = Arc::new(AtomicBool::new(false));
        let counter = {
            let (peer, stop) = (self.peer.clone(), stop.clone());
            std::thread::spawn(move || count(&peer, &stop))
        };
        let fwd_before = self.forwarded()?;
        let sent = blast(sock, dst, dur);
        let fwd_after = self.forwarded()?;
        // What is still in flight through the host arrives within a few milliseconds.
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::SeqCst);
        let got = counter.join().map_err(|_| "counter panicked")?;
        let (sent, elapsed) = sent.map_err(|e| format!("{kind}: send to {dst}: {e}"))?;
        let pps = if kind == "forwarded" {
            fwd_after.saturating_sub(fwd_before) as f64 / elapsed
        } else {
            sent as f64 / elapsed
        };
        Ok((pps, got as f64 / elapsed))
    }

    fn hostnet_rules(&self) -> Res<Vec<Rule>> {
        let s = in_ns(&self.sb.netns("host"), || {
            LinuxDriver::new()
                .and_then(|mut d| d.query())
                .map_err(|e| e.to_string())
        })?;
        Ok(s.rules
            .into_iter()
            .filter(|r| r.protocol == HOSTNET_PROTO)
            .collect())
    }
}

/// `ip -batch` files that add and delete each layout's rules. (`ip rule flush` is no help:
/// it deletes while it dumps, and skips rules of a dump longer than one message.)
struct Batches {
    add: [std::path::PathBuf; 3],
    del: [std::path::PathBuf; 3],
    counts: [usize; 3],
    /// The layout in the kernel now: hostnet's after its apply.
    current: std::cell::Cell<Layout>,
}

fn index(layout: Layout) -> usize {
    match layout {
        Layout::Hostnet => 0,
        Layout::Earlier => 1,
        Layout::NoRules => 2,
    }
}

impl Batches {
    fn new(n: usize, ours: &[Rule]) -> Res<Batches> {
        let earlier: Vec<Rule> = ours
            .iter()
            .filter(|r| hostnet::expand::is_network_rule(r))
            .flat_map(|r| {
                let to = Rule {
                    from: None,
                    to: r.from,
                    ..r.clone()
                };
                [r.clone(), to]
            })
            .collect();
        let dir = scratch_dir();
        let mut b = Batches {
            add: Default::default(),
            del: Default::default(),
            counts: [ours.len(), earlier.len(), 0],
            current: std::cell::Cell::new(Layout::Hostnet),
        };
        for (i, (name, rules)) in [
            ("hostnet", ours),
            ("earlier", &earlier[..]),
            ("none", &[][..]),
        ]
        .into_iter()
        .enumerate()
        {
            for (verb, slot) in [("add", &mut b.add[i]), ("del", &mut b.del[i])] {
                let mut text = String::new();
                for r in rules {
                    let _ = writeln!(text, "rule {verb} {}", rule_line(r));
                }
                *slot = dir.join(format!("forward-{n}-{name}-{verb}.batch"));
                std::fs::write(&*slot, text).map_err(|e| format!("{}: {e}", slot.display()))?;
            }
        }
        Ok(b)
    }

    /// Swaps the rules; returns how many rules the layout puts before main's.
    fn set(&self, sb: &Sandbox, layout: Layout) -> Res<usize> {
        let (from, to) = (index(self.current.get()), index(layout));
        if from != to {
            for file in [&self.del[from], &self.add[to]] {
                in_ns(&sb.netns("host"), || {
                    run_child(Command::new("ip").arg("-batch").arg(file), None)?.ok("ip -batch")
                })?;
            }
            self.current.set(layout);
        }
        let out = scratch_dir().join("forward-rules.txt");
        in_ns(&sb.netns("host"), || {
            run_child(Command::new("ip").args(["-4", "rule", "show"]), Some(&out))?
                .ok("ip rule show")
        })?;
        let have = std::fs::read_to_string(&out)
            .map_err(|e| e.to_string())?
            .lines()
            .filter(|l| l.ends_with(" proto 201"))
            .count();
        if have != self.counts[to] {
            return Err(format!(
                "{}: {have} rules in the kernel, {} expected",
                layout.label(),
                self.counts[to]
            ));
        }
        Ok(self.counts[to])
    }
}

fn environment(load_before: &str, load_after: &str) -> Value {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    json!({
        "kernel": kernel.trim(),
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(0),
        "loadavg_before": load_before.trim(),
        "loadavg_after": load_after.trim(),
    })
}

/// The Markdown report: a title and [`Measured::rows`].
fn table(m: &Measured) -> String {
    let mut s = String::from(
        "# Forwarding and the host's own traffic through N source-routed networks\n\n",
    );
    s.push_str(&m.rows());
    s
}

impl Measured {
    /// The environment line, the table and its legend.
    pub fn rows(&self) -> String {
        let (samples, env, secs, reps) = (&self.samples, &self.env, self.secs, self.reps);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "kernel {}, {} CPUs, load average {} before, {} after; {reps} repetitions of {secs} s \
         per cell, median [min–max] in thousands of 64-byte UDP datagrams per second.\n",
            env["kernel"].as_str().unwrap_or(""),
            env["cpus"],
            env["loadavg_before"].as_str().unwrap_or(""),
            env["loadavg_after"].as_str().unwrap_or("")
        );
        s.push_str(
        "| networks | rules | layout | forwarded | vs no rules | own → main | own → gateway |\n",
    );
        s.push_str("|--:|--:|---|--:|--:|--:|--:|\n");
        let mut ns: Vec<usize> = samples.iter().map(|x| x.n).collect();
        ns.dedup();
        for n in ns {
            let cell = |layout: Layout, kind: &str| -> (f64, String) {
                let v: Vec<f64> = samples
                    .iter()
                    .filter(|x| x.n == n && x.layout == layout && x.kind == kind)
                    .map(|x| x.pps / 1e3)
                    .collect();
                let (med, lo, hi) = stats(&v);
                (med, format!("{med:.0} [{lo:.0}–{hi:.0}]"))
            };
            let ratio = |layout: Layout| stats(&self.ratios(n, layout)).0;
            for layout in [Layout::Hostnet, Layout::Earlier, Layout::NoRules] {
                let rules = samples
                    .iter()
                    .find(|x| x.n == n && x.layout == layout)
                    .map_or(0, |x| x.rules);
                let fwd = cell(layout, "forwarded");
                let _ = writeln!(
                    s,
                    "| {n} | {rules} | {} | {} | {:.2}× | {} | {} |",
                    layout.label(),
                    fwd.1,
                    ratio(layout),
                    cell(layout, "own → main").1,
                    cell(layout, "own → gateway").1,
                );
            }
        }
        s.push_str(
        "\n`vs no rules`: the median over the repetitions of the forwarded rate over the rate \
         without rules in the same repetition. `rules`: the rules before main's (hostnet's N+1 network rules and its block of three, \
         or the earlier layout's two per network). `networks`: the workload's N networks; \
         the `up` network the host's own traffic leaves by is always there.\n",
    );
        s
    }
}
