//! Drawing the next file after a state: see [`next`].

use std::collections::BTreeSet;

use super::gen::*;
use super::rng::Rng;

/// Per-walk constants: priorities stay put while [`Bug::RulePriority`] is off.
#[derive(Clone, Debug)]
pub struct WalkConsts {
    pub priority: Option<u32>,
    pub net_priority: [Option<u32>; 3],
}

impl WalkConsts {
    pub fn draw(rng: &mut Rng) -> WalkConsts {
        let mut p = || *rng.pick(&[None, None, Some(3300), Some(3400)]);
        WalkConsts {
            priority: p(),
            net_priority: [p(), p(), p()],
        }
    }
}

/// Draws the next file after `eff`.
pub fn next(rng: &mut Rng, eff: &Effective, sw: &Switches, wc: &WalkConsts) -> Doc {
    let mut doc = Doc::default();
    // Which networks the file lists, and how.
    #[derive(Clone, Copy, PartialEq)]
    enum Pick {
        Omit,
        Absent,
        Present,
    }
    let mut picks = [Pick::Omit; 5];
    for (i, p) in picks.iter_mut().enumerate() {
        let r = rng.below(100);
        *p = if r < 15 {
            Pick::Omit
        } else if r < 27 && (eff.nets[i].is_some() || rng.chance(30)) {
            Pick::Absent
        } else {
            Pick::Present
        };
    }
    // Uplinks held by networks that stay (listed or not): they keep theirs unless they
    // move.
    // A bridgeless network's NIC, freed by this file, is taken by the next one (F9).
    let mut taken: BTreeSet<usize> = (0..3)
        .filter(|i| {
            picks[*i] != Pick::Absent
                || !sw.on(Bug::BridgelessHandover)
                    && eff.nets[*i].as_ref().is_some_and(|n| !n.bridged)
        })
        .filter_map(|i| eff.nets[i].as_ref().map(|n| n.uplink))
        .collect();
    let mut default_taken = (0..3)
        .any(|i| picks[i] == Pick::Omit && eff.nets[i].as_ref().is_some_and(|n| n.default_route));
    // Uplinks that keep a removed bridgeless network's addresses (finding F4), this
    // file's removals included.
    let mut stale = eff.stale.clone();
    for (i, pick) in picks.iter().enumerate() {
        if let (Pick::Absent, Some(prev)) = (pick, &eff.nets[i]) {
            if !prev.bridged {
                stale.insert(uplink_key(i, prev));
            }
        }
    }
    let mut after: [Option<Net>; 5] = eff.nets.clone();
    let mut order: Vec<usize> = (0..5).collect();
    // File order varies too (it decides derived tables' probing only by name, but the
    // planner must not care).
    for k in (1..order.len()).rev() {
        order.swap(k, rng.below(k + 1));
    }
    // Uplink networks first: guest networks' masquerade names their devices.
    order.sort_by_key(|i| *i >= 3);
    for i in order {
        let prev = eff.nets[i].as_ref();
        match picks[i] {
            Pick::Omit => {}
            Pick::Absent => {
                let with = if sw.on(Bug::RemoveByName) && rng.chance(70) || prev.is_none() {
                    None
                } else {
                    prev.cloned()
                };
                doc.nets.push((i, Entry::Absent(with)));
                after[i] = None;
            }
            Pick::Present => {
                let net = if i < 3 {
                    uplink_net(rng, i, prev, &mut taken, &mut default_taken, sw, wc)
                } else {
                    Some(guest_net(rng, i, prev, &after, sw))
                };
                let net = net.map(|mut n| {
                    if n.bridged
                        && !sw.on(Bug::AbsentLeavesAddresses)
                        && stale.contains(&uplink_key(i, &n))
                    {
                        n.bridged = false;
                        n.bridge = None;
                    }
                    n
                });
                match net {
                    Some(n) => {
                        after[i] = Some(n.clone());
                        doc.nets.push((i, Entry::Present(n)));
                    }
                    // No NIC free: the network goes.
                    None => {
                        doc.nets.push((i, Entry::Absent(prev.cloned())));
                        after[i] = None;
                    }
                }
            }
        }
    }
    extras(rng, eff, &mut doc);
    if rng.chance(70) || !sw.on(Bug::RulePriority) {
        doc.priority = wc.priority;
    } else {
        doc.priority = *rng.pick(&[None, Some(3300), Some(3500)]);
    }
    if !sw.on(Bug::RulePriority) {
        doc.priority = wc.priority;
    }
    doc
}

