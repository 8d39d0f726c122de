//! The kernel's rule for a Linux bridge's MTU (`br_mtu_auto_adjust`, net/bridge/br_if.c),
//! as the model driver mirrors it and the planner predicts it. Measured on 6.18 with `ip`
//! in a namespace (the commands are in `tests/bridge_mtu.rs`):
//!
//! * A bridge whose MTU was never *set* follows its ports: when a port joins, leaves, or
//!   changes its MTU, the bridge takes the smallest port MTU, or 1500 once it has no port.
//! * Setting a bridge's MTU to another value than it has (RTM_NEWLINK with IFLA_MTU,
//!   SIOCSIFMTU) marks it set (`BROPT_MTU_SET_BY_USER`): from then on the kernel never
//!   changes it, whatever its ports do, and it may exceed theirs.
//! * Setting it to the value it has already is no change and marks nothing; neither does
//!   an MTU given when the bridge is created.
//!
//! The kernel does not report the mark. A state read from it says enough in most cases:
//! a bridge with ports whose MTU is not their smallest one is certainly set; one without
//! ports at another MTU than 1500 is taken as set (it may also have been created with
//! that MTU and have had no port since). A bridge whose MTU equals what following its
//! ports would give is taken as following them: a bridge set by hand to exactly that value
//! is the one case a state cannot tell, and the planner re-asserts the file's MTU after any
//! change of a bridge's ports, so that an apply ends where the file says either way.

use std::collections::{BTreeMap, BTreeSet};

use super::{KernelState, LinkKind, Op};

/// The MTU of a bridge without ports that follows them (ETH_DATA_LEN).
pub const DEFAULT_MTU: u32 = 1500;

/// Whether `name` is a Linux bridge in `s`.
pub fn is_bridge(s: &KernelState, name: &str) -> bool {
    s.links
        .get(name)
        .is_some_and(|l| matches!(l.kind, LinkKind::Bridge(_)))
}

/// The MTU bridge `bridge` has when it follows its ports: their smallest, or 1500.
pub fn following_mtu(s: &KernelState, bridge: &str) -> u32 {
    s.links
        .values()
        .filter(|l| l.controller.as_deref() == Some(bridge))
        .map(|l| l.mtu)
        .min()
        .unwrap_or(DEFAULT_MTU)
}

/// Whether `bridge` has a port in `s`.
pub fn has_ports(s: &KernelState, bridge: &str) -> bool {
    s.links
        .values()
        .any(|l| l.controller.as_deref() == Some(bridge))
}

/// The bridges of `s` taken as set by hand (see the module documentation), in one pass.
pub fn inferred_set(s: &KernelState) -> BTreeSet<String> {
    let mut smallest: BTreeMap<&str, u32> = BTreeMap::new();
    for l in s.links.values() {
        if let Some(c) = &l.controller {
            let m = smallest.entry(c.as_str()).or_insert(l.mtu);
            *m = (*m).min(l.mtu);
        }
    }
    s.links
        .values()
        .filter(|l| matches!(l.kind, LinkKind::Bridge(_)))
        .filter(|l| {
            l.mtu
                != smallest
                    .get(l.name.as_str())
                    .copied()
                    .unwrap_or(DEFAULT_MTU)
        })
        .map(|l| l.name.clone())
        .collect()
}

/// The bridges whose ports `op` may change (a port joins or leaves, or changes its MTU),
/// as `s` stands before it runs.
pub fn touched_by(s: &KernelState, op: &Op) -> Vec<String> {
    let controller = |name: &str| s.links.get(name).and_then(|l| l.controller.clone());
    let mut out: Vec<String> = Vec::new();
    match op {
        Op::CreateLink(l) => {
            out.extend(l.controller.clone());
            out.extend(l.peer.as_ref().and_then(|p| p.controller.clone()));
        }
        Op::ChangeLink { name, change } if change.mtu.is_some() || change.controller.is_some() => {
            out.extend(controller(name));
            if let Some(Some(c)) = &change.controller {
                out.push(c.clone());
            }
        }
        Op::DeleteLink { name } => {
            let mut gone = vec![name.clone()];
            if let Some(LinkKind::Veth { peer: Some(p) }) = s.links.get(name).map(|l| &l.kind) {
                gone.push(p.clone());
            }
            let stacked: Vec<String> = s
                .links
                .values()
                .filter(|l| l.kind.base().is_some_and(|b| gone.contains(&b.to_string())))
                .map(|l| l.name.clone())
                .collect();
            gone.extend(stacked);
            out.extend(gone.iter().filter_map(|g| controller(g)));
        }
        _ => {}
    }
    out.retain(|b| is_bridge(s, b));
    out.sort();
    out.dedup();
    out
}

/// The mark as the model driver keeps it: inferred from the state it starts from, known
/// from the state's record of the bridges hostnet set ([`KernelState::bridge_mtu_set`]),
/// then set by each change of a bridge's MTU to another value.
#[derive(Clone, Debug, Default)]
pub struct Marks {
    set: BTreeSet<String>,
    /// The bridges known to be set (recorded, or set since), as opposed to inferred.
    known: BTreeSet<String>,
}

/// What [`Marks::before`] saw, for [`Marks::after`].
pub struct Pending {
    following: Vec<String>,
    set_here: Option<String>,
}

impl Pending {
    /// For a run of deletions: the bridges, not set by hand, whose ports went.
    pub fn following(bridges: Vec<String>) -> Pending {
        Pending {
            following: bridges,
            set_here: None,
        }
    }
}

impl Marks {
    pub fn new(s: &KernelState) -> Marks {
        let known: BTreeSet<String> = s
            .bridge_mtu_set
            .iter()
            .filter(|b| is_bridge(s, b))
            .cloned()
            .collect();
        let mut set = inferred_set(s);
        set.extend(known.iter().cloned());
        Marks { set, known }
    }

    /// The bridges known to be set by hand: recorded ones, and those set since.
    pub fn known(&self) -> &BTreeSet<String> {
        &self.known
    }

    pub fn is_set(&self, bridge: &str) -> bool {
        self.set.contains(bridge)
    }

    /// Notes, before `op` runs on `s`, which bridges follow ports it changes and whether
    /// it sets a bridge's MTU to another value.
    pub fn before(&self, s: &KernelState, op: &Op) -> Pending {
        let set_here = match op {
            Op::ChangeLink { name, change } => change
                .mtu
                .filter(|m| is_bridge(s, name) && s.links.get(name).is_some_and(|l| l.mtu != *m))
                .map(|_| name.clone()),
            _ => None,
        };
        Pending {
            following: touched_by(s, op)
                .into_iter()
                .filter(|b| !self.is_set(b))
                .collect(),
            set_here,
        }
    }

    /// Once `op` ran: marks the bridge it set, and gives the bridges that follow their
    /// ports the MTU the kernel gives them.
    pub fn after(&mut self, s: &mut KernelState, p: Pending) {
        self.set.extend(p.set_here.iter().cloned());
        self.known.extend(p.set_here);
        self.set.retain(|b| is_bridge(s, b));
        self.known.retain(|b| is_bridge(s, b));
        for b in p.following.iter().filter(|b| !self.set.contains(*b)) {
            let m = following_mtu(s, b);
            if let Some(l) = s
                .links
                .get_mut(b)
                .filter(|l| matches!(l.kind, LinkKind::Bridge(_)))
            {
                l.mtu = m;
            }
        }
    }
}
