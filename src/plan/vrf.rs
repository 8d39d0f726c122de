//! VRFs at plan time: a VRF's table when the file leaves it out (the one it has), tables
//! that must not be shared (another VRF's, a network's), routes' `vrf-name` resolved to
//! the VRF's table, and the kernel's flush of a port that joins or leaves a VRF.
//!
//! The kernel cannot change a VRF's table (no changelink in `drivers/net/vrf.c`), so a
//! new table is refused rather than planned. A port joining or leaving a VRF is cycled
//! down and up by the kernel (`cycle_netdev`), and IPv6 drops its addresses and routes
//! on the change of upper device (`NETDEV_CHANGEUPPER`): what the port has then is lost,
//! so the planner refuses a port with IPv6 addresses or routes of its own and adds the
//! file's IPv6 addresses after the join.

use std::borrow::Cow;
use std::collections::BTreeMap;

use super::{Phase, Plan, PlanError};
use crate::expand::{Intent, KindIntent};
use crate::model::IfaceState;
use crate::netdev::{KernelState, LinkKind, Op, TABLE_MAIN};

/// The table a link intent's VRF asks for, if it is one (0: the one it has).
fn wanted_table(kind: &Option<KindIntent>) -> Option<u32> {
    match kind {
        Some(KindIntent::Device {
            want: Some(LinkKind::Vrf { table }),
            ..
        }) => Some(*table),
        _ => None,
    }
}

fn kernel_table(current: &KernelState, name: &str) -> Option<u32> {
    match current.links.get(name).map(|l| &l.kind) {
        Some(LinkKind::Vrf { table }) => Some(*table),
        _ => None,
    }
}

/// The intent with every VRF's table and every `vrf-name` route's table filled in, or
/// why not.
pub(super) fn resolve<'a>(
    current: &KernelState,
    intent: &'a Intent,
) -> Result<Cow<'a, Intent>, Vec<PlanError>> {
    let any_vrf = intent
        .links
        .values()
        .any(|l| wanted_table(&l.kind).is_some())
        || current
            .links
            .values()
            .any(|l| matches!(l.kind, LinkKind::Vrf { .. }));
    if !any_vrf && intent.route_vrfs.is_empty() {
        return Ok(Cow::Borrowed(intent));
    }
    let mut errors = Vec::new();
    let mut out = intent.clone();
    // VRF → table, the file's (resolved) and the kernel's that stay.
    let mut tables: BTreeMap<String, u32> = BTreeMap::new();
    for (name, li) in out.links.iter_mut() {
        let Some(want) = wanted_table(&li.kind) else {
            continue;
        };
        if li.state == IfaceState::Absent {
            continue;
        }
        let path = format!("{}.vrf.route-table-id", li.origin);
        let table = match (want, kernel_table(current, name)) {
            (0, Some(have)) => have,
            (0, None) => {
                errors.push(PlanError {
                    path,
                    message: format!("VRF {name} does not exist: a new VRF needs a route table"),
                });
                continue;
            }
            (want, Some(have)) if want != have => {
                errors.push(PlanError {
                    path,
                    message: format!(
                        "VRF {name} has table {have}, and the kernel cannot change a VRF's table; \
                         remove it first (state: absent) and apply again"
                    ),
                });
                continue;
            }
            (want, _) => want,
        };
        if let Some(KindIntent::Device {
            want: Some(LinkKind::Vrf { table: t }),
            ..
        }) = li.kind.as_mut()
        {
            *t = table;
        }
        tables.insert(name.clone(), table);
    }
    check_tables(current, &out, &tables, &mut errors);
    for l in current.links.values() {
        let removed = out
            .links
            .get(&l.name)
            .is_some_and(|li| li.state == IfaceState::Absent);
        if let (LinkKind::Vrf { table }, false) = (&l.kind, removed) {
            tables.entry(l.name.clone()).or_insert(*table);
        }
    }
    resolve_routes(current, &mut out, &tables, &mut errors);
    check_ports(current, &out, &mut errors);
    if errors.is_empty() {
        Ok(Cow::Owned(out))
    } else {
        Err(errors)
    }
}

/// A VRF's table must be its own: not another VRF's of the kernel, not a network's.
fn check_tables(
    current: &KernelState,
    intent: &Intent,
    tables: &BTreeMap<String, u32>,
    errors: &mut Vec<PlanError>,
) {
    for (name, table) in tables {
        let Some(li) = intent.links.get(name) else {
            continue;
        };
        let path = format!("{}.vrf.route-table-id", li.origin);
        let other_vrf = current.links.values().find(|l| {
            l.name != *name
                && matches!(l.kind, LinkKind::Vrf { table: t } if t == *table)
                && intent
                    .links
                    .get(&l.name)
                    .is_none_or(|o| o.state != IfaceState::Absent)
        });
        if let Some(o) = other_vrf {
            errors.push(PlanError {
                path,
                message: format!("table {table} is the table of VRF {}", o.name),
            });
            continue;
        }
        let network = intent
            .networks
            .iter()
            .find(|n| !n.absent && n.table == Some(*table));
        if let Some(n) = network {
            let how = if n.table_derived {
                "derived for"
            } else {
                "the source-routing table of"
            };
            errors.push(PlanError {
                path,
                message: format!("table {table} is the table {how} network {}", n.name),
            });
        } else if let Some(n) = intent.reserved_tables.get(table) {
            errors.push(PlanError {
                path,
                message: format!("table {table} is the table of network {n}, applied earlier"),
            });
        }
    }
    // A kernel VRF the file does not name, whose table a network of the file takes.
    for n in intent.networks.iter().filter(|n| !n.absent) {
        let Some(t) = n.table else { continue };
        let vrf = current.links.values().find(|l| {
            matches!(l.kind, LinkKind::Vrf { table } if table == t) && !tables.contains_key(&l.name)
        });
        if let Some(v) = vrf {
            errors.push(PlanError {
                path: format!("{}.source-routing.table", n.origin),
                message: format!(
                    "table {t} of network {} is the table of VRF {}",
                    n.name, v.name
                ),
            });
        }
    }
}

