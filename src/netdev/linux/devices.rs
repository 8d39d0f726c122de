//! What the Linux driver does beyond single netlink requests for the device kinds of
//! `kinds`: taps are made with ioctls before the phase's requests go out, and a port
//! joins a bond only while down.

use netlink_packet_route::RouteNetlinkMessage;

use super::{link, tap, LinuxDriver, Request};
use crate::netdev::{DriverError, LinkChange, LinkKind, Op};

impl LinuxDriver {
    /// Carries out Open vSwitch ops as one OVSDB transaction: all succeed or none.
    pub(super) fn execute_ovs(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        let ovs: Vec<crate::ovs::OvsOp> = ops
            .iter()
            .filter_map(|op| match op {
                Op::Ovs(o) => Some(o.clone()),
                _ => None,
            })
            .collect();
        // Internal ports come and go as network devices.
        self.stale = true;
        match self.ovs.transact(&ovs) {
            Ok(()) => ops.iter().map(|_| Ok(())).collect(),
            Err(e) => ops
                .iter()
                .map(|_| {
                    Err(DriverError::Ovs(crate::ovs::OvsError::Failed {
                        status: "transaction refused".into(),
                        stderr: crate::error_chain(&e),
                    }))
                })
                .collect(),
        }
    }

    /// Creates the taps of `ops` with ioctls. One entry per op: `Some(Err)` for a tap
    /// that could not be made (its op fails), `None` otherwise. The netlink request of a
    /// made tap then sets its MTU, MAC, controller and state.
    pub(super) fn create_taps(&mut self, ops: &[Op]) -> Vec<Option<Result<(), DriverError>>> {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let Op::CreateLink(new) = op else {
                out.push(None);
                continue;
            };
            let LinkKind::Tap(options) = &new.kind else {
                out.push(None);
                continue;
            };
            let rejected = |errno: i32, message: &str| DriverError::Rejected {
                op: format!("{} {op}", op.verb()),
                errno,
                message: Some(message.to_string()),
            };
            // TUNSETIFF refuses an existing tap (IFF_TUN_EXCL) with EBUSY; a name hostnet
            // already saw gets the clearer message without the ioctl.
            if self.ifindex.contains_key(&new.name) {
                out.push(Some(Err(rejected(libc::EEXIST, "device exists"))));
                continue;
            }
            if !options.persistent {
                out.push(Some(Err(rejected(
                    libc::EINVAL,
                    "a tap that is not persistent would vanish when hostnet exits",
                ))));
                continue;
            }
            self.stale = true;
            match tap::create(&self.netns, &new.name, options) {
                Ok(_fd) => out.push(None),
                Err(e) => out.push(Some(Err(rejected(
                    e.raw_os_error().unwrap_or(libc::EIO),
                    &format!("creating the tap through /dev/net/tun failed: {e}"),
                )))),
            }
        }
        out
    }

    /// Sets down the links of `ops` that are about to join a bond while up (the bond
    /// refuses them otherwise, and brings them up itself). Returns their names.
    pub(super) fn down_future_bond_ports(&mut self, ops: &[Op]) -> Vec<String> {
        let mut names = Vec::new();
        let mut requests: Vec<Request> = Vec::new();
        for op in ops {
            let Op::ChangeLink { name, change } = op else {
                continue;
            };
            let Some(Some(controller)) = &change.controller else {
                continue;
            };
            if !self.bonds.contains(controller) || !self.up.contains(name) {
                continue;
            }
            let Some(&index) = self.ifindex.get(name) else {
                continue;
            };
            let down = LinkChange {
                up: Some(false),
                ..LinkChange::default()
            };
            requests.push((
                RouteNetlinkMessage::NewLink(link::change(index, &down, None, None)),
                0,
            ));
            names.push(name.clone());
        }
        if !requests.is_empty() {
            // A failure shows in the enslave request that follows.
            let _ = self.nl.transact(requests);
        }
        names
    }

    /// Takes back what the ops that failed did before their request: a tap made by
    /// ioctl is deleted, a port set down for a bond is set up again.
    pub(super) fn undo_failed_devices(
        &mut self,
        ops: &[Op],
        results: &[Result<(), DriverError>],
        made_taps: &[String],
        downed: &[String],
    ) {
        let mut undo: Vec<Request> = Vec::new();
        for (op, result) in ops.iter().zip(results) {
            if result.is_ok() {
                continue;
            }
            match op {
                Op::CreateLink(new) if made_taps.contains(&new.name) => {
                    let msg = link::delete_by_name(&new.name);
                    undo.push((RouteNetlinkMessage::DelLink(msg), 0));
                }
                Op::ChangeLink { name, .. } if downed.contains(name) => {
                    if let Some(&index) = self.ifindex.get(name) {
                        let up = LinkChange {
                            up: Some(true),
                            ..LinkChange::default()
                        };
                        undo.push((
                            RouteNetlinkMessage::NewLink(link::change(index, &up, None, None)),
                            0,
                        ));
                    }
                }
                _ => {}
            }
        }
        if !undo.is_empty() {
            // Best effort: the op's own error is what the caller needs to see.
            let _ = self.nl.transact(undo);
        }
    }
}
