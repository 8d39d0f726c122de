//! nmstate's base keys of an interface that are neither its kind nor its addresses:
//! `description` (IFLA_IFALIAS) and `accept-all-mac-addresses` (IFF_PROMISC), changed
//! like any link setting, and IPv6 `enabled`/`autoconf`, the interface's
//! `disable_ipv6`/`autoconf` sysctls, written as journaled sysctl ops (a rollback
//! writes the old values back, as it does for `accept_ra`).

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::Ipv6Addr;

use super::{Phase, Plan, PlanError};
use crate::expand::{Intent, LinkIntent};
use crate::firewall::{sysctl, FwOp};
use crate::model::IfaceState;
use crate::netdev::inet6::{Inet6Change, STABLE_PRIVACY};
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

/// Resolves `copy-mac-from` to the MAC address it names (the file's for that interface,
/// else the kernel's now), and checks that a `controller` the file names itself is a
/// bridge or bond that exists or is made.
pub(super) fn resolve<'a>(
    current: &KernelState,
    intent: &'a Intent,
) -> Result<Cow<'a, Intent>, Vec<PlanError>> {
    let mut errors = Vec::new();
    for li in intent
        .links
        .values()
        .filter(|l| l.state != IfaceState::Absent)
    {
        let Some(c) = &li.controller else { continue };
        if intent.links.get(c).is_some_and(|l| l.kind.is_some()) {
            continue;
        }
        let problem = match current.links.get(c).map(|l| &l.kind) {
            None => format!("{c} does not exist and the file does not create it"),
            Some(k) if k.is_controller() => continue,
            Some(k) => format!("{c} is not a bridge, bond or VRF (it is {})", k.type_name()),
        };
        errors.push(PlanError {
            path: format!("{}.controller", li.origin),
            message: problem,
        });
    }
    for (name, li) in intent
        .links
        .iter()
        .filter(|(_, l)| l.state != IfaceState::Absent)
    {
        if let Some(want) = &li.base.inet6 {
            errors.extend(inet6_problems(current, name, li, want));
        }
    }
    if !intent
        .links
        .values()
        .any(|l| l.base.copy_mac_from.is_some())
    {
        return if errors.is_empty() {
            Ok(Cow::Borrowed(intent))
        } else {
            Err(errors)
        };
    }
    let mut out = intent.clone();
    for (name, li) in out.links.iter_mut() {
        let Some(from) = li.base.copy_mac_from.clone() else {
            continue;
        };
        let given = intent.links.get(&from).and_then(|l| l.mac);
        let made = intent
            .links
            .get(&from)
            .is_some_and(|l| l.kind.is_some() && l.state != IfaceState::Absent)
            && !current.links.contains_key(&from);
        let mac = match (given, current.links.get(&from)) {
            (Some(m), _) => Ok(m),
            (None, _) if made => Err(format!(
                "{from} is made by this apply with a MAC address the kernel chooses; give it a mac-address"
            )),
            (None, Some(l)) => l.mac.ok_or(format!("{from} has no MAC address")),
            (None, None) => Err(format!("{from} does not exist")),
        };
        match mac {
            Ok(m) => li.mac = Some(m),
            Err(message) => errors.push(PlanError {
                path: format!("{}.copy-mac-from", li.origin),
                message: format!("{name}: {message}"),
            }),
        }
    }
    if errors.is_empty() {
        Ok(Cow::Owned(out))
    } else {
        Err(errors)
    }
}

