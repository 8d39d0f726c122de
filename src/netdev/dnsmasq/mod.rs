//! DHCP and DNS for guests: one supervised dnsmasq per network.
//!
//! Each network's server lives in a directory of its own, `/var/lib/hostnet/dnsmasq/NET/`
//! for the host's namespace, `/var/lib/hostnet/dnsmasq/netns.NAME/NET/` for a named one
//! and `/run/hostnet/dnsmasq/anon.INODE.COOKIE/NET/` for an unnamed one (see
//! [`crate::netdev::netns_id`]), so that one network name in two namespaces is two
//! servers (`HOSTNET_DNSMASQ_DIR`, or `HOSTNET_LIB_DIR/dnsmasq`, moves the parent of all
//! of them):
//!
//! | file | what |
//! | --- | --- |
//! | `config.json` | the configuration hostnet last wrote, and the namespace it is for |
//! | `options` | `--dhcp-optsfile`: router, DNS servers, MTU, DHCPv6's DNS servers and search domains (a SIGHUP re-reads it) |
//! | `hostsfile` | `--dhcp-hostsfile`: the declared hosts as of the last fold (read at start and on SIGHUP) |
//! | `hosts/MAC`, `hosts/duid-HEX` | `--dhcp-hostsdir`: one file per host added since (dnsmasq sees new files through inotify) |
//! | `ifindex` | the index of the interface dnsmasq bound to at its start |
//! | `leases` | dnsmasq's lease file, kept across restarts |
//! | `dnsmasq.pid`, `dnsmasq.log` | the daemon's PID file and log |
//!
//! Every file is written atomically (a dot-file dnsmasq ignores, fsync, rename, fsync of
//! the directory) and readable by the unprivileged user dnsmasq drops to. The flags are
//! dnsmasq's command line, so "does the running process have the current configuration"
//! is a comparison with `/proc/PID/cmdline`; a process is only signalled after that file
//! shows a dnsmasq started with this directory's PID file.
//!
//! The cheapest change dnsmasq allows: a new host is a new file (no signal) unless that
//! would leave more than 64 per-host files, or the server is about to start, when all
//! hosts fold into the hosts file (a SIGHUP if it runs); a removed host is released
//! (`dhcp_release`, `dhcp_release6`) if it holds a lease and the rest folded, one SIGHUP
//! per batch; a host
//! with a new name only is folded and signalled, never released; new options are a SIGHUP;
//! new flags are a restart, and so is an interface that was deleted and made again.

mod accept_ra;
mod dirs;
mod hosts;
pub mod leases;
pub mod model;
mod process;
pub mod render;
mod status;
pub mod unit;

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::netdev::dhcp_server::{
    DhcpHost, Duid, HostKey, Ipv6Flags, RaMode, ServerFlags, ServerIntent, ServerOptions,
    ServerSpec, ServerState,
};
pub use dirs::{base_dir, DNSMASQ_DIR};
use dirs::{legacy_servers, namespace_dir};
pub use process::{cmdline, pid_in_file, RELEASE6_PROGRAM, RELEASE_PROGRAM};
use render::{CONFIG_FILE, HOSTS_DIR, HOSTS_FILE, OPTIONS_FILE};
pub use status::Status;

use crate::files::IoError;
use crate::netdev::netns_id::NetnsId;
use crate::netdev::ops::Op;

/// Why a server could not be read, configured, started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{} is not a configuration hostnet wrote", path.display())]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{} is not a host file hostnet wrote", path.display())]
    HostFile { path: PathBuf },
    #[error("{} belongs to network {network} of another network namespace ({netns})", dir.display())]
    ForeignNamespace {
        dir: PathBuf,
        network: String,
        netns: String,
    },
    #[error("network {network} has no DHCP server configuration to start")]
    NotConfigured { network: String },
    #[error("cannot run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("dnsmasq for {} did not start: {message}", dir.display())]
    Start { dir: PathBuf, message: String },
    #[error("dnsmasq drops to an unprivileged user, which cannot reach {}: {} has mode {mode:o}", dir.display(), blocker.display())]
    Unreachable {
        dir: PathBuf,
        blocker: PathBuf,
        mode: u32,
    },
    #[error("dnsmasq (pid {pid}) did not stop")]
    Stuck { pid: i32 },
    #[error("cannot send {signal} to dnsmasq (pid {pid})")]
    Signal {
        pid: i32,
        signal: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("dhcp_release of {ip} failed: {message}")]
    Release { ip: String, message: String },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ServerError {
    let path = path.to_path_buf();
    move |source| ServerError::Io(IoError::new(action, path, source))
}

