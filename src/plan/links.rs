//! Links and their addresses.

use std::collections::BTreeSet;

use super::{devices, Phase, Plan, PlanError};
use crate::expand::{Intent, KindIntent, LinkIntent, Ports};
use crate::model::IfaceState;
use crate::netdev::{
    Address, BridgeChange, BridgeOptions, KernelState, Link, LinkChange, LinkKind, NewLink, Op,
    PeerSettings, MIN_STP_FORWARD_DELAY,
};

fn kind_matches(want: &KindIntent, have: &LinkKind) -> bool {
    if let KindIntent::Device { type_name, .. } = want {
        // Open vSwitch makes these devices; their kind is its datapath's business.
        return type_name.starts_with("ovs-") || *type_name == have.type_name();
    }
    matches!(
        (want, have),
        (KindIntent::Bridge, LinkKind::Bridge(_))
            | (KindIntent::Veth { .. }, LinkKind::Veth { .. })
            | (KindIntent::Ethernet, LinkKind::Ethernet)
            // nmstate models a veth as an ethernet (with a `veth` section).
            | (KindIntent::Ethernet, LinkKind::Veth { .. })
            | (KindIntent::Loopback, LinkKind::Loopback)
    )
}

/// Why an existing device cannot be what the file says. A device hostnet cannot make
/// again (a NIC, loopback, a kind it does not create) is never to be removed for it.
fn kind_mismatch(name: &str, have: &LinkKind, want: &KindIntent) -> String {
    let (have, want) = (have.type_name(), want.type_name());
    let article = |t: &str| {
        if t.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        }
    };
    let what = format!(
        "{name} exists as {} {have} device, not {} {want}",
        article(have),
        article(want)
    );
    let recreatable = !matches!(have, "ethernet" | "loopback") && {
        let creatable = [
            "linux-bridge",
            "veth",
            "vlan",
            "bond",
            "vxlan",
            "mac-vlan",
            "mac-vtap",
            "tap",
            "dummy",
            "ipvlan",
            "vrf",
        ];
        creatable.contains(&have)
    };
    if recreatable {
        format!("{what}; remove it first (state: absent) or choose another name")
    } else {
        format!("{what}; give its type as {have} (or leave type out), or choose another name for the {want}")
    }
}

/// A link the file needs that the kernel does not have, and hostnet cannot make from
/// what the file says.
fn missing(name: &str, li: &LinkIntent) -> PlanError {
    if li.origin.starts_with("networks") {
        return PlanError {
            path: format!("{}.uplink", li.origin),
            message: format!("{name} does not exist"),
        };
    }
    // `interfaces[N]` itself, given without a type (not a port or base it names).
    let declared = li.origin.starts_with("interfaces[")
        && li.origin.ends_with(']')
        && !li.origin.contains('.');
    if declared {
        return PlanError {
            path: format!("{}.type", li.origin),
            message: format!("{name} does not exist; give its type to create it"),
        };
    }
    PlanError {
        path: li.origin.clone(),
        message: format!("{name} does not exist"),
    }
}

fn change_for(li: &LinkIntent, cur: &Link) -> LinkChange {
    let mut c = LinkChange::default();
    let up = li.state == IfaceState::Up;
    if cur.up != up {
        c.up = Some(up);
    }
    if let Some(m) = li.mtu.filter(|m| *m != cur.mtu) {
        c.mtu = Some(m);
    }
    if let Some(m) = li.mac.filter(|m| Some(*m) != cur.mac) {
        c.mac = Some(m);
    }
    if let Some(ctl) = &li.controller {
        if cur.controller.as_ref() != Some(ctl) {
            c.controller = Some(Some(ctl.clone()));
        }
    }
    if let LinkKind::Bridge(opts) = &cur.kind {
        let missing = bridge_want(li).missing_from(opts);
        if !missing.is_empty() {
            c.bridge = Some(missing);
        }
    }
    c
}

/// Every bridge setting the file gives, STP's on/off included.
fn bridge_want(li: &LinkIntent) -> BridgeChange {
    BridgeChange {
        stp: li.stp,
        ..li.bridge.clone().unwrap_or_default()
    }
}

/// The settings a bridge the file creates is made with.
fn new_bridge(li: &LinkIntent) -> BridgeOptions {
    let mut o = BridgeOptions::new_bridge();
    bridge_want(li).apply_to(&mut o);
    o
}

