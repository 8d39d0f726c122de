//! Reading the iptables backend back: `iptables-save` per family, cut down to our chains
//! and our exact jump lines, each network's state rebuilt from its comment tokens and its
//! rules compared with what `expected` renders.

use std::collections::{BTreeMap, BTreeSet};

use super::iptables::{chain, expected, jump, rules, Fam, BASE, CHAINS, FAMS};
use super::spec::NetFirewall;
use super::{BackendState, FirewallError, NetFwState};

/// Reads our chains and jumps (and drops every other line unread), from what
/// `save_output` gives for each family's save program (`None`: not installed).
pub fn query(
    save_output: impl Fn(&str) -> Result<Option<String>, FirewallError>,
) -> Result<BackendState, FirewallError> {
    let mut st = BackendState::default();
    let mut found = Found::default();
    for f in FAMS {
        let (save, _) = f.programs();
        // A family the tool cannot read (no such kernel tables, IPv6 off) holds nothing
        // of ours; a host without a firewall must still be able to apply.
        let text = match save_output(&save) {
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
