//! The record of the ops an apply carried out, and the inverses of those on hostnet's own
//! objects (Open vSwitch, the firewall, DHCP servers), computed from the state read before
//! the apply: a removed DHCP server comes back with its hosts, a removed network's chains
//! with their rules. Links, addresses, routes and rules, which other tools share, are
//! taken back by [`crate::plan::undo`], which looks at what is there now first.

use crate::netdev::{KernelState, Op};
use crate::plan::{Phase, Plan};

/// Ops done so far in one apply.
pub struct Journal<'a> {
    before: &'a KernelState,
    done: Vec<Op>,
}

impl<'a> Journal<'a> {
    pub fn new(before: &'a KernelState) -> Journal<'a> {
        Journal {
            before,
            done: Vec::new(),
        }
    }

    pub fn record(&mut self, op: &Op) {
        self.done.push(op.clone());
    }

    pub fn is_empty(&self) -> bool {
        self.done.is_empty()
    }

    /// The ops recorded, in the order they were carried out.
    pub fn done(&self) -> &[Op] {
        &self.done
    }

    /// The plan that takes back every recorded op on hostnet's own objects.
    pub fn undo_plan(&self) -> Plan {
        let mut plan = Plan::new();
        for op in self.done.iter().rev() {
            self.inverse(op, &mut plan);
        }
        plan
    }

    fn inverse(&self, op: &Op, plan: &mut Plan) {
        let b = self.before;
        match op {
            Op::Ovs(o) => {
                for inv in crate::plan::ovs::inverse(o, &b.ovs) {
                    plan.push(Phase::Ovs, Op::Ovs(inv));
                }
            }
            Op::Firewall(op) => {
                if let Some((teardown, inv)) = crate::firewall::inverse(op) {
                    let phase = match inv {
                        crate::firewall::FwOp::Sysctl { ref key, .. } => {
                            crate::plan::sysctl_phase(key)
                        }
                        _ if teardown => Phase::FirewallTeardown,
                        _ => Phase::FirewallSetup,
                    };
                    plan.push(phase, Op::Firewall(Box::new(inv)));
                }
            }
            Op::ConfigureDhcpServer { .. }
            | Op::StartDhcpServer { .. }
            | Op::StopDhcpServer { .. }
            | Op::AddDhcpHost { .. }
            | Op::RemoveDhcpHost { .. } => crate::plan::dhcp_server_inverse(b, op, plan),
            // Shared objects: see `crate::plan::undo`.
            Op::CreateLink(_)
            | Op::ChangeLink { .. }
            | Op::DeleteLink { .. }
            | Op::AddAddress(_)
            | Op::DeleteAddress(_)
            | Op::AddRoute(_)
            | Op::DeleteRoute(_)
            | Op::AddRule(_)
            | Op::DeleteRule(_)
            | Op::BridgeVlans { .. }
            | Op::AltName { .. } => {}
        }
    }
}
