//! Checks of `interfaces[]` that need more than one field: names, types, MTUs,
//! addresses and bridge ports. Split out of `validate.rs` (issue 15: files under 600 lines).

use std::collections::{BTreeMap, BTreeSet};

use super::super::doc_index::DocIndex;
use super::super::types::*;
use super::{check_ifname, check_kind_mtu, check_mtu, is_v4, unassignable, Errors};

/// The largest MTU the kernel accepts on a device of this type, where the type alone
/// decides it (a NIC's depends on its driver; loopback has no ceiling below 65536).
fn max_mtu(ty: InterfaceType, iface: &InterfaceSpec) -> Option<u32> {
    match ty {
        InterfaceType::Ethernet | InterfaceType::Loopback | InterfaceType::Vrf => None,
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

pub(super) fn validate_interfaces(
    errs: &mut Errors,
    d: &Desired,
    ix: &DocIndex,
) -> BTreeMap<String, usize> {
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
        // A VRF's own range (1280 to IP6_MAX_MTU) is checked in `vrf`.
        if ty != Some(InterfaceType::Vrf) {
            check_mtu(errs, &format!("{p}.mtu"), iface.mtu);
        }
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
