//! The per-interface sysctls hostnet reads (`forwarding` of both families, IPv6
//! `accept_ra`) as the kernel keeps them: a new device gets the `default` values, a
//! deleted one's go with it (finding F3 of the fuzzer: the model had neither), and a
//! forwarding switch rewrites every device's. Also the links' IPv6 switches
//! (`disable_ipv6`, `autoconf`), which the state keeps as the link dump gives them.

use std::collections::{BTreeMap, BTreeSet};

use super::{KernelState, Op};
use crate::firewall::sysctl;

/// The per-interface keys and the `default` key each is copied from.
const LEAVES: [(&str, &str); 3] = [
    ("net.ipv4.conf.", ".forwarding"),
    ("net.ipv6.conf.", ".forwarding"),
    ("net.ipv6.conf.", ".accept_ra"),
];

/// The links before `op`, when it may delete some (to tell which went).
pub(super) fn before(s: &KernelState, op: &Op) -> Option<BTreeSet<String>> {
    matches!(op, Op::DeleteLink { .. }).then(|| s.links.keys().cloned().collect())
}

/// Applies to the sysctls what `op` (which succeeded) did to the links. A state whose
/// sysctls were not read (no `default` key) is left alone.
pub(super) fn after(s: &mut KernelState, op: &Op, before: Option<BTreeSet<String>>) {
    ipv6_switches_after(s, op);
    let sysctls = &mut s.firewall.sysctls;
    match op {
        Op::CreateLink(l) => {
            let peer = match &l.kind {
                super::LinkKind::Veth { peer: Some(p) } => Some(p.as_str()),
                _ => None,
            };
            for dev in std::iter::once(l.name.as_str()).chain(peer) {
                for (conf, leaf) in LEAVES {
                    if let Some(v) = sysctls.get(&format!("{conf}default{leaf}")).cloned() {
                        sysctls.insert(format!("{conf}{dev}{leaf}"), v);
                    }
                }
            }
        }
        Op::DeleteLink { .. } => {
            let Some(before) = before else { return };
            let gone: Vec<&String> = before
                .iter()
                .filter(|d| !s.links.contains_key(*d))
                .collect();
            forget(sysctls, gone);
        }
        _ => {}
    }
}

/// After a run of deletions (see `model_batch.rs`): the switches and sysctls of the
/// devices `gone` go with them.
pub(super) fn after_deletes(s: &mut KernelState, gone: &BTreeSet<String>) {
    s.ipv6_disabled.retain(|l| !gone.contains(l));
    s.ipv6_no_autoconf.retain(|l| !gone.contains(l));
    forget(&mut s.firewall.sysctls, gone);
}

/// Removes the per-interface keys of the devices `gone`: only theirs, found by key range
/// (a pass over every key per deletion made tearing down N networks O(N²)).
fn forget<'a>(sysctls: &mut BTreeMap<String, String>, gone: impl IntoIterator<Item = &'a String>) {
    for dev in gone {
        for conf in ["net.ipv4.conf.", "net.ipv6.conf."] {
            let prefix = format!("{conf}{dev}.");
            let keys: Vec<String> = sysctls
                .range(prefix.clone()..)
                .take_while(|(k, _)| k.starts_with(&prefix))
                .filter(|(k, _)| sysctl::interface_of(k) == Some(dev.as_str()))
                .map(|(k, _)| k.clone())
                .collect();
            for k in keys {
                sysctls.remove(&k);
            }
        }
    }
}

/// Writes `key` as the kernel does: a forwarding switch that changes rewrites what
/// [`sysctl::side_effects`] lists (devices created since the plan was made included);
/// a device's key that is gone (the device was deleted) is a no-op, as the Linux driver
/// takes it. `Err`: no such key.
pub(super) fn write(sysctls: &mut BTreeMap<String, String>, key: &str, to: &str) -> Result<(), ()> {
    match sysctls.get(key) {
        None if sysctl::interface_of(key).is_some() => return Ok(()),
        None => return Err(()),
        Some(v) if v != to => {
            for (k, v) in sysctl::side_effects(key, to, sysctls) {
                sysctls.insert(k, v);
            }
        }
        Some(_) => {}
    }
    sysctls.insert(key.to_string(), to.to_string());
    Ok(())
}

/// Keeps the links' IPv6 switches as the kernel does: a new link (and a veth's peer) gets
/// the `default` ones, a deleted link's go with it, and writing a link's `disable_ipv6` or
/// `autoconf` switches it.
fn ipv6_switches_after(s: &mut KernelState, op: &Op) {
    match op {
        Op::CreateLink(l) => {
            let Some(default) = s.ipv6_default else {
                return;
            };
            let peer = match &l.kind {
                super::LinkKind::Veth { peer: Some(p) } => Some(p),
                _ => None,
            };
            for dev in std::iter::once(&l.name).chain(peer) {
                set(&mut s.ipv6_disabled, dev, default.disabled);
                set(&mut s.ipv6_no_autoconf, dev, !default.autoconf);
            }
        }
        Op::DeleteLink { .. } => {
            let links = &s.links;
            s.ipv6_disabled.retain(|l| links.contains_key(l));
            s.ipv6_no_autoconf.retain(|l| links.contains_key(l));
        }
        Op::Firewall(fw) => {
            let crate::firewall::FwOp::Sysctl { key, to, .. } = &**fw else {
                return;
            };
            let Some((dev, leaf)) = key
                .strip_prefix("net.ipv6.conf.")
                .and_then(|r| r.rsplit_once('.'))
                .filter(|(d, _)| s.links.contains_key(*d))
            else {
                return;
            };
            let on = to != "0";
            match leaf {
                "disable_ipv6" => set(&mut s.ipv6_disabled, dev, on),
                "autoconf" => set(&mut s.ipv6_no_autoconf, dev, !on),
                _ => {}
            }
        }
        _ => {}
    }
}

fn set(names: &mut BTreeSet<String>, name: &str, member: bool) {
    if member {
        names.insert(name.to_string());
    } else {
        names.remove(name);
    }
}
