//! Planning: the difference between the kernel's current state and an [`Intent`], as an
//! ordered list of phases of [`Op`]s.
//!
//! Planning is a pure function. Its contract, checked by the property tests:
//! executing the plan on a kernel in state `current` yields a state that plans to nothing
//! (`plan(apply(current, plan(current, intent)), intent)` is empty).
//!
//! Ops inside a phase are independent, so a driver may pipeline them; phases run in order:
//! removals first, from the most dependent objects (rules, routes, addresses) to devices,
//! then creations the other way round. Deleting rules before routes is VDSM's lesson: a
//! rule pointing at an emptied table would send traffic to the main table meanwhile.

mod alt_names;
mod base_keys;
#[cfg(test)]
mod base_keys_tests;
mod bond_ports;
mod bridge_mtu;
mod bridge_vlans;
mod bridges_up;
#[cfg(test)]
mod bridges_up_tests;
mod checks;
#[cfg(test)]
mod checks_tests;
pub mod copies;
#[cfg(test)]
mod device_keys_tests;
#[cfg(test)]
mod device_tests;
mod devices;
pub mod dhcp;
mod dhcp_server;
mod dropped;
pub mod firewall;
mod ipvlan_base;
#[cfg(test)]
mod kinds_tests;
mod links;
pub mod ovs;
mod ovs_db;
mod ovs_global;
mod ovs_maps;
mod owned;
mod port_ipv6;
#[cfg(test)]
mod port_ipv6_tests;
mod restore;
mod rule_block;
pub mod scope;
#[cfg(test)]
mod scope_tests;
pub mod undo;
mod vlan_aware_uplinks;
mod vlan_filtering_off;
mod vrf;
#[cfg(test)]
mod vrf_tests;

pub(crate) use base_keys::sysctl_phase;

pub(crate) use devices::change_phase;
pub(crate) use dhcp_server::inverse as dhcp_server_inverse;
pub use restore::{differences, restore_plan, restore_plan_in, Scope};

use std::fmt;

use crate::expand::Intent;
use crate::netdev::{KernelState, Op};

/// The phases, in execution order. The names appear in debug output only.
pub const PHASES: [&str; 31] = [
    "firewall teardown",
    "stop dhcp servers",
    "remove dhcp hosts",
    "delete rules",
    "delete routes",
    "add addresses first",
    "delete addresses",
    "release ports",
    "delete links",
    "delete alt names",
    "create bridges",
    "bridge mtu",
    "create devices",
    "create veths",
    "create stacked",
    "open vswitch",
    "change links",
    "change bridges",
    "add alt names",
    "add bridge vlans",
    "delete bridge vlans",
    "link sysctls",
    "add addresses",
    "bridges up",
    "add routes",
    "add rules",
    "firewall setup",
    "sysctls",
    "configure dhcp servers",
    "add dhcp hosts",
    "start dhcp servers",
];

