//! RHEL network-scripts (initscripts) files: `ifcfg-DEV`, and `route-DEV`, `route6-DEV`,
//! `rule-DEV`, `rule6-DEV` in `ip route`/`ip rule` argument syntax, which `ifup-routes`
//! feeds line by line to `ip -4|-6 route|rule add`.
//!
//! Written as VDSM wrote them for static networks (`NM_CONTROLLED=no`, a bridge with
//! `STP=off` and `DELAY=0`, ports with `BRIDGE=`), with the source-routing table in the
//! route and rule files. Routes and rules carry their protocol (`proto 201` for what
//! hostnet owns), so that after a boot the kernel holds exactly the objects `apply`
//! makes and a later `apply` recognises them; `ip rule ... protocol` needs iproute2 4.17
//! or later (RHEL 8).
//!
//! Not expressible: veth pairs (initscripts has no veth type; such devices and their
//! peers are skipped with a warning), and DHCP source routing (`BOOTPROTO=dhcp` only:
//! the table and rules of a lease come from hostnet's dhclient hook).

use std::fmt::Write as _;
use std::path::PathBuf;

use ipnet::IpNet;

use super::device::{scope_name, unusual_scope, DeviceConfig, DeviceKind, HostConfig};
use super::{OutFile, Output, HEADER};
use crate::netdev::{Route, Rule, RuleAction, HOSTNET_PROTO, PROTO_STATIC};

/// Where network-scripts reads its files, relative to the root.
pub const DIR: &str = "etc/sysconfig/network-scripts";

const MODE: u32 = 0o644;

/// The files network-scripts reads for a device.
fn owned_paths(name: &str) -> Vec<PathBuf> {
    ["ifcfg", "route", "route6", "rule", "rule6"]
        .iter()
        .map(|p| PathBuf::from(DIR).join(format!("{p}-{name}")))
        .collect()
}

/// Names that survive `. ifcfg-DEV` and the unquoted word splitting of `ifup-routes`.
fn shell_safe(name: &str) -> bool {
    name.chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+'))
}

