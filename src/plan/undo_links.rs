//! The links of a rollback (see [`super`]): those the apply created go if they are
//! still its own, those it deleted come back if their name is free, the attributes it
//! changed go back if they still have the value it gave them.

use super::{same_kind, taken_route, three_way, veth_peer, Ctx};
use crate::netdev::{LinkChange, LinkKind, Op};
use crate::plan::Phase;

/// Links the apply created: deleted if they are still the apply's.
pub(super) fn created(cx: &mut Ctx<'_>) {
    for (name, c) in &cx.e.created {
        if cx.deleting.contains(name) {
            continue;
        }
        let Some(now) = cx.now.links.get(name) else {
            continue;
        };
        if !cx.is_created(name, now, c) {
            cx.kept(format!(
                "link {name}: not deleted: the {} of that name is no longer the device this apply created",
                now.kind.type_name()
            ));
            continue;
        }
        let mut names = vec![name.as_str()];
        names.extend(veth_peer(&c.kind));
        if let Some(what) = cx.foreign_on(&names) {
            cx.blocked(format!(
                "link {name}: created by this apply, but another tool has put {what} since; left in place"
            ));
            continue;
        }
        for n in &names {
            cx.deleting.insert((*n).to_string());
        }
        cx.push(Phase::DeleteLinks, Op::DeleteLink { name: name.clone() });
    }
}

/// Links the apply deleted: the ones whose name is free are made again (returned).
pub(super) fn deleted(cx: &mut Ctx<'_>) -> Vec<String> {
    let mut recreate = Vec::new();
    for name in &cx.e.deleted {
        let b = &cx.u.before.links[name];
        let peer = veth_peer(&b.kind);
        if cx.recreating.contains(name) {
            continue;
        }
        // A device of the apply's own under the name (one that replaced it) goes first.
        let taken = [Some(name.as_str()), peer]
            .into_iter()
            .flatten()
            .filter(|n| !cx.deleting.contains(*n))
            .find_map(|n| cx.now.links.get(n).map(|l| (n, l)));
        match taken {
            Some((_, l)) if l.name == *name && same_kind(&l.kind, &b.kind) && l.mac == b.mac => {
                // Back already, as it was (an earlier attempt of this rollback).
            }
            Some((n, l)) => cx.blocked(format!(
                "link {name}: deleted by this apply and not made again: the name {n} is now another device's ({})",
                l.kind.type_name()
            )),
            None if !b.kind.creatable() => cx.blocked(format!(
                "link {name}: deleted by this apply; a {} cannot be made again here",
                b.kind.type_name()
            )),
            None => {
                if !peer.is_some_and(|p| recreate.iter().any(|r: &String| r == p)) {
                    recreate.push(name.clone());
                }
                cx.recreating.insert(name.clone());
                cx.recreating.extend(peer.map(str::to_string));
            }
        }
    }
    recreate
}

