//! Checks that need the host and the plan together: what the kernel would accept but
//! leave useless or half done, refused before anything changes (exit 2), and what a
//! removal could not find (a warning).

use std::collections::BTreeSet;

use super::{Plan, PlanError};
use crate::expand::{Intent, KindIntent, NetworkIntent};
use crate::model::IfaceState;
use crate::netdev::{KernelState, LinkKind, Op};

/// The links the plan deletes, with what the kernel deletes with them (a veth's peer, the
/// devices stacked on a deleted base).
fn deleted_links<'a>(current: &'a KernelState, plan: &'a Plan) -> BTreeSet<&'a str> {
    let mut gone: BTreeSet<&str> = plan
        .ops()
        .filter_map(|op| match op {
            Op::DeleteLink { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    for name in gone.clone() {
        if let Some(LinkKind::Veth { peer: Some(p) }) = current.links.get(name).map(|l| &l.kind) {
            gone.insert(p);
        }
    }
    // Stacks are shallow (VLAN on a bond on a NIC); a few rounds reach the top.
    for _ in 0..3 {
        for l in current.links.values() {
            if l.kind.base().is_some_and(|b| gone.contains(b)) {
                gone.insert(&l.name);
            }
        }
    }
    for op in plan.ops() {
        if let Op::CreateLink(l) = op {
            gone.remove(l.name.as_str());
        }
    }
    gone
}

/// Whether device `name` exists once the plan has run: the file keeps or creates it (a
/// veth's peer and Open vSwitch bridges and internal ports included), or it is there and
/// the plan does not delete it.
fn exists_after(current: &KernelState, intent: &Intent, gone: &BTreeSet<&str>, name: &str) -> bool {
    match intent.links.get(name) {
        Some(li) if li.state == IfaceState::Absent => false,
        Some(_) => true,
        None => {
            (current.links.contains_key(name) && !gone.contains(name))
                || intent.links.values().any(|o| {
                    o.state != IfaceState::Absent
                        && matches!(&o.kind, Some(KindIntent::Veth { peer: Some(p) }) if p == name)
                })
                || intent.ovs.bridges.iter().any(|(b, bi)| {
                    !bi.absent
                        && (b == name
                            || bi
                                .ports
                                .iter()
                                .flat_map(|p| p.iter())
                                .chain(bi.add_ports.iter())
                                .any(|(p, pi)| p == name && pi.internal))
                })
        }
    }
}

/// Refuses what the kernel would take but leave useless: a masquerade or floating IP on an
/// interface that will not exist, a gateway behind a bridge without ports, a route
/// through a device the plan deletes.
pub(super) fn check(
    current: &KernelState,
    intent: &Intent,
    plan: &Plan,
    errors: &mut Vec<PlanError>,
) {
    let gone = deleted_links(current, plan);
    let exists = |name: &str| exists_after(current, intent, &gone, name);
    for (name, spec) in &intent.firewall.networks {
        let Some(spec) = spec else { continue };
        let origin = intent
            .firewall
            .origins
            .get(name)
            .map_or("networks", String::as_str);
        if let Some(out) = spec.masquerade.as_deref().filter(|o| !exists(o)) {
            errors.push(PlanError {
                path: format!("{origin}.firewall.masquerade.out-interface"),
                message: format!(
                    "{out} does not exist and the file does not create it: nothing would be masqueraded"
                ),
            });
        }
        for f in spec.floating.iter().filter(|f| !exists(&f.interface)) {
            errors.push(PlanError {
                path: format!("{origin}.firewall.floating-ips"),
                message: format!(
                    "interface {} of floating IP {} does not exist and the file does not create it",
                    f.interface, f.external
                ),
            });
        }
    }
    for n in intent.networks.iter().filter(|n| !n.absent && n.bridged) {
        if let Some(e) = unreachable_gateway(current, intent, plan, &gone, n) {
            errors.push(e);
        }
    }
    ipv6_disabled(current, intent, plan, &gone, errors);
    super::ipvlan_base::check(current, intent, plan, &gone, errors);
    let addresses = addresses_after(current, plan, &gone);
    for ri in &intent.routes {
        if let (None, Some(gw)) = (&ri.route.dev, ri.route.gateway) {
            let reaches = |a: &crate::netdev::Address| a.addr.contains(&gw);
            if current.addresses.iter().any(reaches) && !addresses.iter().any(|a| reaches(a)) {
                errors.push(PlanError {
                    path: format!("{}.next-hop-address", ri.origin),
                    message: format!(
                        "{gw} is reached only through addresses or devices this file removes"
                    ),
                });
            }
        }
        if let Some(dev) = ri.route.dev.as_deref().filter(|d| !exists(d)) {
            errors.push(PlanError {
                path: format!("{}.next-hop-interface", ri.origin),
                message: if current.links.contains_key(dev) {
                    format!("{dev} is removed by this file (or with a device it removes)")
                } else {
                    format!("{dev} does not exist and the file does not create it")
                },
            });
        }
    }
}

/// Refuses IPv6 addresses on a link whose IPv6 is disabled (`disable_ipv6=1`) when the
/// plan does not enable it: the kernel would refuse them (EACCES) half-way through.
fn ipv6_disabled(
    current: &KernelState,
    intent: &Intent,
    plan: &Plan,
    gone: &BTreeSet<&str>,
    errors: &mut Vec<PlanError>,
) {
    let key = |dev: &str| format!("net.ipv6.conf.{dev}.disable_ipv6");
    let enabled_by_plan = |dev: &str| {
        plan.ops().any(|op| {
            matches!(op, Op::Firewall(fw) if matches!(&**fw,
                crate::firewall::FwOp::Sysctl { key: k, to, .. } if *k == key(dev) && to == "0"))
        })
    };
    let mut refused: BTreeSet<&str> = BTreeSet::new();
    for op in plan.ops() {
        let Op::AddAddress(a) = op else { continue };
        let dev = a.ifname.as_str();
        // A link the plan deletes and makes again starts with the `default` value.
        if !a.addr.addr().is_ipv6()
            || !current.ipv6_disabled.contains(dev)
            || gone.contains(dev)
            || enabled_by_plan(dev)
            || !refused.insert(dev)
        {
            continue;
        }
        let origin = intent
            .links
            .get(dev)
            .map_or("interfaces", |li| li.origin.as_str());
        errors.push(PlanError {
            path: format!("{origin}.ipv6.address"),
            message: format!(
                "IPv6 is disabled on {dev} ({} = 1): the kernel refuses IPv6 addresses there; \
                 enable it first (sysctl -w {}=0) or give {dev} no IPv6 address",
                key(dev),
                key(dev)
            ),
        });
    }
}

/// The addresses once the plan has run.
fn addresses_after<'a>(
    current: &'a KernelState,
    plan: &'a Plan,
    gone: &BTreeSet<&str>,
) -> Vec<&'a crate::netdev::Address> {
    let deleted: BTreeSet<&crate::netdev::Address> = plan
        .ops()
        .filter_map(|op| match op {
            Op::DeleteAddress(a) => Some(a),
            _ => None,
        })
        .collect();
    let added = plan.ops().filter_map(|op| match op {
        Op::AddAddress(a) => Some(a),
        _ => None,
    });
    current
        .addresses
        .iter()
        .filter(|a| !deleted.contains(a) && !gone.contains(a.ifname.as_str()))
        .chain(added)
        .collect()
}

/// A bridged network with a gateway but no uplink, whose bridge will have no port: the
/// gateway cannot be reached, although the kernel takes the routes.
fn unreachable_gateway(
    current: &KernelState,
    intent: &Intent,
    plan: &Plan,
    gone: &BTreeSet<&str>,
    n: &NetworkIntent,
) -> Option<PlanError> {
    if n.uplink.is_some() {
        return None;
    }
    let gateway = n.routes.iter().find_map(|r| r.gateway)?;
    // A VLAN-aware network's device is a VLAN device: the ports are its bridge's.
    let bridge = n.vlan_aware.as_ref().map_or(&n.device, |v| &v.bridge);
    let released: BTreeSet<&str> = plan
        .ops()
        .filter_map(|op| match op {
            Op::ChangeLink { name, change } if change.controller == Some(None) => {
                Some(name.as_str())
            }
            _ => None,
        })
        .collect();
    let port_now = current.links.values().any(|l| {
        l.controller.as_ref() == Some(bridge)
            && !gone.contains(l.name.as_str())
            && !released.contains(l.name.as_str())
            && intent.links.get(&l.name).is_none_or(|li| {
                li.state != IfaceState::Absent && li.controller.as_ref().is_none_or(|c| c == bridge)
            })
    });
    let port_planned = intent
        .links
        .values()
        .any(|li| li.state != IfaceState::Absent && li.controller.as_ref() == Some(bridge));
    (!port_now && !port_planned).then(|| PlanError {
        path: format!("{}.uplink", n.origin),
        message: format!(
            "network {} has gateway {gateway}, but its bridge {} has no port through which to reach it; give the network an uplink",
            n.name, bridge
        ),
    })
}

/// Networks to remove that neither the record nor their name finds: said, not silently
/// skipped.
pub(super) fn unfound_removals(current: &KernelState, intent: &Intent) -> Vec<String> {
    intent
        .networks
        .iter()
        .filter(|n| n.absent && !n.recorded && !current.links.contains_key(&n.device))
        .map(|n| {
            let table = n
                .table
                .map(|t| format!("hostnet's routes and rules in table {t}, "))
                .unwrap_or_default();
            format!(
                "{} ({}): there is no device {}, and hostnet has no record of this network here \
                 (it was removed already, or applied by an older hostnet): only what its name \
                 still finds is removed ({table}its firewall rules and DHCP server). If its \
                 bridge had another name, give it (bridge: NAME) with its uplink and table.",
                n.origin, n.name, n.device
            )
        })
        .collect()
}
