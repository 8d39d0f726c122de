//! `hostnet-bench`: hostnet against its peers (`ip` one process per operation, `ip -batch`,
//! `nmstatectl apply --kernel`) on N logical networks in fresh network namespaces.
//!
//! Every method runs in namespaces this program creates (`hnb-PID-*`) and deletes, also on
//! errors and Ctrl-C; the machine's own namespace is never touched. Methods are interleaved
//! round-robin, every result is checked with `ip -j`, and the table (median, min, max), the
//! raw samples and an SVG plot are written to `--out`.
//!
//! hostnet is run as a process like the peers: by default this program re-executes itself
//! under the name `hostnet`, which runs exactly `hostnet::cli::main` of this build (so
//! `cargo run --release --bin hostnet-bench` never measures a stale `hostnet` binary);
//! `--hostnet PATH` measures another binary.
//!
//! `--goals` measures issue 18's three goals in one run instead and writes one report
//! (see `goals/mod.rs`).

mod blast;
mod check;
mod dry_teardown;
mod forward;
#[path = "fw_apply.rs"]
mod fw_apply;
mod goals;
mod profile;
mod report;
mod run;
mod steps;
mod workload;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Parser;

use report::Report;
use run::{scratch_dir, Netns, Res};

const NMSTATE_VERSION: &str = "2.2.62";

/// Benchmarks hostnet against ip, ip -batch and nmstatectl (needs root).
#[derive(Debug, Parser)]
#[command(name = "hostnet-bench", version)]
struct Args {
    /// Numbers of networks, comma-separated [default: 100,1000; with --goals 1000,4000].
    #[arg(long, value_delimiter = ',')]
    n: Vec<usize>,
    /// Repetitions: one number for every N, or one per N [default: 5,3; with --goals 3,2;
    /// for other than two N, the first number for all].
    #[arg(long, value_delimiter = ',')]
    reps: Vec<usize>,
    /// Where RESULTS.md, results.json and apply.svg go [default: bench/results; with
    /// --goals bench/results/goals].
    #[arg(long)]
    out: Option<PathBuf>,
    /// Instead of the benchmark: issue 18's three goals in one run (apply from scratch at
    /// each --n with hostnet and `ip -batch`; forwarding with 0 and each --fwd-n networks;
    /// a one-network firewall change among each --fw-n), judged met or not met, written
    /// to GOALS.md, goals.json and goals.svg in --out. About 15 minutes at the default N
    /// on 2 cores.
    #[arg(long)]
    goals: bool,
    /// With --goals: numbers of networks for the forwarding part.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1000])]
    fwd_n: Vec<usize>,
    /// With --goals: repetitions of the forwarding part (each: every rule layout).
    #[arg(long, default_value_t = 5)]
    fwd_reps: usize,
    /// With --goals: numbers of networks with firewalls for the firewall change part.
    #[arg(long, value_delimiter = ',', default_values_t = [100, 1000])]
    fw_n: Vec<usize>,
    /// With --goals: repetitions of the firewall change (each: both files, there and
    /// back).
    #[arg(long, default_value_t = 15)]
    fw_reps: usize,
    /// Leave nmstatectl out (and do not install it).
    #[arg(long)]
    skip_nmstate: bool,
    /// Leave out `ip` with one process per operation (the slowest method).
    #[arg(long)]
    skip_ip_per_op: bool,
    /// Leave out `ip -batch` (its deletes take minutes past 1,000 networks).
    #[arg(long)]
    skip_ip_batch: bool,
    /// Do not `cargo install` nmstatectl when it is missing; skip it instead.
    #[arg(long)]
    no_install: bool,
    /// The hostnet binary to measure (default: this build's hostnet code).
    #[arg(long)]
    hostnet: Option<PathBuf>,
    /// Instead of the benchmark: hostnet's apply phase by phase, IPv6 on and off, for the
    /// first N (through the library, printed, nothing written).
    #[arg(long)]
    profile: bool,
    /// Instead of the benchmark: the forwarded packet rate and the host's own traffic
    /// with 0 and each N networks applied, against the same host without rules (writes
    /// FORWARDING.md and forwarding.json to --out).
    #[arg(long)]
    forwarding: bool,
    /// Seconds per forwarding measurement [default: 2; with --goals 1].
    #[arg(long)]
    seconds: Option<f64>,
    /// Instead of the benchmark: a dry run of the teardown of each N networks on the model
    /// driver alone (no kernel, no root), timed and printed.
    #[arg(long)]
    dry_teardown: bool,
    /// The nmstatectl binary (default: bench/.tools/bin/nmstatectl, then PATH).
    #[arg(long)]
    nmstatectl: Option<PathBuf>,
}

