//! Checks that need more than one field, run on the whole document before anything is
//! planned. Every problem is collected (not only the first) and names its field.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::doc_index::DocIndex;
use super::types::*;
use crate::netdev::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};

/// Default range that derived source-routing table ids are taken from.
pub const DEFAULT_TABLE_RANGE: [u32; 2] = [1000, 9999];
/// Default priority of source-routing rules.
pub const DEFAULT_RULE_PRIORITY: u32 = 3200;
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// One problem with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Path of the field, e.g. `networks[1].ipv4.gateway`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Errors(Vec<ValidationError>);

impl Errors {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Checks an interface name the way the kernel's `dev_valid_name` does, minus the
/// characters that are legal there but break tools (`:` is alias syntax).
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("interface name is empty".into());
    }
    if name.len() > MAX_IFNAME_LEN {
        return Err(format!(
            "interface name {name:?} is {} bytes long; Linux allows at most {MAX_IFNAME_LEN}",
            name.len()
        ));
    }
    if name.starts_with('-') {
        // ovs-vsctl and other tools would read it as an option.
        return Err(format!("interface name {name:?} starts with '-'"));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid interface name"));
    }
    // The kernel refuses these: they name the per-protocol sysctl directories
    // (`net.ipv4.conf.all`, `.default`) every device gets one of.
    if name == "all" || name == "default" {
        return Err(format!(
            "{name:?} is reserved by the kernel (net.ipv4.conf.{name}); it cannot name an interface"
        ));
    }
    if name.contains('%') {
        // `%d` is a template the kernel fills with the first free number: the device made
        // would not have the name asked for.
        return Err(format!(
            "interface name {name:?} contains '%', which the kernel treats as a template (a%d becomes a0)"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(format!(
            "interface name {name:?} contains the invalid character {c:?}"
        ));
    }
    Ok(())
}

fn check_network_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("network name is empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "network name {name:?} contains {c:?}; use lowercase letters, digits and '-'"
        ));
    }
    Ok(())
}

fn check_mtu(errs: &mut Errors, path: &str, mtu: Option<u32>) {
    if let Some(m) = mtu {
        // 65536 is loopback's default; the device type enforces its own ceiling.
        if !(68..=65536).contains(&m) {
            errs.push(path, format!("MTU {m} is out of range (68 to 65536)"));
        }
    }
}

/// The largest MTU the kernel accepts on a device of this type, where the type alone
/// decides it (a NIC's depends on its driver; loopback has no ceiling below 65536).
fn max_mtu(ty: InterfaceType, iface: &InterfaceSpec) -> Option<u32> {
    match ty {
        InterfaceType::Ethernet | InterfaceType::Loopback => None,
        // IP_MAX_MTU less the encapsulation (VXLAN_HEADROOM, VXLAN6_HEADROOM).
        InterfaceType::Vxlan => {
            let v6 = iface
                .vxlan
                .as_ref()
                .is_some_and(|v| v.remote.or(v.local).is_some_and(|a| a.is_ipv6()));
            Some(if v6 { 65_535 - 70 } else { 65_535 - 50 })
        }
        // ETH_MAX_MTU: bridges, veths, taps, bonds and the stacked kinds.
        _ => Some(65_535),
    }
}

fn check_kind_mtu(errs: &mut Errors, path: &str, mtu: Option<u32>, kind: &str, max: Option<u32>) {
    if let (Some(m), Some(max)) = (mtu, max) {
        if m > max {
            errs.push(
                path,
                format!("MTU {m} is above what a {kind} allows ({max})"),
            );
        }
    }
}

fn reserved_table(t: u32) -> Option<&'static str> {
    match t {
        0 => Some("0 (unspecified)"),
        TABLE_DEFAULT => Some("253 (default)"),
        TABLE_MAIN => Some("254 (main)"),
        TABLE_LOCAL => Some("255 (local)"),
        _ => None,
    }
}

/// Why an address cannot be managed on an interface, if it cannot.
fn unassignable(ip: &IpAddr, loopback: bool) -> Option<&'static str> {
    if ip.is_unspecified() || ip.is_multicast() {
        return Some("cannot be assigned to an interface");
    }
    if ip.is_loopback() && !loopback {
        return Some("is a loopback address; only the loopback device can have it");
    }
    if let IpAddr::V6(v6) = ip {
        if v6.segments()[0] & 0xffc0 == 0xfe80 {
            return Some("is link-local; the kernel makes and owns those");
        }
    }
    None
}

fn has_host_bits(net: &IpNet) -> bool {
    net.addr() != net.network()
}

fn is_v4(a: &IpAddr) -> bool {
    a.is_ipv4()
}

