//! What the file says of kernel objects directly: `interfaces`, `routes` and
//! `route-rules`.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::{
    devices, Intent, KindIntent, LinkIntent, Ports, RouteIntent, RouteMatch, RuleIntent, RuleMatch,
    IPV6_DEFAULT_METRIC,
};
use crate::model::*;
use crate::netdev::{
    Family, NextHop, Route, RouteAttrs, RouteKind, RouteScope, Rule, RuleAction, PROTO_STATIC,
    TABLE_MAIN,
};

pub(super) fn expand_interfaces(d: &Desired, intent: &mut Intent) {
    // Controllers come from the bridges' port lists, and with them the ports' settings.
    let mut controller: BTreeMap<&str, &str> = BTreeMap::new();
    let mut port_settings: BTreeMap<&str, crate::netdev::PortChange> = BTreeMap::new();
    let mut port_vlans: BTreeMap<&str, super::PortVlans> = BTreeMap::new();
    let mut filtering: Vec<&str> = Vec::new();
    for (i, iface) in d.interfaces.iter().enumerate() {
        if iface.state == Some(IfaceState::Absent)
            || iface.iface_type == Some(InterfaceType::OvsBridge)
        {
            continue;
        }
        let linux = iface.iface_type == Some(InterfaceType::LinuxBridge);
        for (j, p) in iface
            .bridge
            .iter()
            .flat_map(|b| b.port.iter().flatten())
            .enumerate()
        {
            controller.insert(&p.name, &iface.name);
            let settings = crate::model::bridge::port_change(p);
            if linux && !settings.is_empty() {
                port_settings.insert(&p.name, settings);
            }
            if let Some(v) = p.vlan.as_ref().filter(|_| linux) {
                if crate::model::bridge_vlans::filters(v) {
                    filtering.push(&iface.name);
                }
                port_vlans.insert(
                    &p.name,
                    super::PortVlans {
                        origin: format!("interfaces[{i}].bridge.port[{j}].vlan"),
                        want: crate::model::bridge_vlans::wanted(v),
                    },
                );
            }
        }
        for p in devices::bond_ports(iface).into_iter().flatten() {
            controller.insert(p, &iface.name);
        }
    }
    for (port, ctl) in own_controllers(d) {
        controller.entry(port).or_insert(ctl);
    }
    for (i, iface) in d.interfaces.iter().enumerate() {
        let state = iface.state.unwrap_or(IfaceState::Up);
        // An Open vSwitch patch port has no network device: only OVSDB has it.
        let patch = iface.patch.is_some() && state != IfaceState::Absent;
        if state == IfaceState::Ignore || patch {
            continue;
        }
        let kind = iface.iface_type.map(|t| match t {
            InterfaceType::LinuxBridge => KindIntent::Bridge,
            InterfaceType::Veth => KindIntent::Veth {
                peer: iface.veth.as_ref().map(|v| v.peer.clone()),
            },
            // nmstate's veth is an ethernet with a veth section.
            InterfaceType::Ethernet => match &iface.veth {
                Some(v) => KindIntent::Veth {
                    peer: Some(v.peer.clone()),
                },
                None => KindIntent::Ethernet,
            },
            InterfaceType::Loopback => KindIntent::Loopback,
            _ => devices::kind_of(iface).unwrap_or(KindIntent::Ethernet),
        });
        let addrs = |spec: &Option<IpSpec>| -> Option<Vec<IpNet>> {
            let spec = spec.as_ref()?;
            if spec.enabled == Some(false) {
                return Some(vec![]);
            }
            let list = spec.address.as_ref()?;
            let mut v: Vec<IpNet> = list
                .iter()
                .filter_map(|a| IpNet::new(a.ip, a.prefix_length).ok())
                .collect();
            v.sort();
            v.dedup();
            Some(v)
        };
        intent.links.insert(
            iface.name.clone(),
            LinkIntent {
                origin: format!("interfaces[{i}]"),
                kind,
                state,
                mtu: iface.mtu,
                mac: iface.mac_address,
                stp: iface
                    .bridge
                    .as_ref()
                    .and_then(|b| b.options.as_ref())
                    .and_then(|o| o.stp.as_ref())
                    .and_then(|s| s.enabled),
                bridge: iface
                    .bridge
                    .as_ref()
                    .and_then(|b| b.options.as_ref())
                    .filter(|_| iface.iface_type == Some(InterfaceType::LinuxBridge))
                    .map(|o| crate::netdev::BridgeChange {
                        stp: None,
                        ..crate::model::bridge::options_change(o)
                    })
                    .or_else(|| Some(Default::default()))
                    .map(|c| crate::netdev::BridgeChange {
                        // nmstate's rule: on as soon as a port has a VLAN section.
                        vlan_filtering: filtering.contains(&iface.name.as_str()).then_some(true),
                        ..c
                    })
                    .filter(|c| !c.is_empty()),
                port: port_settings.get(iface.name.as_str()).cloned(),
                vlans: port_vlans.get(iface.name.as_str()).cloned(),
                ports: iface
                    .bridge
                    .as_ref()
                    .filter(|_| iface.iface_type != Some(InterfaceType::OvsBridge))
                    .and_then(|b| b.port.as_ref())
                    .map(|ps| {
                        let names = ps.iter().map(|p| p.name.clone()).collect();
                        match extra_ports_kept(iface) {
                            true => Ports::AtLeast(names),
                            false => Ports::Exact(names),
                        }
                    })
                    .or_else(|| devices::bond_ports(iface).map(|ps| Ports::Exact(ps.to_vec()))),
                controller: controller.get(iface.name.as_str()).map(|c| c.to_string()),
                ipv4: addrs(&iface.ipv4),
                ipv6: addrs(&iface.ipv6),
                base: super::BaseKeys {
                    description: iface.description.clone(),
                    promisc: iface.accept_all_mac_addresses,
                    ipv6_enabled: iface.ipv6.as_ref().and_then(|s| s.enabled),
                    autoconf: iface.ipv6.as_ref().and_then(|s| s.autoconf),
                    bond_port: None,
                    detach: iface.controller.as_deref() == Some(""),
                    copy_mac_from: iface.copy_mac_from.clone(),
                    alt_names: iface
                        .alt_names
                        .iter()
                        .flatten()
                        .map(|a| (a.name.clone(), a.present()))
                        .collect(),
                    inet6: iface
                        .ipv6
                        .as_ref()
                        .map(|s| crate::netdev::inet6::Inet6Change {
                            addr_gen_mode: s.addr_gen_mode.map(AddrGenMode::kernel),
                            token: s.token,
                        })
                        .filter(|c| !c.is_empty()),
                },
            },
        );
    }
    // Ports the file lists but does not declare: they must exist (or be created as a
    // veth's peer) and are brought up in their bridge.
    for (port, bridge) in controller {
        if intent.links.contains_key(port) {
            continue;
        }
        let origin = d
            .interfaces
            .iter()
            .position(|i| i.name == bridge)
            .map(|i| match d.interfaces[i].iface_type {
                Some(InterfaceType::Bond) => format!("interfaces[{i}].link-aggregation.port"),
                Some(InterfaceType::Vrf) => format!("interfaces[{i}].vrf.port"),
                _ => format!("interfaces[{i}].bridge.port"),
            })
            .unwrap_or_default();
        intent.links.insert(
            port.to_string(),
            LinkIntent {
                controller: Some(bridge.to_string()),
                port: port_settings.get(port).cloned(),
                vlans: port_vlans.get(port).cloned(),
                ..LinkIntent::named(origin, IfaceState::Up)
            },
        );
    }
    // A bond's `ports-config` goes with each port's intent.
    for iface in d
        .interfaces
        .iter()
        .filter(|i| i.state != Some(IfaceState::Absent))
    {
        let configs = iface
            .link_aggregation
            .iter()
            .flat_map(|l| l.ports_config.iter().flatten());
        for pc in configs {
            if let Some(li) = intent.links.get_mut(&pc.name) {
                li.base.bond_port = Some(crate::netdev::BondPortChange {
                    queue_id: pc.queue_id,
                    prio: pc.priority,
                })
                .filter(|c| !c.is_empty());
            }
        }
    }
}

