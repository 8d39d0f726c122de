//! The bridge port VLANs of a rollback (see [`super`]): each VLAN the apply added,
//! removed or re-flagged on a port that was there before goes back, where the port still
//! has it as the apply left it; one another tool changed since stays.

use std::collections::BTreeMap;

use super::Ctx;
use crate::netdev::{KernelState, Op, VlanFlags, VlanSet};
use crate::plan::Phase;

/// The set each link of `before` has after the apply's VLAN ops (what they left).
pub(super) fn record(sets: &mut BTreeMap<String, VlanSet>, before: &KernelState, op: &Op) {
    let Op::BridgeVlans { name, vlans, add } = op else {
        return;
    };
    if !before.links.contains_key(name) {
        return;
    }
    let set = sets
        .entry(name.clone())
        .or_insert_with(|| before.bridge_vlans.get(name).cloned().unwrap_or_default());
    if *add {
        if vlans.values().any(|f| f.pvid) {
            for f in set.values_mut() {
                f.pvid = false;
            }
        }
        set.extend(vlans.iter().map(|(v, f)| (*v, *f)));
    } else {
        for v in vlans.keys() {
            set.remove(v);
        }
    }
}

/// Pushes the ops that take the apply's VLAN changes back.
pub(super) fn vlans(cx: &mut Ctx<'_>) {
    rejoined(cx);
    let before = cx.u.before;
    for (name, set) in &cx.e.vlans {
        if cx.deleting.contains(name) || cx.recreating.contains(name) {
            continue;
        }
        let Some(n) = cx.now.links.get(name) else {
            continue;
        };
        // Only where the link is in the same bridge (or is the same bridge) as before,
        // and stays: a port that leaves its bridge (or whose bridge goes) loses its
        // VLANs, and one that joins again gets the default.
        let same_place = before
            .links
            .get(name)
            .is_some_and(|b| b.controller == n.controller);
        let bridge_goes = n
            .controller
            .as_ref()
            .is_some_and(|c| cx.deleting.contains(c));
        if !same_place || bridge_goes {
            continue;
        }
        let empty = VlanSet::new();
        let was = before.bridge_vlans.get(name).unwrap_or(&empty);
        let now = cx.now.bridge_vlans.get(name).unwrap_or(&empty);
        let (mut add, mut del) = (VlanSet::new(), VlanSet::new());
        let vids: std::collections::BTreeSet<u16> = was.keys().chain(set.keys()).copied().collect();
        for vid in vids {
            let (b, s, n) = (was.get(&vid), set.get(&vid), now.get(&vid));
            if n == b {
                continue;
            }
            if n != s {
                cx.kept(format!(
                    "bridge-vlan {vid} dev {name}: {} now, this apply left {} (it was {}); left as another tool set it",
                    text(n),
                    text(s),
                    text(b)
                ));
                continue;
            }
            match b {
                Some(f) => {
                    add.insert(vid, *f);
                }
                None => {
                    del.insert(vid, VlanFlags::default());
                }
            }
        }
        if !add.is_empty() {
            cx.push(
                Phase::AddBridgeVlans,
                Op::BridgeVlans {
                    name: name.clone(),
                    vlans: add,
                    add: true,
                },
            );
        }
        if !del.is_empty() {
            cx.push(
                Phase::DeleteBridgeVlans,
                Op::BridgeVlans {
                    name: name.clone(),
                    vlans: del,
                    add: false,
                },
            );
        }
    }
}

/// A port the apply took out of its bridge, which the rollback puts back: it joins with
/// the bridge's default PVID (the kernel dropped its VLANs when it left), so the VLANs it
/// had come back after it.
fn rejoined(cx: &mut Ctx<'_>) {
    let before = cx.u.before;
    let back: Vec<(String, String)> = cx
        .out
        .plan
        .ops()
        .filter_map(|op| match op {
            Op::ChangeLink { name, change } => match &change.controller {
                Some(Some(c)) => Some((name.clone(), c.clone())),
                _ => None,
            },
            _ => None,
        })
        .collect();
    for (name, bridge) in back {
        let was_port = before
            .links
            .get(&name)
            .is_some_and(|b| b.controller.as_deref() == Some(bridge.as_str()));
        let out_now = cx
            .now
            .links
            .get(&name)
            .is_some_and(|n| n.controller.as_deref() != Some(bridge.as_str()));
        let Some(want) = before.bridge_vlans.get(&name) else {
            continue;
        };
        if !was_port || !out_now || cx.deleting.contains(&bridge) {
            continue;
        }
        let pvid = match cx.now.links.get(&bridge).map(|l| &l.kind) {
            Some(crate::netdev::LinkKind::Bridge(o)) => o.vlan_default_pvid,
            _ => 1,
        };
        let joined = crate::netdev::default_vlans(pvid);
        super::super::bridge_vlans::push_difference(&mut cx.out.plan, &name, &joined, want);
    }
}

fn text(f: Option<&VlanFlags>) -> String {
    match f {
        None => "absent".into(),
        Some(f) => {
            let mut s = crate::netdev::fmt_vlans(&VlanSet::from([(0, *f)]));
            s.replace_range(..1, "present");
            s
        }
    }
}
