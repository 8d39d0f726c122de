//! Runs of deletions in one pass. A teardown deletes N networks' addresses and devices;
//! run op by op, each deletion scanned every link, address and route (and the per-op
//! hooks every link again), which made a dry-run teardown O(N²). A run of consecutive
//! `DeleteAddress` or `DeleteLink` ops ends where the same ops one by one would end: each
//! succeeds (the model refuses neither), the ops are applied in their order, and what
//! follows from them (bridge MTUs and MACs, ports released, sysctls and switches of the
//! devices gone, routes dropped) depends only on what went, not on the order it went in.

use std::collections::BTreeSet;

use super::{addr, base, bridge, link, sysctl, ModelDriver};
use crate::netdev::bridge_mtu::{is_bridge, Pending};
use crate::netdev::Op;

/// Which ops run together.
#[derive(PartialEq)]
enum Kind {
    Addresses,
    Links,
}

fn kind(op: &Op) -> Option<Kind> {
    match op {
        Op::DeleteAddress(_) => Some(Kind::Addresses),
        Op::DeleteLink { .. } => Some(Kind::Links),
        _ => None,
    }
}

/// How many ops at the start of `ops` run as one batch (0 or 1: none).
pub(super) fn run_len(ops: &[Op]) -> usize {
    let Some(k) = ops.first().and_then(kind) else {
        return 0;
    };
    ops.iter()
        .take_while(|op| kind(op).as_ref() == Some(&k))
        .count()
}

/// Runs `ops` (a run that [`run_len`] found), every one of which succeeds.
pub(super) fn execute(m: &mut ModelDriver, ops: &[Op]) {
    match ops.first().and_then(kind) {
        Some(Kind::Addresses) => {
            let addrs = ops.iter().filter_map(|op| match op {
                Op::DeleteAddress(a) => Some(a),
                _ => None,
            });
            addr::delete_addresses(&mut m.state, addrs);
        }
        Some(Kind::Links) => delete_links(m, ops),
        None => {}
    }
}

fn delete_links(m: &mut ModelDriver, ops: &[Op]) {
    let names: Vec<&String> = ops
        .iter()
        .filter_map(|op| match op {
            Op::DeleteLink { name } => Some(name),
            _ => None,
        })
        .collect();
    let gone = link::delete_all(&mut m.state, &names);
    // The bridges whose ports went, as each op's hooks would have found them.
    let touched: Vec<String> = gone
        .links
        .iter()
        .filter_map(|l| l.controller.clone())
        .collect::<BTreeSet<String>>()
        .into_iter()
        .collect();
    let s = &mut m.state;
    let following = touched
        .iter()
        .filter(|b| is_bridge(s, b) && !m.marks.is_set(b))
        .cloned()
        .collect();
    m.marks.after(s, Pending::following(following));
    m.macs.after_deletes(s, &names, &touched);
    sysctl::after_deletes(s, &gone.names);
    base::after_deletes(s, &names);
    bridge::sync_ports(s);
}
