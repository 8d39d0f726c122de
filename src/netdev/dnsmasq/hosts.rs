//! A server's declared hosts on disk, in two places dnsmasq reads differently:
//!
//! * `hostsfile` (`--dhcp-hostsfile`): every host as of the last *fold*; dnsmasq reads it
//!   at start and on SIGHUP only;
//! * `hosts/MAC` (`--dhcp-hostsdir`): one file per host added since; dnsmasq reads a new
//!   file there by itself (inotify), so an added host needs no signal.
//!
//! A host is known by its MAC or its DUID (its file is named after it), whichever the
//! file declares.
//!
//! dnsmasq cannot forget a host without a SIGHUP, and a SIGHUP re-reads everything; its
//! cost grows much faster with the number of files than with the number of lines (with
//! 10,000 hosts: about 2 s of CPU as 10,000 files, 0.2 s as one file). So a removal folds:
//! the remaining hosts go into `hostsfile`, the per-host files go, then one SIGHUP. A
//! server that does not run with its configuration (it is about to be started), a host
//! that replaces one of the same MAC, or additions that would leave more than 64 per-host
//! files fold as well: a start reads one file faster than thousands.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::PathBuf;

use super::leases;
use super::render::{self, HOSTS_DIR, HOSTS_FILE, LEASE_FILE};
use super::{io, process, sync_dir, write_file, DhcpHost, ServerError, Supervisor};
use crate::netdev::ops::Op;

/// More per-host files than this (existing ones plus a phase's new hosts) are folded
/// (with a SIGHUP if it runs).
const FOLD_ABOVE: usize = 64;

/// A stand-in for one error reported for every op of a batch.
fn copy(e: &ServerError, path: &std::path::Path) -> ServerError {
    ServerError::Io(crate::files::IoError::new(
        "change the hosts in",
        path,
        std::io::Error::other(crate::error_chain(e)),
    ))
}

