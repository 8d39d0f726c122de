//! The current state in the input schema, so that `hostnet apply` of `hostnet show`'s
//! output changes nothing.
//!
//! What hostnet owns for logical networks (routes and rules tagged [`HOSTNET_PROTO`]) is
//! left out of `routes`/`route-rules`: it is the networks' business, and listing it as
//! user routes would make a re-apply take it over. Kernel-made routes and rules (protocol
//! kernel, router advertisements, redirects) are left out for the same reason. Devices of
//! kinds the schema has no type for are listed in [`Shown::skipped`].

use std::collections::BTreeMap;

use crate::model::*;
use crate::netdev::{KernelState, LinkKind, RuleAction, HOSTNET_PROTO, PROTO_KERNEL};

/// A bond's `ports-config`: each port's queue ID, and its priority in the modes that
/// use one (nmstate's `show` lists every port).
fn bond_ports_config(
    state: &KernelState,
    kind: &LinkKind,
    ports: &[String],
) -> Option<Vec<crate::model::BondPortSpec>> {
    use crate::netdev::BondMode;
    let LinkKind::Bond(b) = kind else { return None };
    let with_priority = matches!(
        b.mode,
        BondMode::ActiveBackup | BondMode::BalanceTlb | BondMode::BalanceAlb
    );
    let list: Vec<crate::model::BondPortSpec> = ports
        .iter()
        .filter_map(|p| {
            let o = state.bond_ports.get(p)?;
            Some(crate::model::BondPortSpec {
                name: p.clone(),
                priority: with_priority.then_some(o.prio),
                queue_id: Some(o.queue_id),
            })
        })
        .collect();
    (!list.is_empty()).then_some(list)
}

/// The `ipv6` section of `name` with its IPv6 switches: `enabled: false` when
/// `disable_ipv6` is on, `autoconf: false` when SLAAC is off (nmstate's default is on).
fn ipv6_switches(state: &KernelState, name: &str, spec: Option<IpSpec>) -> Option<IpSpec> {
    let Some(on) = state.ipv6_switches(name) else {
        return spec;
    };
    if on.disabled {
        return Some(IpSpec {
            enabled: Some(false),
            ..IpSpec::default()
        });
    }
    if on.autoconf {
        return spec;
    }
    let mut spec = spec.unwrap_or(IpSpec {
        enabled: Some(true),
        ..IpSpec::default()
    });
    spec.autoconf = Some(false);
    Some(spec)
}

/// `addr-gen-mode` when it is `stable-privacy` (eui64 is the kernel's default; `none`,
/// which hostnet gives bridge ports, and `random` have no nmstate name) and `token` when
/// one is set.
fn inet6_keys(state: &KernelState, name: &str, spec: Option<IpSpec>) -> Option<IpSpec> {
    let Some(i) = state.inet6.get(name) else {
        return spec;
    };
    let mode = (i.addr_gen_mode == crate::netdev::inet6::STABLE_PRIVACY)
        .then_some(crate::model::AddrGenMode::StablePrivacy);
    if mode.is_none() && i.token.is_none() {
        return spec;
    }
    let mut spec = spec.unwrap_or(IpSpec {
        enabled: Some(true),
        ..IpSpec::default()
    });
    if spec.enabled == Some(false) {
        return Some(spec);
    }
    spec.addr_gen_mode = mode;
    spec.token = i.token;
    Some(spec)
}

/// Route protocols that the kernel or autoconfiguration make, not a configuration.
const PROTO_REDIRECT: u8 = 1;
const PROTO_RA: u8 = 9;

/// The state as a document, plus what could not be expressed in it.
pub struct Shown {
    pub document: Desired,
    /// What was left out, one line each: devices of other kinds, routes and rules with
    /// attributes the schema cannot express.
    pub skipped: Vec<String>,
}

