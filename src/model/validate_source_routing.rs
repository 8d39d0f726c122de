//! Checks of source routing that depend on the file alone: a network's rule priority
//! leaves room for the block of rules around the networks' rules, no rule of the user's
//! sits inside the block the file's own networks need, and a static gateway is a host of
//! its subnet. The planner checks the block again against the host (rules of networks the
//! file does not name, DHCP leases, other tools' rules); what is checked here is what
//! every host would refuse, so that `validate` refuses it too.

use std::net::IpAddr;

use ipnet::IpNet;

use super::validate::{Errors, DEFAULT_RULE_PRIORITY};
use super::{Desired, EntryState, NetworkSpec, NetworkState};
use crate::netdev::Family;

/// Lowest priority a network's rules may have: the block needs two priorities below
/// it, above the local table's rule at 0.
pub const MIN_NETWORK_PRIORITY: u32 = 3;
/// Highest: the landing rule sits one above, below the main table's rule at 32766.
pub const MAX_NETWORK_PRIORITY: u32 = 32765;

/// Every problem, as (field, message).
pub(super) fn check(out: &mut Errors, d: &Desired) {
    let settings = d
        .settings
        .as_ref()
        .and_then(|s| s.source_routing.as_ref())
        .and_then(|s| s.priority);
    if let Some(p) = settings {
        priority_problem(out, "settings.source-routing.priority", p);
    }
    for (i, n) in d.networks.iter().enumerate() {
        if let Some(p) = n.source_routing.as_ref().and_then(|s| s.priority) {
            priority_problem(out, &format!("networks[{i}].source-routing.priority"), p);
        }
    }
    let default = settings.unwrap_or(DEFAULT_RULE_PRIORITY);
    for family in [Family::Ipv4, Family::Ipv6] {
        rules_inside_block(out, d, family, default);
    }
}

fn priority_problem(out: &mut Errors, path: &str, p: u32) {
    if !(MIN_NETWORK_PRIORITY..=MAX_NETWORK_PRIORITY).contains(&p) {
        out.push(
            path.to_string(),
            format!(
                "{p} leaves no room for the rules around the networks' rules (two priorities \
                 below, one above, before main's at 32766); use \
                 {MIN_NETWORK_PRIORITY}..={MAX_NETWORK_PRIORITY}"
            ),
        );
    }
}

/// The static subnets of `family` a network has `from` rules for, whatever the host: a
/// present network with source routing and a gateway of that family. (DHCP families get
/// theirs from a lease, which only the host knows.)
fn static_rule_subnets(n: &NetworkSpec, family: Family) -> Vec<IpNet> {
    let enabled = n.source_routing.as_ref().and_then(|s| s.enabled) != Some(false);
    let ip = match family {
        Family::Ipv4 => &n.ipv4,
        Family::Ipv6 => &n.ipv6,
    };
    match ip {
        Some(ip)
            if enabled
                && n.state != Some(NetworkState::Absent)
                && ip.dhcp != Some(true)
                && ip.gateway.is_some() =>
        {
            ip.address.iter().map(IpNet::trunc).collect()
        }
        _ => Vec::new(),
    }
}

/// Rules of `route-rules` between the block's goto (lowest network priority - 2) and its
/// last network rule: the planner refuses them on every host, since rules of networks
/// the file does not name can only widen the block.
fn rules_inside_block(out: &mut Errors, d: &Desired, family: Family, default: u32) {
    let range = MIN_NETWORK_PRIORITY..=MAX_NETWORK_PRIORITY;
    let nets: Vec<(usize, u32, Vec<IpNet>)> = d
        .networks
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let p = n
                .source_routing
                .as_ref()
                .and_then(|s| s.priority)
                .unwrap_or(default);
            (i, p, static_rule_subnets(n, family))
        })
        .filter(|(_, p, subnets)| !subnets.is_empty() && range.contains(p))
        .collect();
    let (Some(lo), Some(hi)) = (
        nets.iter().min_by_key(|(_, p, _)| *p),
        nets.iter().map(|(_, p, _)| *p).max(),
    ) else {
        return;
    };
    let (lowest, lo) = (lo.0, lo.1);
    let Some(rules) = &d.route_rules else { return };
    for (k, r) in rules.config.iter().enumerate() {
        if matches!(r.state, Some(EntryState::Absent | EntryState::Ignore)) {
            continue;
        }
        let fam = r.family.or_else(|| {
            r.ip_from.or(r.ip_to).map(|p| match p.0 {
                IpNet::V4(_) => Family::Ipv4,
                IpNet::V6(_) => Family::Ipv6,
            })
        });
        let Some(p) = r
            .priority
            .filter(|p| fam == Some(family) && (lo - 2..=hi).contains(p))
        else {
            continue;
        };
        // A plain `from S` lookup at a network's priority may be a copy of that
        // network's own rule (the planner compares tables, which may be derived).
        let copy = r.action.is_none()
            && r.ip_to.is_none()
            && r.iif.is_none()
            && r.oif.is_none()
            && r.fwmark.is_none()
            && r.suppress_prefix_length.is_none()
            && r.ip_from.is_some_and(|from| {
                nets.iter()
                    .any(|(_, np, subnets)| *np == p && subnets.contains(&from.0))
            });
        if copy {
            continue;
        }
        out.push(
            format!("route-rules.config[{k}].priority"),
            format!(
                "{p} lies inside the {family} source-routing block ({} to {}) that the \
                 networks' rules need (the lowest network priority is networks[{lowest}]'s, \
                 {lo}): \
                 packets the host forwards would skip the rule, and the host's own traffic \
                 to what the main table routes more specifically would be decided before \
                 it; give it a priority below {} or above {hi}",
                lo - 2,
                hi + 1,
                lo - 2,
            ),
        );
    }
}

/// Why a static gateway inside `address`'s subnet cannot be a next hop, if it cannot:
/// for IPv4 the subnet's network or broadcast address (none on a /31 or /32), for IPv6
/// its subnet-router anycast address `PREFIX::` (none on a /127 or /128), which names
/// whichever router answers rather than the one meant. `default via` either would
/// black-hole the network's traffic without an error.
pub(super) fn gateway_problem(addresses: &[IpNet], gw: IpAddr) -> Option<String> {
    addresses
        .iter()
        .filter(|a| a.contains(&gw))
        .find_map(|a| match (a, gw) {
            (IpNet::V4(v4), IpAddr::V4(g)) if v4.prefix_len() <= 30 => {
                let which = if g == v4.network() {
                    "network"
                } else if g == v4.broadcast() {
                    "broadcast"
                } else {
                    return None;
                };
                Some(format!(
                    "{gw} is the {which} address of the subnet {}; give the router's own address",
                    v4.trunc()
                ))
            }
            (IpNet::V6(v6), IpAddr::V6(g)) if v6.prefix_len() <= 126 && g == v6.network() => {
                Some(format!(
                    "{gw} is the subnet-router anycast address of {} (any router on the link \
                     may answer it); give the router's own address",
                    v6.trunc()
                ))
            }
            _ => None,
        })
}

#[cfg(test)]
#[path = "validate_source_routing_tests.rs"]
mod tests;
