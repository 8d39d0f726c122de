//! How one [`Driver::execute`] call goes out: firewall ops as their own transaction,
//! several link deletions as one kernel batch, and everything else pipelined over the
//! socket in one batch per base created on the way.

use netlink_packet_route::RouteNetlinkMessage;

use super::socket::{copy_error, Nack};
use super::{already_gone, interfaces, link, rejection, LinuxDriver};
use crate::netdev::firewall::{FirewallDriver, Kernel};
use crate::netdev::{Driver, DriverError, LinkKind, Op};

impl LinuxDriver {
    /// Firewall ops go to the firewall module as one transaction per backend (they all
    /// succeed or all fail together); the rest as usual.
    pub(super) fn execute_with_firewall(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        if let Some(results) = self.execute_created_without_ipv6(ops) {
            return results;
        }
        let fw: Vec<&crate::firewall::FwOp> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Firewall(f) => Some(&**f),
                _ => None,
            })
            .collect();
        let fw_result = Kernel.execute(&fw).map_err(|e| crate::error_chain(&e));
        let rest: Vec<Op> = ops
            .iter()
            .filter(|op| !matches!(op, Op::Firewall(_)))
            .cloned()
            .collect();
        let mut rest_results = self.execute(&rest).into_iter();
        ops.iter()
            .map(|op| match op {
                Op::Firewall(_) => fw_result.clone().map_err(|message| DriverError::Firewall {
                    op: format!("{} {op}", op.verb()),
                    message,
                }),
                _ => rest_results
                    .next()
                    .unwrap_or_else(|| Err(DriverError::Decode("no result".into()))),
            })
            .collect()
    }

    /// Deletes several links in one kernel batch. Deleted one by one, each device waits
    /// for its own RCU grace periods (about 25 ms here); RTM_DELLINK of a device group
    /// unregisters them all at once. The links are put into a group no device uses,
    /// deleted by group, and what is still there afterwards is deleted one by one (and
    /// reported as the kernel answers).
    pub(super) fn delete_links_together(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        let raw = match self.dump_links() {
            Ok(r) => r,
            Err(e) => return ops.iter().map(|_| Err(copy_error(&e))).collect(),
        };
        let used: std::collections::HashSet<u32> = raw.iter().map(|l| l.group).collect();
        // Group ids are free-form; start from "hn" in ASCII to stay out of the way.
        let Some(group) = (0x686e_0000u32..0x686e_0400).find(|g| !used.contains(g)) else {
            return self.execute_each(ops);
        };
        let index_of = |name: &str| raw.iter().find(|l| l.name == name).map(|l| l.index);
        let tags: Vec<(RouteNetlinkMessage, u16)> = ops
            .iter()
            .filter_map(|op| match op {
                Op::DeleteLink { name } => index_of(name),
                _ => None,
            })
            .map(|index| {
                (
                    RouteNetlinkMessage::NewLink(link::set_group(index, group)),
                    0,
                )
            })
            .collect();
        self.stale = true;
        let _ = self.nl.transact(tags);
        let _ = self.nl.transact(vec![(
            RouteNetlinkMessage::DelLink(link::delete_group(group)),
            0,
        )]);
        // Whatever survived (untagged, or the group delete refused) goes the slow way;
        // deleting what is gone answers Ok.
        let results = self.execute_each(ops);
        // A device that could not be deleted gets its own group back.
        let restore: Vec<(RouteNetlinkMessage, u16)> = ops
            .iter()
            .zip(&results)
            .filter(|(_, r)| r.is_err())
            .filter_map(|(op, _)| match op {
                Op::DeleteLink { name } => raw.iter().find(|l| l.name == *name),
                _ => None,
            })
            .map(|l| {
                (
                    RouteNetlinkMessage::NewLink(link::set_group(l.index, l.group)),
                    0,
                )
            })
            .collect();
        if !restore.is_empty() {
            let _ = self.nl.transact(restore);
        }
        results
    }

    pub(super) fn execute_each(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        if ops.is_empty() {
            return Vec::new();
        }
        // A device stacked on one created earlier in the batch (Q-in-Q) needs its base's
        // ifindex: the batch is split there, and the rest resolved after a fresh dump.
        if let Some(at) = stacked_on_new(ops) {
            let mut results = self.execute_each(&ops[..at]);
            results.extend(self.execute_each(&ops[at..]));
            return results;
        }
        let unknown = ops
            .iter()
            .flat_map(interfaces)
            .any(|name| !self.ifindex.contains_key(name));
        if self.stale || unknown {
            if let Err(e) = self.dump_links() {
                return ops.iter().map(|_| Err(copy_error(&e))).collect();
            }
        }

        let mut requests = Vec::new();
        let mut followups = Vec::new();
        let mut prepared = Vec::with_capacity(ops.len());
        let taps = self.create_taps(ops);
        let made: Vec<String> = ops
            .iter()
            .zip(&taps)
            .filter_map(|(op, t)| match (op, t) {
                (Op::CreateLink(new), None) if matches!(new.kind, LinkKind::Tap(_)) => {
                    Some(new.name.clone())
                }
                _ => None,
            })
            .collect();
        let downed = self.down_future_bond_ports(ops);
        for (op, tap) in ops.iter().zip(taps) {
            if let Some(Err(e)) = tap {
                prepared.push(Some(Err(e)));
                continue;
            }
            match self.request(op) {
                Ok(Some((request, followup))) => {
                    requests.push(request);
                    followups.extend(followup.into_iter().map(|f| (prepared.len(), f)));
                    prepared.push(None);
                }
                Ok(None) => prepared.push(Some(Ok(()))),
                Err(e) => prepared.push(Some(Err(e))),
            }
        }
        if ops
            .iter()
            .any(|op| matches!(op, Op::CreateLink(_) | Op::DeleteLink { .. }))
        {
            self.stale = true;
        }

        let mut answers = self.nl.transact(requests).into_iter();
        let mut results: Vec<Result<(), DriverError>> = ops
            .iter()
            .zip(prepared)
            .map(|(op, prepared)| match prepared {
                Some(result) => result,
                None => match answers.next() {
                    Some(Ok(())) => Ok(()),
                    Some(Err(Nack::Kernel { errno, .. })) if already_gone(op, errno) => Ok(()),
                    Some(Err(nack)) => Err(rejection(op, nack)),
                    None => Err(DriverError::Decode("no answer for the request".into())),
                },
            })
            .collect();
        self.finish_peers(ops, followups, &mut results);
        self.undo_failed_devices(ops, &results, &made, &downed);
        results
    }
}

/// The first op (after the first) that creates a device on a base created by an
/// earlier op of `ops`.
fn stacked_on_new(ops: &[Op]) -> Option<usize> {
    let mut created = std::collections::HashSet::new();
    for (i, op) in ops.iter().enumerate() {
        if let Op::CreateLink(new) = op {
            if new.kind.base().is_some_and(|b| created.contains(b)) {
                return Some(i);
            }
            created.insert(new.name.as_str());
        }
    }
    None
}
