//! The committed state: what `hostnet restore` applies at boot. Every committed document
//! is folded into one with partial-editing semantics (an entry replaces the entry of the
//! same name, `state: absent` drops it), so the store always says what the host should
//! look like, not the history of how it got there.
//!
//! Kept under `/var/lib/hostnet/committed/` (`HOSTNET_LIB_DIR` moves it): `host.yaml`
//! for the host's own namespace, `netns.NAME.yaml` for a named one (both mean the same
//! namespace after a reboot); an unnamed namespace's under the state directory.

use std::path::{Path, PathBuf};

use crate::files::{read, write_atomically, IoError, IoFailure};
use crate::model::{Desired, EntryState, IfaceState, NetworkState, RouteSpec, RuleSpec};

/// Default for the persistent directory.
pub const LIB_DIR: &str = crate::netdev::netns_id::LIB_DIR;

/// `HOSTNET_LIB_DIR` or [`LIB_DIR`].
pub fn lib_dir() -> PathBuf {
    crate::netdev::netns_id::lib_dir()
}

/// The committed state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CommittedError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{} does not hold a hostnet document: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error(
        "{} is left as it was (`hostnet restore` applies the state committed before): {}",
        path.display(),
        conflicts.join("; ")
    )]
    Conflict {
        path: PathBuf,
        conflicts: Vec<String>,
    },
}

impl From<IoFailure> for CommittedError {
    fn from(f: IoFailure) -> Self {
        CommittedError::Io(f.into())
    }
}

/// The committed document's file of the calling thread's namespace (see
/// [`super::records::committed_path`]): `DIR/committed/host.yaml` for the host's,
/// `DIR/committed/netns.NAME.yaml` for a named one; an unnamed namespace's is a runtime
/// file under the state directory, since it cannot outlive the namespace.
pub fn path(dir: &Path) -> Result<PathBuf, CommittedError> {
    super::records::committed_path(dir, &crate::netdev::netns_id::state_dir())
        .map_err(|e| CommittedError::from(super::records::identify_error(e)))
}

/// The committed document of the calling thread's namespace, if any.
pub fn load(dir: &Path) -> Result<Option<Desired>, CommittedError> {
    let p = path(dir)?;
    let Some(bytes) = read(&p)? else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&bytes);
    from_text(&text)
        .map(Some)
        .map_err(|message| CommittedError::Format { path: p, message })
}

/// The comment the store starts with (a line of YAML; JSON has no comments, and the
/// store's body is JSON, which is YAML too).
const HEADER: &str =
    "# The committed network state of this namespace, kept by hostnet for `hostnet restore`.\n";

/// The store's text: the header, then the document as JSON, each top-level key on its
/// own line and each entry of a list (a network, an interface) on its own line, so that
/// the file stays compact and a `diff` of two versions shows the entries that changed.
/// JSON, not YAML: a store of 1,000 networks is about 300 KB, and the YAML parser took
/// about 40 ms to read it back and the writer 15 ms, for every apply (a one-network change
/// included); JSON takes a few. The file stays a YAML document (JSON is YAML) that
/// `hostnet apply` takes as it is.
fn to_text(store: &Desired) -> Result<String, String> {
    use serde_json::Value;
    let value = serde_json::to_value(store).map_err(|e| e.to_string())?;
    let Value::Object(map) = value else {
        return Err("a document is not a JSON object".into());
    };
    let line = |v: &Value| serde_json::to_string(v).map_err(|e| e.to_string());
    let mut out = String::from(HEADER);
    out.push('{');
    for (i, (key, v)) in map.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&line(&Value::String(key.clone()))?);
        out.push_str(": ");
        match v {
            Value::Array(items) => {
                out.push('[');
                for (j, item) in items.iter().enumerate() {
                    out.push_str(if j == 0 { "\n  " } else { ",\n  " });
                    out.push_str(&line(item)?);
                }
                out.push_str("\n]");
            }
            other => out.push_str(&line(other)?),
        }
    }
    out.push_str("\n}\n");
    Ok(out)
}

/// Reads a store: JSON as [`to_text`] writes it, or YAML as hostnet wrote it before (and
/// as a person may have written it), read like any input file; the next change writes
/// it as JSON.
fn from_text(text: &str) -> Result<Desired, String> {
    let mut body = text;
    loop {
        body = body.trim_start();
        match body.strip_prefix('#') {
            Some(comment) => body = comment.split_once('\n').map_or("", |(_, rest)| rest),
            None => break,
        }
    }
    if body.starts_with('{') {
        // Not JSON after all (a person's flow-style YAML): the YAML reader says what is
        // wrong with it, if anything.
        if let Ok(d) = serde_json::from_str::<Desired>(body) {
            return Ok(d);
        }
    }
    crate::model::parse(text).map_err(|e| e.to_string())
}

