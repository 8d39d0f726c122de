//! Routes and rules: the user's (`routes.config`, `route-rules.config`) and the ones hostnet
//! owns for logical networks.
//!
//! A network owns, in the kernel, every route and rule tagged with [`HOSTNET_PROTO`] that
//! is in its table, plus its owned routes on its device in any other table (so that a
//! table that changed is emptied) and the rules pointing at any of those tables.
//! Everything owned and not desired is removed; nothing untagged is ever touched by a
//! network. (The kernel seen here is [`super::copies`]' view: hostnet's objects as a boot
//! stack made them from `persist`'s files carry the tag in it.)

use std::collections::{BTreeSet, HashMap};

use super::{Phase, Plan, PlanError};
use crate::expand::{Intent, NetworkIntent};
use crate::netdev::{KernelState, Op, Route, Rule, HOSTNET_PROTO, TABLE_MAIN};

/// The current routes and rules indexed once per plan: looking them up per network by
/// scanning would cost networks × routes (millions of comparisons at a thousand networks).
pub(super) struct Index<'a> {
    routes_by_table: HashMap<u32, Vec<&'a Route>>,
    tagged_by_dev: HashMap<&'a str, Vec<&'a Route>>,
    rules_by_table: HashMap<u32, Vec<&'a Rule>>,
    /// The networks of the intent that claim each table as theirs (their table now, or
    /// the one they had): nobody else's device makes such a table theirs.
    claims: HashMap<u32, Vec<&'a str>>,
    /// The networks of the intent by their device: [`devices_of`] asks, for each network,
    /// which others have its devices (scanning them all per network was quadratic).
    by_device: HashMap<&'a str, Vec<&'a NetworkIntent>>,
}

impl<'a> Index<'a> {
    pub(super) fn new(current: &'a KernelState, intent: &'a Intent) -> Index<'a> {
        let mut ix = Index {
            routes_by_table: HashMap::new(),
            tagged_by_dev: HashMap::new(),
            rules_by_table: HashMap::new(),
            claims: HashMap::new(),
            by_device: HashMap::new(),
        };
        for n in &intent.networks {
            ix.by_device.entry(n.device.as_str()).or_default().push(n);
            let previous = n.previous.as_ref().and_then(|p| p.table);
            // A removed network's derived table is a guess (with a record, the recorded
            // table is used instead): it may be the table another removed network's
            // device has its routes in, and claiming it would leave that table's rules
            // to nobody.
            let table = n.table.filter(|_| !(n.absent && n.table_derived));
            // The main table is everyone's: devices decide there.
            for t in table
                .into_iter()
                .chain(previous)
                .filter(|t| *t != TABLE_MAIN)
            {
                ix.claims.entry(t).or_default().push(&n.name);
            }
        }
        for r in &current.routes {
            ix.routes_by_table.entry(r.table).or_default().push(r);
            if let (HOSTNET_PROTO, Some(dev)) = (r.protocol, r.dev.as_deref()) {
                ix.tagged_by_dev.entry(dev).or_default().push(r);
            }
        }
        for r in &current.rules {
            ix.rules_by_table.entry(r.table).or_default().push(r);
        }
        ix
    }

    fn routes_in(&self, t: u32) -> impl Iterator<Item = &'a Route> + '_ {
        self.routes_by_table.get(&t).into_iter().flatten().copied()
    }

    fn rules_in(&self, t: u32) -> impl Iterator<Item = &'a Rule> + '_ {
        self.rules_by_table.get(&t).into_iter().flatten().copied()
    }

    fn tagged_on(&self, dev: &str) -> impl Iterator<Item = &'a Route> + '_ {
        self.tagged_by_dev.get(dev).into_iter().flatten().copied()
    }

    /// True when `t` is another network's table than `n`'s (in the intent, or applied
    /// earlier and not mentioned): `n`'s devices do not make its routes there `n`'s.
    fn claimed_by_other(&self, intent: &Intent, n: &NetworkIntent, t: u32) -> bool {
        reserved_for_other(intent, n, t)
            || self
                .claims
                .get(&t)
                .is_some_and(|c| c.iter().any(|o| *o != n.name))
    }
}

