//! The iptables backend (IPv4 `iptables`, IPv6 `ip6tables`, legacy or nf_tables variant).
//!
//! Skeleton, per family: `HOSTNET-FORWARD`, `HOSTNET-INPUT` and `HOSTNET-ISOLATED` in
//! `filter`, `HOSTNET-PREROUTING` and `HOSTNET-POSTROUTING` in `nat`, each reached by one
//! jump inserted at the top of its built-in chain (ISOLATED from networks' chains). A
//! network owns `HOSTNET-ID-F`, `-I` (filter) and `-PRE`, `-POST` (nat) and its jump rules
//! in our dispatch chains. Changes go through one `iptables-restore --noflush -w` per
//! family with both tables in it: a network's chains are redeclared (which flushes them
//! under `--noflush`) and refilled, its jumps added with `-A` and removed with `-D`, so
//! nothing else is rewritten.
//!
//! The variant is the one `iptables` points to, or `HOSTNET_IPTABLES=legacy|nft` picks
//! `iptables-legacy*` / `iptables-nft*`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use super::spec::{token, NetFirewall};
use super::{short_id, FirewallError, FwOp, NetFwState};

#[cfg(test)]
pub(crate) use super::iptables_read::parse_for_test;
pub use super::iptables_read::query;

/// Chains of the skeleton: (table, chain, built-in chain that jumps to it).
pub(super) const BASE: [(&str, &str, Option<&str>); 5] = [
    ("filter", "HOSTNET-FORWARD", Some("FORWARD")),
    ("filter", "HOSTNET-INPUT", Some("INPUT")),
    ("filter", "HOSTNET-ISOLATED", None),
    ("nat", "HOSTNET-PREROUTING", Some("PREROUTING")),
    ("nat", "HOSTNET-POSTROUTING", Some("POSTROUTING")),
];

/// A network's chains: (table, suffix).
pub(super) const CHAINS: [(&str, &str); 4] = [
    ("filter", "F"),
    ("filter", "I"),
    ("nat", "PRE"),
    ("nat", "POST"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Fam {
    V4,
    V6,
}

impl Fam {
    pub(super) fn tag(self) -> &'static str {
        match self {
            Fam::V4 => "4",
            Fam::V6 => "6",
        }
    }
    fn of(a: &IpAddr) -> Fam {
        if a.is_ipv4() {
            Fam::V4
        } else {
            Fam::V6
        }
    }
    fn host(self) -> &'static str {
        match self {
            Fam::V4 => "32",
            Fam::V6 => "128",
        }
    }
    /// The program names: (save, restore).
    pub(super) fn programs(self) -> (String, String) {
        let base = match self {
            Fam::V4 => "iptables",
            Fam::V6 => "ip6tables",
        };
        let variant = match std::env::var("HOSTNET_IPTABLES").as_deref() {
            Ok("legacy") => "-legacy",
            Ok("nft") => "-nft",
            _ => "",
        };
        (
            format!("{base}{variant}-save"),
            format!("{base}{variant}-restore"),
        )
    }
}

pub(super) const FAMS: [Fam; 2] = [Fam::V4, Fam::V6];

pub(super) fn chain(name: &str, suffix: &str) -> String {
    format!("HOSTNET-{}-{suffix}", short_id(name))
}

fn table_of(suffix: &str) -> &'static str {
    if matches!(suffix, "F" | "I") {
        "filter"
    } else {
        "nat"
    }
}

pub(super) fn jump(builtin: &str, ours: &str) -> String {
    format!("-A {builtin} -j {ours}")
}

pub fn expected_base() -> BTreeSet<String> {
    let mut s = BTreeSet::new();
    for f in FAMS {
        for (t, c, from) in BASE {
            s.insert(format!("{} {t} :{c}", f.tag()));
            if let Some(b) = from {
                s.insert(format!("{} {t} {}", f.tag(), jump(b, c)));
            }
        }
    }
    s
}

fn cmt(t: &str) -> String {
    format!("-m comment --comment \"{t}\"")
}

fn hostport(a: &IpAddr, port: u16) -> String {
    if a.is_ipv4() {
        format!("{a}:{port}")
    } else {
        format!("[{a}]:{port}")
    }
}

