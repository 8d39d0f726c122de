//! One plan entry per op, before merging: the object's kind and key, and its attributes
//! before and after as JSON objects with the input's kebab-case names.

use serde_json::{json, Map, Value};

use super::dhcp::dhcp;
use super::ovs::ovs;
use super::{Action, Entry, Kind};
use crate::firewall::{FwOp, NetFirewall};
use crate::netdev::{
    Address, KernelState, Link, LinkChange, LinkKind, NewLink, Op, Route, RouteScope, Rule,
};

/// The entry of one op; `before` is the state the plan was made against.
pub(super) fn entry(op: &Op, before: &KernelState, index: usize) -> Entry {
    let (kind, key, label, action, b, a) = describe(op, before);
    // A device goes by its kind, as its creation does (`- linux-bridge tenant1`).
    let text = match op {
        Op::DeleteLink { .. } => label.clone(),
        _ => op.to_string(),
    };
    Entry {
        network: None,
        kind,
        key,
        action,
        before: b,
        after: a,
        side_effects: Vec::new(),
        label,
        text,
        index,
        merged: 1,
        later: Vec::new(),
    }
}

pub(super) type Described = (
    Kind,
    String,
    String,
    Action,
    Option<Map<String, Value>>,
    Option<Map<String, Value>>,
);

fn describe(op: &Op, before: &KernelState) -> Described {
    use Action::{Change, Create, Remove};
    match op {
        Op::CreateLink(l) => {
            let (k, label) = link_key(&l.name);
            (Kind::Interface, k, label, Create, None, Some(new_link(l)))
        }
        Op::ChangeLink { name, change } => {
            let (k, label) = link_key(name);
            let old = before.links.get(name).map(|l| {
                let mut m = link_fields(l, change);
                base_fields(&mut m, before, name, change);
                m
            });
            (
                Kind::Interface,
                k,
                label,
                Change,
                old,
                Some(change_fields(change)),
            )
        }
        Op::DeleteLink { name } => {
            let (k, label) = link_key(name);
            let label = before
                .links
                .get(name)
                .map_or(label, |l| format!("{} {name}", l.kind.type_name()));
            let old = before.links.get(name).map(link);
            (Kind::Interface, k, label, Remove, old, None)
        }
        Op::AddAddress(a) => {
            let (k, label) = address_key(a);
            (Kind::Address, k, label, Create, None, Some(address(a)))
        }
        Op::DeleteAddress(a) => {
            let (k, label) = address_key(a);
            (Kind::Address, k, label, Remove, Some(address(a)), None)
        }
        Op::AddRoute(r) => {
            let (k, label) = route_key(r);
            (Kind::Route, k, label, Create, None, Some(route(r)))
        }
        Op::DeleteRoute(r) => {
            let (k, label) = route_key(r);
            (Kind::Route, k, label, Remove, Some(route(r)), None)
        }
        Op::AddRule(r) => {
            let (k, label) = rule_key(r);
            (Kind::Rule, k, label, Create, None, Some(rule(r)))
        }
        Op::DeleteRule(r) => {
            let (k, label) = rule_key(r);
            (Kind::Rule, k, label, Remove, Some(rule(r)), None)
        }
        Op::BridgeVlans { name, vlans, add } => {
            let now = before.bridge_vlans.get(name).map(crate::netdev::fmt_vlans);
            let vids = if *add {
                crate::netdev::fmt_vlans(vlans)
            } else {
                vlans
                    .keys()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let side = if *add { "add" } else { "remove" };
            (
                Kind::BridgeVlans,
                name.clone(),
                format!("bridge-vlans {name}"),
                Change,
                Some(obj([("vlans", json!(now.unwrap_or_default()))])),
                Some(obj([(side, json!(vids))])),
            )
        }
        Op::AltName { name, alt, add } => {
            let (k, label) = link_key(name);
            let now: Vec<&String> = before.alt_names.get(name).into_iter().flatten().collect();
            // One key per name, so that the names of one link merge into one line.
            let side = if *add { "add" } else { "remove" };
            (
                Kind::Interface,
                k,
                label,
                Change,
                Some(obj([("alt-names", json!(now))])),
                Some(obj([(&*format!("altname {alt}"), json!(side))])),
            )
        }
        Op::Ovs(o) => ovs(o, before),
        Op::Firewall(f) => firewall(f),
        Op::ConfigureDhcpServer { .. }
        | Op::StartDhcpServer { .. }
        | Op::StopDhcpServer { .. }
        | Op::AddDhcpHost { .. }
        | Op::RemoveDhcpHost { .. } => dhcp(op, before),
    }
}

pub(super) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Inserts `value` under `key` when there is one.
pub(super) fn put<T: serde::Serialize>(m: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(v) = value {
        m.insert(key.into(), json!(v));
    }
}

fn link_key(name: &str) -> (String, String) {
    (name.to_string(), format!("link {name}"))
}

fn state_word(up: bool) -> &'static str {
    if up {
        "up"
    } else {
        "down"
    }
}

