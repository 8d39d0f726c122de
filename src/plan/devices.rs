//! Planning of the device kinds beyond bridges and veths: where in the plan they are
//! created and changed, whether an existing one is what the file says, and the checks
//! that their lower device and controller will be there.

use std::collections::{BTreeMap, BTreeSet};

use super::{Phase, Plan, PlanError};
use crate::expand::{Intent, KindIntent, LinkIntent};
use crate::model::IfaceState;
use crate::netdev::{
    KernelState, LinkChange, LinkKind, NewLink, Op, VxlanOptions, VXLAN_DEFAULT_PORT,
    VXLAN_PORT_UNSET,
};

/// `want` with what the file left to the host filled in: a VXLAN without
/// `destination-port` keeps the port of the existing `have`, or gets
/// [`VXLAN_DEFAULT_PORT`] when new.
fn filled(want: &LinkKind, have: Option<&LinkKind>) -> LinkKind {
    match (want, have) {
        (LinkKind::Vxlan(v), have) if v.dst_port == VXLAN_PORT_UNSET => {
            let dst_port = match have {
                Some(LinkKind::Vxlan(h)) => h.dst_port,
                _ => VXLAN_DEFAULT_PORT,
            };
            LinkKind::Vxlan(VxlanOptions {
                dst_port,
                ..v.clone()
            })
        }
        _ => want.clone(),
    }
}

/// The phase that creates a link of `kind`.
pub(crate) fn create_phase(kind: &LinkKind) -> Phase {
    match kind {
        // A VRF before anything that may join it (first in the phase, see `vrf`).
        LinkKind::Bridge(_) | LinkKind::Vrf { .. } => Phase::CreateBridges,
        LinkKind::Bond(_) | LinkKind::Tap(_) => Phase::CreateDevices,
        k if k.is_stacked() => Phase::CreateStacked,
        _ => Phase::CreateVeths,
    }
}

/// The phase that changes a link of `kind`. Bridges and stacked devices change last:
/// a bridge's MTU once its ports are in, a VLAN's once its base has its own.
pub(crate) fn change_phase(kind: &LinkKind) -> Phase {
    if matches!(kind, LinkKind::Bridge(_)) || kind.is_stacked() {
        Phase::ChangeBridges
    } else {
        Phase::ChangeLinks
    }
}

