//! The nftables backend: one table `inet hostnet`, one `nft -f -` transaction per apply.
//!
//! Skeleton: four base chains with explicit priorities (filter forward and input at 0,
//! nat prerouting at -100, nat postrouting at 100), each with one dispatch rule per
//! verdict map; the maps send a packet to its network's regular chain by input device
//! (`fwd_if`, `in_if`, `pre_if`), source prefix (`post_v4`, `post_v6`), destination address (`pre_v4`, `pre_v6`: floating IPs)
//! or interface . protocol . port (`pre_pf`: port forwards; `pre_hp`: their hairpin). The set `isolated` holds the
//! devices of isolated networks. A network owns four chains `n-NAME-{fwd,in,pre,post}`
//! and its map elements; changing it flushes and refills those chains and adds or deletes
//! its elements only, whatever the number of other networks.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use super::spec::{token, NetFirewall};
use super::{BackendState, FwOp, NetFwState};

pub const TABLE: &str = "inet hostnet";
pub(crate) const SUFFIXES: [&str; 4] = ["fwd", "in", "pre", "post"];

/// (name, hook declaration, dispatch rules as (map, match expression)).
pub(crate) const BASE_CHAINS: [(&str, &str); 4] = [
    (
        "forward",
        "type filter hook forward priority 0 ; policy accept ;",
    ),
    (
        "input",
        "type filter hook input priority 0 ; policy accept ;",
    ),
    (
        "prerouting",
        "type nat hook prerouting priority -100 ; policy accept ;",
    ),
    (
        "postrouting",
        "type nat hook postrouting priority 100 ; policy accept ;",
    ),
];

/// (map, key type, base chain, the expression that looks it up). The source-address maps
/// hold prefixes (`flags interval`): postrouting dispatches by source because with
/// bridge netfilter a hairpinned packet's input device is the bridge port, not the
/// bridge.
///
/// `pre_hp` is the hairpin of port forwards: a guest of a network of ours (`iifname
/// @fwd_if`) reaching a forwarded port on one of the host's own addresses.
pub(crate) const MAPS: [(&str, &str, &str, &str); 9] = [
    ("fwd_if", "ifname", "forward", "iifname"),
    ("in_if", "ifname", "input", "iifname"),
    ("pre_v4", "ipv4_addr", "prerouting", "ip daddr"),
    ("pre_v6", "ipv6_addr", "prerouting", "ip6 daddr"),
    (
        "pre_pf",
        "ifname . nf_proto . inet_proto . inet_service",
        "prerouting",
        "iifname . meta nfproto . meta l4proto . th dport",
    ),
    (
        "pre_hp",
        "nf_proto . inet_proto . inet_service",
        "prerouting",
        "iifname @fwd_if fib daddr type local meta nfproto . meta l4proto . th dport",
    ),
    ("pre_if", "ifname", "prerouting", "iifname"),
    ("post_v4", "ipv4_addr", "postrouting", "ip saddr"),
    ("post_v6", "ipv6_addr", "postrouting", "ip6 saddr"),
];

pub(crate) fn chain(name: &str, suffix: &str) -> String {
    format!("n-{name}-{suffix}")
}

pub fn expected_base() -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    s.insert("table".to_string());
    for (c, _) in BASE_CHAINS {
        s.insert(format!("chain {c}"));
    }
    for (m, ..) in MAPS {
        s.insert(format!("map {m}"));
        s.insert(format!("rule dispatch {m}"));
    }
    s.insert("set isolated".to_string());
    s
}

pub(crate) fn q(s: &str) -> String {
    format!("\"{s}\"")
}

fn ipfam(a: &IpAddr) -> &'static str {
    if a.is_ipv4() {
        "ip"
    } else {
        "ip6"
    }
}

fn hostport(a: &IpAddr, port: u16) -> String {
    if a.is_ipv4() {
        format!("{a}:{port}")
    } else {
        format!("[{a}]:{port}")
    }
}

