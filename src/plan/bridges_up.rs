//! A new bridge that gets an IPv4 address in the same plan comes up only once the address
//! is on (issue 18, item 2): it is created down, and set up in [`Phase::BridgesUp`], after
//! [`Phase::AddAddresses`] and before [`Phase::AddRoutes`] (the kernel refuses a route
//! through a down device).
//!
//! Why: a Linux bridge with multicast snooping on (the kernel's default, which hostnet
//! keeps) joins the all-snoopers group 224.0.0.106 (RFC 4286) when it comes up, and sends
//! IGMPv3 reports for it from a timer. Each report needs a source address: the kernel takes
//! the bridge's own, and a bridge without one makes it scan the namespace's devices, in
//! order, for the first with an IPv4 address (`igmpv3_newpack` → `ip_route_output_flow` →
//! `inet_select_addr`). Created up and addressed a whole phase later, as hostnet used to
//! do, every new bridge sent its reports while neither it nor any other new device had an
//! address: a walk of every device per report, O(N²) for N networks (16.5 % of a
//! 4,000-network apply's samples). With the address on first, the scan stops at the
//! bridge itself. The end is the same: the kernel adds an address's routes when its device
//! comes up, IPv6 addresses added to a down device start their DAD when it comes up.
//!
//! Only bridges this plan creates, that are to be up, and that get an IPv4 address: a
//! bridge without one (an L2 network, IPv6 only, DHCP) gains nothing (its reports scan
//! for another device's address whenever they are sent), and an existing bridge is never
//! taken down. A bridge that a device of the plan is stacked on (a VLAN device on a
//! VLAN-aware bridge) comes up at once as before: the kernel refuses to bring up a VLAN
//! whose lower device is down.

use std::collections::BTreeSet;

use super::{Phase, Plan};
use crate::netdev::{LinkChange, LinkKind, Op};

/// Creates the new bridges with IPv4 addresses down and brings them up after them.
pub(super) fn arrange(plan: &mut Plan) {
    let with_v4: BTreeSet<String> = plan.phases[Phase::AddAddresses as usize]
        .iter()
        .filter_map(|op| match op {
            Op::AddAddress(a) if a.addr.addr().is_ipv4() => Some(a.ifname.clone()),
            _ => None,
        })
        .collect();
    if with_v4.is_empty() {
        return;
    }
    let bases: BTreeSet<String> = plan
        .ops()
        .filter_map(|op| match op {
            Op::CreateLink(l) => l.kind.base().map(str::to_string),
            Op::ChangeLink { change, .. } => change
                .settings
                .as_ref()
                .and_then(|k| k.base())
                .map(str::to_string),
            _ => None,
        })
        .collect();
    let mut ups = Vec::new();
    for op in &mut plan.phases[Phase::CreateBridges as usize] {
        let Op::CreateLink(l) = op else { continue };
        if matches!(l.kind, LinkKind::Bridge(_))
            && l.up
            && with_v4.contains(&l.name)
            && !bases.contains(&l.name)
        {
            l.up = false;
            ups.push(Op::ChangeLink {
                name: l.name.clone(),
                change: LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            });
        }
    }
    plan.phases[Phase::BridgesUp as usize].extend(ups);
}