/// Renders `state` in the input schema.
pub fn show(state: &KernelState) -> Shown {
    let mut skipped = Vec::new();
    let mut ports: BTreeMap<&str, Vec<PortSpec>> = BTreeMap::new();
    for l in state.links.values() {
        if let Some(c) = &l.controller {
            // A Linux bridge's ports with their settings in it (nmstate's keys), and
            // their VLANs where the bridge filters by them (nmstate's rule).
            let port = state.bridge_ports.get(&l.name);
            let mut spec = crate::model::bridge::show_port(&l.name, port);
            if let Some(LinkKind::Bridge(o)) = state.links.get(c).map(|b| &b.kind) {
                let set = state.bridge_vlans.get(&l.name).cloned().unwrap_or_default();
                match crate::model::bridge_vlans::show(&set, o.vlan_default_pvid) {
                    Ok(v) if o.vlan_filtering => spec.vlan = v,
                    Ok(_) => {}
                    Err(_) if o.vlan_filtering => skipped.push(format!(
                        "{}: VLANs {} (no bridge.port vlan section says them)",
                        l.name,
                        crate::netdev::fmt_vlans(&set)
                    )),
                    Err(_) => {}
                }
            }
            ports.entry(c.as_str()).or_default().push(spec);
        }
    }
    // Each link's addresses through an index: filtering every address per link was
    // quadratic (links × addresses) at thousands of networks.
    let mut by_link: BTreeMap<&str, Vec<&crate::netdev::Address>> = BTreeMap::new();
    for a in &state.addresses {
        by_link.entry(a.ifname.as_str()).or_default().push(a);
    }
    let mut interfaces = Vec::new();
    for l in state.links.values() {
        let iface_type = match &l.kind {
            LinkKind::Bridge(_) => InterfaceType::LinuxBridge,
            LinkKind::Veth { .. } => InterfaceType::Veth,
            LinkKind::Ethernet => InterfaceType::Ethernet,
            LinkKind::Loopback => InterfaceType::Loopback,
            LinkKind::Dummy => InterfaceType::Dummy,
            LinkKind::Other(k) => {
                skipped.push(format!("{} ({k})", l.name));
                continue;
            }
            // Tap tun devices in tun mode are `Other`.
            _ => InterfaceType::Tap,
        };
        let addrs = |v4: bool| -> Option<IpSpec> {
            let list: Vec<AddressSpec> = by_link
                .get(l.name.as_str())
                .into_iter()
                .flatten()
                .filter(|a| a.addr.addr().is_ipv4() == v4 && !a.dynamic)
                .map(|a| AddressSpec {
                    ip: a.addr.addr(),
                    prefix_length: a.addr.prefix_len(),
                })
                .collect();
            (!list.is_empty()).then_some(IpSpec {
                enabled: Some(true),
                address: Some(list),
                dhcp: None,
                autoconf: None,
                addr_gen_mode: None,
                token: None,
            })
        };
        let mut iface = InterfaceSpec {
            name: l.name.clone(),
            iface_type: Some(iface_type),
            state: Some(if l.up {
                IfaceState::Up
            } else {
                IfaceState::Down
            }),
            mtu: Some(l.mtu),
            // A bridge whose last port left has the zero address (kernel 6.1 and 6.18),
            // which no device can be given: left out, so that the output applies back.
            mac_address: if matches!(l.kind, LinkKind::Loopback) {
                None
            } else {
                l.mac.filter(|m| m.0 != [0; 6])
            },
            description: state.aliases.get(&l.name).cloned(),
            accept_all_mac_addresses: state.promisc.contains(&l.name).then_some(true),
            // Its controller's port list says it; the MAC is printed as it is.
            controller: None,
            copy_mac_from: None,
            alt_names: state.alt_names.get(&l.name).map(|names| {
                let spec = |n: &String| crate::model::AltNameSpec {
                    name: n.clone(),
                    state: None,
                };
                names.iter().map(spec).collect()
            }),
            ipv4: addrs(true),
            ipv6: inet6_keys(state, &l.name, ipv6_switches(state, &l.name, addrs(false))),
            bridge: match &l.kind {
                LinkKind::Bridge(o) => Some(BridgeSpec {
                    options: Some(crate::model::bridge::show_options(
                        o,
                        !state.no_bridge_vlans,
                    )),
                    port: Some(ports.remove(l.name.as_str()).unwrap_or_default()),
                }),
                _ => None,
            },
            veth: match &l.kind {
                LinkKind::Veth { peer: Some(p) } => Some(VethSpec { peer: p.clone() }),
                _ => None,
            },
            vlan: None,
            link_aggregation: None,
            vxlan: None,
            mac_vlan: None,
            mac_vtap: None,
            tap: None,
            ipvlan: None,
            vrf: None,
            ovs_db: None,
            patch: None,
        };
        if let Some(t) = show_kind(&l.kind, &mut iface) {
            iface.iface_type = Some(t);
            if let Some(la) = iface.link_aggregation.as_mut() {
                let names: Vec<String> = ports
                    .remove(l.name.as_str())
                    .unwrap_or_default()
                    .into_iter()
                    .map(|p| p.name)
                    .collect();
                la.ports_config = bond_ports_config(state, &l.kind, &names);
                la.port = Some(names);
            }
            if let Some(v) = iface.vrf.as_mut() {
                let names = ports.remove(l.name.as_str()).unwrap_or_default();
                v.port = Some(names.into_iter().map(|p| p.name).collect());
            }
        }
        interfaces.push(iface);
    }
    show_ovs::annotate(state, &mut interfaces);
    let mut routes: Vec<RouteSpec> = state
        .routes
        .iter()
        .filter(|r| ![HOSTNET_PROTO, PROTO_KERNEL, PROTO_REDIRECT, PROTO_RA].contains(&r.protocol))
        .flat_map(crate::model::routes::show)
        .collect();
    crate::model::vrf::name_routes(state, &mut routes);
    let foreign = || {
        state
            .rules
            .iter()
            .filter(|r| r.protocol != HOSTNET_PROTO && r.protocol != PROTO_KERNEL)
    };
    let rules: Vec<RuleSpec> = foreign()
        .filter(|r| r.is_sayable())
        .map(|r| RuleSpec {
            ip_from: r.from.map(Prefix),
            ip_to: r.to.map(Prefix),
            priority: Some(r.priority),
            route_table: (r.action == RuleAction::Lookup).then_some(r.table),
            iif: r.iif.clone(),
            oif: r.oif.clone(),
            fwmark: r.fwmark.map(HexU32),
            fwmask: r.fwmark.and(r.fwmask).map(HexU32),
            family: Some(r.family),
            state: None,
            action: RuleActionSpec::of(r.action),
            suppress_prefix_length: r.suppress_prefixlength,
        })
        .collect();
    // Addresses with a lifetime are kept by the kernel (router advertisements) or a DHCP
    // client, not configured: applying them back would make them permanent.
    for a in state.addresses.iter().filter(|a| a.dynamic) {
        skipped.push(format!(
            "address {} dev {} (dynamic: from router advertisements or a DHCP client, which keep it)",
            a.addr, a.ifname
        ));
    }
    for r in &state.opaque_routes {
        skipped.push(format!("{r} (and attributes hostnet does not manage)"));
    }
    // `route-rules` has no keys for `not`, goto or nop.
    for r in foreign().filter(|r| !r.is_sayable()) {
        skipped.push(format!("{r} (route-rules cannot say this)"));
    }
    for r in &state.opaque_rules {
        skipped.push(format!("{r} (and selectors hostnet does not manage)"));
    }
    Shown {
        document: Desired {
            interfaces,
            routes: (!routes.is_empty()).then_some(RoutesSpec { config: routes }),
            route_rules: (!rules.is_empty()).then_some(RulesSpec { config: rules }),
            networks: Vec::new(),
            settings: None,
            firewall: None,
            ovs_db: show_ovs::global_db(&state.ovs),
            ovn: show_ovs::ovn(&state.ovs),
            ignored: Vec::new(),
        },
        skipped,
    }
}

