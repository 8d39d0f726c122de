//! A Linux bridge's MAC as the kernel keeps it (`br_stp_recalculate_bridge_id`): unless
//! it was set explicitly, each time a port joins, leaves or changes MAC the bridge takes
//! the lowest MAC of its ports, and 00:00:00:00:00:00 once it has none (findings F8 and
//! F12 of the fuzzer: the model kept the old MAC).

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
        let lowest = lowest_port_macs(s);
        let set = s
            .links
            .values()
            .filter(|l| matches!(l.kind, LinkKind::Bridge(_)))
            .filter(|b| {
                lowest
                    .get(b.name.as_str())
                    .is_some_and(|m| b.mac != Some(*m))
            })
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
            let mac = lowest_port_mac(s, b).unwrap_or(MacAddr([0; 6]));
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

/// [`lowest_port_mac`] of every controller, in one pass over the links: asking per
/// bridge scanned every link for each (quadratic at thousands of bridges).
fn lowest_port_macs(s: &KernelState) -> BTreeMap<&str, MacAddr> {
    let mut lowest: BTreeMap<&str, MacAddr> = BTreeMap::new();
    for l in s.links.values() {
        if let (Some(c), Some(m)) = (l.controller.as_deref(), l.mac) {
            lowest
                .entry(c)
                .and_modify(|x| *x = (*x).min(m))
                .or_insert(m);
        }
    }
    lowest
}

/// The lowest MAC among the ports of `bridge` (`None` when it has none).
fn lowest_port_mac(s: &KernelState, bridge: &str) -> Option<MacAddr> {
    s.links
        .values()
        .filter(|l| l.controller.as_deref() == Some(bridge))
        .filter_map(|l| l.mac)
        .min()
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
    fn lowest_port_macs_is_lowest_port_mac_of_each() {
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
        let all = lowest_port_macs(&s);
        for b in ["br0", "br1", "br2", "a"] {
            assert_eq!(all.get(b).copied(), lowest_port_mac(&s, b), "{b}");
        }
        // Neither bridge has its lowest port's MAC: both were set; br2 has no port MAC.
        let set = BridgeMacs::from_state(&s).set;
        assert_eq!(
            set.into_iter().collect::<Vec<_>>(),
            vec!["br0".to_string(), "br1".to_string()]
        );
    }
}
