//! Rollback by exact inverses: every op an apply carried out is taken back, and only
//! where the object is still what that op left. What another tool did meanwhile (before,
//! during or after the apply) is never undone:
//!
//! * a link the apply created is deleted only if the device of that name is still the one
//!   it created (same kind, same MAC where it is known) and nothing of another tool hangs
//!   on it (an address, a port, a device stacked on it); otherwise it stays and the
//!   rollback says why;
//! * a link the apply deleted is made again (with its ports, addresses and routes) only if
//!   its name is free; a name another tool took since is left to it and reported;
//! * each attribute the apply changed (up, MTU, MAC, master, STP, in-place settings) goes
//!   back only if it still has the value the apply gave it; a value someone set since
//!   stays;
//! * an address, route or rule the apply added is removed if it is there; one it removed
//!   comes back unless its place (the same address on the device, the same route key) is
//!   taken;
//! * side effects the kernel had on the apply's behalf are repaired, and only those: the
//!   IPv6 addresses and the routes of a device the apply set down (or moved in or out of a
//!   bond, or below an MTU of 1280), the IPv4 secondaries of a primary address it deleted,
//!   routes preferring an address it deleted, devices deleted with a base or veth peer it
//!   deleted, ports released by a bridge it deleted.
//!
//! The same computation run again after the rollback is its verification: what it still
//! plans is left over.
//!
//! Open vSwitch, the firewall and the DHCP servers are hostnet's own objects (a mark in
//! OVSDB, our own table and chains, our own directories) and are restored by their own
//! inverses and exact convergence (see [`super::restore`]); this module covers links,
//! addresses, routes and rules, which other tools share.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use addrs_routes::{addresses, routes, rules};

use super::{Phase, Plan};
use crate::netdev::{Address, KernelState, Link, LinkChange, LinkKind, MacAddr, Op, Route, Rule};

/// What to take back.
#[derive(Clone, Copy)]
pub struct Undo<'a> {
    /// The state read before the apply.
    pub before: &'a KernelState,
    /// The ops the apply carried out, in order.
    pub done: &'a [Op],
    /// The state right after them, when it was read (a checkpoint's verified state): a
    /// side effect someone repaired since is not repaired again, and the MAC of a device
    /// the apply created identifies it.
    pub left: Option<&'a KernelState>,
    /// Links this rollback has made again already (in an earlier round).
    pub recreated: &'a BTreeSet<String>,
}

/// The ops of a rollback, and what it leaves alone.
#[derive(Debug)]
pub struct UndoPlan {
    pub plan: Plan,
    /// Objects the apply changed that another tool changed again since (or took away):
    /// left as they are, nothing of the apply's is left in them.
    pub kept: Vec<String>,
    /// Changes of the apply that cannot be taken back without touching another tool's
    /// objects (a name or a route's place taken since, a device created by the apply
    /// that another tool uses now): what the rollback leaves over.
    pub blocked: Vec<String>,
}

impl Default for UndoPlan {
    fn default() -> Self {
        UndoPlan {
            plan: Plan::new(),
            kept: Vec::new(),
            blocked: Vec::new(),
        }
    }
}

/// A link the apply created.
struct Created {
    kind: LinkKind,
    mac: Option<MacAddr>,
}

/// The net effect of the ops, object by object.
#[derive(Default)]
struct Effects {
    /// Links made by the apply and still there at its end.
    created: BTreeMap<String, Created>,
    /// Links of the state before that the apply deleted (directly, or with their base or
    /// veth peer).
    deleted: BTreeSet<String>,
    /// Links of the state before: the last value of each field the apply set.
    changed: BTreeMap<String, LinkChange>,
    /// (port, master) joins the apply made.
    attached: BTreeSet<(String, String)>,
    /// true: added by the apply; false: removed by it.
    addrs: BTreeMap<Address, bool>,
    routes: BTreeMap<Route, bool>,
    rules: BTreeMap<Rule, bool>,
    /// Links that lost their IPv6 addresses and their routes as a side effect (set down,
    /// moved in or out of a bond, MTU below 1280).
    lossy: BTreeSet<String>,
    /// IPv4 addresses the apply deleted: their secondaries went with them.
    lost_v4: Vec<Address>,
    /// Addresses the apply deleted (directly or with their device): routes preferring
    /// them went with them.
    lost_ips: BTreeSet<IpAddr>,
    /// Bridge port VLANs of links of the state before, as the apply's ops left them.
    vlans: BTreeMap<String, crate::netdev::VlanSet>,
    /// Alternative names of links of the state before: (link, name) → added.
    alt_names: BTreeMap<(String, String), bool>,
}

