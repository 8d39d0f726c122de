//! The command line. Each subcommand is a file; this one parses arguments, enters the
//! requested network namespace and maps outcomes to exit codes:
//! 0 done, 1 failed (and rolled back, or nothing changed), 2 invalid input (nothing
//! changed), 3 failed and the rollback is incomplete.

mod apply;
mod demo;
mod dhcp;
mod docs;
mod graph;
mod log;
mod output;
mod persist;
pub mod plan_view;
mod progress;
mod safety;
mod show;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

pub use output::Format;

const APPLY_EXAMPLES: &str = "\
Examples:
  hostnet apply examples/multi-gateway.yaml --netns sandbox --dry-run
  hostnet apply host.yaml -o json
  hostnet apply mgmt.yaml --confirm-timeout 120 && hostnet commit   # over SSH
  hostnet show -o yaml > now.yaml && hostnet apply now.yaml   # changes nothing

Exit codes: 0 done, 1 failed and rolled back (or nothing was changed),
2 invalid input (nothing was changed), 3 failed and the rollback is incomplete.";

const SHOW_EXAMPLES: &str = "\
Examples:
  hostnet show
  hostnet show --netns sandbox -o json
  hostnet show br0";

const STATUS_HELP: &str = "\
The record is the committed state (what `hostnet restore` applies at boot), with a
pending checkpoint's change on top. Drift is every difference between it and the host:
the plan an apply of the record would make now, shown like a plan.

Exit codes: 0 the host matches the record (or nothing is recorded), 1 drift,
2 the record or the host could not be read.

Examples:
  hostnet status
  hostnet status -o json | jq '.drift[] | select(.network == \"red\")'
  hostnet status >/dev/null || alert \"hostnet drift\"";

const DEMO_EXAMPLES: &str = "\
Builds a private set of network namespaces (a host with two uplinks, two routers
and a remote peer), applies examples/multi-gateway.yaml to the host, shows the
routing tables and rules hostnet made, proves with pings that each source
address leaves through its own gateway, and removes everything again.
Needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN); touches nothing outside its
namespaces.

Examples:
  sudo hostnet demo
  sudo hostnet demo --keep     # leave the namespaces for a look around";

/// Declarative network configuration for Linux virtualization hosts.
#[derive(Debug, Parser)]
#[command(name = "hostnet", version = env!("HOSTNET_VERSION"), about, long_about = None)]
pub struct Cli {
    /// Say more on standard error: -v what happens, -vv and -vvv details (RUST_LOG,
    /// e.g. RUST_LOG=hostnet=debug, overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Say only errors on standard error (no warnings).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the kernel match a YAML file: plan, apply, verify, roll back on failure.
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Print the current state in the input schema.
    #[command(after_help = SHOW_EXAMPLES)]
    Show(ShowArgs),
    /// The networks in force and how the host drifted from the record (exit 1 on drift).
    #[command(after_help = STATUS_HELP)]
    Status(status::StatusArgs),
    /// Check a YAML file without looking at the host.
    Validate {
        /// The file to check.
        #[arg(default_value = DEFAULT_FILE)]
        file: PathBuf,
    },
    /// Run the multi-gateway demo in a sandbox of network namespaces.
    #[command(after_help = DEMO_EXAMPLES)]
    Demo(demo::DemoArgs),
    /// Converge a DHCP network's source routing from a DHCP client event (run by hooks).
    DhcpEvent(dhcp::DhcpEventArgs),
    /// Install or remove the DHCP clients' hooks that run `hostnet dhcp-event`.
    Hooks(dhcp::HooksArgs),
    /// Follow DHCP leases through netlink and converge their source routing.
    Monitor(dhcp::MonitorArgs),
    /// Keep the change of `apply --confirm-timeout`.
    Commit(safety::NetnsArgs),
    /// Undo a pending checkpoint now, or return to the state before an apply that died.
    Rollback(safety::NetnsArgs),
    /// Apply the last committed state, network by network (at boot).
    Restore(safety::RestoreArgs),
    /// Waits for a checkpoint's deadline and rolls it back (started by `apply`).
    #[command(hide = true)]
    CheckpointWatchdog(safety::WatchdogArgs),
    /// Write the host's own boot-time network configuration (ifcfg, networkd, keyfile) from a YAML file.
    Persist(persist::PersistArgs),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions(docs::CompletionsArgs),
    /// Print the man page (roff), or write one per command into a directory.
    Man(docs::ManArgs),
}

