//! nmstate's base keys of an interface that are neither its kind nor its addresses:
//! `description` (IFLA_IFALIAS) and `accept-all-mac-addresses` (IFF_PROMISC), changed
//! like any link setting, and IPv6 `enabled`/`autoconf`, the interface's
//! `disable_ipv6`/`autoconf` sysctls, written as journaled sysctl ops (a rollback
//! writes the old values back, as it does for `accept_ra`).

use std::collections::BTreeSet;

use super::{Phase, Plan};
use crate::expand::{Intent, LinkIntent};
use crate::firewall::{sysctl, FwOp};
use crate::model::IfaceState;
use crate::netdev::{Ipv6Switches, KernelState, LinkChange, LinkKind, Op};

/// The phase a sysctl op belongs in: an interface's IPv6 switches once links exist and
/// before addresses are added (the kernel refuses IPv6 addresses while `disable_ipv6` is
/// on), the forwarding switches after the firewall rules that guard them.
pub(crate) fn sysctl_phase(key: &str) -> Phase {
    let per_link = |k: &str| {
        sysctl::interface_of(k).is_some()
            && (sysctl::disable_ipv6_of(k).is_some() || k.ends_with(".autoconf"))
    };
    if per_link(key) {
        Phase::LinkSysctls
    } else {
        Phase::Sysctls
    }
}

/// Links the plan deletes (a veth's peer goes with it): a link made again has the
/// kernel's defaults.
fn deleted(current: &KernelState, plan: &Plan) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for op in plan.ops() {
        if let Op::DeleteLink { name } = op {
            out.insert(name.clone());
            if let Some(LinkKind::Veth { peer: Some(p) }) = current.links.get(name).map(|l| &l.kind)
            {
                out.insert(p.clone());
            }
        }
    }
    out
}

/// A new bond's primary port is set once its ports are in: the kernel reports a primary
/// only while that port is in the bond, and netlink names it by ifindex, which a port
/// created in the same apply does not have yet when the bond is made.
fn primary_after_ports(plan: &mut Plan) {
    let mut later = Vec::new();
    for op in plan.phases[Phase::CreateDevices as usize].iter_mut() {
        let Op::CreateLink(l) = op else { continue };
        let LinkKind::Bond(b) = &mut l.kind else {
            continue;
        };
        if b.primary.is_none() {
            continue;
        }
        let full = LinkKind::Bond(b.clone());
        b.primary = None;
        later.push(Op::ChangeLink {
            name: l.name.clone(),
            change: LinkChange {
                settings: Some(full),
                ..LinkChange::default()
            },
        });
    }
    plan.phases[Phase::ChangeBridges as usize].extend(later);
}

/// Plans the base keys of every interface the intent keeps.
pub(super) fn plan(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    primary_after_ports(plan);
    let nets = super::port_ipv6::Networks::new(intent);
    let off = super::port_ipv6::plan(current, intent, &nets, plan);
    let gone = deleted(current, plan);
    for (name, li) in &intent.links {
        if li.state == IfaceState::Absent {
            continue;
        }
        let exists = current.links.contains_key(name) && !gone.contains(name);
        let change = link_change(current, name, li, exists);
        if !change.is_empty() {
            plan.push(
                Phase::ChangeLinks,
                Op::ChangeLink {
                    name: name.clone(),
                    change,
                },
            );
        }
        if let Some(want) = &li.base.bond_port {
            // A port staying in its bond has settings to compare with; one that joins
            // gets the kernel's defaults.
            let now = current.links.get(name).and_then(|l| l.controller.as_ref());
            let stays = exists && li.controller.as_ref().is_none_or(|c| Some(c) == now);
            let have = current
                .bond_ports
                .get(name)
                .filter(|_| stays)
                .cloned()
                .unwrap_or_default();
            let missing = want.missing_from(&have);
            if !missing.is_empty() {
                plan.push(
                    Phase::ChangeBridges,
                    Op::ChangeLink {
                        name: name.clone(),
                        change: LinkChange {
                            bond_port: Some(missing),
                            ..LinkChange::default()
                        },
                    },
                );
            }
        }
        // A new device starts with the `default` switches; a state without them (no
        // IPv6 on the host) has nothing to set.
        let now = if exists {
            current.ipv6_switches(name)
        } else {
            current.ipv6_default.map(|d| Ipv6Switches {
                disabled: d.disabled || off.contains(name),
                ..d
            })
        };
        let Some(now) = now else { continue };
        let want = [
            (
                sysctl::disable_ipv6(name),
                li.base
                    .ipv6_enabled
                    .map(|e| !e)
                    .or_else(|| nets.needs_ipv6(name).then_some(false)),
                now.disabled,
            ),
            (sysctl::autoconf(name), li.base.autoconf, now.autoconf),
        ];
        for (key, on, was) in want {
            let Some(on) = on.filter(|on| *on != was) else {
                continue;
            };
            let to = if on { "1" } else { "0" };
            let from = if was { "1" } else { "0" };
            if sysctl::disable_ipv6_of(&key).is_some() && to == "0" {
                delay_ipv6_addresses(plan, name);
            }
            plan.push(
                Phase::LinkSysctls,
                Op::Firewall(Box::new(FwOp::Sysctl {
                    key,
                    from: Some(from.to_string()),
                    to: to.to_string(),
                })),
            );
        }
    }
}