/// `config.json`.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    network: String,
    /// `host`, or the key of the namespace the server serves.
    netns: String,
    spec: ServerSpec,
}

/// Atomically, as every file hostnet writes: the temporary file is a dot-file (dnsmasq's
/// inotify ignores those), mode 0644 (dnsmasq reads as an unprivileged user).
fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ServerError> {
    crate::files::write_atomically_with_mode(path, bytes, 0o644)
        .map_err(|f| ServerError::Io(f.into()))
}

fn sync_dir(dir: &Path) -> Result<(), ServerError> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io("sync", dir))
}

/// dnsmasq re-reads its files after dropping to `nobody` (SIGHUP, inotify): every
/// directory above them must let others through.
fn check_reachable(dir: &Path) -> Result<(), ServerError> {
    for d in dir.ancestors() {
        let mode = fs::metadata(d)
            .map_err(io("inspect", d))?
            .permissions()
            .mode();
        if mode & 0o001 == 0 {
            return Err(ServerError::Unreachable {
                dir: dir.to_path_buf(),
                blocker: d.to_path_buf(),
                mode: mode & 0o7777,
            });
        }
    }
    Ok(())
}

/// True when this server's dnsmasq runs with exactly the command line of `flags`, bound to
/// the interface that has its name now, which (if it advertises) takes no advertisements.
fn up_to_date(dir: &Path, flags: &ServerFlags) -> bool {
    same_flags(dir, flags)
        && !process::rebound(dir, &flags.interface)
        && (flags.ipv6.is_none() || accept_ra::is_off(&flags.interface))
}

/// True when this server's dnsmasq runs with exactly the command line of `flags`. Its
/// program may have been started by its full path (systemd runs `/usr/sbin/dnsmasq`):
/// only its file name is compared.
fn same_flags(dir: &Path, flags: &ServerFlags) -> bool {
    let want = render::argv(dir, flags);
    process::ours(dir)
        .is_some_and(|(_, argv)| argv.len() == want.len() && argv.get(1..) == want.get(1..))
}

fn make_dir(dir: &Path) -> Result<(), ServerError> {
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(io("chmod", dir))
}

/// The servers of the namespace it was created in.
pub struct Supervisor {
    base: PathBuf,
    netns: Option<OwnedFd>,
    /// The namespace's key, which `config.json` records (`None`: it could not be told).
    key: Option<String>,
    /// The key an older hostnet gave it, and the servers it made under that key.
    legacy_key: Option<String>,
    legacy: BTreeMap<String, PathBuf>,
    /// Servers are started as transient systemd units (`None`: forked, in the driver's
    /// namespace).
    units: Option<unit::Units>,
}

impl Supervisor {
    /// The servers of the calling thread's namespace, under [`base_dir`], started in it.
    pub fn new() -> Supervisor {
        let root = base_dir();
        let Ok(id) = NetnsId::current() else {
            return Supervisor::at(root);
        };
        let legacy_key = match id {
            NetnsId::Host => None,
            _ => crate::netdev::netns_id::legacy_key().ok(),
        };
        let legacy = legacy_key
            .as_deref()
            .map(|k| legacy_servers(&root, k))
            .unwrap_or_default();
        Supervisor {
            base: namespace_dir(root, &id),
            netns: process::current_netns().ok(),
            key: Some(id.key()),
            legacy_key,
            legacy,
            units: unit::Units::for_namespace(&id),
        }
    }

    /// Servers directly under `base`, started in the calling thread's namespace.
    pub fn at(base: PathBuf) -> Supervisor {
        let id = NetnsId::current().ok();
        Supervisor {
            base,
            netns: process::current_netns().ok(),
            key: id.as_ref().map(NetnsId::key),
            legacy_key: None,
            legacy: BTreeMap::new(),
            units: id.as_ref().and_then(unit::Units::for_namespace),
        }
    }

    pub fn dir(&self, network: &str) -> PathBuf {
        self.legacy
            .get(network)
            .cloned()
            .unwrap_or_else(|| self.base.join(network))
    }

