//! An apply reads only the links its plan can depend on (its reach, `plan::scope`). The
//! state before the apply, which the crash journal, a checkpoint and the rollback work
//! from, then holds only those links: a plan must not touch any other.

use std::collections::{BTreeMap, BTreeSet};

use crate::netdev::{KernelState, LinkKind, Op};
use crate::plan::{Plan, Scope};

/// Whether `plan` touches a link that `before` (a read of a reach) does not hold and the
/// plan does not create: the reach's guarantee is that the plan is the same, not that it
/// stays inside the reach (an address the firewall takes off an interface the file no
/// longer names), and a rollback to a state without that link could not put it back.
/// The caller then reads the whole host and plans again.
pub(super) fn beyond(before: &KernelState, plan: &Plan) -> bool {
    let mut created: BTreeSet<&str> = BTreeSet::new();
    for op in plan.ops() {
        if let Op::CreateLink(new) = op {
            created.insert(&new.name);
            if let LinkKind::Veth { peer: Some(p) } = &new.kind {
                created.insert(p);
            }
        }
    }
    let scope = Scope::of(plan);
    scope
        .links
        .iter()
        .chain(&scope.route_devs)
        .any(|l| !before.links.contains_key(l) && !created.contains(l.as_str()))
}

/// The recorded bridges whose MTU hostnet set that a read of a reach left out (not in
/// `before`): the plan did not touch them, so their record stays.
pub(super) fn keep_unread(
    set: &mut BTreeMap<String, u32>,
    recorded: &BTreeMap<String, u32>,
    before: &KernelState,
) {
    for (bridge, index) in recorded {
        if !before.links.contains_key(bridge) {
            set.entry(bridge.clone()).or_insert(*index);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::{Address, Link, NewLink};
    use crate::plan::Phase;

    fn bridge(name: &str) -> Link {
        Link::up(name, LinkKind::Bridge(Default::default()), None)
    }

    #[test]
    fn bridges_outside_the_reach_keep_their_record() {
        let mut before = KernelState::default();
        before.links.insert("br1".into(), bridge("br1"));
        let recorded = [("br1".to_string(), 7), ("br2".to_string(), 8)].into();
        let mut set = BTreeMap::new();
        keep_unread(&mut set, &recorded, &before);
        // br1 was read and is no longer set (the plan's word); br2 was not read.
        assert_eq!(set, [("br2".to_string(), 8)].into());
    }

    #[test]
    fn a_plan_may_touch_only_links_read_or_made() {
        let mut before = KernelState::default();
        before.links.insert("br1".into(), bridge("br1"));
        let addr =
            |dev: &str| Op::DeleteAddress(Address::new(dev, "192.0.2.1/24".parse().expect("net")));
        let mut p = Plan::new();
        p.push(Phase::DeleteAddresses, addr("br1"));
        assert!(!beyond(&before, &p));
        p.push(
            Phase::CreateVeths,
            Op::CreateLink(NewLink {
                name: "v0".into(),
                kind: LinkKind::Veth {
                    peer: Some("v1".into()),
                },
                up: true,
                mtu: None,
                mac: None,
                controller: None,
                peer: None,
            }),
        );
        p.push(Phase::AddAddresses, addr("v1"));
        assert!(!beyond(&before, &p));
        p.push(Phase::DeleteAddresses, addr("up0"));
        assert!(beyond(&before, &p));
    }
}