/// A forward delay below 2 s that STP, on in the kernel and not turned off by the file,
/// would refuse.
fn short_delay_under_stp(li: &LinkIntent, cur: &Link) -> Option<PlanError> {
    let LinkKind::Bridge(o) = &cur.kind else {
        return None;
    };
    let delay = li.bridge.as_ref()?.forward_delay?;
    let stp = li.stp.unwrap_or(o.stp);
    (stp && delay < MIN_STP_FORWARD_DELAY).then(|| PlanError {
        path: format!("{}.bridge.options.stp.forward-delay", li.origin),
        message: format!(
            "{} s is below the 2 s STP allows, and STP is on on {}; give 2 to 30, or turn STP off (stp: {{enabled: false}})",
            delay / 100,
            cur.name
        ),
    })
}

/// Pushes the op that sets a bridge port's settings, once it is in its bridge: what
/// differs from `have` (its settings now, if it stays in the same bridge), or every
/// setting the file gives (a port that joins gets the kernel's defaults, which depend on
/// its speed).
fn push_port(
    plan: &mut Plan,
    name: &str,
    li: Option<&LinkIntent>,
    have: Option<&crate::netdev::BridgePortOptions>,
) {
    let Some(want) = li.and_then(|li| li.port.as_ref()) else {
        return;
    };
    let missing = match have {
        Some(h) => want.missing_from(h),
        None => want.clone(),
    };
    if missing.is_empty() {
        return;
    }
    plan.push(
        Phase::ChangeBridges,
        Op::ChangeLink {
            name: name.to_string(),
            change: LinkChange {
                port: Some(missing),
                ..LinkChange::default()
            },
        },
    );
}

fn peer_settings(li: Option<&LinkIntent>) -> PeerSettings {
    match li {
        Some(p) => PeerSettings {
            up: p.state == IfaceState::Up,
            mtu: p.mtu,
            mac: p.mac,
            controller: p.controller.clone(),
        },
        // A peer the file does not describe is created up: a down end makes the pair's
        // carrier go down, which is never what "create a veth" means.
        None => PeerSettings {
            up: true,
            ..PeerSettings::default()
        },
    }
}

/// Why `cur` cannot become a port of `bridge` as the intent says, if it cannot.
fn port_problem(
    current: &KernelState,
    intent: &Intent,
    li: &LinkIntent,
    cur: &Link,
    bridge: &str,
) -> Option<PlanError> {
    let path = if li.origin.starts_with("networks") {
        format!("{}.uplink", li.origin)
    } else {
        li.origin.clone()
    };
    if matches!(cur.kind, LinkKind::Bridge(_) | LinkKind::Loopback) {
        return Some(PlanError {
            path,
            message: format!(
                "{} is a {} device and cannot be a port of bridge {bridge}",
                cur.name,
                cur.kind.type_name()
            ),
        });
    }
    // Addresses on a bridge port stop working: refuse rather than cut the host off
    // (the management address is often on the future uplink).
    for (v4, spec, fam) in [(true, &li.ipv4, "ipv4"), (false, &li.ipv6, "ipv6")] {
        if spec.is_some() {
            continue;
        }
        // IPv6 addresses from router advertisements are the kernel's: they expire once
        // the port no longer hears the advertisements, which reach the bridge instead
        // (with the port's MAC it makes the same SLAAC address). A DHCP client's
        // address would be cut off like a static one; no address list can remove it.
        let stranded: Vec<&Address> = current
            .addresses
            .iter()
            .filter(|a| a.ifname == cur.name && a.addr.addr().is_ipv4() == v4)
            .filter(|a| (v4 || !a.dynamic) && !intent.address_removals.contains(a))
            .collect();
        if let Some(d) = stranded.iter().find(|a| a.dynamic) {
            return Some(PlanError {
                path,
                message: format!(
                    "{} has {fam} address {} with a lifetime (a DHCP client's), which would stop working once it is a port of bridge {bridge}; \
                     stop the client on {} and run it on the bridge, or give the network `{fam}: {{dhcp: true}}`",
                    cur.name, d.addr, cur.name
                ),
            });
        }
        let stranded: Vec<String> = stranded.iter().map(|a| a.addr.to_string()).collect();
        if !stranded.is_empty() {
            return Some(PlanError {
                path,
                message: format!(
                    "{} has {fam} addresses ({}) that would stop working once it is a port of bridge {bridge}; \
                     give them to the bridge and clear them from {} in the same file \
                     (interfaces: [{{name: {}, type: ethernet, {fam}: {{enabled: false}}}}])",
                    cur.name,
                    stranded.join(", "),
                    cur.name,
                    cur.name
                ),
            });
        }
    }
    None
}