/// A network's rules in one family, as `(chain suffix, rule after "-A CHAIN ")`.
pub(super) fn rules(name: &str, n: &NetFirewall, f: Fam) -> Vec<(&'static str, String)> {
    let mut r = Vec::new();
    let dev = &n.device;
    let host = f.host();
    r.push(("F", cmt(&token::net(name, dev))));
    for s in n.subnets.iter().filter(|s| Fam::of(&s.addr()) == f) {
        r.push(("F", format!("-s {s} {}", cmt(&token::subnet(s)))));
    }
    if n.isolate {
        r.push(("F", format!("-o {dev} {} -j RETURN", cmt(token::ISO))));
        r.push(("F", format!("{} -j HOSTNET-ISOLATED", cmt(token::ISO))));
    }
    if let Some(allow) = &n.allow {
        // Allowed traffic returns (to the host's own INPUT rules, as with nftables, where
        // an accept in our table does not end other tables' chains); the rest drops.
        let end = cmt(token::ALLOW_END);
        let icmp = if f == Fam::V4 { "icmp" } else { "ipv6-icmp" };
        r.push((
            "I",
            format!("-m conntrack --ctstate RELATED,ESTABLISHED {end} -j RETURN"),
        ));
        r.push(("I", format!("-p {icmp} {end} -j RETURN")));
        for a in allow {
            let p = a.proto.as_str();
            r.push((
                "I",
                format!(
                    "-p {p} -m {p} --dport {} {} -j RETURN",
                    a.port,
                    cmt(&token::allow(a))
                ),
            ));
        }
        if let Some(m) = n.metadata.as_ref().filter(|m| Fam::of(&m.to.ip()) == f) {
            r.push((
                "I",
                format!(
                    "-p tcp -m tcp --dport {} {} -j RETURN",
                    m.to.port(),
                    cmt(&token::meta(m))
                ),
            ));
        }
        r.push(("I", format!("{end} -j DROP")));
    }
    for fl in n.floating.iter().filter(|fl| Fam::of(&fl.external) == f) {
        let t = cmt(&token::fip(fl));
        r.push((
            "PRE",
            format!(
                "-d {}/{host} {t} -j DNAT --to-destination {}",
                fl.external, fl.internal
            ),
        ));
        r.push((
            "POST",
            format!(
                "-s {}/{host} -o {} {t} -j SNAT --to-source {}",
                fl.internal, fl.interface, fl.external
            ),
        ));
        r.push((
            "POST",
            format!(
                "-d {}/{host} -m conntrack --ctstate DNAT {t} -j MASQUERADE",
                fl.internal
            ),
        ));
    }
    for p in n.forwards.iter().filter(|p| Fam::of(&p.internal) == f) {
        let pr = p.proto.as_str();
        let t = cmt(&token::pf(p));
        // Reached from `interface` or (hairpin) from elsewhere; only traffic to the host
        // itself: routed traffic to other hosts on the same port passes untouched.
        r.push((
            "PRE",
            format!(
                "-p {pr} -m addrtype --dst-type LOCAL -m {pr} --dport {} {t} -j DNAT --to-destination {}",
                p.external_port,
                hostport(&p.internal, p.internal_port)
            ),
        ));
        // Hairpin from the target's own network (see nft.rs).
        r.push((
            "POST",
            format!(
                "-d {}/{host} -p {pr} -m {pr} --dport {} -m conntrack --ctstate DNAT {t} -j MASQUERADE",
                p.internal, p.internal_port
            ),
        ));
    }
    if let Some(m) = n.metadata.as_ref().filter(|m| Fam::of(&m.address) == f) {
        // Validation refuses a loopback `to` (DNAT from outside to it is martian).
        let target = format!(
            "-j DNAT --to-destination {}",
            hostport(&m.to.ip(), m.to.port())
        );
        r.push((
            "PRE",
            format!(
                "-d {}/{host} -i {dev} -p tcp -m tcp --dport {} {} {target}",
                m.address,
                m.port,
                cmt(&token::meta(m))
            ),
        ));
    }
    if let Some(out) = &n.masquerade {
        for s in n.subnets.iter().filter(|s| Fam::of(&s.addr()) == f) {
            r.push((
                "POST",
                format!("-s {s} -o {out} {} -j MASQUERADE", cmt(&token::masq(out))),
            ));
        }
    }
    r
}