/// The host's file, where the Debian package keeps it: `hostnet apply` with no argument.
pub const DEFAULT_FILE: &str = "/etc/hostnet/host.yaml";

/// `hostnet apply`.
#[derive(Debug, clap::Args)]
pub struct ApplyArgs {
    /// The desired state (YAML; `-` reads standard input).
    #[arg(default_value = DEFAULT_FILE)]
    pub file: PathBuf,
    /// Run inside the named network namespace (/run/netns/NAME).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Show the plan and check it against a model of this host; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
    /// Seconds to wait for another hostnet command on the same namespace.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// Keep a checkpoint: roll the change back by itself after SECONDS unless `hostnet
    /// commit` runs first (the guard for changing the management network over SSH).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub confirm_timeout: Option<u64>,
    /// An earlier apply died (its journal is under /run/hostnet): keep what it did,
    /// forget its journal, and apply. Without this, apply refuses until `hostnet
    /// rollback` has returned to the state before it.
    #[arg(long)]
    pub discard_stale_journal: bool,
}

/// Output formats of `apply` and `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Text,
    Json,
}

/// `hostnet show`.
#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// Report only this interface: its settings, addresses, the routes that use it and
    /// the rules that lead to them.
    #[arg(value_name = "IFACE", conflicts_with_all = ["dhcp", "firewall", "dhcp_servers"])]
    pub interface: Option<String>,
    /// Run inside the named network namespace (/run/netns/NAME).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = Format::Yaml)]
    pub output: Format,
    /// Report only the DHCP networks: the address, router and table in force for each.
    #[arg(long)]
    pub dhcp: bool,
    /// Report only the networks' firewall: backend, device and rules in force for each.
    #[arg(long, conflicts_with = "dhcp")]
    pub firewall: bool,
    /// Report only the networks' DHCP servers (dnsmasq): pid, running or not, hosts,
    /// active leases.
    #[arg(long, conflicts_with_all = ["dhcp", "firewall"])]
    pub dhcp_servers: bool,
    /// Draw the host: devices, ports, VLANs, veth pairs, OVS, and each network with its
    /// addresses, gateway, table, firewall and DHCP server. SVG (the default) or DOT.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        num_args = 0..=1,
        default_missing_value = "svg",
        conflicts_with_all = ["interface", "dhcp", "firewall", "dhcp_servers"]
    )]
    pub graph: Option<graph::GraphFormat>,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    log::init(cli.verbose, cli.quiet);
    let code = match cli.command {
        Command::Apply(args) => apply::run(&args),
        Command::Show(args) => show::run(&args),
        Command::Status(args) => status::run(&args),
        Command::Validate { file } => apply::validate_only(&file),
        Command::Demo(args) => demo::run(&args),
        Command::DhcpEvent(args) => dhcp::dhcp_event(&args),
        Command::Hooks(args) => dhcp::hooks(&args),
        Command::Monitor(args) => dhcp::monitor(&args),
        Command::Persist(args) => persist::run(&args),
        Command::Commit(args) => safety::commit(&args),
        Command::Rollback(args) => safety::rollback(&args),
        Command::Restore(args) => safety::restore(&args),
        Command::CheckpointWatchdog(args) => safety::watchdog(&args),
        Command::Completions(args) => docs::completions(&args),
        Command::Man(args) => docs::man(&args),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Moves this (single-threaded) process into the named namespace, if one is given.
fn enter_netns(netns: Option<&str>) -> Result<(), String> {
    match netns {
        None => Ok(()),
        Some(name) => crate::netdev::linux::enter_named_netns(name)
            .map_err(|e| format!("cannot enter network namespace {name}: {e}")),
    }
}
