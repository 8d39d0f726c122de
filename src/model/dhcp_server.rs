//! `networks[].dhcp-server`: the input schema of a network's DHCP server and its checks.
//!
//! Everything here ends up in dnsmasq's command line or in files dnsmasq parses, so every
//! value is checked to be exactly what its field says: a hostname is one DNS label and a
//! domain a DNS name (no comma, newline, `#`, space or anything else dnsmasq would read as
//! syntax), addresses are typed, the lease time has dnsmasq's syntax.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use super::types::{NetworkSpec, NetworkState};
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

/// `dhcp-server.hosts[]`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DhcpHostSpec {
    pub mac: MacAddr,
    pub ip: Ipv4Addr,
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

/// The subnet a network's server serves: its first IPv4 address.
pub fn server_address(n: &NetworkSpec) -> Option<Ipv4Net> {
    let ip = n.ipv4.as_ref().filter(|ip| ip.dhcp != Some(true))?;
    match ip.address.first()? {
        IpNet::V4(a) => Some(*a),
        IpNet::V6(_) => None,
    }
}

fn unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// Problems with `n.dhcp-server`, as (path, message); `p` is `networks[i]`.
pub fn validate(p: &str, n: &NetworkSpec) -> Vec<(String, String)> {
    let mut errs = Vec::new();
    let Some(s) = &n.dhcp_server else {
        return errs;
    };
    let sp = format!("{p}.dhcp-server");
    let mut err = |path: String, m: String| errs.push((path, m));
    if n.state == Some(NetworkState::Absent) {
        err(sp, "a network with state: absent serves no DHCP".into());
        return errs;
    }
    let Some(me) = server_address(n) else {
        err(
            sp,
            "a DHCP server needs a static IPv4 address on the network (ipv4.address)".into(),
        );
        return errs;
    };
    // dnsmasq reads `--interface=` as a comma-separated list with `*` wildcards: a device
    // name holding either would bind it to other interfaces too.
    let (field, device) = if n.bridged.unwrap_or(true) {
        match &n.bridge {
            Some(b) => ("bridge", b.as_str()),
            None => ("name", n.name.as_str()),
        }
    } else {
        ("uplink", n.uplink.as_deref().unwrap_or_default())
    };
    if let Some(c) = device.chars().find(|c| matches!(c, ',' | '*')) {
        err(
            format!("{p}.{field}"),
            format!("{device:?} contains {c:?}, which dnsmasq reads as a list or wildcard of interfaces"),
        );
    }
    let subnet = me.trunc();
    let host_addr = |a: Ipv4Addr| -> Result<(), String> {
        if !subnet.contains(&a) {
            return Err(format!("{a} is outside the network's subnet {subnet}"));
        }
        if subnet.prefix_len() < 31 && (a == subnet.network() || a == subnet.broadcast()) {
            return Err(format!("{a} is not a host address of {subnet}"));
        }
        Ok(())
    };
    if let Some(r) = &s.range {
        for (f, a) in [("start", r.start), ("end", r.end)] {
            if let Err(m) = host_addr(a) {
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
                if let Err(m) = host_addr(a) {
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
    for (j, a) in s.upstream_dns.iter().flatten().enumerate() {
        if a.is_unspecified() || a.is_multicast() {
            err(
                format!("{sp}.upstream-dns[{j}]"),
                format!("{a} is not a unicast address"),
            );
        }
    }
    if let Some(d) = &s.domain {
        if let Err(m) = check_domain(d) {
            err(format!("{sp}.domain"), m);
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
    let mut macs: BTreeMap<MacAddr, usize> = BTreeMap::new();
    let mut ips: BTreeMap<Ipv4Addr, usize> = BTreeMap::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (j, h) in s.hosts.iter().flatten().enumerate() {
        let hp = format!("{sp}.hosts[{j}]");
        if h.mac.0[0] & 1 == 1 || h.mac.0 == [0; 6] {
            err(
                format!("{hp}.mac"),
                format!("{} is not a unicast MAC address", h.mac),
            );
        }
        if let Some(prev) = macs.insert(h.mac, j) {
            err(
                format!("{hp}.mac"),
                format!("{} is already declared at hosts[{prev}]", h.mac),
            );
        }
        if let Err(m) = host_addr(h.ip) {
            err(format!("{hp}.ip"), m);
        } else if h.ip == me.addr() {
            err(
                format!("{hp}.ip"),
                format!("{} is the network's own address", h.ip),
            );
        }
        if let Some(prev) = ips.insert(h.ip, j) {
            err(
                format!("{hp}.ip"),
                format!("{} is already declared at hosts[{prev}]", h.ip),
            );
        }
        if let Some(name) = &h.hostname {
            if let Err(m) = check_host_name(name) {
                err(format!("{hp}.hostname"), m);
            } else if let Some(prev) = names.insert(name.to_ascii_lowercase(), j) {
                err(
                    format!("{hp}.hostname"),
                    format!("{name} is already declared at hosts[{prev}]"),
                );
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use crate::model::{parse, validate};

    fn errors(server: &str) -> Vec<String> {
        let yaml = format!(
            "networks:\n  - name: t1\n    ipv4: {{address: [10.10.0.1/24]}}\n    dhcp-server: {server}\n"
        );
        match parse(&yaml) {
            Err(e) => vec![e.to_string()],
            Ok(d) => validate(&d)
                .err()
                .map(|e| e.0.iter().map(ToString::to_string).collect())
                .unwrap_or_default(),
        }
    }

    fn refused(server: &str, expected: &str) {
        let e = errors(server);
        assert!(
            e.iter().any(|m| m.starts_with(expected)),
            "{server}: expected {expected}, got {e:?}"
        );
    }

    #[test]
    fn a_complete_server_is_valid() {
        assert_eq!(
            errors(
                "{range: {start: 10.10.0.100, end: 10.10.0.200}, lease-time: 1h, router: none, \
                 dns-servers: [10.10.0.1], domain: t1.example, mtu: 1450, \
                 hosts: [{mac: '52:54:00:12:34:56', ip: 10.10.0.5, hostname: vm1}]}"
            ),
            Vec::<String>::new()
        );
        assert!(errors("{}").is_empty());
        assert!(errors("{lease-time: infinite}").is_empty());
        assert!(errors("{lease-time: 7200}").is_empty());
        // Near the keywords and lease times, but hostnames to dnsmasq.
        for ok in ["ignored", "vm2m", "2mm", "m2", "infinity", "2x"] {
            assert!(
                errors(&format!(
                    "{{hosts: [{{mac: '52:54:00:12:34:56', ip: 10.10.0.5, hostname: {ok}}}]}}"
                ))
                .is_empty(),
                "{ok}"
            );
        }
    }

    #[test]
    fn hostile_hostnames_and_domains_are_refused() {
        for bad in [
            "\"vm1\\nport=0\"",
            "\"vm1,10.10.0.9\"",
            "\"vm#1\"",
            "\"vm 1\"",
            "\"-vm\"",
            "\"\"",
            "\"vm1.t1\"",
            "\"vm\\u00e9\"",
            &"a".repeat(64),
            "ignore",
            "IGNORE",
            "Infinite",
            "\"2m\"",
            "\"90\"",
            "\"12H\"",
            "\"3w\"",
        ] {
            refused(
                &format!(
                    "{{hosts: [{{mac: '52:54:00:12:34:56', ip: 10.10.0.5, hostname: {bad}}}]}}"
                ),
                "networks[0].dhcp-server.hosts[0].hostname:",
            );
        }
        for bad in [
            "\"a..b\"",
            "\"x.example\\nserver=1.2.3.4\"",
            "\"a,b\"",
            "\"/x/\"",
        ] {
            refused(
                &format!("{{domain: {bad}}}"),
                "networks[0].dhcp-server.domain:",
            );
        }
    }

    #[test]
    fn values_are_checked_field_by_field() {
        refused("{lease-time: 1x}", "networks[0].dhcp-server.lease-time:");
        refused("{lease-time: 60s}", "networks[0].dhcp-server.lease-time:");
        refused(
            "{lease-time: \"1h,static\"}",
            "networks[0].dhcp-server.lease-time:",
        );
        refused(
            "{router: \"10.10.0.1,evil\"}",
            "networks[0].dhcp-server.router:",
        );
        refused("{router: 224.0.0.1}", "networks[0].dhcp-server.router:");
        refused(
            "{router: 10.20.0.1}",
            "networks[0].dhcp-server.router: 10.20.0.1 is outside",
        );
        refused(
            "{router: 10.10.0.0}",
            "networks[0].dhcp-server.router: 10.10.0.0 is not a host address",
        );
        refused(
            "{router: 10.10.0.255}",
            "networks[0].dhcp-server.router: 10.10.0.255 is not a host address",
        );
        assert!(errors("{router: 10.10.0.254}").is_empty());
        refused("{mtu: 20}", "networks[0].dhcp-server.mtu:");
        refused(
            "{dns-servers: [0.0.0.0]}",
            "networks[0].dhcp-server.dns-servers[0]:",
        );
        refused(
            "{dns-servers: [\"10.0.0.1,8.8.8.8\"]}",
            "networks[0].dhcp-server.dns-servers[0]",
        );
        refused(
            "{range: {start: 10.10.1.100, end: 10.10.0.200}}",
            "networks[0].dhcp-server.range.start: 10.10.1.100 is outside",
        );
        refused(
            "{range: {start: 10.10.0.200, end: 10.10.0.100}}",
            "networks[0].dhcp-server.range: start",
        );
        refused(
            "{range: {start: 10.10.0.100, end: 10.10.0.255}}",
            "networks[0].dhcp-server.range.end: 10.10.0.255 is not a host address",
        );
        let two = |a: &str, b: &str| format!("{{hosts: [{a}, {b}]}}");
        refused(
            &two(
                "{mac: '52:54:00:00:00:01', ip: 10.10.0.5}",
                "{mac: '52:54:00:00:00:01', ip: 10.10.0.6}",
            ),
            "networks[0].dhcp-server.hosts[1].mac: 52:54:00:00:00:01 is already declared",
        );
        refused(
            &two(
                "{mac: '52:54:00:00:00:01', ip: 10.10.0.5}",
                "{mac: '52:54:00:00:00:02', ip: 10.10.0.5}",
            ),
            "networks[0].dhcp-server.hosts[1].ip: 10.10.0.5 is already declared",
        );
        refused(
            "{hosts: [{mac: '52:54:00:00:00:01', ip: 10.20.0.5}]}",
            "networks[0].dhcp-server.hosts[0].ip: 10.20.0.5 is outside",
        );
        refused(
            "{hosts: [{mac: '52:54:00:00:00:01', ip: 10.10.0.1}]}",
            "networks[0].dhcp-server.hosts[0].ip: 10.10.0.1 is the network's own address",
        );
        refused(
            "{hosts: [{mac: '01:00:5e:00:00:01', ip: 10.10.0.7}]}",
            "networks[0].dhcp-server.hosts[0].mac:",
        );
        refused(
            "{hosts: [{mac: '52:54:00:00:00:0g', ip: 10.10.0.7}]}",
            "networks[0].dhcp-server.hosts[0]: \"52:54:00:00:00:0g\" is not a MAC",
        );
        refused(
            "{bogus: 1}",
            "networks[0].dhcp-server: unknown field `bogus`",
        );
    }

    #[test]
    fn device_names_dnsmasq_reads_as_lists_or_wildcards_are_refused() {
        for (net, path) in [
            ("{name: t1, bridge: 't1,eth0'", "networks[0].bridge:"),
            ("{name: 't*'", "networks[0].name:"),
            (
                "{name: t1, bridged: false, uplink: 'eth*'",
                "networks[0].uplink:",
            ),
            (
                "{name: t1, bridged: false, uplink: 'a,b'",
                "networks[0].uplink:",
            ),
        ] {
            let yaml = format!(
                "networks:\n  - {net}, ipv4: {{address: [10.10.0.1/24]}}, dhcp-server: {{}}}}\n"
            );
            let d = parse(&yaml).expect("parses");
            let e = validate(&d).expect_err("invalid").to_string();
            assert!(
                e.contains(&format!("{path} \"")) && e.contains("list or wildcard"),
                "{yaml}: {e}"
            );
        }
    }

    #[test]
    fn a_server_needs_a_static_ipv4_address_and_a_present_network() {
        let d =
            parse("networks:\n  - {name: t1, ipv4: {dhcp: true}, uplink: eth0, dhcp-server: {}}\n")
                .expect("parses");
        let e = validate(&d).expect_err("invalid").to_string();
        assert!(
            e.contains("networks[0].dhcp-server: a DHCP server needs a static IPv4"),
            "{e}"
        );
        let d =
            parse("networks:\n  - {name: t1, state: absent, dhcp-server: {}}\n").expect("parses");
        let e = validate(&d).expect_err("invalid").to_string();
        assert!(
            e.contains("networks[0].dhcp-server: a network with state: absent"),
            "{e}"
        );
    }
}
