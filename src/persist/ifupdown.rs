//! Debian's ifupdown2 files (Proxmox VE's format): one file per device in
//! `/etc/network/interfaces.d/`, which `/etc/network/interfaces` must `source`.
//!
//! A stanza per device: `auto` when it comes up at boot (`link-down yes` when it is to
//! stay down), `inet static` with every address of both families (one stanza, so that
//! ifupdown2 owns the whole address list; two stanzas of one device make it keep
//! addresses it should purge), `inet dhcp` (and an `inet6 dhcp` stanza) for DHCP.
//! Bridges with `bridge-ports`, `bridge-stp`, `bridge-fd`; veth pairs with `link-type
//! veth` and `veth-peer-name`; VLANs with `vlan-raw-device` and `vlan-id`; bonds with
//! `bond-slaves`, `bond-mode`, `bond-miimon`. ifupdown2 has no policy routing of its
//! own, so routes and rules are `post-up ip route replace`/`ip rule add` commands in
//! `ip` argument syntax, carrying their protocol (201 for hostnet's, so a later `apply`
//! finds them as its own), and every rule is deleted again by `pre-down`, so that an
//! `ifdown`/`ifup` cycle leaves one copy. Every command succeeds when run twice (a rule's
//! `post-up` deletes its own copy first): `ifreload -a` runs `post-up` again without
//! `pre-down`. Devices, `ip` commands and stanza order are
//! independent: ifupdown2 orders interfaces by their dependencies (ports before
//! bridges), and commands of one device run in the order written (on-link routes before
//! routes through a gateway they reach).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::device::{DeviceConfig, DeviceKind, HostConfig};
use super::ifcfg::{route_line, rule_line};
use super::{OutFile, Output, HEADER};

/// Where ifupdown reads the files `/etc/network/interfaces` sources, relative to the
/// root.
pub const DIR: &str = "etc/network/interfaces.d";

const MODE: u32 = 0o644;

fn path(name: &str) -> PathBuf {
    PathBuf::from(DIR).join(format!("hostnet-{name}"))
}

/// Names that are safe as an ifupdown word, in a file name and in the shell commands
/// `post-up` runs.
fn safe(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+'))
}

pub fn render(host: &HostConfig) -> Output {
    let mut out = Output::default();
    for d in &host.devices {
        out.owned.push(path(&d.name));
        if let Some(bad) = std::iter::once(d.name.as_str())
            .chain(d.controller.as_deref())
            .find(|n| !safe(n))
        {
            out.left_out.devices.push(d.name.clone());
            out.warnings.push(format!(
                "{}: {}: the name {bad:?} is not safe in an interfaces file and the shell \
                 commands it runs; not persisted",
                d.origin, d.name
            ));
            continue;
        }
        out.files.push(OutFile {
            rel: path(&d.name),
            contents: format!("{HEADER}\n{}", stanzas(host, d)),
            mode: MODE,
        });
    }
    for name in &host.removed {
        out.owned.push(path(name));
    }
    out
}

/// The devices whose controller is `d` (a bridge's or bond's ports), by name.
fn ports<'a>(host: &'a HostConfig, d: &DeviceConfig) -> Vec<&'a str> {
    let mut p: Vec<&str> = host
        .devices
        .iter()
        .filter(|x| x.controller.as_deref() == Some(&d.name))
        .map(|x| x.name.as_str())
        .collect();
    p.sort_unstable();
    p
}