/// The rules of a network, by chain suffix, in order, as `nft list` prints them (so that
/// the query can compare them with what is there; counters' values are left out).
pub(crate) fn rules(name: &str, n: &NetFirewall) -> Vec<(&'static str, String)> {
    let mut r = Vec::new();
    let c = |t: &str| format!("comment {}", q(t));
    let dev = q(&n.device);
    r.push((
        "fwd",
        format!("counter {}", c(&token::net(name, &n.device))),
    ));
    for s in &n.subnets {
        let f = ipfam(&s.addr());
        r.push((
            "fwd",
            format!("{f} saddr {s} counter {}", c(&token::subnet(s))),
        ));
    }
    if n.isolate {
        r.push((
            "fwd",
            format!("oifname != {dev} oifname @isolated drop {}", c(token::ISO)),
        ));
    }
    if let Some(allow) = &n.allow {
        let end = c(token::ALLOW_END);
        r.push(("in", format!("ct state established,related accept {end}")));
        r.push((
            "in",
            format!("meta l4proto {{ icmp, ipv6-icmp }} accept {end}"),
        ));
        for a in allow {
            r.push((
                "in",
                format!(
                    "{} dport {} accept {}",
                    a.proto.as_str(),
                    a.port,
                    c(&token::allow(a))
                ),
            ));
        }
        if let Some(m) = &n.metadata {
            r.push((
                "in",
                format!("tcp dport {} accept {}", m.to.port(), c(&token::meta(m))),
            ));
        }
        r.push(("in", format!("drop {end}")));
    }
    for f in &n.floating {
        let (fam, t) = (ipfam(&f.external), c(&token::fip(f)));
        r.push((
            "pre",
            format!(
                "{fam} daddr {} dnat {fam} to {} {t}",
                f.external, f.internal
            ),
        ));
        r.push((
            "post",
            format!(
                "{fam} saddr {} oifname {} snat {fam} to {} {t}",
                f.internal,
                q(&f.interface),
                f.external
            ),
        ));
        // Hairpin: a guest reaching a neighbour through its floating IP.
        r.push((
            "post",
            format!("{fam} daddr {} ct status dnat masquerade {t}", f.internal),
        ));
    }
    for p in &n.forwards {
        let (fam, t) = (ipfam(&p.internal), c(&token::pf(p)));
        // Reached from `interface` (pre_pf) or from a guest (pre_hp); only traffic to the
        // host itself: routed traffic to other hosts on the same port passes untouched.
        r.push((
            "pre",
            format!(
                "fib daddr type local {} dport {} dnat {fam} to {} {t}",
                p.proto.as_str(),
                p.external_port,
                hostport(&p.internal, p.internal_port),
            ),
        ));
        // Hairpin from the target's own network: without the source translation the
        // target would answer its neighbour directly, bypassing the reverse DNAT.
        r.push((
            "post",
            format!(
                "{fam} daddr {} {} dport {} ct status dnat masquerade {t}",
                p.internal,
                p.proto.as_str(),
                p.internal_port
            ),
        ));
    }
    if let Some(m) = &n.metadata {
        let fam = ipfam(&m.address);
        // Validation refuses a loopback `to` (DNAT from outside to it is martian).
        let target = format!(
            "dnat {} to {}",
            ipfam(&m.to.ip()),
            hostport(&m.to.ip(), m.to.port())
        );
        r.push((
            "pre",
            format!(
                "iifname {dev} {fam} daddr {} tcp dport {} {target} {}",
                m.address,
                m.port,
                c(&token::meta(m))
            ),
        ));
    }
    if let Some(out) = &n.masquerade {
        for s in &n.subnets {
            let f = ipfam(&s.addr());
            r.push((
                "post",
                format!(
                    "{f} saddr {s} oifname {} masquerade {}",
                    q(out),
                    c(&token::masq(out))
                ),
            ));
        }
    }
    r
}

