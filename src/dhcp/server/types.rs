//! The DHCP server as the planner sees it: what a network's dnsmasq is configured with
//! (its flags and its options), its static hosts, and whether it runs.
//!
//! Flags and options are kept apart because dnsmasq treats them differently: flags are
//! its command line and change only with a restart; options live in the options file,
//! which a SIGHUP re-reads. Hosts live in a hosts file (as of the last fold, re-read on
//! SIGHUP) plus one file per host added since in a directory dnsmasq watches, so adding a
//! few needs no signal at all (see `hosts.rs` for when they fold).

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::netdev::MacAddr;

/// Everything on dnsmasq's command line that comes from the file (a change restarts it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerFlags {
    /// The device dnsmasq binds to (the network's bridge, or its uplink).
    pub interface: String,
    /// The network's first IPv4 address, with the subnet the server serves.
    pub address: Ipv4Net,
    /// Dynamic range; `None` serves declared hosts only.
    pub range: Option<(Ipv4Addr, Ipv4Addr)>,
    /// Lease time in seconds; `None` is infinite.
    pub lease_seconds: Option<u64>,
    /// DNS domain of the guests (`--domain`, also DHCP option 15).
    pub domain: Option<String>,
    /// Upstream DNS servers (`--server`).
    pub upstream: Vec<IpAddr>,
    /// Read the host's resolv.conf for upstream servers.
    pub resolv_conf: bool,
    /// Probe an address with ICMP before offering it from the range (dnsmasq's default).
    pub ping_check: bool,
    /// Log every DHCP transaction; off, dnsmasq logs only errors and its own events.
    #[serde(default)]
    pub log_dhcp: bool,
}

/// What the options file says (a SIGHUP re-reads it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerOptions {
    /// Option 3; `None` sends no router at all.
    pub router: Option<Ipv4Addr>,
    /// Option 6; empty lets dnsmasq announce itself.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 26.
    pub mtu: Option<u16>,
}

/// A network's DHCP server configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerSpec {
    pub flags: ServerFlags,
    pub options: ServerOptions,
}

/// A declared host: a fixed address (and DNS name) for one MAC.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DhcpHost {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
    pub hostname: Option<String>,
}

impl fmt::Display for DhcpHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.mac, self.ip)?;
        if let Some(h) = &self.hostname {
            write!(f, " {h}")?;
        }
        Ok(())
    }
}

/// A network's server as found on the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerState {
    /// The configuration hostnet last wrote.
    pub spec: ServerSpec,
    /// The host files in its directory.
    pub hosts: BTreeSet<DhcpHost>,
    /// A dnsmasq of this network runs with exactly the command line of `spec`.
    pub running: bool,
}

/// A network's server as the file wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerIntent {
    /// Where it was declared (`networks[2].dhcp-server`).
    pub origin: String,
    pub spec: ServerSpec,
    pub hosts: BTreeSet<DhcpHost>,
}

impl fmt::Display for ServerSpec {
    /// One line for plans: `dev br0 10.0.0.1/24 range 10.0.0.100-10.0.0.200 lease 3600s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fl = &self.flags;
        write!(f, "dev {} {}", fl.interface, fl.address)?;
        match fl.range {
            Some((a, b)) => write!(f, " range {a}-{b}")?,
            None => write!(f, " static")?,
        }
        match fl.lease_seconds {
            Some(s) => write!(f, " lease {s}s")?,
            None => write!(f, " lease infinite")?,
        }
        if let Some(d) = &fl.domain {
            write!(f, " domain {d}")?;
        }
        let o = &self.options;
        match o.router {
            Some(r) => write!(f, " router {r}")?,
            None => write!(f, " router none")?,
        }
        if !o.dns_servers.is_empty() {
            let list: Vec<String> = o.dns_servers.iter().map(ToString::to_string).collect();
            write!(f, " dns {}", list.join(","))?;
        }
        if let Some(m) = o.mtu {
            write!(f, " mtu {m}")?;
        }
        Ok(())
    }
}