/// A network's jump rules in one family: `FAM TABLE -A CHAIN …` as `iptables-save`
/// prints them.
fn dispatch(name: &str, n: &NetFirewall, f: Fam) -> BTreeSet<String> {
    let dev = &n.device;
    let tag = f.tag();
    let mut d = BTreeSet::new();
    d.insert(format!(
        "{tag} filter -A HOSTNET-FORWARD -i {dev} -j {}",
        chain(name, "F")
    ));
    d.insert(format!(
        "{tag} filter -A HOSTNET-INPUT -i {dev} -j {}",
        chain(name, "I")
    ));
    if n.isolate {
        d.insert(format!("{tag} filter -A HOSTNET-ISOLATED -o {dev} -j DROP"));
    }
    for s in n.subnets.iter().filter(|s| Fam::of(&s.addr()) == f) {
        d.insert(format!(
            "{tag} nat -A HOSTNET-POSTROUTING -s {s} -j {}",
            chain(name, "POST")
        ));
    }
    let pre = chain(name, "PRE");
    for fl in n.floating.iter().filter(|fl| Fam::of(&fl.external) == f) {
        d.insert(format!(
            "{tag} nat -A HOSTNET-PREROUTING -d {}/{} -j {pre}",
            fl.external,
            f.host()
        ));
    }
    for p in n.forwards.iter().filter(|p| Fam::of(&p.internal) == f) {
        let pr = p.proto.as_str();
        d.insert(format!(
            "{tag} nat -A HOSTNET-PREROUTING -i {} -p {pr} -m {pr} --dport {} -j {pre}",
            p.interface, p.external_port
        ));
        d.insert(format!(
            "{tag} nat -A HOSTNET-PREROUTING ! -i {} -p {pr} -m addrtype --dst-type LOCAL -m {pr} --dport {} -j {pre}",
            p.interface, p.external_port
        ));
    }
    if n.metadata
        .as_ref()
        .is_some_and(|m| Fam::of(&m.address) == f)
    {
        d.insert(format!("{tag} nat -A HOSTNET-PREROUTING -i {dev} -j {pre}"));
    }
    d
}

fn all_chains(name: &str) -> BTreeSet<String> {
    FAMS.iter()
        .flat_map(|f| {
            CHAINS
                .iter()
                .map(move |(t, s)| format!("{} {t} {}", f.tag(), chain(name, s)))
        })
        .collect()
}

pub fn expected(name: &str, n: &NetFirewall) -> NetFwState {
    NetFwState {
        spec: n.clone(),
        intact: true,
        chains: all_chains(name),
        dispatch: FAMS.iter().flat_map(|f| dispatch(name, n, *f)).collect(),
        unread: false,
    }
}

/// Restore input per family, both tables.
pub fn render(ops: &[&FwOp]) -> [(String, bool); 2] {
    FAMS.map(|f| render_family(ops, f))
}

/// Lines of one table in one family, in the order they must run.
#[derive(Default)]
struct TableText {
    declare: Vec<String>,
    rules: Vec<String>,
    /// The skeleton's flushes: before networks' chains are deleted.
    unhook: Vec<String>,
    remove: Vec<String>,
    /// The skeleton's chains: deleted last.
    remove_last: Vec<String>,
}