/// Orders the "change bridges" phase so that an MTU is raised on lower devices first
/// (a bridge's ports, a stacked device's base) and lowered on upper devices first: the
/// kernel refuses a VLAN or MACVLAN larger than its base. `states` give the links' bases
/// and controllers, as do the plan's own creations and enslavements.
pub(crate) fn order_changes(plan: &mut Plan, states: &[&KernelState]) {
    let mut lowers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for st in states {
        for l in st.links.values() {
            if let Some(b) = l.kind.base() {
                lowers.entry(&l.name).or_default().push(b);
            }
            if let Some(c) = &l.controller {
                lowers.entry(c).or_default().push(&l.name);
            }
        }
    }
    let mut extra: Vec<(String, String)> = Vec::new();
    for op in plan.ops() {
        match op {
            Op::CreateLink(l) => {
                if let Some(b) = l.kind.base() {
                    extra.push((l.name.clone(), b.to_string()));
                }
                if let Some(c) = &l.controller {
                    extra.push((c.clone(), l.name.clone()));
                }
            }
            Op::ChangeLink { name, change } => {
                if let Some(Some(c)) = &change.controller {
                    extra.push((c.clone(), name.clone()));
                }
            }
            _ => {}
        }
    }
    for (upper, lower) in &extra {
        lowers.entry(upper).or_default().push(lower);
    }
    plan.phases[Phase::CreateStacked as usize].sort_by_key(|op| match op {
        Op::CreateLink(l) => depth(&lowers, &l.name, 8),
        _ => 0,
    });
    let phase = std::mem::take(&mut plan.phases[Phase::ChangeBridges as usize]);
    fn depth(lowers: &BTreeMap<&str, Vec<&str>>, name: &str, budget: u8) -> u8 {
        match lowers.get(name) {
            Some(ls) if budget > 0 => {
                1 + ls
                    .iter()
                    .map(|l| depth(lowers, l, budget - 1))
                    .max()
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }
    let mtu_now = |name: &str| {
        states
            .first()
            .and_then(|s| s.links.get(name))
            .map(|l| l.mtu)
    };
    let mut keyed: Vec<((u8, i16), Op)> = phase
        .into_iter()
        .map(|op| {
            let key = match &op {
                Op::ChangeLink { name, change } => {
                    let d = i16::from(depth(&lowers, name, 8));
                    let lowering = change
                        .mtu
                        .is_some_and(|m| mtu_now(name).is_some_and(|now| m < now));
                    if lowering {
                        (0, -d)
                    } else {
                        (1, d)
                    }
                }
                _ => (1, 0),
            };
            (key, op)
        })
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    plan.phases[Phase::ChangeBridges as usize] = keyed.into_iter().map(|(_, op)| op).collect();
}

/// Refuses a stacked device's MTU above what its base will allow after this apply: the
/// kernel would refuse it half-way through (ERANGE for a VLAN, EINVAL for the others).
/// A network's MTU is its bridge's and VLAN device's, not the VLAN's base's (every VLAN on
/// that base shares it), so it is checked here too, at `networks[N].mtu`.
pub(super) fn check_stacked_mtu(
    current: &KernelState,
    intent: &Intent,
    errors: &mut Vec<PlanError>,
) {
    for (name, li) in &intent.links {
        let Some(mtu) = li.mtu.filter(|_| li.state != IfaceState::Absent) else {
            continue;
        };
        let kind = match &li.kind {
            Some(KindIntent::Device { want: Some(k), .. }) => Some(k),
            _ => current.links.get(name).map(|l| &l.kind),
        };
        let Some((kind, base)) = kind.and_then(|k| Some((k, k.base()?))) else {
            continue;
        };
        let base_mtu = intent
            .links
            .get(base)
            .and_then(|b| b.mtu)
            .or_else(|| current.links.get(base).map(|l| l.mtu));
        let Some(base_mtu) = base_mtu else {
            continue;
        };
        let max = base_mtu.saturating_sub(kind.mtu_headroom());
        if mtu > max {
            errors.push(PlanError {
                path: format!("{}.mtu", li.origin),
                message: format!(
                    "MTU {mtu} of {name} is above the {max} its base {base} allows (MTU {base_mtu}{}); \
                     raise {base}'s MTU under interfaces",
                    if kind.mtu_headroom() > 0 {
                        format!(" less {} of VXLAN headers", kind.mtu_headroom())
                    } else {
                        String::new()
                    }
                ),
            });
        }
    }
}

/// True for kinds whose MTU is set after creation rather than in the create request.
pub(crate) fn mtu_after_create(kind: &LinkKind) -> bool {
    // A bridge takes its smallest port's MTU when ports join unless set afterwards; a
    // stacked device cannot be larger than its base, whose MTU may change in this plan.
    matches!(kind, LinkKind::Bridge(_)) || kind.is_stacked()
}

/// The field of the file that names a stacked device's lower device.
fn base_path(li: &LinkIntent, type_name: &str) -> String {
    if li.origin.starts_with("networks") {
        format!("{}.uplink", li.origin)
    } else {
        format!("{}.{type_name}.base-iface", li.origin)
    }
}

/// The settings to change in place when the existing `have` is not yet the device the
/// file describes (`Ok(None)`: nothing to change), or why it cannot become it.
pub(super) fn settings_change(
    name: &str,
    li: &LinkIntent,
    want: &KindIntent,
    have: &LinkKind,
) -> Result<Option<LinkKind>, PlanError> {
    let KindIntent::Device {
        type_name,
        want: Some(want),
        exact: true,
    } = want
    else {
        return Ok(None);
    };
    let want = &filled(want, Some(have));
    if want == have {
        return Ok(None);
    }
    if have.changes_in_place(want) {
        return Ok(Some(want.clone()));
    }
    Err(PlanError {
        path: if li.origin.starts_with("networks") {
            format!("{}.vlan", li.origin)
        } else {
            format!("{}.{}", li.origin, section(type_name))
        },
        message: format!(
            "{type_name} {name} exists with {}, not {}; hostnet does not change these settings in place: \
             remove it first (state: absent) and apply again",
            have.settings(),
            want.settings()
        ),
    })
}

/// The key of a kind's settings in the file.
fn section(type_name: &str) -> &str {
    match type_name {
        "bond" => "link-aggregation",
        other => other,
    }
}

/// Plans the creation of a device of the kinds here.
pub(super) fn plan_create(
    current: &KernelState,
    intent: &Intent,
    deleted: &BTreeSet<&str>,
    name: &str,
    li: &LinkIntent,
    plan: &mut Plan,
    errors: &mut Vec<PlanError>,
) {
    let Some(KindIntent::Device {
        type_name, want, ..
    }) = &li.kind
    else {
        return;
    };
    if type_name.starts_with("ovs-") {
        // Open vSwitch makes the device in the OVS phase; it is set up and sized after.
        let change = LinkChange {
            up: Some(li.state == IfaceState::Up),
            mtu: li.mtu,
            mac: li.mac,
            ..LinkChange::default()
        };
        plan.push(
            Phase::ChangeLinks,
            Op::ChangeLink {
                name: name.to_string(),
                change,
            },
        );
        return;
    }
    let Some(kind) = want.as_ref().map(|w| filled(w, None)) else {
        errors.push(PlanError {
            path: format!("{}.{}", li.origin, section(type_name)),
            message: format!(
                "{type_name} {name} does not exist; creating it needs its {} settings",
                section(type_name)
            ),
        });
        return;
    };
    let kind = &kind;
    if let Some(base) = kind.base() {
        let exists = current.links.contains_key(base) && !deleted.contains(base);
        let planned = intent
            .links
            .get(base)
            .filter(|b| b.state != IfaceState::Absent);
        if !exists && planned.is_some_and(|b| b.kind.is_none()) {
            // "does not exist" is reported for the base itself.
            return;
        }
        if !exists && planned.is_none() {
            errors.push(PlanError {
                path: base_path(li, type_name),
                message: format!("base interface {base} of {type_name} {name} does not exist"),
            });
            return;
        }
        // A base created in this apply is created first: `order_changes` sorts the
        // stacked devices by depth (Q-in-Q: a VLAN on a new VLAN).
    }
    let later_mtu = mtu_after_create(kind);
    plan.push(
        create_phase(kind),
        Op::CreateLink(NewLink {
            name: name.to_string(),
            kind: kind.clone(),
            up: li.state == IfaceState::Up,
            mtu: if later_mtu { None } else { li.mtu },
            mac: li.mac,
            controller: li.controller.clone(),
            peer: None,
        }),
    );
    if let Some(mtu) = li.mtu.filter(|_| later_mtu) {
        plan.push(
            change_phase(kind),
            Op::ChangeLink {
                name: name.to_string(),
                change: LinkChange {
                    mtu: Some(mtu),
                    ..LinkChange::default()
                },
            },
        );
    }
}
