//! Planning the firewall: pure functions from the current [`FirewallState`] and the
//! networks' [`FirewallIntent`] to [`FwOp`]s, and exact convergence for rollback.
//!
//! Partial editing as everywhere: a network the intent does not name keeps whatever rules
//! it has (expansion names every network the file lists; one listed without a `firewall`
//! key has none). A named network gets exactly its spec in the chosen backend and nothing
//! in the other one. A backend's skeleton
//! exists exactly while it holds a network.

use std::collections::{BTreeMap, BTreeSet};

use crate::expand::{host_address, FirewallIntent};
use crate::firewall::{
    expected_base, BackendKind, BackendState, FirewallState, FwOp, NetFirewall, IPV6_FORWARD,
};
use crate::netdev::Address;

/// The ops of a firewall plan, by phase.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FwPlan {
    /// Before any device goes away.
    pub teardown: Vec<FwOp>,
    /// After everything else is in place.
    pub setup: Vec<FwOp>,
    /// After `setup`, in the same phase: a network moving to the other backend leaves
    /// the old one only once the new one holds it (no gap in isolation or NAT).
    pub cleanup: Vec<FwOp>,
    pub sysctls: Vec<FwOp>,
}

/// Converges one backend: `want` decides the networks it names; the others keep their
/// state (or, with `exact`, are removed).
fn converge(
    b: BackendKind,
    cur: &BackendState,
    want: &BTreeMap<String, Option<NetFirewall>>,
    exact: bool,
    out: &mut FwPlan,
) {
    let full = expected_base(b);
    let base_ok = cur.base == full;
    // A damaged nft table is re-created whole, and every network in it with it.
    let reset = b.repair_recreates_networks() && !base_ok && !cur.base.is_empty();
    let mut remaining: BTreeSet<&String> = BTreeSet::new();
    for (name, st) in &cur.networks {
        if st.unread && !want.contains_key(name) {
            // Not read (a focused query): it exists, and is left as it is.
            remaining.insert(name);
            continue;
        }
        match want.get(name) {
            Some(_) => {}
            None if exact => {}
            None => {
                remaining.insert(name);
                if reset {
                    out.setup.push(FwOp::Network {
                        backend: b,
                        name: name.clone(),
                        from: None,
                        to: Some(st.spec.clone()),
                    });
                }
            }
        }
    }
    for (name, spec) in want {
        let have = if reset { None } else { cur.networks.get(name) };
        match (have, spec) {
            (None, None) => {}
            (Some(h), None) => out.teardown.push(FwOp::Network {
                backend: b,
                name: name.clone(),
                from: Some(h.clone()),
                to: None,
            }),
            (h, Some(s)) => {
                remaining.insert(name);
                if !h.is_some_and(|h| h.intact && h.spec == *s) {
                    out.setup.push(FwOp::Network {
                        backend: b,
                        name: name.clone(),
                        from: h.cloned(),
                        to: Some(s.clone()),
                    });
                }
            }
        }
    }
    if !remaining.is_empty() && !base_ok {
        out.setup.insert(
            0,
            FwOp::Base {
                backend: b,
                from: cur.base.clone(),
                up: true,
            },
        );
    } else if remaining.is_empty() && !cur.base.is_empty() {
        out.teardown.push(FwOp::Base {
            backend: b,
            from: cur.base.clone(),
            up: false,
        });
    }
}