fn veth_peer(kind: &LinkKind) -> Option<&str> {
    match kind {
        LinkKind::Veth { peer: Some(p) } => Some(p),
        _ => None,
    }
}

fn same_kind(a: &LinkKind, b: &LinkKind) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b) && veth_peer(a) == veth_peer(b)
}

/// Routes and rules are one kernel object per key: the same route key, or the same rule
/// whatever its protocol.
fn same_rule(a: &Rule, b: &Rule) -> bool {
    Rule {
        protocol: 0,
        ..a.clone()
    } == Rule {
        protocol: 0,
        ..b.clone()
    }
}

fn toggle<K: Ord + Clone>(map: &mut BTreeMap<K, bool>, key: &K, added: bool, existed: bool) {
    match map.get(key) {
        // Added then removed (or the other way round): nothing is left of it.
        Some(prev) if *prev != added => {
            map.remove(key);
        }
        Some(_) => {}
        None if added != existed => {
            map.insert(key.clone(), added);
        }
        None => {}
    }
}

impl Effects {
    fn of(before: &KernelState, done: &[Op]) -> Effects {
        let mut e = Effects::default();
        let is_bond = |e: &Effects, n: &str| {
            let bond = |k: &LinkKind| matches!(k, LinkKind::Bond(_));
            e.created.get(n).map_or_else(
                || before.links.get(n).is_some_and(|l| bond(&l.kind)),
                |c| bond(&c.kind),
            )
        };
        for op in done {
            match op {
                Op::CreateLink(l) => {
                    e.created.insert(
                        l.name.clone(),
                        Created {
                            kind: l.kind.clone(),
                            mac: l.mac,
                        },
                    );
                    if let Some(c) = &l.controller {
                        e.attached.insert((l.name.clone(), c.clone()));
                    }
                    if let (Some(p), Some(ps)) = (veth_peer(&l.kind), &l.peer) {
                        e.created.insert(
                            p.to_string(),
                            Created {
                                kind: LinkKind::Veth {
                                    peer: Some(l.name.clone()),
                                },
                                mac: ps.mac,
                            },
                        );
                        if let Some(c) = &ps.controller {
                            e.attached.insert((p.to_string(), c.clone()));
                        }
                    }
                }
                Op::DeleteLink { name } => e.delete(before, name),
                Op::ChangeLink { name, change } => {
                    if let Some(Some(c)) = &change.controller {
                        e.attached.insert((name.clone(), c.clone()));
                    }
                    if e.created.contains_key(name) || !before.links.contains_key(name) {
                        continue;
                    }
                    let old = before.links.get(name).and_then(|l| l.controller.clone());
                    let bond_move = change.controller.as_ref().is_some_and(|to| {
                        *to != old
                            && (to.as_deref().is_some_and(|c| is_bond(&e, c))
                                || old.as_deref().is_some_and(|c| is_bond(&e, c)))
                    });
                    if change.up == Some(false) || bond_move || change.mtu.is_some_and(|m| m < 1280)
                    {
                        e.lossy.insert(name.clone());
                    }
                    let slot = e.changed.entry(name.clone()).or_default();
                    merge(slot, change);
                }
                Op::AddAddress(a) => {
                    toggle(&mut e.addrs, a, true, before.addresses.contains(a));
                }
                Op::DeleteAddress(a) => {
                    toggle(&mut e.addrs, a, false, before.addresses.contains(a));
                    if before.addresses.contains(a) {
                        e.lost_ips.insert(a.addr.addr());
                        if a.addr.addr().is_ipv4() {
                            e.lost_v4.push(a.clone());
                        }
                    }
                }
                Op::AddRoute(r) => toggle(&mut e.routes, r, true, before.routes.contains(r)),
                Op::DeleteRoute(r) => toggle(&mut e.routes, r, false, before.routes.contains(r)),
                Op::AddRule(r) => toggle(&mut e.rules, r, true, before.rules.contains(r)),
                Op::DeleteRule(r) => toggle(&mut e.rules, r, false, before.rules.contains(r)),
                Op::BridgeVlans { .. } => vlans::record(&mut e.vlans, before, op),
                Op::AltName { .. } => super::alt_names::record(&mut e.alt_names, before, op),
                // Hostnet's own objects: restored by their own inverses.
                Op::Ovs(_)
                | Op::Firewall(_)
                | Op::ConfigureDhcpServer { .. }
                | Op::StartDhcpServer { .. }
                | Op::StopDhcpServer { .. }
                | Op::AddDhcpHost { .. }
                | Op::RemoveDhcpHost { .. } => {}
            }
        }
        e
    }

