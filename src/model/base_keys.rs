//! Validation of nmstate's base keys that name another interface: `controller` and
//! `copy-mac-from` (whether that interface exists is the planner's question).

use std::collections::BTreeMap;

use super::types::*;
use super::validate::check_ifname;
use super::validate::Errors;

/// Ports named by a port list of the file: port → (controller, its list's key).
fn listed_ports(d: &Desired) -> BTreeMap<&str, (&str, &'static str)> {
    let mut out = BTreeMap::new();
    for iface in d
        .interfaces
        .iter()
        .filter(|i| i.state != Some(IfaceState::Absent))
    {
        let bridge = iface
            .bridge
            .iter()
            .flat_map(|b| b.port.iter().flatten())
            .map(|p| (p.name.as_str(), "bridge.port"));
        let bond = iface
            .link_aggregation
            .iter()
            .flat_map(|la| la.port.iter().flatten())
            .map(|p| (p.as_str(), "link-aggregation.port"));
        let vrf = super::vrf::ports(iface)
            .into_iter()
            .flatten()
            .map(|p| (p.as_str(), "vrf.port"));
        for (port, key) in bridge.chain(bond).chain(vrf) {
            out.entry(port).or_insert((iface.name.as_str(), key));
        }
    }
    out
}

/// Checks every interface's `controller` and `copy-mac-from`.
pub(super) fn check(errs: &mut Errors, d: &Desired) {
    let listed = listed_ports(d);
    let declared = |name: &str| d.interfaces.iter().find(|i| i.name == name);
    for (i, iface) in d.interfaces.iter().enumerate() {
        if matches!(iface.state, Some(IfaceState::Absent | IfaceState::Ignore)) {
            continue;
        }
        let p = format!("interfaces[{i}]");
        if let Some(c) = &iface.controller {
            check_controller(
                errs,
                &format!("{p}.controller"),
                iface,
                c,
                &listed,
                &declared,
            );
        }
        check_inet6(errs, &p, iface);
        if let Some(from) = &iface.copy_mac_from {
            let path = format!("{p}.copy-mac-from");
            if let Err(m) = check_ifname(from) {
                errs.push(path, m);
            } else if *from == iface.name {
                errs.push(path, format!("{from} cannot copy its own MAC address"));
            } else if iface.mac_address.is_some() {
                errs.push(
                    path,
                    "give one of mac-address and copy-mac-from".to_string(),
                );
            } else if let Some(src) = declared(from) {
                if src.state == Some(IfaceState::Absent) {
                    errs.push(path, format!("{from} is removed by this file"));
                } else if src.copy_mac_from.is_some() {
                    errs.push(
                        path,
                        format!("{from} copies its MAC address too; give it a mac-address"),
                    );
                }
            }
        }
    }
}

/// `addr-gen-mode` and `token` are IPv6's, and need IPv6 on.
fn check_inet6(errs: &mut Errors, p: &str, iface: &InterfaceSpec) {
    if let Some(v4) = &iface.ipv4 {
        for (key, given) in [
            ("addr-gen-mode", v4.addr_gen_mode.is_some()),
            ("token", v4.token.is_some()),
        ] {
            if given {
                errs.push(
                    format!("{p}.ipv4.{key}"),
                    "an IPv6 setting; give it under ipv6",
                );
            }
        }
    }
    let Some(v6) = &iface.ipv6 else { return };
    if v6.enabled == Some(false) {
        for (key, given) in [
            ("addr-gen-mode", v6.addr_gen_mode.is_some()),
            ("token", v6.token.is_some()),
        ] {
            if given {
                errs.push(format!("{p}.ipv6.{key}"), "needs IPv6 enabled");
            }
        }
    }
    if let Some(t) = v6.token {
        if t.segments()[..4].iter().any(|s| *s != 0) {
            errs.push(
                format!("{p}.ipv6.token"),
                format!(
                    "{t}: a token is an interface identifier, the lower 64 bits only (e.g. ::1:2)"
                ),
            );
        }
    }
}