/// Index of each phase in [`PHASES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(usize)]
pub enum Phase {
    /// Firewall state of removed networks goes before the devices it guards.
    FirewallTeardown,
    /// Before links go: a server bound to a bridge stops before the bridge is deleted.
    StopDhcpServers,
    RemoveDhcpHosts,
    DeleteRules,
    DeleteRoutes,
    /// New addresses on existing devices, before the old ones go, where the kernel
    /// allows it: a device that keeps an address keeps its routes (see
    /// [`crate::netdev::model::delete_address`]).
    AddAddressesFirst,
    DeleteAddresses,
    ReleasePorts,
    DeleteLinks,
    /// Alternative names go before links are made and names added, so that a name can
    /// move (see [`alt_names`]).
    DeleteAltNames,
    CreateBridges,
    /// A bridge's MTU before its ports join, leave or change theirs, so that the kernel
    /// keeps it (see [`bridge_mtu`]).
    BridgeMtu,
    /// Bonds and taps: after the bridges they may join, before the veths that may
    /// join them.
    CreateDevices,
    CreateVeths,
    /// VLAN, VXLAN, MACVLAN, MACVTAP: after every device they may sit on.
    CreateStacked,
    /// Open vSwitch, as one OVSDB transaction: after the devices that become its ports,
    /// before the changes that set its internal ports up.
    Ovs,
    ChangeLinks,
    ChangeBridges,
    /// Once the links they name are made.
    AddAltNames,
    /// Bridge port VLANs, once ports are in and VLAN filtering is on: the new ones (and
    /// the PVID) first, so that a port never goes without its VLANs on the way.
    AddBridgeVlans,
    DeleteBridgeVlans,
    /// An interface's IPv6 switches (`disable_ipv6`, `autoconf`): before its IPv6
    /// addresses are added, after those removed (see [`base_keys`]).
    LinkSysctls,
    AddAddresses,
    /// New bridges with an IPv4 address, created down, come up once it is on (see
    /// [`bridges_up`]); before the routes, which the kernel refuses on a down device.
    BridgesUp,
    AddRoutes,
    AddRules,
    /// Firewall chains once devices and addresses exist.
    FirewallSetup,
    /// Forwarding turns on only after the rules that guard it are in.
    Sysctls,
    /// After addresses: dnsmasq binds to the bridge's address when it starts.
    ConfigureDhcpServers,
    AddDhcpHosts,
    StartDhcpServers,
}

/// An ordered set of changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// One entry per [`Phase`]; empty phases are kept so that indexes stay meaningful.
    pub phases: Vec<Vec<Op>>,
    /// What the plan could not do and the user should know (printed as warnings): a
    /// network to remove that nothing was found of.
    pub notes: Vec<String>,
}

impl Plan {
    pub(crate) fn new() -> Plan {
        Plan {
            phases: vec![Vec::new(); PHASES.len()],
            notes: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, phase: Phase, op: Op) {
        self.phases[phase as usize].push(op);
    }

    pub fn is_empty(&self) -> bool {
        self.phases.iter().all(Vec::is_empty)
    }

    pub fn len(&self) -> usize {
        self.phases.iter().map(Vec::len).sum()
    }

    /// All ops in execution order.
    pub fn ops(&self) -> impl Iterator<Item = &Op> {
        self.phases.iter().flatten()
    }

    /// Counts of created, changed and removed objects.
    pub fn summary(&self) -> (usize, usize, usize) {
        self.ops().fold((0, 0, 0), |(a, c, r), op| match op.sign() {
            '+' => (a + 1, c, r),
            '~' => (a, c + 1, r),
            _ => (a, c, r + 1),
        })
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in self.ops() {
            writeln!(f, "{} {op}", op.sign())?;
        }
        Ok(())
    }
}

/// The intent cannot be reached from the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct PlanError {
    /// The field of the input the problem comes from.
    pub path: String,
    pub message: String,
}

/// Plans the changes that take `current` to `intent`.
pub fn plan(current: &KernelState, intent: &Intent) -> Result<Plan, Vec<PlanError>> {
    // hostnet's own objects as a boot stack made them count as hostnet's (see `copies`).
    let view = copies::view(current, &intent.persisted);
    let current = view.as_ref().map_or(current, |v| &v.state);
    let mut plan = plan_view(current, intent)?;
    if let Some(v) = &view {
        v.map_back(&mut plan);
    }
    Ok(plan)
}