    /// A link deletion: its veth peer and the devices stacked on it go too.
    fn delete(&mut self, before: &KernelState, name: &str) {
        let kind_of = |e: &Effects, n: &str| {
            e.created
                .get(n)
                .map(|c| c.kind.clone())
                .or_else(|| before.links.get(n).map(|l| l.kind.clone()))
        };
        let mut gone = vec![name.to_string()];
        if let Some(p) = kind_of(self, name).as_ref().and_then(veth_peer) {
            gone.push(p.to_string());
        }
        loop {
            let more: Vec<String> = before
                .links
                .values()
                .map(|l| (l.name.clone(), l.kind.clone()))
                .chain(
                    self.created
                        .iter()
                        .map(|(n, c)| (n.clone(), c.kind.clone())),
                )
                .filter(|(n, k)| {
                    !gone.contains(n) && k.base().is_some_and(|b| gone.iter().any(|g| g == b))
                })
                .map(|(n, _)| n)
                .collect();
            if more.is_empty() {
                break;
            }
            gone.extend(more);
        }
        for g in gone {
            if self.created.remove(&g).is_none() && before.links.contains_key(&g) {
                self.changed.remove(&g);
                self.lost_ips.extend(
                    before
                        .addresses
                        .iter()
                        .filter(|a| a.ifname == g)
                        .map(|a| a.addr.addr()),
                );
                self.deleted.insert(g);
            }
        }
    }
}

/// `slot` with every field `change` sets set to its value.
fn merge(slot: &mut LinkChange, change: &LinkChange) {
    if change.up.is_some() {
        slot.up = change.up;
    }
    if change.mtu.is_some() {
        slot.mtu = change.mtu;
    }
    if change.mac.is_some() {
        slot.mac = change.mac;
    }
    if change.controller.is_some() {
        slot.controller.clone_from(&change.controller);
    }
    // Bridge and port settings are sets of fields: a later change adds its own.
    if let Some(b) = &change.bridge {
        slot.bridge.get_or_insert_with(Default::default).merge(b);
    }
    if let Some(p) = &change.port {
        slot.port.get_or_insert_with(Default::default).merge(p);
    }
    if change.settings.is_some() {
        slot.settings.clone_from(&change.settings);
    }
    if change.alias.is_some() {
        slot.alias.clone_from(&change.alias);
    }
    if change.promisc.is_some() {
        slot.promisc = change.promisc;
    }
    if let Some(i) = &change.inet6 {
        let s = slot.inet6.get_or_insert_with(Default::default);
        s.addr_gen_mode = i.addr_gen_mode.or(s.addr_gen_mode);
        s.token = i.token.or(s.token);
    }
    if let Some(p) = &change.bond_port {
        slot.bond_port.get_or_insert_with(Default::default).merge(p);
    }
}

