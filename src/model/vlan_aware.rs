//! Networks on VLAN-aware bridges (`networks[].vlan-aware: true`): several networks are
//! VLANs of one shared VLAN-filtering Linux bridge, as Proxmox's "VLAN aware" bridges and
//! oVirt's VM networks are, instead of nova's bridge per VLAN on `UPLINK.ID`.
//!
//! Such a network's bridge is `bridge` (default: its name, as for any network), its
//! uplink a trunk port of the bridge carrying VLAN `vlan` tagged, and its addresses sit on
//! the VLAN device `BRIDGE.ID` over the bridge, whose own (`self`) VLAN `vlan` is tagged
//! too. This file names those devices and checks what only makes sense across networks.

use std::collections::BTreeMap;

use super::types::{Desired, IfaceState, InterfaceType, NetworkSpec, NetworkState};
use super::validate::Errors;

impl NetworkSpec {
    /// `vlan-aware: true`.
    pub fn is_vlan_aware(&self) -> bool {
        self.vlan_aware == Some(true)
    }

    /// The network's bridge (when bridged): `bridge`, or its name.
    pub fn bridge_name(&self) -> &str {
        self.bridge.as_deref().unwrap_or(&self.name)
    }

    /// The device carrying the network's addresses (and its routes, firewall and DHCP
    /// server): the VLAN device over a VLAN-aware bridge, its bridge, or its uplink
    /// when not bridged (`""` when it has none, which validation refuses).
    pub fn device(&self) -> String {
        match (self.bridged.unwrap_or(true), self.vlan) {
            (true, Some(id)) if self.is_vlan_aware() => super::vlan_device(self.bridge_name(), id),
            (true, _) => self.bridge_name().to_string(),
            (false, _) => self.uplink.clone().unwrap_or_default(),
        }
    }
}

/// A present bridged network on a bridge: its index, whether it is VLAN-aware, its uplink.
type OnBridge<'a> = (usize, bool, Option<&'a str>);

/// Checks `vlan-aware` on each network and across the networks sharing a bridge.
pub(super) fn check(errs: &mut Errors, d: &Desired) {
    let mut on: BTreeMap<&str, Vec<OnBridge<'_>>> = BTreeMap::new();
    for (i, n) in d.networks.iter().enumerate() {
        let p = format!("networks[{i}]");
        let bridged = n.bridged.unwrap_or(true);
        if n.is_vlan_aware() {
            if !bridged {
                errs.push(
                    format!("{p}.vlan-aware"),
                    "a network with bridged: false has no bridge to be a VLAN of",
                );
            }
            match n.vlan {
                None => errs.push(
                    format!("{p}.vlan-aware"),
                    format!(
                        "needs vlan: the id of the network's VLAN on bridge {}",
                        n.bridge_name()
                    ),
                ),
                Some(1) => errs.push(
                    format!("{p}.vlan"),
                    "VLAN 1 is a VLAN-aware bridge's default PVID, untagged on every \
                     port; give the network another VLAN",
                ),
                Some(_) => {}
            }
        }
        if bridged && n.state != Some(NetworkState::Absent) {
            on.entry(n.bridge_name()).or_default().push((
                i,
                n.is_vlan_aware(),
                n.uplink.as_deref(),
            ));
        }
    }
    for (bridge, nets) in on {
        let Some(&(first, aware, uplink)) = nets.first() else {
            continue;
        };
        let name = &d.networks[first].name;
        for &(i, other_aware, other_uplink) in nets.iter().skip(1) {
            let p = format!("networks[{i}]");
            if !aware && !other_aware {
                // Two bridges of one name: the device check names it.
                continue;
            }
            if aware != other_aware {
                errs.push(
                    format!("{p}.vlan-aware"),
                    format!(
                        "bridge {bridge} is shared with network {name} (networks[{first}]); \
                         every network on one bridge needs vlan-aware: true and a vlan of its own"
                    ),
                );
            } else if uplink != other_uplink {
                errs.push(
                    format!("{p}.uplink"),
                    format!(
                        "bridge {bridge} is shared with network {name} (networks[{first}]), \
                         whose uplink is {}; networks on one VLAN-aware bridge give the same uplink",
                        uplink.unwrap_or("none")
                    ),
                );
            }
        }
    }
}