/// `bridge.options.allow-extra-ports`: the port list names the ports the bridge must
/// have, not all it may have.
fn extra_ports_kept(iface: &InterfaceSpec) -> bool {
    iface
        .bridge
        .as_ref()
        .and_then(|b| b.options.as_ref())
        .and_then(|o| o.allow_extra_ports)
        == Some(true)
}

/// Interfaces that name their own `controller` (nmstate's other way to say what a port
/// list says; validation refused contradictions). An Open vSwitch bridge's ports are its
/// list's.
fn own_controllers(d: &Desired) -> Vec<(&str, &str)> {
    let ovs = |c: &str| {
        d.interfaces
            .iter()
            .any(|i| i.name == c && i.iface_type == Some(InterfaceType::OvsBridge))
    };
    d.interfaces
        .iter()
        .filter(|i| !matches!(i.state, Some(IfaceState::Absent | IfaceState::Ignore)))
        .filter_map(|i| Some((i.name.as_str(), i.controller.as_deref()?)))
        .filter(|(_, c)| !c.is_empty() && !ovs(c))
        .collect()
}

pub(super) fn expand_routes(d: &Desired, intent: &mut Intent) {
    use crate::model::routes;
    let Some(config) = d.routes.as_ref().map(|r| &r.config) else {
        return;
    };
    // Entries with a weight that share the kernel's key are one multipath route, made
    // where the first of them is.
    let mut multipath: BTreeMap<routes::GroupKey, Vec<usize>> = BTreeMap::new();
    for (i, r) in config.iter().enumerate() {
        if r.state.is_none() && r.weight.is_some() {
            multipath.entry(routes::group_key(r)).or_default().push(i);
        }
    }
    for (i, r) in config.iter().enumerate() {
        let origin = format!("routes.config[{i}]");
        if r.state == Some(EntryState::Ignore) {
            continue;
        }
        if let Some(vrf) = &r.vrf_name {
            intent.route_vrfs.insert(origin.clone(), vrf.clone());
        }
        if r.state == Some(EntryState::Absent) {
            intent.route_removals.push(RouteMatch {
                origin,
                destination: r.destination.map(|p| p.0),
                gateway: r.next_hop_address,
                dev: r.next_hop_interface.clone(),
                table: r.table_id.map(|_| routes::table_of(r)),
                metric: r.metric,
            });
            continue;
        }
        let Some(dst) = r.destination else { continue };
        let hops = multipath
            .get(&routes::group_key(r))
            .filter(|_| r.weight.is_some());
        if hops.is_some_and(|h| h.first() != Some(&i)) {
            continue;
        }
        let v6 = dst.0.addr().is_ipv6();
        let kind = r.route_type.unwrap_or_default();
        let typed = kind != RouteKind::Unicast;
        let mut nexthops: Vec<NextHop> = hops
            .into_iter()
            .flatten()
            .map(|j| NextHop {
                gateway: config[*j].next_hop_address.filter(|g| !g.is_unspecified()),
                dev: config[*j].next_hop_interface.clone(),
                weight: config[*j]
                    .weight
                    .and_then(|w| u16::try_from(w).ok())
                    .unwrap_or(1),
                onlink: config[*j].onlink == Some(true),
            })
            .collect();
        nexthops.sort();
        let single = nexthops.is_empty() && !typed;
        intent.routes.push(RouteIntent {
            origin,
            route: Route {
                table: routes::table_of(r),
                destination: dst.0,
                gateway: r.next_hop_address.filter(|g| !g.is_unspecified() && single),
                dev: r.next_hop_interface.clone().filter(|_| single),
                // The kernel stores an IPv6 metric of 0 (or none) as 1024.
                metric: match r.metric {
                    Some(0) | None if v6 => Some(IPV6_DEFAULT_METRIC),
                    m => m,
                },
                scope: if single && r.next_hop_address.is_none() && !v6 {
                    RouteScope::Link
                } else {
                    RouteScope::Universe
                },
                src: r.source,
                protocol: PROTO_STATIC,
                attrs: RouteAttrs {
                    kind,
                    onlink: r.onlink == Some(true) && single,
                    metrics: routes::metrics(r),
                    nexthops,
                },
            },
        });
    }
}