/// The devices whose tagged routes are network `n`'s: its device, and the one it had
/// when last applied (a moved uplink, a renamed bridge) unless another network of the
/// intent has that one now. A removed network's device taken by a present network is
/// that one's (finding F9): the removed one keeps only what is in its table.
fn devices_of<'a>(ix: &Index<'_>, n: &'a NetworkIntent) -> Vec<&'a str> {
    n.devices()
        .filter(|d| {
            !ix.by_device
                .get(d)
                .into_iter()
                .flatten()
                .any(|o| o.name != n.name && (*d != n.device || (n.absent && !o.absent)))
        })
        .collect()
}

/// The device of a tagged route in table `t` that is none of `devices`: the table is then
/// another network's. `devices` are all the network's, the one it left included: in its
/// own table, routes on the device it moves away from are its own (finding F11), even
/// when another network takes that device in the same file.
fn other_network_in<'a>(ix: &Index<'a>, t: u32, devices: &[&str]) -> Option<&'a str> {
    ix.routes_in(t)
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .filter_map(|r| r.dev.as_deref())
        .find(|d| !devices.contains(d))
}

/// Tables whose tagged content belongs to network `n`: its table, and the one it had
/// when last applied, unless another network's routes are in it (then [`check_tables`]
/// refuses a present network, and an absent one claims only what is on its devices),
/// and every table where its devices have tagged routes (a table that moved is emptied).
fn owned_tables(ix: &Index<'_>, intent: &Intent, n: &NetworkIntent) -> BTreeSet<u32> {
    let all: Vec<&str> = n.devices().collect();
    let previous = n.previous.as_ref().and_then(|p| p.table);
    let mut tables: BTreeSet<u32> = n
        .table
        .into_iter()
        .chain(previous)
        .filter(|t| other_network_in(ix, *t, &all).is_none() && !reserved_for_other(intent, n, *t))
        .collect();
    for d in &devices_of(ix, n) {
        tables.extend(
            ix.tagged_on(d)
                .map(|r| r.table)
                .filter(|t| *t != TABLE_MAIN && !ix.claimed_by_other(intent, n, *t)),
        );
    }
    tables
}

/// True when `t` is the table of another network applied earlier (which the intent does
/// not mention, so nothing here may empty it).
fn reserved_for_other(intent: &Intent, n: &NetworkIntent, t: u32) -> bool {
    intent
        .reserved_tables
        .get(&t)
        .is_some_and(|owner| *owner != n.name)
}

fn owned_routes<'a>(
    ix: &Index<'a>,
    intent: &Intent,
    n: &NetworkIntent,
    tables: &BTreeSet<u32>,
) -> Vec<&'a Route> {
    let mut owned: BTreeSet<&'a Route> = tables
        .iter()
        .flat_map(|t| ix.routes_in(*t))
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .collect();
    for d in devices_of(ix, n) {
        owned.extend(
            ix.tagged_on(d)
                .filter(|r| !ix.claimed_by_other(intent, n, r.table)),
        );
    }
    owned.into_iter().collect()
}