/// Plans the firewall part of an apply.
pub fn plan(current: &FirewallState, intent: &FirewallIntent) -> Result<FwPlan, Vec<String>> {
    let mut out = FwPlan::default();
    for b in BackendKind::ALL {
        let want: BTreeMap<String, Option<NetFirewall>> = intent
            .networks
            .iter()
            .map(|(n, s)| {
                let s = s.as_ref().filter(|s| b == intent.backend && !s.is_empty());
                (n.clone(), s.cloned())
            })
            .collect();
        converge(b, current.backend(b), &want, false, &mut out);
    }
    // A network moving backends keeps its device: its old rules go after the new ones
    // are in (with the old skeleton, if that empties it).
    let moving: BTreeSet<&String> = intent
        .networks
        .iter()
        .filter(|(_, s)| s.as_ref().is_some_and(|s| !s.is_empty()))
        .map(|(n, _)| n)
        .collect();
    let moves = |op: &FwOp| match op {
        FwOp::Network {
            backend,
            name,
            to: None,
            ..
        } => *backend != intent.backend && moving.contains(name),
        _ => false,
    };
    if out.teardown.iter().any(moves) {
        let (later, now): (Vec<FwOp>, Vec<FwOp>) = std::mem::take(&mut out.teardown)
            .into_iter()
            .partition(|op| {
                moves(op)
                    || matches!(op, FwOp::Base { backend, up: false, .. } if *backend != intent.backend)
            });
        out.teardown = now;
        out.cleanup = later;
    }
    out.sysctls.extend(forgotten_flows(current, &out));
    let mut errors = Vec::new();
    // IPv6 forwarding puts every interface in router mode: one that accepted router
    // advertisements (`accept_ra=1`) would stop doing so (and lose its SLAAC address and
    // default route when they expire). `2` keeps accepting them while forwarding; set
    // before forwarding goes on, journaled like any sysctl.
    let v6_on = |st: &BTreeMap<String, String>| st.get(IPV6_FORWARD).is_some_and(|v| v == "1");
    if v6_on(&intent.sysctls) && !v6_on(&current.sysctls) {
        for (key, v) in &current.sysctls {
            if v == "1" && crate::firewall::sysctl::accept_ra_of(key).is_some() {
                out.sysctls.push(FwOp::Sysctl {
                    key: key.clone(),
                    from: Some(v.clone()),
                    to: "2".into(),
                });
            }
        }
    }
    for (key, value) in &intent.sysctls {
        match current.sysctls.get(key) {
            Some(v) if v == value => {}
            Some(v) => {
                // The kernel rewrites these when `key` is written: planned (to the value
                // it will give them) before `key`, so that the journal, undoing in
                // reverse, gives them their old values after switching `key` back.
                // Also those that already have that value: switching back would reset them.
                for (k, to) in crate::firewall::sysctl::side_effects(key, value, &current.sysctls) {
                    if let Some(old) = current.sysctls.get(&k) {
                        out.sysctls.push(FwOp::Sysctl {
                            key: k,
                            from: Some(old.clone()),
                            to,
                        });
                    }
                }
                out.sysctls.push(FwOp::Sysctl {
                    key: key.clone(),
                    from: Some(v.clone()),
                    to: value.clone(),
                })
            }
            None => errors.push(format!(
                "sysctl {key} does not exist on this host (is the address family disabled?)"
            )),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Floating IPs that the plan's network ops take away and that no backend holds after
/// it: their translated flows are forgotten (last, once the rules are gone).
fn forgotten_flows(current: &FirewallState, out: &FwPlan) -> Vec<FwOp> {
    let ops = || {
        out.teardown
            .iter()
            .chain(out.setup.iter())
            .chain(out.cleanup.iter())
    };
    let mut touched: BTreeSet<(BackendKind, &String)> = BTreeSet::new();
    let mut gone: BTreeSet<std::net::IpAddr> = BTreeSet::new();
    let mut kept: BTreeSet<std::net::IpAddr> = BTreeSet::new();
    for op in ops() {
        if let FwOp::Network {
            backend,
            name,
            from,
            to,
        } = op
        {
            touched.insert((*backend, name));
            gone.extend(
                from.iter()
                    .flat_map(|f| f.spec.floating.iter().map(|x| x.external)),
            );
            kept.extend(
                to.iter()
                    .flat_map(|s| s.floating.iter().map(|x| x.external)),
            );
        }
    }
    for b in BackendKind::ALL {
        for (name, st) in &current.backend(b).networks {
            if !touched.contains(&(b, name)) {
                kept.extend(st.spec.floating.iter().map(|x| x.external));
                if st.unread {
                    kept.extend(crate::firewall::nft::floating_in_dispatch(&st.dispatch));
                }
            }
        }
    }
    gone.difference(&kept)
        .map(|external| FwOp::ForgetFlows {
            external: *external,
        })
        .collect()
}

/// The ops that make `current` equal to `target` (rollback's exact convergence).
pub fn restore(current: &FirewallState, target: &FirewallState) -> FwPlan {
    let mut out = FwPlan::default();
    for b in BackendKind::ALL {
        let (c, t) = (current.backend(b), target.backend(b));
        let names: BTreeSet<&String> = c.networks.keys().chain(t.networks.keys()).collect();
        // A network the target's query did not read is left as it is now (its spec
        // then is unknown); one the current query did not read, too.
        let want: BTreeMap<String, Option<NetFirewall>> = names
            .into_iter()
            .filter_map(|n| match (c.networks.get(n), t.networks.get(n)) {
                (Some(now), _) if now.unread => None,
                (Some(now), Some(then)) if then.unread => Some((n.clone(), Some(now.spec.clone()))),
                (None, Some(then)) if then.unread => None,
                (_, then) => Some((n.clone(), then.map(|s| s.spec.clone()))),
            })
            .collect();
        converge(b, c, &want, true, &mut out);
    }
    // Forwarding switches first: writing them resets their side effects, which follow.
    // Compared with what they will be after the switches, not with what they are now.
    let mut keys: Vec<(&String, &String)> = target.sysctls.iter().collect();
    keys.sort_by_key(|(k, _)| crate::firewall::sysctl::is_side_effect(k));
    let mut after = current.sysctls.clone();
    for (key, value) in &keys {
        if current.sysctls.get(*key).is_some_and(|v| v != *value) {
            after.extend(crate::firewall::sysctl::side_effects(
                key,
                value,
                &current.sysctls,
            ));
        }
    }
    for (key, value) in keys {
        let now = if crate::firewall::sysctl::is_side_effect(key) {
            after.get(key)
        } else {
            current.sysctls.get(key)
        };
        if let Some(v) = now.filter(|v| *v != value) {
            out.sysctls.push(FwOp::Sysctl {
                key: key.clone(),
                from: Some(v.clone()),
                to: value.clone(),
            });
        }
    }
    out
}

/// Floating IPs' host addresses that a mentioned network no longer has: the addresses
/// to take off their interfaces (when the file does not keep them for another reason).
pub fn dropped_addresses(current: &FirewallState, intent: &FirewallIntent) -> Vec<Address> {
    let keep: BTreeSet<&Address> = intent.addresses.iter().collect();
    let mut out = Vec::new();
    for (name, spec) in &intent.networks {
        let wanted: BTreeSet<_> = spec.iter().flat_map(|s| s.floating.iter()).collect();
        for b in BackendKind::ALL {
            let Some(st) = current.backend(b).networks.get(name) else {
                continue;
            };
            for f in st.spec.floating.iter().filter(|f| !wanted.contains(f)) {
                let a = host_address(&f.interface, f.external);
                if !keep.contains(&a) && !out.contains(&a) {
                    out.push(a);
                }
            }
        }
    }
    out
}

/// The switches (forwarding, `accept_ra`) a plan writes, with the values it writes: what
/// a checkpoint keeps so that its rollback can tell whether someone changed them since.
pub fn switches_set(plan: &crate::plan::Plan) -> BTreeMap<String, String> {
    plan.ops()
        .filter_map(|op| match op {
            crate::netdev::Op::Firewall(f) => match &**f {
                FwOp::Sysctl { key, to, .. } if !crate::firewall::sysctl::is_side_effect(key) => {
                    Some((key.clone(), to.clone()))
                }
                _ => None,
            },
            _ => None,
        })
        .collect()
}