/// Validates a parsed document.
pub fn validate(d: &Desired) -> Result<(), ValidationErrors> {
    let mut errs = Errors::default();
    let ix = DocIndex::new(d);
    let iface_names = validate_interfaces(&mut errs, d, &ix);
    validate_routes(&mut errs, d);
    validate_rules(&mut errs, d);
    validate_networks(&mut errs, d, &iface_names, &ix);
    {
        let mut push = |path: String, message: String| errs.push(path, message);
        for (i, iface) in d.interfaces.iter().enumerate() {
            super::validate_devices::check_interface(&mut push, &ix, i, iface);
            super::bridge::check(&mut push, &format!("interfaces[{i}]"), iface);
            super::bridge_vlans::check(&mut push, &format!("interfaces[{i}]"), iface);
            super::ovs::check_ovs(&mut push, &ix, i, iface);
        }
        super::validate_devices::check_port_owners(&mut push, d);
        super::routes::check(&mut push, d);
        for (i, n) in d.networks.iter().enumerate() {
            super::validate_devices::check_network(&mut push, i, n);
        }
    }
    for (path, message) in super::validate_firewall::check(d)
        .into_iter()
        .chain(super::validate_source_routing::check(d))
    {
        errs.push(path, message);
    }
    if errs.0.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errs.0))
    }
}

fn validate_interfaces(errs: &mut Errors, d: &Desired, ix: &DocIndex) -> BTreeMap<String, usize> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    // port name -> (bridge, path) for "claimed by two bridges"
    let mut port_owner: BTreeMap<String, String> = BTreeMap::new();
    for (i, iface) in d.interfaces.iter().enumerate() {
        let p = format!("interfaces[{i}]");
        if let Err(m) = check_ifname(&iface.name) {
            errs.push(format!("{p}.name"), m);
        }
        if let Some(prev) = names.insert(iface.name.clone(), i) {
            errs.push(
                format!("{p}.name"),
                format!(
                    "interface {} is already declared at interfaces[{prev}]",
                    iface.name
                ),
            );
        }
        if iface.state == Some(IfaceState::Ignore) {
            continue;
        }
        let absent = iface.state == Some(IfaceState::Absent);
        // Without a type the interface must exist, and the kernel says what it is (nmstate
        // allows it, and `type: unknown`); settings that belong to a type need the type.
        let ty = iface.iface_type;
        if ty.is_none() {
            if absent {
                continue;
            }
            for (key, given) in typed_sections(iface) {
                if given {
                    errs.push(
                        format!("{p}.{key}"),
                        format!("give the interface's type with its {key} settings"),
                    );
                }
            }
        }
        check_mtu(errs, &format!("{p}.mtu"), iface.mtu);
        if let Some(ty) = ty {
            check_kind_mtu(
                errs,
                &format!("{p}.mtu"),
                iface.mtu,
                ty.as_str(),
                max_mtu(ty, iface),
            );
        }
        let loopback = ty == Some(InterfaceType::Loopback) || (ty.is_none() && iface.name == "lo");
        if let Some(ty) = ty
            .filter(|_| iface.bridge.is_some())
            .filter(|t| *t != InterfaceType::LinuxBridge && *t != InterfaceType::OvsBridge)
        {
            errs.push(
                format!("{p}.bridge"),
                format!(
                    "only a linux-bridge or ovs-bridge has bridge settings, not a {}",
                    ty.as_str()
                ),
            );
        }
        // nmstate models a veth as an ethernet with a veth section.
        if let Some(ty) = ty
            .filter(|_| iface.veth.is_some())
            .filter(|t| *t != InterfaceType::Veth && *t != InterfaceType::Ethernet)
        {
            errs.push(
                format!("{p}.veth"),
                format!("only a veth has veth settings, not a {}", ty.as_str()),
            );
        }
        if ty == Some(InterfaceType::Loopback) && iface.mac_address.is_some() {
            errs.push(
                format!("{p}.mac-address"),
                "the loopback device has no MAC address",
            );
        }
        if let Some(mac) = iface.mac_address {
            if mac.0[0] & 1 == 1 {
                errs.push(
                    format!("{p}.mac-address"),
                    format!("{mac} is a multicast address"),
                );
            } else if mac.0 == [0; 6] {
                errs.push(
                    format!("{p}.mac-address"),
                    format!("{mac} is the all-zero address, which no device can have"),
                );
            }
        }
        // Without veth.peer a veth can be matched and changed but not created: `show`
        // prints no peer for a veth whose other end is in another namespace.
        if let Some(v) = iface.veth.as_ref().filter(|_| ty.is_some() && !absent) {
            if let Err(m) = check_ifname(&v.peer) {
                errs.push(format!("{p}.veth.peer"), m);
            } else if v.peer == iface.name {
                errs.push(format!("{p}.veth.peer"), "a veth cannot be its own peer");
            }
        }
        if let Some(ports) = iface.bridge.as_ref().and_then(|b| b.port.as_ref()) {
            let mut seen = BTreeSet::new();
            for (j, port) in ports.iter().enumerate() {
                let pp = format!("{p}.bridge.port[{j}].name");
                if let Err(m) = check_ifname(&port.name) {
                    errs.push(pp.clone(), m);
                }
                if port.name != iface.name && ix.names_bridge(&port.name) {
                    errs.push(
                        pp.clone(),
                        format!(
                            "{} is a bridge; a bridge cannot be a port of another bridge",
                            port.name
                        ),
                    );
                    continue;
                }
                if port.name == iface.name {
                    errs.push(
                        pp.clone(),
                        format!("bridge {} cannot be a port of itself", iface.name),
                    );
                    continue;
                }
                if !seen.insert(port.name.clone()) {
                    errs.push(pp.clone(), format!("port {} is listed twice", port.name));
                    continue;
                }
                if let Some(other) = port_owner.insert(port.name.clone(), iface.name.clone()) {
                    errs.push(
                        pp,
                        format!(
                            "port {} is claimed by two bridges: {other} and {}",
                            port.name, iface.name
                        ),
                    );
                }
            }
        }
        if let Some(d) = iface.description.as_ref().filter(|d| d.len() > 255) {
            errs.push(
                format!("{p}.description"),
                format!("{} bytes; the kernel keeps at most 255", d.len()),
            );
        }
        for (fam, spec) in [("ipv4", &iface.ipv4), ("ipv6", &iface.ipv6)] {
            let Some(spec) = spec else { continue };
            let fp = format!("{p}.{fam}");
            let want_v4 = fam == "ipv4";
            if spec.dhcp == Some(true) {
                errs.push(
                    format!("{fp}.dhcp"),
                    format!("hostnet runs no DHCP client on interfaces; use networks[].{fam}.dhcp with your client (hostnet hooks install)"),
                );
            }
            if spec.autoconf.is_some() && want_v4 {
                errs.push(format!("{fp}.autoconf"), "autoconf is IPv6's (SLAAC)");
            } else if spec.autoconf == Some(true) && spec.enabled == Some(false) {
                errs.push(
                    format!("{fp}.autoconf"),
                    "ipv6 is disabled but autoconf is on",
                );
            }
            if spec.enabled == Some(false) && spec.address.as_ref().is_some_and(|a| !a.is_empty()) {
                errs.push(
                    format!("{fp}.address"),
                    format!("{fam} is disabled but addresses are given"),
                );
            }
            for (j, a) in spec.address.iter().flatten().enumerate() {
                let ap = format!("{fp}.address[{j}]");
                if is_v4(&a.ip) != want_v4 {
                    errs.push(
                        format!("{ap}.ip"),
                        format!("{} is not an {fam} address", a.ip),
                    );
                }
                let max = if a.ip.is_ipv4() { 32 } else { 128 };
                if a.prefix_length > max {
                    errs.push(
                        format!("{ap}.prefix-length"),
                        format!("{} is longer than {max}", a.prefix_length),
                    );
                }
                if let Some(why) = unassignable(&a.ip, loopback) {
                    errs.push(format!("{ap}.ip"), format!("{} {why}", a.ip));
                }
            }
            if fam == "ipv6" {
                if let Some(m) = iface.mtu.filter(|m| *m < 1280) {
                    if spec.address.as_ref().is_some_and(|a| !a.is_empty()) {
                        errs.push(
                            format!("{p}.mtu"),
                            format!("IPv6 needs an MTU of at least 1280, not {m}"),
                        );
                    }
                }
            }
        }
    }
    // A port must not be a bridge of its own declaration.
    for (port, bridge) in &port_owner {
        if let Some(&i) = names.get(port) {
            if d.interfaces[i].iface_type == Some(InterfaceType::LinuxBridge)
                && port_owner.get(bridge) == Some(port)
            {
                errs.push(
                    format!("interfaces[{i}].bridge.port"),
                    format!("bridges {port} and {bridge} are ports of each other"),
                );
            }
        }
    }
    names
}

