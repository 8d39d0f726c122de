//! systemd-networkd files: `50-hostnet-DEV.netdev` for the devices networkd creates
//! (bridges, veth pairs) and `50-hostnet-DEV.network` for every device's configuration,
//! with `[Route] Table=` and `[RoutingPolicyRule]` sections for source routing.
//!
//! Routes carry `Protocol=` (201 for what hostnet owns), so a later `apply` recognises
//! them. networkd has no protocol setting for rules: they come up with its own (static),
//! so they are recorded beside the files ([`super::record`]) and `apply` knows them as
//! its own by that record. Devices are configured without carrier
//! (`ConfigureWithoutCarrier=yes`), as `apply` does.
//!
//! DHCP: `DHCP=ipv4|ipv6|yes` only. `[DHCPv4] RouteTable=` could move the lease's routes
//! into the network's table, but no `[RoutingPolicyRule]` can name a subnet that is only
//! known from the lease, and hostnet's networkd-dispatcher hook reads the router from the
//! main table; so the table and rules of a DHCP network come from that hook (or
//! `hostnet monitor`), as with the other clients.

use std::fmt::Write as _;
use std::path::PathBuf;

use super::device::{scope_name, unusual_scope, DeviceConfig, DeviceKind, HostConfig};
use super::{OutFile, Output, HEADER};
use crate::netdev::{Family, Route, Rule, RuleAction, HOSTNET_PROTO, PROTO_STATIC, TABLE_MAIN};

/// Where networkd reads administrator files, relative to the root.
pub const DIR: &str = "etc/systemd/network";

const MODE: u32 = 0o644;

fn path(name: &str, ext: &str) -> PathBuf {
    PathBuf::from(DIR).join(format!("50-hostnet-{name}.{ext}"))
}

pub fn render(host: &HostConfig) -> Output {
    let mut out = Output::default();
    for d in &host.devices {
        out.owned.push(path(&d.name, "netdev"));
        out.owned.push(path(&d.name, "network"));
        if let Some(netdev) = netdev(host, d) {
            out.files.push(OutFile {
                rel: path(&d.name, "netdev"),
                contents: format!("{HEADER}{netdev}"),
                mode: MODE,
            });
        }
        out.files.push(OutFile {
            rel: path(&d.name, "network"),
            contents: format!("{HEADER}{}", network(host, d)),
            mode: MODE,
        });
        // networkd gives every rule it adds its own protocol.
        let copies: Vec<Rule> = d
            .rules
            .iter()
            .filter(|r| r.protocol == HOSTNET_PROTO && rule_section(r).is_some())
            .map(|r| Rule {
                protocol: PROTO_STATIC,
                ..r.clone()
            })
            .collect();
        out.copies.entry(d.name.clone()).or_default().rules = copies;
        let left_out: Vec<&Rule> = d
            .rules
            .iter()
            .filter(|r| rule_section(r).is_none())
            .collect();
        out.left_out
            .rules
            .extend(left_out.iter().map(|r| (*r).clone()));
        let left_out: Vec<String> = left_out.iter().map(ToString::to_string).collect();
        if !left_out.is_empty() {
            out.warnings.push(format!(
                "{}: {}: not written, systemd-networkd 252 has no goto or nop rule: {}; \
                 `hostnet restore` adds them at boot (until then forwarded packets walk the \
                 networks' rules)",
                d.origin,
                d.name,
                left_out.join(", ")
            ));
        }
    }
    for name in &host.removed {
        out.owned.push(path(name, "netdev"));
        out.owned.push(path(name, "network"));
    }
    out
}

/// The `.netdev` of a device networkd must create: a bridge, or a veth pair (written
/// once, by the end whose name sorts first when both ends are in the file).
fn netdev(host: &HostConfig, d: &DeviceConfig) -> Option<String> {
    let mut s = format!("\n[NetDev]\nName={}\n", d.name);
    match &d.kind {
        DeviceKind::Bridge { stp } => {
            s.push_str("Kind=bridge\n\n[Bridge]\n");
            let _ = writeln!(s, "STP={}", if *stp { "yes" } else { "no" });
            s.push_str(&super::networkd_keys::netdev_bridge(d, *stp));
        }
        DeviceKind::Veth { peer: Some(peer) } => {
            let other_end_writes = host.device(peer).is_some_and(|p| {
                matches!(&p.kind, DeviceKind::Veth { peer: Some(x) } if *x == d.name)
                    && p.name < d.name
            });
            if other_end_writes {
                return None;
            }
            s.push_str("Kind=veth\n\n[Peer]\n");
            let _ = writeln!(s, "Name={peer}");
        }
        // Existing devices, and a veth end whose peer the file does not name (it can
        // only be matched), are configured, not created. (VLANs and bonds never get
        // here: `without_vlans_and_bonds`.)
        DeviceKind::Veth { peer: None }
        | DeviceKind::Ethernet
        | DeviceKind::Existing
        | DeviceKind::Vlan { .. }
        | DeviceKind::Bond { .. } => return None,
    }
    Some(s)
}

