//! Persistent configuration: the [`Intent`] that `apply` puts in the kernel, rendered into
//! the files the host's own network stack reads at boot.
//!
//! * [`Format::Ifcfg`]: RHEL network-scripts, `ifcfg-DEV` with `route-DEV`/`route6-DEV`
//!   and `rule-DEV`/`rule6-DEV` in `ip route`/`ip rule` argument syntax, as VDSM wrote
//!   them ([`ifcfg`]);
//! * [`Format::Networkd`]: systemd-networkd `.netdev`/`.network` files with `[Route]
//!   Table=` and `[RoutingPolicyRule]` sections ([`networkd`]);
//! * [`Format::Keyfile`]: NetworkManager `.nmconnection` files, mode 0600 ([`keyfile`]).
//!
//! Rendering is pure ([`render`]): the per-device view ([`device`]) is built once from the
//! intent and each writer turns it into file contents. Writing ([`persist`], [`restore`])
//! is a [`transaction`]: atomic writes, a backup set of every pre-image, all files restored
//! on failure, and files without hostnet's header left alone unless adopted.

pub mod boot;
pub mod device;
pub mod ifcfg;
mod ifcfg_keys;
pub mod ifupdown;
mod ifupdown_keys;
pub mod keyfile;
mod keyfile_keys;
pub mod netplan;
mod netplan_keys;
pub mod networkd;
mod networkd_keys;
pub mod record;
pub mod shadow;
pub mod transaction;
pub mod unwritten;

use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use crate::expand::{Intent, PersistedCopies};
use crate::netdev::{Route, Rule};

pub use device::{host_config, DeviceConfig, DeviceKind, HostConfig};
pub use transaction::{Before, Change, TxError, Want, BACKUP_DIR, HEADER_MARK};

/// The first lines of every generated file (a comment in all three syntaxes).
pub const HEADER: &str = "# Written by hostnet (hostnet persist); changes here are overwritten.\n\
                          # Edit the YAML file and run hostnet persist again.\n";

/// Errors of [`persist`] and [`restore`].
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading, backing up, writing or restoring files.
    #[error(transparent)]
    Transaction(#[from] TxError),
}

impl PersistError {
    /// True when no file was changed (refused before the first write).
    pub fn nothing_changed(&self) -> bool {
        let PersistError::Transaction(e) = self;
        !matches!(e, TxError::Restored { .. } | TxError::Incomplete { .. })
    }

    /// True when files may be left half-changed.
    pub fn incomplete(&self) -> bool {
        let PersistError::Transaction(e) = self;
        matches!(e, TxError::Incomplete { .. })
    }
}

/// Which network stack's files to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Ifcfg,
    Networkd,
    Keyfile,
    Ifupdown,
    Netplan,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Ifcfg,
        Format::Networkd,
        Format::Keyfile,
        Format::Ifupdown,
        Format::Netplan,
    ];

    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ifcfg => "ifcfg",
            Format::Networkd => "networkd",
            Format::Keyfile => "keyfile",
            Format::Ifupdown => "ifupdown",
            Format::Netplan => "netplan",
        }
    }
}

/// One generated file, relative to the root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutFile {
    pub rel: PathBuf,
    pub contents: String,
    pub mode: u32,
}

/// What one writer produces.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub files: Vec<OutFile>,
    /// Every path the writer owns for the devices it handled (and for removed ones):
    /// those not in `files` must not exist.
    pub owned: Vec<PathBuf>,
    pub warnings: Vec<String>,
    pub left_out: LeftOut,
    /// By device: hostnet's own routes and rules the files give the stack without
    /// protocol 201, as the stack makes them (see [`record`]).
    pub copies: BTreeMap<String, PersistedCopies>,
}

/// Routes and rules of the intent that the files do not bring back at boot (each also
/// named in a warning): after the stack has read the files, `hostnet restore` adds them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Devices, as `NAME (TYPE)`.
    pub devices: Vec<String>,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
}