fn validate_routes(errs: &mut Errors, d: &Desired) {
    let Some(routes) = &d.routes else { return };
    for (i, r) in routes.config.iter().enumerate() {
        let p = format!("routes.config[{i}]");
        if r.state == Some(EntryState::Ignore) {
            continue;
        }
        let absent = r.state == Some(EntryState::Absent);
        // nmstate's table 0 is main.
        if let Some(t) = r.table_id {
            if t == TABLE_LOCAL {
                errs.push(
                    format!("{p}.table-id"),
                    format!("table {t} cannot hold configured routes"),
                );
            }
        }
        if let Some(n) = &r.next_hop_interface {
            if let Err(m) = check_ifname(n) {
                errs.push(format!("{p}.next-hop-interface"), m);
            }
        }
        if let Some(dst) = &r.destination {
            if has_host_bits(&dst.0) {
                errs.push(
                    format!("{p}.destination"),
                    format!("{dst} has host bits set; did you mean {}?", dst.0.trunc()),
                );
            }
            if let Some(gw) = &r.next_hop_address {
                if is_v4(gw) != dst.0.addr().is_ipv4() && !gw.is_unspecified() {
                    errs.push(
                        format!("{p}.next-hop-address"),
                        format!("{gw} is not of the same family as {dst}"),
                    );
                }
            }
        }
        if absent {
            if r.destination.is_none()
                && r.next_hop_address.is_none()
                && r.next_hop_interface.is_none()
                && r.table_id.is_none()
                && r.metric.is_none()
            {
                errs.push(
                    p,
                    "an absent route must name at least one field (it would match every route)",
                );
            }
            continue;
        }
        if r.destination.is_none() {
            errs.push(format!("{p}.destination"), "destination is required");
        }
        let typed = r
            .route_type
            .is_some_and(|k| k != crate::netdev::RouteKind::Unicast);
        if !typed
            && r.next_hop_address.is_none_or(|g| g.is_unspecified())
            && r.next_hop_interface.is_none()
        {
            errs.push(
                p,
                "a route needs next-hop-address, next-hop-interface or both",
            );
        }
    }
}

