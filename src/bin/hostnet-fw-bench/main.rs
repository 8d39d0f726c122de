//! `hostnet-fw-bench`: the firewall backends at scale. For each backend (nftables,
//! iptables-nft, iptables-legacy) and each N: load N networks' rules into an empty
//! namespace (one transaction), read them back, change one network, and, for comparison,
//! reload the same N networks' rules in full the way a tool without per-network chains
//! would (`nft -f` of the whole table after `delete table`; `iptables-restore` without
//! `--noflush` of the whole tables). Every measurement runs in a namespace this program
//! creates (`hnfwb-PID-*`) and deletes; the machine's own firewall is never touched.
//!
//! The figures are the firewall module's own calls (rendering plus the tool processes),
//! which is what `hostnet apply` spends on the firewall; its netlink work is measured by
//! `hostnet-bench`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[path = "../hostnet-bench/fw_apply.rs"]
mod apply;

use clap::Parser;
use hostnet::firewall::{
    self, Allow, BackendKind, FloatingIp, FwOp, NetFirewall, PortForward, Proto,
};
use hostnet::sandbox::{Sandbox, SandboxError};

/// Benchmarks the firewall backends (needs root, nft, iptables).
#[derive(Debug, Parser)]
#[command(name = "hostnet-fw-bench")]
struct Args {
    /// Numbers of networks, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1000])]
    n: Vec<usize>,
    /// Repetitions of every measurement (the median is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Numbers of networks for the end-to-end `hostnet apply` of a one-network change
    /// (empty: none).
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1000])]
    apply_n: Vec<usize>,
    /// Leave out the backends' own figures (only `--apply-n`).
    #[arg(long)]
    skip_backends: bool,
    /// Where RESULTS.md and results.json go.
    #[arg(long, default_value = "bench/results/firewall")]
    out: PathBuf,
}

#[derive(Clone, Copy, Debug)]
enum Variant {
    Nftables,
    IptablesNft,
    IptablesLegacy,
}

impl Variant {
    fn label(self) -> &'static str {
        match self {
            Variant::Nftables => "nftables",
            Variant::IptablesNft => "iptables (nf_tables)",
            Variant::IptablesLegacy => "iptables (legacy)",
        }
    }
    fn backend(self) -> BackendKind {
        match self {
            Variant::Nftables => BackendKind::Nftables,
            _ => BackendKind::Iptables,
        }
    }
    fn env(self) -> &'static str {
        match self {
            Variant::IptablesLegacy => "legacy",
            _ => "nft",
        }
    }
    fn restore(self, v6: bool) -> String {
        let base = if v6 { "ip6tables" } else { "iptables" };
        match self {
            Variant::IptablesLegacy => format!("{base}-legacy-restore"),
            _ => format!("{base}-nft-restore"),
        }
    }
}

/// Network i: bridge `fb{i}`, 10.a.b.0/24 and fd00:a:b::/64, masquerade, every other one
/// isolated, guests may reach DNS and DHCP, one floating IP and one port forward.
fn spec(i: usize) -> NetFirewall {
    let (a, b) = (i / 250, i % 250);
    let internal = format!("10.{a}.{b}.5").parse().unwrap_or([0u8; 4].into());
    NetFirewall {
        device: format!("fb{i}"),
        subnets: [
            format!("10.{a}.{b}.0/24").parse(),
            format!("fd00:{a}:{b}::/64").parse(),
        ]
        .into_iter()
        .flatten()
        .collect(),
        masquerade: Some("up0".into()),
        isolate: i.is_multiple_of(2),
        allow: Some(
            [
                Allow {
                    proto: Proto::Udp,
                    port: 53,
                },
                Allow {
                    proto: Proto::Udp,
                    port: 67,
                },
            ]
            .into(),
        ),
        floating: [FloatingIp {
            external: format!("100.64.{a}.{b}").parse().unwrap_or([0u8; 4].into()),
            internal,
            interface: "up0".into(),
        }]
        .into(),
        forwards: [PortForward {
            proto: Proto::Tcp,
            external_port: u16::try_from(10_000 + i).unwrap_or(u16::MAX),
            internal,
            internal_port: 22,
            interface: "up0".into(),
        }]
        .into(),
        metadata: None,
    }
}

fn load_ops(b: BackendKind, n: usize) -> Vec<FwOp> {
    let mut ops = vec![FwOp::Base {
        backend: b,
        from: BTreeSet::new(),
        up: true,
    }];
    ops.extend((0..n).map(|i| FwOp::Network {
        backend: b,
        name: format!("net{i}"),
        from: None,
        to: Some(spec(i)),
    }));
    ops
}

pub(crate) fn fail(what: &str, e: impl std::fmt::Display) -> SandboxError {
    SandboxError::Other {
        ns: String::new(),
        message: format!("{what}: {e}"),
    }
}

fn timed<T>(f: impl FnOnce() -> Result<T, SandboxError>) -> Result<(Duration, T), SandboxError> {
    let t = Instant::now();
    let r = f()?;
    Ok((t.elapsed(), r))
}