pub fn render(host: &HostConfig) -> Output {
    let mut out = Output::default();
    // Veth ends, and the devices named as their peers, do not exist at boot.
    let mut skip: Vec<&str> = Vec::new();
    for d in &host.devices {
        if let DeviceKind::Veth { peer } = &d.kind {
            skip.push(&d.name);
            skip.extend(peer.as_deref());
        }
    }
    for d in &host.devices {
        if skip.contains(&d.name.as_str()) {
            out.left_out.devices.push(format!("{} (veth)", d.name));
            out.warnings.push(format!(
                "{}: {}: network-scripts cannot create veth pairs; not persisted (create \
                 the pair from a systemd unit or use --format networkd/keyfile)",
                d.origin, d.name
            ));
            continue;
        }
        let unsafe_name = std::iter::once(d.name.as_str())
            .chain(d.controller.as_deref())
            .find(|n| !shell_safe(n));
        if let Some(n) = unsafe_name {
            out.left_out.devices.push(d.name.clone());
            out.warnings.push(format!(
                "{}: {}: the name {n:?} is not safe in shell-sourced ifcfg files; not persisted",
                d.origin, d.name
            ));
            continue;
        }
        out.owned.extend(owned_paths(&d.name));
        let dir = PathBuf::from(DIR);
        let mut push = |prefix: &str, body: String| {
            out.files.push(OutFile {
                rel: dir.join(format!("{prefix}-{}", d.name)),
                contents: format!("{HEADER}{body}"),
                mode: MODE,
            })
        };
        push("ifcfg", ifcfg(d));
        for (prefix, v6) in [("route", false), ("route6", true)] {
            let lines: String = d.routes_of(v6).map(|r| route_line(r) + "\n").collect();
            if !lines.is_empty() {
                push(prefix, lines);
            }
        }
        for (prefix, v6) in [("rule", false), ("rule6", true)] {
            let lines: String = d.rules_of(v6).map(|r| rule_line(r) + "\n").collect();
            if !lines.is_empty() {
                push(prefix, lines);
            }
        }
    }
    for name in &host.removed {
        out.owned.extend(owned_paths(name));
    }
    out
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn ifcfg(d: &DeviceConfig) -> String {
    let mut s = String::new();
    let mut kv = |k: &str, v: &str| {
        let _ = writeln!(s, "{k}={v}");
    };
    kv("DEVICE", &d.name);
    match &d.kind {
        DeviceKind::Bridge { .. } => kv("TYPE", "Bridge"),
        DeviceKind::Ethernet => kv("TYPE", "Ethernet"),
        // network-scripts picks the handler from the device for the others (VLANs and
        // bonds never get here: `without_vlans_and_bonds`).
        DeviceKind::Existing
        | DeviceKind::Veth { .. }
        | DeviceKind::Vlan { .. }
        | DeviceKind::Bond { .. } => {}
    }
    kv("ONBOOT", yes_no(d.up));
    kv("BOOTPROTO", if d.dhcp4 { "dhcp" } else { "none" });
    if let DeviceKind::Bridge { stp } = d.kind {
        kv("STP", if stp { "on" } else { "off" });
        // Forward delay 0 as for every bridge hostnet creates; with STP on the kernel
        // refuses less than 2 seconds.
        kv("DELAY", if stp { "2" } else { "0" });
    }
    if let Some(mtu) = d.mtu {
        kv("MTU", &mtu.to_string());
    }
    if let Some(mac) = d.mac {
        kv("MACADDR", &mac.to_string());
    }
    if let Some(c) = &d.controller {
        kv("BRIDGE", c);
    }
    if let Some(opts) = super::ifcfg_keys::bridging_opts(d) {
        kv("BRIDGING_OPTS", &opts);
    }
    for (i, a) in d.ipv4.iter().flatten().enumerate() {
        let n = if i == 0 { String::new() } else { i.to_string() };
        kv(&format!("IPADDR{n}"), &a.addr().to_string());
        kv(&format!("PREFIX{n}"), &a.prefix_len().to_string());
    }
    let v6: Vec<&IpNet> = d.ipv6.iter().flatten().collect();
    let ipv6 = !v6.is_empty() || d.dhcp6;
    kv("IPV6INIT", yes_no(ipv6));
    if !v6.is_empty() && !d.dhcp6 {
        // Only the addresses in the file, as `apply` leaves them; DHCPv6 keeps router
        // advertisements, which bring its router.
        kv("IPV6_AUTOCONF", "no");
    }
    if let Some((first, rest)) = v6.split_first() {
        kv("IPV6ADDR", &first.to_string());
        if !rest.is_empty() {
            let list: Vec<String> = rest.iter().map(ToString::to_string).collect();
            kv("IPV6ADDR_SECONDARIES", &format!("\"{}\"", list.join(" ")));
        }
    }
    if d.dhcp6 {
        kv("DHCPV6C", "yes");
    }
    kv("NM_CONTROLLED", "no");
    s
}

fn proto_name(p: u8) -> String {
    match p {
        PROTO_STATIC => "static".to_string(),
        p => p.to_string(),
    }
}

/// `ip route add` arguments for a route, in the order `ip route show` prints them.
pub fn route_line(r: &Route) -> String {
    let mut s = if r.destination.prefix_len() == 0 {
        "default".to_string()
    } else {
        r.destination.to_string()
    };
    if let Some(gw) = r.gateway {
        let _ = write!(s, " via {gw}");
    }
    if let Some(dev) = &r.dev {
        let _ = write!(s, " dev {dev}");
    }
    if r.table != crate::netdev::TABLE_MAIN {
        let _ = write!(s, " table {}", r.table);
    }
    let _ = write!(s, " proto {}", proto_name(r.protocol));
    if let Some(scope) = unusual_scope(r) {
        let _ = write!(s, " scope {}", scope_name(scope));
    }
    if let Some(src) = r.src {
        let _ = write!(s, " src {src}");
    }
    if let Some(m) = r.metric {
        let _ = write!(s, " metric {m}");
    }
    s
}

/// `ip rule add` arguments for a rule.
pub fn rule_line(r: &Rule) -> String {
    let mut s = format!("priority {}", r.priority);
    if r.invert {
        s.push_str(" not");
    }
    let mut prefix = |k: &str, p: Option<IpNet>| {
        if let Some(p) = p {
            let _ = write!(s, " {k} {p}");
        }
    };
    prefix("from", r.from);
    prefix("to", r.to);
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
    match r.action {
        RuleAction::Lookup => {
            let _ = write!(s, " table {}", r.table);
        }
        RuleAction::Goto(target) => {
            let _ = write!(s, " goto {target}");
        }
        RuleAction::Nop => s.push_str(" nop"),
        RuleAction::Blackhole => s.push_str(" blackhole"),
        RuleAction::Unreachable => s.push_str(" unreachable"),
        RuleAction::Prohibit => s.push_str(" prohibit"),
    }
    if let Some(n) = r.suppress_prefixlength {
        let _ = write!(s, " suppress_prefixlength {n}");
    }
    let proto = if r.protocol == HOSTNET_PROTO {
        r.protocol.to_string()
    } else {
        proto_name(r.protocol)
    };
    let _ = write!(s, " protocol {proto}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    /// A parsed `ip route` line.
    #[derive(Debug, Default, PartialEq, Eq)]
    pub(crate) struct ParsedRoute {
        pub destination: Option<IpNet>,
        pub via: Option<IpAddr>,
        pub words: Vec<(String, String)>,
    }
    use crate::persist::tests::{files, golden};
    use crate::persist::Format;

    /// The keys network-scripts (initscripts' ifup-eth/ifup-ipv6, and NetworkManager's
    /// ifcfg-rh reader) understands that hostnet writes.
    const KEYS: &[&str] = &[
        "DEVICE",
        "TYPE",
        "ONBOOT",
        "BOOTPROTO",
        "STP",
        "DELAY",
        "MTU",
        "MACADDR",
        "BRIDGE",
        "BRIDGING_OPTS",
        "IPV6INIT",
        "IPV6_AUTOCONF",
        "IPV6ADDR",
        "IPV6ADDR_SECONDARIES",
        "DHCPV6C",
        "NM_CONTROLLED",
    ];

    /// Parses an ifcfg file as the shell would: comments, and KEY=VALUE with a value
    /// that is either a plain word or double-quoted.
    fn parse_ifcfg(s: &str) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for line in s.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let (k, v) = line.split_once('=').expect("KEY=VALUE");
            assert!(
                k.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'),
                "{line}"
            );
            let known = KEYS.contains(&k)
                || ["IPADDR", "PREFIX"].iter().any(|p| {
                    k.strip_prefix(p)
                        .is_some_and(|n| n.is_empty() || n.parse::<u8>().is_ok())
                });
            assert!(known, "unknown key {k}");
            let v = match v.strip_prefix('"') {
                Some(q) => q.strip_suffix('"').expect("closing quote").to_string(),
                None => {
                    assert!(v.chars().all(|c| !" \"'$`\\;&|*?".contains(c)), "{line}");
                    v.to_string()
                }
            };
            assert!(!out.iter().any(|(o, _)| o == k), "duplicate {k}");
            out.push((k.to_string(), v));
        }
        out
    }

    /// A tiny tokenizer of `ip route add` arguments: a destination, then keyword-value
    /// pairs from iproute2's grammar, each at most once.
    pub(crate) fn parse_route(line: &str) -> ParsedRoute {
        let mut words = line.split_whitespace();
        let dst = words.next().expect("destination");
        let mut r = ParsedRoute {
            destination: (dst != "default").then(|| dst.parse().expect("prefix")),
            ..ParsedRoute::default()
        };
        while let Some(k) = words.next() {
            let v = words
                .next()
                .unwrap_or_else(|| panic!("{k} needs a value: {line}"));
            match k {
                "via" => r.via = Some(v.parse().expect("gateway")),
                "dev" => assert!(shell_safe(v)),
                "table" | "metric" => {
                    v.parse::<u32>().expect("number");
                }
                "proto" => assert!(v == "static" || v.parse::<u8>().is_ok(), "{line}"),
                "scope" => assert!(["global", "link", "host"].contains(&v), "{line}"),
                "src" => {
                    v.parse::<IpAddr>().expect("src");
                }
                _ => panic!("{k} is not an ip route keyword hostnet writes: {line}"),
            }
            assert!(!r.words.iter().any(|(o, _)| o == k), "{k} twice: {line}");
            r.words.push((k.to_string(), v.to_string()));
        }
        r
    }

    /// The same for `ip rule add` arguments.
    pub(crate) fn parse_rule(line: &str) -> Vec<(String, String)> {
        const ACTIONS: [&str; 5] = ["table", "goto", "nop", "blackhole", "unreachable"];
        let mut out: Vec<(String, String)> = Vec::new();
        let mut words = line.split_whitespace();
        while let Some(k) = words.next() {
            let flag = ["not", "nop", "blackhole", "unreachable", "prohibit"].contains(&k);
            let v = if flag {
                ""
            } else {
                words
                    .next()
                    .unwrap_or_else(|| panic!("{k} needs a value: {line}"))
            };
            match k {
                "priority" | "table" | "goto" | "suppress_prefixlength" => {
                    v.parse::<u32>().expect("number");
                }
                "from" | "to" => {
                    v.parse::<IpNet>().expect("prefix");
                }
                "iif" | "oif" => assert!(shell_safe(v)),
                "fwmark" => assert!(v.starts_with("0x"), "{line}"),
                "protocol" => assert!(v == "static" || v.parse::<u8>().is_ok(), "{line}"),
                _ if flag => {}
                _ => panic!("{k} is not an ip rule keyword hostnet writes: {line}"),
            }
            assert!(!out.iter().any(|(o, _)| o == k), "{k} twice: {line}");
            out.push((k.to_string(), v.to_string()));
        }
        assert!(out.iter().any(|(k, _)| k == "priority"), "{line}");
        let actions = out
            .iter()
            .filter(|(k, _)| ACTIONS.contains(&k.as_str()) || k == "prohibit")
            .count();
        assert_eq!(actions, 1, "one action: {line}");
        out
    }

    fn body(contents: &str) -> impl Iterator<Item = &str> {
        contents.lines().filter(|l| !l.starts_with('#'))
    }

    #[test]
    fn golden_files() {
        insta::assert_snapshot!(golden(Format::Ifcfg));
    }

    #[test]
    fn every_file_parses() {
        let all = files(Format::Ifcfg);
        assert!(!all.is_empty());
        for (rel, contents, mode) in &all {
            assert_eq!(*mode, 0o644);
            let name = rel
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let kind = name.split('-').next().expect("prefix");
            for line in body(contents) {
                match kind {
                    "ifcfg" => {}
                    "route" | "route6" => {
                        let r = parse_route(line);
                        let v6 = kind == "route6";
                        if let Some(d) = r.destination {
                            assert_eq!(d.addr().is_ipv6(), v6, "{line}");
                        }
                    }
                    "rule" | "rule6" => {
                        parse_rule(line);
                    }
                    _ => panic!("unexpected file {name}"),
                }
            }
            if kind == "ifcfg" {
                let kv = parse_ifcfg(contents);
                let device = &kv.iter().find(|(k, _)| k == "DEVICE").expect("DEVICE").1;
                assert_eq!(format!("ifcfg-{device}"), name);
            }
        }
    }

    #[test]
    fn source_routing_lines_are_what_vdsm_wrote_with_an_on_link_route() {
        let all = files(Format::Ifcfg);
        let get = |n: &str| {
            all.iter()
                .find(|(r, _, _)| r.ends_with(n))
                .map(|(_, c, _)| body(c).collect::<Vec<_>>().join("\n"))
                .unwrap_or_else(|| panic!("{n} missing"))
        };
        assert_eq!(
            get("route-red"),
            "192.0.2.0/24 dev red table 1001 proto 201 src 192.0.2.10\n\
             default via 192.0.2.1 dev red proto 201\n\
             default via 192.0.2.1 dev red table 1001 proto 201"
        );
        assert_eq!(
            get("rule-red"),
            "priority 3198 not iif lo goto 3201 protocol 201\n\
             priority 3199 table 254 suppress_prefixlength 0 protocol 201\n\
             priority 3200 from 192.0.2.0/24 table 1001 protocol 201\n\
             priority 3201 nop protocol 201"
        );
        assert!(
            get("route6-red").contains("2001:db8:1::/64 dev red table 1001 proto 201 metric 1024")
        );
        assert!(get("route-br-vm")
            .contains("10.20.0.0/16 via 10.10.0.254 dev br-vm table 100 proto static metric 50"));
        let eth3 = get("ifcfg-eth3");
        assert!(eth3.contains("BOOTPROTO=dhcp"), "{eth3}");
        let up = get("ifcfg-up-red");
        assert!(up.contains("BRIDGE=red") && up.contains("MTU=1500"), "{up}");
    }

    #[test]
    fn veths_are_skipped_with_a_warning_and_removed_devices_own_their_paths() {
        let r = crate::persist::render(
            &crate::persist::tests::intent_of(crate::persist::tests::GOLDEN_INPUT),
            Format::Ifcfg,
        );
        assert!(r
            .warnings
            .iter()
            .any(|w| w.contains("vm-a") && w.contains("veth")));
        assert!(r.warnings.iter().any(|w| w.contains("vm-b")));
        assert!(!r.wants.iter().any(|(p, _)| p.ends_with("ifcfg-vm-a")));
        assert!(r
            .wants
            .iter()
            .any(|(p, w)| p.ends_with("ifcfg-old") && *w == crate::persist::Want::Absent));
    }
}
