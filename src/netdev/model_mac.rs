//! A Linux bridge's MAC as the kernel keeps it (`br_stp_recalculate_bridge_id`): unless
//! it was set explicitly, each time a port joins, leaves or changes MAC the bridge takes
//! the lowest MAC of its ports, and 00:00:00:00:00:00 once it has none (findings F8 and
//! F12 of the fuzzer: the model kept the old MAC). A new bridge has a random locally
//! administered MAC (`addr_assign_type` 1) until a port joins. Measured on 6.18 and on the
//! VM tier's 6.1 alike.

use std::collections::{BTreeMap, BTreeSet};

use super::{KernelState, LinkKind, MacAddr, Op};

/// The bridges whose MAC was set explicitly (the kernel's `NET_ADDR_SET`): they keep it.
#[derive(Debug, Default)]
pub(super) struct BridgeMacs {
    set: BTreeSet<String>,
}

impl BridgeMacs {
    /// What a state read from the kernel tells: netlink does not say how a MAC was
    /// assigned, so a bridge with ports whose MAC is not the lowest of theirs is taken
    /// as set explicitly; the others follow their ports.
    pub(super) fn from_state(s: &KernelState) -> BridgeMacs {
        let all = all_port_macs(s);
        let set = s
            .links
            .values()
            .filter(|l| matches!(l.kind, LinkKind::Bridge(_)))
            .filter(
                |b| matches!(all.get(b.name.as_str()), Some(Ports::Lowest(m)) if b.mac != Some(*m)),
            )
            .map(|b| b.name.clone())
            .collect();
        BridgeMacs { set }
    }