/// Makes deleted links again as they were, with their addresses, routes and ports.
pub(super) fn recreate(cx: &mut Ctx<'_>, recreate: &[String]) {
    let before = cx.u.before;
    for name in recreate {
        let b = &before.links[name];
        // A bridge created with a set address has no carrier until a port joins (the
        // kernel evaluates its ports at once): one without ports comes back with a new
        // address instead, so that it has carrier as it had.
        let portless_bridge = matches!(b.kind, LinkKind::Bridge(_))
            && !before
                .links
                .values()
                .any(|l| l.controller.as_deref() == Some(name.as_str()));
        let master_ok = b.controller.as_deref().is_none_or(|c| cx.will_exist(c));
        if !master_ok {
            cx.blocked(format!(
                "link {name}: made again without its master {}, which is gone",
                b.controller.as_deref().unwrap_or_default()
            ));
        }
        super::super::restore::push_recreate_with(
            &mut cx.out.plan,
            before,
            name,
            !portless_bridge,
            master_ok,
        );
        let mut names = vec![name.as_str()];
        names.extend(veth_peer(&b.kind));
        for a in before
            .addresses
            .iter()
            .filter(|a| names.contains(&a.ifname.as_str()))
        {
            cx.push(Phase::AddAddresses, Op::AddAddress(a.clone()));
        }
        for r in before
            .routes
            .iter()
            .filter(|r| r.dev.as_deref().is_some_and(|d| names.contains(&d)))
        {
            if let Some(other) = taken_route(cx.now, r) {
                cx.blocked(format!("{r}: its place is taken by {other}"));
            } else {
                cx.push(Phase::AddRoutes, Op::AddRoute(r.clone()));
            }
        }
    }
    // Ports of the links made again (which the deletion released).
    for l in before.links.values() {
        let Some(c) = l
            .controller
            .as_deref()
            .filter(|c| cx.recreating.contains(*c))
        else {
            continue;
        };
        if cx.recreating.contains(&l.name) || cx.u.recreated.contains(c) {
            continue;
        }
        match cx.now.links.get(&l.name) {
            Some(p) if same_kind(&p.kind, &l.kind) && p.controller.is_none() => cx.push(
                Phase::ChangeLinks,
                Op::ChangeLink {
                    name: l.name.clone(),
                    change: LinkChange {
                        controller: Some(Some(c.to_string())),
                        ..LinkChange::default()
                    },
                },
            ),
            Some(p) if p.controller.as_deref() == Some(c) => {}
            Some(p) => {
                let master = p.controller.as_deref().unwrap_or("none");
                cx.kept(format!(
                    "link {}: not put back into {c}: another tool made it a port of {master}",
                    l.name
                ));
            }
            None => cx.kept(format!(
                "link {}: not put back into {c}: it is gone",
                l.name
            )),
        }
    }
}

