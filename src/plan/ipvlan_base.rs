//! IPVLANs share their mode and flags per base device: the kernel keeps them in the
//! base's `struct ipvl_port`, so creating an IPVLAN with another mode, or changing one in
//! place, switches every IPVLAN on that base (measured on Debian's 6.1: `ip link add iv2
//! link e0 type ipvlan mode l3 private` turns an existing l2 `iv1` into `l3 private`).
//! The file's own IPVLANs are checked against each other by validation
//! (`model/validate_kinds.rs`); here the plan's are checked against those on the host
//! that the file does not name, which hostnet would change without saying so and could
//! not take back exactly.

use std::collections::BTreeSet;

use super::{Plan, PlanError};
use crate::expand::Intent;
use crate::netdev::{IpVlanOptions, KernelState, LinkKind, Op};

/// The IPVLANs the plan creates or changes in place, with their new settings.
fn planned(plan: &Plan) -> Vec<(&str, &IpVlanOptions)> {
    plan.ops()
        .filter_map(|op| match op {
            Op::CreateLink(l) => match &l.kind {
                LinkKind::IpVlan(o) => Some((l.name.as_str(), o)),
                _ => None,
            },
            Op::ChangeLink { name, change } => match &change.settings {
                Some(LinkKind::IpVlan(o)) => Some((name.as_str(), o)),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// Refuses an IPVLAN the plan creates or changes whose mode or flags differ from those
/// of an IPVLAN on the same base that the file does not name and the plan keeps.
pub(super) fn check(
    current: &KernelState,
    intent: &Intent,
    plan: &Plan,
    gone: &BTreeSet<&str>,
    errors: &mut Vec<PlanError>,
) {
    for (name, want) in planned(plan) {
        let Some(base) = want.base.as_deref() else {
            continue;
        };
        let other = current.links.values().find_map(|l| match &l.kind {
            LinkKind::IpVlan(o)
                if o.base.as_deref() == Some(base)
                    && l.name != name
                    && !intent.links.contains_key(&l.name)
                    && !gone.contains(l.name.as_str())
                    && (o.mode, o.flags()) != (want.mode, want.flags()) =>
            {
                Some((l.name.as_str(), o))
            }
            _ => None,
        });
        let Some((other, have)) = other else {
            continue;
        };
        let origin = intent
            .links
            .get(name)
            .map_or("interfaces", |li| li.origin.as_str());
        errors.push(PlanError {
            path: format!("{origin}.ipvlan"),
            message: format!(
                "ipvlan {other} on {base}, which the file does not list, has mode {}, private {}, vepa {}; \
                 the kernel keeps one mode and flags per base, so {name} with mode {}, private {}, vepa {} \
                 would switch {other} too: give {name} the same, or list {other} with the new ones",
                have.mode.as_str(),
                have.private,
                have.vepa,
                want.mode.as_str(),
                want.private,
                want.vepa
            ),
        });
    }
}