/// A network's table must not be another network's (the file may not mention that one),
/// and a derived table must not be one something else already uses: hostnet would mix
/// its routes into another tool's table.
pub(super) fn check_tables(
    current: &KernelState,
    ix: &Index<'_>,
    intent: &Intent,
    errors: &mut Vec<PlanError>,
) {
    for n in intent.networks.iter().filter(|n| !n.absent) {
        let Some(t) = n.table else { continue };
        let path = format!("{}.source-routing.table", n.origin);
        let explicit = if n.table_derived {
            "set an explicit table"
        } else {
            "choose another table"
        };
        if let Some(owner) = intent.reserved_tables.get(&t).filter(|o| **o != n.name) {
            errors.push(PlanError {
                path,
                message: format!(
                    "table {t} of network {} is the table of network {owner}, applied earlier; {explicit}",
                    n.name
                ),
            });
            continue;
        }
        let devices: Vec<&str> = n.devices().collect();
        if let Some(dev) = other_network_in(ix, t, &devices) {
            errors.push(PlanError {
                path,
                message: format!(
                    "table {t} of network {} already holds hostnet's routes for device {dev} (another network); {explicit}",
                    n.name
                ),
            });
            continue;
        }
        if !n.table_derived {
            continue;
        }
        let foreign_route = ix.routes_in(t).any(|r| r.protocol != HOSTNET_PROTO)
            || current.opaque_routes.iter().any(|r| r.table == t);
        // A copy of one of the network's rules with another protocol (a boot stack's,
        // from files `persist` wrote before it kept a record) is not in the way; like
        // the rule block, the planner leaves it alone.
        let foreign_rule = ix
            .rules_in(t)
            .any(|r| r.protocol != HOSTNET_PROTO && !n.rules.contains(&ours(r)))
            || current.opaque_rules.iter().any(|r| r.table == t);
        if foreign_route || foreign_rule {
            errors.push(PlanError {
                path,
                message: format!(
                    "the table derived for network {} ({t}) already holds {} that hostnet does not own; {explicit}",
                    n.name,
                    if foreign_route { "routes" } else { "rules" }
                ),
            });
        }
    }
}

/// `r` as hostnet would have made it (its protocol).
fn ours(r: &Rule) -> Rule {
    Rule {
        protocol: HOSTNET_PROTO,
        ..r.clone()
    }
}

/// Whether address `ip` is on some interface once the intent's address lists apply.
fn address_after(current: &KernelState, intent: &Intent, ip: std::net::IpAddr) -> bool {
    fn listed(ip: std::net::IpAddr, li: &crate::expand::LinkIntent) -> Option<&Vec<ipnet::IpNet>> {
        match ip.is_ipv4() {
            true => li.ipv4.as_ref(),
            false => li.ipv6.as_ref(),
        }
    }
    let kept = current.addresses.iter().any(|a| {
        a.addr.addr() == ip
            && intent
                .links
                .get(&a.ifname)
                .and_then(|li| listed(ip, li))
                .is_none_or(|l| l.contains(&a.addr))
    });
    kept || intent
        .links
        .values()
        .filter(|li| li.state != crate::model::IfaceState::Absent)
        .filter_map(|li| listed(ip, li))
        .flatten()
        .any(|a| a.addr() == ip)
}

pub(super) fn same_user_route(want: &Route, have: &Route) -> bool {
    want.same_key(have)
        && want.gateway == have.gateway
        // Without a device the kernel picks the one that reaches the gateway (and
        // keeps an IPv6 blackhole on `lo`).
        && (want.dev.is_none() || want.dev == have.dev)
        && (want.src.is_none() || want.src == have.src)
        // Type, metrics, onlink and next hops are the route's: another value is
        // another route (nmstate cannot edit them in place either).
        && want.attrs == have.attrs
}

fn same_user_rule(want: &Rule, have: &Rule) -> bool {
    Rule {
        protocol: have.protocol,
        ..want.clone()
    } == *have
}

