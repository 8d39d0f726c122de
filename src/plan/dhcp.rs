//! The source routes of DHCP networks, from their leases.
//!
//! A DHCP family's lease is a fact about the moment of planning: the addresses the client
//! put on the device and the default route it installed ([`LeaseSource::Kernel`]), or
//! what a client event reported ([`LeaseSource::Event`]). Either way the network's table
//! and rules are built exactly as for a static address.

use std::borrow::Cow;
use std::net::IpAddr;

use super::PlanError;
use crate::expand::{
    default_via, for_address, lease_prefix_problem, lease_router_problem, Intent, Lease,
    LeaseSource, Router,
};
use crate::netdev::{Family, KernelState, HOSTNET_PROTO, TABLE_MAIN};

/// The leases on `device` of `family` as the kernel has them.
pub fn kernel_leases(current: &KernelState, device: &str, family: Family) -> Vec<Lease> {
    current
        .addresses
        .iter()
        .filter(|a| a.ifname == device && Family::of(&a.addr.addr()) == family)
        .map(|a| Lease {
            address: a.addr,
            router: Router::FromKernel,
        })
        .collect()
}

/// The gateway of the default route the DHCP client installed on `device` (the main
/// table's, not one of hostnet's), lowest metric first.
pub fn kernel_router(current: &KernelState, device: &str, family: Family) -> Option<IpAddr> {
    current
        .routes
        .iter()
        .filter(|r| {
            r.table == TABLE_MAIN
                && r.protocol != HOSTNET_PROTO
                && r.destination.prefix_len() == 0
                && Family::of(&r.destination.addr()) == family
                && r.dev.as_deref() == Some(device)
        })
        .min_by_key(|r| r.metric.unwrap_or(0))
        .and_then(|r| r.gateway)
}

/// The intent with every DHCP network's lease turned into routes and rules. A lease
/// whose prefix is too wide to trust is an error naming the network.
pub(super) fn resolve<'a>(
    current: &KernelState,
    intent: &'a Intent,
) -> Result<Cow<'a, Intent>, Vec<PlanError>> {
    if !intent.networks.iter().any(|n| n.dhcp.any() && !n.absent) {
        return Ok(Cow::Borrowed(intent));
    }
    let mut errors = Vec::new();
    let mut out = intent.clone();
    for n in out
        .networks
        .iter_mut()
        .filter(|n| n.dhcp.any() && !n.absent)
    {
        let Some(table) = n.table else { continue };
        for family in [Family::Ipv4, Family::Ipv6] {
            let leases = match n.dhcp.family(family) {
                None => continue,
                Some(LeaseSource::Kernel) => kernel_leases(current, &n.device, family),
                Some(LeaseSource::Event(lease)) => lease.iter().cloned().collect(),
            };
            for lease in leases {
                if let Some(problem) = lease_prefix_problem(&lease.address) {
                    errors.push(PlanError {
                        path: n.origin.clone(),
                        message: format!("refusing the DHCP lease on {}: {problem}", n.device),
                    });
                    continue;
                }
                let (route, rules) = for_address(table, n.priority, &n.device, lease.address);
                n.routes.push(route);
                n.rules.extend(rules);
                let router = match lease.router {
                    Router::None => None,
                    Router::Via(g) => Some(g),
                    Router::FromKernel => kernel_router(current, &n.device, family),
                };
                // 0.0.0.0 is how some clients say "no router".
                if let Some(g) = router.filter(|g| !g.is_unspecified()) {
                    if let Some(problem) = lease_router_problem(&lease.address, g) {
                        errors.push(PlanError {
                            path: n.origin.clone(),
                            message: format!("refusing the DHCP lease on {}: {problem}", n.device),
                        });
                        continue;
                    }
                    n.routes.push(default_via(table, &n.device, g));
                }
            }
        }
        n.routes.sort();
        n.routes.dedup();
        n.rules.sort();
        n.rules.dedup();
    }
    if errors.is_empty() {
        Ok(Cow::Owned(out))
    } else {
        Err(errors)
    }
}
