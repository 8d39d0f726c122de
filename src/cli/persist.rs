//! `hostnet persist`: write the host's boot-time network configuration from a YAML file,
//! or bring back the files of the last backup set.

use std::error::Error as _;
use std::path::PathBuf;

use clap::ValueEnum;

use super::apply::load;
use super::output::print_error;
use crate::persist::{self, Options, PersistError, Report};

const PERSIST_EXAMPLES: &str = "\
Examples:
  hostnet persist host.yaml --format ifcfg --dry-run     # show a diff per file
  hostnet persist host.yaml --format networkd
  hostnet persist host.yaml --format keyfile --root /mnt/sysimage
  hostnet persist --restore                              # undo the last persist

Files go to etc/sysconfig/network-scripts (ifcfg), etc/systemd/network (networkd),
etc/NetworkManager/system-connections (keyfile), etc/network/interfaces.d (ifupdown)
or etc/netplan (netplan) under --root. Files without
hostnet's header are never overwritten or removed unless --adopt is given. Each run
keeps the previous content of every file it touches in
var/lib/hostnet/persist-backup; a failed run restores them all.

Every run says what the stack brings up at boot and what it leaves to `hostnet
restore` (hostnet-restore.service, which must run after the stack): firewall, DHCP
servers, sysctls, and what the format cannot hold.

Exit codes: 0 done (or nothing to do), 1 failed and every file was restored,
2 invalid input or refused (nothing was changed), 3 failed and some files could
not be restored (listed).";

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PersistFormat {
    /// RHEL network-scripts: ifcfg-DEV, route-DEV, rule-DEV (and route6-/rule6-).
    Ifcfg,
    /// systemd-networkd: .netdev and .network files.
    Networkd,
    /// NetworkManager: .nmconnection keyfiles.
    Keyfile,
    /// Debian's ifupdown2 (Proxmox VE): files in /etc/network/interfaces.d.
    Ifupdown,
    /// netplan: YAML files in /etc/netplan (rendered into systemd-networkd).
    Netplan,
}

impl From<PersistFormat> for persist::Format {
    fn from(f: PersistFormat) -> Self {
        match f {
            PersistFormat::Ifcfg => persist::Format::Ifcfg,
            PersistFormat::Networkd => persist::Format::Networkd,
            PersistFormat::Keyfile => persist::Format::Keyfile,
            PersistFormat::Ifupdown => persist::Format::Ifupdown,
            PersistFormat::Netplan => persist::Format::Netplan,
        }
    }
}

/// `hostnet persist`.
#[derive(Debug, clap::Args)]
#[command(after_help = PERSIST_EXAMPLES)]
pub struct PersistArgs {
    /// The desired state (YAML; `-` reads standard input). Not with --restore.
    #[arg(required_unless_present = "restore", conflicts_with = "restore")]
    pub file: Option<PathBuf>,
    /// Which network stack's files to write.
    #[arg(
        long,
        value_enum,
        required_unless_present = "restore",
        conflicts_with = "restore"
    )]
    pub format: Option<PersistFormat>,
    /// Write under this directory instead of the real root.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
    /// Show a unified diff per file; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Take over files that hostnet did not write (no hostnet header).
    #[arg(long)]
    pub adopt: bool,
    /// Bring back the files of the last backup set (undo the last persist or restore).
    #[arg(long)]
    pub restore: bool,
}

/// The error and every cause under it, one line each.
fn chain(e: &PersistError) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push(c.to_string());
        cur = c.source();
    }
    out
}

fn print_report(r: &Report, dry_run: bool) {
    for w in &r.warnings {
        tracing::warn!("{w}");
    }
    if dry_run {
        print!("{}", r.diff());
    }
    for c in &r.changes {
        println!("{} {}", c.sign(), c.rel.display());
    }

    let n = r.changes.len();
    match (&r.backup, dry_run) {
        (_, true) if n == 0 => println!("nothing to change"),
        (_, true) => println!("dry run: {n} file(s) would change; nothing was written"),
        (None, false) => println!("nothing to change"),
        (Some(set), false) => println!(
            "{n} file(s) changed; their previous content is in {} \
             (hostnet persist --restore brings it back)",
            set.display()
        ),
    }
    if let Some(b) = &r.at_boot {
        for l in b.lines() {
            println!("{l}");
        }
    }
}

pub fn run(args: &PersistArgs) -> i32 {
    let opts = Options {
        root: args.root.clone(),
        dry_run: args.dry_run,
        adopt: args.adopt,
    };
    let result = if args.restore {
        persist::restore(&opts)
    } else {
        // clap requires both unless --restore; say so rather than panic if not.
        let (Some(file), Some(format)) = (&args.file, args.format) else {
            print_error(
                "FILE and --format are required unless --restore is given",
                &[],
            );
            return 2;
        };
        let intent = match load(file) {
            Ok(i) => i,
            Err(e) => {
                print_error(&e.headline(file, "; nothing was changed"), &e.details());
                return 2;
            }
        };
        persist::persist(&intent, format.into(), &opts)
    };
    match result {
        Ok(report) => {
            print_report(&report, args.dry_run);
            0
        }
        Err(e) => {
            let headline = if e.nothing_changed() && !e.to_string().contains("nothing") {
                format!("{e}; nothing was changed")
            } else {
                e.to_string()
            };
            print_error(&headline, &chain(&e));
            if e.incomplete() {
                3
            } else if e.nothing_changed() {
                2
            } else {
                1
            }
        }
    }
}