/// Attributes the apply changed on links of the state before.
pub(super) fn changed(cx: &mut Ctx<'_>) {
    let before = cx.u.before;
    for (name, set) in &cx.e.changed {
        let b = &before.links[name];
        let Some(n) = cx.now.links.get(name) else {
            cx.kept(format!("link {name}: changed by this apply, gone since"));
            continue;
        };
        if !same_kind(&n.kind, &b.kind) || cx.deleting.contains(name) {
            cx.kept(format!(
                "link {name}: changed by this apply, but now another device ({})",
                n.kind.type_name()
            ));
            continue;
        }
        let mut undo = LinkChange::default();
        let mut port_undo = None;
        let mut kept: Vec<String> = Vec::new();
        let mut note = |field: &str, now: String, set: String, was: String| {
            kept.push(format!(
                "link {name} {field}: {now} now, this apply set {set} (it was {was}); left as another tool set it"
            ));
        };
        if let Some(v) = set.up {
            match three_way(&b.up, &v, &n.up) {
                Some(true) => undo.up = Some(b.up),
                Some(false) => note("state", updown(n.up), updown(v), updown(b.up)),
                None => {}
            }
        }
        if let Some(v) = set.mtu {
            match three_way(&b.mtu, &v, &n.mtu) {
                Some(true) => undo.mtu = Some(b.mtu),
                Some(false) => note("mtu", n.mtu.to_string(), v.to_string(), b.mtu.to_string()),
                None => {}
            }
        }
        if let (Some(v), Some(old)) = (set.mac, b.mac) {
            match three_way(&b.mac, &Some(v), &n.mac) {
                Some(true) => undo.mac = Some(old),
                Some(false) => note("mac", fmt_opt(n.mac), v.to_string(), old.to_string()),
                None => {}
            }
        }
        if let Some(v) = &set.controller {
            match three_way(&b.controller, v, &n.controller) {
                Some(true) => match b.controller.as_deref() {
                    Some(c) if !cx.will_exist(c) => cx
                        .out
                        .blocked
                        .push(format!("link {name}: not put back into {c}, which is gone")),
                    _ => undo.controller = Some(b.controller.clone()),
                },
                Some(false) => note(
                    "master",
                    fmt_opt(n.controller.as_ref()),
                    fmt_opt(v.as_ref()),
                    fmt_opt(b.controller.as_ref()),
                ),
                None => {}
            }
        }
        if let (Some(v), LinkKind::Bridge(bo), LinkKind::Bridge(no)) =
            (&set.bridge, &b.kind, &n.kind)
        {
            let (back, others) = v.take_back(bo, no);
            undo.bridge = (!back.is_empty()).then_some(back);
            for (field, now, set, was) in others {
                note(field, now, set, was);
            }
        }
        let ports = (&cx.u.before.bridge_ports, &cx.now.bridge_ports);
        if let (Some(v), Some(bp), Some(np)) = (&set.port, ports.0.get(name), ports.1.get(name)) {
            let (back, others) = v.take_back(bp, np);
            if !back.is_empty() {
                // In a request of its own, once the port is in its bridge again.
                port_undo = Some(back);
            }
            for (field, now, set, was) in others {
                note(field, now, set, was);
            }
        }
        if let Some(v) = &set.alias {
            let alias =
                |s: &crate::netdev::KernelState| s.aliases.get(name).cloned().unwrap_or_default();
            let (was, now) = (alias(before), alias(cx.now));
            match three_way(&was, v, &now) {
                Some(true) => undo.alias = Some(was),
                Some(false) => note(
                    "description",
                    format!("{now:?}"),
                    format!("{v:?}"),
                    format!("{was:?}"),
                ),
                None => {}
            }
        }
        if let Some(v) = set.promisc {
            let (was, now) = (before.promisc.contains(name), cx.now.promisc.contains(name));
            match three_way(&was, &v, &now) {
                Some(true) => undo.promisc = Some(was),
                Some(false) => note("promisc", now.to_string(), v.to_string(), was.to_string()),
                None => {}
            }
        }
        if let Some(v) = &set.inet6 {
            let (back, others) = crate::plan::base_keys::take_back_inet6(before, cx.now, name, v);
            undo.inet6 = back;
            for (field, now, set, was) in others {
                note(field, now, set, was);
            }
        }
        let bonds = (&before.bond_ports, &cx.now.bond_ports);
        if let (Some(v), Some(bp), Some(np)) =
            (&set.bond_port, bonds.0.get(name), bonds.1.get(name))
        {
            let (back, others) = v.take_back(bp, np);
            if !back.is_empty() {
                undo.bond_port = Some(back);
            }
            for (field, now, set, was) in others {
                note(field, now, set, was);
            }
        }
        if let Some(v) = &set.settings {
            match three_way(&b.kind, v, &n.kind) {
                Some(true) => undo.settings = Some(b.kind.clone()),
                Some(false) => note(
                    "settings",
                    n.kind.settings(),
                    v.settings(),
                    b.kind.settings(),
                ),
                None => {}
            }
        }
        cx.out.kept.extend(kept);
        if let Some(port) = port_undo {
            cx.push(
                Phase::ChangeBridges,
                Op::ChangeLink {
                    name: name.clone(),
                    change: LinkChange {
                        port: Some(port),
                        ..LinkChange::default()
                    },
                },
            );
        }
        super::super::restore::push_stp_off(&mut cx.out.plan, name, &mut undo);
        if undo.is_empty() {
            continue;
        }
        let phase = if undo.controller == Some(None) {
            Phase::ReleasePorts
        } else {
            super::super::change_phase(&b.kind)
        };
        cx.push(
            phase,
            Op::ChangeLink {
                name: name.clone(),
                change: undo,
            },
        );
    }
}

fn updown(up: bool) -> String {
    if up { "up" } else { "down" }.to_string()
}

fn fmt_opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "none".to_string(), |v| v.to_string())
}