pub(super) fn plan_routes(
    current: &KernelState,
    ix: &Index<'_>,
    intent: &Intent,
    plan: &mut Plan,
    errors: &mut Vec<PlanError>,
) {
    let mut delete: BTreeSet<&Route> = BTreeSet::new();
    let mut add: Vec<(&str, Route)> = Vec::new();
    for n in &intent.networks {
        let tables = owned_tables(ix, intent, n);
        let have = owned_routes(ix, intent, n, &tables);
        for r in &have {
            if !n.routes.contains(r) {
                delete.insert(r);
            }
        }
        for w in &n.routes {
            if !have.contains(&w) {
                add.push((&n.origin, w.clone()));
            }
        }
    }
    // The host's default route is one per family: when a network claims it, an owned one
    // left by a network the file no longer mentions goes.
    let main_defaults: Vec<&Route> = intent
        .networks
        .iter()
        .flat_map(|n| &n.routes)
        .filter(|r| r.table == TABLE_MAIN && r.destination.prefix_len() == 0)
        .collect();
    for h in current.routes.iter().filter(|h| {
        h.protocol == HOSTNET_PROTO
            && h.table == TABLE_MAIN
            && h.destination.prefix_len() == 0
            && !main_defaults.contains(h)
            && main_defaults.iter().any(|w| w.same_key(h))
    }) {
        delete.insert(h);
    }
    for ri in &intent.routes {
        let want = &ri.route;
        if let Some(src) = want.src.filter(|s| !address_after(current, intent, *s)) {
            errors.push(PlanError {
                path: format!("{}.source", ri.origin),
                message: format!(
                    "{src} is no address of this host (the kernel refuses a preferred source it does not have); give it to an interface in this file"
                ),
            });
            continue;
        }
        if current.routes.iter().any(|h| same_user_route(want, h)) {
            continue;
        }
        // Same key, other next hop: the old entry has to go first.
        for h in current.routes.iter().filter(|h| h.same_key(want)) {
            delete.insert(h);
        }
        add.push((&ri.origin, want.clone()));
    }
    for m in &intent.route_removals {
        for h in current
            .routes
            .iter()
            .filter(|h| h.protocol != HOSTNET_PROTO && m.matches(h))
        {
            delete.insert(h);
        }
    }
    // A route the kernel would refuse as a duplicate of someone else's is an error now,
    // not a rollback later.
    for (origin, w) in &add {
        if w.protocol != HOSTNET_PROTO {
            continue;
        }
        if let Some(h) = current
            .routes
            .iter()
            .filter(|h| h.protocol != HOSTNET_PROTO && !delete.contains(h))
            .chain(&current.opaque_routes)
            .find(|h| h.same_key(w))
        {
            errors.push(PlanError {
                path: origin.to_string(),
                message: format!(
                    "the kernel already has {h}, which hostnet does not own; remove it \
                     (routes.config entry with state: absent) or choose another table"
                ),
            });
        }
    }
    for r in delete {
        plan.push(Phase::DeleteRoutes, Op::DeleteRoute(r.clone()));
    }
    for (_, r) in add {
        plan.push(Phase::AddRoutes, Op::AddRoute(r));
    }
}

/// The tagged rules network `n` owns: those looking up its tables. Tagged rules that look
/// up no network's table (the block around the networks' rules) are planned as a whole
/// by `rule_block`.
fn owned_rules<'a>(ix: &Index<'a>, intent: &Intent, n: &NetworkIntent) -> Vec<&'a Rule> {
    owned_tables(ix, intent, n)
        .iter()
        .flat_map(|t| ix.rules_in(*t))
        .filter(|r| r.protocol == HOSTNET_PROTO)
        .collect()
}

pub(super) fn plan_rules(current: &KernelState, ix: &Index<'_>, intent: &Intent, plan: &mut Plan) {
    let mut delete: BTreeSet<&Rule> = BTreeSet::new();
    let mut add: Vec<Rule> = Vec::new();
    for n in &intent.networks {
        let have = owned_rules(ix, intent, n);

        for r in &have {
            if !n.rules.contains(r) {
                delete.insert(r);
            }
        }
        for w in &n.rules {
            if !have.contains(&w) {
                add.push(w.clone());
            }
        }
    }
    for ri in &intent.rules {
        if !current.rules.iter().any(|h| same_user_rule(&ri.rule, h)) {
            add.push(ri.rule.clone());
        }
    }
    for m in &intent.rule_removals {
        for h in current
            .rules
            .iter()
            .filter(|h| h.protocol != HOSTNET_PROTO && m.matches(h))
        {
            delete.insert(h);
        }
    }
    for r in delete {
        plan.push(Phase::DeleteRules, Op::DeleteRule(r.clone()));
    }
    for r in add {
        plan.push(Phase::AddRules, Op::AddRule(r));
    }
}