/// The files of an intent in one format.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Paths relative to the root, in a stable order, with what each must be.
    pub wants: Vec<(PathBuf, Want)>,
    /// What the files cannot say.
    pub warnings: Vec<String>,
    /// The routes and rules among it.
    pub left_out: LeftOut,
    /// The devices written, by name.
    pub devices: Vec<String>,
}

/// Renders an intent's files (pure).
pub fn render(intent: &Intent, format: Format) -> Rendered {
    let host = host_config(intent);
    let host = match format {
        Format::Ifcfg | Format::Networkd | Format::Keyfile => {
            device::without_vlans_and_bonds(host, format.name())
        }
        Format::Ifupdown | Format::Netplan => host,
    };
    let out = match format {
        Format::Ifcfg => ifcfg::render(&host),
        Format::Networkd => networkd::render(&host),
        Format::Keyfile => keyfile::render(&host),
        Format::Ifupdown => ifupdown::render(&host),
        Format::Netplan => netplan::render(&host),
    };
    let mut wants: Vec<(PathBuf, Want)> = out
        .files
        .iter()
        .map(|f| {
            (
                f.rel.clone(),
                Want::File {
                    contents: f.contents.clone().into_bytes(),
                    mode: f.mode,
                },
            )
        })
        .collect();
    for (device, copies) in out.copies.iter().filter(|(_, c)| !c.is_empty()) {
        wants.push((
            record::path(format.name(), device),
            Want::File {
                contents: record::contents(format.name(), device, copies).into_bytes(),
                mode: 0o644,
            },
        ));
    }
    // Every device's record is the writer's, like its files: one without copies (or a
    // removed device's) must not exist.
    for d in host
        .devices
        .iter()
        .map(|d| &d.name)
        .chain(&host.removed)
        .filter(|d| out.copies.get(*d).is_none_or(PersistedCopies::is_empty))
    {
        wants.push((record::path(format.name(), d), Want::Absent));
    }
    for p in &out.owned {
        if !out.files.iter().any(|f| &f.rel == p) {
            wants.push((p.clone(), Want::Absent));
        }
    }
    wants.sort_by(|a, b| a.0.cmp(&b.0));
    wants.dedup_by(|a, b| a.0 == b.0);
    let mut warnings = host.warnings.clone();
    warnings.extend(unwritten::warnings(format, &host));
    warnings.extend(out.warnings);
    let mut left_out = out.left_out;
    left_out.devices.splice(0..0, host.left_out);
    Rendered {
        wants,
        warnings,
        left_out,
        devices: host.devices.iter().map(|d| d.name.clone()).collect(),
    }
}

/// How to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Files go under this directory (`/` on a real host).
    pub root: PathBuf,
    /// Compute the changes and their diffs; write nothing.
    pub dry_run: bool,
    /// Take over (overwrite or remove) files without hostnet's header.
    pub adopt: bool,
}

/// What a persist or restore did (or, with `dry_run`, would do).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub changes: Vec<Change>,
    /// The backup set written, when something was written.
    pub backup: Option<PathBuf>,
    pub warnings: Vec<String>,
    /// What the format's stack brings up at boot and what `hostnet restore` must bring
    /// back (not for `--restore`).
    pub at_boot: Option<boot::AtBoot>,
}