fn check_controller<'a>(
    errs: &mut Errors,
    path: &str,
    iface: &InterfaceSpec,
    c: &str,
    listed: &BTreeMap<&str, (&str, &'static str)>,
    declared: &dyn Fn(&str) -> Option<&'a InterfaceSpec>,
) {
    let name = iface.name.as_str();
    let shown = if c.is_empty() { "\"\"" } else { c };
    if let Some((owner, key)) = listed.get(name).filter(|(o, _)| *o != c) {
        errs.push(
            path.to_string(),
            format!("{name}: controller {shown} contradicts {key} of {owner}"),
        );
        return;
    }
    if c.is_empty() {
        return;
    }
    if let Err(m) = check_ifname(c) {
        errs.push(path.to_string(), m);
        return;
    }
    if c == name {
        errs.push(
            path.to_string(),
            format!("{name} cannot be its own controller"),
        );
        return;
    }
    let Some(ctl) = declared(c) else { return };
    if ctl.state == Some(IfaceState::Absent) {
        errs.push(
            path.to_string(),
            format!("controller {c} is removed by this file"),
        );
        return;
    }
    match ctl.iface_type {
        None | Some(InterfaceType::LinuxBridge | InterfaceType::Bond | InterfaceType::Vrf) => {}
        Some(InterfaceType::OvsBridge) => {
            // Listed by it: the check above found no contradiction.
            if !listed.contains_key(name) {
                errs.push(
                    path.to_string(),
                    format!("{c} is an ovs-bridge: list {name} in its bridge.port"),
                );
            }
            return;
        }
        Some(t) => errs.push(
            path.to_string(),
            format!("{c} is a {}, not a linux-bridge, bond or vrf", t.as_str()),
        ),
    }
    let list = ctl
        .bridge
        .as_ref()
        .and_then(|b| b.port.as_ref())
        .map(|ps| (ps.iter().any(|p| p.name == name), "bridge.port"))
        .or_else(|| {
            let la = ctl.link_aggregation.as_ref()?.port.as_ref()?;
            Some((la.iter().any(|p| p == name), "link-aggregation.port"))
        })
        .or_else(|| {
            let ps = super::vrf::ports(ctl)?;
            Some((ps.iter().any(|p| p == name), "vrf.port"))
        });
    if let Some((false, key)) = list {
        errs.push(
            path.to_string(),
            format!("{name}: controller {c} contradicts {key} of {c}, which does not list it"),
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{parse, validate};

    fn errors(text: &str) -> Vec<String> {
        let d = parse(text).expect("parses");
        match validate(&d) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_controller_contradicting_a_port_list_is_refused_naming_both() {
        let e = errors(
            "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: []}}\n- {name: br1, type: linux-bridge, bridge: {port: [{name: eth1}]}}\n- {name: eth1, type: ethernet, controller: br0}\n",
        );
        assert_eq!(
            e,
            ["interfaces[2].controller: eth1: controller br0 contradicts bridge.port of br1"]
        );
        let e = errors(
            "interfaces:\n- {name: br0, type: linux-bridge, bridge: {port: []}}\n- {name: eth1, type: ethernet, controller: br0}\n",
        );
        assert_eq!(
            e,
            ["interfaces[1].controller: eth1: controller br0 contradicts bridge.port of br0, which does not list it"]
        );
        let e = errors(
            "interfaces:\n- {name: br1, type: linux-bridge, bridge: {port: [{name: eth1}]}}\n- {name: eth1, type: ethernet, controller: \"\"}\n",
        );
        assert_eq!(
            e,
            ["interfaces[1].controller: eth1: controller \"\" contradicts bridge.port of br1"]
        );
    }

    #[test]
    fn an_agreeing_controller_and_copy_mac_from_are_taken() {
        assert!(errors(
            "interfaces:\n- {name: br0, type: linux-bridge, copy-mac-from: eth1, bridge: {port: [{name: eth1}]}}\n- {name: eth1, type: ethernet, controller: br0}\n- {name: eth2, type: ethernet, controller: br9}\n- {name: eth3, controller: \"\"}\n"
        )
        .is_empty());
    }

    #[test]
    fn addr_gen_mode_and_token_problems_name_the_field() {
        let e = errors(
            "interfaces:\n- {name: eth1, ipv4: {token: \"::1\"}, ipv6: {token: \"2001:db8::1\", addr-gen-mode: eui64}}\n- {name: eth2, ipv6: {enabled: false, addr-gen-mode: stable-privacy}}\n",
        );
        assert_eq!(
            e,
            [
                "interfaces[0].ipv4.token: an IPv6 setting; give it under ipv6",
                "interfaces[0].ipv6.token: 2001:db8::1: a token is an interface identifier, the lower 64 bits only (e.g. ::1:2)",
                "interfaces[1].ipv6.addr-gen-mode: needs IPv6 enabled",
            ]
        );
    }

    #[test]
    fn addr_gen_mode_takes_nmstates_upper_case_spellings() {
        assert!(errors(
            "interfaces:\n- {name: eth1, ipv6: {enabled: true, addr-gen-mode: EUI64}}\n- {name: eth2, ipv6: {enabled: true, addr-gen-mode: STABLE-PRIVACY}}\n"
        )
        .is_empty());
    }

    #[test]
    fn copy_mac_from_problems_name_the_field() {
        let e = errors(
            "interfaces:\n- {name: br0, type: linux-bridge, copy-mac-from: br0}\n- {name: br1, type: linux-bridge, copy-mac-from: eth1, mac-address: 02:00:00:00:00:01}\n- {name: br2, type: linux-bridge, copy-mac-from: br3}\n- {name: br3, type: linux-bridge, copy-mac-from: eth1}\n- {name: veth9, type: veth, controller: veth9, veth: {peer: x}}\n",
        );
        assert_eq!(
            e,
            [
                "interfaces[0].copy-mac-from: br0 cannot copy its own MAC address",
                "interfaces[1].copy-mac-from: give one of mac-address and copy-mac-from",
                "interfaces[2].copy-mac-from: br3 copies its MAC address too; give it a mac-address",
                "interfaces[4].controller: veth9 cannot be its own controller",
            ]
        );
    }
}
