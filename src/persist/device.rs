//! The per-device view the three writers render: for every link of the [`Intent`], its
//! kind, state, MTU, MAC, controller, addresses, DHCP families, and the routes and rules
//! that go into its files.
//!
//! Every config stack here attaches routes and rules to a device (ifcfg's `route-DEV`,
//! networkd's `.network`, NetworkManager's connection), while the kernel has them as
//! free-standing objects. A network's owned routes and rules belong to the network's
//! device; a user route to its `next-hop-interface`, or else to the device whose subnet
//! holds its gateway; a user rule to its `iif`, or else to the device whose subnet holds
//! its `from`/`to` prefix. What cannot be placed is reported as a warning, not guessed.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::expand::{Intent, KindIntent, LinkIntent};
use crate::model::IfaceState;
use crate::netdev::{
    BondMode, BondOptions, LinkKind, MacAddr, Route, RouteScope, Rule, VlanOptions,
};

/// What a device is, as far as the config files care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    Bridge {
        stp: bool,
    },
    Veth {
        peer: Option<String>,
    },
    Ethernet,
    /// The file does not say (a network's uplink, a bridge port it only names): an
    /// existing device, rendered like a NIC.
    Existing,
    /// An 802.1Q VLAN on `base` (written by the ifupdown and netplan formats only).
    Vlan {
        base: String,
        id: u16,
    },
    /// A bond; its ports are the devices whose controller it is (ifupdown and netplan
    /// only).
    Bond {
        mode: BondMode,
        miimon: u32,
    },
}

impl DeviceKind {
    /// Kinds only some formats write (see [`without_vlans_and_bonds`]).
    fn is_vlan_or_bond(&self) -> bool {
        matches!(self, DeviceKind::Vlan { .. } | DeviceKind::Bond { .. })
    }
}

/// One device's configuration, everything its files say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceConfig {
    pub name: String,
    /// Where it was declared (`interfaces[2]`, `networks[0]`).
    pub origin: String,
    pub kind: DeviceKind,
    /// Brought up at boot (`state: up`) or only configured (`state: down`).
    pub up: bool,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    /// The bridge it is a port of.
    pub controller: Option<String>,
    /// Static IPv4 addresses; `None` when the file does not mention IPv4 for it.
    pub ipv4: Option<Vec<IpNet>>,
    /// Static IPv6 addresses; `None` when the file does not mention IPv6 for it.
    pub ipv6: Option<Vec<IpNet>>,
    pub dhcp4: bool,
    pub dhcp6: bool,
    /// Routes through this device: on-link ones first (a gateway must be reachable when
    /// its route is added), then in a stable order.
    pub routes: Vec<Route>,
    /// Rules attached to this device, by priority.
    pub rules: Vec<Rule>,
    /// The rest of what the file sets of it, which formats write as far as they can
    /// (see `unwritten`).
    pub keys: super::unwritten::LinkKeys,
}

impl DeviceConfig {
    /// The IPv4 routes, then the IPv6 ones.
    pub fn routes_of(&self, v6: bool) -> impl Iterator<Item = &Route> {
        self.routes
            .iter()
            .filter(move |r| r.destination.addr().is_ipv6() == v6)
    }

    pub fn rules_of(&self, v6: bool) -> impl Iterator<Item = &Rule> {
        self.rules
            .iter()
            .filter(move |r| (r.family == crate::netdev::Family::Ipv6) == v6)
    }
}

/// Everything the writers need from an intent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// Devices to write files for, by name.
    pub devices: Vec<DeviceConfig>,
    /// Devices whose files go away (`state: absent`).
    pub removed: Vec<String>,
    /// What the files cannot say, one line each.
    pub warnings: Vec<String>,
    /// Devices left out of every file (`NAME (TYPE)`): `hostnet restore` makes them.
    pub left_out: Vec<String>,
}

impl HostConfig {
    pub fn device(&self, name: &str) -> Option<&DeviceConfig> {
        self.devices.iter().find(|d| d.name == name)
    }
}

/// The addresses `lo` has anyway; anything else on it is worth a warning.
fn is_default_loopback(a: &IpNet) -> bool {
    a.addr().is_loopback()
}