/// Sets the table of every route (and route removal) with `vrf-name`.
fn resolve_routes(
    current: &KernelState,
    intent: &mut Intent,
    tables: &BTreeMap<String, u32>,
    errors: &mut Vec<PlanError>,
) {
    let vrfs = intent.route_vrfs.clone();
    let table_for = |origin: &str, have: u32, errors: &mut Vec<PlanError>| -> Option<u32> {
        let vrf = vrfs.get(origin)?;
        let Some(t) = tables.get(vrf) else {
            let why = match current.links.get(vrf) {
                Some(l) => format!("{vrf} is a {}, not a vrf", l.kind.type_name()),
                None => format!("VRF {vrf} does not exist and the file does not create it"),
            };
            errors.push(PlanError {
                path: format!("{origin}.vrf-name"),
                message: why,
            });
            return None;
        };
        if have != TABLE_MAIN && have != 0 && have != *t {
            errors.push(PlanError {
                path: format!("{origin}.table-id"),
                message: format!("table {have} contradicts vrf-name {vrf}, whose table is {t}"),
            });
            return None;
        }
        Some(*t)
    };
    for r in intent.routes.iter_mut() {
        if let Some(t) = table_for(&r.origin, r.route.table, errors) {
            r.route.table = t;
        }
    }
    for m in intent.route_removals.iter_mut() {
        if let Some(t) = table_for(&m.origin, m.table.unwrap_or(0), errors) {
            m.table = Some(t);
        }
    }
}

/// Whether `name` is a VRF, as the file makes it or the kernel has it.
pub(super) fn is_vrf(current: &KernelState, intent: &Intent, name: &str) -> bool {
    match intent.links.get(name) {
        Some(li) if li.kind.is_some() => wanted_table(&li.kind).is_some(),
        _ => kernel_table(current, name).is_some(),
    }
}

/// A port that joins a VRF loses its IPv6 addresses and its routes: refused while it has
/// any (hostnet would not put them back, nor could a rollback).
fn check_ports(current: &KernelState, intent: &Intent, errors: &mut Vec<PlanError>) {
    for (name, li) in &intent.links {
        let Some(c) = li.controller.as_deref() else {
            continue;
        };
        let Some(cur) = current.links.get(name) else {
            continue;
        };
        if cur.controller.as_deref() == Some(c) || !cur.up || !is_vrf(current, intent, c) {
            continue;
        }
        let v6: Vec<String> = current
            .addresses
            .iter()
            .filter(|a| a.ifname == *name && a.addr.addr().is_ipv6())
            .map(|a| a.addr.to_string())
            .collect();
        let routes = current
            .routes
            .iter()
            .chain(&current.opaque_routes)
            .filter(|r| r.devices().any(|d| d == name))
            .count();
        let what = match (v6.is_empty(), routes) {
            (true, 0) => continue,
            (false, _) => format!("IPv6 addresses ({})", v6.join(", ")),
            (true, n) => format!("{n} route(s) through it"),
        };
        errors.push(PlanError {
            path: li.origin.clone(),
            message: format!(
                "{name} has {what}, which the kernel drops as it joins VRF {c}; \
                 remove them first, or give them after it is in the VRF"
            ),
        });
    }
}

/// VRFs are created first of the phase they share with bridges: bridges (and every
/// device created later) may be made into one.
pub(super) fn creations_first(plan: &mut Plan) {
    plan.phases[Phase::CreateBridges as usize].sort_by_key(
        |op| !matches!(op, Op::CreateLink(l) if matches!(l.kind, LinkKind::Vrf { .. })),
    );
}

/// VRFs first of their phase, and IPv6 addresses of a link that joins or leaves a VRF
/// after the change (the kernel drops what it has then).
pub(super) fn arrange(plan: &mut Plan, current: &KernelState, intent: &Intent) {
    creations_first(plan);
    let mut moving: Vec<String> = Vec::new();
    let phases = [
        Phase::ReleasePorts,
        Phase::ChangeLinks,
        Phase::ChangeBridges,
    ];
    for op in phases.iter().flat_map(|p| &plan.phases[*p as usize]) {
        let Op::ChangeLink { name, change } = op else {
            continue;
        };
        let Some(new) = &change.controller else {
            continue;
        };
        let old = current.links.get(name).and_then(|l| l.controller.clone());
        let vrf = |c: &Option<String>| c.as_deref().is_some_and(|c| is_vrf(current, intent, c));
        if vrf(new) || vrf(&old) {
            moving.push(name.clone());
        }
    }
    for name in moving {
        let early = &mut plan.phases[Phase::AddAddressesFirst as usize];
        let is_v6 = |op: &Op| matches!(op, Op::AddAddress(a) if a.ifname == name && a.addr.addr().is_ipv6());
        let moved: Vec<Op> = early.iter().filter(|op| is_v6(op)).cloned().collect();
        early.retain(|op| !is_v6(op));
        plan.phases[Phase::AddAddresses as usize].extend(moved);
    }
}