fn plan_view(current: &KernelState, intent: &Intent) -> Result<Plan, Vec<PlanError>> {
    let resolved = dhcp::resolve(current, intent)?;
    let based = base_keys::resolve(current, &resolved)?;
    let vrfs = vrf::resolve(current, &based)?;
    let intent = &*vrfs;
    let mut plan = Plan::new();
    let mut errors = Vec::new();
    links::plan_links(current, intent, &mut plan, &mut errors);
    bridge_vlans::plan_vlans(current, intent, &mut plan, &mut errors);
    vlan_aware_uplinks::check_recorded(intent, &mut errors);
    devices::check_stacked_mtu(current, intent, &mut errors);
    links::plan_addresses(current, intent, &mut plan);
    base_keys::plan(current, intent, &mut plan);
    alt_names::plan(current, intent, &mut plan, &mut errors);
    let ix = owned::Index::new(current, intent);
    owned::check_tables(current, &ix, intent, &mut errors);
    owned::plan_routes(current, &ix, intent, &mut plan, &mut errors);
    owned::plan_rules(current, &ix, intent, &mut plan);
    rule_block::plan_block(current, intent, &mut plan, &mut errors);
    match ovs::plan(&current.ovs, &intent.ovs, &current.links, &intent.links) {
        Ok(ops) => {
            for op in ops {
                plan.push(Phase::Ovs, Op::Ovs(op));
            }
        }
        Err(e) => errors.extend(e),
    }
    plan_firewall(current, intent, &mut plan, &mut errors);
    dhcp_server::plan_servers(current, intent, &mut plan);
    checks::check(current, intent, &plan, &mut errors);
    plan.notes = checks::unfound_removals(current, intent);
    plan.notes.extend(intent.notes.iter().cloned());
    if !errors.is_empty() {
        return Err(errors);
    }
    bond_ports::fix(&mut plan, current, &|n| match intent.links.get(n) {
        Some(li) => li.state == crate::model::IfaceState::Up,
        None => current.links.get(n).is_some_and(|l| l.up),
    });
    devices::order_changes(&mut plan, &[current]);
    bridge_mtu::arrange(current, intent, &mut plan);
    vrf::arrange(&mut plan, current, intent);
    dropped::readd_dropped_routes(current, intent, &mut plan);
    bridges_up::arrange(&mut plan);
    // On-link routes before routes through a gateway that they make reachable.
    plan.phases[Phase::AddRoutes as usize].sort_by_key(|op| match op {
        Op::AddRoute(r) => r.gateway.is_some(),
        _ => false,
    });
    Ok(plan)
}

/// The firewall's ops, and the floating IPs' host addresses.
fn plan_firewall(
    current: &KernelState,
    intent: &Intent,
    plan: &mut Plan,
    errors: &mut Vec<PlanError>,
) {
    let fw = &intent.firewall;
    match crate::plan::firewall::plan(&current.firewall, fw) {
        Ok(p) => push_firewall(plan, p),
        Err(es) => errors.extend(es.into_iter().map(|message| PlanError {
            path: "networks".into(),
            message,
        })),
    }
    let has = |a: &crate::netdev::Address| current.addresses.iter().any(|x| x == a);
    let planned = |plan: &Plan, op: &Op| plan.ops().any(|o| o == op);
    for a in fw.addresses.iter().filter(|a| !has(a)) {
        let op = Op::AddAddress(a.clone());
        if !planned(plan, &op) {
            plan.push(Phase::AddAddresses, op);
        }
    }
    for a in crate::plan::firewall::dropped_addresses(&current.firewall, fw) {
        let op = Op::DeleteAddress(a.clone());
        if has(&a) && !planned(plan, &op) {
            plan.push(Phase::DeleteAddresses, op);
        }
    }
}

pub(crate) fn push_firewall(plan: &mut Plan, p: crate::plan::firewall::FwPlan) {
    for op in p.teardown {
        plan.push(Phase::FirewallTeardown, Op::Firewall(Box::new(op)));
    }
    for op in p.setup.into_iter().chain(p.cleanup) {
        plan.push(Phase::FirewallSetup, Op::Firewall(Box::new(op)));
    }
    for op in p.sysctls {
        let phase = match &op {
            crate::firewall::FwOp::Sysctl { key, .. } => base_keys::sysctl_phase(key),
            _ => Phase::Sysctls,
        };
        plan.push(phase, Op::Firewall(Box::new(op)));
    }
}

#[cfg(test)]
mod day2_tests;
#[cfg(test)]
mod dynamic_tests;
#[cfg(test)]
mod nmstate_tests;
#[cfg(test)]
mod proptests;
#[cfg(test)]
pub(crate) mod tests;