/// The host ops of one network in one phase, by op index.
#[derive(Default)]
struct Batch<'a> {
    add: Vec<(usize, &'a DhcpHost)>,
    remove: Vec<(usize, &'a DhcpHost)>,
}

/// Names dnsmasq skips in a watched directory (editor backups, autosaves, dot-files,
/// which include hostnet's writes in progress).
pub(super) fn ignored_name(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || (name.len() > 1 && name.starts_with('#') && name.ends_with('#'))
}

/// A server's hosts as read from its directory, and the files that could not be read
/// (each one a problem of that server alone).
#[derive(Default)]
pub(super) struct ReadHosts {
    pub hosts: BTreeSet<DhcpHost>,
    pub problems: Vec<ServerError>,
}

impl Supervisor {
    /// The hosts in a server's directory: the hosts file and the per-host files. A file
    /// that is not one hostnet wrote is left out and reported.
    pub(super) fn hosts(&self, network: &str) -> ReadHosts {
        let dir = self.dir(network);
        let mut out = ReadHosts::default();
        let base = dir.join(HOSTS_FILE);
        match fs::read_to_string(&base) {
            Ok(text) => match render::parse_hosts_file(&text) {
                Some(list) => out.hosts.extend(list),
                None => out.problems.push(ServerError::HostFile { path: base }),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => out.problems.push(io("read", &base)(e)),
        }
        let files = match self.host_files(network) {
            Ok(f) => f,
            Err(e) => {
                out.problems.push(e);
                return out;
            }
        };
        for (name, path) in files {
            let host = match fs::read_to_string(&path) {
                Ok(text) => render::parse_host(&name, &text),
                Err(e) => {
                    out.problems.push(io("read", &path)(e));
                    continue;
                }
            };
            let Some(host) = host else {
                out.problems.push(ServerError::HostFile { path });
                continue;
            };
            // A per-host file is newer than the hosts file's line for that MAC or DUID.
            out.hosts.retain(|h| h.key() != host.key());
            out.hosts.insert(host);
        }
        out
    }

    /// Rewrites the hosts file with `hosts` and removes every per-host file (including
    /// ones hostnet did not write); the caller sends the SIGHUP.
    pub(super) fn fold(
        &self,
        network: &str,
        hosts: &BTreeSet<DhcpHost>,
    ) -> Result<(), ServerError> {
        let dir = self.dir(network);
        let text = render::hosts_file(network, hosts.iter());
        write_file(&dir.join(HOSTS_FILE), text.as_bytes())?;
        for (_, path) in self.host_files(network)? {
            fs::remove_file(&path).map_err(io("remove", &path))?;
        }
        sync_dir(&dir.join(HOSTS_DIR))
    }

    /// The per-host files (name, path), without the names dnsmasq skips as well.
    fn host_files(&self, network: &str) -> Result<Vec<(String, PathBuf)>, ServerError> {
        let dir = self.dir(network).join(HOSTS_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("read", &dir)(e)),
        };
        let mut out = Vec::new();
        for e in entries {
            let e = e.map_err(io("read", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if !ignored_name(&name) {
                out.push((name, e.path()));
            }
        }
        Ok(out)
    }

    /// Carries out the phase's `AddDhcpHost` and `RemoveDhcpHost` ops, per server.
    pub(super) fn change_hosts(&self, ops: &[Op], results: &mut [Result<(), ServerError>]) {
        let mut batches: BTreeMap<&str, Batch<'_>> = BTreeMap::new();
        for (i, op) in ops.iter().enumerate() {
            match op {
                Op::AddDhcpHost { network, host } => {
                    batches.entry(network).or_default().add.push((i, host));
                }
                Op::RemoveDhcpHost { network, host } => {
                    batches.entry(network).or_default().remove.push((i, host));
                }
                _ => {}
            }
        }
        for (network, batch) in batches {
            if let Err(e) = self.change_server_hosts(network, &batch, results) {
                let dir = self.dir(network);
                for (i, _) in batch.add.iter().chain(&batch.remove) {
                    if results[*i].is_ok() {
                        results[*i] = Err(copy(&e, &dir));
                    }
                }
            }
        }
    }

    fn change_server_hosts(
        &self,
        network: &str,
        batch: &Batch<'_>,
        results: &mut [Result<(), ServerError>],
    ) -> Result<(), ServerError> {
        let dir = self.dir(network);
        let Some(rec) = self.record(network)? else {
            return Err(ServerError::NotConfigured {
                network: network.to_string(),
            });
        };
        let running = process::ours(&dir);
        let current = super::up_to_date(&dir, &rec.spec.flags);
        // Leases of removed hosts are given up as their client would.
        let mut removed = BTreeSet::new();
        let leases = fs::read_to_string(dir.join(LEASE_FILE)).unwrap_or_default();
        for (i, host) in &batch.remove {
            if running.is_some() {
                if let Err(e) = self.release(&rec.spec.flags.interface, host, &leases) {
                    results[*i] = Err(e);
                    continue;
                }
            }
            removed.insert(host.key());
        }
        let read = self.hosts(network);
        // A host that replaces one of the same MAC or DUID (a new name): dnsmasq would
        // keep the old line too, so it takes a rewrite and a SIGHUP.
        let replaces = batch
            .add
            .iter()
            .any(|(_, h)| read.hosts.iter().any(|x| x.key() == h.key()));
        let clean = read.problems.is_empty() && !replaces;
        // Per-host files pile up over many small adds: past the threshold they fold too.
        let files = self.host_files(network)?.len() + batch.add.len();
        if batch.remove.is_empty() && current && clean && files <= FOLD_ABOVE {
            // The cheap way: new files dnsmasq notices itself.
            for (_, h) in &batch.add {
                let path = dir.join(HOSTS_DIR).join(render::host_file_name(&h.key()));
                write_file(&path, render::host_line(h).as_bytes())?;
            }
            return Ok(());
        }
        // Files hostnet did not write go in the fold (dnsmasq would read them too).
        let mut hosts = read.hosts;
        hosts.retain(|h| !removed.contains(&h.key()));
        for (_, h) in &batch.add {
            hosts.retain(|x| x.key() != h.key());
            hosts.insert((*h).clone());
        }
        self.fold(network, &hosts)?;
        if current {
            process::reload(&dir)?;
        }
        Ok(())
    }

    /// Gives up the leases `host` holds in the lease file's `text`: its IPv4 lease (by
    /// MAC) with `dhcp_release`, its DHCPv6 leases (by DUID, or a MAC host's declared IPv6
    /// address) with `dhcp_release6`. Temporary addresses are left to expire.
    fn release(&self, iface: &str, host: &DhcpHost, text: &str) -> Result<(), ServerError> {
        if let Some(mac) = host.mac {
            let mac = mac.to_string().to_ascii_lowercase();
            if let Some(lease) = leases::parse_leases(text).iter().find(|l| l.mac == mac) {
                process::release(self.netns()?, iface, &lease.ip.to_string(), &mac)?;
            }
        }
        let (server, leases6) = leases::parse_leases6(text);
        let duid = host.duid.as_ref().map(ToString::to_string);
        let held = leases6.iter().filter(|l| match &duid {
            Some(d) => l.duid == *d,
            None => Some(l.address) == host.ipv6,
        });
        for lease in held.filter(|l| !l.iaid.starts_with('T')) {
            let Some(server) = &server else {
                return Err(ServerError::Release {
                    ip: lease.address.to_string(),
                    message: "the lease file names no server DUID".into(),
                });
            };
            process::release6(self.netns()?, iface, lease, server)?;
        }
        Ok(())
    }
}
