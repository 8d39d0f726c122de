//! What `hostnet show --dhcp-servers` reports of each server: its process, its hosts and
//! its active leases, IPv6 leases listed one by one.

use std::fs;
use std::path::PathBuf;

use serde::Serialize;

use super::leases::{parse_leases, parse_leases6, Lease6};
use super::render::LEASE_FILE;
use super::{process, ServerError, Supervisor};

/// A server's status for `hostnet show`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Status {
    pub network: String,
    pub interface: String,
    pub pid: Option<i32>,
    /// Runs with the current configuration.
    pub running: bool,
    pub hosts: usize,
    /// Active IPv4 leases.
    pub active_leases: usize,
    /// Whether the server advertises and serves IPv6.
    pub ipv6: bool,
    /// Active DHCPv6 leases.
    pub active_leases6: usize,
    /// The active DHCPv6 leases: address, client DUID, IAID, name, expiry.
    pub leases6: Vec<Lease6>,
    pub directory: PathBuf,
}

impl std::fmt::Display for Status {
    /// `tenant1: dnsmasq pid 4242 running on tenant1, 3 hosts, 2 active leases`, and
    /// `, 1 active IPv6 lease` for a server that serves IPv6.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: dnsmasq ", self.network)?;
        match (self.pid, self.running) {
            (Some(pid), true) => write!(f, "pid {pid} running")?,
            (Some(pid), false) => write!(f, "pid {pid} running with an old configuration")?,
            (None, _) => write!(f, "not running")?,
        }
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        write!(
            f,
            " on {}, {}, {}",
            self.interface,
            plural(self.hosts, "host", "hosts"),
            plural(self.active_leases, "active lease", "active leases")
        )?;
        if self.ipv6 {
            write!(
                f,
                ", {}",
                plural(
                    self.active_leases6,
                    "active IPv6 lease",
                    "active IPv6 leases"
                )
            )?;
        }
        Ok(())
    }
}

impl Supervisor {
    /// Status of every server of this namespace, for `hostnet show`.
    pub fn status(&self) -> Result<Vec<Status>, ServerError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        Ok(self
            .query()?
            .into_iter()
            .map(|(network, s)| {
                let dir = self.dir(&network);
                let leases = fs::read_to_string(dir.join(LEASE_FILE)).unwrap_or_default();
                let leases6: Vec<Lease6> = parse_leases6(&leases)
                    .1
                    .into_iter()
                    .filter(|l| l.active(now))
                    .collect();
                Status {
                    pid: process::ours(&dir).map(|(pid, _)| pid),
                    running: s.running,
                    hosts: s.hosts.len(),
                    active_leases: parse_leases(&leases)
                        .iter()
                        .filter(|l| l.active(now))
                        .count(),
                    ipv6: s.spec.flags.ipv6.is_some(),
                    active_leases6: leases6.len(),
                    leases6,
                    interface: s.spec.flags.interface,
                    directory: dir,
                    network,
                }
            })
            .collect())
    }
}
