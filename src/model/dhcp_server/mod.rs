//! `networks[].dhcp-server`: the input schema of a network's DHCP server and its checks.
//!
//! Everything here ends up in dnsmasq's command line or in files dnsmasq parses, so every
//! value is checked to be exactly what its field says: a hostname is one DNS label and a
//! domain a DNS name (no comma, newline, `#`, space or anything else dnsmasq would read as
//! syntax), addresses are typed, the lease time has dnsmasq's syntax. IPv4 is served from
//! the network's first IPv4 address, IPv6 (`ipv6`: router advertisements and DHCPv6)
//! from its first IPv6 address; a server may serve either family or both.

mod hosts;
#[cfg(test)]
mod tests;
mod v6;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::{Deserialize, Serialize};

use super::types::{NetworkSpec, NetworkState};
pub use crate::netdev::dhcp_server::RaMode;
use crate::netdev::MacAddr;

/// `networks[].dhcp-server`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DhcpServerSpec {
    /// Dynamic range; omitted: declared hosts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<DhcpRange>,
    /// `1h`, `30m`, `3600` (seconds), `infinite`; default 1h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_time: Option<LeaseTime>,
    /// An IPv4 address or `none`; default the network's first address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<Ipv4Addr>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// DHCP option 26.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Upstream DNS servers for names outside the guests' domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_dns: Option<Vec<IpAddr>>,
    /// Also take upstream servers from the host's resolv.conf (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<bool>,
    /// ICMP-probe a range address before offering it (dnsmasq's default, true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_check: Option<bool>,
    /// Log every DHCP transaction (default false: `--quiet-dhcp`, so the log does not
    /// grow with every lease renewal).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_dhcp: Option<bool>,
    /// Router advertisements and DHCPv6 for the network's IPv6 prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<DhcpServerV6Spec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<DhcpHostSpec>>,
}

/// `dhcp-server.range`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpRange {
    pub start: Ipv4Addr,
    pub end: Ipv4Addr,
}

/// `dhcp-server.ipv6`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DhcpServerV6Spec {
    /// `slaac` (advertisements only), `stateless` (and DHCPv6 for DNS), `stateful`
    /// (addresses from DHCPv6).
    pub ra: RaMode,
    /// DHCPv6 addresses (stateful only); omitted: declared hosts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<DhcpRangeV6>,
    /// DHCPv6 leases and the advertised prefix's lifetimes; default 1d.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_time: Option<LeaseTime>,
    /// DHCPv6 option 23 and the advertisements' RDNSS; default dnsmasq's own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_servers: Option<Vec<Ipv6Addr>>,
    /// DHCPv6 option 24 and the advertisements' DNSSL; default the server's `domain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain_search: Option<Vec<String>>,
    /// The advertisements' MTU option; default the interface's IPv6 MTU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    /// Longest time between unsolicited advertisements, seconds (4-1800; default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ra_interval: Option<u32>,
    /// How long guests keep the host as their default router, seconds (0: not a
    /// default router; else from `ra-interval` to 9000; default 3 × `ra-interval`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router_lifetime: Option<u32>,
}

/// `dhcp-server.ipv6.range`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpRangeV6 {
    pub start: Ipv6Addr,
    pub end: Ipv6Addr,
}

/// `dhcp-server.hosts[]`: by `mac` (an IPv4 address, an IPv6 address or both) or by
/// `duid` (an IPv6 address).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpHostSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// A DHCPv6 client's DUID: hex octets separated by `:`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<Ipv6Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// `dhcp-server.lease-time`: seconds, or text with a unit.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum LeaseTime {
    Seconds(u64),
    Text(String),
}

/// dnsmasq refuses shorter leases (it raises them to two minutes).
pub const MIN_LEASE_SECONDS: u64 = 120;
/// Default lease time.
pub const DEFAULT_LEASE_SECONDS: u64 = 3600;
/// Default DHCPv6 lease time and prefix lifetime (dnsmasq's own default for IPv6).
pub const DEFAULT_LEASE_SECONDS_V6: u64 = 86_400;
/// dnsmasq's default longest interval between advertisements.
pub const DEFAULT_RA_INTERVAL: u32 = 600;