/// The source routing in force for one DHCP network.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DhcpStatus {
    pub network: String,
    pub device: String,
    pub table: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4: Option<FamilyStatus>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<FamilyStatus>,
}

/// A DHCP family's lease as hostnet's table has it (`address` is `None` without a lease).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FamilyStatus {
    pub address: Option<ipnet::IpNet>,
    pub router: Option<std::net::IpAddr>,
}

/// What each DHCP network last applied here has in force now, read from its table.
pub fn dhcp_status(
    state: &KernelState,
    applied: &crate::engine::applied::Applied,
) -> Vec<DhcpStatus> {
    use crate::netdev::Family;
    applied
        .dhcp_networks
        .iter()
        .map(|n| {
            let family = |f: Family| {
                n.has(f).then(|| {
                    let ours = state.routes.iter().filter(|r| {
                        r.protocol == HOSTNET_PROTO
                            && r.table == n.table
                            && Family::of(&r.destination.addr()) == f
                    });
                    let mut address = None;
                    let mut router = None;
                    for r in ours {
                        match (r.gateway, r.src) {
                            (Some(g), _) => router = Some(g),
                            (None, Some(src)) => {
                                address = ipnet::IpNet::new(src, r.destination.prefix_len()).ok()
                            }
                            (None, None) => {}
                        }
                    }
                    FamilyStatus { address, router }
                })
            };
            DhcpStatus {
                network: n.name.clone(),
                device: n.device.clone(),
                table: n.table,
                ipv4: family(Family::Ipv4),
                ipv6: family(Family::Ipv6),
            }
        })
        .collect()
}