/// One repetition in a fresh namespace: (load, query, change one, full reload) times.
fn one_run(v: Variant, n: usize) -> Result<[Duration; 4], SandboxError> {
    let mut sb = Sandbox::new(&format!("hnfwb-{}", std::process::id()));
    sb.add("x")?;
    let b = v.backend();
    let out = sb.run_in("x", || {
        let ops = load_ops(b, n);
        let refs: Vec<&FwOp> = ops.iter().collect();
        let (load, ()) =
            timed(|| hostnet::netdev::firewall::execute(&refs).map_err(|e| fail("load", e)))?;
        let (query, st) =
            timed(|| hostnet::netdev::firewall::query().map_err(|e| fail("query", e)))?;
        let have = st.backend(b);
        if have.networks.len() != n || have.networks.values().any(|s| !s.intact) {
            return Err(fail("check", "the loaded rules do not read back intact"));
        }
        // Change one network in the middle: drop its port forward, isolate it or not.
        let name = format!("net{}", n / 2);
        let mut changed = spec(n / 2);
        changed.forwards.clear();
        changed.isolate = !changed.isolate;
        let op = FwOp::Network {
            backend: b,
            name: name.clone(),
            from: have.networks.get(&name).cloned(),
            to: Some(changed.clone()),
        };
        let (change, ()) =
            timed(|| hostnet::netdev::firewall::execute(&[&op]).map_err(|e| fail("change", e)))?;
        let after = hostnet::netdev::firewall::query().map_err(|e| fail("query", e))?;
        let got = after.backend(b).networks.get(&name);
        if got.is_none_or(|s| !s.intact || s.spec != changed) {
            return Err(fail("check", "the change did not read back"));
        }
        // A full reload of the same rules, the way a tool without per-network state does.
        let (reload, ()) = timed(|| full_reload(v, n))?;
        Ok([load, query, change, reload])
    });
    sb.destroy();
    out
}

fn full_reload(v: Variant, n: usize) -> Result<(), SandboxError> {
    let b = v.backend();
    let mut ops = load_ops(b, n);
    match v {
        Variant::Nftables => {
            // `delete table` + everything, in one transaction.
            if let Some(FwOp::Base { from, .. }) = ops.first_mut() {
                from.insert("table".into());
            }
            let refs: Vec<&FwOp> = ops.iter().collect();
            let text = firewall::nft::render(&refs);
            pipe("nft", &["-f", "-"], &text)
        }
        _ => {
            let refs: Vec<&FwOp> = ops.iter().collect();
            let [(v4, _), (v6, _)] = firewall::iptables::render(&refs);
            // Without --noflush the restore replaces each table it names whole.
            pipe(&v.restore(false), &["-w"], &v4)?;
            pipe(&v.restore(true), &["-w"], &v6)
        }
    }
}