/// Builds the per-device view of an intent.
pub fn host_config(intent: &Intent) -> HostConfig {
    let mut out = HostConfig::default();
    for (name, link) in &intent.links {
        if link.state == IfaceState::Absent {
            out.removed.push(name.clone());
            continue;
        }
        let kind = match &link.kind {
            Some(KindIntent::Loopback) => {
                let extra = link
                    .ipv4
                    .iter()
                    .chain(link.ipv6.iter())
                    .flatten()
                    .any(|a| !is_default_loopback(a));
                if extra || link.mtu.is_some() {
                    out.warnings.push(format!(
                        "{}: {name}: loopback is configured by the distribution; its MTU and \
                         extra addresses are not persisted",
                        link.origin
                    ));
                }
                continue;
            }
            Some(KindIntent::Bridge) => DeviceKind::Bridge {
                stp: link.stp.unwrap_or(false),
            },
            Some(KindIntent::Veth { peer }) => DeviceKind::Veth { peer: peer.clone() },
            Some(KindIntent::Ethernet) => DeviceKind::Ethernet,
            Some(KindIntent::Device {
                want:
                    Some(LinkKind::Vlan(VlanOptions {
                        base: Some(base),
                        id,
                        ..
                    })),
                ..
            }) => DeviceKind::Vlan {
                base: base.clone(),
                id: *id,
            },
            Some(KindIntent::Device {
                want: Some(LinkKind::Bond(BondOptions { mode, miimon, .. })),
                ..
            }) => DeviceKind::Bond {
                mode: *mode,
                miimon: *miimon,
            },
            Some(KindIntent::Device { type_name, .. }) => {
                out.warnings.push(format!(
                    "{}: {name}: {type_name} devices are not written to boot-time \
                     configuration by this version; `hostnet restore` re-creates them",
                    link.origin
                ));
                out.left_out.push(format!("{name} ({type_name})"));
                continue;
            }
            None => DeviceKind::Existing,
        };
        let mut d = device_of(name, link, kind);
        d.keys = super::unwritten::LinkKeys::of(link, intent.owned_vlans.get(name));
        out.devices.push(d);
    }
    // A device the file names only as a veth's peer is that veth's other end.
    let peers: Vec<(String, String)> = out
        .devices
        .iter()
        .filter_map(|d| match &d.kind {
            DeviceKind::Veth { peer: Some(p) } => Some((p.clone(), d.name.clone())),
            _ => None,
        })
        .collect();
    for (peer, end) in peers {
        if let Some(d) = out
            .devices
            .iter_mut()
            .find(|d| d.name == peer && d.kind == DeviceKind::Existing)
        {
            d.kind = DeviceKind::Veth { peer: Some(end) };
        }
    }
    for n in &intent.networks {
        if let Some(d) = out.devices.iter_mut().find(|d| d.name == n.device) {
            d.dhcp4 |= n.dhcp.v4.is_some();
            d.dhcp6 |= n.dhcp.v6.is_some();
            d.routes.extend(n.routes.iter().cloned());
            d.rules.extend(n.rules.iter().cloned());
        } else if !n.absent && (!n.routes.is_empty() || n.dhcp.any()) {
            out.warnings.push(format!(
                "{}: device {} of network {} is not in the file; its routes and rules are \
                 not persisted",
                n.origin, n.device, n.name
            ));
        }
    }
    for a in &intent.address_removals {
        if out.device(&a.ifname).is_none() {
            out.warnings.push(format!(
                "{} keeps {} in its files: a removed network's uplink is rewritten only when \
                 the file lists it under interfaces",
                a.ifname, a.addr
            ));
        }
    }
    place_block(intent, &mut out);
    place_user_routes(intent, &mut out);
    place_user_rules(intent, &mut out);
    unpersisted(intent, &mut out);
    for d in &mut out.devices {
        // By family, on-link before via; rules by priority, `from` before `to` (as VDSM
        // wrote them).
        let route_key = |r: &Route| (r.destination.addr().is_ipv6(), r.gateway.is_some());
        d.routes
            .sort_by(|a, b| (route_key(a), a).cmp(&(route_key(b), b)));
        d.routes.dedup();
        let rule_key = |r: &Rule| (r.family, r.priority, r.from.is_none());
        d.rules
            .sort_by(|a, b| (rule_key(a), a).cmp(&(rule_key(b), b)));
        d.rules.dedup();
    }
    out
}

/// Settings the writers do not render yet (issue 13: route types, metrics, onlink and
/// multipath next hops, rule actions, oif and suppress-prefix-length): a warning each,
/// so that a boot does not lose them silently. (A device's own keys: `unwritten`.)
fn unpersisted(intent: &Intent, out: &mut HostConfig) {
    for r in intent
        .routes
        .iter()
        .filter(|r| r.route.attrs != Default::default())
    {
        out.warnings.push(format!(
            "{}: its route-type, metrics, onlink or multipath next hops are not written to boot files yet",
            r.origin
        ));
    }
    for r in &intent.rules {
        let plain = r.rule.action == crate::netdev::RuleAction::Lookup
            && r.rule.oif.is_none()
            && r.rule.suppress_prefixlength.is_none();
        if !plain {
            out.warnings.push(format!(
                "{}: its action, oif or suppress-prefix-length is not written to boot files yet",
                r.origin
            ));
        }
    }
}