impl std::fmt::Display for DhcpStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (device {}, table {}):",
            self.network, self.device, self.table
        )?;
        for (name, fam) in [("ipv4", &self.ipv4), ("ipv6", &self.ipv6)] {
            let Some(fam) = fam else { continue };
            match (&fam.address, &fam.router) {
                (None, _) => write!(f, " {name} no lease;")?,
                (Some(a), Some(r)) => write!(f, " {name} {a} via {r};")?,
                (Some(a), None) => write!(f, " {name} {a}, no router;")?,
            }
        }
        Ok(())
    }
}

#[path = "show_ovs.rs"]
mod show_ovs;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::{Family, Rule, PROTO_STATIC, TABLE_MAIN};

    #[test]
    fn rules_route_rules_cannot_say_are_listed_as_not_shown_and_actions_are_shown() {
        let mut s = KernelState::default();
        let plain = Rule {
            from: Some("10.0.0.0/8".parse().expect("net")),
            ..Rule::lookup(Family::Ipv4, 100, 100, PROTO_STATIC)
        };
        let inverted = Rule {
            invert: true,
            ..plain.clone()
        };
        let prohibit = Rule {
            action: RuleAction::Prohibit,
            table: 0,
            ..Rule::lookup(Family::Ipv6, 101, 0, PROTO_STATIC)
        };
        // hostnet's block is the networks' business, as their rules are.
        let block = Rule {
            suppress_prefixlength: Some(0),
            ..Rule::lookup(Family::Ipv4, 3199, TABLE_MAIN, HOSTNET_PROTO)
        };
        let goto = Rule {
            action: RuleAction::Goto(200),
            table: 0,
            ..Rule::lookup(Family::Ipv4, 102, 0, PROTO_STATIC)
        };
        s.rules = vec![plain, inverted.clone(), prohibit, goto.clone(), block];
        let shown = show(&s);
        let rules = shown.document.route_rules.expect("rules").config;
        // A lookup and an action rule are nmstate's (issue 13); `not` and goto are not.
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].priority, Some(100));
        assert_eq!(rules[1].action, Some(RuleActionSpec::Prohibit));
        assert_eq!(rules[1].route_table, None);
        for r in [inverted, goto] {
            assert!(
                shown.skipped.iter().any(|l| l.starts_with(&r.to_string())),
                "{r} not in {:?}",
                shown.skipped
            );
        }
        assert_eq!(shown.skipped.len(), 2, "{:?}", shown.skipped);
    }
}