/// The network's dispatch entries: `MAP KEY` in nft syntax.
pub(crate) fn dispatch(name: &str, n: &NetFirewall) -> BTreeSet<String> {
    let _ = name;
    let dev = q(&n.device);
    let mut d = BTreeSet::new();
    for m in ["fwd_if", "in_if"] {
        d.insert(format!("{m} {dev}"));
    }
    for s in &n.subnets {
        let m = if s.addr().is_ipv4() {
            "post_v4"
        } else {
            "post_v6"
        };
        // nft lists a host prefix as the bare address.
        if s.prefix_len() == s.max_prefix_len() {
            d.insert(format!("{m} {}", s.addr()));
        } else {
            d.insert(format!("{m} {s}"));
        }
    }
    if n.isolate {
        d.insert(format!("isolated {dev}"));
    }
    for f in &n.floating {
        let m = if f.external.is_ipv4() {
            "pre_v4"
        } else {
            "pre_v6"
        };
        d.insert(format!("{m} {}", f.external));
    }
    for p in &n.forwards {
        let nf = if p.internal.is_ipv4() { "ipv4" } else { "ipv6" };
        d.insert(format!(
            "pre_pf {} . {nf} . {} . {}",
            q(&p.interface),
            p.proto.as_str(),
            p.external_port
        ));
        d.insert(format!(
            "pre_hp {nf} . {} . {}",
            p.proto.as_str(),
            p.external_port
        ));
    }
    if n.metadata.is_some() {
        d.insert(format!("pre_if {dev}"));
    }
    d
}

pub(crate) fn verdict_target(map: &str, name: &str) -> Option<String> {
    let suffix = match map {
        "fwd_if" => "fwd",
        "in_if" => "in",
        "post_v4" | "post_v6" => "post",
        "pre_v4" | "pre_v6" | "pre_pf" | "pre_hp" | "pre_if" => "pre",
        _ => return None,
    };
    Some(chain(name, suffix))
}

pub fn expected(name: &str, n: &NetFirewall) -> NetFwState {
    NetFwState {
        spec: n.clone(),
        intact: true,
        chains: SUFFIXES.iter().map(|s| chain(name, s)).collect(),
        dispatch: dispatch(name, n),
        unread: false,
    }
}

/// The floating IPs (external addresses) among a network's dispatch entries: what
/// its rules say of them when they were not read.
pub fn floating_in_dispatch(dispatch: &BTreeSet<String>) -> impl Iterator<Item = IpAddr> + '_ {
    dispatch.iter().filter_map(|e| {
        let ip = e
            .strip_prefix("pre_v4 ")
            .or_else(|| e.strip_prefix("pre_v6 "))?;
        ip.parse().ok()
    })
}