/// A VLAN-aware network's bridge that `interfaces[j]` declares too: the entry gives the
/// bridge's options (and ports of its own), the network its VLANs and its uplink. What
/// would contradict that is refused at the entry's key: another type, its removal, a
/// complete port list without the uplink, or a `vlan` section on the uplink (whose
/// VLANs the networks on the bridge add and take back one by one).
pub(super) fn declared_bridge(errs: &mut Errors, d: &Desired, n: &NetworkSpec, p: &str, j: usize) {
    let Some(iface) = d.interfaces.get(j) else {
        return;
    };
    let at = format!("interfaces[{j}]");
    let why = format!("bridge of the VLAN-aware network {} ({p})", n.name);
    if iface.iface_type != Some(InterfaceType::LinuxBridge) {
        errs.push(
            format!("{at}.type"),
            format!("{} is the {why}: it must be a linux-bridge", iface.name),
        );
        return;
    }
    if iface.state == Some(IfaceState::Absent) {
        errs.push(
            format!("{at}.state"),
            format!("{} is the {why}, which keeps it", iface.name),
        );
        return;
    }
    let Some(uplink) = n.uplink.as_deref() else {
        return;
    };
    let bridge = iface.bridge.as_ref();
    let extra = bridge
        .and_then(|b| b.options.as_ref())
        .and_then(|o| o.allow_extra_ports)
        == Some(true);
    let Some(ports) = bridge.and_then(|b| b.port.as_ref()) else {
        return;
    };
    match ports.iter().position(|q| q.name == uplink) {
        None if !extra => errs.push(
            format!("{at}.bridge.port"),
            format!(
                "the complete port list of the {why} leaves out its uplink {uplink}: list it, \
                 or set allow-extra-ports: true"
            ),
        ),
        Some(k) if ports[k].vlan.is_some() => errs.push(
            format!("{at}.bridge.port[{k}].vlan"),
            format!(
                "{uplink} is the uplink of the VLAN-aware network {} ({p}), whose VLANs \
                 the networks on the bridge own; leave its vlan section out",
                n.name
            ),
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{parse, validate};

    fn errors(yaml: &str) -> Vec<String> {
        let d = parse(yaml).expect("parses");
        match validate(&d) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn two_networks_share_a_vlan_aware_bridge() {
        let ok = "networks:\n\
          - {name: blue, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 100, ipv4: {address: [192.0.2.10/24]}}\n\
          - {name: red, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 200, ipv4: {address: [198.51.100.10/24]}}\n";
        assert_eq!(errors(ok), Vec::<String>::new());
        let d = parse(ok).expect("parses");
        assert_eq!(d.networks[0].device(), "br0.100");
        assert_eq!(d.networks[1].device(), "br0.200");
    }

    #[test]
    fn contradictions_are_refused_at_the_field() {
        let cases = [
            (
                "- {name: a, uplink: eth1, vlan-aware: true}",
                "networks[0].vlan-aware: needs vlan",
            ),
            (
                "- {name: a, uplink: eth1, bridged: false, vlan-aware: true, vlan: 5}",
                "networks[0].vlan-aware: a network with bridged: false",
            ),
            (
                "- {name: a, uplink: eth1, vlan-aware: true, vlan: 1}",
                "networks[0].vlan: VLAN 1 is a VLAN-aware bridge's default PVID",
            ),
            (
                "- {name: a, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 5}\n- {name: b, uplink: eth2, bridge: br0}",
                "networks[1].vlan-aware: bridge br0 is shared with network a",
            ),
            (
                "- {name: a, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 5}\n- {name: b, uplink: eth2, bridge: br0, vlan-aware: true, vlan: 6}",
                "networks[1].uplink: bridge br0 is shared with network a (networks[0]), whose uplink is eth1",
            ),
            (
                "- {name: a, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 5}\n- {name: b, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 5}",
                "networks[1].vlan: device br0.5 is already used by network a",
            ),
            (
                "- {name: a, uplink: eth1, bridge: bridge-name-14, vlan-aware: true, vlan: 500}",
                "networks[0].vlan: the VLAN device bridge-name-14.500 would be longer than 15 bytes",
            ),
            (
                "- {name: a, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 5}\ninterfaces:\n- {name: br0, type: ovs-bridge}",
                "interfaces[0].type: br0 is the bridge of the VLAN-aware network a (networks[0]): it must be a linux-bridge",
            ),
            (
                "- {name: a, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 5}\ninterfaces:\n- {name: br0, type: linux-bridge, state: absent}",
                "interfaces[0].state: br0 is the bridge of the VLAN-aware network a",
            ),
            (
                "- {name: a, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 5}\ninterfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth2}]}}",
                "interfaces[0].bridge.port: the complete port list of the bridge of the VLAN-aware network a (networks[0]) leaves out its uplink eth1",
            ),
            (
                "- {name: a, uplink: eth1, bridge: br0, vlan-aware: true, vlan: 5}\ninterfaces:\n- {name: br0, type: linux-bridge, bridge: {port: [{name: eth1, vlan: {mode: access, tag: 7}}]}}",
                "interfaces[0].bridge.port[0].vlan: eth1 is the uplink of the VLAN-aware network a",
            ),
        ];
        for (nets, want) in cases {
            let errs = errors(&format!("networks:\n{nets}\n"));
            assert!(
                errs.iter().any(|e| e.starts_with(want)),
                "{want}\n{errs:#?}"
            );
        }
    }

    #[test]
    fn a_vlan_aware_network_needs_no_uplink() {
        let errs = errors(
            "networks:\n- {name: a, bridge: br0, vlan-aware: true, vlan: 5, ipv4: {address: [192.0.2.1/24]}}\n",
        );
        assert_eq!(errs, Vec::<String>::new());
    }
}