pub(super) fn plan_links(
    current: &KernelState,
    intent: &Intent,
    plan: &mut Plan,
    errors: &mut Vec<PlanError>,
) {
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    // Peers created together with their veth: no separate op for them.
    let mut created_as_peer: BTreeSet<&str> = BTreeSet::new();
    for (name, li) in &intent.links {
        if li.state != IfaceState::Absent {
            continue;
        }
        let Some(cur) = current.links.get(name) else {
            continue;
        };
        if current.ovs.owns_device(name) {
            // Removed with its OVS bridge or port (see `plan/ovs.rs`).
            continue;
        }
        match cur.kind {
            LinkKind::Ethernet | LinkKind::Loopback => {
                errors.push(PlanError {
                    path: li.origin.clone(),
                    message: format!(
                        "{name} is a {} device; hostnet cannot delete it",
                        cur.kind.type_name()
                    ),
                });
                continue;
            }
            _ => {}
        }
        if deleted.contains(name.as_str()) {
            continue;
        }
        deleted.insert(name);
        if let LinkKind::Veth { peer: Some(p) } = &cur.kind {
            // The pair goes as a whole.
            deleted.insert(p);
        }
        plan.push(Phase::DeleteLinks, Op::DeleteLink { name: name.clone() });
    }

    for (name, li) in &intent.links {
        if li.state == IfaceState::Absent || created_as_peer.contains(name.as_str()) {
            continue;
        }
        match current
            .links
            .get(name)
            .filter(|_| !deleted.contains(name.as_str()))
        {
            Some(cur) => {
                let mut settings = None;
                if let Some(kind) = &li.kind {
                    if !kind_matches(kind, &cur.kind) {
                        errors.push(PlanError {
                            path: li.origin.clone(),
                            message: kind_mismatch(name, &cur.kind, kind),
                        });
                        continue;
                    }
                    settings = match devices::settings_change(name, li, kind, &cur.kind) {
                        Ok(s) => s,
                        Err(e) => {
                            errors.push(e);
                            continue;
                        }
                    };
                    if let (
                        KindIntent::Veth { peer: Some(peer) },
                        LinkKind::Veth { peer: Some(have) },
                    ) = (kind, &cur.kind)
                    {
                        if peer != have {
                            errors.push(PlanError {
                                path: format!("{}.veth.peer", li.origin),
                                message: format!("veth {name} exists with peer {have}, not {peer}"),
                            });
                            continue;
                        }
                    }
                }
                let mut change = change_for(li, cur);
                change.settings = settings;
                // A VRF's port keeps its addresses, and may be a bridge (see `vrf`).
                let to_bridge = change.controller.as_ref().and_then(|c| c.as_deref());
                if let Some(bridge) = to_bridge.filter(|c| !super::vrf::is_vrf(current, intent, c))
                {
                    if let Some(e) = port_problem(current, intent, li, cur, bridge) {
                        errors.push(e);
                        continue;
                    }
                }
                if let Some(e) = short_delay_under_stp(li, cur) {
                    errors.push(e);
                    continue;
                }
                let stays = change.controller.is_none();
                let have_port = current.bridge_ports.get(name).filter(|_| stays);
                push_port(plan, name, Some(li), have_port);
                if let Some(b) = change.bridge.as_mut() {
                    // The kernel checks a forward delay before it takes STP off.
                    if let Some(off) = b.split_stp_off() {
                        plan.push(
                            Phase::ChangeLinks,
                            Op::ChangeLink {
                                name: name.clone(),
                                change: LinkChange {
                                    bridge: Some(off),
                                    ..LinkChange::default()
                                },
                            },
                        );
                    }
                    if b.is_empty() {
                        change.bridge = None;
                    }
                }
                if !change.is_empty() {
                    let phase = devices::change_phase(&cur.kind);
                    plan.push(
                        phase,
                        Op::ChangeLink {
                            name: name.clone(),
                            change,
                        },
                    );
                }
            }
            None => match &li.kind {
                // Created with the veth whose peer it is.
                None if intent.links.values().any(
                    |o| matches!(&o.kind, Some(KindIntent::Veth { peer: Some(p) }) if p == name),
                ) => {}
                None => errors.push(missing(name, li)),
                Some(KindIntent::Ethernet | KindIntent::Loopback) => errors.push(PlanError {
                    path: li.origin.clone(),
                    message: format!(
                        "{name} does not exist; hostnet does not create {} devices",
                        li.kind.as_ref().map_or("", KindIntent::type_name)
                    ),
                }),
                Some(KindIntent::Bridge) => {
                    plan.push(
                        Phase::CreateBridges,
                        Op::CreateLink(NewLink {
                            name: name.clone(),
                            kind: LinkKind::Bridge(new_bridge(li)),
                            up: li.state == IfaceState::Up,
                            // Not at creation, which the kernel does not count as set:
                            // a change of it, in phase "bridge MTU" (see bridge_mtu.rs).
                            mtu: None,
                            mac: li.mac,
                            controller: li.controller.clone(),
                            peer: None,
                        }),
                    );
                    if let Some(mtu) = li.mtu {
                        plan.push(
                            Phase::ChangeBridges,
                            Op::ChangeLink {
                                name: name.clone(),
                                change: LinkChange {
                                    mtu: Some(mtu),
                                    ..LinkChange::default()
                                },
                            },
                        );
                    }
                }
                Some(KindIntent::Device { .. }) => {
                    devices::plan_create(current, intent, &deleted, name, li, plan, errors);
                    push_port(plan, name, Some(li), None);
                }
                Some(KindIntent::Veth { peer: None }) => errors.push(PlanError {
                    path: format!("{}.veth.peer", li.origin),
                    message: format!("veth {name} does not exist; creating it needs veth.peer"),
                }),
                Some(KindIntent::Veth { peer: Some(peer) }) => {
                    if current.links.contains_key(peer) && !deleted.contains(peer.as_str()) {
                        errors.push(PlanError {
                            path: format!("{}.veth.peer", li.origin),
                            message: format!("cannot create veth {name}: its peer name {peer} is taken by an existing device"),
                        });
                        continue;
                    }
                    let peer_intent = intent.links.get(peer);
                    if let Some(p) = peer_intent {
                        if let Some(KindIntent::Veth { peer: Some(back) }) = &p.kind {
                            if back != name {
                                errors.push(PlanError {
                                    path: format!("{}.veth.peer", p.origin),
                                    message: format!("{peer} is the peer of {name}, so its peer must be {name}, not {back}"),
                                });
                                continue;
                            }
                        }
                    }
                    created_as_peer.insert(peer);
                    push_port(plan, name, Some(li), None);
                    push_port(plan, peer, peer_intent, None);
                    plan.push(
                        Phase::CreateVeths,
                        Op::CreateLink(NewLink {
                            name: name.clone(),
                            kind: LinkKind::Veth {
                                peer: Some(peer.clone()),
                            },
                            up: li.state == IfaceState::Up,
                            mtu: li.mtu,
                            mac: li.mac,
                            controller: li.controller.clone(),
                            peer: Some(peer_settings(peer_intent)),
                        }),
                    );
                }
            },
        }
    }

    release_old_uplinks(current, intent, &deleted, plan);
    // Ports that a bridge's exact port list no longer has.
    for (name, li) in &intent.links {
        let Some(Ports::Exact(list)) = &li.ports else {
            continue;
        };
        if li.state == IfaceState::Absent {
            continue;
        }
        for (port, cur) in &current.links {
            if cur.controller.as_deref() == Some(name.as_str())
                && !list.contains(port)
                && !deleted.contains(port.as_str())
                && intent
                    .links
                    .get(port)
                    .is_none_or(|p| p.controller.is_none())
            {
                plan.push(
                    Phase::ReleasePorts,
                    Op::ChangeLink {
                        name: port.clone(),
                        change: LinkChange {
                            controller: Some(None),
                            ..LinkChange::default()
                        },
                    },
                );
            }
        }
    }
}