/// One attribute of a link in the three states: before the apply, as the apply set it,
/// and now. `Some(true)`: take it back; `Some(false)`: someone changed it since;
/// `None`: it is back already.
fn three_way<T: PartialEq>(before: &T, set: &T, now: &T) -> Option<bool> {
    if now == before {
        None
    } else {
        Some(now == set)
    }
}

/// Where the rollback is working out what to do.
struct Ctx<'a> {
    u: Undo<'a>,
    e: &'a Effects,
    now: &'a KernelState,
    out: UndoPlan,
    /// Links this rollback deletes (with their veth peers).
    deleting: BTreeSet<String>,
    /// Links this rollback makes again (or made in an earlier round).
    recreating: BTreeSet<String>,
}

impl Ctx<'_> {
    fn before(&self) -> &KernelState {
        self.u.before
    }

    /// The link `name` is there now and is the device it was before the apply (same
    /// kind), and this rollback does not delete it.
    fn link_ok(&self, name: &str) -> bool {
        !self.deleting.contains(name)
            && match (self.now.links.get(name), self.before().links.get(name)) {
                (Some(n), Some(b)) => same_kind(&n.kind, &b.kind),
                (Some(_), None) => self.e.created.contains_key(name),
                _ => false,
            }
    }

    /// A device of that name will be there after this rollback.
    fn will_exist(&self, name: &str) -> bool {
        self.recreating.contains(name)
            || (self.now.links.contains_key(name) && !self.deleting.contains(name))
    }

    /// The device `now` has under a name the apply created is the one it created: the
    /// same index as when the apply left it, where that was read; else the MAC address
    /// the apply gave it, or (but for a bridge, whose address follows its ports) had
    /// when it was left; else the kind.
    fn is_created(&self, name: &str, now: &Link, c: &Created) -> bool {
        if !same_kind(&now.kind, &c.kind) {
            return false;
        }
        let left = self.u.left;
        let ids = (
            left.and_then(|s| s.link_ids.0.get(name)),
            self.now.link_ids.0.get(name),
        );
        if let (Some(a), Some(b)) = ids {
            return a == b;
        }
        if let Some(m) = c.mac {
            return now.mac == Some(m);
        }
        let left_mac = left.and_then(|s| s.links.get(name)).and_then(|l| l.mac);
        matches!(now.kind, LinkKind::Bridge(_)) || left_mac.is_none_or(|m| now.mac == Some(m))
    }

    /// What of another tool's hangs on a link the apply created (and its veth peer).
    fn foreign_on(&self, names: &[&str]) -> Option<String> {
        let now = self.now;
        if let Some(a) = now
            .addresses
            .iter()
            .find(|a| names.contains(&a.ifname.as_str()) && self.e.addrs.get(*a) != Some(&true))
        {
            return Some(format!("address {} on it", a.addr));
        }
        for l in now.links.values() {
            if let Some(c) = l.controller.as_deref().filter(|c| names.contains(c)) {
                let ours = self.e.attached.contains(&(l.name.clone(), c.to_string()));
                if !ours && !names.contains(&l.name.as_str()) {
                    return Some(format!("port {}", l.name));
                }
            }
            if l.kind.base().is_some_and(|b| names.contains(&b))
                && !self.e.created.contains_key(&l.name)
            {
                return Some(format!("{} {} on it", l.kind.type_name(), l.name));
            }
        }
        None
    }

    fn kept(&mut self, what: String) {
        self.out.kept.push(what);
    }

    fn blocked(&mut self, what: String) {
        self.out.blocked.push(what);
    }

    fn push(&mut self, phase: Phase, op: Op) {
        self.out.plan.push(phase, op);
    }
}

