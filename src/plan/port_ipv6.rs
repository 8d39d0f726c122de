//! Devices hostnet creates that need no IPv6 of their own are created with it disabled
//! (issue 18, item 2): bridge ports (veth ends, taps, VXLAN and other devices made as ports
//! of a Linux bridge), the peer of a veth made as a port when the file gives that peer no
//! address and no network, and the bridge of a network whose file asks for no IPv6 on it
//! (no IPv6 address, no DHCPv6, no `ipv6: {enabled: true}` or `autoconf: true` for the
//! bridge) unless its uplink existed before this plan with IPv6 on. Every device that
//! comes up with IPv6 makes the kernel walk the namespace's whole IPv6 routing table and
//! adds routes to it, so bringing N such devices up costs O(N²); a device whose
//! `disable_ipv6` is on before it goes up does neither.
//!
//! The uplink decides for an IPv4-only network: one that existed with IPv6 on puts the
//! host on a LAN where it has IPv6 now (the LAN's routers may configure it by SLAAC, which
//! the apply must not take away), so the bridge keeps IPv6; one the plan creates (a VLAN
//! device, a veth), or one whose IPv6 is off, puts it where it had none, and the file's
//! "IPv4 only" wins, as nmstate makes a new interface without an `ipv6` section.
//!
//! The switch is an ordinary journaled sysctl op, planned right after the op that creates
//! the device, in the same phase: the Linux driver creates such a device down, writes the
//! sysctl, then brings it up (`netdev/linux/quiet_create.rs`). Only devices this plan
//! creates get it, never an existing one (a NIC, another tool's device); a device keeps it
//! when it later leaves its bridge, and the file wins: an interface with `ipv6: {enabled:
//! true}`, `autoconf: true` or IPv6 addresses is created as the kernel makes it, and a
//! network's bridge made without IPv6 gets it back once its network has IPv6.
//!
//! A bridge that keeps IPv6 only for its uplink's sake keeps it from its creation: each
//! such bridge has an uplink of its own that had IPv6 before the plan (no two bridges
//! share a port), so they never outnumber the devices with IPv6 already there, and the
//! walks they add to the ports' switches are no more than those devices add.

use std::collections::{BTreeMap, BTreeSet};

use super::{Phase, Plan};

use crate::expand::{Intent, LinkIntent};
use crate::firewall::{sysctl, FwOp};
use crate::netdev::{KernelState, LinkKind, NewLink, Op};

/// The creation phases whose devices may be ports or networks' bridges.
const PHASES: [Phase; 4] = [
    Phase::CreateBridges,
    Phase::CreateDevices,
    Phase::CreateVeths,
    Phase::CreateStacked,
];

/// The networks' devices, looked up once per plan (a lookup per link through every
/// network made plans of thousands of networks quadratic).
pub(super) struct Networks<'a> {
    /// Every present network's device.
    devices: BTreeSet<&'a str>,
    /// The bridges of present networks, with what keeps their IPv6.
    bridges: BTreeMap<&'a str, Keeps>,
}

/// Why a network's bridge keeps IPv6 (neither: it is created without).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Keeps {
    /// Its network has IPv6 (an IPv6 address, DHCPv6).
    file: bool,
    /// Its uplink existed before the plan with IPv6 on (not made, nor made again, by it).
    uplink: bool,
}

impl<'a> Networks<'a> {
    /// `plan`: the plan so far, whose creations are not uplinks that were there.
    pub(super) fn new(current: &KernelState, intent: &'a Intent, plan: &Plan) -> Self {
        let mut out = Networks {
            devices: BTreeSet::new(),
            bridges: BTreeMap::new(),
        };
        let made = created_names(plan);
        let had_ipv6 = |dev: &str| {
            current.links.contains_key(dev)
                && !made.contains(dev)
                && current.ipv6_switches(dev).is_some_and(|s| !s.disabled)
        };
        for n in intent.networks.iter().filter(|n| !n.absent) {
            out.devices.insert(&n.device);
            if n.bridged {
                let v6 = n.dhcp.v6.is_some() || n.addresses.iter().any(|a| a.addr().is_ipv6());
                let e = out.bridges.entry(&n.device).or_default();
                e.file |= v6;
                e.uplink |= n.uplink.as_deref().is_some_and(had_ipv6);
            }
        }
        out
    }