/// Folds a committed document into the store. The result must be a valid document, or
/// `restore` would restore nothing at boot: where documents conflict, the newer one wins
/// (one default route), and a store that still does not validate is not written.
pub fn record(dir: &Path, applied: &Desired) -> Result<(), CommittedError> {
    let mut store = load(dir)?.unwrap_or_default();
    let before = store.clone();
    merge(&mut store, applied);
    if store == before {
        // Re-applying a committed file must not cost a rewrite (nor an fsync).
        return Ok(());
    }
    if let Err(errors) = crate::model::validate(&store) {
        let mut conflicts = bridges_of_committed_networks(&before, applied);
        if conflicts.is_empty() {
            conflicts.push(format!(
                "this file and the committed state together would not be valid: {errors}"
            ));
        }
        return Err(CommittedError::Conflict {
            path: path(dir)?,
            conflicts,
        });
    }
    let p = path(dir)?;
    let body = to_text(&store).map_err(|message| CommittedError::Format {
        path: p.clone(),
        message,
    })?;
    Ok(write_atomically(&p, body.as_bytes())?)
}

/// [`record`] for an apply whose plan changed the devices in `changed` (created, changed,
/// deleted, or given or taken ports). `hostnet show` lists the networks' bridges as
/// interfaces; an interface of `applied` that is the bridge of a committed network (one
/// `applied` does not name) and that the apply left as it was is that network's own: the
/// network keeps declaring it, and it is not folded into the store. One the apply changed
/// is still a conflict (the store could not restore the change).
pub fn record_applied(
    dir: &Path,
    applied: &Desired,
    changed: &std::collections::BTreeSet<String>,
) -> Result<(), CommittedError> {
    let store = load(dir)?.unwrap_or_default();
    let bridges = network_bridges(&store, applied);
    let mut doc = applied.clone();
    doc.interfaces
        .retain(|i| !bridges.contains_key(i.name.as_str()) || changed.contains(&i.name));
    record(dir, &doc)
}

/// The bridges of the networks `store` keeps that `applied` does not name, with their
/// network.
fn network_bridges<'a>(
    store: &'a Desired,
    applied: &Desired,
) -> std::collections::HashMap<&'a str, &'a str> {
    let mentioned: std::collections::HashSet<&str> =
        applied.networks.iter().map(|n| n.name.as_str()).collect();
    store
        .networks
        .iter()
        .filter(|n| n.bridged != Some(false) && !mentioned.contains(n.name.as_str()))
        .map(|n| (n.bridge.as_deref().unwrap_or(&n.name), n.name.as_str()))
        .collect()
}

/// The interfaces of `applied` that are the bridge of a network the store keeps (one
/// `applied` does not name) and that the apply changed (see [`record_applied`]): a
/// device is declared in one place.
fn bridges_of_committed_networks(store: &Desired, applied: &Desired) -> Vec<String> {
    let bridges = network_bridges(store, applied);
    applied
        .interfaces
        .iter()
        .enumerate()
        .filter(|(_, i)| !matches!(i.state, Some(IfaceState::Absent | IfaceState::Ignore)))
        .filter_map(|(k, i)| {
            let network = bridges.get(i.name.as_str())?;
            Some(format!(
                "interfaces[{k}] of this file ({}) is the bridge of the committed network \
                 {network}; leave it out of the file (the network describes it)",
                i.name
            ))
        })
        .collect()
}

fn same_route(a: &RouteSpec, b: &RouteSpec) -> bool {
    a.destination == b.destination && a.table_id == b.table_id && a.metric == b.metric
}

fn matches_route(absent: &RouteSpec, r: &RouteSpec) -> bool {
    absent.destination.is_none_or(|d| Some(d) == r.destination)
        && absent
            .next_hop_address
            .is_none_or(|g| Some(g) == r.next_hop_address)
        && absent
            .next_hop_interface
            .as_ref()
            .is_none_or(|i| Some(i) == r.next_hop_interface.as_ref())
        && absent.table_id.is_none_or(|t| Some(t) == r.table_id)
        && absent.metric.is_none_or(|m| Some(m) == r.metric)
}

fn same_rule(a: &RuleSpec, b: &RuleSpec) -> bool {
    (
        a.priority,
        a.ip_from,
        a.ip_to,
        &a.iif,
        a.fwmark,
        a.route_table,
        a.family,
    ) == (
        b.priority,
        b.ip_from,
        b.ip_to,
        &b.iif,
        b.fwmark,
        b.route_table,
        b.family,
    )
}