fn uplink_net(
    rng: &mut Rng,
    i: usize,
    prev: Option<&Net>,
    taken: &mut BTreeSet<usize>,
    default_taken: &mut bool,
    sw: &Switches,
    wc: &WalkConsts,
) -> Option<Net> {
    let free: Vec<usize> = (0..3).filter(|k| !taken.contains(k)).collect();
    let uplink = match prev {
        Some(p) if sw.on(Bug::UplinkMove) && !free.is_empty() && rng.chance(20) => {
            taken.remove(&p.uplink);
            *rng.pick(&free)
        }
        Some(p) => p.uplink,
        None if free.is_empty() => return None,
        None => *rng.pick(&free),
    };
    taken.insert(uplink);
    let keep = prev.is_some() && rng.chance(60);
    let base = prev.cloned().filter(|_| keep);
    let mut n = match base {
        Some(n) => n,
        None => Net {
            uplink,
            bridged: rng.chance(65),
            bridge: None,
            mtu: None,
            v4: Vec::new(),
            gw4: None,
            v6: Vec::new(),
            gw6: None,
            default_route: false,
            table: None,
            priority: None,
            source_routing_off: false,
            firewall: None,
            dhcp: None,
        },
    };
    n.uplink = uplink;
    let may = |rng: &mut Rng, p: u32| !keep || rng.chance(p);
    if keep && rng.chance(15) {
        n.bridged = !n.bridged;
    }
    if let (Some(p), false) = (prev, sw.on(Bug::BridgedToggle)) {
        n.bridged = p.bridged;
    }
    if may(rng, 15) {
        n.bridge = rng
            .pick(&[None, None, Some("a"), Some("b")])
            .map(|x| format!("fzbr{i}{x}"));
    }
    if !n.bridged {
        n.bridge = None;
    }
    if let (Some(p), false) = (prev, sw.on(Bug::BridgeRename)) {
        if p.bridged && n.bridged {
            n.bridge = p.bridge.clone();
        }
    }
    if may(rng, 15) {
        n.mtu = *rng.pick(&[None, Some(1400), Some(1500), Some(9000)]);
    }
    if n.bridged && n.mtu.is_none() && !sw.on(Bug::BridgeMtuInherit) {
        n.mtu = Some(*rng.pick(&[1400, 1500, 9000]));
    }
    let prev_v4 = prev.map(|p| p.v4.clone()).unwrap_or_default();
    let prev_v6 = prev.map(|p| p.v6.clone()).unwrap_or_default();
    n.v4 = addresses(rng, &n.v4, &prev_v4, 1, keep, sw);
    n.v6 = addresses(rng, &n.v6, &prev_v6, 0, keep, sw);
    n.gw4 = gateway(rng, &n.v4, n.gw4, keep);
    n.gw6 = gateway(rng, &n.v6, n.gw6, keep);
    let has_gw = n.gw4.is_some() || n.gw6.is_some();
    n.default_route = if *default_taken || !has_gw {
        false
    } else if keep && rng.chance(80) {
        n.default_route
    } else {
        rng.chance(40)
    };
    *default_taken |= n.default_route;
    if may(rng, 10) {
        n.table = *rng.pick(&[
            None,
            None,
            Some(1001 + 10 * i as u32),
            Some(1002 + 10 * i as u32),
        ]);
    }
    if may(rng, 10) {
        n.source_routing_off = rng.chance(10);
    }
    n.priority = if sw.on(Bug::RulePriority) && may(rng, 15) {
        *rng.pick(&[None, Some(3300), Some(3600)])
    } else if sw.on(Bug::RulePriority) {
        n.priority
    } else {
        wc.net_priority[i]
    };
    Some(n)
}