fn validate_rules(errs: &mut Errors, d: &Desired) {
    let Some(rules) = &d.route_rules else { return };
    for (i, r) in rules.config.iter().enumerate() {
        let p = format!("route-rules.config[{i}]");
        if r.state == Some(EntryState::Ignore) {
            continue;
        }
        let absent = r.state == Some(EntryState::Absent);
        let fams: Vec<(&str, bool)> = [("ip-from", r.ip_from), ("ip-to", r.ip_to)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v.0.addr().is_ipv4())))
            .collect();
        for (k, v) in [("ip-from", r.ip_from), ("ip-to", r.ip_to)] {
            if let Some(v) = v {
                if has_host_bits(&v.0) {
                    errs.push(
                        format!("{p}.{k}"),
                        format!("{v} has host bits set; did you mean {}?", v.0.trunc()),
                    );
                }
            }
        }
        if fams.len() == 2 && fams[0].1 != fams[1].1 {
            errs.push(
                format!("{p}.ip-to"),
                "ip-from and ip-to are of different families",
            );
        }
        if let (Some(f), Some((k, v4))) = (r.family, fams.first()) {
            if (f == crate::netdev::Family::Ipv4) != *v4 {
                errs.push(
                    format!("{p}.{k}"),
                    format!("is not an {f} prefix although family is {f}"),
                );
            }
        }
        if let Some(n) = &r.iif {
            if let Err(m) = check_ifname(n) {
                errs.push(format!("{p}.iif"), m);
            }
        }
        if r.fwmask.is_some() && r.fwmark.is_none() {
            errs.push(format!("{p}.fwmask"), "fwmask needs fwmark");
        }
        if r.fwmark.map(|m| m.0) == Some(0) && r.fwmask.is_none_or(|m| m.0 == 0) {
            errs.push(
                format!("{p}.fwmark"),
                "fwmark 0 without a non-zero fwmask matches every packet; leave fwmark out instead",
            );
        }
        if let Some(t) = r.route_table {
            if t == 0 {
                errs.push(format!("{p}.route-table"), "table 0 is not a table");
            }
        }
        if let Some(n) = &r.oif {
            if let Err(m) = check_ifname(n) {
                errs.push(format!("{p}.oif"), m);
            }
        }
        if let Some(n) = r.suppress_prefix_length.filter(|n| *n > 128) {
            errs.push(
                format!("{p}.suppress-prefix-length"),
                format!("{n} is longer than any prefix (128 at most)"),
            );
        }
        if absent {
            continue;
        }
        // Without route-table a lookup rule looks up main (nmstate's rule); an action
        // rule looks up nothing.
        if let (Some(a), Some(_)) = (r.action, r.route_table) {
            errs.push(
                format!("{p}.route-table"),
                format!(
                    "a rule with action {} looks up no table",
                    serde_yaml_ng::to_string(&a).unwrap_or_default().trim()
                ),
            );
        }
        if r.action.is_some() && r.suppress_prefix_length.is_some() {
            errs.push(
                format!("{p}.suppress-prefix-length"),
                "suppress-prefix-length applies to a table lookup, not to an action",
            );
        }
        if r.priority.is_none() {
            errs.push(
                format!("{p}.priority"),
                "priority is required (kernel-assigned priorities move with other rules)",
            );
        }
        if r.family.is_none() && fams.is_empty() {
            errs.push(
                format!("{p}.family"),
                "family is required when neither ip-from nor ip-to is given",
            );
        }
    }
}