fn link_change(current: &KernelState, name: &str, li: &LinkIntent, exists: bool) -> LinkChange {
    let (alias, promisc) = if exists {
        (
            current.aliases.get(name).map_or("", String::as_str),
            current.promisc.contains(name),
        )
    } else {
        ("", false)
    };
    LinkChange {
        alias: li.base.description.clone().filter(|d| d != alias),
        promisc: li.base.promisc.filter(|p| *p != promisc),
        ..LinkChange::default()
    }
}

/// Writes back the IPv6 switches of every link both states have where they differ (a
/// link made again starts with the `default` ones, which its target's may not be).
pub(crate) fn restore_switches(current: &KernelState, target: &KernelState, plan: &mut Plan) {
    for name in target
        .links
        .keys()
        .filter(|n| current.links.contains_key(*n))
    {
        let (Some(now), Some(then)) = (current.ipv6_switches(name), target.ipv6_switches(name))
        else {
            continue;
        };
        for (key, was, want) in [
            (sysctl::disable_ipv6(name), now.disabled, then.disabled),
            (sysctl::autoconf(name), now.autoconf, then.autoconf),
        ] {
            if was != want {
                plan.push(
                    Phase::LinkSysctls,
                    Op::Firewall(Box::new(FwOp::Sysctl {
                        key,
                        from: Some(u8::from(was).to_string()),
                        to: u8::from(want).to_string(),
                    })),
                );
            }
        }
    }
}

/// IPv6 addresses of `name` planned before its IPv6 is enabled go after it.
fn delay_ipv6_addresses(plan: &mut Plan, name: &str) {
    let early = &mut plan.phases[Phase::AddAddressesFirst as usize];
    let is_v6 =
        |op: &Op| matches!(op, Op::AddAddress(a) if a.ifname == name && a.addr.addr().is_ipv6());
    let moved: Vec<Op> = early.iter().filter(|op| is_v6(op)).cloned().collect();
    early.retain(|op| !is_v6(op));
    plan.phases[Phase::AddAddresses as usize].extend(moved);
}

/// What takes `name`'s alias and promiscuous flag from `current` to `target`, and its
/// settings as a port of the same bond.
pub(crate) fn restore(current: &KernelState, target: &KernelState, name: &str, c: &mut LinkChange) {
    if let (Some(have), Some(want)) = (current.bond_ports.get(name), target.bond_ports.get(name)) {
        let same_bond = current.links.get(name).map(|l| &l.controller)
            == target.links.get(name).map(|l| &l.controller);
        if have != want && same_bond {
            c.bond_port = Some(crate::netdev::BondPortChange::between(have, want));
        }
    }
    let (have, want) = (current.aliases.get(name), target.aliases.get(name));
    if have != want {
        c.alias = Some(want.cloned().unwrap_or_default());
    }
    let (have, want) = (
        current.promisc.contains(name),
        target.promisc.contains(name),
    );
    if have != want {
        c.promisc = Some(want);
    }
}
