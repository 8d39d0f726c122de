//! The DHCP server as the planner sees it: what a network's dnsmasq is configured with
//! (its flags and its options), its static hosts, and whether it runs.
//!
//! Flags and options are kept apart because dnsmasq treats them differently: flags are
//! its command line and change only with a restart; options live in the options file,
//! which a SIGHUP re-reads. Hosts live in a hosts file (as of the last fold, re-read on
//! SIGHUP) plus one file per host added since in a directory dnsmasq watches, so adding a
//! few needs no signal at all (see `netdev/dnsmasq/hosts.rs` for when they fold). The server's
//! effects (files, processes) live in `netdev/dnsmasq/`, the supervisor the driver calls.
//!
//! IPv6 follows the same split: router advertisements and the IPv6 range (`--enable-ra`,
//! `--ra-param`, an IPv6 `--dhcp-range`) are command-line only; the DNS servers and search
//! domains dnsmasq puts in DHCPv6 replies and in its advertisements (RDNSS, DNSSL) are
//! options, which it reads again for every advertisement it sends.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::MacAddr;

/// How guests get their IPv6 configuration from the network's router advertisements.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RaMode {
    /// Advertisements only: guests make their own address from the prefix (A flag).
    #[default]
    Slaac,
    /// SLAAC, plus stateless DHCPv6 for DNS servers and search domains (A and O flags).
    Stateless,
    /// Addresses from DHCPv6 (M and O flags, no A): a range and declared hosts.
    Stateful,
}

impl RaMode {
    pub fn as_str(self) -> &'static str {
        match self {
            RaMode::Slaac => "slaac",
            RaMode::Stateless => "stateless",
            RaMode::Stateful => "stateful",
        }
    }
}

/// The IPv6 half of dnsmasq's command line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Ipv6Flags {
    /// The network's first IPv6 address, with the prefix advertised and served.
    pub address: Ipv6Net,
    pub ra: RaMode,
    /// DHCPv6 range (stateful only); `None` serves declared hosts only.
    pub range: Option<(Ipv6Addr, Ipv6Addr)>,
    /// DHCPv6 lease and advertised prefix lifetime, seconds; `None` is infinite.
    pub lease_seconds: Option<u64>,
    /// Longest time between unsolicited advertisements, seconds.
    pub ra_interval: u32,
    /// How long guests keep the host as their default router; 0: not a default router.
    pub router_lifetime: u32,
    /// The MTU option of the advertisements; `None`: the interface's IPv6 MTU.
    pub mtu: Option<u16>,
}

/// Everything on dnsmasq's command line that comes from the file (a change restarts it).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerFlags {
    /// The device dnsmasq binds to (the network's bridge, or its uplink).
    pub interface: String,
    /// The network's first IPv4 address, with the subnet the server serves; `None`: the
    /// server serves IPv6 only.
    pub address: Option<Ipv4Net>,
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
    /// Router advertisements and DHCPv6; `None`: IPv4 only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Flags>,
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
    /// DHCPv6 option 23 and the advertisements' RDNSS; empty lets dnsmasq announce itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_servers6: Vec<Ipv6Addr>,
    /// DHCPv6 option 24 and the advertisements' DNSSL.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domain_search: Vec<String>,
}

/// A network's DHCP server configuration.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ServerSpec {
    pub flags: ServerFlags,
    pub options: ServerOptions,
}

/// A DHCPv6 client's DUID (dnsmasq's `id:`), at most [`Duid::MAX_LEN`] octets.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duid(pub Vec<u8>);

impl Duid {
    /// RFC 8415 allows 130 octets; a host's file is named after its DUID, and 125 octets
    /// is what a file name (255 bytes, `duid-` and two hex digits per octet) can hold.
    pub const MAX_LEN: usize = 125;
    /// The two octets of the type and at least one of content.
    pub const MIN_LEN: usize = 3;
}

impl fmt::Display for Duid {
    /// Lowercase hex octets separated by `:` (how dnsmasq writes them in its lease file).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex: Vec<String> = self.0.iter().map(|b| format!("{b:02x}")).collect();
        f.write_str(&hex.join(":"))
    }
}

impl fmt::Debug for Duid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for Duid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || {
            format!("{s:?} is not a DUID (hex octets separated by ':', such as 00:01:00:01:2a:3b:4c:5d:52:54:00:12:34:56)")
        };
        let mut out = Vec::new();
        for part in s.split(':') {
            if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(syntax());
            }
            out.push(u8::from_str_radix(part, 16).map_err(|_| syntax())?);
        }
        if !(Self::MIN_LEN..=Self::MAX_LEN).contains(&out.len()) {
            return Err(format!(
                "{s:?} has {} octets; a DUID here has {} to {}",
                out.len(),
                Self::MIN_LEN,
                Self::MAX_LEN
            ));
        }
        Ok(Duid(out))
    }
}

impl Serialize for Duid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// What identifies a declared host to dnsmasq: its MAC address, or its DHCPv6 DUID.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HostKey {
    Mac(MacAddr),
    Duid(Duid),
}

impl fmt::Display for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostKey::Mac(m) => write!(f, "{m}"),
            HostKey::Duid(d) => write!(f, "duid {d}"),
        }
    }
}

/// A declared host: fixed addresses (and a DNS name) for one MAC or one DUID. Exactly one
/// of `mac` and `duid` is set; a host by DUID has an IPv6 address only.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DhcpHost {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duid: Option<Duid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    pub hostname: Option<String>,
}

