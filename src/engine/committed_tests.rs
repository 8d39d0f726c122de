//! Tests of the committed store (`committed.rs`) and its log (`committed_log.rs`).
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
        assert_eq!(
            stored,
            by_value(&d),
            "the layout is the one hostnet wrote before"
        );
        assert_eq!(from_text(&stored).as_ref(), Ok(&d), "{stored}");
        assert_eq!(parse(&stored).as_ref().ok(), Some(&d), "{stored}");
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} documents");
}

/// The store's text as hostnet wrote it before it laid out compact JSON itself:
/// through `serde_json::Value`.
fn by_value(store: &Desired) -> String {
    use serde_json::Value;
    let Value::Object(map) = serde_json::to_value(store).expect("a value") else {
        panic!("not an object");
    };
    let line = |v: &Value| serde_json::to_string(v).expect("text");
    let mut out = String::from(HEADER);
    out.push('{');
    for (i, (key, v)) in map.iter().enumerate() {
        out.push_str(if i == 0 { "\n" } else { ",\n" });
        out.push_str(&line(&Value::String(key.clone())));
        out.push_str(": ");
        match v {
            Value::Array(items) => {
                out.push('[');
                for (j, item) in items.iter().enumerate() {
                    out.push_str(if j == 0 { "\n  " } else { ",\n  " });
                    out.push_str(&line(item));
                }
                out.push_str("\n]");
            }
            other => out.push_str(&line(other)),
        }
    }
    out.push_str("\n}\n");
    out
}

#[test]
fn the_layout_keeps_strings_and_empty_lists_whole() {
    let mut d =
        parse("interfaces:\n- {name: e0, type: ethernet}\nnetworks:\n- {name: a}\n").expect("doc");
    d.interfaces[0].description = Some("x\\\"], {\"y\": [1,2]}".into());
    assert_eq!(to_text(&d).expect("text"), by_value(&d));
    assert_eq!(from_text(&to_text(&d).expect("text")).as_ref(), Ok(&d));
    let empty = Desired::default();
    assert_eq!(to_text(&empty).expect("text"), by_value(&empty));
}

fn doc(yaml: &str) -> Desired {
    parse(yaml).expect("doc")
}

/// A store written whole by the previous hostnet (no log) takes changes into its log
/// and reads them back folded; once the log is full the store is written whole again
/// and the log goes. A log left next to a file written whole since is not folded.
#[test]
fn changes_go_into_the_log_until_the_store_is_written_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("netns.a.yaml");
    let mut text = String::from("networks:\n");
    for i in 0..20 {
        text.push_str(&format!(
            "- {{name: n{i}, ipv4: {{address: [10.0.{i}.1/24]}}}}\n"
        ));
    }
    let mut store = doc(&text);
    std::fs::write(&p, to_text(&store).expect("text")).expect("old store");
    let file_before = std::fs::read(&p).expect("read");
    let change = |i: usize, mtu: u32| {
        doc(&format!(
            "networks:\n- {{name: n{i}, mtu: {mtu}, ipv4: {{address: [10.0.{i}.1/24]}}}}\n"
        ))
    };
    let mut logged = 0;
    for k in 0..(committed_log::MAX_LINES + 2) {
        let c = change(k % 20, 1400 + k as u32);
        record_onto(&p, load_at(&p).expect("reads"), &c).expect("records");
        merge(&mut store, &c);
        let read = load_at(&p).expect("reads").expect("there");
        assert_eq!(read.doc, store, "after change {k}");
        if let Some(log) = &read.log {
            logged = logged.max(log.docs.len());
        }
    }
    assert!(logged > 1, "changes were logged");
    // Written whole at least once: the file is not the old one.
    assert_ne!(std::fs::read(&p).expect("read"), file_before);
    // The last change again: nothing written.
    let k = committed_log::MAX_LINES + 1;
    let stamp = |q: &Path| {
        std::fs::metadata(q)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    };
    let (file, log) = (stamp(&p), stamp(&committed_log::path(&p)));
    record_onto(
        &p,
        load_at(&p).expect("reads"),
        &change(k % 20, 1400 + k as u32),
    )
    .expect("records");
    assert_eq!((stamp(&p), stamp(&committed_log::path(&p))), (file, log));
    // A crash after the store was written whole and before its log went: the log
    // belongs to the file replaced, and is not folded onto the new one.
    crate::files::write_atomically(&p, to_text(&store).expect("text").as_bytes()).expect("whole");
    committed_log::remove(&p);
    let (_, file) = committed_log::read_file(&p).expect("reads").expect("there");
    let line = committed_log::line(&p, &change(1, 9000)).expect("line");
    committed_log::append(&p, file, None, &line).expect("logged");
    let read = load_at(&p).expect("reads").expect("there");
    assert_eq!(
        read.doc
            .networks
            .iter()
            .find(|n| n.name == "n1")
            .and_then(|n| n.mtu),
        Some(9000)
    );
    crate::files::write_atomically(&p, to_text(&store).expect("text").as_bytes())
        .expect("whole again");
    assert_eq!(load_at(&p).expect("reads").expect("there").doc, store);
}

/// A log whose whole line does not read is an error naming the log; a missing store
/// is no store, whatever log is next to it.
#[test]
fn a_damaged_log_is_an_error_and_a_missing_store_is_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("netns.a.yaml");
    std::fs::write(committed_log::path(&p), "{}\n").expect("log alone");
    assert!(load_at(&p).expect("reads").is_none());
    std::fs::write(&p, to_text(&doc("networks:\n- {name: a}\n")).expect("text")).expect("store");
    let (_, file) = committed_log::read_file(&p).expect("reads").expect("there");
    let good = committed_log::line(&p, &doc("networks:\n- {name: b}\n")).expect("line");
    std::fs::remove_file(committed_log::path(&p)).expect("rm");
    committed_log::append(&p, file, None, &good).expect("starts");
    let names = |r: Read| {
        r.doc
            .networks
            .into_iter()
            .map(|n| n.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(load_at(&p).expect("reads").expect("there")),
        ["a", "b"]
    );
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(committed_log::path(&p))
        .expect("open");
    std::io::Write::write_all(&mut f, b"{\"networks\": 7}\n").expect("write");
    let e = load_at(&p).err().expect("a damaged log");
    assert!(e.to_string().contains(".changes"), "{e}");
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