    /// Whether `name` is the bridge of a network with IPv6 (an IPv6 address, DHCPv6): one
    /// made without it while its network had none gets it back (see `base_keys`).
    pub(super) fn needs_ipv6(&self, name: &str) -> bool {
        self.bridges.get(name).is_some_and(|b| b.file)
    }
}

/// The links `plan` creates, in the order it makes them.
fn created_links(plan: &Plan) -> impl Iterator<Item = &NewLink> {
    PHASES
        .iter()
        .flat_map(|p| &plan.phases[*p as usize])
        .filter_map(|op| match op {
            Op::CreateLink(l) => Some(l),
            _ => None,
        })
}

/// The names of the devices `plan` creates (veth peers too).
fn created_names(plan: &Plan) -> BTreeSet<&str> {
    created_links(plan)
        .flat_map(|l| {
            let peer = match &l.kind {
                LinkKind::Veth { peer: Some(p) } => Some(p.as_str()),
                _ => None,
            };
            std::iter::once(l.name.as_str()).chain(peer)
        })
        .collect()
}

/// Adds the switch after each creation that needs it; the names of the devices it is
/// for.
pub(super) fn plan(
    current: &KernelState,
    intent: &Intent,
    nets: &Networks,
    plan: &mut Plan,
) -> BTreeSet<String> {
    let mut off = BTreeSet::new();
    // A host without IPv6 has nothing to switch; one whose new devices start without it
    // needs no switch.
    if current.ipv6_default.is_none_or(|d| d.disabled) {
        return off;
    }
    for phase in PHASES {
        let ops = std::mem::take(&mut plan.phases[phase as usize]);
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            let names = match &op {
                Op::CreateLink(l) => without_ipv6(intent, nets, l),
                _ => Vec::new(),
            };
            out.push(op);
            for name in names {
                out.push(switch_off(&name));
                off.insert(name);
            }
        }
        plan.phases[phase as usize] = out;
    }
    off
}

/// Which of the devices `l` creates (it, a veth's peer) are made without IPv6.
fn without_ipv6(intent: &Intent, nets: &Networks, l: &NewLink) -> Vec<String> {
    let mut out = Vec::new();
    let port = l.controller.is_some();
    let li = intent.links.get(&l.name);
    // A network's bridge when the file asks for no IPv6 there and its uplink gave the
    // host none before: the host needs none (its guests may still speak it among
    // themselves: the bridge forwards their frames, and a guest's router advertisement no
    // longer configures the host). An uplink that was there with IPv6 keeps it for an
    // IPv4-only network: its routers may configure the host by SLAAC, which such a file
    // leaves alone (tests/dynamic_addresses.rs).
    let bare_bridge = matches!(l.kind, LinkKind::Bridge(_))
        && nets.bridges.get(l.name.as_str()) == Some(&Keeps::default());
    if decide(li, port || bare_bridge) {
        out.push(l.name.clone());
    }
    if let (LinkKind::Veth { peer: Some(peer) }, Some(settings)) = (&l.kind, &l.peer) {
        let pi = intent.links.get(peer);
        let unused = port
            && pi.is_none_or(|p| p.ipv4.as_ref().is_none_or(Vec::is_empty))
            && !nets.devices.contains(peer.as_str());
        if decide(pi, settings.controller.is_some() || unused) {
            out.push(peer.clone());
        }
    }
    out
}

/// `by_role` unless the file says otherwise of the device.
fn decide(li: Option<&LinkIntent>, by_role: bool) -> bool {
    let Some(li) = li else { return by_role };
    let asks_ipv6 = li.base.ipv6_enabled == Some(true)
        || li.base.autoconf == Some(true)
        || li.ipv6.as_ref().is_some_and(|a| !a.is_empty());
    !asks_ipv6 && (by_role || li.base.ipv6_enabled == Some(false))
}

/// The op that turns IPv6 off on `dev`, just created (its `default` was on).
pub(super) fn switch_off(dev: &str) -> Op {
    Op::Firewall(Box::new(FwOp::Sysctl {
        key: sysctl::disable_ipv6(dev),
        from: Some("0".into()),
        to: "1".into(),
    }))
}
