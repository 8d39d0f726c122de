//! netplan files: `NN-hostnet-DEV.yaml` in `/etc/netplan/`, one device each (netplan
//! merges all files; `NN` orders them so that a device is declared before another names
//! it), mode 0600 (netplan warns about readable ones), rendered by netplan into
//! systemd-networkd files (its default renderer).
//!
//! Devices under `ethernets` (NICs and the devices the file names without a type, matched
//! by name), `bridges` (`interfaces`, `parameters: {stp, forward-delay, ...}`), `vlans`
//! (`id`, `link`) and `bonds` (`interfaces`, `parameters: {mode, mii-monitor-interval,
//! ...}`; the rest of `parameters`: [`super::netplan_keys`]); routes
//! with `table`, `scope`, `from` (the preferred source) and `metric`, rules as
//! `routing-policy` (`from`, `to`, `mark`, `table`, `priority`).
//!
//! Not expressible in netplan 0.106 (Debian 12), each left out with a warning: veth pairs
//! (`virtual-ethernets` came later), rules other than plain lookups on `from`/`to`/
//! `mark` (the block around the networks' rules: `hostnet restore` adds it at boot), a
//! firewall mark's mask, and any protocol: routes and rules come up `proto static`, so
//! hostnet's are recorded beside the files ([`super::record`]).

use std::fmt::Write as _;
use std::path::PathBuf;

use super::device::{unusual_scope, DeviceConfig, DeviceKind, HostConfig};
use super::{OutFile, Output, HEADER};
use crate::expand::PersistedCopies;
use crate::netdev::{Route, Rule, RuleAction, HOSTNET_PROTO, PROTO_STATIC, TABLE_MAIN};

/// Where netplan reads administrator files, relative to the root.
pub const DIR: &str = "etc/netplan";

const MODE: u32 = 0o600;

/// netplan reads its files in name order and a device may only name (as a port, as a
/// VLAN's link) a device an earlier file or its own declares: so NICs come first, then
/// bonds (of NICs), VLANs (of NICs or bonds), bridges (of any of them).
const PREFIXES: [&str; 4] = ["40", "45", "50", "60"];

fn prefix(kind: &DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Veth { .. } | DeviceKind::Ethernet | DeviceKind::Existing => PREFIXES[0],
        DeviceKind::Bond { .. } => PREFIXES[1],
        DeviceKind::Vlan { .. } => PREFIXES[2],
        DeviceKind::Bridge { .. } => PREFIXES[3],
    }
}

fn path_with(prefix: &str, name: &str) -> PathBuf {
    PathBuf::from(DIR).join(format!("{prefix}-hostnet-{name}.yaml"))
}

fn path(kind: &DeviceKind, name: &str) -> PathBuf {
    path_with(prefix(kind), name)
}

/// Every path a device's file may have (a device whose kind changed leaves no other).
fn owned(name: &str) -> impl Iterator<Item = PathBuf> + '_ {
    PREFIXES.iter().map(move |p| path_with(p, name))
}

/// A YAML double-quoted string (names and addresses go through it: `2001:db8::1/64`
/// must not be read as anything else).
pub(super) fn q(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn render(host: &HostConfig) -> Output {
    let mut out = Output::default();
    // Veth ends cannot be declared, so they cannot be ports either.
    let veths: Vec<&str> = host
        .devices
        .iter()
        .filter(|d| matches!(d.kind, DeviceKind::Veth { .. }))
        .map(|d| d.name.as_str())
        .collect();
    for d in &host.devices {
        out.owned.extend(owned(&d.name));
        if veths.contains(&d.name.as_str()) {
            out.left_out.devices.push(format!("{} (veth)", d.name));
            out.warnings.push(format!(
                "{}: {}: netplan 0.106 cannot declare veth pairs; not persisted (`hostnet \
                 restore` makes it at boot)",
                d.origin, d.name
            ));
            continue;
        }
        let (body, copies) = device_file(host, d, &veths, &mut out);
        out.files.push(OutFile {
            rel: path(&d.kind, &d.name),
            contents: format!("{HEADER}{body}"),
            mode: MODE,
        });
        out.copies.insert(d.name.clone(), copies);
    }
    for name in &host.removed {
        out.owned.extend(owned(name));
    }
    out
}

fn section(kind: &DeviceKind) -> &'static str {
    match kind {
        DeviceKind::Bridge { .. } => "bridges",
        DeviceKind::Vlan { .. } => "vlans",
        DeviceKind::Bond { .. } => "bonds",
        DeviceKind::Veth { .. } | DeviceKind::Ethernet | DeviceKind::Existing => "ethernets",
    }
}