/// What the kernel would refuse of an address generation mode or token for `name`
/// (inet6_set_link_af): the plan says it first, naming the field. Only what changes is
/// looked at; a link this apply makes has the kernel's defaults, which take both.
fn inet6_problems(
    current: &KernelState,
    name: &str,
    li: &LinkIntent,
    want: &Inet6Change,
) -> Vec<PlanError> {
    let exists = current.links.contains_key(name);
    let have = current.inet6.get(name);
    let mut out = Vec::new();
    let mut refuse = |key: &str, message: String| {
        out.push(PlanError {
            path: format!("{}.ipv6.{key}", li.origin),
            message: format!("{name}: {message}"),
        })
    };
    if exists && have.is_none() {
        let what = if want.token.is_some() {
            "token"
        } else {
            "addr-gen-mode"
        };
        refuse(
            what,
            "has no IPv6 state (MTU below 1280, or IPv6 off in the kernel)".into(),
        );
        return out;
    }
    let missing = want.missing_from(have.filter(|_| exists));
    if missing.token.is_some() && have.is_some_and(|h| !h.token_settable) {
        refuse(
            "token",
            "the kernel takes a token only where router advertisements are accepted (accept_ra 1, or 2 with forwarding on), router_solicitations is not 0, and not on loopback".into(),
        );
    }
    if missing.addr_gen_mode == Some(STABLE_PRIVACY) && !current.stable_secret {
        refuse(
            "addr-gen-mode",
            "stable-privacy needs net.ipv6.conf.default.stable_secret, which is not set (the kernel refuses it without one); hostnet checks only whether it is set".into(),
        );
    }
    out
}

/// Plans the base keys of every interface the intent keeps.
pub(super) fn plan(current: &KernelState, intent: &Intent, plan: &mut Plan) {
    primary_after_ports(plan);
    let nets = super::port_ipv6::Networks::new(current, intent, plan);
    let off = super::port_ipv6::plan(current, intent, &nets, plan);
    let gone = deleted(current, plan);
    for (name, li) in &intent.links {
        if li.state == IfaceState::Absent {
            continue;
        }
        let exists = current.links.contains_key(name) && !gone.contains(name);
        let port_of = current.links.get(name).and_then(|l| l.controller.as_ref());
        if li.base.detach && exists && port_of.is_some() {
            plan.push(
                Phase::ReleasePorts,
                Op::ChangeLink {
                    name: name.clone(),
                    change: LinkChange {
                        controller: Some(None),
                        ..LinkChange::default()
                    },
                },
            );
        }
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
    let have = current.inet6.get(name).filter(|_| exists);
    LinkChange {
        alias: li.base.description.clone().filter(|d| d != alias),
        promisc: li.base.promisc.filter(|p| *p != promisc),
        inet6: li
            .base
            .inet6
            .as_ref()
            .map(|w| w.missing_from(have))
            .filter(|c| !c.is_empty()),
        ..LinkChange::default()
    }
}

/// What undoes the address generation mode and token an apply `set` on `name` (what
/// another tool changed since is left, one note each: field, now, set, was).
pub(crate) type Kept = (&'static str, String, String, String);
pub(crate) fn take_back_inet6(
    before: &KernelState,
    now: &KernelState,
    name: &str,
    set: &Inet6Change,
) -> (Option<Inet6Change>, Vec<Kept>) {
    let get = |s: &KernelState| s.inet6.get(name).cloned().unwrap_or_default();
    let (was, is) = (get(before), get(now));
    let mut back = Inet6Change::default();
    let mut kept = Vec::new();
    let token = |t: Option<Ipv6Addr>| t.unwrap_or(Ipv6Addr::UNSPECIFIED);
    if let Some(m) = set
        .addr_gen_mode
        .filter(|_| is.addr_gen_mode != was.addr_gen_mode)
    {
        if is.addr_gen_mode == m {
            back.addr_gen_mode = Some(was.addr_gen_mode);
        } else {
            let show = |m: u8| m.to_string();
            kept.push((
                "addr-gen-mode",
                show(is.addr_gen_mode),
                show(m),
                show(was.addr_gen_mode),
            ));
        }
    }
    if let Some(t) = set.token.filter(|_| is.token != was.token) {
        if token(is.token) == t {
            back.token = Some(token(was.token));
        } else {
            let show = |t: Ipv6Addr| t.to_string();
            kept.push((
                "token",
                show(token(is.token)),
                show(t),
                show(token(was.token)),
            ));
        }
    }
    (Some(back).filter(|b| !b.is_empty()), kept)
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
    if let (Some(have), Some(want)) = (current.inet6.get(name), target.inet6.get(name)) {
        c.inet6 = Some(Inet6Change::between(have, want)).filter(|i| !i.is_empty());
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
