//! Checks of `routes:` and `route-rules:` that need more than one field.
//! Split out of `validate.rs` (issue 15: files under 600 lines).

use super::super::types::*;
use super::{check_ifname, has_host_bits, is_v4, Errors};
use crate::netdev::TABLE_LOCAL;

pub(super) fn validate_routes(errs: &mut Errors, d: &Desired) {
    let Some(routes) = &d.routes else { return };
    for (i, r) in routes.config.iter().enumerate() {
        let p = format!("routes.config[{i}]");
        if r.state == Some(EntryState::Ignore) {
            continue;
        }
        let absent = r.state == Some(EntryState::Absent);
        // nmstate's table 0 is main.
        if let Some(t) = r.table_id {
            if t == TABLE_LOCAL {
                errs.push(
                    format!("{p}.table-id"),
                    format!("table {t} cannot hold configured routes"),
                );
            }
        }
        if let Some(n) = &r.next_hop_interface {
            if let Err(m) = check_ifname(n) {
                errs.push(format!("{p}.next-hop-interface"), m);
            }
        }
        if let Some(dst) = &r.destination {
            if has_host_bits(&dst.0) {
                errs.push(
                    format!("{p}.destination"),
                    format!("{dst} has host bits set; did you mean {}?", dst.0.trunc()),
                );
            }
            if let Some(gw) = &r.next_hop_address {
                if is_v4(gw) != dst.0.addr().is_ipv4() && !gw.is_unspecified() {
                    errs.push(
                        format!("{p}.next-hop-address"),
                        format!("{gw} is not of the same family as {dst}"),
                    );
                }
            }
        }
        if absent {
            if r.destination.is_none()
                && r.next_hop_address.is_none()
                && r.next_hop_interface.is_none()
                && r.table_id.is_none()
                && r.metric.is_none()
            {
                errs.push(
                    p,
                    "an absent route must name at least one field (it would match every route)",
                );
            }
            continue;
        }
        if r.destination.is_none() {
            errs.push(format!("{p}.destination"), "destination is required");
        }
        let typed = r
            .route_type
            .is_some_and(|k| k != crate::netdev::RouteKind::Unicast);
        if !typed
            && r.next_hop_address.is_none_or(|g| g.is_unspecified())
            && r.next_hop_interface.is_none()
        {
            errs.push(
                p,
                "a route needs next-hop-address, next-hop-interface or both",
            );
        }
    }
}

pub(super) fn validate_rules(errs: &mut Errors, d: &Desired) {
    let Some(rules) = &d.route_rules else { return };
    for (i, r) in rules.config.iter().enumerate() {
        let p = format!("route-rules.config[{i}]");
        if r.state == Some(EntryState::Ignore) {
            continue;
        }
        let absent = r.state == Some(EntryState::Absent);
        let fams: Vec<(&str, bool)> = [("ip-from", r.ip_from), ("ip-to", r.ip_to)]
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v.0.addr().is_ipv4())))
            .collect();
        for (k, v) in [("ip-from", r.ip_from), ("ip-to", r.ip_to)] {
            if let Some(v) = v {
                if has_host_bits(&v.0) {
                    errs.push(
                        format!("{p}.{k}"),
                        format!("{v} has host bits set; did you mean {}?", v.0.trunc()),
                    );
                }
            }
        }
        if fams.len() == 2 && fams[0].1 != fams[1].1 {
            errs.push(
                format!("{p}.ip-to"),
                "ip-from and ip-to are of different families",
            );
        }
        if let (Some(f), Some((k, v4))) = (r.family, fams.first()) {
            if (f == crate::netdev::Family::Ipv4) != *v4 {
                errs.push(
                    format!("{p}.{k}"),
                    format!("is not an {f} prefix although family is {f}"),
                );
            }
        }
        if let Some(n) = &r.iif {
            if let Err(m) = check_ifname(n) {
                errs.push(format!("{p}.iif"), m);
            }
        }
        if r.fwmask.is_some() && r.fwmark.is_none() {
            errs.push(format!("{p}.fwmask"), "fwmask needs fwmark");
        }
        if r.fwmark.map(|m| m.0) == Some(0) && r.fwmask.is_none_or(|m| m.0 == 0) {
            errs.push(
                format!("{p}.fwmark"),
                "fwmark 0 without a non-zero fwmask matches every packet; leave fwmark out instead",
            );
        }
        if let Some(t) = r.route_table {
            if t == 0 {
                errs.push(format!("{p}.route-table"), "table 0 is not a table");
            }
        }
        if let Some(n) = &r.oif {
            if let Err(m) = check_ifname(n) {
                errs.push(format!("{p}.oif"), m);
            }
        }
        if let Some(n) = r.suppress_prefix_length.filter(|n| *n > 128) {
            errs.push(
                format!("{p}.suppress-prefix-length"),
                format!("{n} is longer than any prefix (128 at most)"),
            );
        }
        if absent {
            continue;
        }
        // Without route-table a lookup rule looks up main (nmstate's rule); an action
        // rule looks up nothing.
        if let (Some(a), Some(_)) = (r.action, r.route_table) {
            errs.push(
                format!("{p}.route-table"),
                format!(
                    "a rule with action {} looks up no table",
                    serde_yaml_ng::to_string(&a).unwrap_or_default().trim()
                ),
            );
        }
        if r.action.is_some() && r.suppress_prefix_length.is_some() {
            errs.push(
                format!("{p}.suppress-prefix-length"),
                "suppress-prefix-length applies to a table lookup, not to an action",
            );
        }
        if r.priority.is_none() {
            errs.push(
                format!("{p}.priority"),
                "priority is required (kernel-assigned priorities move with other rules)",
            );
        }
        if r.family.is_none() && fams.is_empty() {
            errs.push(
                format!("{p}.family"),
                "family is required when neither ip-from nor ip-to is given",
            );
        }
    }
}
