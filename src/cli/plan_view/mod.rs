//! Plans for people and for programs: one entry per object the plan touches, tied to the
//! network that owns it, grouped by network and then by kind of object.
//!
//! The planner's ops are steps (a route that changes is a delete and an add, a new DHCP
//! server is configured and then started); an entry is what happens to one object, so
//! such steps are merged into one `change` or `create`. Sysctls the kernel rewrites by
//! itself when a forwarding switch is written are not entries of their own but the
//! switch's `side-effects`.
//!
//! The JSON form of an entry is a documented, stable interface (README "Plans as JSON"):
//! `{network?, kind, key, action, before, after, side-effects?}`. An entry is identified
//! by (network, kind, key).

mod dhcp;
mod objects;
mod ovs;
mod text;

pub(crate) use objects::{route as route_object, rule as rule_object};

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::expand::{Intent, KindIntent};
use crate::firewall::FwOp;
use crate::netdev::{KernelState, Op, HOSTNET_PROTO};
use crate::plan::Plan;

/// The version of the JSON shape of plans (and of `status`); it changes only when a
/// field changes meaning or goes away.
pub const JSON_VERSION: u32 = 1;

/// What an entry is about. The order is the order within a network's group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Interface,
    /// A linux bridge port's (or bridge's) VLANs, keyed by the port.
    BridgeVlans,
    OvsBridge,
    OvsPort,
    /// A key of the Open_vSwitch row's maps.
    OvsDb,
    Address,
    Route,
    Rule,
    FirewallBase,
    Firewall,
    Sysctl,
    Conntrack,
    DhcpServer,
    DhcpHost,
}

/// What happens to the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Change,
    Remove,
}

impl Action {
    pub fn sign(self) -> char {
        match self {
            Action::Create => '+',
            Action::Change => '~',
            Action::Remove => '-',
        }
    }
}

/// A value the kernel writes by itself when a forwarding switch is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SideEffect {
    pub key: String,
    pub before: Option<String>,
    pub after: String,
}

/// One object the plan creates, changes or removes.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Entry {
    /// The network that owns the object (its device, table, firewall or DHCP server).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    pub kind: Kind,
    /// Identifies the object among those of its kind (and network).
    pub key: String,
    pub action: Action,
    /// Its attributes before (`null` when created); for a change, those that change.
    pub before: Option<Map<String, Value>>,
    /// Its attributes after (`null` when removed); for a change, those that change.
    pub after: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub side_effects: Vec<SideEffect>,
    /// `kind key` for people (`route default table 1001`).
    #[serde(skip)]
    label: String,
    /// The first op's line, for creations and removals.
    #[serde(skip)]
    text: String,
    /// Position of its first op in the plan.
    #[serde(skip)]
    index: usize,
    /// How many ops it stands for.
    #[serde(skip)]
    merged: usize,
    /// For a creation merged with later changes: the attributes those set.
    #[serde(skip)]
    later: Vec<String>,
}

/// A network of the file, as a plan's group header names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkInfo {
    pub name: String,
    pub device: String,
    pub bridge: bool,
    pub table: Option<u32>,
    pub table_derived: bool,
    pub absent: bool,
}

/// A plan as entries, in display order.
#[derive(Clone, Debug, Default)]
pub struct PlanView {
    pub networks: Vec<NetworkInfo>,
    pub entries: Vec<Entry>,
}

/// Counts of entries by action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub create: usize,
    pub change: usize,
    pub remove: usize,
}