/// The transaction for `ops` (all of this backend).
pub fn render(ops: &[&FwOp]) -> String {
    let mut t = String::new();
    // Skeleton first, so that networks can reference its maps; but the networks' chains
    // before the maps: nft 1.0.6 refuses (ENOENT) an interval map's element that jumps to
    // a chain created after the map in the same transaction.
    let base_up = ops.iter().find_map(|op| match op {
        FwOp::Base { from, up: true, .. } => Some(from),
        _ => None,
    });
    if let Some(from) = base_up {
        if !from.is_empty() {
            let _ = writeln!(t, "delete table {TABLE}");
        }
        let _ = writeln!(t, "add table {TABLE}");
        for op in ops {
            if let FwOp::Network {
                name, to: Some(_), ..
            } = op
            {
                for s in SUFFIXES {
                    let _ = writeln!(t, "add chain {TABLE} {}", chain(name, s));
                }
            }
        }
        render_base(&mut t);
    }
    let networks: Vec<(&String, &Option<NetFwState>, &Option<NetFirewall>)> = ops
        .iter()
        .filter_map(|op| match op {
            FwOp::Network { name, from, to, .. } => Some((name, from, to)),
            _ => None,
        })
        .collect();
    let wanted = |name: &str, to: &Option<NetFirewall>| {
        to.as_ref().map(|s| dispatch(name, s)).unwrap_or_default()
    };
    // Elements go before anything they point to changes.
    for (name, from, to) in &networks {
        let keep = wanted(name, to);
        for e in from.iter().flat_map(|f| f.dispatch.iter()) {
            if !keep.contains(e) {
                if let Some((map, key)) = e.split_once(' ') {
                    let _ = writeln!(t, "delete element {TABLE} {map} {{ {key} }}");
                }
            }
        }
    }
    for (name, from, to) in &networks {
        let Some(spec) = to else { continue };
        for s in SUFFIXES {
            let c = chain(name, s);
            let _ = writeln!(t, "add chain {TABLE} {c}");
            let _ = writeln!(t, "flush chain {TABLE} {c}");
        }
        for (s, rule) in rules(name, spec) {
            let _ = writeln!(t, "add rule {TABLE} {} {rule}", chain(name, s));
        }
        let have: BTreeSet<String> = from.iter().flat_map(|f| f.dispatch.clone()).collect();
        for e in wanted(name, to).difference(&have) {
            if let Some((map, key)) = e.split_once(' ') {
                let target = if map == "isolated" {
                    String::new()
                } else {
                    match verdict_target(map, name) {
                        Some(c) => format!(" : jump {c}"),
                        None => continue,
                    }
                };
                let _ = writeln!(t, "add element {TABLE} {map} {{ {key}{target} }}");
            }
        }
    }
    for (_, from, to) in &networks {
        if to.is_some() {
            continue;
        }
        for c in from.iter().flat_map(|f| f.chains.iter()) {
            let _ = writeln!(t, "flush chain {TABLE} {c}");
            let _ = writeln!(t, "delete chain {TABLE} {c}");
        }
    }
    for op in ops {
        if let FwOp::Base {
            from, up: false, ..
        } = op
        {
            if from.contains("table") {
                let _ = writeln!(t, "delete table {TABLE}");
            }
        }
    }
    t
}

fn render_base(t: &mut String) {
    let _ = writeln!(t, "add table {TABLE}");
    for (c, decl) in BASE_CHAINS {
        let _ = writeln!(t, "add chain {TABLE} {c} {{ {decl} }}");
    }
    let _ = writeln!(t, "add set {TABLE} isolated {{ type ifname ; }}");
    for (m, ty, ..) in MAPS {
        let flags = if m.starts_with("post_") {
            " flags interval ;"
        } else {
            ""
        };
        let _ = writeln!(t, "add map {TABLE} {m} {{ type {ty} : verdict ;{flags} }}");
    }
    for (m, _, c, expr) in MAPS {
        let _ = writeln!(
            t,
            "add rule {TABLE} {c} {expr} vmap @{m} comment \"dispatch {m}\""
        );
    }
}

/// How many rules a network's chains hold when written from `spec`.
pub(crate) fn rule_count(name: &str, spec: &NetFirewall) -> usize {
    rules(name, spec).len()
}

/// The chains a transaction of `ops` writes whole, and those it deletes.
pub fn written_chains(ops: &[&FwOp]) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut written, mut gone) = (BTreeSet::new(), BTreeSet::new());
    for op in ops {
        match op {
            FwOp::Base { up: true, .. } => {
                written.extend(BASE_CHAINS.iter().map(|(c, _)| c.to_string()));
            }
            FwOp::Base { up: false, .. } => {
                gone.extend(BASE_CHAINS.iter().map(|(c, _)| c.to_string()));
            }
            FwOp::Network {
                name, to: Some(_), ..
            } => written.extend(SUFFIXES.iter().map(|s| chain(name, s))),
            FwOp::Network { from, to: None, .. } => {
                gone.extend(from.iter().flat_map(|f| f.chains.iter().cloned()));
            }
            FwOp::Sysctl { .. } | FwOp::ForgetFlows { .. } => {}
        }
    }
    for c in &written {
        gone.remove(c);
    }
    (written, gone)
}

