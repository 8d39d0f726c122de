//! The committed state: what `hostnet restore` applies at boot. Every committed document
//! is folded into one with partial-editing semantics (an entry replaces the entry of the
//! same name, `state: absent` drops it), so the store always says what the host should
//! look like, not the history of how it got there.
//!
//! Kept under `/var/lib/hostnet/committed/` (`HOSTNET_LIB_DIR` moves it): `host.yaml`
//! for the host's own namespace, `netns.NAME.yaml` for a named one (both mean the same
//! namespace after a reboot); an unnamed namespace's under the state directory.

use std::path::{Path, PathBuf};

use super::committed_log::{self, Changes, Stamp};
use crate::files::{write_atomically, IoError, IoFailure};
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

/// The committed document of the calling thread's namespace, if any: its file with the
/// changes logged since folded in (see [`super::committed_log`]).
pub fn load(dir: &Path) -> Result<Option<Desired>, CommittedError> {
    Ok(load_at(&path(dir)?)?.map(|r| r.doc))
}

/// A store as read: the document, and the file and log it came from.
struct Read {
    doc: Desired,
    file: Stamp,
    log: Option<Changes>,
}

/// The store whose file is `p`. A file written whole while it was being read (whose log
/// went with it) is read again.
fn load_at(p: &Path) -> Result<Option<Read>, CommittedError> {
    let mut tries = 0;
    loop {
        let Some((bytes, file)) = committed_log::read_file(p)? else {
            return Ok(None);
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut doc = from_text(&text).map_err(|message| CommittedError::Format {
            path: p.to_path_buf(),
            message,
        })?;
        let log = committed_log::read(p, file)?;
        tries += 1;
        if log.is_none() && tries < 3 && !committed_log::still(p, file) {
            continue;
        }
        for d in log.iter().flat_map(|l| &l.docs) {
            merge(&mut doc, d);
        }
        return Ok(Some(Read { doc, file, log }));
    }
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
///
/// Written as compact JSON straight from the document and then laid out: going through
/// `serde_json::Value` (a tree of maps, built and dropped) took about 5 ms of every apply
/// at 1,000 networks, more than reading, merging and validating the store together.
fn to_text(store: &Desired) -> Result<String, String> {
    let compact = serde_json::to_string(store).map_err(|e| e.to_string())?;
    if !compact.starts_with('{') {
        return Err("a document is not a JSON object".into());
    }
    Ok(lay_out(&compact))
}

/// Compact JSON of an object laid out as [`to_text`] says: a line per top-level key, and
/// a line per entry of a top-level list. Only the structure outside strings is looked
/// at (serde_json escapes every quote and backslash inside them).
fn lay_out(compact: &str) -> String {
    let bytes = compact.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(HEADER.len() + bytes.len() + bytes.len() / 8 + 8);
    out.extend_from_slice(HEADER.as_bytes());
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    // Whether the value of the current top-level key is a list.
    let mut top_list = false;
    for (i, &c) in bytes.iter().enumerate() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        let next = bytes.get(i + 1).copied();
        match c {
            b'"' => {
                in_str = true;
                out.push(c);
            }
            b'{' | b'[' => {
                depth += 1;
                out.push(c);
                let opens_lines = depth == 1 || (depth == 2 && c == b'[');
                if depth == 2 {
                    top_list = c == b'[';
                }
                if opens_lines && !matches!(next, Some(b'}' | b']')) {
                    out.extend_from_slice(if depth == 1 { b"\n" } else { b"\n  " });
                }
            }
            b'}' | b']' => {
                if depth == 1 {
                    out.extend_from_slice(b"\n}\n");
                } else if depth == 2 && top_list {
                    out.extend_from_slice(b"\n]");
                    top_list = false;
                } else {
                    out.push(c);
                }
                depth = depth.saturating_sub(1);
            }
            b',' if depth == 1 => out.extend_from_slice(b",\n"),
            b',' if depth == 2 && top_list => out.extend_from_slice(b",\n  "),
            b':' if depth == 1 => out.extend_from_slice(b": "),
            _ => out.push(c),
        }
    }
    // Only ASCII was inserted, between whole characters of valid UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
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
    let p = path(dir)?;
    let read = load_at(&p)?;
    record_onto(&p, read, applied)
}

/// [`record`] onto the store `read` from its file `p`. The document goes into the
/// store's log while that has room; otherwise the store is written whole (and the log
/// goes).
fn record_onto(p: &Path, read: Option<Read>, applied: &Desired) -> Result<(), CommittedError> {
    let (mut store, file, log) = match read {
        Some(r) => (r.doc, Some(r.file), r.log),
        None => (Desired::default(), None, None),
    };
    let before = store.clone();
    merge(&mut store, applied);
    if store == before {
        // Re-applying a committed file must not cost a write (nor an fsync).
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
            path: p.to_path_buf(),
            conflicts,
        });
    }
    if let Some(file) = file {
        let line = committed_log::line(p, applied)?;
        if committed_log::has_room(file, log.as_ref(), line.len()) {
            return committed_log::append(p, file, log.as_ref(), &line);
        }
    }
    let body = to_text(&store).map_err(|message| CommittedError::Format {
        path: p.to_path_buf(),
        message,
    })?;
    write_atomically(p, body.as_bytes())?;
    committed_log::remove(p);
    Ok(())
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
    let p = path(dir)?;
    let read = load_at(&p)?;
    let empty = Desired::default();
    let bridges = network_bridges(read.as_ref().map_or(&empty, |r| &r.doc), applied);
    let mut doc = applied.clone();
    doc.interfaces
        .retain(|i| !bridges.contains_key(i.name.as_str()) || changed.contains(&i.name));
    // The store is read once: at 1,000 networks each reading is about 1 ms.
    record_onto(&p, read, &doc)
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
#[path = "committed_tests.rs"]
mod tests;
