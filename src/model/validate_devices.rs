//! Validation of the device kinds of [`super::devices`] and of `networks[].vlan`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::doc_index::DocIndex;
use super::validate::{check_ifname, Errors, MAX_IFNAME_LEN};
use super::*;
use crate::netdev::{BondMode, MacVlanMode, VlanProtocol};

/// Largest VXLAN network identifier (24 bits).
const MAX_VNI: u32 = (1 << 24) - 1;

fn check_vlan_id(errs: &mut Errors, path: String, id: u32) {
    if !(1..=4094).contains(&id) {
        errs.push(path, format!("VLAN id {id} is outside 1-4094"));
    }
}

fn check_base(errs: &mut Errors, ix: &DocIndex, path: String, name: &str, base: &str) {
    if let Err(m) = check_ifname(base) {
        errs.push(path, m);
    } else if base == name {
        errs.push(path, format!("{name} cannot be its own base interface"));
    } else if ix.removes(base) {
        errs.push(
            path,
            format!("base interface {base} is removed by this file (state: absent)"),
        );
    }
}

/// Sections that belong to one type only.
fn sections(iface: &InterfaceSpec) -> [(&'static str, bool, InterfaceType); 6] {
    [
        ("vlan", iface.vlan.is_some(), InterfaceType::Vlan),
        (
            "link-aggregation",
            iface.link_aggregation.is_some(),
            InterfaceType::Bond,
        ),
        ("vxlan", iface.vxlan.is_some(), InterfaceType::Vxlan),
        ("mac-vlan", iface.mac_vlan.is_some(), InterfaceType::MacVlan),
        ("mac-vtap", iface.mac_vtap.is_some(), InterfaceType::MacVtap),
        ("tap", iface.tap.is_some(), InterfaceType::Tap),
    ]
}

/// Checks the device settings of `interfaces[i]`.
pub(super) fn check_interface(errs: &mut Errors, ix: &DocIndex, i: usize, iface: &InterfaceSpec) {
    super::validate_kinds::check_interface(errs, ix, i, iface);
    let p = format!("interfaces[{i}]");
    let Some(ty) = iface.iface_type else { return };
    for (key, given, owner) in sections(iface) {
        if given && ty != owner {
            errs.push(
                format!("{p}.{key}"),
                format!(
                    "only a {} has {key} settings, not a {}",
                    owner.as_str(),
                    ty.as_str()
                ),
            );
        }
    }
    if iface.state == Some(IfaceState::Absent) {
        return;
    }
    let name = iface.name.as_str();
    if let Some(v) = iface.vlan.as_ref().filter(|_| ty == InterfaceType::Vlan) {
        check_vlan_id(errs, format!("{p}.vlan.id"), v.id);
        check_base(
            errs,
            ix,
            format!("{p}.vlan.base-iface"),
            name,
            &v.base_iface,
        );
        if let Some(Err(e)) = v.protocol.as_deref().map(str::parse::<VlanProtocol>) {
            errs.push(format!("{p}.vlan.protocol"), e);
        }
        if let Some(r) = v
            .registration_protocol
            .as_deref()
            .filter(|r| !["none", "gvrp", "mvrp"].contains(r))
        {
            errs.push(
                format!("{p}.vlan.registration-protocol"),
                format!("unknown registration protocol {r:?} (one of none, gvrp, mvrp)"),
            );
        }
    }
    if let Some(la) = iface
        .link_aggregation
        .as_ref()
        .filter(|_| ty == InterfaceType::Bond)
    {
        match &la.mode {
            None => errs.push(
                format!("{p}.link-aggregation.mode"),
                "a bond needs a mode".to_string(),
            ),
            Some(m) => {
                if let Err(e) = m.parse::<BondMode>() {
                    errs.push(format!("{p}.link-aggregation.mode"), e);
                }
            }
        }
        if let Some(o) = &la.options {
            let mode = la.mode.as_deref().and_then(|m| m.parse().ok());
            let path = format!("{p}.link-aggregation.options");
            super::bond_options::validate(errs, &path, mode, o);
        }
        if let Some(prim) = la.options.as_ref().and_then(|o| o.primary.as_ref()) {
            let path = format!("{p}.link-aggregation.options.primary");
            let mode = la.mode.as_deref().and_then(|m| m.parse::<BondMode>().ok());
            let with_primary = mode.map(|m| crate::netdev::BondOptions::new(m, 0).has_primary());
            if !prim.is_empty() && !la.port.iter().flatten().any(|x| x == prim) {
                errs.push(
                    path.clone(),
                    format!("{prim} is not in the bond's port list"),
                );
            }
            if with_primary == Some(false) {
                errs.push(
                    path,
                    "only active-backup, balance-tlb and balance-alb bonds have a primary port"
                        .to_string(),
                );
            }
        }
        for (j, pc) in la.ports_config.iter().flatten().enumerate() {
            let pp = format!("{p}.link-aggregation.ports-config[{j}]");
            if !la.port.iter().flatten().any(|x| *x == pc.name) {
                errs.push(
                    format!("{pp}.name"),
                    format!("{} is not in the bond's port list", pc.name),
                );
            }
            let mode = la.mode.as_deref().and_then(|m| m.parse::<BondMode>().ok());
            let with_primary = matches!(
                mode,
                Some(BondMode::ActiveBackup | BondMode::BalanceTlb | BondMode::BalanceAlb)
            );
            if pc.priority.is_some() && mode.is_some() && !with_primary {
                errs.push(
                    format!("{pp}.priority"),
                    "only active-backup, balance-tlb and balance-alb bonds use port priorities"
                        .to_string(),
                );
            }
        }
        match la.port.as_deref() {
            None | Some([]) => errs.push(
                format!("{p}.link-aggregation.port"),
                format!("bond {name} has no ports"),
            ),
            Some(ports) => {
                for (j, port) in ports.iter().enumerate() {
                    let pp = format!("{p}.link-aggregation.port[{j}]");
                    if let Err(m) = check_ifname(port) {
                        errs.push(pp, m);
                    } else if port == name {
                        errs.push(pp, format!("bond {name} cannot be a port of itself"));
                    } else if ports[..j].contains(port) {
                        errs.push(pp, format!("port {port} is listed twice"));
                    } else if let Some(other) = ix.bridge_or_bond(port) {
                        errs.push(
                            pp,
                            format!(
                                "{port} is a {}; it cannot be a port of bond {name}",
                                other.as_str()
                            ),
                        );
                    }
                }
            }
        }
    }
    if let Some(v) = iface.vxlan.as_ref().filter(|_| ty == InterfaceType::Vxlan) {
        if v.id > MAX_VNI {
            errs.push(
                format!("{p}.vxlan.id"),
                format!("VXLAN id {} does not fit in 24 bits (0-{MAX_VNI})", v.id),
            );
        }
        if let Some(port) = v.destination_port {
            if !(1..=65535).contains(&port) {
                errs.push(
                    format!("{p}.vxlan.destination-port"),
                    format!("{port} is not a UDP port (1-65535)"),
                );
            }
        }
        if let Some(b) = &v.base_iface {
            check_base(errs, ix, format!("{p}.vxlan.base-iface"), name, b);
        }
        if let (Some(r), Some(l)) = (v.remote, v.local) {
            if r.is_ipv4() != l.is_ipv4() {
                errs.push(
                    format!("{p}.vxlan.local"),
                    format!("{l} and remote {r} are of different families"),
                );
            }
        }
        if let Some(r) = v.remote.filter(IpAddr::is_multicast) {
            // The kernel needs the device to join the group on.
            if v.base_iface.is_none() {
                errs.push(
                    format!("{p}.vxlan.base-iface"),
                    format!("remote {r} is a multicast group: base-iface must name the device to join it on"),
                );
            }
        }
        if let Some(l) = v.local.filter(IpAddr::is_multicast) {
            errs.push(
                format!("{p}.vxlan.local"),
                format!("{l} is a multicast address"),
            );
        }
    }
    for (key, spec, owner) in [
        ("mac-vlan", &iface.mac_vlan, InterfaceType::MacVlan),
        ("mac-vtap", &iface.mac_vtap, InterfaceType::MacVtap),
    ] {
        let Some(m) = spec.as_ref().filter(|_| ty == owner) else {
            continue;
        };
        check_base(
            errs,
            ix,
            format!("{p}.{key}.base-iface"),
            name,
            &m.base_iface,
        );
        if let Some(mode) = &m.mode {
            if let Err(e) = mode.parse::<MacVlanMode>() {
                errs.push(format!("{p}.{key}.mode"), e);
            }
        }
        // MACVLAN_FLAG_NOPROMISC means something in passthru mode only (iproute2
        // refuses it in the others).
        if m.promiscuous == Some(false) && m.mode.as_deref() != Some("passthru") {
            errs.push(
                format!("{p}.{key}.promiscuous"),
                "only passthru mode uses promiscuous: false".to_string(),
            );
        }
    }
    if let Some(t) = iface.tap.as_ref().filter(|_| ty == InterfaceType::Tap) {
        if t.persistent == Some(false) {
            errs.push(
                format!("{p}.tap.persistent"),
                "hostnet exits after applying, and a tap that is not persistent would \
                 vanish with it"
                    .to_string(),
            );
        }
    }
}

/// Checks `networks[i].vlan`.
pub(super) fn check_network(errs: &mut Errors, i: usize, n: &NetworkSpec) {
    let Some(id) = n.vlan else { return };
    let p = format!("networks[{i}].vlan");
    check_vlan_id(errs, p.clone(), id);
    // On a VLAN-aware bridge the VLAN device sits on the bridge; the uplink is optional.
    let base = match n.is_vlan_aware() {
        true => Some(n.bridge_name()),
        false => n.uplink.as_deref(),
    };
    match base {
        None => errs.push(p, "a VLAN needs an uplink to tag".to_string()),
        Some(u) => {
            let dev = super::vlan_device(u, id);
            if dev.len() > MAX_IFNAME_LEN {
                errs.push(
                    p,
                    format!("the VLAN device {dev} would be longer than {MAX_IFNAME_LEN} bytes"),
                );
            }
        }
    }
}

/// A port claimed by a bond and by a bridge, or by two bonds.
pub(super) fn check_port_owners(errs: &mut Errors, d: &Desired) {
    let mut owner: BTreeMap<&str, (&str, bool)> = BTreeMap::new();
    for (i, iface) in d.interfaces.iter().enumerate() {
        if iface.state == Some(IfaceState::Absent) {
            continue;
        }
        let bridge_ports = iface
            .bridge
            .iter()
            .flat_map(|b| b.port.iter().flatten())
            .map(|p| (p.name.as_str(), "bridge.port"));
        let bond_ports = iface
            .link_aggregation
            .iter()
            .filter(|_| iface.iface_type == Some(InterfaceType::Bond))
            .flat_map(|la| la.port.iter().flatten())
            .map(|p| (p.as_str(), "link-aggregation.port"));
        for (port, key) in bridge_ports.chain(bond_ports) {
            let bond = key.starts_with("link-aggregation");
            match owner.get(port) {
                // Two bridges claiming a port is validate's own check.
                Some((other, other_bond)) if (bond || *other_bond) && *other != iface.name => errs
                    .push(
                        format!("interfaces[{i}].{key}"),
                        format!("port {port} is claimed by {other} and {}", iface.name),
                    ),
                Some(_) => {}
                None => {
                    owner.insert(port, (iface.name.as_str(), bond));
                }
            }
        }
    }
}
