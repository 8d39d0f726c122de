//! The part of the host an apply reads: the links a file names and the links they hang
//! together with, so that a one-network change among thousands reads a handful of links
//! instead of every one (see [`crate::plan::scope`] for what the planner needs and why
//! this is enough).
//!
//! [`KernelState::narrowed`] is the reference: a driver's scoped read must return exactly
//! the full state narrowed to the same reach.

use std::collections::BTreeSet;

use super::{KernelState, LinkKind};

/// Which links a read must return, beyond which everything link-keyed is left out.
/// Addresses, routes, rules, the firewall, Open vSwitch and the DHCP servers are read
/// whole whatever the reach (the planner's cross-network checks read them all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reach {
    /// Names (or alternative names) of links to read; names of no link are harmless.
    pub names: BTreeSet<String>,
    /// Every VRF of the host too (a network's table must not be a VRF's).
    pub vrfs: bool,
}

impl Reach {
    /// The links of `full` within the reach: those named (by name or alternative name),
    /// the VRFs when asked, and, until nothing is added, the controller, veth peer and
    /// lower device of each, and every port of each.
    pub fn links(&self, full: &KernelState) -> BTreeSet<String> {
        let mut kept: BTreeSet<String> = full
            .links
            .values()
            .filter(|l| {
                self.names.contains(&l.name)
                    || full
                        .alt_names
                        .get(&l.name)
                        .is_some_and(|alts| alts.iter().any(|a| self.names.contains(a)))
                    || (self.vrfs && matches!(l.kind, LinkKind::Vrf { .. }))
            })
            .map(|l| l.name.clone())
            .collect();
        loop {
            let mut more = Vec::new();
            for l in full.links.values() {
                if kept.contains(&l.name) {
                    let peer = match &l.kind {
                        LinkKind::Veth { peer } => peer.as_deref(),
                        _ => None,
                    };
                    more.extend(
                        [l.controller.as_deref(), peer, l.kind.base()]
                            .into_iter()
                            .flatten()
                            .filter(|n| full.links.contains_key(*n) && !kept.contains(*n))
                            .map(str::to_string),
                    );
                } else if l.controller.as_ref().is_some_and(|c| kept.contains(c)) {
                    more.push(l.name.clone());
                }
            }
            if more.is_empty() {
                return kept;
            }
            kept.extend(more);
        }
    }
}

impl KernelState {
    /// This state as a read limited to `reach` returns it: only the links of
    /// [`Reach::links`] and what is keyed by them; the rest whole. `no_bridge_vlans`
    /// (what a bridge's dump says) stays only when a bridge is kept.
    pub fn narrowed(&self, reach: &Reach) -> KernelState {
        let kept = reach.links(self);
        let has = |n: &String| kept.contains(n);
        let mut out = self.clone();
        out.links.retain(|n, _| has(n));
        out.link_ids.0.retain(|n, _| has(n));
        out.bridge_mtu_set.retain(has);
        out.ipv6_disabled.retain(has);
        out.ipv6_no_autoconf.retain(has);
        out.bridge_ports.retain(|n, _| has(n));
        out.bridge_vlans.retain(|n, _| has(n));
        out.aliases.retain(|n, _| has(n));
        out.alt_names.retain(|n, _| has(n));
        out.promisc.retain(has);
        out.bond_ports.retain(|n, _| has(n));
        out.inet6.retain(|n, _| has(n));
        out.no_bridge_vlans = self.no_bridge_vlans
            && out
                .links
                .values()
                .any(|l| matches!(l.kind, LinkKind::Bridge(_)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::{Link, VlanOptions, VlanProtocol};

    #[test]
    fn the_reach_follows_controllers_peers_lower_devices_and_ports() {
        let mut s = KernelState::default();
        let veth = |p: &str| LinkKind::Veth {
            peer: Some(p.into()),
        };
        let vlan = LinkKind::Vlan(VlanOptions {
            base: Some("eth0".into()),
            id: 5,
            protocol: VlanProtocol::Dot1Q,
            reorder_headers: true,
            loose_binding: false,
            gvrp: false,
            mvrp: false,
        });
        for l in [
            Link::up("br0", LinkKind::Bridge(Default::default()), None),
            Link::up("br1", LinkKind::Bridge(Default::default()), None),
            Link::up("br2", LinkKind::Bridge(Default::default()), None),
            Link::up("v0", veth("p0"), Some("br0")),
            Link::up("p0", veth("v0"), Some("br1")),
            Link::up("t1", LinkKind::Other("tun".into()), Some("br1")),
            Link::up("eth0", LinkKind::Ethernet, None),
            Link::up("eth0.5", vlan, Some("br0")),
            Link::up("eth1", LinkKind::Ethernet, Some("br2")),
            Link::up("vrf9", LinkKind::Vrf { table: 9 }, None),
        ] {
            s.links.insert(l.name.clone(), l);
        }
        s.alt_names
            .insert("br2".into(), ["second".to_string()].into_iter().collect());
        let reach = |names: &[&str], vrfs| Reach {
            names: names.iter().map(|n| n.to_string()).collect(),
            vrfs,
        };
        let got = reach(&["br0"], false).links(&s);
        let want = ["br0", "br1", "eth0", "eth0.5", "p0", "t1", "v0"];
        assert_eq!(got, want.iter().map(|n| n.to_string()).collect());
        let got = reach(&["second", "nothing"], true).links(&s);
        let want = ["br2", "eth1", "vrf9"];
        assert_eq!(got, want.iter().map(|n| n.to_string()).collect());
        let n = s.narrowed(&reach(&["eth1"], false));
        assert_eq!(n.links.keys().collect::<Vec<_>>(), ["br2", "eth1"]);
        assert_eq!(n.alt_names.len(), 1);
    }
}
