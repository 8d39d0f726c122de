//! Exact convergence to a recorded state: the planner used by rollback when undoing the
//! journal did not bring everything back (the kernel has side effects a journal cannot
//! see: a device set down loses its IPv4 routes, a deleted address takes the routes that
//! preferred it).
//!
//! Unlike [`super::plan`], nothing here is partial: every link hostnet can create or
//! delete, every address, route and rule is made exactly as in `target`. Devices hostnet
//! cannot create (NICs, loopback, unknown kinds) are only changed, never created or
//! deleted.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Phase, Plan};
use crate::netdev::{
    KernelState, Link, LinkChange, LinkKind, NewLink, Op, PeerSettings, HOSTNET_PROTO,
    TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN,
};

/// What an apply touched. Returning to the state before it restores these objects and
/// nothing else, so that what other tools changed meanwhile (libvirt's bridges, a DHCP
/// client's renewed route, an admin's rule) stays as they left it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// Links the plan created, changed or deleted, or whose addresses it changed.
    pub links: BTreeSet<String>,
    /// Tables whose routes or rules the plan changed.
    pub tables: BTreeSet<u32>,
    /// Devices of the routes the plan changed in shared tables (main, default).
    pub route_devs: BTreeSet<String>,
    /// Firewall objects the plan changed: `nftables`, `iptables/NAME`, `sysctl/KEY`.
    #[serde(default)]
    pub firewall: BTreeSet<String>,
    /// Networks whose DHCP server the plan changed.
    #[serde(default)]
    pub dhcp_servers: BTreeSet<String>,
    /// True when the plan changed the block around the networks' rules (whose rules
    /// have no table of a network: their tables, 0 and main, are everyone's).
    #[serde(default)]
    pub rule_block: bool,
}

fn shared_table(t: u32) -> bool {
    matches!(t, TABLE_MAIN | TABLE_DEFAULT | TABLE_LOCAL)
}

impl Scope {
    /// The scope of a plan.
    pub fn of(plan: &Plan) -> Scope {
        let mut s = Scope::default();
        for op in plan.ops() {
            match op {
                Op::CreateLink(l) => {
                    s.links.insert(l.name.clone());
                    if let LinkKind::Veth { peer: Some(p) } = &l.kind {
                        s.links.insert(p.clone());
                    }
                }
                Op::ChangeLink { name, .. }
                | Op::DeleteLink { name }
                | Op::BridgeVlans { name, .. }
                | Op::AltName { name, .. } => {
                    s.links.insert(name.clone());
                }
                Op::AddAddress(a) | Op::DeleteAddress(a) => {
                    s.links.insert(a.ifname.clone());
                }
                Op::AddRoute(r) | Op::DeleteRoute(r) => {
                    if shared_table(r.table) {
                        s.route_devs.extend(r.dev.clone());
                    } else {
                        s.tables.insert(r.table);
                    }
                }
                Op::AddRule(r) | Op::DeleteRule(r) if crate::expand::is_block_rule(r) => {
                    s.rule_block = true;
                }
                Op::AddRule(r) | Op::DeleteRule(r) => {
                    s.tables.insert(r.table);
                }
                Op::Ovs(o) => s.links.extend(o.scope_names()),
                Op::Firewall(op) => {
                    s.firewall.insert(op.scope_key());
                    // Re-creating a skeleton re-creates the networks in it.
                    if let crate::firewall::FwOp::Base { backend, .. } = &**op {
                        s.firewall.insert(format!("{backend}/*"));
                    }
                }
                Op::ConfigureDhcpServer { network, .. }
                | Op::StartDhcpServer { network }
                | Op::StopDhcpServer { network, .. }
                | Op::AddDhcpHost { network, .. }
                | Op::RemoveDhcpHost { network, .. } => {
                    s.dhcp_servers.insert(network.clone());
                }
            }
        }
        s
    }