/// An address list: `min`..=3 addresses of distinct subnets (or not, with
/// [`Bug::SameSubnet`]); with [`Bug::Renumber`] off, a superset of what the host has.
fn addresses(
    rng: &mut Rng,
    cur: &[(u8, u8)],
    on_host: &[(u8, u8)],
    min: usize,
    keep: bool,
    sw: &Switches,
) -> Vec<(u8, u8)> {
    let mut out: Vec<(u8, u8)> = if keep { cur.to_vec() } else { Vec::new() };
    if !sw.on(Bug::Renumber) {
        for a in on_host {
            if !out.contains(a) {
                out.push(*a);
            }
        }
    } else if keep && !out.is_empty() && rng.chance(25) {
        // Renumber one address, or drop it.
        let k = rng.below(out.len());
        if rng.chance(50) {
            out[k].1 = 10 + rng.below(4) as u8;
        } else {
            out.remove(k);
        }
    }
    let want = if keep && rng.chance(75) {
        out.len().max(min)
    } else {
        min + rng.below(4 - min)
    };
    let mut tries = 0;
    while out.len() < want && tries < 20 {
        tries += 1;
        let s = rng.below(3) as u8;
        let h = 10 + rng.below(4) as u8;
        let same_subnet = out.iter().any(|a| a.0 == s);
        if out.contains(&(s, h)) || (same_subnet && !sw.on(Bug::SameSubnet)) {
            continue;
        }
        out.push((s, h));
    }
    if sw.on(Bug::Renumber) {
        out.truncate(want.max(min));
    }
    dedup_subnets(&mut out, sw);
    out
}

fn dedup_subnets(out: &mut Vec<(u8, u8)>, sw: &Switches) {
    let mut seen = BTreeSet::new();
    out.retain(|a| seen.insert(*a));
    if !sw.on(Bug::SameSubnet) {
        let mut subnets = BTreeSet::new();
        out.retain(|a| subnets.insert(a.0));
    }
}

fn gateway(rng: &mut Rng, addrs: &[(u8, u8)], cur: Option<u8>, keep: bool) -> Option<u8> {
    let valid = |s: u8| addrs.iter().any(|a| a.0 == s);
    match cur {
        Some(s) if keep && valid(s) && rng.chance(85) => Some(s),
        _ if addrs.is_empty() || rng.chance(20) => None,
        _ => Some(rng.pick(addrs).0),
    }
}