/// A kind's settings: `stp` for a bridge, else the `ip -d link` words (none for plain
/// kinds).
fn kind_fields(m: &mut Map<String, Value>, kind: &LinkKind) {
    match kind {
        LinkKind::Bridge(b) => {
            m.insert("stp".into(), json!(b.stp));
        }
        k => {
            let s = k.settings();
            if !s.is_empty() {
                m.insert("settings".into(), json!(s));
            }
        }
    }
}

fn new_link(l: &NewLink) -> Map<String, Value> {
    let mut m = obj([
        ("type", json!(l.kind.type_name())),
        ("state", json!(state_word(l.up))),
    ]);
    if let LinkKind::Veth { peer: Some(p) } = &l.kind {
        m.insert("peer".into(), json!(p));
    }
    kind_fields(&mut m, &l.kind);
    put(&mut m, "mtu", l.mtu);
    put(&mut m, "mac-address", l.mac.map(|x| x.to_string()));
    put(&mut m, "controller", l.controller.as_deref());
    m
}

fn link(l: &Link) -> Map<String, Value> {
    let mut m = obj([
        ("type", json!(l.kind.type_name())),
        ("state", json!(state_word(l.up))),
        ("mtu", json!(l.mtu)),
    ]);
    if let LinkKind::Veth { peer: Some(p) } = &l.kind {
        m.insert("peer".into(), json!(p));
    }
    kind_fields(&mut m, &l.kind);
    put(&mut m, "mac-address", l.mac.map(|x| x.to_string()));
    m.insert("controller".into(), json!(l.controller));
    m
}

/// The fields a change sets, with their new values.
fn change_fields(c: &LinkChange) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "state", c.up.map(state_word));
    put(&mut m, "mtu", c.mtu);
    put(&mut m, "mac-address", c.mac.map(|x| x.to_string()));
    if let Some(ctl) = &c.controller {
        m.insert("controller".into(), json!(ctl));
    }
    if let Some(b) = &c.bridge {
        m.insert("stp".into(), json!(b.stp));
    }
    if let Some(k) = &c.settings {
        kind_fields(&mut m, k);
    }
    put(&mut m, "description", c.alias.as_deref());
    put(&mut m, "accept-all-mac-addresses", c.promisc);
    put(
        &mut m,
        "bond_slave",
        c.bond_port.as_ref().map(ToString::to_string),
    );
    if let Some(i) = &c.inet6 {
        put(&mut m, "ipv6.addr-gen-mode", i.addr_gen_mode);
        put(&mut m, "ipv6.token", i.token.map(|t| t.to_string()));
    }
    m
}

/// A link's alias and promiscuous flag before `c` (they are not in [`Link`]).
fn base_fields(m: &mut Map<String, Value>, s: &KernelState, name: &str, c: &LinkChange) {
    if c.alias.is_some() {
        let now = s.aliases.get(name).map_or("", String::as_str);
        m.insert("description".into(), json!(now));
    }
    if c.promisc.is_some() {
        m.insert(
            "accept-all-mac-addresses".into(),
            json!(s.promisc.contains(name)),
        );
    }
    if let Some(i) = &c.inet6 {
        let have = s.inet6.get(name).cloned().unwrap_or_default();
        if i.addr_gen_mode.is_some() {
            m.insert("ipv6.addr-gen-mode".into(), json!(have.addr_gen_mode));
        }
        if i.token.is_some() {
            let t = have.token.unwrap_or(std::net::Ipv6Addr::UNSPECIFIED);
            m.insert("ipv6.token".into(), json!(t.to_string()));
        }
    }
    if let Some(p) = &c.bond_port {
        let have = s.bond_ports.get(name).cloned().unwrap_or_default();
        let was = crate::netdev::BondPortChange {
            queue_id: p.queue_id.map(|_| have.queue_id),
            prio: p.prio.map(|_| have.prio),
        };
        m.insert("bond_slave".into(), json!(was.to_string()));
    }
}

/// The same fields as [`change_fields`], as the link has them now.
fn link_fields(l: &Link, c: &LinkChange) -> Map<String, Value> {
    let all = link(l);
    change_fields(c)
        .keys()
        .map(|k| (k.clone(), all.get(k).cloned().unwrap_or(Value::Null)))
        .collect()
}

fn address_key(a: &Address) -> (String, String) {
    let k = format!("{} dev {}", a.addr, a.ifname);
    (k.clone(), format!("address {k}"))
}

fn address(a: &Address) -> Map<String, Value> {
    obj([
        ("interface", json!(a.ifname)),
        ("address", json!(a.addr.to_string())),
    ])
}