fn network(host: &HostConfig, d: &DeviceConfig) -> String {
    let mut s = format!("\n[Match]\nName={}\n", d.name);
    let mut link = String::new();
    if let Some(mtu) = d.mtu {
        let _ = writeln!(link, "MTUBytes={mtu}");
    }
    if let Some(mac) = d.mac {
        let _ = writeln!(link, "MACAddress={}", mac.to_string().to_lowercase());
    }
    if !d.up {
        link.push_str("ActivationPolicy=down\n");
    }
    link.push_str(&super::networkd_keys::link(d));
    if !link.is_empty() {
        let _ = write!(s, "\n[Link]\n{link}");
    }
    s.push_str("\n[Network]\n");
    if let Some(c) = &d.controller {
        let _ = writeln!(s, "Bridge={c}");
    } else {
        s.push_str("ConfigureWithoutCarrier=yes\n");
    }
    let dhcp = match (d.dhcp4, d.dhcp6) {
        (true, true) => Some("yes"),
        (true, false) => Some("ipv4"),
        (false, true) => Some("ipv6"),
        (false, false) => None,
    };
    if let Some(dhcp) = dhcp {
        let _ = writeln!(s, "DHCP={dhcp}");
    }
    if d.ipv6.as_ref().is_some_and(|a| !a.is_empty()) && !d.dhcp6 {
        // Only the addresses in the file, as `apply` leaves them.
        s.push_str("IPv6AcceptRA=no\n");
    }
    s.push_str(&super::networkd_keys::network(d));
    for a in d.ipv4.iter().chain(d.ipv6.iter()).flatten() {
        let _ = writeln!(s, "Address={a}");
    }
    s.push_str(&super::networkd_keys::sections(host, d));
    for r in &d.routes {
        s.push_str(&route_section(r));
    }
    for r in &d.rules {
        s.extend(rule_section(r));
    }
    s
}

fn route_section(r: &Route) -> String {
    let mut s = String::from("\n[Route]\n");
    if let Some(gw) = r.gateway {
        let _ = writeln!(s, "Gateway={gw}");
    }
    if r.destination.prefix_len() != 0 || r.gateway.is_none() {
        let _ = writeln!(s, "Destination={}", r.destination);
    }
    if r.table != TABLE_MAIN {
        let _ = writeln!(s, "Table={}", r.table);
    }
    if let Some(src) = r.src {
        let _ = writeln!(s, "PreferredSource={src}");
    }
    if let Some(scope) = unusual_scope(r) {
        let _ = writeln!(s, "Scope={}", scope_name(scope));
    }
    if let Some(m) = r.metric {
        let _ = writeln!(s, "Metric={m}");
    }
    let _ = match r.protocol {
        PROTO_STATIC => writeln!(s, "Protocol=static"),
        p => writeln!(s, "Protocol={p}"),
    };
    s
}