fn stanzas(host: &HostConfig, d: &DeviceConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "auto {}", d.name);
    let static_addrs: Vec<String> = d
        .ipv4
        .iter()
        .chain(d.ipv6.iter())
        .flatten()
        .map(ToString::to_string)
        .collect();
    let method = if d.dhcp4 {
        "dhcp"
    } else if static_addrs.is_empty() {
        "manual"
    } else {
        "static"
    };
    let _ = writeln!(s, "iface {} inet {method}", d.name);
    let mut attr = |k: &str, v: &str| {
        let _ = writeln!(s, "\t{k} {v}");
    };
    match &d.kind {
        DeviceKind::Bridge { stp } => {
            let p = ports(host, d);
            attr(
                "bridge-ports",
                &if p.is_empty() {
                    "none".to_string()
                } else {
                    p.join(" ")
                },
            );
            attr("bridge-stp", if *stp { "on" } else { "off" });
            s.push_str(&super::ifupdown_keys::bridge(host, d, *stp));
        }
        DeviceKind::Veth { peer: Some(peer) } if creates_pair(host, d, peer) => {
            attr("link-type", "veth");
            attr("veth-peer-name", peer);
        }
        DeviceKind::Vlan { base, id } => {
            attr("vlan-raw-device", base);
            attr("vlan-id", &id.to_string());
        }
        DeviceKind::Bond { mode, miimon } => {
            let p = ports(host, d);
            attr(
                "bond-slaves",
                &if p.is_empty() {
                    "none".to_string()
                } else {
                    p.join(" ")
                },
            );
            attr("bond-mode", mode.as_str());
            attr("bond-miimon", &miimon.to_string());
            s.push_str(&super::ifupdown_keys::bond(d));
        }
        DeviceKind::Veth { .. } | DeviceKind::Ethernet | DeviceKind::Existing => {}
    }
    s.push_str(&super::ifupdown_keys::link(d));
    let mut attr = |k: &str, v: &str| {
        let _ = writeln!(s, "\t{k} {v}");
    };
    if !d.up {
        attr("link-down", "yes");
    }
    if let Some(mac) = d.mac {
        attr("hwaddress", &mac.to_string().to_lowercase());
    }
    if let Some(mtu) = d.mtu {
        attr("mtu", &mtu.to_string());
    }
    for a in &static_addrs {
        attr("address", a);
    }
    for r in &d.routes {
        let family = if r.destination.addr().is_ipv6() {
            "-6"
        } else {
            "-4"
        };
        attr(
            "post-up",
            &format!("ip {family} route replace {}", route_line(r)),
        );
    }
    for r in &d.rules {
        let family = match r.family {
            crate::netdev::Family::Ipv4 => "-4",
            crate::netdev::Family::Ipv6 => "-6",
        };
        let args = rule_line(r);
        // ifupdown2 runs `post-up` again, without `pre-down`, on `ifreload -a` and on
        // `ifup` of a device that is up; `ip rule add` of a rule that exists fails
        // (EEXIST) and rules have no `replace`. Deleting the same rule first makes each
        // run end with one copy; the delete's error (none yet) is expected, the add's is
        // not hidden. `pre-down` likewise succeeds when the rule is already gone.
        attr(
            "post-up",
            &format!("ip {family} rule del {args} 2>/dev/null; ip {family} rule add {args}"),
        );
        attr(
            "pre-down",
            &format!("ip {family} rule del {args} 2>/dev/null || true"),
        );
    }
    if d.dhcp6 {
        let _ = writeln!(s, "\niface {} inet6 dhcp", d.name);
    }
    s
}