/// The kernel's identity of a route: table, destination and metric.
fn route_key(r: &Route) -> (String, String) {
    let mut k = format!("{} table {}", r.destination, r.table);
    // `ip -6 route` says `default` too: the family tells the two defaults apart.
    let dest = if r.destination.prefix_len() == 0 && r.destination.addr().is_ipv6() {
        "default (IPv6)".to_string()
    } else if r.destination.prefix_len() == 0 {
        "default".to_string()
    } else {
        r.destination.to_string()
    };
    let mut label = format!("route {dest}");
    if r.table != crate::netdev::TABLE_MAIN {
        label.push_str(&format!(" table {}", r.table));
    }
    if let Some(m) = r.metric {
        k.push_str(&format!(" metric {m}"));
    }
    (k, label)
}

/// A route's attributes (also for `status` and `show IFACE`).
pub(crate) fn route(r: &Route) -> Map<String, Value> {
    let mut m = obj([("destination", json!(r.destination.to_string()))]);
    put(&mut m, "next-hop-address", r.gateway.map(|g| g.to_string()));
    put(&mut m, "next-hop-interface", r.dev.as_deref());
    m.insert("table-id".into(), json!(r.table));
    put(&mut m, "metric", r.metric);
    let scope = match r.scope {
        RouteScope::Universe => "global".to_string(),
        RouteScope::Link => "link".to_string(),
        RouteScope::Host => "host".to_string(),
        RouteScope::Other(n) => n.to_string(),
    };
    m.insert("scope".into(), json!(scope));
    put(&mut m, "source", r.src.map(|s| s.to_string()));
    m.insert("protocol".into(), json!(r.protocol));
    m
}

/// A rule's selectors: everything but where it leads.
fn rule_key(r: &Rule) -> (String, String) {
    let mut sel = format!("priority {}", r.priority);
    if let Some(n) = r.from {
        sel.push_str(&format!(" from {n}"));
    }
    if let Some(n) = r.to {
        sel.push_str(&format!(" to {n}"));
    }
    if let Some(i) = &r.iif {
        sel.push_str(&format!(" iif {i}"));
    }
    if let Some(mk) = r.fwmark {
        sel.push_str(&format!(" fwmark {mk:#x}"));
        if let Some(k) = r.fwmask {
            sel.push_str(&format!("/{k:#x}"));
        }
    }
    (format!("{} {sel}", r.family), format!("rule {sel}"))
}

/// A rule's attributes (also for `status` and `show IFACE`).
pub(crate) fn rule(r: &Rule) -> Map<String, Value> {
    let mut m = obj([("family", json!(r.family)), ("priority", json!(r.priority))]);
    put(&mut m, "ip-from", r.from.map(|n| n.to_string()));
    put(&mut m, "ip-to", r.to.map(|n| n.to_string()));
    put(&mut m, "iif", r.iif.as_deref());
    put(&mut m, "fwmark", r.fwmark);
    put(&mut m, "fwmask", r.fwmask);
    m.insert("route-table".into(), json!(r.table));
    m.insert("protocol".into(), json!(r.protocol));
    m
}

fn net_firewall(backend: &str, n: &NetFirewall) -> Map<String, Value> {
    obj([
        ("backend", json!(backend)),
        ("device", json!(n.device)),
        (
            "subnets",
            json!(n
                .subnets
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()),
        ),
        ("rules", json!(crate::firewall::spec::describe(n))),
    ])
}

fn firewall(f: &FwOp) -> Described {
    use Action::{Change, Create, Remove};
    match f {
        FwOp::Base { backend, from, up } => {
            let b = backend.to_string();
            let label = format!("firewall {b} base chains");
            let exists = Some(obj([("backend", json!(b))]));
            let action = match (up, from.is_empty()) {
                (true, true) => Create,
                (true, false) => Change,
                (false, _) => Remove,
            };
            let (before, after) = match action {
                Create => (None, exists),
                Change => (
                    Some(obj([("backend", json!(b)), ("intact", json!(false))])),
                    exists,
                ),
                Remove => (exists, None),
            };
            (Kind::FirewallBase, b, label, action, before, after)
        }
        FwOp::Network {
            backend,
            name,
            from,
            to,
        } => {
            let b = backend.to_string();
            let label = format!("firewall {b} of network {name}");
            let old = from.as_ref().map(|s| {
                let mut m = net_firewall(&b, &s.spec);
                if !s.intact {
                    m.insert("intact".into(), json!(false));
                }
                m
            });
            let new = to.as_ref().map(|n| net_firewall(&b, n));
            let action = match (from, to) {
                (None, _) => Create,
                (_, None) => Remove,
                _ => Change,
            };
            (Kind::Firewall, b, label, action, old, new)
        }
        FwOp::Sysctl { key, from, to } => {
            let before = from.as_ref().map(|v| obj([("value", json!(v))]));
            let after = Some(obj([("value", json!(to))]));
            (
                Kind::Sysctl,
                key.clone(),
                format!("sysctl {key}"),
                Change,
                before,
                after,
            )
        }
        FwOp::ForgetFlows { external } => {
            let before = Some(obj([("floating-ip", json!(external.to_string()))]));
            let label = format!("conntrack entries of floating IP {external}");
            (
                Kind::Conntrack,
                external.to_string(),
                label,
                Remove,
                before,
                None,
            )
        }
    }
}