    /// Whether a server record is this namespace's.
    fn is_ours(&self, rec: &Record, network: &str) -> bool {
        rec.network == network
            && (self.key.as_deref() == Some(rec.netns.as_str())
                || self.legacy_key.as_deref() == Some(rec.netns.as_str()))
    }

    fn key(&self) -> Result<&str, ServerError> {
        self.key.as_deref().ok_or_else(|| {
            ServerError::Io(IoError::new(
                "identify",
                crate::netdev::netns_id::SELF_NS,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ))
        })
    }

    /// The networks that have a directory here.
    fn networks(&self) -> Result<Vec<String>, ServerError> {
        let mut out: Vec<String> = self.legacy.keys().cloned().collect();
        match fs::read_dir(&self.base) {
            Ok(entries) => {
                for e in entries {
                    let e = e.map_err(io("read", &self.base))?;
                    let name = e.file_name().to_string_lossy().into_owned();
                    // Other namespaces' directories (under the host's) are not networks.
                    if !name.contains('.') && !out.contains(&name) {
                        out.push(name);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("read", &self.base)(e)),
        }
        Ok(out)
    }

    fn netns(&self) -> Result<&OwnedFd, ServerError> {
        self.netns.as_ref().ok_or_else(|| {
            ServerError::Io(IoError::new(
                "open",
                crate::netdev::netns_id::SELF_NS,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ))
        })
    }

    fn record(&self, network: &str) -> Result<Option<Record>, ServerError> {
        let path = self.dir(network).join(CONFIG_FILE);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io("read", &path)(e)),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|source| ServerError::Format { path, source })
    }

    /// The servers of this namespace, by network.
    pub fn query(&self) -> Result<BTreeMap<String, ServerState>, ServerError> {
        let mut out = BTreeMap::new();
        for network in self.networks()? {
            // One server's broken directory is its own problem, not every command's.
            let rec = match self.record(&network) {
                Ok(Some(rec)) => rec,
                Ok(None) => continue,
                Err(e) => {
                    eprintln!("warning: DHCP server {network}: {}", crate::error_chain(&e));
                    continue;
                }
            };
            if !self.is_ours(&rec, &network) {
                continue;
            }
            let dir = self.dir(&network);
            let read = self.hosts(&network);
            for p in &read.problems {
                eprintln!(
                    "warning: DHCP server {network}: {} (the next apply rewrites its hosts)",
                    crate::error_chain(p)
                );
            }
            // Not in its configured state until the next start folds those files away.
            let running = up_to_date(&dir, &rec.spec.flags) && read.problems.is_empty();
            let hosts = read.hosts;
            out.insert(
                network,
                ServerState {
                    spec: rec.spec,
                    hosts,
                    running,
                },
            );
        }
        Ok(out)
    }

    /// The networks of this namespace whose server does not run with its configuration:
    /// a cheap check (no host files read) for `hostnet monitor`.
    pub fn down(&self) -> Vec<String> {
        let Ok(networks) = self.networks() else {
            return Vec::new();
        };
        networks
            .into_iter()
            .filter_map(|network| {
                let rec = self.record(&network).ok().flatten()?;
                if !self.is_ours(&rec, &network) {
                    return None;
                }
                let up = up_to_date(&self.dir(&network), &rec.spec.flags);
                (!up).then_some(network)
            })
            .collect()
    }