fn render_family(ops: &[&FwOp], f: Fam) -> (String, bool) {
    let tag = f.tag();
    let mut tables: BTreeMap<&str, TableText> = BTreeMap::new();
    let in_family = |entry: &str| -> Option<(String, String)> {
        let rest = entry.strip_prefix(tag)?.strip_prefix(' ')?;
        let (t, line) = rest.split_once(' ')?;
        Some((t.to_string(), line.to_string()))
    };
    let mut push = |t: &str, which: u8, line: String| {
        let key: &'static str = if t == "filter" { "filter" } else { "nat" };
        let tt = tables.entry(key).or_default();
        match which {
            0 => tt.declare.push(line),
            1 => tt.rules.push(line),
            2 => tt.remove.push(line),
            3 => tt.unhook.push(line),
            _ => tt.remove_last.push(line),
        }
    };
    // iptables-nft fails to delete chains when a batch deletes rules of a chain and
    // then flushes it, so when the skeleton goes the dispatch chains are only flushed.
    let base_down = ops
        .iter()
        .any(|op| matches!(op, FwOp::Base { up: false, .. }));
    for op in ops {
        if let FwOp::Base { from, up: true, .. } = op {
            for e in from {
                let foreign = e
                    .strip_prefix(tag)
                    .and_then(|r| r.strip_prefix(' '))
                    .and_then(|r| r.split_once(" foreign -A "));
                if let Some((t, rest)) = foreign {
                    push(t, 0, format!("-D {rest}"));
                }
            }
            for (t, c, b) in BASE {
                if !from.contains(&format!("{tag} {t} :{c}")) {
                    push(t, 0, format!(":{c} - [0:0]"));
                }
                if let Some(b) = b {
                    if !from.contains(&format!("{tag} {t} {}", jump(b, c))) {
                        push(t, 1, format!("-I {b} 1 -j {c}"));
                    }
                }
            }
        }
    }
    for op in ops {
        let FwOp::Network { name, from, to, .. } = op else {
            continue;
        };
        let want: BTreeSet<String> = to
            .as_ref()
            .map(|s| dispatch(name, s, f))
            .unwrap_or_default();
        let have: BTreeSet<String> = from
            .iter()
            .flat_map(|s| s.dispatch.iter())
            .filter(|e| e.starts_with(tag))
            .cloned()
            .collect();
        for e in have.difference(&want).filter(|_| !base_down) {
            if let Some((t, line)) = in_family(e) {
                if let Some(rest) = line.strip_prefix("-A ") {
                    // Jumps leave first, so that the chains they point to can go.
                    push(&t, 0, format!("-D {rest}"));
                }
            }
        }
        match to {
            Some(spec) => {
                for (t, s) in CHAINS {
                    push(t, 0, format!(":{} - [0:0]", chain(name, s)));
                }
                for (s, rule) in rules(name, spec, f) {
                    push(table_of(s), 1, format!("-A {} {rule}", chain(name, s)));
                }
                for e in want.difference(&have) {
                    if let Some((t, line)) = in_family(e) {
                        push(&t, 1, line);
                    }
                }
            }
            None => {
                for c in from.iter().flat_map(|s| s.chains.iter()) {
                    if let Some((t, c)) = in_family(c) {
                        push(&t, 2, format!("-F {c}"));
                        push(&t, 2, format!("-X {c}"));
                    }
                }
            }
        }
    }
    for op in ops {
        if let FwOp::Base {
            from, up: false, ..
        } = op
        {
            for (t, c, b) in BASE {
                if let Some(b) = b {
                    if from.contains(&format!("{tag} {t} {}", jump(b, c))) {
                        push(t, 3, format!("-D {b} -j {c}"));
                    }
                }
            }
            for (t, c, _) in BASE {
                if from.contains(&format!("{tag} {t} :{c}")) {
                    push(t, 3, format!("-F {c}"));
                    push(t, 4, format!("-X {c}"));
                }
            }
        }
    }
    let mut text = String::new();
    let mut any = false;
    for (t, tt) in &tables {
        if tt.declare.is_empty()
            && tt.rules.is_empty()
            && tt.remove.is_empty()
            && tt.unhook.is_empty()
        {
            continue;
        }
        any = true;
        let _ = writeln!(text, "*{t}");
        // Chain declarations must precede every other line of the table.
        let (decl, dels): (Vec<&String>, Vec<&String>) =
            tt.declare.iter().partition(|l| l.starts_with(':'));
        for l in decl.iter().chain(dels.iter()) {
            let _ = writeln!(text, "{l}");
        }
        for l in tt
            .rules
            .iter()
            .chain(&tt.unhook)
            .chain(&tt.remove)
            .chain(&tt.remove_last)
        {
            let _ = writeln!(text, "{l}");
        }
        let _ = writeln!(text, "COMMIT");
    }
    (text, any)
}

/// Runs the restores of `ops` through `run` (program, arguments, input): one per family
/// that has anything to do.
pub fn apply(
    ops: &[&FwOp],
    run: impl Fn(&str, &[&str], &str) -> Result<(), FirewallError>,
) -> Result<(), FirewallError> {
    for (f, (text, any)) in FAMS.iter().zip(render(ops)) {
        if any {
            let (_, restore) = f.programs();
            run(&restore, &["--noflush", "-w"], &text)?;
        }
    }
    Ok(())
}