    /// Adds the veth peers of scoped links (a pair is created and deleted as one) and
    /// the devices stacked on them in `target` (which the kernel deleted with their
    /// base). Stacked devices only `current` has were made by someone else after the
    /// apply (a VMM's macvtap on a NIC whose MTU hostnet changed): they stay.
    fn with_peers(&self, current: &KernelState, target: &KernelState) -> Scope {
        let mut s = self.clone();
        for st in [current, target] {
            for l in st.links.values() {
                if let LinkKind::Veth { peer: Some(p) } = &l.kind {
                    if self.links.contains(&l.name) {
                        s.links.insert(p.clone());
                    }
                }
            }
        }
        // Stacks are shallow (VLAN on a bond on a NIC); a few rounds reach the top.
        for _ in 0..3 {
            for l in target.links.values() {
                if l.kind.base().is_some_and(|b| s.links.contains(b)) {
                    s.links.insert(l.name.clone());
                }
            }
        }
        // A scoped bridge gets back the ports it had: deleting a bridge releases them
        // without an op naming them. Ports that joined since (a guest's tap) are not
        // in the target and stay out of scope.
        for l in target.links.values() {
            if l.controller
                .as_ref()
                .is_some_and(|c| self.links.contains(c))
            {
                s.links.insert(l.name.clone());
            }
        }
        s
    }

    fn covers(&self, op: &Op) -> bool {
        let link = |n: &str| self.links.contains(n);
        let route_in = |r: &crate::netdev::Route| {
            let dev = r
                .dev
                .as_deref()
                .is_some_and(|d| link(d) || self.route_devs.contains(d));
            if shared_table(r.table) {
                dev || (r.protocol == HOSTNET_PROTO && r.dev.as_deref().is_some_and(link))
            } else {
                self.tables.contains(&r.table) || r.dev.as_deref().is_some_and(link)
            }
        };
        match op {
            Op::CreateLink(l) => link(&l.name),
            Op::ChangeLink { name, .. }
            | Op::DeleteLink { name }
            | Op::BridgeVlans { name, .. }
            | Op::AltName { name, .. } => link(name),
            Op::AddAddress(a) | Op::DeleteAddress(a) => link(&a.ifname),
            Op::AddRoute(r) | Op::DeleteRoute(r) => route_in(r),
            Op::AddRule(r) | Op::DeleteRule(r) if crate::expand::is_block_rule(r) => {
                self.rule_block
            }
            Op::AddRule(r) | Op::DeleteRule(r) => self.tables.contains(&r.table),
            Op::Ovs(o) => o.scope_names().iter().any(|n| link(n)),
            Op::Firewall(op) => {
                let key = op.scope_key();
                self.firewall.contains(&key)
                    || key.split_once('/').is_some_and(|(b, _)| {
                        b != "sysctl" && self.firewall.contains(&format!("{b}/*"))
                    })
            }
            Op::ConfigureDhcpServer { network, .. }
            | Op::StartDhcpServer { network }
            | Op::StopDhcpServer { network, .. }
            | Op::AddDhcpHost { network, .. }
            | Op::RemoveDhcpHost { network, .. } => self.dhcp_servers.contains(network),
        }
    }
}

/// [`restore_plan`] limited to what `scope` covers (everything when `None`).
pub fn restore_plan_in(current: &KernelState, target: &KernelState, scope: Option<&Scope>) -> Plan {
    let mut plan = restore_plan(current, target);
    if let Some(scope) = scope {
        let scope = scope.with_peers(current, target);
        for phase in &mut plan.phases {
            phase.retain(|op| scope.covers(op));
        }
    }
    plan
}

fn creatable(kind: &LinkKind) -> bool {
    kind.creatable()
}

fn bridge_phase(kind: &LinkKind) -> Phase {
    super::devices::change_phase(kind)
}