impl LeaseTime {
    /// Seconds; `None` is infinite.
    pub fn seconds(&self) -> Result<Option<u64>, String> {
        let (n, unit) = match self {
            LeaseTime::Seconds(n) => (*n, 1),
            LeaseTime::Text(t) if t == "infinite" => return Ok(None),
            LeaseTime::Text(t) => {
                let (digits, unit) = match t.char_indices().last() {
                    Some((i, c)) if c.is_ascii_alphabetic() => (&t[..i], Some(c)),
                    _ => (t.as_str(), None),
                };
                let unit = match unit {
                    None | Some('s') => 1,
                    Some('m') => 60,
                    Some('h') => 3600,
                    Some('d') => 86_400,
                    Some('w') => 604_800,
                    Some(_) => return Err(lease_syntax(t)),
                };
                if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(lease_syntax(t));
                }
                (digits.parse::<u64>().map_err(|_| lease_syntax(t))?, unit)
            }
        };
        let s = n
            .checked_mul(unit)
            .filter(|s| *s <= u64::from(u32::MAX))
            .ok_or_else(|| "lease time is too long (use infinite)".to_string())?;
        if s < MIN_LEASE_SECONDS {
            return Err(format!(
                "{s} s is shorter than dnsmasq's minimum of {MIN_LEASE_SECONDS} s"
            ));
        }
        Ok(Some(s))
    }
}

fn lease_syntax(t: &str) -> String {
    format!("{t:?} is not a lease time (NUMBER with an optional unit s, m, h, d or w, or infinite)")
}

/// A DNS label: 1-63 letters, digits and inner hyphens.
pub fn check_label(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 63 {
        return Err(format!("{s:?} must be 1 to 63 characters long"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "{s:?} contains {c:?}; a DNS label has only letters, digits and '-'"
        ));
    }
    if s.starts_with('-') || s.ends_with('-') {
        return Err(format!("{s:?} starts or ends with '-'"));
    }
    Ok(())
}

/// A hostname dnsmasq would not read as one in a `--dhcp-host` line: there `ignore` and
/// `infinite` are keywords and a number with an optional unit (s, m, h, d, w) is a lease
/// time, whatever their case.
pub fn check_host_name(s: &str) -> Result<(), String> {
    check_label(s)?;
    let lower = s.to_ascii_lowercase();
    if lower == "ignore" || lower == "infinite" {
        return Err(format!("{s:?} is a dnsmasq keyword, not a hostname"));
    }
    let digits = lower.trim_end_matches(['s', 'm', 'h', 'd', 'w']);
    let one_unit = lower.len() - digits.len() <= 1;
    if one_unit && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?} reads as a lease time in dnsmasq's host lines, not as a hostname"
        ));
    }
    Ok(())
}

/// A DNS name: labels separated by dots, at most 253 characters.
pub fn check_domain(s: &str) -> Result<(), String> {
    if s.len() > 253 {
        return Err(format!("{s:?} is longer than 253 characters"));
    }
    s.split('.').try_for_each(check_label)
}

/// The subnet a network's server serves over IPv4: its first IPv4 address.
pub fn server_address(n: &NetworkSpec) -> Option<Ipv4Net> {
    let ip = n.ipv4.as_ref().filter(|ip| ip.dhcp != Some(true))?;
    match ip.address.first()? {
        IpNet::V4(a) => Some(*a),
        IpNet::V6(_) => None,
    }
}

/// The prefix a network's server advertises and serves over IPv6: its first IPv6
/// address, when the server has an `ipv6` section.
pub fn server_address6(n: &NetworkSpec) -> Option<Ipv6Net> {
    n.dhcp_server.as_ref()?.ipv6.as_ref()?;
    let ip = n.ipv6.as_ref().filter(|ip| ip.dhcp != Some(true))?;
    match ip.address.first()? {
        IpNet::V6(a) => Some(*a),
        IpNet::V4(_) => None,
    }
}

fn unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// Collects `(path, message)` problems.
pub(super) type Errors = Vec<(String, String)>;

/// Problems with `n.dhcp-server`, as (path, message); `p` is `networks[i]`.
pub fn validate(p: &str, n: &NetworkSpec) -> Errors {
    let mut errs = Vec::new();
    let Some(s) = &n.dhcp_server else {
        return errs;
    };
    let sp = format!("{p}.dhcp-server");
    if n.state == Some(NetworkState::Absent) {
        errs.push((sp, "a network with state: absent serves no DHCP".into()));
        return errs;
    }
    let v4 = server_address(n);
    if v4.is_none() && s.ipv6.is_none() {
        errs.push((
            sp,
            "a DHCP server needs a static IPv4 address on the network (ipv4.address), or an \
             `ipv6` section and a static IPv6 address (ipv6.address)"
                .into(),
        ));
        return errs;
    }
    check_device(p, n, &mut errs);
    match v4 {
        Some(me) => validate_v4(&sp, s, me, &mut errs),
        None => refuse_v4_fields(&sp, s, &mut errs),
    }
    let v6 = s
        .ipv6
        .as_ref()
        .and_then(|six| v6::validate(&sp, n, six, &mut errs));
    if let Some(d) = &s.domain {
        if let Err(m) = check_domain(d) {
            errs.push((format!("{sp}.domain"), m));
        }
    }
    for (j, a) in s.upstream_dns.iter().flatten().enumerate() {
        if a.is_unspecified() || a.is_multicast() {
            errs.push((
                format!("{sp}.upstream-dns[{j}]"),
                format!("{a} is not a unicast address"),
            ));
        }
    }
    hosts::validate(&sp, s, v4, v6, &mut errs);
    errs
}