    /// The bridges whose ports `op` may change, read before it runs (a deleted or
    /// released port's bridge is gone from the state after).
    pub(super) fn touched(s: &KernelState, op: &Op) -> Vec<String> {
        let controller_of = |n: &str| s.links.get(n).and_then(|l| l.controller.clone());
        match op {
            Op::CreateLink(l) => [
                &l.controller,
                &l.peer.as_ref().and_then(|p| p.controller.clone()),
            ]
            .into_iter()
            .flatten()
            .cloned()
            .collect(),
            Op::ChangeLink { name, change } => {
                let mut v = Vec::new();
                if change.controller.is_some() || change.mac.is_some() {
                    v.extend(controller_of(name));
                }
                if let Some(Some(c)) = &change.controller {
                    v.push(c.clone());
                }
                v
            }
            Op::DeleteLink { name } => {
                // The link, its veth peer and the devices stacked on it go together.
                let peer = match s.links.get(name).map(|l| &l.kind) {
                    Some(LinkKind::Veth { peer: Some(p) }) => Some(p.as_str()),
                    _ => None,
                };
                s.links
                    .values()
                    .filter(|l| {
                        l.name == *name
                            || Some(l.name.as_str()) == peer
                            || l.kind.base().is_some_and(|b| b == name || Some(b) == peer)
                    })
                    .filter_map(|l| l.controller.clone())
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    /// Records what `op` (which succeeded) did to explicit MACs, and recomputes the MAC
    /// of the `touched` bridges that follow their ports.
    pub(super) fn after(&mut self, s: &mut KernelState, op: &Op, touched: &[String]) {
        match op {
            Op::CreateLink(l) if l.mac.is_some() && matches!(l.kind, LinkKind::Bridge(_)) => {
                self.set.insert(l.name.clone());
            }
            Op::ChangeLink { name, change }
                if change.mac.is_some()
                    && s.links
                        .get(name)
                        .is_some_and(|l| matches!(l.kind, LinkKind::Bridge(_))) =>
            {
                self.set.insert(name.clone());
            }
            Op::DeleteLink { name } => {
                self.set.remove(name);
            }
            _ => {}
        }
        self.follow(s, touched);
    }

    /// The `touched` bridges that follow their ports take the lowest port MAC.
    fn follow(&self, s: &mut KernelState, touched: &[String]) {
        for b in touched.iter().filter(|b| !self.set.contains(*b)) {
            if !s
                .links
                .get(b)
                .is_some_and(|l| matches!(l.kind, LinkKind::Bridge(_)))
            {
                continue;
            }
            let mac = match port_macs(s, b) {
                Ports::None => MacAddr([0; 6]),
                Ports::Lowest(m) => m,
                // A port whose MAC the state does not know (a test host's NIC) has one in
                // the kernel, which never leaves a bridge with ports at the zero address:
                // the bridge keeps the MAC it has (from its creation, a random one).
                Ports::Unknown => continue,
            };
            if let Some(l) = s.links.get_mut(b) {
                l.mac = Some(mac);
            }
        }
    }
}

impl BridgeMacs {
    /// After a run of deletions of `names` (see `model_batch.rs`): as [`Self::after`] for
    /// each, with the bridges whose ports went.
    pub(super) fn after_deletes(
        &mut self,
        s: &mut KernelState,
        names: &[&String],
        touched: &[String],
    ) {
        for n in names {
            self.set.remove(*n);
        }
        self.follow(s, touched);
    }
}

/// What the ports of a bridge say of its MAC.
#[derive(Debug, PartialEq)]
enum Ports {
    /// No port: the kernel's zero address.
    None,
    /// The lowest MAC of its ports, all known.
    Lowest(MacAddr),
    /// Some port's MAC is not known.
    Unknown,
}

impl Ports {
    /// What the ports say once one more port, of MAC `mac`, is counted.
    fn and(&self, mac: Option<MacAddr>) -> Ports {
        match (self, mac) {
            (Ports::Unknown, _) | (_, None) => Ports::Unknown,
            (Ports::None, Some(m)) => Ports::Lowest(m),
            (Ports::Lowest(x), Some(m)) => Ports::Lowest((*x).min(m)),
        }
    }
}

/// [`port_macs`] of every controller with a port, in one pass over the links: asking per
/// bridge scanned every link for each (quadratic at thousands of bridges).
fn all_port_macs(s: &KernelState) -> BTreeMap<&str, Ports> {
    let mut all: BTreeMap<&str, Ports> = BTreeMap::new();
    for l in s.links.values() {
        if let Some(c) = l.controller.as_deref() {
            let p = all.entry(c).or_insert(Ports::None);
            *p = p.and(l.mac);
        }
    }
    all
}

fn port_macs(s: &KernelState, bridge: &str) -> Ports {
    s.links
        .values()
        .filter(|l| l.controller.as_deref() == Some(bridge))
        .fold(Ports::None, |p, l| p.and(l.mac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::{BridgeOptions, Link};

    fn link(name: &str, kind: LinkKind, mac: Option<u8>, controller: Option<&str>) -> Link {
        Link {
            name: name.into(),
            kind,
            up: true,
            mtu: 1500,
            mac: mac.map(|m| MacAddr([2, 0, 0, 0, 0, m])),
            controller: controller.map(Into::into),
        }
    }

    /// The one-pass index gives, for every bridge, what the per-bridge scan gives.
    #[test]
    fn all_port_macs_is_port_macs_of_each() {
        let bridge = || LinkKind::Bridge(BridgeOptions::default());
        let mut s = KernelState::default();
        for l in [
            link("br0", bridge(), Some(9), None),
            link("br1", bridge(), Some(1), None),
            link("br2", bridge(), None, None),
            link("a", LinkKind::Ethernet, Some(7), Some("br0")),
            link("b", LinkKind::Ethernet, Some(3), Some("br0")),
            link("c", LinkKind::Ethernet, None, Some("br0")),
            link("d", LinkKind::Ethernet, Some(5), Some("br1")),
            link("e", LinkKind::Ethernet, None, Some("br2")),
        ] {
            s.links.insert(l.name.clone(), l);
        }
        let all = all_port_macs(&s);
        for b in ["br0", "br1", "br2", "a"] {
            let one = port_macs(&s, b);
            match all.get(b) {
                Some(p) => assert_eq!(p, &one, "{b}"),
                None => assert_eq!(one, Ports::None, "{b}"),
            }
        }
        // br1 does not have its only port's MAC: it was set. br0 and br2 have a port
        // whose MAC is not known, so they are not taken as set.
        let set = BridgeMacs::from_state(&s).set;
        assert_eq!(set.into_iter().collect::<Vec<_>>(), vec!["br1".to_string()]);
    }
}
