//! Devices created with IPv6 disabled before they first go up (see `plan/port_ipv6.rs`):
//! the plan puts the `disable_ipv6` sysctl op right after the op creating the device, in
//! the same phase. Sent as they stand, the device would come up with IPv6 (the kernel walks
//! the whole IPv6 routing table then) and firewall ops would even run first. Instead such
//! a device is created down, the sysctls are written, and then it is brought up.

use std::collections::{HashMap, HashSet};

use super::LinuxDriver;
use crate::firewall::{sysctl, FwOp};
use crate::netdev::firewall::{FirewallDriver, Kernel};
use crate::netdev::{Driver, DriverError, LinkChange, LinkKind, Op};

/// A `disable_ipv6 = 1` op for a device an earlier op of the same batch creates.
struct Early {
    /// Index of the sysctl op.
    at: usize,
    /// Index of the op creating the device.
    create: usize,
}

/// The early switches of `ops`.
fn early(ops: &[Op]) -> Vec<Early> {
    let mut created: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::CreateLink(l) => {
                created.insert(&l.name, i);
                if let LinkKind::Veth { peer: Some(p) } = &l.kind {
                    created.insert(p, i);
                }
            }
            Op::Firewall(fw) => {
                let FwOp::Sysctl { key, to, .. } = &**fw else {
                    continue;
                };
                if let Some(&create) = sysctl::disable_ipv6_of(key)
                    .filter(|_| to == "1")
                    .and_then(|dev| created.get(dev))
                {
                    out.push(Early { at: i, create });
                }
            }
            _ => {}
        }
    }
    out
}

impl LinuxDriver {
    /// Runs `ops` when they hold early switches (`None` when they hold none).
    pub(super) fn execute_created_without_ipv6(
        &mut self,
        ops: &[Op],
    ) -> Option<Vec<Result<(), DriverError>>> {
        let early = early(ops);
        if early.is_empty() {
            return None;
        }
        let quiet: HashSet<&str> = early
            .iter()
            .filter_map(|e| match &ops[e.at] {
                Op::Firewall(fw) => match &**fw {
                    FwOp::Sysctl { key, .. } => sysctl::disable_ipv6_of(key),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        let switches: HashSet<usize> = early.iter().map(|e| e.at).collect();
        // The ops without the switches, with the quiet devices created down; which to
        // bring up afterwards (creating op, name).
        let mut first = Vec::with_capacity(ops.len());
        let mut first_at = Vec::with_capacity(ops.len());
        let mut ups: Vec<(usize, String)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if switches.contains(&i) {
                continue;
            }
            let mut op = op.clone();
            if let Op::CreateLink(l) = &mut op {
                if l.up && quiet.contains(l.name.as_str()) {
                    l.up = false;
                    ups.push((i, l.name.clone()));
                }
                if let (LinkKind::Veth { peer: Some(p) }, Some(s)) = (&l.kind, l.peer.as_mut()) {
                    if s.up && quiet.contains(p.as_str()) {
                        s.up = false;
                        ups.push((i, p.clone()));
                    }
                }
            }
            first.push(op);
            first_at.push(i);
        }
        let mut results: Vec<Option<Result<(), DriverError>>> = ops.iter().map(|_| None).collect();
        for (r, i) in self.execute(&first).into_iter().zip(first_at) {
            results[i] = Some(r);
        }
        let made = |results: &[Option<Result<(), DriverError>>], i: usize| {
            matches!(results[i], Some(Ok(())))
        };
        // A device that was not created has no switch to write (as for a deleted one).
        let fw: Vec<&FwOp> = early
            .iter()
            .filter(|e| made(&results, e.create))
            .filter_map(|e| match &ops[e.at] {
                Op::Firewall(f) => Some(&**f),
                _ => None,
            })
            .collect();
        let written = Kernel.execute(&fw).map_err(|e| crate::error_chain(&e));
        for e in &early {
            results[e.at] = Some(match (&written, made(&results, e.create)) {
                (Err(message), true) => Err(DriverError::Firewall {
                    op: format!("{} {}", ops[e.at].verb(), ops[e.at]),
                    message: message.clone(),
                }),
                _ => Ok(()),
            });
        }
        ups.retain(|(i, _)| made(&results, *i));
        let up_ops: Vec<Op> = ups
            .iter()
            .map(|(_, name)| Op::ChangeLink {
                name: name.clone(),
                change: LinkChange {
                    up: Some(true),
                    ..LinkChange::default()
                },
            })
            .collect();
        let mut failed = Vec::new();
        for ((i, _), r) in ups.iter().zip(self.execute(&up_ops)) {
            if let Err(e) = r {
                // As when a veth's peer cannot be finished: the op leaves nothing behind.
                if let Op::CreateLink(l) = &ops[*i] {
                    failed.push(Op::DeleteLink {
                        name: l.name.clone(),
                    });
                }
                results[*i] = Some(Err(e));
            }
        }
        if !failed.is_empty() {
            // Best effort: the op's own error is what the caller needs to see.
            let _ = self.execute(&failed);
        }
        Some(
            results
                .into_iter()
                .map(|r| r.unwrap_or_else(|| Err(DriverError::Decode("no result".into()))))
                .collect(),
        )
    }
}
