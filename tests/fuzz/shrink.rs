//! What shrinking may try: smaller files ([`simpler`]) and the rules a walk must keep to
//! be one the generator could have drawn ([`admissible`]).

use std::collections::BTreeSet;

use super::gen::*;

/// Whether a walk keeps the rules [`next`] follows with `sw` (a shrunk walk must not
/// fail for a reason the generator avoids on purpose).
pub fn admissible(docs: &[Doc], sw: &Switches) -> Result<(), String> {
    let mut eff = Effective::default();
    let mut priority: Option<Option<u32>> = None;
    for (k, doc) in docs.iter().enumerate() {
        let no = |why: &str| Err(format!("step {}: {why}", k + 1));
        if !sw.on(Bug::RulePriority) && *priority.get_or_insert(doc.priority) != doc.priority {
            return no("settings priority changed");
        }
        let mut stale = eff.stale.clone();
        for (i, e) in &doc.nets {
            if let (Entry::Absent(_), Some(prev)) = (e, &eff.nets[*i]) {
                if !prev.bridged && !prev.v4.is_empty() {
                    stale.insert(uplink_key(*i, prev));
                }
            }
        }
        for (i, e) in &doc.nets {
            let prev = eff.nets[*i].as_ref();
            match e {
                Entry::Absent(None) if prev.is_some() && !sw.on(Bug::RemoveByName) => {
                    return no("removal by name")
                }
                Entry::Absent(_) => {}
                Entry::Present(n) => {
                    if let Some(p) = prev {
                        let sub = |a: &[(u8, u8)], b: &[(u8, u8)]| b.iter().all(|x| a.contains(x));
                        if (!sw.on(Bug::UplinkMove) && n.uplink != p.uplink)
                            || (!sw.on(Bug::BridgedToggle) && n.bridged != p.bridged)
                            || !(sw.on(Bug::Renumber) || sub(&n.v4, &p.v4) && sub(&n.v6, &p.v6))
                            || (!sw.on(Bug::RulePriority) && n.priority != p.priority)
                            || (!sw.on(Bug::BridgeRename)
                                && p.bridged
                                && n.bridged
                                && n.bridge != p.bridge)
                            || (!sw.on(Bug::PartialSections)
                                && ((p.firewall.is_some() && n.firewall.is_none())
                                    || (p.dhcp.is_some() && n.dhcp.is_none())))
                        {
                            return no(&format!("{} changed a switched-off way", NETS[*i]));
                        }
                    }
                    let subnets = |a: &[(u8, u8)]| {
                        a.iter().map(|x| x.0).collect::<BTreeSet<_>>().len() == a.len()
                    };
                    if !(sw.on(Bug::SameSubnet) || subnets(&n.v4) && subnets(&n.v6)) {
                        return no("two addresses in one subnet");
                    }
                    if *i < 3 && n.bridged && n.mtu.is_none() && !sw.on(Bug::BridgeMtuInherit) {
                        return no("a bridge without mtu");
                    }
                    if n.bridged
                        && !sw.on(Bug::AbsentLeavesAddresses)
                        && stale.contains(&uplink_key(*i, n))
                    {
                        return no("bridged on an uplink with a removed network's addresses");
                    }
                }
            }
        }
        if !sw.on(Bug::BridgelessHandover) {
            let freed: BTreeSet<usize> = doc
                .nets
                .iter()
                .filter(|(i, e)| *i < 3 && matches!(e, Entry::Absent(_)))
                .filter_map(|(i, _)| {
                    eff.nets[*i]
                        .as_ref()
                        .filter(|p| !p.bridged)
                        .map(|p| p.uplink)
                })
                .collect();
            let takes = doc.nets.iter().any(|(i, e)| {
                matches!(e, Entry::Present(n) if *i < 3 && freed.contains(&n.uplink)
                    && eff.nets[*i].as_ref().map(|p| p.uplink) != Some(n.uplink))
            });
            if takes {
                return no("a removed bridgeless network's NIC taken in the same file");
            }
        }
        let after = eff.after(doc);
        let present: Vec<(usize, &Net)> = (0..5)
            .filter_map(|i| after.nets[i].as_ref().map(|n| (i, n)))
            .collect();
        let uplinks: BTreeSet<usize> = present.iter().map(|(i, n)| uplink_key(*i, n)).collect();
        let defaults = present.iter().filter(|(_, n)| n.default_route).count();
        if uplinks.len() != present.len() || defaults > 1 {
            return no("uplink shared or two default routes");
        }
        let xv = after.xv.is_some();
        if doc.routes.iter().any(|r| !r.absent && !xv) {
            return no("a route through a missing device");
        }
        eff = after;
    }
    Ok(())
}

/// Smaller variants of `doc`, for shrinking: each drops or simplifies one thing.
pub fn simpler(doc: &Doc) -> Vec<Doc> {
    let mut out = Vec::new();
    let mut with = |f: &dyn Fn(&mut Doc)| {
        let mut d = doc.clone();
        f(&mut d);
        if d != *doc {
            out.push(d);
        }
    };
    for k in 0..doc.nets.len() {
        with(&|d| {
            d.nets.remove(k);
        });
    }
    with(&|d| d.xv = None);
    for k in 0..doc.routes.len() {
        with(&|d| {
            d.routes.remove(k);
        });
    }
    for k in 0..doc.rules.len() {
        with(&|d| {
            d.rules.remove(k);
        });
    }
    with(&|d| d.priority = None);
    type Edit = fn(&mut Net);
    let edits: [Edit; 15] = [
        |n| n.firewall = None,
        |n| n.dhcp = None,
        |n| {
            if let Some(f) = &mut n.firewall {
                f.isolate = false;
            }
        },
        |n| {
            n.v6.clear();
            n.gw6 = None;
        },
        |n| n.gw6 = None,
        |n| n.gw4 = None,
        |n| n.default_route = false,
        |n| n.bridge = None,
        |n| n.mtu = None,
        |n| n.table = None,
        |n| n.priority = None,
        |n| n.source_routing_off = false,
        |n| {
            n.v4.pop();
        },
        |n| {
            n.v6.pop();
        },
        |n| {
            if n.v4.len() > 1 {
                n.v4.remove(0);
            }
        },
    ];
    for k in 0..doc.nets.len() {
        for e in edits {
            with(&|d| {
                if let (_, Entry::Present(n) | Entry::Absent(Some(n))) = &mut d.nets[k] {
                    e(n);
                    if n.v4.is_empty() {
                        n.v4 = vec![(0, 10)];
                    }
                    if !n.v4.iter().any(|a| Some(a.0) == n.gw4) {
                        n.gw4 = None;
                    }
                    if !n.v6.iter().any(|a| Some(a.0) == n.gw6) {
                        n.gw6 = None;
                    }
                    if n.gw4.is_none() && n.gw6.is_none() {
                        n.default_route = false;
                    }
                }
            });
        }
    }
    out
}
