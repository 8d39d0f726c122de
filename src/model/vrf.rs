//! nmstate's `type: vrf` (`vrf.port`, `vrf.route-table-id`) and routes' `vrf-name`: the
//! section, what the file alone can refuse, and how `show` prints them back. What needs
//! the kernel (a VRF's table when the file leaves it out, tables of networks) is the
//! planner's (`plan/vrf.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::validate::{check_ifname, Errors};
use super::*;
use crate::netdev::{KernelState, LinkKind};

/// `vrf`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct VrfSpec {
    /// The ports (nmstate also reads `ports`): exactly these are in the VRF.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<Vec<String>>,
    /// IFLA_VRF_TABLE. Left out or 0: the table the VRF has (a new VRF needs one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table_id: Option<u32>,
}

/// A VRF's MTU range: IPV6_MIN_MTU to IP6_MAX_MTU (`vrf_setup`).
const VRF_MTU: (u32, u32) = (1280, 65575);

/// Tables a VRF cannot take: the kernel's default (253), main (254) and local (255).
const RESERVED: [(u32, &str); 3] = [(253, "default"), (254, "main"), (255, "local")];

/// The table `iface` asks for (0: the one it has).
pub fn table_of(iface: &InterfaceSpec) -> u32 {
    iface
        .vrf
        .as_ref()
        .and_then(|v| v.route_table_id)
        .unwrap_or(0)
}

/// The VRF's port list, when the file gives one.
pub fn ports(iface: &InterfaceSpec) -> Option<&[String]> {
    (iface.iface_type == Some(InterfaceType::Vrf))
        .then(|| iface.vrf.as_ref()?.port.as_deref())
        .flatten()
}

/// Checks every interface's `vrf` section and every route's `vrf-name`.
pub(super) fn check(errs: &mut Errors, d: &Desired) {
    // Table → the first present VRF of the file with it.
    let mut tables: BTreeMap<u32, &str> = BTreeMap::new();
    for (i, iface) in d.interfaces.iter().enumerate() {
        check_interface(errs, d, i, iface, &mut tables);
    }
    for (i, n) in d.networks.iter().enumerate() {
        let t = n.source_routing.as_ref().and_then(|s| s.table);
        if let Some(vrf) = t.and_then(|t| tables.get(&t)) {
            errs.push(
                format!("networks[{i}].source-routing.table"),
                format!("table {} is the route table of VRF {vrf}", t.unwrap_or(0)),
            );
        }
    }
    check_routes(errs, d);
}

fn check_interface<'a>(
    errs: &mut Errors,
    d: &'a Desired,
    i: usize,
    iface: &'a InterfaceSpec,
    tables: &mut BTreeMap<u32, &'a str>,
) {
    let p = format!("interfaces[{i}]");
    let ty = iface.iface_type;
    let Some(v) = iface.vrf.as_ref() else { return };
    if ty != Some(InterfaceType::Vrf) {
        let msg = match ty {
            Some(t) => format!("only a vrf has vrf settings, not a {}", t.as_str()),
            None => "give the interface's type with its vrf settings".to_string(),
        };
        errs.push(format!("{p}.vrf"), msg);
        return;
    }
    if iface.state == Some(IfaceState::Absent) {
        return;
    }
    let name = iface.name.as_str();
    if let Some(m) = iface.mtu.filter(|m| !(VRF_MTU.0..=VRF_MTU.1).contains(m)) {
        errs.push(
            format!("{p}.mtu"),
            format!(
                "MTU {m} is out of a VRF's range ({} to {})",
                VRF_MTU.0, VRF_MTU.1
            ),
        );
    }
    if let Some(t) = v.route_table_id.filter(|t| *t != 0) {
        let path = format!("{p}.vrf.route-table-id");
        if let Some((_, what)) = RESERVED.iter().find(|(r, _)| *r == t) {
            errs.push(
                path,
                format!("table {t} is the kernel's {what} table; give a VRF a table of its own"),
            );
        } else if let Some(other) = tables.get(&t) {
            errs.push(path, format!("table {t} is the table of VRF {other} too"));
        } else {
            tables.insert(t, name);
        }
    }
    for (j, port) in v.port.iter().flatten().enumerate() {
        let pp = format!("{p}.vrf.port[{j}]");
        let listed_before = v.port.iter().flatten().take(j).any(|x| x == port);
        if let Err(m) = check_ifname(port) {
            errs.push(pp, m);
        } else if port == name {
            errs.push(pp, format!("VRF {name} cannot be a port of itself"));
        } else if listed_before {
            errs.push(pp, format!("port {port} is listed twice"));
        } else if let Some(other) = other_owner(d, name, port) {
            errs.push(pp, format!("port {port} is claimed by {other} and {name}"));
        } else if let Some(t) = declared_type(d, port).filter(|t| *t == InterfaceType::Vrf) {
            errs.push(
                pp,
                format!(
                    "{port} is a {}; it cannot be a port of VRF {name}",
                    t.as_str()
                ),
            );
        }
    }
}