fn guest_net(
    rng: &mut Rng,
    i: usize,
    prev: Option<&Net>,
    after: &[Option<Net>; 5],
    sw: &Switches,
) -> Net {
    let keep = prev.is_some() && rng.chance(60);
    let mut n = prev.cloned().filter(|_| keep).unwrap_or(Net {
        uplink: i - 3,
        bridged: rng.chance(70),
        bridge: None,
        mtu: None,
        v4: vec![(0, 1)],
        gw4: None,
        v6: Vec::new(),
        gw6: None,
        default_route: false,
        table: None,
        priority: None,
        source_routing_off: false,
        firewall: None,
        dhcp: None,
    });
    let may = |rng: &mut Rng, p: u32| !keep || rng.chance(p);
    if keep && rng.chance(10) {
        n.bridged = !n.bridged;
    }
    if let (Some(p), false) = (prev, sw.on(Bug::BridgedToggle)) {
        n.bridged = p.bridged;
    }
    if may(rng, 15) {
        n.bridge = rng
            .chance(30)
            .then(|| format!("fzbr{i}{}", rng.pick(&["a", "b"])));
    }
    if !n.bridged {
        n.bridge = None;
    }
    if let (Some(p), false) = (prev, sw.on(Bug::BridgeRename)) {
        if p.bridged && n.bridged {
            n.bridge = p.bridge.clone();
        }
    }
    // The guest's own subnet stays; a second one comes and goes (with renumbering on).
    let on_host: Vec<(u8, u8)> = prev.map(|p| p.v4.clone()).unwrap_or_default();
    if may(rng, 20) {
        n.v4 = if rng.chance(30) {
            vec![(0, 1), (1, 1)]
        } else {
            vec![(0, 1)]
        };
    }
    if !sw.on(Bug::Renumber) {
        for a in on_host {
            if !n.v4.contains(&a) {
                n.v4.push(a);
            }
        }
        if let Some(p) = prev {
            if !p.v6.is_empty() {
                n.v6 = p.v6.clone();
            }
        }
    }
    if may(rng, 20) && (n.v6.is_empty() || sw.on(Bug::Renumber)) {
        n.v6 = if rng.chance(40) {
            vec![(0, 1)]
        } else {
            Vec::new()
        };
    }
    // Masquerade out of a device an uplink network has after this file.
    let outs: Vec<String> = (0..3)
        .filter_map(|k| after[k].as_ref().map(|u| u.device(k)))
        .collect();
    let had_fw = prev.is_some_and(|p| p.firewall.is_some());
    if may(rng, 25) {
        n.firewall = if rng.chance(55) || (had_fw && !sw.on(Bug::PartialSections)) {
            Some(Fw {
                masquerade: (!outs.is_empty() && rng.chance(70)).then(|| rng.pick(&outs).clone()),
                isolate: rng.chance(30),
            })
        } else {
            None
        };
    }
    if let Some(Fw {
        masquerade: Some(out),
        ..
    }) = &n.firewall
    {
        if !outs.contains(out) {
            n.firewall = Some(Fw {
                masquerade: outs.first().cloned(),
                isolate: n.firewall.as_ref().is_some_and(|f| f.isolate),
            });
        }
    }
    let had_dhcp = prev.is_some_and(|p| p.dhcp.is_some());
    if !sw.dhcp {
        n.dhcp = None;
    } else if may(rng, 20) {
        n.dhcp = if rng.chance(40) || (had_dhcp && !sw.on(Bug::PartialSections)) {
            Some(rng.chance(60))
        } else {
            None
        };
    }
    n
}

fn extras(rng: &mut Rng, eff: &Effective, doc: &mut Doc) {
    let r = rng.below(100);
    doc.xv = if r < 45 {
        None
    } else if r < 85 {
        Some(Xv::Present {
            mtu: *rng.pick(&[None, Some(1500), Some(9000)]),
            v6: rng.chance(50),
        })
    } else {
        Some(Xv::Absent)
    };
    let xv_after = match &doc.xv {
        Some(Xv::Present { .. }) => true,
        Some(Xv::Absent) => false,
        None => eff.xv.is_some(),
    };
    let mut keys = BTreeSet::new();
    if xv_after {
        for _ in 0..rng.below(3) {
            let r = URoute {
                dst: rng.below(4) as u8,
                table: *rng.pick(&[None, Some(USER_TABLES[0])]),
                metric: *rng.pick(&[None, Some(100)]),
                absent: false,
            };
            if keys.insert((r.table, r.dst, r.metric)) {
                doc.routes.push(r);
            }
        }
    }
    for (dst, _, _) in &eff.routes {
        if rng.chance(25) && !doc.routes.iter().any(|r| r.dst == *dst) {
            doc.routes.push(URoute {
                dst: *dst,
                table: None,
                metric: None,
                absent: true,
            });
        }
    }
    let mut prios = BTreeSet::new();
    for _ in 0..rng.below(3) {
        let r = URule {
            fwmark: rng.chance(40),
            priority: *rng.pick(&[500, 501, 502]),
            table: *rng.pick(&USER_TABLES),
            absent: false,
        };
        if prios.insert((r.fwmark, r.priority)) {
            doc.rules.push(r);
        }
    }
    for (_, prio, _) in &eff.rules {
        if rng.chance(25) && !doc.rules.iter().any(|r| r.priority == *prio) {
            doc.rules.push(URule {
                fwmark: false,
                priority: *prio,
                table: 0,
                absent: true,
            });
        }
    }
}