/// A veth pair is created once, by the end whose name sorts first when both ends are in
/// the file.
fn creates_pair(host: &HostConfig, d: &DeviceConfig, peer: &str) -> bool {
    !host.device(peer).is_some_and(|p| {
        matches!(&p.kind, DeviceKind::Veth { peer: Some(x) } if *x == d.name) && p.name < d.name
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::tests::{files, golden, intent_of};
    use crate::persist::Format;

    /// The stanza keywords hostnet writes, from interfaces(5) and ifupdown2's addons
    /// (`ifquery --syntax-help`), with whether one device may give them twice.
    const KEYWORDS: &[(&str, bool)] = &[
        ("bridge-ports", false),
        ("bridge-stp", false),
        ("bridge-fd", false),
        ("bridge-hello", false),
        ("bridge-maxage", false),
        ("bridge-ageing", false),
        ("bridge-mclmi", false),
        ("bridge-mcmi", false),
        ("bridge-mcqpi", false),
        ("bridge-mcqi", false),
        ("bridge-mcqri", false),
        ("bridge-mcsqi", false),
        ("bridge-bridgeprio", false),
        ("bridge-mcsnoop", false),
        ("bridge-mcquerier", false),
        ("bridge-mcqifaddr", false),
        ("bridge-hashmax", false),
        ("bridge-mclmc", false),
        ("bridge-mcsqc", false),
        ("bridge-pathcosts", false),
        ("bridge-portprios", false),
        ("alias", false),
        ("vlan-protocol", false),
        ("link-type", false),
        ("veth-peer-name", false),
        ("vlan-raw-device", false),
        ("vlan-id", false),
        ("bond-slaves", false),
        ("bond-mode", false),
        ("bond-miimon", false),
        ("bond-updelay", false),
        ("bond-downdelay", false),
        ("bond-primary", false),
        ("bond-primary-reselect", false),
        ("bond-num-grat-arp", false),
        ("bond-xmit-hash-policy", false),
        ("bond-lacp-rate", false),
        ("bond-use-carrier", false),
        ("bond-min-links", false),
        ("bond-ad-sys-priority", false),
        ("bond-ad-sys-mac-addr", false),
        ("link-down", false),
        ("hwaddress", false),
        ("mtu", false),
        ("address", true),
        ("post-up", true),
        ("pre-down", true),
    ];

    /// Parses an interfaces file: `auto` lines, `iface NAME FAMILY METHOD` stanzas and
    /// their indented `keyword value` lines; every keyword known, single ones once.
    fn parse(s: &str) -> Vec<(String, Vec<(String, String)>)> {
        let mut stanzas: Vec<(String, Vec<(String, String)>)> = Vec::new();
        for line in s.lines() {
            if line.trim().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix("auto ") {
                assert!(safe(rest.trim()), "{line}");
                continue;
            }
            if let Some(rest) = line.strip_prefix("iface ") {
                let words: Vec<&str> = rest.split_whitespace().collect();
                assert_eq!(words.len(), 3, "{line}");
                assert!(["inet", "inet6"].contains(&words[1]), "{line}");
                assert!(["static", "manual", "dhcp"].contains(&words[2]), "{line}");
                stanzas.push((rest.to_string(), Vec::new()));
                continue;
            }
            let body = line.strip_prefix('\t').expect("an indented keyword line");
            let (k, v) = body.split_once(' ').expect("keyword value");
            let (_, attrs) = stanzas.last_mut().expect("inside a stanza");
            let (_, many) = KEYWORDS
                .iter()
                .find(|(name, _)| *name == k)
                .unwrap_or_else(|| panic!("unknown keyword {k}"));
            assert!(*many || !attrs.iter().any(|(o, _)| o == k), "{k} twice");
            attrs.push((k.to_string(), v.to_string()));
        }
        stanzas
    }

    #[test]
    fn golden_files() {
        insta::assert_snapshot!(golden(Format::Ifupdown));
    }

    #[test]
    fn every_file_parses_and_every_rule_added_is_deleted_by_pre_down() {
        for (rel, contents, mode) in files(Format::Ifupdown) {
            if !rel.starts_with(DIR) {
                continue;
            }
            assert_eq!(mode, 0o644);
            for (_, attrs) in parse(&contents) {
                let adds: Vec<&str> = attrs
                    .iter()
                    .filter_map(|(k, v)| (k == "post-up").then_some(v.as_str()))
                    .filter_map(|v| v.split_once(" rule add ").map(|(_, a)| a))
                    .collect();
                let dels_first: Vec<&str> = attrs
                    .iter()
                    .filter_map(|(k, v)| (k == "post-up").then_some(v.as_str()))
                    .filter_map(|v| v.split_once(" rule del ")?.1.split_once(" 2>/dev/null; "))
                    .map(|(a, _)| a)
                    .collect();
                assert_eq!(adds, dels_first, "post-up deletes first: {}", rel.display());
                let dels: Vec<&str> = attrs
                    .iter()
                    .filter_map(|(k, v)| (k == "pre-down").then_some(v.as_str()))
                    .filter_map(|v| {
                        v.split_once(" rule del ")?
                            .1
                            .strip_suffix(" 2>/dev/null || true")
                    })
                    .collect();
                assert_eq!(adds, dels, "{}", rel.display());
            }
        }
        let red = files(Format::Ifupdown)
            .into_iter()
            .find(|(r, _, _)| r.ends_with("hostnet-red"))
            .expect("red")
            .1;
        assert!(red.contains("\tbridge-ports up-red\n\tbridge-stp off\n\tbridge-fd 0\n"));
        assert!(red.contains(
            "\tpost-up ip -4 rule del priority 3198 not iif lo goto 3201 protocol 201 2>/dev/null; \
             ip -4 rule add priority 3198 not iif lo goto 3201 protocol 201\n"
        ));
        assert!(red.contains(
            "\tpost-up ip -6 route replace 2001:db8:1::/64 dev red table 1001 proto 201 metric 1024\n"
        ));
    }

    #[test]
    fn vlans_bonds_and_devices_kept_down() {
        let r = crate::persist::render(
            &intent_of(
                "interfaces:\n  - {name: eth1.10, type: vlan, vlan: {base-iface: eth1, id: 10}}\n\
                 \x20 - name: bond0\n    type: bond\n    link-aggregation: {mode: active-backup, options: {miimon: 100}, port: [eth2, eth3]}\n\
                 \x20 - {name: br9, type: linux-bridge, state: down}\n",
            ),
            Format::Ifupdown,
        );
        let text = |name: &str| {
            r.wants
                .iter()
                .find_map(|(p, w)| match w {
                    crate::persist::Want::File { contents, .. } if p.ends_with(name) => {
                        Some(String::from_utf8_lossy(contents).into_owned())
                    }
                    _ => None,
                })
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert!(text("hostnet-eth1.10").contains("\tvlan-raw-device eth1\n\tvlan-id 10\n"));
        assert!(text("hostnet-bond0")
            .contains("\tbond-slaves eth2 eth3\n\tbond-mode active-backup\n\tbond-miimon 100\n"));
        assert!(text("hostnet-br9").contains("\tbridge-ports none\n"));
        assert!(text("hostnet-br9").contains("\tlink-down yes\n"));
        assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }
}