/// A `[RoutingPolicyRule]`, or `None` for a goto or nop (systemd 252 has neither).
fn rule_section(r: &Rule) -> Option<String> {
    let kind = match r.action {
        RuleAction::Lookup => None,
        RuleAction::Blackhole => Some("blackhole"),
        RuleAction::Unreachable => Some("unreachable"),
        RuleAction::Prohibit => Some("prohibit"),
        RuleAction::Goto(_) | RuleAction::Nop => return None,
    };
    let mut s = String::from("\n[RoutingPolicyRule]\n");
    if r.invert {
        s.push_str("InvertRule=yes\n");
    }
    if let Some(from) = r.from {
        let _ = writeln!(s, "From={from}");
    }
    if let Some(to) = r.to {
        let _ = writeln!(s, "To={to}");
    }
    if let Some(iif) = &r.iif {
        let _ = writeln!(s, "IncomingInterface={iif}");
    }
    if let Some(oif) = &r.oif {
        let _ = writeln!(s, "OutgoingInterface={oif}");
    }
    if let Some(mark) = r.fwmark {
        match r.fwmask {
            Some(mask) if mask != u32::MAX => {
                let _ = writeln!(s, "FirewallMark={mark}/{mask}");
            }
            _ => {
                let _ = writeln!(s, "FirewallMark={mark}");
            }
        }
    }
    match kind {
        Some(kind) => {
            let _ = writeln!(s, "Type={kind}");
        }
        None => {
            let _ = writeln!(s, "Table={}", r.table);
        }
    }
    if let Some(n) = r.suppress_prefixlength {
        let _ = writeln!(s, "SuppressPrefixLength={n}");
    }
    let _ = writeln!(s, "Priority={}", r.priority);
    // networkd takes the family from From=/To=; without them it must be told.
    if r.from.is_none() && r.to.is_none() && r.family == Family::Ipv6 {
        s.push_str("Family=ipv6\n");
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::tests::{files, golden, intent_of};
    use crate::persist::Format;
    use ipnet::IpNet;
    use std::net::IpAddr;

    /// Sections and keys hostnet may write, from systemd.network(5) and systemd.netdev(5)
    /// (systemd 252), with the sections that may repeat.
    const NETWORK: &[(&str, &[&str])] = &[
        ("Match", &["Name"]),
        (
            "Link",
            &["MTUBytes", "MACAddress", "ActivationPolicy", "Promiscuous"],
        ),
        (
            "Network",
            &[
                "Bridge",
                "ConfigureWithoutCarrier",
                "DHCP",
                "IPv6AcceptRA",
                "IPv6LinkLocalAddressGenerationMode",
                "Address",
            ],
        ),
        ("Bridge", &["Cost", "Priority", "HairPin"]),
        ("BridgeVLAN", &["VLAN", "EgressUntagged", "PVID"]),
        (
            "Route",
            &[
                "Gateway",
                "Destination",
                "Table",
                "PreferredSource",
                "Scope",
                "Metric",
                "Protocol",
            ],
        ),
        (
            "RoutingPolicyRule",
            &[
                "InvertRule",
                "From",
                "To",
                "IncomingInterface",
                "OutgoingInterface",
                "FirewallMark",
                "Table",
                "Type",
                "SuppressPrefixLength",
                "Priority",
                "Family",
            ],
        ),
    ];
    const NETDEV: &[(&str, &[&str])] = &[
        ("NetDev", &["Name", "Kind"]),
        (
            "Bridge",
            &[
                "STP",
                "ForwardDelaySec",
                "HelloTimeSec",
                "MaxAgeSec",
                "AgeingTimeSec",
                "Priority",
                "GroupForwardMask",
                "MulticastSnooping",
                "MulticastQuerier",
                "VLANFiltering",
                "VLANProtocol",
                "DefaultPVID",
            ],
        ),
        ("Peer", &["Name"]),
    ];
    const REPEATABLE_SECTIONS: &[&str] = &["Route", "RoutingPolicyRule", "BridgeVLAN"];
    const REPEATABLE_KEYS: &[&str] = &["Address"];

    /// Parses a systemd unit-style file: `[Section]`, `Key=Value`, `#`/`;` comments,
    /// checking sections and keys against `schema`. Returns the sections in order.
    fn parse(s: &str, schema: &[(&str, &[&str])]) -> Vec<(String, Vec<(String, String)>)> {
        let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for line in s.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                assert!(schema.iter().any(|(n, _)| *n == name), "section [{name}]");
                assert!(
                    REPEATABLE_SECTIONS.contains(&name) || !out.iter().any(|(n, _)| n == name),
                    "[{name}] twice"
                );
                out.push((name.to_string(), Vec::new()));
                continue;
            }
            let (k, v) = line.split_once('=').expect("Key=Value");
            let (section, keys) = out.last_mut().expect("key before any section");
            let allowed = schema
                .iter()
                .find(|(n, _)| n == section)
                .map(|(_, k)| *k)
                .unwrap_or_default();
            assert!(allowed.contains(&k), "{k}= in [{section}]");
            assert!(
                REPEATABLE_KEYS.contains(&k) || !keys.iter().any(|(o, _)| o == k),
                "{k}= twice in [{section}]"
            );
            check_value(k, v);
            keys.push((k.to_string(), v.to_string()));
        }
        out
    }

    fn check_value(k: &str, v: &str) {
        let ok = match k {
            "Table" | "Priority" | "Metric" | "MTUBytes" | "ForwardDelaySec" => {
                v.parse::<u32>().is_ok()
            }
            "SuppressPrefixLength" => v.parse::<u8>().is_ok_and(|n| n <= 128),
            "Type" => ["blackhole", "unreachable", "prohibit"].contains(&v),
            "InvertRule" => ["yes", "no"].contains(&v),
            "Protocol" => {
                v.parse::<u8>().is_ok() || ["kernel", "boot", "static", "ra", "dhcp"].contains(&v)
            }
            "Address" | "From" | "To" | "Destination" => v.parse::<IpNet>().is_ok(),
            "Gateway" | "PreferredSource" => v.parse::<IpAddr>().is_ok(),
            "Scope" => ["global", "site", "link", "host", "nowhere"].contains(&v),
            "DHCP" => ["yes", "no", "ipv4", "ipv6"].contains(&v),
            "STP" | "ConfigureWithoutCarrier" | "IPv6AcceptRA" => ["yes", "no"].contains(&v),
            "ActivationPolicy" => {
                ["up", "always-up", "manual", "always-down", "down", "bound"].contains(&v)
            }
            "Kind" => ["bridge", "veth"].contains(&v),
            "Family" => ["ipv4", "ipv6", "both"].contains(&v),
            "MACAddress" => v.parse::<crate::netdev::MacAddr>().is_ok(),
            "FirewallMark" => v.split('/').all(|n| n.parse::<u32>().is_ok()),
            _ => !v.is_empty(),
        };
        assert!(ok, "{k}={v}");
    }

    #[test]
    fn golden_files() {
        insta::assert_snapshot!(golden(Format::Networkd));
    }

    #[test]
    fn every_file_parses_with_known_sections_and_keys() {
        let all: Vec<_> = files(Format::Networkd)
            .into_iter()
            .filter(|(rel, _, _)| rel.starts_with(DIR))
            .collect();
        for (rel, contents, mode) in &all {
            assert_eq!(*mode, 0o644);
            let ext = rel.extension().expect("ext").to_string_lossy().into_owned();
            let schema = if ext == "netdev" { NETDEV } else { NETWORK };
            let sections = parse(contents, schema);
            let first = if ext == "netdev" { "NetDev" } else { "Match" };
            assert_eq!(sections[0].0, first, "{}", rel.display());
            for (name, keys) in &sections {
                if name == "Route" {
                    assert!(
                        keys.iter()
                            .any(|(k, _)| k == "Gateway" || k == "Destination"),
                        "{}: a [Route] needs Gateway= or Destination=",
                        rel.display()
                    );
                }
            }
        }
        let red = &all
            .iter()
            .find(|(r, _, _)| r.ends_with("50-hostnet-red.network"))
            .expect("red")
            .1;
        assert!(red.contains("[RoutingPolicyRule]\nFrom=192.0.2.0/24\nTable=1001\nPriority=3200\n"));
        assert!(red.contains(
            "[Route]\nDestination=192.0.2.0/24\nTable=1001\nPreferredSource=192.0.2.10\nProtocol=201\n"
        ));
    }

    #[test]
    fn a_veth_pair_is_created_once() {
        let r = crate::persist::render(
            &intent_of(
                "interfaces:\n  - {name: va, type: veth, veth: {peer: vb}}\n  - {name: vb, type: veth, veth: {peer: va}}\n",
            ),
            Format::Networkd,
        );
        let netdevs: Vec<_> = r
            .wants
            .iter()
            .filter(|(p, w)| {
                p.extension().is_some_and(|e| e == "netdev")
                    && matches!(w, crate::persist::Want::File { .. })
            })
            .collect();
        assert_eq!(netdevs.len(), 1);
        assert!(netdevs[0].0.ends_with("50-hostnet-va.netdev"));
    }

    #[test]
    fn ipv6_rules_without_prefixes_name_their_family() {
        let r = rule_section(&Rule {
            fwmark: Some(16),
            fwmask: Some(255),
            ..Rule::lookup(Family::Ipv6, 10, 7, crate::netdev::PROTO_STATIC)
        })
        .expect("a lookup");
        assert!(r.contains("Family=ipv6\n") && r.contains("FirewallMark=16/255\n"));
    }

    #[test]
    fn the_block_is_written_but_for_its_goto_and_nop() {
        let r = crate::persist::render(
            &intent_of(crate::persist::tests::GOLDEN_INPUT),
            Format::Networkd,
        );
        let red = r
            .wants
            .iter()
            .find_map(|(p, w)| match w {
                crate::persist::Want::File { contents, .. }
                    if p.ends_with("50-hostnet-red.network") =>
                {
                    Some(String::from_utf8_lossy(contents).into_owned())
                }
                _ => None,
            })
            .expect("red");
        assert!(
            red.contains("[RoutingPolicyRule]\nTable=254\nSuppressPrefixLength=0\nPriority=3199\n"),
            "{red}"
        );
        assert!(
            !red.contains("Priority=3198") && !red.contains("Priority=3201"),
            "{red}"
        );
        assert!(
            r.warnings.iter().any(|w| w.contains("no goto or nop rule")
                && w.contains("priority 3198 not iif lo goto 3201")),
            "{:?}",
            r.warnings
        );
        let inverted = rule_section(&Rule {
            invert: true,
            oif: Some("eth0".into()),
            action: RuleAction::Prohibit,
            ..Rule::lookup(Family::Ipv4, 10, 0, crate::netdev::PROTO_STATIC)
        })
        .expect("written");
        assert!(inverted.contains("InvertRule=yes\n") && inverted.contains("Type=prohibit\n"));
        assert!(inverted.contains("OutgoingInterface=eth0\n") && !inverted.contains("Table="));
    }
}