impl DhcpHost {
    /// What dnsmasq knows the host by (one host line, one file per key).
    pub fn key(&self) -> HostKey {
        match (&self.mac, &self.duid) {
            (Some(m), _) => HostKey::Mac(*m),
            (None, Some(d)) => HostKey::Duid(d.clone()),
            (None, None) => HostKey::Duid(Duid(Vec::new())),
        }
    }

    /// Same key and addresses: what differs, if anything, is the name.
    pub fn same_addresses(&self, other: &DhcpHost) -> bool {
        self.key() == other.key() && self.ip == other.ip && self.ipv6 == other.ipv6
    }
}

impl fmt::Display for DhcpHost {
    /// `52:54:00:12:34:56 10.0.0.5 2001:db8::5 vm1`, `duid 00:02:… 2001:db8::7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.key())?;
        if let Some(ip) = self.ip {
            write!(f, " {ip}")?;
        }
        if let Some(ip) = self.ipv6 {
            write!(f, " {ip}")?;
        }
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

fn list<T: fmt::Display>(items: &[T]) -> String {
    let v: Vec<String> = items.iter().map(ToString::to_string).collect();
    v.join(",")
}

impl fmt::Display for Ipv6Flags {
    /// `ipv6 2001:db8::1/64 ra stateful range 2001:db8::100-2001:db8::1ff lease 86400s
    /// ra-interval 600 router-lifetime 1800 mtu 1400`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ipv6 {} ra {}", self.address, self.ra.as_str())?;
        match (self.ra, self.range) {
            (_, Some((a, b))) => write!(f, " range {a}-{b}")?,
            (RaMode::Stateful, None) => write!(f, " static")?,
            _ => {}
        }
        match self.lease_seconds {
            Some(s) => write!(f, " lease {s}s")?,
            None => write!(f, " lease infinite")?,
        }
        write!(
            f,
            " ra-interval {} router-lifetime {}",
            self.ra_interval, self.router_lifetime
        )?;
        if let Some(m) = self.mtu {
            write!(f, " mtu {m}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ServerSpec {
    /// One line for plans: `dev br0 10.0.0.1/24 range 10.0.0.100-10.0.0.200 lease 3600s`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fl = &self.flags;
        let o = &self.options;
        write!(f, "dev {}", fl.interface)?;
        if let Some(address) = fl.address {
            write!(f, " {address}")?;
            match fl.range {
                Some((a, b)) => write!(f, " range {a}-{b}")?,
                None => write!(f, " static")?,
            }
            match fl.lease_seconds {
                Some(s) => write!(f, " lease {s}s")?,
                None => write!(f, " lease infinite")?,
            }
        }
        if let Some(d) = &fl.domain {
            write!(f, " domain {d}")?;
        }
        if fl.address.is_some() {
            match o.router {
                Some(r) => write!(f, " router {r}")?,
                None => write!(f, " router none")?,
            }
            if !o.dns_servers.is_empty() {
                write!(f, " dns {}", list(&o.dns_servers))?;
            }
            if let Some(m) = o.mtu {
                write!(f, " mtu {m}")?;
            }
        }
        if let Some(v6) = &fl.ipv6 {
            write!(f, " {v6}")?;
            if !o.dns_servers6.is_empty() {
                write!(f, " dns6 {}", list(&o.dns_servers6))?;
            }
            if !o.domain_search.is_empty() {
                write!(f, " search {}", list(&o.domain_search))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What an earlier release wrote (config.json, journals and checkpoints hold it).
    const OLD_STATE: &str = r#"{
        "spec": {
            "flags": {"interface": "t1", "address": "10.10.0.1/24",
                      "range": ["10.10.0.100", "10.10.0.200"], "lease_seconds": 3600,
                      "domain": null, "upstream": [], "resolv_conf": false, "ping_check": true},
            "options": {"router": "10.10.0.1", "dns_servers": [], "mtu": null}
        },
        "hosts": [{"mac": "52:54:00:12:34:56", "ip": "10.10.0.5", "hostname": "vm1"}],
        "running": true
    }"#;

    #[test]
    fn records_of_earlier_releases_are_read_and_written_back_the_same() {
        let s: ServerState = serde_json::from_str(OLD_STATE).expect("an old record");
        assert_eq!(
            s.spec.flags.address,
            Some("10.10.0.1/24".parse().expect("net"))
        );
        assert!(s.spec.flags.ipv6.is_none() && s.spec.options.dns_servers6.is_empty());
        let h = s.hosts.iter().next().expect("a host");
        assert_eq!(h.to_string(), "52:54:00:12:34:56 10.10.0.5 vm1");
        let again = serde_json::to_value(&s).expect("serialize");
        let old: serde_json::Value = serde_json::from_str(OLD_STATE).expect("json");
        // Only log_dhcp (added before this release, with a default) is new.
        let mut again_flags = again["spec"]["flags"].clone();
        if let Some(m) = again_flags.as_object_mut() {
            m.remove("log_dhcp");
        }
        assert_eq!(again_flags, old["spec"]["flags"]);
        assert_eq!(again["spec"]["options"], old["spec"]["options"]);
        assert_eq!(again["hosts"], old["hosts"]);
    }

    #[test]
    fn duids_parse_strictly() {
        let d: Duid = "00:01:AB:cd".parse().expect("a DUID");
        assert_eq!(d.to_string(), "00:01:ab:cd");
        for bad in ["", "00:01", "0:01:02", "00-01-02", "00:01:0g", "00:01:02:"] {
            assert!(bad.parse::<Duid>().is_err(), "{bad}");
        }
        let max = vec!["ff"; Duid::MAX_LEN].join(":");
        assert!(max.parse::<Duid>().is_ok());
        assert!(format!("{max}:ff").parse::<Duid>().is_err());
    }
}