impl PlanView {
    /// The entries of `plan`, made against `before`, for `intent`.
    pub fn new(plan: &Plan, before: &KernelState, intent: &Intent) -> PlanView {
        let networks = networks_of(intent);
        let owners = Owners::new(intent);
        let mut raw: Vec<Entry> = plan
            .ops()
            .enumerate()
            .map(|(i, op)| {
                let mut e = objects::entry(op, before, i);
                e.network = owners.of(op);
                e
            })
            .collect();
        attach_side_effects(&mut raw, plan);
        let mut entries = merge(raw);
        // Each network's first position, looked up once per comparison: a scan of the
        // networks per comparison made the sort quadratic (seconds at 4,000 networks).
        let mut first: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for (i, x) in networks.iter().enumerate() {
            first.entry(x.name.as_str()).or_insert(i);
        }
        let rank = |e: &Entry| match &e.network {
            Some(n) => first.get(n.as_str()).copied().unwrap_or(networks.len()),
            None => networks.len() + 1,
        };
        entries.sort_by(|a, b| {
            (rank(a), &a.network, a.kind, a.index).cmp(&(rank(b), &b.network, b.kind, b.index))
        });
        PlanView { networks, entries }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn summary(&self) -> Summary {
        let mut s = Summary::default();
        for e in &self.entries {
            match e.action {
                Action::Create => s.create += 1,
                Action::Change => s.change += 1,
                Action::Remove => s.remove += 1,
            }
        }
        s
    }

    /// The entries as a JSON array.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&self.entries).unwrap_or(Value::Null)
    }
}

impl Summary {
    /// `Plan: 2 to create, 1 to change, 0 to remove`.
    pub fn line(&self) -> String {
        format!(
            "Plan: {} to create, {} to change, {} to remove",
            self.create, self.change, self.remove
        )
    }
}

fn networks_of(intent: &Intent) -> Vec<NetworkInfo> {
    intent
        .networks
        .iter()
        .map(|n| NetworkInfo {
            name: n.name.clone(),
            device: n.device.clone(),
            bridge: intent
                .links
                .get(&n.device)
                .is_some_and(|l| l.kind == Some(KindIntent::Bridge)),
            table: n.table,
            table_derived: n.table_derived,
            absent: n.absent,
        })
        .collect()
}

/// Which network owns which device and table.
struct Owners {
    by_device: HashMap<String, String>,
    by_table: HashMap<u32, String>,
}

impl Owners {
    fn new(intent: &Intent) -> Owners {
        let by_origin: HashMap<&str, &str> = intent
            .networks
            .iter()
            .map(|n| (n.origin.as_str(), n.name.as_str()))
            .collect();
        let mut by_device = HashMap::new();
        // Links a network brought in (uplink, VLAN device and its base), unless the file
        // declares them under `interfaces` itself.
        for (name, l) in &intent.links {
            let head = l.origin.split('.').next().unwrap_or_default();
            if let Some(n) = by_origin.get(head) {
                by_device.insert(name.clone(), n.to_string());
            }
        }
        let mut by_table = HashMap::new();
        for n in &intent.networks {
            by_device.insert(n.device.clone(), n.name.clone());
            if let Some(t) = n.table {
                by_table.insert(t, n.name.clone());
            }
        }
        // What a network had when last applied and leaves now (an uplink it moved off,
        // its old bridge or table) is still its own, unless another network takes it.
        for n in &intent.networks {
            let Some(prev) = &n.previous else { continue };
            let old = [
                Some(&prev.device),
                prev.uplink.as_ref(),
                prev.vlan_device.as_ref(),
            ];
            for dev in old.into_iter().flatten() {
                by_device
                    .entry(dev.clone())
                    .or_insert_with(|| n.name.clone());
            }
            if let Some(t) = prev.table {
                by_table.entry(t).or_insert_with(|| n.name.clone());
            }
        }
        Owners {
            by_device,
            by_table,
        }
    }

    fn device(&self, name: &str) -> Option<String> {
        self.by_device.get(name).cloned()
    }

    fn of(&self, op: &Op) -> Option<String> {
        match op {
            Op::CreateLink(l) => self.device(&l.name),
            Op::ChangeLink { name, .. } | Op::DeleteLink { name } => self.device(name),
            Op::AddAddress(a) | Op::DeleteAddress(a) => self.device(&a.ifname),
            // Only hostnet's own routes and rules belong to a network: a user's route on
            // a network's bridge is the file's `routes`.
            Op::AddRoute(r) | Op::DeleteRoute(r) if r.protocol == HOSTNET_PROTO => self
                .by_table
                .get(&r.table)
                .cloned()
                .or_else(|| r.dev.as_deref().and_then(|d| self.device(d))),
            Op::AddRule(r) | Op::DeleteRule(r) if r.protocol == HOSTNET_PROTO => {
                self.by_table.get(&r.table).cloned()
            }
            Op::Ovs(o) => o.names().first().and_then(|n| self.device(n)),
            Op::Firewall(f) => match &**f {
                FwOp::Network { name, .. } => Some(name.clone()),
                // A device's IPv6 switch (one made without IPv6) goes with the device.
                FwOp::Sysctl { key, .. } => {
                    crate::firewall::sysctl::disable_ipv6_of(key).and_then(|dev| self.device(dev))
                }
                _ => None,
            },
            Op::ConfigureDhcpServer { network, .. }
            | Op::StartDhcpServer { network }
            | Op::StopDhcpServer { network, .. }
            | Op::AddDhcpHost { network, .. }
            | Op::RemoveDhcpHost { network, .. } => Some(network.clone()),
            _ => None,
        }
    }
}