impl Args {
    /// The defaults that differ between the benchmark and `--goals`.
    fn fill_defaults(&mut self) {
        let goals = self.goals;
        if self.n.is_empty() {
            self.n = if goals {
                vec![1000, 4000]
            } else {
                vec![100, 1000]
            };
        }
        if self.reps.is_empty() {
            let (a, b) = if goals { (3, 2) } else { (5, 3) };
            // One per N when there are two N, as for the defaults; else the first for all.
            self.reps = if self.n.len() == 2 {
                vec![a, b]
            } else {
                vec![a]
            };
        }
        self.out.get_or_insert_with(|| {
            PathBuf::from(if goals {
                "bench/results/goals"
            } else {
                "bench/results"
            })
        });
        self.seconds.get_or_insert(if goals { 1.0 } else { 2.0 });
    }

    fn out(&self) -> &Path {
        self.out.as_deref().unwrap_or(Path::new("bench/results"))
    }

    fn seconds(&self) -> f64 {
        self.seconds.unwrap_or(2.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Hostnet,
    IpPerOp,
    IpBatch,
    Nmstate,
}

impl Method {
    fn label(self) -> &'static str {
        match self {
            Method::Hostnet => "hostnet",
            Method::IpPerOp => "ip (one process per op)",
            Method::IpBatch => "ip -batch",
            Method::Nmstate => "nmstatectl --kernel",
        }
    }
}

struct Tools {
    hostnet: Option<PathBuf>,
    nmstatectl: Option<PathBuf>,
}

impl Tools {
    fn hostnet(&self) -> Res<Command> {
        Ok(match &self.hostnet {
            Some(p) => Command::new(p),
            None => {
                // The running image itself, even if the file was replaced by a rebuild since.
                let me = PathBuf::from("/proc/self/exe");
                let mut c = Command::new(me);
                c.arg0("hostnet");
                c
            }
        })
    }
}

fn main() -> ExitCode {
    let invoked_as = std::env::args_os().next().unwrap_or_default();
    if Path::new(&invoked_as).file_name() == Some("hostnet".as_ref()) {
        return hostnet::cli::main();
    }
    let mut args = Args::parse();
    args.fill_defaults();
    match real_main(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hostnet-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(args: &Args) -> Res<()> {
    if args.dry_teardown {
        return dry_teardown::dry_teardown(&args.n);
    }
    if !nix::unistd::geteuid().is_root() {
        return Err("needs root (it creates network namespaces)".into());
    }
    if args.n.is_empty() || args.n.iter().any(|&n| n == 0 || n > 60000) {
        return Err("--n: each N must be in 1..=60000".into());
    }
    if args.reps.is_empty()
        || (args.reps.len() != 1 && args.reps.len() != args.n.len())
        || args.reps.contains(&0)
    {
        return Err("--reps: one positive number, or one per N".into());
    }
    run::install_signal_handlers()?;
    if !(0.05..=600.0).contains(&args.seconds()) {
        return Err("--seconds: 0.05 to 600".into());
    }
    if args.goals {
        return goals::main(args);
    }
    if args.forwarding {
        std::fs::create_dir_all(scratch_dir()).map_err(|e| format!("scratch dir: {e}"))?;
        let tools = Tools {
            hostnet: args.hostnet.clone(),
            nmstatectl: None,
        };
        let result = forward::run(&tools, &args.n, args.reps[0], args.seconds(), args.out());
        let _ = std::fs::remove_dir_all(scratch_dir());
        return result;
    }
    if args.profile {
        std::fs::create_dir_all(scratch_dir()).map_err(|e| format!("scratch dir: {e}"))?;
        let probe = format!("hnb-{}-probe", std::process::id());
        let result =
            Netns::new(probe.clone(), None).and_then(|_probe| profile::profile(args.n[0], &probe));
        let _ = std::fs::remove_dir_all(scratch_dir());
        return result;
    }
    let version = |c: &mut Command| -> String {
        c.output()
            .ok()
            .map(|o| {
                String::from_utf8_lossy(if o.stdout.is_empty() {
                    &o.stderr
                } else {
                    &o.stdout
                })
                .trim()
                .to_string()
            })
            .unwrap_or_default()
    };
    let ip_version = version(Command::new("ip").arg("-V"));
    if ip_version.is_empty() {
        return Err("`ip` (iproute2) is not installed".into());
    }
    let nmstatectl = if args.skip_nmstate {
        None
    } else {
        find_nmstatectl(args)?
    };
    let tools = Tools {
        hostnet: args.hostnet.clone(),
        nmstatectl,
    };
    let mut methods = vec![Method::Hostnet];
    if !args.skip_ip_batch {
        methods.push(Method::IpBatch);
    }
    if !args.skip_ip_per_op {
        methods.push(Method::IpPerOp);
    }
    if tools.nmstatectl.is_some() {
        methods.push(Method::Nmstate);
    }
    let mut report = Report::new();
    report.env.push(("ip".into(), ip_version));
    report.env.push((
        "hostnet".into(),
        format!(
            "{} ({})",
            version(tools.hostnet()?.arg("--version")),
            match &tools.hostnet {
                Some(p) => p.display().to_string(),
                None => "this build".into(),
            }
        ),
    ));
    if let Some(p) = &tools.nmstatectl {
        report.env.push((
            "nmstatectl".into(),
            version(Command::new(p).arg("--version")),
        ));
    } else {
        report.env.push(("nmstatectl".into(), "not run".into()));
    }
    std::fs::create_dir_all(scratch_dir()).map_err(|e| format!("scratch dir: {e}"))?;
    let result = steps::run_all(
        &args.n,
        &args.reps,
        steps::Teardown::Timed,
        &tools,
        &methods,
        &mut report,
    );
    let _ = std::fs::remove_dir_all(scratch_dir());
    result?;
    let out = args.out();
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    report.write(out)?;
    println!(
        "wrote {0}/RESULTS.md, {0}/results.json, {0}/apply.svg",
        out.display()
    );
    Ok(())
}

fn find_nmstatectl(args: &Args) -> Res<Option<PathBuf>> {
    if let Some(p) = &args.nmstatectl {
        return Ok(Some(p.clone()));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/.tools");
    let local = root.join("bin/nmstatectl");
    if local.exists() {
        return Ok(Some(local));
    }
    if let Ok(o) = Command::new("nmstatectl").arg("--version").output() {
        if o.status.success() {
            return Ok(Some(PathBuf::from("nmstatectl")));
        }
    }
    if args.no_install {
        eprintln!("nmstatectl not found; skipping it (--no-install)");
        return Ok(None);
    }
    eprintln!(
        "installing nmstatectl {NMSTATE_VERSION} into {} (about 13 minutes on 2 cores; --skip-nmstate skips it)",
        root.display()
    );
    let status = Command::new("cargo")
        .args([
            "install",
            "nmstatectl",
            "--version",
            NMSTATE_VERSION,
            "--locked",
            "--root",
        ])
        .arg(&root)
        .status()
        .map_err(|e| format!("cargo install nmstatectl: {e}"))?;
    if !status.success() || !local.exists() {
        return Err(format!("cargo install nmstatectl failed ({status})"));
    }
    Ok(Some(local))
}