/// dnsmasq reads `--interface=` as a comma-separated list with `*` wildcards: a device
/// name holding either would bind it to other interfaces too.
fn check_device(p: &str, n: &NetworkSpec, errs: &mut Errors) {
    let (field, device) = if n.bridged.unwrap_or(true) {
        match &n.bridge {
            Some(b) => ("bridge", b.as_str()),
            None => ("name", n.name.as_str()),
        }
    } else {
        ("uplink", n.uplink.as_deref().unwrap_or_default())
    };
    if let Some(c) = device.chars().find(|c| matches!(c, ',' | '*')) {
        errs.push((
            format!("{p}.{field}"),
            format!("{device:?} contains {c:?}, which dnsmasq reads as a list or wildcard of interfaces"),
        ));
    }
}

/// A host address of `subnet`, for a range, a router or a declared host.
pub(super) fn host_addr(subnet: Ipv4Net, a: Ipv4Addr) -> Result<(), String> {
    if !subnet.contains(&a) {
        return Err(format!("{a} is outside the network's subnet {subnet}"));
    }
    if subnet.prefix_len() < 31 && (a == subnet.network() || a == subnet.broadcast()) {
        return Err(format!("{a} is not a host address of {subnet}"));
    }
    Ok(())
}

fn validate_v4(sp: &str, s: &DhcpServerSpec, me: Ipv4Net, errs: &mut Errors) {
    let subnet = me.trunc();
    let mut err = |path: String, m: String| errs.push((path, m));
    if let Some(r) = &s.range {
        for (f, a) in [("start", r.start), ("end", r.end)] {
            if let Err(m) = host_addr(subnet, a) {
                err(format!("{sp}.range.{f}"), m);
            }
        }
        if r.start > r.end {
            err(
                format!("{sp}.range"),
                format!("start {} is after end {}", r.start, r.end),
            );
        }
    }
    if let Some(Err(m)) = s.lease_time.as_ref().map(LeaseTime::seconds) {
        err(format!("{sp}.lease-time"), m);
    }
    if let Some(r) = &s.router {
        match r.parse::<Ipv4Addr>() {
            _ if r == "none" => {}
            Ok(a) if !unicast(a) => err(
                format!("{sp}.router"),
                format!("{a} is not a unicast address"),
            ),
            // Guests reach only a router on their own link.
            Ok(a) => {
                if let Err(m) = host_addr(subnet, a) {
                    err(format!("{sp}.router"), m);
                }
            }
            Err(_) => err(
                format!("{sp}.router"),
                format!("{r:?} is neither an IPv4 address nor none"),
            ),
        }
    }
    for (j, a) in s.dns_servers.iter().flatten().enumerate() {
        if !unicast(*a) {
            err(
                format!("{sp}.dns-servers[{j}]"),
                format!("{a} is not a unicast address"),
            );
        }
    }
    if let Some(m) = s.mtu {
        if !(68..=65535).contains(&m) {
            err(
                format!("{sp}.mtu"),
                format!("{m} is outside 68-65535 (DHCP option 26)"),
            );
        }
    }
}

/// A server without an IPv4 address serves no DHCPv4: its IPv4 settings would be dropped
/// silently, so they are refused.
fn refuse_v4_fields(sp: &str, s: &DhcpServerSpec, errs: &mut Errors) {
    let given = [
        ("range", s.range.is_some()),
        ("lease-time", s.lease_time.is_some()),
        ("router", s.router.is_some()),
        ("dns-servers", s.dns_servers.is_some()),
        ("mtu", s.mtu.is_some()),
    ];
    for (field, set) in given {
        if set {
            errs.push((
                format!("{sp}.{field}"),
                "the network has no static IPv4 address (ipv4.address) to serve DHCPv4 from; \
                 IPv6 settings go under `ipv6`"
                    .into(),
            ));
        }
    }
}