/// The forwarding switch whose writing makes the kernel write `key` too.
fn switch_of(key: &str) -> Option<&'static str> {
    use crate::firewall::sysctl;
    if !sysctl::is_side_effect(key) {
        return None;
    }
    Some(if key.starts_with("net.ipv6.") {
        sysctl::IPV6_FORWARD
    } else {
        sysctl::IPV4_FORWARD
    })
}

/// Moves the side effects of a switch the plan writes into that switch's entry.
fn attach_side_effects(entries: &mut Vec<Entry>, plan: &Plan) {
    let ops: Vec<&Op> = plan.ops().collect();
    let mut effects: Vec<(usize, &'static str, SideEffect)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let Op::Firewall(f) = ops[e.index] else {
            continue;
        };
        let FwOp::Sysctl { key, from, to } = &**f else {
            continue;
        };
        let Some(switch) = switch_of(key) else {
            continue;
        };
        let written = entries
            .iter()
            .any(|s| s.kind == Kind::Sysctl && s.key == switch);
        if written {
            effects.push((
                i,
                switch,
                SideEffect {
                    key: key.clone(),
                    before: from.clone(),
                    after: to.clone(),
                },
            ));
        }
    }
    let drop: Vec<usize> = effects.iter().map(|(i, _, _)| *i).collect();
    for (_, switch, effect) in effects {
        if let Some(s) = entries
            .iter_mut()
            .find(|s| s.kind == Kind::Sysctl && s.key == switch)
        {
            s.side_effects.push(effect);
        }
    }
    let mut i = 0;
    entries.retain(|_| {
        let keep = !drop.contains(&i);
        i += 1;
        keep
    });
}

/// Merges the ops of one object (same network, kind and key) into one entry.
fn merge(raw: Vec<Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut at: HashMap<(Option<String>, Kind, String), usize> = HashMap::new();
    for e in raw {
        let id = (e.network.clone(), e.kind, e.key.clone());
        if let Some(&i) = at.get(&id) {
            if let Some(m) = combine(&out[i], &e) {
                out[i] = m;
                continue;
            }
        }
        at.insert(id, out.len());
        out.push(e);
    }
    out
}

/// One entry for two successive ones of the same object, when they make one.
fn combine(a: &Entry, b: &Entry) -> Option<Entry> {
    use Action::{Change, Create, Remove};
    let action = match (a.action, b.action) {
        (Create, Change) => Create,
        (Remove, Create) | (Change, Change) => Change,
        (Change, Remove) => Remove,
        _ => return None,
    };
    let mut m = a.clone();
    m.action = action;
    m.merged += b.merged;
    m.side_effects.extend(b.side_effects.iter().cloned());
    if action != Create {
        // The first value seen is the one before the plan.
        let mut before = a.before.clone().unwrap_or_default();
        for (k, v) in b.before.iter().flatten() {
            before.entry(k.clone()).or_insert_with(|| v.clone());
        }
        m.before = Some(before);
    }
    if action == Remove {
        m.after = None;
        m.text = b.text.clone();
    } else {
        let mut after = a.after.clone().unwrap_or_default();
        for (k, v) in b.after.iter().flatten() {
            after.insert(k.clone(), v.clone());
            if action == Create && !m.later.contains(k) {
                m.later.push(k.clone());
            }
        }
        m.after = Some(after);
    }
    Some(m)
}

#[cfg(test)]
mod tests;