pub(super) fn expand_rules(d: &Desired, intent: &mut Intent) {
    let Some(rules) = &d.route_rules else { return };
    for (i, r) in rules.config.iter().enumerate() {
        let origin = format!("route-rules.config[{i}]");
        if r.state == Some(EntryState::Ignore) {
            continue;
        }
        let family = r.family.or_else(|| {
            r.ip_from.or(r.ip_to).map(|p| {
                if p.0.addr().is_ipv4() {
                    Family::Ipv4
                } else {
                    Family::Ipv6
                }
            })
        });
        if r.state == Some(EntryState::Absent) {
            intent.rule_removals.push(RuleMatch {
                origin,
                family,
                priority: r.priority,
                from: r.ip_from.map(|p| p.0),
                to: r.ip_to.map(|p| p.0),
                iif: r.iif.clone(),
                fwmark: r.fwmark.map(|m| m.0),
                fwmask: r.fwmask.map(|m| m.0),
                table: r.route_table,
                action: r.action.map(|a| a.action()),
                oif: r.oif.clone(),
                suppress_prefixlength: r.suppress_prefix_length,
            });
            continue;
        }
        let (Some(family), Some(priority)) = (family, r.priority) else {
            continue;
        };
        // A lookup without route-table looks up main (nmstate's rule); an action none.
        let (action, table) = match r.action {
            Some(a) => (a.action(), 0),
            None => (RuleAction::Lookup, r.route_table.unwrap_or(TABLE_MAIN)),
        };
        intent.rules.push(RuleIntent {
            origin,
            rule: Rule {
                from: r.ip_from.map(|p| p.0),
                to: r.ip_to.map(|p| p.0),
                iif: r.iif.clone(),
                oif: r.oif.clone(),
                fwmark: r.fwmark.map(|m| m.0),
                // The kernel reports a full mask for a mark given without one.
                fwmask: r.fwmark.map(|_| r.fwmask.map_or(u32::MAX, |m| m.0)),
                action,
                suppress_prefixlength: r.suppress_prefix_length,
                ..Rule::lookup(family, priority, table, PROTO_STATIC)
            },
        });
    }
}