/// Whether a link of kind `cur` can stay and be changed into `want`: same kind, and for
/// the kinds whose settings hostnet cannot change in place, the same settings.
fn same_kind(cur: &LinkKind, want: &LinkKind) -> bool {
    std::mem::discriminant(cur) == std::mem::discriminant(want)
        && match cur {
            LinkKind::Vlan(_)
            | LinkKind::Bond(_)
            | LinkKind::Vxlan(_)
            | LinkKind::MacVlan(_)
            | LinkKind::MacVtap(_)
            | LinkKind::IpVlan(_)
            | LinkKind::Vrf { .. }
            | LinkKind::Tap(_) => cur == want || cur.changes_in_place(want),
            _ => true,
        }
}

fn change(cur: &Link, want: &Link) -> LinkChange {
    let mut c = LinkChange::default();
    if cur.up != want.up {
        c.up = Some(want.up);
    }
    if cur.mtu != want.mtu {
        c.mtu = Some(want.mtu);
    }
    if cur.mac != want.mac {
        c.mac = want.mac;
    }
    if cur.controller != want.controller {
        c.controller = Some(want.controller.clone());
    }
    if let (LinkKind::Bridge(a), LinkKind::Bridge(b)) = (&cur.kind, &want.kind) {
        if a != b {
            c.bridge = Some(crate::netdev::BridgeChange::between(a, b));
        }
    }
    if cur.kind != want.kind && cur.kind.changes_in_place(&want.kind) {
        c.settings = Some(want.kind.clone());
    }
    c
}

/// Pushes the ops that create link `name` (and its veth peer) as it is in `state`: kind,
/// state, MTU, MAC and bridge, the bridge's MTU once its ports can be in. Ports, addresses
/// and routes are the caller's.
pub(crate) fn push_recreate(plan: &mut Plan, state: &KernelState, name: &str) {
    push_recreate_with(plan, state, name, true, true);
}

/// [`push_recreate`], without the MAC address (`mac: false`: the kernel picks one) or
/// without the master (`master: false`: one that is gone).
pub(crate) fn push_recreate_with(
    plan: &mut Plan,
    state: &KernelState,
    name: &str,
    mac: bool,
    master: bool,
) {
    let Some(want) = state.links.get(name) else {
        return;
    };
    let peer = match &want.kind {
        LinkKind::Veth { peer: Some(p) } => state.links.get(p).map(|pl| PeerSettings {
            up: pl.up,
            mtu: Some(pl.mtu),
            mac: pl.mac,
            controller: pl.controller.clone(),
        }),
        _ => None,
    };
    let is_bridge = super::devices::mtu_after_create(&want.kind);
    plan.push(
        super::devices::create_phase(&want.kind),
        Op::CreateLink(NewLink {
            name: name.to_string(),
            kind: want.kind.clone(),
            up: want.up,
            // A bridge takes its ports' MTU when they join unless set afterwards.
            mtu: (!is_bridge).then_some(want.mtu),
            mac: want.mac.filter(|_| mac),
            controller: want.controller.clone().filter(|_| master),
            peer,
        }),
    );
    // A device hostnet made without IPv6 (plan/port_ipv6.rs) comes back without it: the
    // switch right after its creation, as when it was first made, so it never goes up
    // with IPv6 on.
    if state.ipv6_default.is_some_and(|d| !d.disabled) {
        let peer = match &want.kind {
            LinkKind::Veth { peer: Some(p) } => Some(p.as_str()),
            _ => None,
        };
        for dev in std::iter::once(name)
            .chain(peer)
            .filter(|d| state.ipv6_disabled.contains(*d))
        {
            plan.push(
                super::devices::create_phase(&want.kind),
                super::port_ipv6::switch_off(dev),
            );
        }
    }
    if is_bridge {
        plan.push(
            super::devices::change_phase(&want.kind),
            Op::ChangeLink {
                name: name.to_string(),
                change: LinkChange {
                    mtu: Some(want.mtu),
                    ..LinkChange::default()
                },
            },
        );
    }
}