/// The uplink a bridged network had when last applied leaves its bridge when the network
/// has another one now (or none): hostnet put it there. Only that port: guests' taps
/// stay, and so does a port the file puts somewhere itself.
fn release_old_uplinks(
    current: &KernelState,
    intent: &Intent,
    deleted: &BTreeSet<&str>,
    plan: &mut Plan,
) {
    for n in intent.networks.iter().filter(|n| !n.absent && n.bridged) {
        let Some(old) = n.previous.as_ref().and_then(|p| p.uplink.as_deref()) else {
            continue;
        };
        let Some(cur) = current.links.get(old) else {
            continue;
        };
        let placed = intent
            .links
            .get(old)
            .is_some_and(|l| l.controller.is_some() || l.state == IfaceState::Absent);
        let bridge = super::vlan_aware_uplinks::old_bridge(n);
        if n.uplink.as_deref() == Some(old)
            || cur.controller.as_deref() != Some(bridge)
            || placed
            || deleted.contains(old)
            || deleted.contains(bridge)
            || super::vlan_aware_uplinks::still_used(intent, bridge, old)
        {
            continue;
        }
        plan.push(
            Phase::ReleasePorts,
            Op::ChangeLink {
                name: old.to_string(),
                change: LinkChange {
                    controller: Some(None),
                    ..LinkChange::default()
                },
            },
        );
    }
}

#[path = "links_addresses.rs"]
mod addresses;
pub(super) use addresses::plan_addresses;
