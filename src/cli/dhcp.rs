//! `hostnet dhcp-event`, `hostnet hooks`, `hostnet monitor`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::enter_netns;
use super::output::print_error;
use crate::dhcp::event::{self, Client, Input};
use crate::dhcp::hooks;
use crate::dhcp::monitor::{self, describe, Outcome};
use crate::engine::applied::state_dir;

const DHCP_EVENT_HELP: &str = "\
The DHCP client's hook runs this; it reads the event from its environment (dhclient,
dhcpcd, networkd-dispatcher) or its arguments and environment (NetworkManager's
dispatcher), converges the source routing of the DHCP network on that interface, and
ignores interfaces of no DHCP network. Every value is checked; a malformed event
changes nothing and exits 2.

Examples (what the hooks do):
  reason=BOUND interface=lan new_ip_address=192.0.2.50 new_subnet_mask=255.255.255.0 \\
    new_routers=192.0.2.1 hostnet dhcp-event --client dhclient
  hostnet dhcp-event --client networkmanager lan dhcp4-change";

const HOOKS_HELP: &str = "\
Writes (or removes) the hook each DHCP client runs after an event; the hook only hands
the event to `hostnet dhcp-event`.

  dhclient        /etc/dhcp/dhclient-exit-hooks.d/hostnet
  dhcpcd          <dhcpcd hook directory>/90-hostnet
  networkmanager  /etc/NetworkManager/dispatcher.d/90-hostnet
  networkd        /etc/networkd-dispatcher/{routable,degraded,configured,no-carrier,off}.d/50-hostnet

Examples:
  hostnet hooks install --client dhclient
  hostnet hooks install --client networkmanager --root /tmp/pkgroot --hostnet /usr/bin/hostnet";

const MONITOR_HELP: &str = "\
Runs in the foreground, converging the source routing of the DHCP networks last applied
in this namespace whenever the kernel's addresses or routes change: for hosts where no
client hook can be installed. The router is the default route the client installed on
the network's device. Stops cleanly on SIGTERM or SIGINT.

As a service: the Debian package installs hostnet-monitor.service (dist/systemd/ in the
source tree); `systemctl enable --now hostnet-monitor`. A unit of your own needs
KillMode=process: the DHCP servers the monitor restarts stay in its control group, and
stopping or restarting the monitor would kill them otherwise.";

/// `hostnet dhcp-event`.
#[derive(Debug, clap::Args)]
#[command(after_help = DHCP_EVENT_HELP)]
pub struct DhcpEventArgs {
    /// Which client's event format to read.
    #[arg(long, value_enum)]
    pub client: Client,
    /// Act inside the named network namespace (/run/netns/NAME).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Seconds to wait for another hostnet command on the same namespace.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub lock_timeout: u64,
    /// The dispatcher's arguments (NetworkManager: INTERFACE ACTION).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `hostnet hooks`.
#[derive(Debug, clap::Args)]
#[command(after_help = HOOKS_HELP)]
pub struct HooksArgs {
    #[command(subcommand)]
    pub action: HooksAction,
}

#[derive(Debug, clap::Subcommand)]
pub enum HooksAction {
    /// Write the client's hook files.
    Install(HookTarget),
    /// Remove the hook files hostnet wrote.
    Uninstall(HookTarget),
}

#[derive(Debug, clap::Args)]
pub struct HookTarget {
    #[arg(long, value_enum)]
    pub client: Client,
    /// Write under this directory instead of / (packaging, tests).
    #[arg(long, default_value = "/", value_name = "DIR")]
    pub root: PathBuf,
    /// The hostnet binary the hooks run (default: this one). Packages that write hooks at
    /// build time pass the installed path (/usr/bin/hostnet), not the build tree's.
    #[arg(long, value_name = "PATH")]
    pub hostnet: Option<PathBuf>,
}

/// `hostnet monitor`.
#[derive(Debug, clap::Args)]
#[command(after_help = MONITOR_HELP)]
pub struct MonitorArgs {
    /// Watch the named network namespace (/run/netns/NAME).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Seconds to wait for another hostnet command on the same namespace.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    pub lock_timeout: u64,
}

pub fn dhcp_event(args: &DhcpEventArgs) -> i32 {
    let env: BTreeMap<String, String> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let event = match event::parse(
        args.client,
        &Input {
            env: &env,
            args: &args.args,
        },
    ) {
        Ok(e) => e,
        Err(e) => {
            print_error(
                "malformed DHCP event; nothing was changed",
                &[e.to_string()],
            );
            return 2;
        }
    };
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        print_error(&e, &[]);
        return super::NETNS_ERROR;
    }
    let what = format!(
        "hostnet dhcp-event: {} on {}",
        event.reason,
        if event.interface.is_empty() {
            "-"
        } else {
            &event.interface
        }
    );
    match monitor::on_event(&state_dir(), &event, Duration::from_secs(args.lock_timeout)) {
        Ok(Outcome::Ignored(why)) => {
            eprintln!("{what}: ignored: {why}");
            0
        }
        Ok(Outcome::Kept) => {
            eprintln!("{what}: kept what is there");
            0
        }
        Ok(Outcome::Converged { network, plan }) => {
            eprintln!(
                "{what}: network {network}: {}",
                super::output::count(plan.len(), "change", "changes")
            );
            for op in plan.ops() {
                eprintln!("  {} {op}", op.sign());
            }
            0
        }
        Err(e) => {
            eprintln!("{what}: {}", describe(&e));
            match e {
                monitor::ConvergeError::Apply(a) => a.exit_code(),
                _ => 1,
            }
        }
    }
}

pub fn hooks(args: &HooksArgs) -> i32 {
    let (target, install) = match &args.action {
        HooksAction::Install(t) => (t, true),
        HooksAction::Uninstall(t) => (t, false),
    };
    let bin = match target
        .hostnet
        .clone()
        .map_or_else(std::env::current_exe, Ok)
    {
        Ok(b) => b,
        Err(e) => {
            print_error(
                "cannot tell where the hostnet binary is; pass --hostnet",
                &[e.to_string()],
            );
            return 1;
        }
    };
    let result = hooks::files(target.client, &target.root, &bin).and_then(|files| {
        if install {
            hooks::install(&files).map(|()| files.into_iter().map(|f| f.path).collect())
        } else {
            hooks::uninstall(&files)
        }
    });
    match result {
        Ok(paths) => {
            let verb = if install { "wrote" } else { "removed" };
            if paths.is_empty() {
                outln!("nothing to remove");
            }
            for p in paths {
                outln!("{verb} {}", p.display());
            }
            0
        }
        Err(e) => {
            print_error(&e.to_string(), &[]);
            1
        }
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn monitor(args: &MonitorArgs) -> i32 {
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        print_error(&e, &[]);
        return super::NETNS_ERROR;
    }
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_stop),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGTERM, Signal::SIGINT] {
        // SAFETY: the handler only stores to an atomic (async-signal-safe), and nothing
        // else in this process handles these signals.
        if let Err(e) = unsafe { sigaction(sig, &action) } {
            print_error(&format!("cannot handle {sig}"), &[e.to_string()]);
            return 1;
        }
    }
    eprintln!("hostnet monitor: watching addresses and routes (SIGTERM stops)");
    let result = monitor::monitor(
        &state_dir(),
        Duration::from_secs(args.lock_timeout),
        &STOP,
        |line| {
            eprintln!("hostnet monitor: {line}");
        },
    );
    match result {
        Ok(()) => {
            eprintln!("hostnet monitor: stopped");
            0
        }
        Err(e) => {
            eprintln!("hostnet monitor: {}", describe(&e));
            1
        }
    }
}