impl Undo<'_> {
    /// The rollback's ops from the state `now`, and what it leaves alone.
    pub fn plan(&self, now: &KernelState) -> UndoPlan {
        let e = Effects::of(self.before, self.done);
        let mut cx = Ctx {
            u: *self,
            e: &e,
            now,
            out: UndoPlan::default(),
            deleting: BTreeSet::new(),
            recreating: self.recreated.clone(),
        };
        links::created(&mut cx);
        let recreate = links::deleted(&mut cx);
        links::recreate(&mut cx, &recreate);
        links::changed(&mut cx);
        vlans::vlans(&mut cx);
        alt_names(&mut cx);
        addresses(&mut cx);
        routes(&mut cx);
        rules(&mut cx);
        let mut out = cx.out;
        super::dropped::readd_restored(now, self.before, &mut out.plan);
        super::restore::finish(&mut out.plan, now, self.before);
        out
    }
}

/// The apply's alternative names taken back (see [`super::alt_names`]).
fn alt_names(cx: &mut Ctx<'_>) {
    let remade: BTreeSet<String> = cx
        .recreating
        .iter()
        .filter(|n| cx.e.deleted.contains(*n) && !cx.deleting.contains(*n))
        .cloned()
        .collect();
    let ok = |n: &str| cx.link_ok(n) && !cx.recreating.contains(n);
    let (ops, blocked) = super::alt_names::undo(
        cx.u.before,
        cx.now,
        &cx.e.alt_names,
        &ok,
        &remade,
        &cx.deleting,
    );
    for (phase, op) in ops {
        cx.push(phase, op);
    }
    for b in blocked {
        cx.blocked(b);
    }
}

/// Another route in `r`'s place (the same key), if there is one.
fn taken_route<'s>(now: &'s KernelState, r: &Route) -> Option<&'s Route> {
    now.routes
        .iter()
        .chain(&now.opaque_routes)
        .find(|x| x.same_key(r))
}

/// Whether `op` shows in `now` as done (for an apply that died in the middle of a phase,
/// whose ops may or may not have run): the object is as the op leaves it and was not so
/// before.
pub fn took_effect(op: &Op, before: &KernelState, now: &KernelState) -> bool {
    match op {
        Op::CreateLink(l) => {
            !before.links.contains_key(&l.name)
                && now.links.get(&l.name).is_some_and(|n| {
                    same_kind(&n.kind, &l.kind) && l.mac.is_none_or(|m| n.mac == Some(m))
                })
        }
        Op::DeleteLink { name } => before.links.contains_key(name) && !now.links.contains_key(name),
        Op::ChangeLink { name, change } => now.links.get(name).is_some_and(|n| {
            change.up.is_none_or(|v| n.up == v)
                && change.mtu.is_none_or(|v| n.mtu == v)
                && change.mac.is_none_or(|v| n.mac == Some(v))
                && change
                    .controller
                    .as_ref()
                    .is_none_or(|v| n.controller == *v)
                && change.settings.as_ref().is_none_or(|v| n.kind == *v)
        }),
        Op::AddAddress(a) => now.addresses.contains(a),
        Op::DeleteAddress(a) => !now.addresses.contains(a),
        Op::AddRoute(r) => now.routes.contains(r),
        Op::DeleteRoute(r) => !now.routes.contains(r),
        Op::AddRule(r) => now.rules.iter().any(|x| same_rule(x, r)),
        Op::DeleteRule(r) => !now.rules.iter().any(|x| same_rule(x, r)),
        Op::AltName { name, alt, add } => {
            let has = |s: &KernelState| s.alt_names.get(name).is_some_and(|a| a.contains(alt));
            has(before) != *add && has(now) == *add
        }
        // Restored by exact convergence whether or not they ran.
        _ => true,
    }
}

#[path = "undo_addrs_routes.rs"]
mod addrs_routes;
#[path = "undo_links.rs"]
mod links;

#[cfg(test)]
#[path = "undo_tests.rs"]
mod tests;
#[path = "undo_vlans.rs"]
mod vlans;