/// Another controller of the file that lists `port`.
fn other_owner<'a>(d: &'a Desired, vrf: &str, port: &str) -> Option<&'a str> {
    d.interfaces
        .iter()
        .filter(|i| i.name != vrf && i.state != Some(IfaceState::Absent))
        .find(|i| {
            let bridge = i.bridge.iter().flat_map(|b| b.port.iter().flatten());
            let bond = i
                .link_aggregation
                .iter()
                .flat_map(|l| l.port.iter().flatten());
            bridge.map(|p| &p.name).chain(bond).any(|p| p == port)
                || ports(i).is_some_and(|ps| ps.iter().any(|p| p == port))
        })
        .map(|i| i.name.as_str())
}

fn declared_type(d: &Desired, name: &str) -> Option<InterfaceType> {
    d.interfaces
        .iter()
        .find(|i| i.name == name)
        .and_then(|i| i.iface_type)
}

/// `vrf-name`: a VRF's name, not another kind of the file's, and no `table-id` that
/// contradicts the VRF's table in the file (the kernel's VRFs are the planner's).
fn check_routes(errs: &mut Errors, d: &Desired) {
    let Some(routes) = &d.routes else { return };
    for (i, r) in routes.config.iter().enumerate() {
        let Some(vrf) = &r.vrf_name else { continue };
        let path = format!("routes.config[{i}].vrf-name");
        if let Err(m) = check_ifname(vrf) {
            errs.push(path, m);
            continue;
        }
        let Some(iface) = d.interfaces.iter().find(|i| i.name == *vrf) else {
            continue;
        };
        match iface.iface_type {
            Some(InterfaceType::Vrf) | None => {}
            Some(t) => {
                errs.push(path, format!("{vrf} is a {}, not a vrf", t.as_str()));
                continue;
            }
        }
        if iface.state == Some(IfaceState::Absent) && r.state != Some(EntryState::Absent) {
            errs.push(
                path,
                format!("VRF {vrf} is removed by this file (state: absent)"),
            );
            continue;
        }
        let want = table_of(iface);
        if let Some(t) = r.table_id.filter(|t| *t != 0 && want != 0 && *t != want) {
            errs.push(
                format!("routes.config[{i}].table-id"),
                format!("table {t} contradicts vrf-name {vrf}, whose table is {want}"),
            );
        }
    }
}

/// `show`'s `vrf` section of a VRF, without its ports (the caller has them).
pub fn show(kind: &LinkKind) -> Option<VrfSpec> {
    match kind {
        LinkKind::Vrf { table } => Some(VrfSpec {
            port: None,
            route_table_id: Some(*table),
        }),
        _ => None,
    }
}

/// nmstate's `show` names the VRF of a route in the table of an up VRF (`vrf-name`
/// beside `table-id`): the same here, so that `show` → `apply` resolves to the same table.
pub fn name_routes(state: &KernelState, routes: &mut [RouteSpec]) {
    let by_table: BTreeMap<u32, &str> = state
        .links
        .values()
        .filter(|l| l.up)
        .filter_map(|l| match l.kind {
            LinkKind::Vrf { table } => Some((table, l.name.as_str())),
            _ => None,
        })
        .collect();
    for r in routes {
        let table = r.table_id.unwrap_or(crate::netdev::TABLE_MAIN);
        r.vrf_name = by_table.get(&table).map(|n| n.to_string());
    }
}