fn device_of(name: &str, link: &LinkIntent, kind: DeviceKind) -> DeviceConfig {
    DeviceConfig {
        name: name.to_string(),
        origin: link.origin.clone(),
        kind,
        up: link.state == IfaceState::Up,
        mtu: link.mtu,
        mac: link.mac,
        controller: link.controller.clone(),
        ipv4: link.ipv4.clone(),
        ipv6: link.ipv6.clone(),
        dhcp4: false,
        dhcp6: false,
        routes: Vec::new(),
        rules: Vec::new(),
        keys: Default::default(),
    }
}

/// The view for the formats that write neither VLANs nor bonds (ifcfg, networkd,
/// keyfile, as before): those devices, the ports of such bonds and the routes and rules
/// placed on them are left out, each with a warning.
pub fn without_vlans_and_bonds(mut host: HostConfig, format: &str) -> HostConfig {
    let dropped: Vec<DeviceConfig> = host
        .devices
        .iter()
        .filter(|d| d.kind.is_vlan_or_bond())
        .cloned()
        .collect();
    if dropped.is_empty() {
        return host;
    }
    let bond_names: Vec<&str> = dropped
        .iter()
        .filter(|d| matches!(d.kind, DeviceKind::Bond { .. }))
        .map(|d| d.name.as_str())
        .collect();
    let mut warnings = Vec::new();
    for d in &dropped {
        let kind = if matches!(d.kind, DeviceKind::Vlan { .. }) {
            "VLAN"
        } else {
            "bond"
        };
        host.left_out
            .push(format!("{} ({})", d.name, kind.to_lowercase()));
        let mut w = format!(
            "{}: {}: --format {format} does not write {kind} devices (ifupdown and netplan \
             do); `hostnet restore` re-creates it",
            d.origin, d.name
        );
        if !d.routes.is_empty() || !d.rules.is_empty() {
            w.push_str(", and its routes and rules, which are not persisted either");
        }
        warnings.push(w);
    }
    for d in host.devices.iter_mut().filter(|d| {
        d.controller
            .as_deref()
            .is_some_and(|c| bond_names.contains(&c))
    }) {
        warnings.push(format!(
            "{}: {}: written without its bond {}, which --format {format} does not write",
            d.origin,
            d.name,
            d.controller.as_deref().unwrap_or_default()
        ));
        d.controller = None;
    }
    host.devices.retain(|d| !d.kind.is_vlan_or_bond());
    host.warnings.extend(warnings);
    host
}

/// The device one of whose static subnets contains `addr`.
fn device_with_subnet(out: &HostConfig, addr: IpAddr) -> Option<&str> {
    out.devices
        .iter()
        .find(|d| {
            d.ipv4
                .iter()
                .chain(d.ipv6.iter())
                .flatten()
                .any(|a| a.trunc().contains(&addr))
        })
        .map(|d| d.name.as_str())
}

/// The block around the networks' rules (see [`crate::expand::source_routing`]) belongs
/// to no device: each family's goes with the network whose rules come first (lowest
/// priority, then file order), so that it comes up with them.
fn place_block(intent: &Intent, out: &mut HostConfig) {
    let placed: Vec<&crate::expand::NetworkIntent> = intent
        .networks
        .iter()
        .filter(|n| !n.absent && out.device(&n.device).is_some())
        .collect();
    for r in crate::expand::blocks(placed.iter().flat_map(|n| &n.rules)) {
        let first = |n: &&&crate::expand::NetworkIntent| {
            n.rules
                .iter()
                .filter(|x| x.family == r.family)
                .map(|x| x.priority)
                .min()
                .unwrap_or(u32::MAX)
        };
        let owner = placed.iter().min_by_key(first).map(|n| n.device.clone());
        if let Some(d) = owner.and_then(|o| out.devices.iter_mut().find(|d| d.name == o)) {
            d.rules.push(r);
        }
    }
}

fn place_user_routes(intent: &Intent, out: &mut HostConfig) {
    for r in &intent.routes {
        let dev = match (&r.route.dev, r.route.gateway) {
            (Some(dev), _) => Some(dev.clone()),
            (None, Some(gw)) => device_with_subnet(out, gw).map(str::to_string),
            (None, None) => None,
        };
        match dev
            .as_deref()
            .and_then(|d| out.devices.iter_mut().find(|x| x.name == d))
        {
            Some(d) => d.routes.push(r.route.clone()),
            None => out.warnings.push(format!(
                "{}: route to {} is not persisted: {}",
                r.origin,
                r.route.destination,
                match dev {
                    Some(d) => format!("device {d} is not in the file"),
                    None => "no device in the file reaches its next hop".to_string(),
                }
            )),
        }
    }
}