/// The file of one device, and hostnet's objects in it as networkd will make them.
fn device_file(
    host: &HostConfig,
    d: &DeviceConfig,
    veths: &[&str],
    out: &mut Output,
) -> (String, PersistedCopies) {
    let mut s = String::from("network:\n  version: 2\n");
    // A VLAN's base must be declared for netplan to accept the VLAN.
    if let DeviceKind::Vlan { base, .. } = &d.kind {
        if host.device(base).is_none() {
            let _ = writeln!(s, "  ethernets:\n    {}: {{}}", q(base));
        }
    }
    let _ = write!(s, "  {}:\n    {}:", section(&d.kind), q(&d.name));
    let keys = keys(host, d, veths, out);
    if keys.is_empty() && d.routes.is_empty() && d.rules.is_empty() {
        // Declared, with nothing of its own to set.
        s.push_str(" {}");
    }
    for (k, v) in keys {
        let _ = write!(s, "\n      {k}: {v}");
    }
    s.push('\n');
    let copies = routes_and_rules(d, &mut s, out);
    (s, copies)
}

/// The device's keys other than routes and rules, in netplan's order of concerns: its
/// kind's, its link's, its addresses.
fn keys(
    host: &HostConfig,
    d: &DeviceConfig,
    veths: &[&str],
    out: &mut Output,
) -> Vec<(&'static str, String)> {
    let mut k: Vec<(&'static str, String)> = Vec::new();
    let ports = |out: &mut Output| -> String {
        let mut p: Vec<&str> = host
            .devices
            .iter()
            .filter(|x| x.controller.as_deref() == Some(&d.name))
            .map(|x| x.name.as_str())
            .collect();
        p.sort_unstable();
        let (kept, dropped): (Vec<&str>, Vec<&str>) =
            p.into_iter().partition(|p| !veths.contains(p));
        if !dropped.is_empty() {
            out.warnings.push(format!(
                "{}: {}: port {} left out (netplan cannot declare veths)",
                d.origin,
                d.name,
                dropped.join(", ")
            ));
        }
        let kept: Vec<String> = kept.into_iter().map(q).collect();
        format!("[{}]", kept.join(", "))
    };
    match &d.kind {
        DeviceKind::Bridge { stp } => {
            k.push(("interfaces", ports(out)));
            k.push((
                "parameters",
                super::netplan_keys::bridge(host, d, *stp, veths),
            ));
        }
        DeviceKind::Vlan { base, id } => {
            k.push(("id", id.to_string()));
            k.push(("link", q(base)));
        }
        DeviceKind::Bond { mode, miimon } => {
            k.push(("interfaces", ports(out)));
            k.push((
                "parameters",
                super::netplan_keys::bond(d, mode.as_str(), *miimon),
            ));
        }
        DeviceKind::Veth { .. } | DeviceKind::Ethernet | DeviceKind::Existing => {}
    }
    if !d.up {
        k.push(("activation-mode", "manual".into()));
    }
    if let Some(mac) = d.mac {
        k.push(("macaddress", q(&mac.to_string().to_lowercase())));
    }
    if let Some(mtu) = d.mtu {
        k.push(("mtu", mtu.to_string()));
    }
    if d.controller.is_none() {
        // As `apply` configures it: addresses and routes whether or not it has carrier.
        k.push(("ignore-carrier", "true".into()));
    }
    if d.dhcp4 {
        k.push(("dhcp4", "true".into()));
    }
    if d.dhcp6 {
        k.push(("dhcp6", "true".into()));
    }
    if d.ipv6.as_ref().is_some_and(|a| !a.is_empty()) && !d.dhcp6 {
        // Only the addresses in the file, as `apply` leaves them.
        k.push(("accept-ra", "false".into()));
    }
    let addrs: Vec<String> = d
        .ipv4
        .iter()
        .chain(d.ipv6.iter())
        .flatten()
        .map(|a| q(&a.to_string()))
        .collect();
    if !addrs.is_empty() {
        k.push(("addresses", format!("[{}]", addrs.join(", "))));
    }
    k
}

/// `routes` and `routing-policy`, appended to `s`; the rules netplan cannot say go to
/// `out.left_out`. Returns hostnet's objects among them as networkd makes them.
fn routes_and_rules(d: &DeviceConfig, s: &mut String, out: &mut Output) -> PersistedCopies {
    let mut copies = PersistedCopies::default();
    let as_static = |p: u8| {
        if p == HOSTNET_PROTO {
            Some(PROTO_STATIC)
        } else {
            None
        }
    };
    if !d.routes.is_empty() {
        s.push_str("      routes:\n");
        for r in &d.routes {
            s.push_str(&route(r));
            if let Some(protocol) = as_static(r.protocol) {
                copies.routes.push(Route {
                    protocol,
                    ..r.clone()
                });
            }
        }
    }
    let (written, left): (Vec<&Rule>, Vec<&Rule>) = d.rules.iter().partition(|r| rule(r).is_some());
    if !written.is_empty() {
        s.push_str("      routing-policy:\n");
        for r in written {
            s.extend(rule(r));
            if let Some(protocol) = as_static(r.protocol) {
                copies.rules.push(Rule {
                    protocol,
                    ..r.clone()
                });
            }
        }
    }
    if !left.is_empty() {
        out.left_out.rules.extend(left.iter().map(|r| (*r).clone()));
        let text: Vec<String> = left.iter().map(ToString::to_string).collect();
        out.warnings.push(format!(
            "{}: {}: not written, netplan's routing-policy has only lookups on from, to and \
             mark: {}; `hostnet restore` adds them at boot",
            d.origin,
            d.name,
            text.join(", ")
        ));
    }
    copies
}

fn route(r: &Route) -> String {
    let to = if r.destination.prefix_len() == 0 {
        "default".to_string()
    } else {
        q(&r.destination.to_string())
    };
    let mut s = format!("        - to: {to}\n");
    let mut kv = |k: &str, v: String| {
        let _ = writeln!(s, "          {k}: {v}");
    };
    if let Some(gw) = r.gateway {
        kv("via", q(&gw.to_string()));
    }
    if let Some(src) = r.src {
        kv("from", q(&src.to_string()));
    }
    if let Some(scope) = unusual_scope(r)
        .or((r.gateway.is_none() && r.destination.addr().is_ipv4())
            .then_some(crate::netdev::RouteScope::Link))
    {
        kv("scope", super::device::scope_name(scope));
    }
    if r.table != TABLE_MAIN {
        kv("table", r.table.to_string());
    }
    if let Some(m) = r.metric {
        kv("metric", m.to_string());
    }
    s
}

/// A `routing-policy` entry, or `None` for what netplan cannot say.
fn rule(r: &Rule) -> Option<String> {
    let plain = r.action == RuleAction::Lookup
        && !r.invert
        && r.iif.is_none()
        && r.oif.is_none()
        && r.suppress_prefixlength.is_none()
        && r.fwmask.is_none_or(|m| m == u32::MAX)
        && (r.from.is_some() || r.to.is_some());
    if !plain {
        return None;
    }
    let mut s = String::new();
    let mut first = true;
    let mut kv = |k: &str, v: String| {
        let lead = if first { "        - " } else { "          " };
        first = false;
        let _ = writeln!(s, "{lead}{k}: {v}");
    };
    if let Some(from) = r.from {
        kv("from", q(&from.to_string()));
    }
    if let Some(to) = r.to {
        kv("to", q(&to.to_string()));
    }
    if let Some(mark) = r.fwmark {
        kv("mark", mark.to_string());
    }
    kv("table", r.table.to_string());
    kv("priority", r.priority.to_string());
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::tests::{files, golden, intent_of};
    use crate::persist::Format;

    #[test]
    fn golden_files() {
        insta::assert_snapshot!(golden(Format::Netplan));
    }

    /// Every file is YAML with netplan's top level, and every device section names a
    /// known device type with keys netplan 0.106 documents (netplan(5)).
    #[test]
    fn every_file_is_netplan_yaml_with_known_keys() {
        const KEYS: &[&str] = &[
            "interfaces",
            "parameters",
            "id",
            "link",
            "activation-mode",
            "macaddress",
            "mtu",
            "ignore-carrier",
            "dhcp4",
            "dhcp6",
            "accept-ra",
            "addresses",
            "routes",
            "routing-policy",
        ];
        for (rel, contents, mode) in files(Format::Netplan) {
            if !rel.starts_with(DIR) {
                continue;
            }
            assert_eq!(mode, 0o600);
            let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&contents).expect("YAML");
            let net = v.get("network").expect("network:");
            assert_eq!(net.get("version").and_then(|v| v.as_u64()), Some(2));
            let map = net.as_mapping().expect("a mapping");
            for (k, devs) in map {
                let k = k.as_str().expect("key");
                if k == "version" {
                    continue;
                }
                assert!(
                    ["ethernets", "bridges", "vlans", "bonds"].contains(&k),
                    "{k}"
                );
                for (_, dev) in devs.as_mapping().expect("devices") {
                    for (key, _) in dev.as_mapping().into_iter().flatten() {
                        let key = key.as_str().expect("key");
                        assert!(KEYS.contains(&key), "{}: {key}", rel.display());
                    }
                }
            }
        }
    }

    #[test]
    fn vlans_and_bonds() {
        let r = crate::persist::render(
            &intent_of(
                "interfaces:\n  - {name: eth1.10, type: vlan, vlan: {base-iface: eth1, id: 10}}\n\
                 \x20 - name: bond0\n    type: bond\n    link-aggregation: {mode: 802.3ad, options: {miimon: 100}, port: [eth2, eth3]}\n",
            ),
            Format::Netplan,
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
        let vlan = text("50-hostnet-eth1.10.yaml");
        assert!(r
            .wants
            .iter()
            .any(|(p, _)| p.ends_with("40-hostnet-eth2.yaml")));
        assert!(vlan.contains("  ethernets:\n    \"eth1\": {}\n  vlans:\n    \"eth1.10\":\n      id: 10\n      link: \"eth1\"\n"), "{vlan}");
        let bond = text("45-hostnet-bond0.yaml");
        assert!(bond.contains("      interfaces: [\"eth2\", \"eth3\"]\n      parameters: {mode: 802.3ad, mii-monitor-interval: 100}\n"), "{bond}");
    }
}
