//! NetworkManager keyfiles: `hostnet-DEV.nmconnection`, one connection profile per
//! device, mode 0600 (NetworkManager ignores keyfiles that others can read).
//!
//! Routes are written with explicit `table=` (and `src=`, `scope=` for the on-link
//! route) and explicit metrics, so that NetworkManager adds the same routes `apply` does
//! rather than its per-device-type defaults; rules go to `routing-ruleN`. `ipv4.gateway`
//! is not used: the main-table default route of a `default-route: true` network is an
//! explicit `0.0.0.0/0` route with `table=254`.
//!
//! Gaps: NetworkManager has no route or rule protocol setting, so its routes and rules
//! carry protocol static; hostnet's are recorded beside the files ([`super::record`])
//! and a later `apply` knows them as its own by that record. For DHCP only
//! `method=auto` is written: `ipv4.route-table` would move the lease's routes out of the
//! main table, where hostnet's dispatcher hook reads the router, and a routing rule cannot
//! name a subnet that only the lease knows; so a DHCP network's table and rules come from
//! the hook (`hostnet hooks install --client networkmanager`) or `hostnet monitor`.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::device::{unusual_scope, DeviceConfig, DeviceKind, HostConfig};
use super::{OutFile, Output, HEADER};
use crate::netdev::{Route, RouteScope, Rule, RuleAction, HOSTNET_PROTO, PROTO_STATIC, TABLE_MAIN};

/// Where NetworkManager reads keyfiles, relative to the root.
pub const DIR: &str = "etc/NetworkManager/system-connections";

/// NetworkManager refuses keyfiles readable by others.
const MODE: u32 = 0o600;

fn path(name: &str) -> PathBuf {
    PathBuf::from(DIR).join(format!("hostnet-{name}.nmconnection"))
}

pub fn render(host: &HostConfig) -> Output {
    let mut out = Output::default();
    for d in &host.devices {
        out.owned.push(path(&d.name));
        out.files.push(OutFile {
            rel: path(&d.name),
            contents: format!("{HEADER}{}", keyfile(host, d)),
            mode: MODE,
        });
        // NetworkManager makes every route and rule `proto static`.
        let copies = out.copies.entry(d.name.clone()).or_default();
        copies.routes = d
            .routes
            .iter()
            .filter(|r| r.protocol == HOSTNET_PROTO)
            .map(|r| Route {
                protocol: PROTO_STATIC,
                ..r.clone()
            })
            .collect();
        copies.rules = d
            .rules
            .iter()
            .filter(|r| r.protocol == HOSTNET_PROTO && rule_string(r).is_some())
            .map(|r| Rule {
                protocol: PROTO_STATIC,
                ..r.clone()
            })
            .collect();
        let left_out: Vec<&Rule> = d
            .rules
            .iter()
            .filter(|r| rule_string(r).is_none())
            .collect();
        out.left_out
            .rules
            .extend(left_out.iter().map(|r| (*r).clone()));
        let left_out: Vec<String> = left_out.iter().map(ToString::to_string).collect();
        if !left_out.is_empty() {
            out.warnings.push(format!(
                "{}: {}: not written, this writer puts only lookup rules in keyfiles: {}; \
                 `hostnet restore` adds them at boot (until then forwarded packets walk the \
                 networks' rules)",
                d.origin,
                d.name,
                left_out.join(", ")
            ));
        }
        if d.kind == DeviceKind::Existing {
            out.warnings.push(format!(
                "{}: {}: the file does not give its type; written as an ethernet connection",
                d.origin, d.name
            ));
        }
    }
    for name in &host.removed {
        out.owned.push(path(name));
    }
    out
}