    /// Carries out the server ops of one phase; one result per op. Host removals are
    /// batched: one SIGHUP per server after all of its files are gone.
    pub fn execute(&self, ops: &[Op]) -> Vec<Result<(), ServerError>> {
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            results.push(match op {
                Op::ConfigureDhcpServer { network, spec, .. } => self.configure(network, spec),
                Op::StartDhcpServer { network } => self.start(network),
                Op::StopDhcpServer { network, remove } => self.stop(network, *remove),
                // Below, per server, all at once.
                _ => Ok(()),
            });
        }
        self.change_hosts(ops, &mut results);
        results
    }

    fn configure(&self, network: &str, spec: &ServerSpec) -> Result<(), ServerError> {
        let dir = self.dir(network);
        let mut key = self.key()?.to_string();
        let old = self.record(network)?;
        if let Some(old) = &old {
            if !self.is_ours(old, network) {
                return Err(ServerError::ForeignNamespace {
                    dir,
                    network: network.to_string(),
                    netns: old.netns.clone(),
                });
            }
            // An older hostnet's directory keeps its key, so that it is found again.
            key.clone_from(&old.netns);
        }
        make_dir(&self.base)?;
        make_dir(&dir)?;
        make_dir(&dir.join(HOSTS_DIR))?;
        check_reachable(&dir)?;
        if !dir.join(HOSTS_FILE).exists() {
            let empty = render::hosts_file(network, std::iter::empty());
            write_file(&dir.join(HOSTS_FILE), empty.as_bytes())?;
        }
        let options = render::options_file(network, spec);
        let options_path = dir.join(OPTIONS_FILE);
        let options_changed = fs::read_to_string(&options_path).ok().as_deref() != Some(&options);
        if options_changed {
            write_file(&options_path, options.as_bytes())?;
        }
        let record = Record {
            network: network.to_string(),
            netns: key,
            spec: spec.clone(),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|source| ServerError::Format {
            path: dir.join(CONFIG_FILE),
            source,
        })?;
        write_file(&dir.join(CONFIG_FILE), &json)?;
        // New options reach a process that keeps its flags by a SIGHUP; new flags mean a
        // restart, which the plan's start op does.
        if options_changed && same_flags(&dir, &spec.flags) {
            process::reload(&dir)?;
        }
        Ok(())
    }

    fn start(&self, network: &str) -> Result<(), ServerError> {
        let dir = self.dir(network);
        let Some(rec) = self.record(network)? else {
            return Err(ServerError::NotConfigured {
                network: network.to_string(),
            });
        };
        let read = self.hosts(network);
        if !read.problems.is_empty() {
            // Files hostnet did not write: the readable hosts go into the hosts file, the
            // rest is removed, and a running dnsmasq re-reads them.
            self.fold(network, &read.hosts)?;
            if up_to_date(&dir, &rec.spec.flags) {
                process::reload(&dir)?;
                return Ok(());
            }
        }
        if up_to_date(&dir, &rec.spec.flags) {
            return Ok(());
        }
        self.stop_process(network, &dir)?;
        let want = render::argv(&dir, &rec.spec.flags);
        // The index it binds to, so that a bridge recreated under it is noticed.
        let index = process::ifindex(&rec.spec.flags.interface);
        let ifindex_path = dir.join(render::IFINDEX_FILE);
        match fs::remove_file(&ifindex_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io("remove", &ifindex_path)(e))
            }
            _ => {}
        }
        let iface = &rec.spec.flags.interface;
        if rec.spec.flags.ipv6.is_some() {
            accept_ra::turn_off(&dir, iface)?;
        } else {
            accept_ra::restore(&dir, iface)?;
        }
        match &self.units {
            Some(units) => units.start(network, &dir, &want)?,
            None => process::start(self.netns()?, &dir, &want)?,
        };
        if let Some(index) = index {
            write_file(&ifindex_path, format!("{index}\n").as_bytes())?;
        }
        Ok(())
    }

    /// Stops the network's dnsmasq: its unit first (so that systemd neither restarts it nor
    /// holds a failed unit of that name), then whatever process its PID file names, if it
    /// is ours (one started before units were used, or by the fork path).
    fn stop_process(&self, network: &str, dir: &Path) -> Result<(), ServerError> {
        if let Some(units) = &self.units {
            units.stop(network);
        }
        process::stop(dir)
    }

    fn stop(&self, network: &str, remove: bool) -> Result<(), ServerError> {
        let dir = self.dir(network);
        self.stop_process(network, &dir)?;
        if remove {
            // A record that cannot be read names no device to give its value back to.
            if let Ok(Some(rec)) = self.record(network) {
                accept_ra::restore(&dir, &rec.spec.flags.interface)?;
            }
            match fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(io("remove", &dir)(e))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_parent_directory_is_refused() {
        let top = tempfile::tempdir().expect("tempdir");
        let closed = top.path().join("closed");
        make_dir(&closed.join("dnsmasq/net")).expect("dirs");
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o700)).expect("chmod");
        fs::set_permissions(top.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        let err = check_reachable(&closed.join("dnsmasq/net")).expect_err("refused");
        assert!(err.to_string().contains("has mode 700"), "{err}");
        fs::set_permissions(&closed, fs::Permissions::from_mode(0o755)).expect("chmod");
        check_reachable(&closed.join("dnsmasq/net")).expect("reachable");
    }
}
