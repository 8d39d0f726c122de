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
use super::{short_id, BackendState, FirewallError, FwOp, NetFwState};

/// Chains of the skeleton: (table, chain, built-in chain that jumps to it).
const BASE: [(&str, &str, Option<&str>); 5] = [
    ("filter", "HOSTNET-FORWARD", Some("FORWARD")),
    ("filter", "HOSTNET-INPUT", Some("INPUT")),
    ("filter", "HOSTNET-ISOLATED", None),
    ("nat", "HOSTNET-PREROUTING", Some("PREROUTING")),
    ("nat", "HOSTNET-POSTROUTING", Some("POSTROUTING")),
];

/// A network's chains: (table, suffix).
const CHAINS: [(&str, &str); 4] = [
    ("filter", "F"),
    ("filter", "I"),
    ("nat", "PRE"),
    ("nat", "POST"),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    fn tag(self) -> &'static str {
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
    fn programs(self) -> (String, String) {
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

const FAMS: [Fam; 2] = [Fam::V4, Fam::V6];

fn chain(name: &str, suffix: &str) -> String {
    format!("HOSTNET-{}-{suffix}", short_id(name))
}

fn table_of(suffix: &str) -> &'static str {
    if matches!(suffix, "F" | "I") {
        "filter"
    } else {
        "nat"
    }
}

fn jump(builtin: &str, ours: &str) -> String {
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
fn rules(name: &str, n: &NetFirewall, f: Fam) -> Vec<(&'static str, String)> {
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

/// Runs the restores of `ops`: one per family that has anything to do.
pub fn apply(ops: &[&FwOp]) -> Result<(), FirewallError> {
    for (f, (text, any)) in FAMS.iter().zip(render(ops)) {
        if any {
            let (_, restore) = f.programs();
            super::run::with_input(&restore, &["--noflush", "-w"], &text)?;
        }
    }
    Ok(())
}

/// Reads our chains and jumps (and drops every other line unread).
pub fn query() -> Result<BackendState, FirewallError> {
    let mut st = BackendState::default();
    let mut found = Found::default();
    for f in FAMS {
        let (save, _) = f.programs();
        // A family the tool cannot read (no such kernel tables, IPv6 off) holds nothing
        // of ours; a host without a firewall must still be able to apply.
        let text = match super::run::output(&save, &[]) {
            Ok(Some(text)) => text,
            Ok(None) => continue,
            Err(FirewallError::Failed { stderr, .. }) if family_missing(&stderr) => continue,
            // Any other failure must stop the apply: taking it for "nothing of ours"
            // would redeclare our dispatch chains, flushing every network's jumps.
            Err(e) => return Err(e),
        };
        collect(&text, f, &mut st, &mut found);
    }
    found.finish(&mut st);
    Ok(st)
}

/// Whether `iptables-save` failed because this kernel has no such family or tables
/// (IPv6 disabled, no nf_tables/ip_tables): then nothing of ours can be there.
fn family_missing(stderr: &str) -> bool {
    [
        "Table does not exist",
        "Address family not supported",
        "Protocol not supported",
        "not supported",
    ]
    .iter()
    .any(|m| stderr.contains(m))
}

#[derive(Default)]
struct Found {
    /// By chain id: the family-tagged chains, comment tokens, rule count.
    chains: BTreeMap<String, BTreeSet<String>>,
    tokens: BTreeMap<String, Vec<String>>,
    counts: BTreeMap<String, usize>,
    /// By chain id: jumps to it.
    dispatch: BTreeMap<String, BTreeSet<String>>,
    /// By chain id: the rule lines of its chains, family-tagged, as saved.
    lines: BTreeMap<String, Vec<String>>,
    /// Devices in HOSTNET-ISOLATED (family-tagged entries).
    isolated: Vec<(String, String)>,
}

/// The network id and suffix of one of our per-network chains.
fn id_of_chain(c: &str) -> Option<(&str, &str)> {
    let rest = c.strip_prefix("HOSTNET-")?;
    let (id, suffix) = rest.rsplit_once('-')?;
    CHAINS
        .iter()
        .any(|(_, s)| *s == suffix)
        .then_some((id, suffix))
}

fn comment_of(line: &str) -> Option<String> {
    let rest = &line[line.find("--comment ")? + "--comment ".len()..];
    if let Some(quoted) = rest.strip_prefix('"') {
        Some(quoted[..quoted.find('"')?].to_string())
    } else {
        Some(rest.split(' ').next()?.to_string())
    }
}

/// `-A HOSTNET-ISOLATED -o DEV -j DROP`, the only rule shape of that chain.
fn is_isolation(line: &str) -> bool {
    line.strip_prefix("-A HOSTNET-ISOLATED -o ")
        .and_then(|r| r.strip_suffix(" -j DROP"))
        .is_some_and(|dev| !dev.contains(' '))
}

fn collect(text: &str, f: Fam, st: &mut BackendState, found: &mut Found) {
    let tag = f.tag();
    let jumps: Vec<(&str, String)> = BASE
        .iter()
        .filter_map(|(t, c, b)| b.map(|b| (*t, jump(b, c))))
        .collect();
    let mut table = "";
    for line in text.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = if t == "filter" {
                "filter"
            } else if t == "nat" {
                "nat"
            } else {
                ""
            };
            continue;
        }
        if table.is_empty() {
            continue;
        }
        if table == "filter" && line.starts_with(":FORWARD DROP") {
            st.forward_policy_drop.insert(tag.to_string());
        }
        // Only our own chains and our own jumps are looked at.
        if let Some(decl) = line.strip_prefix(":HOSTNET-") {
            let name = format!("HOSTNET-{}", decl.split(' ').next().unwrap_or_default());
            if BASE.iter().any(|(t, c, _)| *t == table && *c == name) {
                st.base.insert(format!("{tag} {table} :{name}"));
            } else if let Some((id, _)) = id_of_chain(&name) {
                found
                    .chains
                    .entry(id.to_string())
                    .or_default()
                    .insert(format!("{tag} {table} {name}"));
            }
        } else if jumps.iter().any(|(t, j)| *t == table && j == line) {
            st.base.insert(format!("{tag} {table} {line}"));
        } else if let Some(rest) = line.strip_prefix("-A HOSTNET-") {
            let chain_name = format!("HOSTNET-{}", rest.split(' ').next().unwrap_or_default());
            if BASE.iter().any(|(_, c, _)| *c == chain_name) {
                if chain_name == "HOSTNET-ISOLATED" && is_isolation(line) {
                    found
                        .isolated
                        .push((tag.to_string(), format!("{tag} {table} {line}")));
                } else if let Some((id, _)) = line
                    .rsplit_once(" -j ")
                    .and_then(|(_, target)| id_of_chain(target))
                {
                    found
                        .dispatch
                        .entry(id.to_string())
                        .or_default()
                        .insert(format!("{tag} {table} {line}"));
                } else {
                    // Not a jump of ours: the skeleton is repaired by deleting it.
                    st.base.insert(format!("{tag} {table} foreign {line}"));
                }
            } else if let Some((id, _)) = id_of_chain(&chain_name) {
                *found.counts.entry(id.to_string()).or_default() += 1;
                found
                    .lines
                    .entry(id.to_string())
                    .or_default()
                    .push(format!("{tag} {}", line.replace('"', "")));
                if let Some(c) = comment_of(line) {
                    found.tokens.entry(id.to_string()).or_default().push(c);
                }
            }
        }
    }
}

impl Found {
    fn finish(mut self, st: &mut BackendState) {
        let ids: BTreeSet<String> = self
            .chains
            .keys()
            .chain(self.dispatch.keys())
            .cloned()
            .collect();
        for id in ids {
            let toks = self.tokens.remove(&id).unwrap_or_default();
            let spec = NetFirewall::from_tokens(toks.iter().map(String::as_str));
            let name = toks
                .iter()
                .find_map(|t| t.strip_prefix("net ").and_then(|r| r.split(' ').next()))
                .map(str::to_string)
                .unwrap_or_else(|| id.clone());
            let mut state = NetFwState {
                spec: spec.clone().unwrap_or_default(),
                intact: false,
                chains: self.chains.remove(&id).unwrap_or_default(),
                dispatch: self.dispatch.remove(&id).unwrap_or_default(),
                unread: false,
            };
            let dev = &state.spec.device;
            for (_, entry) in &self.isolated {
                if entry.ends_with(&format!("-A HOSTNET-ISOLATED -o {dev} -j DROP")) {
                    state.dispatch.insert(entry.clone());
                }
            }
            if let Some(spec) = spec {
                let want = expected(&name, &spec);
                // The rules themselves, as iptables-save prints them (quotes aside): an
                // edited rule keeps its comment, so only its text shows it.
                let mut lines: Vec<String> = Vec::new();
                for f in FAMS {
                    for (s, r) in rules(&name, &spec, f) {
                        let c = chain(&name, s);
                        lines.push(format!("{} -A {c} {}", f.tag(), r.replace('"', "")));
                    }
                }
                // In order within each chain (chains may be saved in any order).
                let by_chain = |v: Vec<String>| {
                    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    for l in v {
                        let key: String = l.split(' ').take(3).collect::<Vec<_>>().join(" ");
                        m.entry(key).or_default().push(l);
                    }
                    m
                };
                let have = by_chain(self.lines.remove(&id).unwrap_or_default());
                let lines = by_chain(lines);
                state.intact =
                    want.chains == state.chains && want.dispatch == state.dispatch && have == lines;
            }
            st.networks.insert(name, state);
        }
    }
}

#[cfg(test)]
pub(crate) fn parse_for_test(v4: &str, v6: &str) -> BackendState {
    let mut st = BackendState::default();
    let mut found = Found::default();
    collect(v4, Fam::V4, &mut st, &mut found);
    collect(v6, Fam::V6, &mut st, &mut found);
    found.finish(&mut st);
    st
}

#[cfg(test)]
mod query_tests {
    #[test]
    fn only_a_missing_family_counts_as_nothing_of_ours() {
        assert!(super::family_missing(
            "ip6tables-save v1.8.9 (nf_tables): Failed to initialize nft: Protocol not supported"
        ));
        assert!(super::family_missing(
            "can't initialize ip6tables table `filter': Table does not exist (do you need to insmod?)"
        ));
        assert!(!super::family_missing(
            "Another app is currently holding the xtables lock."
        ));
        assert!(!super::family_missing(
            "Permission denied (you must be root)"
        ));
    }
}