/// A stable UUID for a device's connection, so that rewriting a profile keeps its
/// identity: 128 bits of two FNV-1a hashes of the name, with the RFC 9562 version 8
/// ("custom") and variant bits.
pub fn uuid(name: &str) -> String {
    let fnv = |seed: u64| {
        let mut h = seed;
        for b in "hostnet:".bytes().chain(name.bytes()) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // murmur3's finalizer, so that names differing in one letter differ everywhere.
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    };
    let hi = (fnv(0xcbf2_9ce4_8422_2325) & !0xf000) | 0x8000;
    let lo = (fnv(0x6c62_272e_07bb_0142) & !(0b11 << 62)) | (0b10 << 62);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

fn keyfile(host: &HostConfig, d: &DeviceConfig) -> String {
    let conn_type = match d.kind {
        DeviceKind::Bridge { .. } => "bridge",
        DeviceKind::Veth { .. } => "veth",
        // VLANs and bonds never get here (`without_vlans_and_bonds`).
        DeviceKind::Ethernet
        | DeviceKind::Existing
        | DeviceKind::Vlan { .. }
        | DeviceKind::Bond { .. } => "ethernet",
    };
    let mut s = String::from("\n[connection]\n");
    let _ = writeln!(s, "id=hostnet-{}", d.name);
    let _ = writeln!(s, "uuid={}", uuid(&d.name));
    let _ = writeln!(s, "type={conn_type}");
    let _ = writeln!(s, "interface-name={}", d.name);
    let _ = writeln!(s, "autoconnect={}", d.up);
    if let Some(c) = &d.controller {
        // `master`/`slave-type` rather than 1.46's `controller`/`port-type`: older
        // NetworkManager versions only know these, newer ones still read them.
        let _ = writeln!(s, "master={c}\nslave-type=bridge");
    }
    let mut eth = String::new();
    if let Some(mtu) = d.mtu {
        let _ = writeln!(eth, "mtu={mtu}");
    }
    if let Some(mac) = d.mac {
        let _ = writeln!(eth, "cloned-mac-address={mac}");
    }
    eth.push_str(&super::keyfile_keys::ethernet(d));
    if !eth.is_empty() {
        let _ = write!(s, "\n[ethernet]\n{eth}");
    }
    match &d.kind {
        DeviceKind::Bridge { stp } => {
            let _ = write!(
                s,
                "\n[bridge]\nstp={stp}\n{}",
                super::keyfile_keys::bridge(host, d, *stp)
            );
        }
        DeviceKind::Veth { peer: Some(peer) } => {
            let _ = write!(s, "\n[veth]\npeer={peer}\n");
        }
        DeviceKind::Veth { peer: None }
        | DeviceKind::Ethernet
        | DeviceKind::Existing
        | DeviceKind::Vlan { .. }
        | DeviceKind::Bond { .. } => {}
    }
    s.push_str(&super::keyfile_keys::bridge_port(host, d));
    // A bridge port has no IP configuration of its own.
    if d.controller.is_none() {
        s.push_str(&ip_section(d, false));
        s.push_str(&ip_section(d, true));
    }
    s
}

fn ip_section(d: &DeviceConfig, v6: bool) -> String {
    let addrs = if v6 { &d.ipv6 } else { &d.ipv4 };
    let dhcp = if v6 { d.dhcp6 } else { d.dhcp4 };
    let has_static = addrs.as_ref().is_some_and(|a| !a.is_empty());
    let routes: Vec<&Route> = d.routes_of(v6).collect();
    let rules: Vec<&Rule> = d.rules_of(v6).collect();
    let method = match (dhcp, has_static || !routes.is_empty(), v6) {
        // IPv6 DHCP: the router comes from router advertisements, so `auto` (RA, and
        // DHCPv6 as the RA says), not `dhcp` (DHCPv6 alone).
        (true, _, _) => "auto",
        (false, true, _) => "manual",
        (false, false, false) => "disabled",
        (false, false, true) if super::keyfile_keys::ipv6_disabled(d) => "disabled",
        // No IPv6 address: the kernel's link-local one only, or leave IPv6 alone
        // when the file does not mention it.
        (false, false, true) if addrs.is_some() => "link-local",
        (false, false, true) => "ignore",
    };
    let mut s = format!(
        "\n[{}]\nmethod={method}\n",
        if v6 { "ipv6" } else { "ipv4" }
    );
    for (i, a) in addrs.iter().flatten().enumerate() {
        let _ = writeln!(s, "address{}={a}", i + 1);
    }
    for (i, r) in routes.iter().enumerate() {
        let n = i + 1;
        let gw = r.gateway.map(|g| g.to_string()).unwrap_or_default();
        // An explicit metric: without one NetworkManager uses its per-device default
        // (425 for a bridge), not the kernel's.
        let metric = r.metric.unwrap_or(0);
        let _ = writeln!(s, "route{n}={},{gw},{metric}", r.destination);
        let _ = writeln!(s, "route{n}_options={}", route_options(r));
    }
    for (i, r) in rules.iter().filter_map(|r| rule_string(r)).enumerate() {
        let _ = writeln!(s, "routing-rule{}={r}", i + 1);
    }
    s
}

fn route_options(r: &Route) -> String {
    let mut opts = Vec::new();
    if let Some(scope) = unusual_scope(r) {
        // NetworkManager takes the kernel's numbers.
        let n = match scope {
            RouteScope::Universe => 0,
            RouteScope::Link => 253,
            RouteScope::Host => 254,
            RouteScope::Other(n) => n,
        };
        opts.push(format!("scope={n}"));
    }
    if let Some(src) = r.src {
        opts.push(format!("src={src}"));
    }
    // Always explicit: the connection has no route-table of its own, and 0 would mean
    // "main" only by that default.
    opts.push(format!("table={}", r.table));
    opts.join(",")
}

/// A rule in NetworkManager's routing-rule syntax (the family comes from the section),
/// or `None` for an action other than a lookup, which this writer does not put in a
/// keyfile.
fn rule_string(r: &Rule) -> Option<String> {
    if r.action != RuleAction::Lookup {
        return None;
    }
    let mut s = format!("priority {}", r.priority);
    if r.invert {
        s.push_str(" not");
    }
    if let Some(from) = r.from {
        let _ = write!(s, " from {from}");
    }
    if let Some(to) = r.to {
        let _ = write!(s, " to {to}");
    }
    if let Some(iif) = &r.iif {
        let _ = write!(s, " iif {iif}");
    }
    if let Some(oif) = &r.oif {
        let _ = write!(s, " oif {oif}");
    }
    if let Some(mark) = r.fwmark {
        let _ = write!(s, " fwmark {mark:#x}");
        if let Some(mask) = r.fwmask {
            let _ = write!(s, "/{mask:#x}");
        }
    }
    if r.table == TABLE_MAIN {
        s.push_str(" table main");
    } else {
        let _ = write!(s, " table {}", r.table);
    }
    if let Some(n) = r.suppress_prefixlength {
        let _ = write!(s, " suppress_prefixlength {n}");
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::tests::{files, golden};
    use crate::persist::Format;
    use ipnet::IpNet;
    use std::net::IpAddr;

    /// Sections and keys hostnet writes, from nm-settings-keyfile(5) and
    /// nm-settings-nmcli(5); numbered keys (`address1`, `route2_options`) by their stem.
    const SCHEMA: &[(&str, &[&str])] = &[
        (
            "connection",
            &[
                "id",
                "uuid",
                "type",
                "interface-name",
                "autoconnect",
                "master",
                "slave-type",
            ],
        ),
        ("ethernet", &["mtu", "cloned-mac-address"]),
        ("bridge", &["stp", "forward-delay"]),
        ("veth", &["peer"]),
        (
            "ipv4",
            &[
                "method",
                "address",
                "route",
                "route_options",
                "routing-rule",
            ],
        ),
        (
            "ipv6",
            &[
                "method",
                "address",
                "route",
                "route_options",
                "routing-rule",
            ],
        ),
    ];

    /// NetworkManager's route attributes (`NM_IP_ROUTE_ATTRIBUTE_*`) hostnet uses.
    const ROUTE_OPTIONS: &[&str] = &["scope", "src", "table"];

    /// The key without its index: `route12_options` → (`route_options`, Some(12)).
    fn stem(k: &str) -> (String, Option<u32>) {
        let (base, suffix) = k.split_once('_').map_or((k, ""), |(b, s)| (b, s));
        let digits = base.trim_start_matches(|c: char| !c.is_ascii_digit());
        let name = &base[..base.len() - digits.len()];
        let n = digits.parse().ok();
        let stem = if suffix.is_empty() {
            name.to_string()
        } else {
            format!("{name}_{suffix}")
        };
        (stem, n)
    }

    type Sections = Vec<(String, Vec<(String, String)>)>;

    /// Parses a GKeyFile as NetworkManager does: `#` comments, unique `[section]`s,
    /// unique `key=value` per section, nothing outside a section.
    fn parse(s: &str) -> Sections {
        let mut out: Sections = Vec::new();
        for line in s.lines() {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                assert!(!out.iter().any(|(n, _)| n == name), "[{name}] twice");
                assert!(SCHEMA.iter().any(|(n, _)| *n == name), "section [{name}]");
                out.push((name.to_string(), Vec::new()));
                continue;
            }
            let (k, v) = line.split_once('=').expect("key=value");
            assert_eq!(k, k.trim(), "{line}");
            let (section, keys) = out.last_mut().expect("key outside a section");
            assert!(
                !keys.iter().any(|(o, _)| o == k),
                "{k} twice in [{section}]"
            );
            let (st, n) = stem(k);
            let allowed = SCHEMA.iter().find(|(s, _)| s == section).expect("known").1;
            assert!(allowed.contains(&st.as_str()), "{k} in [{section}]");
            if ["address", "route", "route_options", "routing-rule"].contains(&st.as_str()) {
                assert!(n.is_some_and(|n| n >= 1), "{k} needs an index from 1");
            }
            keys.push((k.to_string(), v.to_string()));
        }
        out
    }

    fn check_route(v: &str, v6: bool) {
        let parts: Vec<&str> = v.split(',').collect();
        assert!((1..=3).contains(&parts.len()), "{v}");
        let dst: IpNet = parts[0].parse().expect("destination");
        assert_eq!(dst.addr().is_ipv6(), v6, "{v}");
        if let Some(gw) = parts.get(1).filter(|g| !g.is_empty()) {
            assert_eq!(gw.parse::<IpAddr>().expect("gateway").is_ipv6(), v6, "{v}");
        }
        if let Some(m) = parts.get(2) {
            m.parse::<u32>().expect("metric");
        }
    }

    fn check_route_options(v: &str) {
        for kv in v.split(',') {
            let (k, val) = kv.split_once('=').expect("attr=value");
            assert!(ROUTE_OPTIONS.contains(&k), "{k}");
            match k {
                "table" | "scope" => {
                    val.parse::<u32>().expect("number");
                }
                "src" => {
                    val.parse::<IpAddr>().expect("src");
                }
                _ => {}
            }
        }
    }

    /// NetworkManager's routing-rule grammar (nm_ip_routing_rule_from_string), the part
    /// hostnet writes: priority is mandatory, each keyword once.
    fn check_rule(v: &str, v6: bool) {
        let mut seen = Vec::new();
        let mut w = v.split_whitespace();
        while let Some(k) = w.next() {
            if k == "not" {
                assert!(!seen.contains(&k), "not twice: {v}");
                seen.push(k);
                continue;
            }
            let val = w.next().unwrap_or_else(|| panic!("{k} needs a value: {v}"));
            match k {
                "priority" => {
                    val.parse::<u32>().expect("priority");
                }
                "from" | "to" => {
                    let p: IpNet = val.parse().expect("prefix");
                    assert_eq!(p.addr().is_ipv6(), v6, "{v}");
                }
                "table" => assert!(val == "main" || val.parse::<u32>().is_ok(), "{v}"),
                "iif" | "oif" => {}
                "fwmark" => assert!(val.starts_with("0x"), "{v}"),
                "suppress_prefixlength" => assert!(val.parse::<u8>().is_ok_and(|n| n <= 128)),
                _ => panic!("{k} in routing rule {v}"),
            }
            assert!(!seen.contains(&k), "{k} twice: {v}");
            seen.push(k);
        }
        assert_eq!(seen.first(), Some(&"priority"), "{v}");
        assert!(seen.contains(&"table"), "{v}");
    }

    fn get<'a>(s: &'a Sections, section: &str, key: &str) -> Option<&'a str> {
        s.iter()
            .find(|(n, _)| n == section)
            .and_then(|(_, kv)| kv.iter().find(|(k, _)| k == key))
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn golden_files() {
        insta::assert_snapshot!(golden(Format::Keyfile));
    }

    #[test]
    fn every_keyfile_parses_as_networkmanager_reads_it() {
        let all: Vec<_> = files(Format::Keyfile)
            .into_iter()
            .filter(|(rel, _, _)| rel.starts_with(DIR))
            .collect();
        assert!(!all.is_empty());
        let mut uuids = Vec::new();
        for (rel, contents, mode) in &all {
            assert_eq!(*mode, 0o600, "{}", rel.display());
            let s = parse(contents);
            let ty = get(&s, "connection", "type").expect("type");
            assert!(["bridge", "ethernet", "veth"].contains(&ty));
            let ifname = get(&s, "connection", "interface-name").expect("interface-name");
            assert_eq!(rel, &path(ifname));
            let uuid = get(&s, "connection", "uuid").expect("uuid");
            let groups: Vec<usize> = uuid.split('-').map(str::len).collect();
            assert_eq!(groups, [8, 4, 4, 4, 12], "{uuid}");
            assert!(uuid.chars().all(|c| c == '-' || c.is_ascii_hexdigit()));
            uuids.push(uuid.to_string());
            let port = get(&s, "connection", "master").is_some();
            for (section, v6) in [("ipv4", false), ("ipv6", true)] {
                let Some((_, kv)) = s.iter().find(|(n, _)| n == section) else {
                    assert!(port, "{}: no [{section}]", rel.display());
                    continue;
                };
                assert!(!port, "{}: a port with [{section}]", rel.display());
                let method = get(&s, section, "method").expect("method");
                assert!(["auto", "manual", "disabled", "link-local", "ignore"].contains(&method));
                for (k, v) in kv {
                    match stem(k).0.as_str() {
                        "address" => {
                            assert_eq!(v.parse::<IpNet>().expect("address").addr().is_ipv6(), v6)
                        }
                        "route" => check_route(v, v6),
                        "route_options" => check_route_options(v),
                        "routing-rule" => check_rule(v, v6),
                        _ => {}
                    }
                }
            }
        }
        let n = uuids.len();
        uuids.sort();
        uuids.dedup();
        assert_eq!(uuids.len(), n, "uuids are unique");
    }

    #[test]
    fn source_routing_in_keyfile_syntax() {
        let all = files(Format::Keyfile);
        let red = &all
            .iter()
            .find(|(r, _, _)| r.ends_with("hostnet-red.nmconnection"))
            .expect("red")
            .1;
        for line in [
            "routing-rule1=priority 3199 table main suppress_prefixlength 0",
            "routing-rule2=priority 3200 from 192.0.2.0/24 table 1001",
            "route1=192.0.2.0/24,,0",
            "route1_options=src=192.0.2.10,table=1001",
            "route2=0.0.0.0/0,192.0.2.1,0",
            "route2_options=table=254",
            "route3_options=table=1001",
        ] {
            assert!(red.lines().any(|l| l == line), "{line} missing in\n{red}");
        }
        assert_eq!(uuid("red"), uuid("red"));
        assert_ne!(uuid("red"), uuid("blue"));
    }
}