/// Moves "STP off" out of `c` into an op of its own in an earlier phase when the
/// forward delay goes below 2 s as well (the kernel checks the delay first).
pub(crate) fn push_stp_off(plan: &mut Plan, name: &str, c: &mut LinkChange) {
    let Some(b) = c.bridge.as_mut() else { return };
    if let Some(off) = b.split_stp_off() {
        plan.push(
            Phase::ChangeLinks,
            Op::ChangeLink {
                name: name.to_string(),
                change: LinkChange {
                    bridge: Some(off),
                    ..LinkChange::default()
                },
            },
        );
    }
    if b.is_empty() {
        c.bridge = None;
    }
}

/// The op that gives bridge port `name` its settings of `target`: what differs, when it
/// stays in the same bridge; all of them when it joins again (a port that joins gets the
/// kernel's defaults, which depend on its speed).
pub(crate) fn push_port_settings(
    plan: &mut Plan,
    current: &KernelState,
    target: &KernelState,
    name: &str,
    same_bridge: bool,
) {
    use crate::netdev::{BridgePortOptions, PortChange};
    let Some(want) = target.bridge_ports.get(name) else {
        return;
    };
    let change = match current.bridge_ports.get(name).filter(|_| same_bridge) {
        Some(have) => PortChange::between(have, want),
        None => PortChange::between(
            &BridgePortOptions {
                hairpin: !want.hairpin,
                cost: want.cost.wrapping_add(1),
                priority: want.priority.wrapping_add(1),
            },
            want,
        ),
    };
    if change.is_empty() {
        return;
    }
    plan.push(
        Phase::ChangeBridges,
        Op::ChangeLink {
            name: name.to_string(),
            change: LinkChange {
                port: Some(change),
                ..LinkChange::default()
            },
        },
    );
}

/// What every rollback plan needs once its ops are in: bond ports joined and released as
/// the kernel allows and set up again as they were in `target`, MTUs ordered along
/// stacks, on-link routes before the routes through a gateway they make reachable.
pub(crate) fn finish(plan: &mut Plan, current: &KernelState, target: &KernelState) {
    super::bond_ports::fix(plan, current, &|n| {
        target.links.get(n).is_some_and(|l| l.up)
    });
    super::devices::order_changes(plan, &[current, target]);
    super::vrf::creations_first(plan);
    plan.phases[Phase::AddRoutes as usize].sort_by_key(|op| match op {
        Op::AddRoute(r) => r.gateway.is_some(),
        _ => false,
    });
}