/// The networks whose chains or dispatch entries `ops` change.
pub fn networks_changed(ops: &[&FwOp]) -> BTreeSet<String> {
    ops.iter()
        .filter_map(|op| match op {
            FwOp::Network { name, .. } => Some(name.clone()),
            _ => None,
        })
        .collect()
}

/// The rule lines of each chain in `nft list table` output, counters' values removed.
fn chain_rules(listing: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in listing.lines().map(str::trim) {
        if let Some(name) = line
            .strip_prefix("chain ")
            .and_then(|r| r.strip_suffix(" {"))
        {
            current = Some(name.to_string());
            out.entry(name.to_string()).or_default();
        } else if line == "}" {
            current = None;
        } else if let Some(c) = &current {
            if line.is_empty() || line.starts_with("type ") {
                continue;
            }
            out.entry(c.clone()).or_default().push(normalise(line));
        }
    }
    out
}

/// `counter packets 12 bytes 3456` → `counter`.
fn normalise(rule: &str) -> String {
    let mut words: Vec<&str> = Vec::new();
    let mut it = rule.split(' ').peekable();
    while let Some(w) = it.next() {
        words.push(w);
        if w == "counter" && it.peek() == Some(&"packets") {
            it.nth(3);
        }
    }
    words.join(" ")
}

/// Marks networks whose rules differ from what their spec renders to as damaged, and
/// records foreign rules in our base chains as base items that must not be there (so
/// the skeleton is re-created). With `only`, just those chains are compared (the others
/// are not in `listing`).
pub fn check_rules(st: &mut BackendState, listing: &str, only: Option<&BTreeSet<String>>) {
    let chains = chain_rules(listing);
    let compared = |c: &str| only.is_none_or(|o| o.contains(c));
    for (name, n) in st.networks.iter_mut().filter(|(_, n)| n.intact) {
        let want = rules(name, &n.spec);
        n.intact = SUFFIXES.iter().all(|s| {
            if !compared(&chain(name, s)) {
                return true;
            }
            let expected: Vec<String> = want
                .iter()
                .filter(|(c, _)| c == s)
                .map(|(_, r)| r.clone())
                .collect();
            chains
                .get(&chain(name, s))
                .map(Vec::as_slice)
                .unwrap_or_default()
                == expected
        });
    }
    for (c, _) in BASE_CHAINS {
        if !st.base.contains(&format!("chain {c}")) || !compared(c) {
            continue;
        }
        let expected: Vec<String> = MAPS
            .iter()
            .filter(|(_, _, bc, _)| *bc == c)
            .map(|(m, _, _, expr)| format!("{expr} vmap @{m} comment \"dispatch {m}\""))
            .collect();
        let have = chains.get(c).cloned().unwrap_or_default();
        if have != expected {
            for r in have.iter().filter(|r| !expected.contains(r)) {
                st.base.insert(format!("foreign {c}: {r}"));
            }
            if have.len() == expected.len() || have.iter().all(|r| expected.contains(r)) {
                // Reordered or duplicated: still not ours as it is.
                st.base.insert(format!("foreign {c}: out of order"));
            }
        }
    }
}

/// Splits a chain name into (network, suffix).
pub(crate) fn network_of_chain(c: &str) -> Option<(&str, &str)> {
    let rest = c.strip_prefix("n-")?;
    // Without a `format!` per suffix: the query asks this of every chain of the table.
    SUFFIXES.iter().find_map(|s| {
        rest.strip_suffix(s)
            .and_then(|r| r.strip_suffix('-'))
            .map(|n| (n, *s))
    })
}

#[cfg(test)]
pub(crate) fn rules_for_test(name: &str, n: &NetFirewall) -> Vec<(&'static str, String)> {
    rules(name, n)
}