fn place_user_rules(intent: &Intent, out: &mut HostConfig) {
    for r in &intent.rules {
        let dev = match &r.rule.iif {
            Some(iif) => Some(iif.clone()),
            None => r
                .rule
                .from
                .or(r.rule.to)
                .and_then(|p| device_with_subnet(out, p.addr()).map(str::to_string)),
        };
        match dev
            .as_deref()
            .and_then(|d| out.devices.iter_mut().find(|x| x.name == d))
        {
            Some(d) => d.rules.push(r.rule.clone()),
            None => out.warnings.push(format!(
                "{}: rule at priority {} is not persisted: no device in the file to attach it \
                 to (give it an iif, or a from/to inside a device's subnet)",
                r.origin, r.rule.priority
            )),
        }
    }
}

/// The scope of an IPv4 route when it is not the one every stack picks by itself (link
/// without a gateway, global with one), so that files say it only where it matters.
/// IPv6 routes have no scope.
pub fn unusual_scope(r: &Route) -> Option<RouteScope> {
    if !r.destination.addr().is_ipv4() {
        return None;
    }
    match (r.scope, r.gateway.is_some()) {
        (RouteScope::Link, false) | (RouteScope::Universe, true) => None,
        (scope, _) => Some(scope),
    }
}

/// A scope's name in `ip route` and systemd-networkd syntax.
pub fn scope_name(scope: RouteScope) -> String {
    match scope {
        RouteScope::Universe => "global".into(),
        RouteScope::Link => "link".into(),
        RouteScope::Host => "host".into(),
        RouteScope::Other(n) => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::tests::intent_of;

    #[test]
    fn network_routes_and_rules_go_to_the_network_device() {
        let h = host_config(&intent_of(crate::persist::tests::GOLDEN_INPUT));
        let red = h.device("red").expect("red");
        assert!(red.routes.iter().any(|r| r.table == 1001));
        assert!(red
            .rules
            .iter()
            .filter(|r| crate::expand::is_network_rule(r))
            .all(|r| r.table == 1001));
        // The block of each family goes with red, whose rules come first in the file.
        assert_eq!(
            red.rules
                .iter()
                .filter(|r| crate::expand::is_block_rule(r))
                .count(),
            6
        );
        let blue = h.device("blue").expect("blue");
        assert!(blue.rules.iter().all(crate::expand::is_network_rule));
        assert!(matches!(red.kind, DeviceKind::Bridge { stp: false }));
        let up = h.device("up-red").expect("uplink");
        assert_eq!(up.controller.as_deref(), Some("red"));
        assert!(up.routes.is_empty());
        // On-link routes come before routes through a gateway.
        for v6 in [false, true] {
            let family: Vec<_> = red.routes_of(v6).collect();
            let first_via = family.iter().position(|r| r.gateway.is_some());
            let last_onlink = family.iter().rposition(|r| r.gateway.is_none());
            assert!(last_onlink < first_via);
        }
    }

    #[test]
    fn unplaceable_routes_and_rules_are_warnings() {
        let h = host_config(&intent_of(
            "interfaces:\n  - {name: eth0, type: ethernet}\n\
             routes:\n  config:\n    - {destination: 10.0.0.0/8, next-hop-address: 192.0.2.1}\n\
             route-rules:\n  config:\n    - {ip-from: 10.9.0.0/16, priority: 100, route-table: 5}\n",
        ));
        assert_eq!(h.warnings.len(), 2, "{:?}", h.warnings);
        assert!(h.warnings[0].contains("routes.config[0]"));
        assert!(h.warnings[1].contains("route-rules.config[0]"));
    }

    #[test]
    fn a_peer_named_only_as_a_port_is_the_other_veth_end() {
        let h = host_config(&intent_of(crate::persist::tests::GOLDEN_INPUT));
        let b = h.device("vm-b").expect("vm-b");
        assert_eq!(
            b.kind,
            DeviceKind::Veth {
                peer: Some("vm-a".into())
            }
        );
        assert_eq!(b.controller.as_deref(), Some("br-vm"));
    }

    #[test]
    fn absent_links_are_removed_and_loopback_is_left_to_the_distribution() {
        let h = host_config(&intent_of(
            "interfaces:\n  - {name: old0, state: absent}\n\
             \x20 - name: lo\n    type: loopback\n    ipv4: {address: [{ip: 127.0.0.1, prefix-length: 8}]}\n",
        ));
        assert_eq!(h.removed, vec!["old0".to_string()]);
        assert!(h.devices.is_empty());
        assert!(h.warnings.is_empty());
    }
}
