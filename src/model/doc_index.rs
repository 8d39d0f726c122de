//! Lookups by name across a whole document, built once per validation: every check that
//! asks "does the file make X a bridge" or "which bridge lists port X" would otherwise
//! scan every interface and network for every interface and network (45,000 networks
//! took 45 s to validate that way).

use std::collections::{HashMap, HashSet};

use super::types::*;

/// Names the document declares, indexed for the cross-field checks.
pub(super) struct DocIndex<'a> {
    /// Names of linux-bridge and ovs-bridge interfaces, and bridged networks' devices.
    bridges: HashSet<&'a str>,
    /// Port name → the first interface whose `bridge.port` lists it.
    bridge_port_owner: HashMap<&'a str, &'a str>,
    /// Interfaces listed with `state: absent`.
    absent: HashSet<&'a str>,
    /// Name → type of the first linux-bridge or bond of that name.
    bridge_or_bond: HashMap<&'a str, InterfaceType>,
    /// Ports of ovs-bridges that stay.
    ovs_ports: HashSet<&'a str>,
}

impl<'a> DocIndex<'a> {
    pub(super) fn new(d: &'a Desired) -> DocIndex<'a> {
        let mut ix = DocIndex {
            bridges: HashSet::new(),
            bridge_port_owner: HashMap::new(),
            absent: HashSet::new(),
            bridge_or_bond: HashMap::new(),
            ovs_ports: HashSet::new(),
        };
        for i in &d.interfaces {
            let name = i.name.as_str();
            if matches!(
                i.iface_type,
                Some(InterfaceType::LinuxBridge | InterfaceType::OvsBridge)
            ) {
                ix.bridges.insert(name);
            }
            if let Some(ty @ (InterfaceType::LinuxBridge | InterfaceType::Bond)) = i.iface_type {
                ix.bridge_or_bond.entry(name).or_insert(ty);
            }
            if i.state == Some(IfaceState::Absent) {
                ix.absent.insert(name);
            }
            let ports = i.bridge.iter().flat_map(|b| b.port.iter().flatten());
            for p in ports.clone() {
                ix.bridge_port_owner.entry(p.name.as_str()).or_insert(name);
            }
            if i.iface_type == Some(InterfaceType::OvsBridge) && i.state != Some(IfaceState::Absent)
            {
                ix.ovs_ports.extend(ports.map(|p| p.name.as_str()));
            }
        }
        for n in d.networks.iter().filter(|n| n.bridged.unwrap_or(true)) {
            ix.bridges
                .insert(n.bridge.as_deref().unwrap_or(n.name.as_str()));
        }
        ix
    }

    /// Whether the file makes `name` a bridge (an interface of that type or a bridged
    /// network's device).
    pub(super) fn names_bridge(&self, name: &str) -> bool {
        self.bridges.contains(name)
    }

    /// The interface whose bridge ports list `port`, if one does.
    pub(super) fn bridge_claiming(&self, port: &str) -> Option<&'a str> {
        self.bridge_port_owner.get(port).copied()
    }

    /// Whether the file removes interface `name`.
    pub(super) fn removes(&self, name: &str) -> bool {
        self.absent.contains(name)
    }

    /// The type of `name` when the file declares it a linux-bridge or a bond.
    pub(super) fn bridge_or_bond(&self, name: &str) -> Option<InterfaceType> {
        self.bridge_or_bond.get(name).copied()
    }

    /// Whether an ovs-bridge the file keeps lists port `name`.
    pub(super) fn ovs_port(&self, name: &str) -> bool {
        self.ovs_ports.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{parse, validate};

    /// 20,000 networks, each with an uplink, a gateway, a firewall and a DHCP server, and
    /// as many bridges with a port: every cross-reference check runs once per network and
    /// interface. What it costs is measured outside the tests (README, Performance).
    fn big(n: usize, extra: &str) -> String {
        let mut y = String::from("settings: {source-routing: {table-range: [1000, 200000]}}\n");
        y.push_str("interfaces:\n");
        for i in 0..n {
            y.push_str(&format!(
                "  - {{name: b{i}, type: linux-bridge, bridge: {{port: [{{name: v{i}}}]}}}}\n"
            ));
        }
        y.push_str("networks:\n");
        for i in 0..n {
            let (a, b) = (i / 256 % 256, i % 256);
            y.push_str(&format!(
                "  - {{name: n{i}, uplink: e{i}, ipv4: {{address: [10.{a}.{b}.1/24], gateway: 10.{a}.{b}.254}}, \
                 firewall: {{isolate: true}}, dhcp-server: {{}}}}\n"
            ));
        }
        y.push_str(extra);
        y
    }

    #[test]
    fn twenty_thousand_networks_validate_and_their_conflicts_are_found() {
        let n = 20_000;
        let d = parse(&big(n, "")).expect("parses");
        assert_eq!(validate(&d), Ok(()));
        // Conflicts across the whole document are still found, naming both ends.
        let extra = "  - {name: late, uplink: v7, ipv4: {address: [10.0.3.9/16]}, firewall: {isolate: true}}\n  - {name: b9, uplink: e5}\n";
        let d = parse(&big(n, extra)).expect("parses");
        let errs: Vec<String> = validate(&d)
            .expect_err("refused")
            .0
            .iter()
            .map(ToString::to_string)
            .collect();
        let at = |p: &str, m: &str| errs.iter().any(|e| e.starts_with(p) && e.contains(m));
        assert!(
            at(
                &format!("networks[{n}].uplink"),
                "port v7 is claimed by two bridges: b7 (interfaces) and late"
            ),
            "{errs:#?}"
        );
        assert!(
            at(
                &format!("networks[{n}].firewall"),
                "overlaps 10.0.0.0/24 of networks[0]"
            ),
            "{errs:#?}"
        );
        assert!(
            at(
                &format!("networks[{}].name", n + 1),
                "bridge b9 is also declared at interfaces[9]"
            ),
            "{errs:#?}"
        );
        assert!(
            at(
                &format!("networks[{}].uplink", n + 1),
                "port e5 is claimed by two bridges: network n5"
            ),
            "{errs:#?}"
        );
    }
}