/// Plans the ops that make `current` equal to `target`.
pub fn restore_plan(current: &KernelState, target: &KernelState) -> Plan {
    let mut plan = Plan::new();
    // Devices Open vSwitch makes come and go with its bridges and ports.
    let ovs_owned = |n: &str| current.ovs.owns_device(n) || target.ovs.owns_device(n);
    for op in super::ovs::restore(&current.ovs, &target.ovs) {
        plan.push(Phase::Ovs, Op::Ovs(op));
    }
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    for (name, cur) in current.links.iter().filter(|(n, _)| !ovs_owned(n)) {
        let same_kind = target
            .links
            .get(name)
            .is_some_and(|t| same_kind(&cur.kind, &t.kind));
        if !same_kind && creatable(&cur.kind) && !deleted.contains(name.as_str()) {
            deleted.insert(name);
            if let LinkKind::Veth { peer: Some(p) } = &cur.kind {
                deleted.insert(p);
            }
            plan.push(Phase::DeleteLinks, Op::DeleteLink { name: name.clone() });
        }
    }
    let mut created: BTreeSet<&str> = BTreeSet::new();
    for (name, want) in target.links.iter().filter(|(n, _)| !ovs_owned(n)) {
        let existing = current
            .links
            .get(name)
            .filter(|_| !deleted.contains(name.as_str()));
        match existing {
            Some(cur) => {
                let mut c = change(cur, want);
                super::base_keys::restore(current, target, name, &mut c);
                push_stp_off(&mut plan, name, &mut c);
                if !c.is_empty() {
                    plan.push(
                        bridge_phase(&cur.kind),
                        Op::ChangeLink {
                            name: name.clone(),
                            change: c,
                        },
                    );
                }
            }
            None if creatable(&want.kind) && !created.contains(name.as_str()) => {
                created.insert(name);
                if let LinkKind::Veth { peer: Some(p) } = &want.kind {
                    created.insert(p);
                }
                push_recreate(&mut plan, target, name);
            }
            None => {}
        }
    }
    for name in target.bridge_ports.keys() {
        let same_bridge = current.links.get(name).is_some_and(|c| {
            !deleted.contains(name.as_str())
                && c.controller == target.links.get(name).and_then(|t| t.controller.clone())
        });
        push_port_settings(&mut plan, current, target, name, same_bridge);
    }
    let alive = |ifname: &str| !deleted.contains(ifname);
    // Dynamic addresses (SLAAC, DHCP clients') are their makers': neither taken away nor
    // made again (hostnet could only make them permanent).
    let has =
        |s: &KernelState, a: &crate::netdev::Address| s.addresses.iter().any(|x| x.same_key(a));
    for a in current
        .addresses
        .iter()
        .filter(|a| !a.dynamic && !has(target, a) && alive(&a.ifname))
    {
        plan.push(Phase::DeleteAddresses, Op::DeleteAddress(a.clone()));
    }
    for a in target
        .addresses
        .iter()
        .filter(|a| !a.dynamic && (!has(current, a) || !alive(&a.ifname)))
    {
        plan.push(Phase::AddAddresses, Op::AddAddress(a.clone()));
    }
    for r in current
        .routes
        .iter()
        .filter(|r| !target.routes.contains(r) && r.dev.as_deref().is_none_or(alive))
    {
        plan.push(Phase::DeleteRoutes, Op::DeleteRoute(r.clone()));
    }
    for r in target
        .routes
        .iter()
        .filter(|r| !current.routes.contains(r) || r.dev.as_deref().is_some_and(|d| !alive(d)))
    {
        plan.push(Phase::AddRoutes, Op::AddRoute(r.clone()));
    }
    // What the kernel takes with deleted addresses (secondaries, routes) comes back too.
    let (addresses, routes) = super::dropped::lost_with_addresses(current, &plan);
    let planned = super::dropped::planned_routes(&plan);
    for a in addresses
        .into_iter()
        .filter(|a| !a.dynamic && target.addresses.contains(a))
    {
        plan.push(Phase::AddAddresses, Op::AddAddress(a));
    }
    for r in routes
        .into_iter()
        .filter(|r| target.routes.contains(r) && !planned.contains(r))
    {
        plan.push(Phase::AddRoutes, Op::AddRoute(r));
    }
    super::bridge_vlans::restore(current, target, &mut plan);
    super::alt_names::restore(current, target, &mut plan);
    finish(&mut plan, current, target);
    for r in current.rules.iter().filter(|r| !target.rules.contains(r)) {
        plan.push(Phase::DeleteRules, Op::DeleteRule(r.clone()));
    }
    for r in target.rules.iter().filter(|r| !current.rules.contains(r)) {
        plan.push(Phase::AddRules, Op::AddRule(r.clone()));
    }
    super::push_firewall(
        &mut plan,
        crate::plan::firewall::restore(&current.firewall, &target.firewall),
    );
    super::base_keys::restore_switches(current, target, &mut plan);
    super::dhcp_server::restore_servers(current, target, &mut plan);
    // A bridge made again comes up after its IPv4 addresses, as in an apply (a boot's
    // restore makes every bridge again).
    super::bridges_up::arrange(&mut plan);
    plan
}

/// What would still have to be done to reach `target` within `scope` (empty when the
/// states agree there), one line per object, for reports of an incomplete rollback.
pub fn differences(
    current: &KernelState,
    target: &KernelState,
    scope: Option<&Scope>,
) -> Vec<String> {
    restore_plan_in(current, target, scope)
        .ops()
        .map(|op| format!("{} {op}", op.verb()))
        .collect()
}

#[cfg(test)]
#[path = "restore_tests.rs"]
mod tests;
