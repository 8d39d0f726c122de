//! The undo journal: every op that the kernel accepted, and how to take it back.
//!
//! Inverses are computed from the state read before the apply, so the journal can restore
//! a deleted bridge with its MAC, MTU, ports, addresses and routes, not just its name.
//! Undo ops are placed in the same phases the planner uses, so undoing deletions
//! (re-creations) and undoing creations (deletions) come out in a workable order.

use crate::netdev::{KernelState, LinkChange, LinkKind, Op};
use crate::plan::{push_recreate, Phase, Plan};

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

    /// The plan that takes back every recorded op.
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
            Op::CreateLink(l) => plan.push(
                Phase::DeleteLinks,
                Op::DeleteLink {
                    name: l.name.clone(),
                },
            ),
            Op::ChangeLink { name, change } => {
                let Some(old) = b.links.get(name) else { return };
                let undo = LinkChange {
                    up: change.up.map(|_| old.up),
                    mtu: change.mtu.map(|_| old.mtu),
                    mac: change.mac.and(old.mac),
                    controller: change.controller.as_ref().map(|_| old.controller.clone()),
                    bridge: match (&change.bridge, &old.kind) {
                        (Some(_), LinkKind::Bridge(o)) => Some(o.clone()),
                        _ => None,
                    },
                    settings: change.settings.as_ref().map(|_| old.kind.clone()),
                };
                let phase = if undo.controller == Some(None) {
                    Phase::ReleasePorts
                } else {
                    crate::plan::change_phase(&old.kind)
                };
                plan.push(
                    phase,
                    Op::ChangeLink {
                        name: name.clone(),
                        change: undo,
                    },
                );
                // Leaving the bond it joined closes the port (after the request's flags):
                // set it up again once it is out.
                if matches!(&change.controller, Some(Some(c)) if self.is_bond(c)) && old.up {
                    plan.push(
                        if phase < Phase::ChangeLinks {
                            Phase::ChangeLinks
                        } else {
                            Phase::ChangeBridges
                        },
                        Op::ChangeLink {
                            name: name.clone(),
                            change: LinkChange {
                                up: Some(true),
                                ..LinkChange::default()
                            },
                        },
                    );
                }
            }
            Op::DeleteLink { name } => self.recreate(name, plan),
            Op::AddAddress(a) => plan.push(Phase::DeleteAddresses, Op::DeleteAddress(a.clone())),
            Op::DeleteAddress(a) => plan.push(Phase::AddAddresses, Op::AddAddress(a.clone())),
            Op::AddRoute(r) => plan.push(Phase::DeleteRoutes, Op::DeleteRoute(r.clone())),
            Op::DeleteRoute(r) => plan.push(Phase::AddRoutes, Op::AddRoute(r.clone())),
            Op::Ovs(o) => {
                for inv in crate::ovs::plan::inverse(o, &b.ovs) {
                    plan.push(Phase::Ovs, Op::Ovs(inv));
                }
            }
            Op::AddRule(r) => plan.push(Phase::DeleteRules, Op::DeleteRule(r.clone())),
            Op::DeleteRule(r) => plan.push(Phase::AddRules, Op::AddRule(r.clone())),
            Op::Firewall(op) => {
                if let Some((teardown, inv)) = crate::firewall::inverse(op) {
                    let phase = match inv {
                        crate::firewall::FwOp::Sysctl { .. } => Phase::Sysctls,
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
        }
    }

    /// Whether `name` is a bond: before the apply, or made by it.
    fn is_bond(&self, name: &str) -> bool {
        let bond = |k: &LinkKind| matches!(k, LinkKind::Bond(_));
        self.before.links.get(name).is_some_and(|l| bond(&l.kind))
            || self
                .done
                .iter()
                .any(|o| matches!(o, Op::CreateLink(l) if l.name == name && bond(&l.kind)))
    }

    /// Re-creates a deleted link (and its veth peer) as it was, with its ports, addresses
    /// and routes.
    fn recreate(&self, name: &str, plan: &mut Plan) {
        let b = self.before;
        let Some(link) = b.links.get(name) else {
            return;
        };
        // A veth whose peer lives in another namespace cannot be made again from here;
        // the rollback's comparison with the old state reports it.
        if matches!(link.kind, LinkKind::Veth { peer: None }) {
            return;
        }
        push_recreate(plan, b, name);
        let mut names = vec![name.to_string()];
        if let LinkKind::Veth { peer: Some(p) } = &link.kind {
            names.push(p.clone());
        }
        if link.kind.is_controller() {
            for port in b
                .links
                .values()
                .filter(|l| l.controller.as_deref() == Some(name))
            {
                plan.push(
                    Phase::ChangeLinks,
                    Op::ChangeLink {
                        name: port.name.clone(),
                        change: LinkChange {
                            controller: Some(Some(name.to_string())),
                            ..LinkChange::default()
                        },
                    },
                );
            }
        }
        for a in b.addresses.iter().filter(|a| names.contains(&a.ifname)) {
            plan.push(Phase::AddAddresses, Op::AddAddress(a.clone()));
        }
        for r in b
            .routes
            .iter()
            .filter(|r| r.dev.as_ref().is_some_and(|d| names.contains(d)))
        {
            plan.push(Phase::AddRoutes, Op::AddRoute(r.clone()));
        }
    }
}