impl Report {
    /// A unified diff per changed file (`/dev/null` for a created or removed one).
    pub fn diff(&self) -> String {
        self.changes.iter().map(unified_diff).collect()
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The unified diff of one change.
pub fn unified_diff(c: &Change) -> String {
    let (old, old_name) = match &c.before {
        Before::Missing => (String::new(), "/dev/null".to_string()),
        Before::File { contents, .. } => (text(contents), format!("a/{}", c.rel.display())),
    };
    let (new, new_name) = match &c.want {
        Want::Absent => (String::new(), "/dev/null".to_string()),
        Want::File { contents, .. } => (text(contents), format!("b/{}", c.rel.display())),
    };
    let mut out = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&old_name, &new_name)
        .to_string();
    // A mode-only change has no text diff; say so rather than print nothing.
    if let (Before::File { mode: a, .. }, Want::File { mode: b, .. }) = (&c.before, &c.want) {
        if a != b {
            out.push_str(&format!("mode {a:o} -> {b:o}: {}\n", c.rel.display()));
        }
    }
    out
}

/// Writes an intent's files under `opts.root` in one transaction.
pub fn persist(intent: &Intent, format: Format, opts: &Options) -> Result<Report, PersistError> {
    let rendered = render(intent, format);
    let changes = transaction::prepare(&opts.root, &rendered.wants, opts.adopt)?;
    let at_boot = boot::at_boot(intent, format, &rendered);
    let mut warnings = rendered.warnings.clone();
    warnings.extend(shadow::warnings(format, &opts.root, &rendered.devices));
    warnings.extend(at_boot.committed_warning(&opts.root));
    let mut report = finish(changes, warnings, opts)?;
    report.at_boot = Some(at_boot);
    Ok(report)
}

/// Brings back the files of the last backup set (undoing the last persist, or the last
/// restore), itself as a transaction with its own backup set.
pub fn restore(opts: &Options) -> Result<Report, PersistError> {
    let (_, set) = transaction::load_last_set(&opts.root)?;
    let changes = transaction::prepare_restore(&opts.root, &set, opts.adopt)?;
    finish(changes, Vec::new(), opts)
}

fn finish(
    changes: Vec<Change>,
    warnings: Vec<String>,
    opts: &Options,
) -> Result<Report, PersistError> {
    let backup = if opts.dry_run || changes.is_empty() {
        None
    } else {
        Some(transaction::commit(&opts.root, &changes)?)
    };
    Ok(Report {
        changes,
        backup,
        warnings,
        at_boot: None,
    })
}

/// The directory a format writes to, relative to the root.
pub fn directory(format: Format) -> &'static Path {
    Path::new(match format {
        Format::Ifcfg => ifcfg::DIR,
        Format::Networkd => networkd::DIR,
        Format::Keyfile => keyfile::DIR,
        Format::Ifupdown => ifupdown::DIR,
        Format::Netplan => netplan::DIR,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::expand::expand;
    use crate::model::{parse, validate};

    pub(crate) fn intent_of(yaml: &str) -> Intent {
        let d = parse(yaml).expect("parses");
        validate(&d).expect("valid");
        expand(&d).expect("expands")
    }

    /// The contents of the rendered file whose path ends with `name` ("" when absent).
    pub(crate) fn file_in(r: &super::Rendered, name: &str) -> String {
        r.wants
            .iter()
            .find(|(p, _)| p.ends_with(name))
            .map(|(_, w)| match w {
                super::Want::File { contents, .. } => {
                    String::from_utf8_lossy(contents).into_owned()
                }
                super::Want::Absent => String::new(),
            })
            .unwrap_or_default()
    }

    /// The golden input: two static networks with source routing (IPv4 and IPv6, one
    /// carrying the default route, one with a derived table), a DHCP network, a bridge
    /// with a NIC port and a veth port, a user route and a user rule.
    pub(crate) const GOLDEN_INPUT: &str = r#"
interfaces:
  - name: br-vm
    type: linux-bridge
    mtu: 9000
    mac-address: "52:54:00:12:34:56"
    bridge:
      options: {stp: {enabled: true}}
      port: [{name: eth2}, {name: vm-b}]
    ipv4:
      address: [{ip: 10.10.0.1, prefix-length: 24}]
  - name: eth2
    type: ethernet
    mtu: 9000
  - name: vm-a
    type: veth
    veth: {peer: vm-b}
routes:
  config:
    - {destination: 10.20.0.0/16, next-hop-address: 10.10.0.254, next-hop-interface: br-vm, table-id: 100, metric: 50}
route-rules:
  config:
    - {ip-from: 10.10.0.0/24, priority: 1000, route-table: 100}
networks:
  - name: red
    uplink: up-red
    mtu: 1500
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ["2001:db8:1::10/64"], gateway: "2001:db8:1::1"}
    default-route: true
    source-routing: {table: 1001}
  - name: blue
    uplink: up-blue
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
    ipv6: {address: ["2001:db8:2::10/64"], gateway: "2001:db8:2::1"}
  - name: lan
    uplink: eth3
    bridged: false
    ipv4: {dhcp: true}
  - name: old
    state: absent
"#;

    /// All files of a rendering, for a golden snapshot.
    pub(crate) fn golden(format: Format) -> String {
        let intent = intent_of(GOLDEN_INPUT);
        let r = render(&intent, format);
        let removed = host_config(&intent).removed;
        let mut s = String::new();
        for (rel, want) in &r.wants {
            let name = rel.to_string_lossy();
            // Of the paths that must not exist, only the removed devices' are news.
            if *want == Want::Absent && !removed.iter().any(|d| name.contains(&format!("-{d}"))) {
                continue;
            }
            match want {
                Want::File { contents, mode } => {
                    s.push_str(&format!("==> {} (mode {mode:o}) <==\n", rel.display()));
                    s.push_str(&text(contents));
                }
                Want::Absent => {
                    s.push_str(&format!("==> {} (must not exist) <==\n", rel.display()))
                }
            }
            s.push('\n');
        }
        for w in &r.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        s
    }

    /// The generated files of a rendering, by path (the stack's and the records).
    pub(crate) fn files(format: Format) -> Vec<(PathBuf, String, u32)> {
        render(&intent_of(GOLDEN_INPUT), format)
            .wants
            .into_iter()
            .filter_map(|(rel, w)| match w {
                Want::File { contents, mode } => Some((rel, text(&contents), mode)),
                Want::Absent => None,
            })
            .collect()
    }

    #[test]
    fn every_generated_file_starts_with_the_header() {
        for f in Format::ALL {
            for (rel, contents, _) in files(f) {
                assert!(contents.starts_with(HEADER), "{}", rel.display());
                assert!(transaction::is_ours(contents.as_bytes()));
                assert!(
                    rel.starts_with(directory(f)) || rel.starts_with(record::DIR),
                    "{}",
                    rel.display()
                );
            }
        }
    }

    #[test]
    fn rendering_is_deterministic() {
        for f in Format::ALL {
            assert_eq!(golden(f), golden(f));
        }
    }

    #[test]
    fn persist_then_persist_again_changes_nothing_and_restore_undoes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let intent = intent_of(GOLDEN_INPUT);
        let opts = Options {
            root: dir.path().to_path_buf(),
            dry_run: false,
            adopt: false,
        };
        for f in [Format::Ifcfg, Format::Networkd, Format::Keyfile] {
            let r = persist(&intent, f, &opts).expect("persist");
            assert!(!r.changes.is_empty());
            assert!(r.backup.is_some());
            let again = persist(&intent, f, &opts).expect("again");
            assert!(again.changes.is_empty(), "{:?}", again.changes);
            assert!(again.backup.is_none());
        }
        // Keyfiles are 0600: NetworkManager ignores keyfiles others can read.
        for e in std::fs::read_dir(dir.path().join(keyfile::DIR))
            .expect("dir")
            .flatten()
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = e.metadata().expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", e.path().display());
        }
        // The last set is the keyfile one: restore removes exactly those files.
        let r = restore(&opts).expect("restore");
        assert!(r.changes.iter().all(|c| c.sign() == '-'));
        let left = std::fs::read_dir(dir.path().join(keyfile::DIR))
            .expect("dir")
            .count();
        assert_eq!(left, 0);
        assert!(dir
            .path()
            .join(networkd::DIR)
            .join("50-hostnet-red.network")
            .exists());
        // ... and restoring again undoes the restore.
        let r = restore(&opts).expect("restore the restore");
        assert!(r.changes.iter().all(|c| c.sign() == '+'));
    }

    #[test]
    fn dry_run_writes_nothing_and_diffs_every_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let opts = Options {
            root: dir.path().to_path_buf(),
            dry_run: true,
            adopt: false,
        };
        let r = persist(&intent_of(GOLDEN_INPUT), Format::Networkd, &opts).expect("dry run");
        assert!(r.backup.is_none());
        assert!(!dir.path().join("etc").exists());
        let diff = r.diff();
        assert!(diff.contains("--- /dev/null\n+++ b/etc/systemd/network/50-hostnet-red.network"));
        assert!(diff.contains("+Table=1001"));
    }
}