fn pipe(program: &str, args: &[&str], input: &str) -> Result<(), SandboxError> {
    use std::io::Write;
    let mut child = std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| fail(program, e))?;
    if let Some(mut s) = child.stdin.take() {
        s.write_all(input.as_bytes())
            .map_err(|e| fail(program, e))?;
    }
    let out = child.wait_with_output().map_err(|e| fail(program, e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(fail(program, String::from_utf8_lossy(&out.stderr)))
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

type ApplyReport = (Vec<String>, Vec<serde_json::Value>);

/// The end-to-end runs, as table rows and JSON samples.
fn apply_figures(args: &Args) -> Result<ApplyReport, SandboxError> {
    let scratch = std::env::temp_dir().join(format!("hnfwb-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| fail("scratch", e))?;
    // The runs' records (committed store, applied record, journal, lock) go with the
    // scratch directory, not among the machine's: hostnet's children inherit these.
    std::env::set_var("HOSTNET_STATE_DIR", scratch.join("state"));
    std::env::set_var("HOSTNET_LIB_DIR", scratch.join("lib"));
    let (mut rows, mut json) = (Vec::new(), Vec::new());
    for &n in &args.apply_n {
        let f = apply::run(n, args.reps, &scratch, None);
        let f = match f {
            Ok(f) => f,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&scratch);
                return Err(e);
            }
        };
        for (label, samples) in [("whole file", &f.whole), ("one network", &f.one)] {
            let walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
            let cpus: Vec<Duration> = samples.iter().map(|s| s.cpu).collect();
            let phase = |k: usize| {
                let mut v: Vec<f64> = samples.iter().map(|s| s.phases[k]).collect();
                v.sort_by(f64::total_cmp);
                v.get(v.len() / 2).copied().unwrap_or_default()
            };
            let (lo, hi) = (
                walls.iter().min().copied().unwrap_or_default(),
                walls.iter().max().copied().unwrap_or_default(),
            );
            eprintln!(
                "hostnet apply N={n:<5} {label:<12} wall {:>7.1} ms  cpu {:>7.1} ms",
                ms(median(walls.clone())),
                ms(median(cpus.clone()))
            );
            rows.push(format!(
                "| {n} | {label} | **{:.1}** | {:.1}–{:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} |",
                ms(median(walls.clone())),
                ms(lo),
                ms(hi),
                ms(median(cpus)),
                phase(0),
                phase(1),
                phase(2),
                phase(3)
            ));
            json.push(serde_json::json!({
                "apply": label, "n": n, "setup_ms": ms(f.setup),
                "wall_ms": walls.iter().map(|d| ms(*d)).collect::<Vec<_>>(),
                "cpu_ms": samples.iter().map(|s| ms(s.cpu)).collect::<Vec<_>>(),
                "sys_ms": samples.iter().map(|s| ms(s.sys)).collect::<Vec<_>>(),
                "phases_ms": samples.iter().map(|s| s.phases.to_vec()).collect::<Vec<_>>(),
            }));
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok((rows, json))
}

fn main() -> std::process::ExitCode {
    let invoked_as = std::env::args_os().next().unwrap_or_default();
    if std::path::Path::new(&invoked_as).file_name() == Some("hostnet".as_ref()) {
        return hostnet::cli::main();
    }
    let args = Args::parse();
    // The machine is shared: every report says how busy it was.
    let load = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load_before = load();
    let mut rows = Vec::new();
    let mut json = Vec::new();
    let variants = if args.skip_backends {
        Vec::new()
    } else {
        vec![
            Variant::Nftables,
            Variant::IptablesNft,
            Variant::IptablesLegacy,
        ]
    };
    for v in variants {
        // The iptables module picks its variant from the environment; nothing else runs
        // in this process meanwhile.
        std::env::set_var("HOSTNET_IPTABLES", v.env());
        for &n in &args.n {
            let mut samples: [Vec<Duration>; 4] = Default::default();
            for _ in 0..args.reps.max(1) {
                match one_run(v, n) {
                    Ok(times) => {
                        for (s, t) in samples.iter_mut().zip(times) {
                            s.push(t);
                        }
                    }
                    Err(e) => {
                        eprintln!("{} N={n}: {}", v.label(), hostnet::error_chain(&e));
                        return std::process::ExitCode::FAILURE;
                    }
                }
            }
            let m: Vec<f64> = samples.iter().map(|s| ms(median(s.clone()))).collect();
            eprintln!(
                "{:<22} N={n:<5} load {:>9.1} ms  query {:>8.1} ms  change one {:>7.1} ms  full reload {:>9.1} ms",
                v.label(),
                m[0],
                m[1],
                m[2],
                m[3]
            );
            rows.push(format!(
                "| {} | {n} | {:.1} | {:.1} | **{:.1}** | {:.1} |",
                v.label(),
                m[0],
                m[1],
                m[2],
                m[3]
            ));
            let all: Vec<Vec<f64>> = samples
                .iter()
                .map(|s| s.iter().map(|d| ms(*d)).collect())
                .collect();
            json.push(serde_json::json!({
                "backend": v.label(), "n": n,
                "load_ms": all[0], "query_ms": all[1], "change_one_ms": all[2], "full_reload_ms": all[3],
            }));
        }
    }
    let (apply_rows, apply_json) = match apply_figures(&args) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hostnet apply: {}", hostnet::error_chain(&e));
            return std::process::ExitCode::FAILURE;
        }
    };
    json.extend(apply_json);
    let load_after = load();
    json.push(serde_json::json!({
        "loadavg_before": load_before.trim(), "loadavg_after": load_after.trim(),
    }));
    let mut table = format!(
        "# Firewall benchmark\n\n`cargo run --release --bin hostnet-fw-bench -- --n {} --reps {}`; medians in ms.\n\
         Load average (1, 5, 15 min) before: {}; after: {}.\n\
         Each network: masquerade, isolation on every other one, a guest allow-list, one floating IP,\n\
         one port forward, IPv4 and IPv6 subnets (see bench/README.md).\n\n\
         | backend | networks | load all (one transaction) | read back (query) | change one network | full reload of the same rules |\n\
         | --- | --- | --- | --- | --- | --- |\n{}\n",
        args.n
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        args.reps,
        load_before.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        load_after.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        rows.join("\n")
    );
    if !apply_rows.is_empty() {
        let _ = write!(
            table,
            "\n## `hostnet apply` of a one-network firewall change\n\n\
             `--apply-n {}`: the middle network's isolation flips, {} times each way, interleaved;\n\
             wall time of the process (median, min–max), its CPU time (median) and hostnet's\n\
             own phases (median ms, from `apply -o json`).\n\n\
             | networks | file | wall | min–max | CPU | query | plan | execute | verify |\n\
             | --: | --- | --: | --: | --: | --: | --: | --: | --: |\n{}\n",
            args.apply_n
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
            args.reps,
            apply_rows.join("\n")
        );
    }
    let written = std::fs::create_dir_all(&args.out)
        .and_then(|()| std::fs::write(args.out.join("RESULTS.md"), &table))
        .and_then(|()| {
            std::fs::write(
                args.out.join("results.json"),
                serde_json::to_string_pretty(&json).unwrap_or_default(),
            )
        });
    if let Err(e) = written {
        eprintln!("cannot write {}: {e}", args.out.display());
        return std::process::ExitCode::FAILURE;
    }
    print!("{table}");
    std::process::ExitCode::SUCCESS
}