fn matches_rule(absent: &RuleSpec, r: &RuleSpec) -> bool {
    absent.priority.is_none_or(|p| Some(p) == r.priority)
        && absent.ip_from.is_none_or(|n| Some(n) == r.ip_from)
        && absent.ip_to.is_none_or(|n| Some(n) == r.ip_to)
        && absent
            .iif
            .as_ref()
            .is_none_or(|i| Some(i) == r.iif.as_ref())
        && absent.fwmark.is_none_or(|m| Some(m) == r.fwmark)
        && absent.route_table.is_none_or(|t| Some(t) == r.route_table)
        && absent.family.is_none_or(|f| Some(f) == r.family)
}

/// Partial editing on documents: what `applied` mentions replaces what `store` had.
pub fn merge(store: &mut Desired, applied: &Desired) {
    // By name, in one pass each (documents with thousands of entries are normal).
    // An interface left alone (`state: ignore`) is not mentioned.
    let mentioned = |i: &&crate::model::InterfaceSpec| i.state != Some(IfaceState::Ignore);
    let named: std::collections::HashSet<&str> = applied
        .interfaces
        .iter()
        .filter(mentioned)
        .map(|i| i.name.as_str())
        .collect();
    store
        .interfaces
        .retain(|s| !named.contains(s.name.as_str()));
    store.interfaces.extend(
        applied
            .interfaces
            .iter()
            .filter(|i| i.state != Some(IfaceState::Absent))
            .filter(mentioned)
            .cloned(),
    );
    let takes_default = applied
        .networks
        .iter()
        .any(|n| n.state != Some(NetworkState::Absent) && n.default_route == Some(true));
    if takes_default {
        // One network carries the host's default route: the newly committed one.
        for n in &mut store.networks {
            n.default_route = None;
        }
    }
    let named: std::collections::HashSet<&str> =
        applied.networks.iter().map(|n| n.name.as_str()).collect();
    store.networks.retain(|s| !named.contains(s.name.as_str()));
    store.networks.extend(
        applied
            .networks
            .iter()
            .filter(|n| n.state != Some(NetworkState::Absent))
            .cloned(),
    );
    if let Some(routes) = &applied.routes {
        let kept = &mut store.routes.get_or_insert_with(Default::default).config;
        // This file's entries replace the store's with the same key; among themselves a
        // later one replaces an earlier, except the next hops of one multipath route
        // (entries with a weight), which go together.
        let mut mine: Vec<RouteSpec> = Vec::new();
        for r in routes
            .config
            .iter()
            .filter(|r| r.state != Some(EntryState::Ignore))
        {
            if r.state == Some(EntryState::Absent) {
                kept.retain(|k| !matches_route(r, k));
                mine.retain(|k| !matches_route(r, k));
            } else {
                kept.retain(|k| !same_route(r, k));
                mine.retain(|k| !same_route(r, k) || (r.weight.is_some() && k.weight.is_some()));
                mine.push(r.clone());
            }
        }
        kept.extend(mine);
    }
    if let Some(rules) = &applied.route_rules {
        let kept = &mut store
            .route_rules
            .get_or_insert_with(Default::default)
            .config;
        for r in rules
            .config
            .iter()
            .filter(|r| r.state != Some(EntryState::Ignore))
        {
            if r.state == Some(EntryState::Absent) {
                kept.retain(|k| !matches_rule(r, k));
            } else {
                kept.retain(|k| !same_rule(r, k));
                kept.push(r.clone());
            }
        }
    }
    if applied.settings.is_some() {
        store.settings = applied.settings.clone();
    }
    if applied.firewall.is_some() {
        store.firewall = applied.firewall.clone();
    }
    if store.routes.as_ref().is_some_and(|r| r.config.is_empty()) {
        store.routes = None;
    }
    if store
        .route_rules
        .as_ref()
        .is_some_and(|r| r.config.is_empty())
    {
        store.route_rules = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::parse;

    #[test]
    fn merge_is_partial_editing_on_documents() {
        let mut store = parse("networks:\n- {name: a}\n- {name: b, mtu: 1400}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-interface: a}\n").expect("doc");
        let applied = parse("networks:\n- {name: a, state: absent}\n- {name: b, mtu: 9000}\n- {name: c}\nroutes:\n  config:\n  - {next-hop-interface: a, state: absent}\n").expect("doc");
        merge(&mut store, &applied);
        let names: Vec<(&str, Option<u32>)> = store
            .networks
            .iter()
            .map(|n| (n.name.as_str(), n.mtu))
            .collect();
        assert_eq!(names, [("b", Some(9000)), ("c", None)]);
        assert!(store.routes.is_none());
    }

    /// The review's finding 5: `show -o yaml` of a host with networks lists their bridges
    /// as interfaces. Applying it changes nothing, but the store cannot hold both: the
    /// error says which interface is which network's bridge, not that the file is damaged.
    #[test]
    fn a_network_bridge_given_as_an_interface_is_named_as_the_conflict() {
        let store = parse("networks:\n- {name: mgmt, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}\n- {name: st, uplink: eth1, bridged: false}\n").expect("doc");
        let shown = parse("interfaces:\n- {name: eth0, type: ethernet}\n- {name: mgmt, type: linux-bridge, bridge: {port: [{name: eth0}]}}\n- {name: eth1, type: ethernet}\n").expect("doc");
        let mut merged = store.clone();
        merge(&mut merged, &shown);
        assert!(crate::model::validate(&merged).is_err());
        let conflicts = bridges_of_committed_networks(&store, &shown);
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        let err = CommittedError::Conflict {
            path: "/var/lib/hostnet/committed/host.yaml".into(),
            conflicts,
        };
        let text = err.to_string();
        assert!(
            text.contains(
                "interfaces[1] of this file (mgmt) is the bridge of the committed network mgmt"
            ) && text.contains("left as it was")
                && !text.contains("does not hold"),
            "{text}"
        );
        // A file that names the network as well is not this conflict.
        let both = parse("networks:\n- {name: mgmt, state: absent}\ninterfaces:\n- {name: mgmt, type: linux-bridge}\n").expect("doc");
        assert!(bridges_of_committed_networks(&store, &both).is_empty());
    }

    /// Every example document of the docs and of the nmstate suite: the store written as
    /// JSON reads back as the same document, through the store's reader and through the
    /// YAML reader of input files (so the file stays something `hostnet apply` takes).
    #[test]
    fn the_store_as_json_reads_back_as_the_same_document() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut texts: Vec<String> = Vec::new();
        for doc in ["README.md", "docs/ARCHITECTURE.md", "docs/NMSTATE.md"] {
            let text = std::fs::read_to_string(root.join(doc)).unwrap_or_default();
            let mut block: Option<String> = None;
            for line in text.lines() {
                match &mut block {
                    None if line.trim_start().starts_with("```yaml") => block = Some(String::new()),
                    Some(b) if line.trim_start().starts_with("```") => {
                        texts.push(std::mem::take(b));
                        block = None;
                    }
                    Some(b) => {
                        b.push_str(line);
                        b.push('\n');
                    }
                    None => {}
                }
            }
        }
        for dir in ["tests/nmstate", "examples"] {
            for e in std::fs::read_dir(root.join(dir)).expect("dir").flatten() {
                let p = e.path();
                if matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml")) {
                    texts.push(std::fs::read_to_string(p).expect("read"));
                }
            }
        }
        let mut checked = 0;
        for text in &texts {
            let Ok(mut d) = parse(text) else { continue };
            // The nmstate keys a file gives and hostnet ignores are said when it is
            // applied, not kept.
            d.ignored.clear();
            let stored = to_text(&d).expect("serializes");
            assert_eq!(from_text(&stored).as_ref(), Ok(&d), "{stored}");
            assert_eq!(parse(&stored).as_ref().ok(), Some(&d), "{stored}");
            checked += 1;
        }
        assert!(checked >= 20, "only {checked} documents");
    }

    /// A store hostnet wrote as YAML (before it wrote JSON) still reads, and so does one
    /// a person wrote in YAML's flow style.
    #[test]
    fn a_yaml_store_still_reads() {
        let old = "# The committed network state of this namespace, kept by hostnet for `hostnet restore`.\nnetworks:\n- name: a\n  mtu: 1400\n";
        let d = from_text(old).expect("reads");
        assert_eq!(d.networks[0].mtu, Some(1400));
        let flow = "# mine\n{networks: [{name: b}]}\n";
        assert_eq!(from_text(flow).expect("reads").networks[0].name, "b");
        assert!(from_text("# x\n{networks: [{nme: b}]}\n").is_err());
    }

    #[test]
    fn the_newest_default_route_wins() {
        let mut store = parse("networks:\n- {name: a, default-route: true, ipv4: {address: [192.0.2.2/24], gateway: 192.0.2.1}}\n").expect("doc");
        let applied = parse("networks:\n- {name: b, default-route: true, ipv4: {address: [198.51.100.2/24], gateway: 198.51.100.1}}\n").expect("doc");
        merge(&mut store, &applied);
        crate::model::validate(&store).expect("still valid");
        let flags: Vec<(&str, Option<bool>)> = store
            .networks
            .iter()
            .map(|n| (n.name.as_str(), n.default_route))
            .collect();
        assert_eq!(flags, [("a", None), ("b", Some(true))]);
    }
}