fn validate_networks(
    errs: &mut Errors,
    d: &Desired,
    iface_names: &BTreeMap<String, usize>,
    ix: &DocIndex,
) {
    let settings = d.settings.as_ref().and_then(|s| s.source_routing.as_ref());
    if let Some([lo, hi]) = settings.and_then(|s| s.table_range) {
        let p = "settings.source-routing.table-range";
        if lo > hi {
            errs.push(p, format!("[{lo}, {hi}] is empty"));
        } else if (lo..=hi).all(|t| reserved_table(t).is_some()) {
            errs.push(p, format!("[{lo}, {hi}] holds only reserved tables"));
        } else if lo == 0 {
            errs.push(p, "table 0 is not a table");
        }
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut devices: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut uplinks: BTreeMap<String, String> = BTreeMap::new();
    let mut tables: BTreeMap<u32, String> = BTreeMap::new();
    let mut default_route: Option<usize> = None;
    for (i, n) in d.networks.iter().enumerate() {
        let p = format!("networks[{i}]");
        if let Err(m) = check_network_name(&n.name) {
            errs.push(format!("{p}.name"), m);
        }
        if let Some(prev) = names.insert(&n.name, i) {
            errs.push(
                format!("{p}.name"),
                format!("network {} is already declared at networks[{prev}]", n.name),
            );
        }
        for (path, message) in super::dhcp_server::validate(&p, n) {
            errs.push(path, message);
        }
        let absent = n.state == Some(NetworkState::Absent);
        let bridged = n.bridged.unwrap_or(true);
        let device = if bridged {
            n.bridge.clone().unwrap_or_else(|| n.name.clone())
        } else {
            match &n.uplink {
                Some(u) => u.clone(),
                None => {
                    errs.push(
                        format!("{p}.uplink"),
                        "a network with bridged: false needs an uplink",
                    );
                    continue;
                }
            }
        };
        let dev_path = if bridged && n.bridge.is_some() {
            format!("{p}.bridge")
        } else if bridged {
            format!("{p}.name")
        } else {
            format!("{p}.uplink")
        };
        if let Err(m) = check_ifname(&device) {
            errs.push(dev_path.clone(), m);
        }
        if !bridged && n.bridge.is_some() {
            errs.push(
                format!("{p}.bridge"),
                "a network with bridged: false has no bridge",
            );
        }
        // A bridgeless network being removed hands its NIC over: a bridgeless network of
        // the same file may take it (finding F9).
        let releases = absent && !bridged;
        match devices.get(&device) {
            Some((_, prev_releases)) if !bridged && *prev_releases != releases => {
                if !releases {
                    devices.insert(device.clone(), (n.name.clone(), false));
                }
            }
            Some((prev, _)) => errs.push(
                dev_path.clone(),
                format!("device {device} is already used by network {prev}"),
            ),
            None => {
                devices.insert(device.clone(), (n.name.clone(), releases));
            }
        }
        if bridged {
            if let Some(&j) = iface_names.get(&device) {
                errs.push(dev_path.clone(), format!("bridge {device} is also declared at interfaces[{j}]; declare it in one place"));
            }
        }
        if let Some(u) = &n.uplink {
            if let Err(m) = check_ifname(u) {
                errs.push(format!("{p}.uplink"), m);
            } else if !(bridged && *u == device) && ix.names_bridge(u) {
                errs.push(
                    format!("{p}.uplink"),
                    format!("{u} is a bridge; a bridge cannot be the uplink of another bridge"),
                );
            } else if bridged && *u == device {
                errs.push(
                    format!("{p}.uplink"),
                    format!("bridge {device} cannot be a port of itself"),
                );
            } else if absent {
                // A network being removed releases its uplink: another network of the
                // same file may take it over.
            } else if let Some(prev) = uplinks.insert(u.clone(), n.name.clone()) {
                errs.push(
                    format!("{p}.uplink"),
                    format!(
                        "port {u} is claimed by two bridges: network {prev} and network {}",
                        n.name
                    ),
                );
            } else if bridged {
                if let Some(bridge) = ix.bridge_claiming(u) {
                    errs.push(
                        format!("{p}.uplink"),
                        format!("port {u} is claimed by two bridges: {bridge} (interfaces) and {device}"),
                    );
                }
            }
        }
        check_mtu(errs, &format!("{p}.mtu"), n.mtu);
        // A network's MTU goes on its bridge (and VLAN device); a bridgeless one's on
        // its NIC, whose ceiling is its driver's.
        if bridged || n.vlan.is_some() {
            let kind = if bridged { "linux-bridge" } else { "vlan" };
            check_kind_mtu(errs, &format!("{p}.mtu"), n.mtu, kind, Some(65_535));
        }
        if absent {
            continue;
        }
        let mut has_gateway = false;
        let mut has_dhcp = false;
        for (fam, ip) in [("ipv4", &n.ipv4), ("ipv6", &n.ipv6)] {
            let Some(ip) = ip else { continue };
            let fp = format!("{p}.{fam}");
            let want_v4 = fam == "ipv4";
            if ip.dhcp == Some(true) {
                has_dhcp = true;
                if !ip.address.is_empty() {
                    errs.push(
                        format!("{fp}.address"),
                        "with dhcp: true the address comes from the lease; remove address",
                    );
                }
                if ip.gateway.is_some() {
                    errs.push(
                        format!("{fp}.gateway"),
                        "with dhcp: true the gateway comes from the lease; remove gateway",
                    );
                }
            }
            for (j, a) in ip.address.iter().enumerate() {
                if a.addr().is_ipv4() != want_v4 {
                    errs.push(
                        format!("{fp}.address[{j}]"),
                        format!("{a} is not an {fam} address"),
                    );
                } else if let Some(why) = unassignable(&a.addr(), false) {
                    errs.push(format!("{fp}.address[{j}]"), format!("{} {why}", a.addr()));
                } else if a.addr() == a.network() && a.prefix_len() < a.max_prefix_len() - 1 {
                    errs.push(
                        format!("{fp}.address[{j}]"),
                        format!("{a} is the subnet's network address; give the host's address, e.g. 192.0.2.10/24"),
                    );
                }
            }
            if let Some(gw) = ip.gateway {
                has_gateway = true;
                let gp = format!("{fp}.gateway");
                if gw.is_ipv4() != want_v4 {
                    errs.push(gp, format!("{gw} is not an {fam} address"));
                } else if ip.address.is_empty() {
                    errs.push(
                        gp,
                        format!("{gw} needs at least one {fam} address on the network"),
                    );
                } else if !ip.address.iter().any(|a| a.contains(&gw)) {
                    let subnets: Vec<String> =
                        ip.address.iter().map(|a| a.trunc().to_string()).collect();
                    errs.push(
                        gp,
                        format!(
                            "{gw} is outside every subnet of the network ({})",
                            subnets.join(", ")
                        ),
                    );
                } else if ip.address.iter().any(|a| a.addr() == gw) {
                    errs.push(gp, format!("{gw} is the network's own address"));
                } else if let Some(why) =
                    super::validate_source_routing::gateway_problem(&ip.address, gw)
                {
                    errs.push(gp, why);
                }
            }
            if fam == "ipv6" && !ip.address.is_empty() {
                if let Some(m) = n.mtu.filter(|m| *m < 1280) {
                    errs.push(
                        format!("{p}.mtu"),
                        format!("IPv6 needs an MTU of at least 1280, not {m}"),
                    );
                }
            }
        }
        if n.default_route == Some(true) {
            if !has_gateway {
                errs.push(
                    format!("{p}.default-route"),
                    if has_dhcp {
                        "default-route needs a static gateway; with DHCP the client sets the host's default route"
                    } else {
                        "default-route needs a gateway"
                    },
                );
            }
            if let Some(prev) = default_route {
                errs.push(
                    format!("{p}.default-route"),
                    format!("only one network can carry the default route; networks[{prev}] already does"),
                );
            }
            default_route = Some(i);
        }
        if let Some(sr) = &n.source_routing {
            let sp = format!("{p}.source-routing");
            if sr.enabled == Some(true) && !has_gateway && !has_dhcp {
                errs.push(format!("{sp}.enabled"), "source routing needs a gateway");
            }
            if let Some(t) = sr.table {
                if let Some(why) = reserved_table(t) {
                    errs.push(format!("{sp}.table"), format!("table {why} is reserved"));
                } else if let Some(prev) = tables.insert(t, n.name.clone()) {
                    errs.push(
                        format!("{sp}.table"),
                        format!("table {t} is already used by network {prev}"),
                    );
                }
            }
        }
    }
}

/// The sections of an interface that belong to one type, and whether each is given.
fn typed_sections(iface: &InterfaceSpec) -> [(&'static str, bool); 8] {
    [
        ("bridge", iface.bridge.is_some()),
        ("veth", iface.veth.is_some()),
        ("vlan", iface.vlan.is_some()),
        ("link-aggregation", iface.link_aggregation.is_some()),
        ("vxlan", iface.vxlan.is_some()),
        ("mac-vlan", iface.mac_vlan.is_some()),
        ("mac-vtap", iface.mac_vtap.is_some()),
        ("tap", iface.tap.is_some()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse;

    fn errors(yaml: &str) -> Vec<String> {
        let d = parse(yaml).expect("parses");
        match validate(&d) {
            Ok(()) => vec![],
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    fn assert_error(yaml: &str, expected_prefix: &str) {
        let errs = errors(yaml);
        assert!(
            errs.iter().any(|e| e.starts_with(expected_prefix)),
            "expected an error starting with {expected_prefix:?}, got {errs:#?}"
        );
    }

    #[test]
    fn valid_networks_pass() {
        let errs = errors(
            "networks:\n- name: mgmt\n  uplink: eth0\n  ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}\n  ipv6: {address: ['2001:db8::10/64'], gateway: '2001:db8::1'}\n  default-route: true\n- name: storage\n  uplink: eth1\n  ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}\n  source-routing: {table: 1001}\n",
        );
        assert_eq!(errs, Vec::<String>::new());
    }

    #[test]
    fn long_and_bad_names() {
        assert_error(
            "networks:\n- name: abcdefghijklmnop\n",
            "networks[0].name: interface name \"abcdefghijklmnop\" is 16 bytes",
        );
        assert_error(
            "networks:\n- name: Mgmt\n",
            "networks[0].name: network name \"Mgmt\" contains 'M'",
        );
        assert_error(
            "interfaces:\n- name: 'a b'\n  type: ethernet\n",
            "interfaces[0].name: interface name \"a b\" contains",
        );
        assert_error(
            "interfaces:\n- {name: br-int, type: ovs-bridge, bridge: {port: [{name: --if-exists}]}}\n",
            "interfaces[0].bridge.port[0].name: interface name \"--if-exists\" starts with '-'",
        );
        assert_error(
            "interfaces:\n- {name: '-x', type: ethernet}\n",
            "interfaces[0].name: interface name \"-x\" starts with '-'",
        );
    }

    #[test]
    fn duplicates() {
        assert_error(
            "networks:\n- name: a\n- name: a\n",
            "networks[1].name: network a is already declared at networks[0]",
        );
        assert_error(
            "interfaces:\n- {name: x, type: ethernet}\n- {name: x, type: ethernet}\n",
            "interfaces[1].name: interface x is already declared",
        );
    }

    #[test]
    fn gateway_outside_subnet() {
        assert_error(
            "networks:\n- name: a\n- name: b\n  ipv4: {address: [192.0.2.10/24], gateway: 198.51.100.1}\n",
            "networks[1].ipv4.gateway: 198.51.100.1 is outside every subnet of the network (192.0.2.0/24)",
        );
        assert_error(
            "networks:\n- name: a\n  ipv4: {address: ['2001:db8::1/64']}\n",
            "networks[0].ipv4.address[0]: 2001:db8::1/64 is not an ipv4 address",
        );
    }

    #[test]
    fn a_removed_bridgeless_network_hands_its_nic_over() {
        let gone = "{name: a, uplink: eth0, bridged: false, state: absent}";
        let taker = "{name: b, uplink: eth0, bridged: false}";
        for (x, y) in [(gone, taker), (taker, gone)] {
            let yaml = format!("networks:\n- {x}\n- {y}\n");
            assert_eq!(errors(&yaml), Vec::<String>::new(), "{yaml}");
        }
        // Two present networks still cannot share it, nor two removed ones.
        for extra in ["", ", state: absent"] {
            assert_error(
                &format!("networks:\n- {{name: a, uplink: eth0, bridged: false{extra}}}\n- {{name: b, uplink: eth0, bridged: false{extra}}}\n"),
                "networks[1].uplink: device eth0 is already used by network a",
            );
        }
        assert_error(
            "networks:\n- {name: a, uplink: eth0, bridged: false, state: absent}\n- {name: b, uplink: eth0, bridged: false}\n- {name: c, uplink: eth0, bridged: false}\n",
            "networks[2].uplink: device eth0 is already used by network b",
        );
    }

    #[test]
    fn reserved_and_colliding_tables() {
        for t in [0, 253, 254, 255] {
            assert_error(
                &format!("networks:\n- name: a\n  ipv4: {{address: [192.0.2.10/24], gateway: 192.0.2.1}}\n  source-routing: {{table: {t}}}\n"),
                "networks[0].source-routing.table: table",
            );
        }
        assert_error(
            "networks:\n- name: a\n  source-routing: {table: 1000}\n- name: b\n  source-routing: {table: 1000}\n",
            "networks[1].source-routing.table: table 1000 is already used by network a",
        );
    }

    #[test]
    fn ports() {
        assert_error(
            "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth0}]}}\n- {name: br1, type: linux-bridge, bridge: {port: [{name: eth0}]}}\n",
            "interfaces[1].bridge.port[0].name: port eth0 is claimed by two bridges: br0 and br1",
        );
        assert_error(
            "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: br0}]}}\n",
            "interfaces[0].bridge.port[0].name: bridge br0 cannot be a port of itself",
        );
        assert_error(
            "networks:\n- {name: a, uplink: eth0}\n- {name: b, uplink: eth0}\n",
            "networks[1].uplink: port eth0 is claimed by two bridges",
        );
        // A network being removed hands its uplink over (fuzzer finding F1).
        for doc in [
            "networks:\n- {name: a, uplink: eth0, state: absent}\n- {name: b, uplink: eth0}\n",
            "networks:\n- {name: b, uplink: eth0}\n- {name: a, uplink: eth0, bridged: false, state: absent}\n",
        ] {
            let d = crate::model::parse(doc).expect("parses");
            assert!(validate(&d).is_ok(), "{doc}: {:?}", validate(&d).err());
        }
        assert_error(
            "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth0}]}}\nnetworks:\n- {name: a, uplink: eth0}\n",
            "networks[0].uplink: port eth0 is claimed by two bridges: br0 (interfaces) and a",
        );
        assert_error(
            "networks:\n- {name: a, uplink: a}\n",
            "networks[0].uplink: bridge a cannot be a port of itself",
        );
    }

    #[test]
    fn one_default_route() {
        assert_error(
            "networks:\n- {name: a, default-route: true, ipv4: {address: [192.0.2.2/24], gateway: 192.0.2.1}}\n- {name: b, default-route: true, ipv4: {address: [198.51.100.2/24], gateway: 198.51.100.1}}\n",
            "networks[1].default-route: only one network can carry the default route",
        );
        assert_error(
            "networks:\n- {name: a, default-route: true}\n",
            "networks[0].default-route: default-route needs a gateway",
        );
    }

    #[test]
    fn routes_and_rules() {
        assert_error(
            "routes:\n  config:\n  - {state: absent}\n",
            "routes.config[0]: an absent route must name",
        );
        assert_error(
            "routes:\n  config:\n  - {destination: 192.0.2.1/24, next-hop-interface: eth0}\n",
            "routes.config[0].destination: 192.0.2.1/24 has host bits set; did you mean 192.0.2.0/24?",
        );
        assert_error(
            "route-rules:\n  config:\n  - {ip-from: 192.0.2.0/24, route-table: 100}\n",
            "route-rules.config[0].priority: priority is required",
        );
        assert_error(
            "route-rules:\n  config:\n  - {ip-from: 192.0.2.0/24, ip-to: '2001:db8::/64', route-table: 100, priority: 5}\n",
            "route-rules.config[0].ip-to: ip-from and ip-to are of different families",
        );
    }

    #[test]
    fn bridges_are_not_ports() {
        assert_error(
            "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: br1}]}}\n- {name: br1, type: linux-bridge}\n",
            "interfaces[0].bridge.port[0].name: br1 is a bridge; a bridge cannot be a port of another bridge",
        );
        assert_error(
            "networks:\n- {name: a}\n- {name: b, uplink: a}\n",
            "networks[1].uplink: a is a bridge; a bridge cannot be the uplink of another bridge",
        );
    }

    #[test]
    fn addresses_the_kernel_owns_or_that_match_everything() {
        assert_error(
            "networks:\n- {name: a, ipv6: {address: ['fe80::1/64']}}\n",
            "networks[0].ipv6.address[0]: fe80::1 is link-local",
        );
        assert_error(
            "interfaces:\n- {name: eth0, type: ethernet, ipv4: {address: [{ip: 127.0.0.2, prefix-length: 8}]}}\n",
            "interfaces[0].ipv4.address[0].ip: 127.0.0.2 is a loopback address",
        );
        assert_error(
            "route-rules:\n  config:\n  - {family: ipv4, fwmark: 0, priority: 5, route-table: 100}\n",
            "route-rules.config[0].fwmark: fwmark 0 without a non-zero fwmask matches every packet",
        );
    }

    /// Issue 16, items 4 and 5: what the kernel would refuse (or rewrite) half-way through
    /// an apply is refused here, before anything changes.
    #[test]
    fn kernel_refusals_are_caught_at_validation() {
        assert_error(
            "interfaces:\n- {name: 'a%d', type: linux-bridge}\n",
            "interfaces[0].name: interface name \"a%d\" contains '%'",
        );
        assert_error(
            "networks:\n- {name: a, bridge: 'br%d'}\n",
            "networks[0].bridge: interface name \"br%d\" contains '%'",
        );
        for name in ["all", "default"] {
            assert_error(
                &format!("interfaces:\n- {{name: {name}, type: linux-bridge}}\n"),
                &format!("interfaces[0].name: \"{name}\" is reserved by the kernel"),
            );
            assert_error(
                &format!("networks:\n- {{name: {name}}}\n"),
                &format!("networks[0].name: \"{name}\" is reserved by the kernel"),
            );
        }
        for name in [".", ".."] {
            assert_error(
                &format!("interfaces:\n- {{name: '{name}', type: veth, veth: {{peer: p0}}}}\n"),
                "interfaces[0].name:",
            );
        }
        assert_error(
            "interfaces:\n- {name: br0, type: linux-bridge, mac-address: '00:00:00:00:00:00'}\n",
            "interfaces[0].mac-address: 00:00:00:00:00:00 is the all-zero address",
        );
        assert_error(
            "interfaces:\n- {name: br0, type: linux-bridge, mac-address: '01:00:5e:00:00:01'}\n",
            "interfaces[0].mac-address: 01:00:5E:00:00:01 is a multicast address",
        );
        assert_error(
            "interfaces:\n- {name: br0, type: linux-bridge, mtu: 65536}\n",
            "interfaces[0].mtu: MTU 65536 is above what a linux-bridge allows (65535)",
        );
        assert_error(
            "interfaces:\n- {name: v0, type: veth, mtu: 65536, veth: {peer: v1}}\n",
            "interfaces[0].mtu: MTU 65536 is above what a veth allows (65535)",
        );
        assert_error(
            "interfaces:\n- {name: vx0, type: vxlan, mtu: 65500, vxlan: {id: 5, remote: 192.0.2.1}}\n",
            "interfaces[0].mtu: MTU 65500 is above what a vxlan allows (65485)",
        );
        assert_error(
            "networks:\n- {name: a, mtu: 65536}\n",
            "networks[0].mtu: MTU 65536 is above what a linux-bridge allows (65535)",
        );
        // Loopback's default is 65536, and a NIC's ceiling is its driver's.
        assert_eq!(
            errors("interfaces:\n- {name: lo, type: loopback, mtu: 65536}\n- {name: eth0, type: ethernet, mtu: 9000}\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            errors("interfaces:\n- {name: br0, type: linux-bridge, mtu: 65535, mac-address: '02:00:00:00:00:01'}\n"),
            Vec::<String>::new()
        );
    }
}
