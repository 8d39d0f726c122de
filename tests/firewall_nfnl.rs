//! The nfnetlink reader of hostnet's nftables table against `nft -j list table`, on a
//! table hostnet wrote in a private namespace: both see the same chains, rules (handles,
//! comments, in order) and map elements; a rule another tool adds to one of hostnet's
//! chains is read, and the network is reported as edited; a table of another tool is
//! not read at all and changes nothing of hostnet's state.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{enter_private_netns, hostnet, text};
use hostnet::netdev::linux::nfnl::{self, Nfnl, NftTable, ELEM_INTERVAL_END, SET_ANONYMOUS};
use hostnet::netdev::linux::nft_read;
use hostnet::netdev::netns_id::{state_dir, NetnsId};
use serde_json::Value;

const DOC: &str = "
firewall: {backend: nftables}
networks:
  - name: tenant1
    ipv4: {address: [10.10.0.1/24]}
    ipv6: {address: ['fd00:10::1/64']}
    firewall:
      masquerade: {out-interface: up0}
      isolate: true
      allow-from-guests: [{proto: udp, port: 67}, {proto: tcp, port: 53}]
      floating-ips: [{external: 203.0.113.10, internal: 10.10.0.5, interface: up0}]
      port-forwards:
        - {proto: tcp, external-port: 8022, internal: 10.10.0.5, internal-port: 22, interface: up0}
  - name: tenant2
    ipv4: {address: [10.20.0.1/24]}
    firewall: {masquerade: {out-interface: up0}}
";

/// What both readers agree on: per chain, its rules' handles and comments in order; per
/// set or map, its elements (interval ends aside) and the chains they jump to.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    chains: BTreeMap<String, Vec<(u64, Option<String>)>>,
    sets: BTreeMap<String, (usize, Vec<String>)>,
}

fn from_netlink(t: &NftTable) -> Seen {
    let mut chains: BTreeMap<String, Vec<(u64, Option<String>)>> =
        t.chains.iter().map(|c| (c.clone(), Vec::new())).collect();
    for r in &t.rules {
        chains
            .entry(r.chain.clone())
            .or_default()
            .push((r.handle, r.comment.clone()));
    }
    // nft lists a rule's anonymous set (`{ 67, 53 }`) inside the rule, not as a set.
    let sets = t
        .sets
        .iter()
        .filter(|s| s.flags & SET_ANONYMOUS == 0)
        .map(|s| {
            let starts = s
                .elements
                .iter()
                .filter(|e| e.flags & ELEM_INTERVAL_END == 0)
                .count();
            let mut targets: Vec<String> =
                s.elements.iter().filter_map(|e| e.target.clone()).collect();
            targets.sort();
            (s.name.clone(), (starts, targets))
        })
        .collect();
    Seen { chains, sets }
}

fn from_json(listing: &str) -> Seen {
    let v: Value = serde_json::from_str(listing).expect("nft -j prints JSON");
    let items = v["nftables"].as_array().expect("nftables array");
    let mut seen = Seen {
        chains: BTreeMap::new(),
        sets: BTreeMap::new(),
    };
    for item in items {
        if let Some(c) = item.get("chain") {
            seen.chains
                .entry(c["name"].as_str().expect("chain name").to_string())
                .or_default();
        }
        if let Some(r) = item.get("rule") {
            seen.chains
                .entry(r["chain"].as_str().expect("rule chain").to_string())
                .or_default()
                .push((
                    r["handle"].as_u64().expect("rule handle"),
                    r.get("comment").and_then(Value::as_str).map(str::to_string),
                ));
        }
        if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            let elems = s.get("elem").and_then(Value::as_array);
            let mut targets: Vec<String> = elems
                .into_iter()
                .flatten()
                .filter_map(|e| e.as_array().and_then(|kv| kv.get(1)))
                .filter_map(|verdict| {
                    ["jump", "goto"]
                        .iter()
                        .find_map(|k| verdict.get(k)?.get("target")?.as_str())
                        .map(str::to_string)
                })
                .collect();
            targets.sort();
            seen.sets.insert(
                s["name"].as_str().expect("set name").to_string(),
                (elems.map_or(0, Vec::len), targets),
            );
        }
    }
    seen
}

fn nft(args: &[&str]) -> String {
    let o = Command::new("nft").args(args).output().expect("run nft");
    assert!(o.status.success(), "nft {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Replaces the rule of `chain` commented `comment` with one matching `saddr` instead,
/// comment kept: the structure (rule counts, tokens) still looks like ours.
fn edit_keeping_comment(chain: &str, comment: &str, saddr: &str) {
    let listing = nft(&["-a", "list", "chain", "inet", "hostnet", chain]);
    let handle = listing
        .lines()
        .find(|l| l.contains(&format!("\"{comment}\"")))
        .and_then(|l| l.rsplit("handle ").next())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| panic!("{comment} in {listing}"));
    nft(&[&format!(
        "replace rule inet hostnet {chain} handle {handle} ip saddr {saddr} counter comment \"{comment}\""
    )]);
}

fn read() -> NftTable {
    Nfnl::open()
        .expect("nfnetlink socket")
        .read_table(nfnl::NFPROTO_INET, nft_read::TABLE_NAME, None)
        .expect("read table")
        .expect("table inet hostnet exists")
}

/// Reads the table both ways and checks that they agree; returns the netlink reading.
fn agree(when: &str) -> NftTable {
    let t = read();
    let listing = nft(&["-j", "list", "table", "inet", nft_read::TABLE_NAME]);
    let (ours, theirs) = (from_netlink(&t), from_json(&listing));
    assert_eq!(ours, theirs, "{when}: nfnetlink and nft -j differ");
    t
}

fn intact() -> BTreeMap<String, bool> {
    let st = nft_read::query(None).expect("query");
    st.networks
        .iter()
        .map(|(n, s)| (n.clone(), s.intact))
        .collect()
}

#[test]
fn the_netlink_reader_sees_what_nft_lists() {
    let test = "the_netlink_reader_sees_what_nft_lists";
    if Command::new("nft").arg("--version").output().is_err() {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("{test}: needs nft, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP {test}: needs nft");
        return;
    }
    if !enter_private_netns(test) {
        return;
    }
    // The uplink the rules name.
    common::run_ops(&[common::veth("up0", "up0p")]);
    let o = hostnet(&["apply", "-"], Some(DOC));
    assert!(o.status.success(), "{}", text(&o));

    let written = agree("as hostnet wrote it");
    let seen = from_netlink(&written);
    assert!(
        seen.chains.keys().any(|c| c.starts_with("n-tenant1-")),
        "{seen:?}"
    );
    assert!(seen.sets.values().any(|(n, _)| *n > 0), "{seen:?}");
    let all_ours = BTreeMap::from([("tenant1".to_string(), true), ("tenant2".to_string(), true)]);
    assert_eq!(intact(), all_ours, "as written");
    // Read again with no transaction between: the remembered reading, same answer.
    assert_eq!(intact(), all_ours, "as written, read twice");

    // Another tool adds a rule to one of hostnet's chains: read like nft lists it, and
    // the network counts as edited (the next apply repairs it).
    let chain = "n-tenant2-post";
    assert!(seen.chains.contains_key(chain), "{seen:?}");
    nft(&["add", "rule", "inet", "hostnet", chain, "accept"]);
    let edited = agree("after a foreign rule in our chain");
    assert_eq!(
        edited.rules.len(),
        written.rules.len() + 1,
        "the foreign rule is read"
    );
    assert!(edited
        .rules
        .iter()
        .any(|r| r.chain == chain && r.comment.is_none()));
    let drift = intact();
    assert_eq!(
        drift.get("tenant2"),
        Some(&false),
        "drift detected: {drift:?}"
    );
    assert_eq!(drift.get("tenant1"), Some(&true), "{drift:?}");
    let o = hostnet(&["apply", "-"], Some(DOC));
    assert!(o.status.success(), "{}", text(&o));
    agree("after the repair");
    assert_eq!(intact(), all_ours, "after the repair");

    // Two edited chains, then no record of verified chains at all (another state
    // directory, a reboot): every such chain is compared as text, a few one by one,
    // many through the whole table.
    edit_keeping_comment("n-tenant1-fwd", "subnet 10.10.0.0/24", "10.99.1.0/24");
    edit_keeping_comment("n-tenant2-fwd", "subnet 10.20.0.0/24", "10.99.2.0/24");
    let both = intact();
    assert_eq!(both.values().filter(|i| !**i).count(), 2, "{both:?}");
    let o = hostnet(&["apply", "-"], Some(DOC));
    assert!(o.status.success(), "{}", text(&o));
    let key = NetnsId::current().expect("namespace").key();
    let record = state_dir().join("nft-verified").join(key);
    assert!(record.exists(), "{}", record.display());
    std::fs::remove_file(&record).expect("remove the record");
    assert_eq!(intact(), all_ours, "without a record");
    let repaired = agree("after the second repair");

    // Another tool's own table, hooked where ours are: not part of the reading, and
    // hostnet's state is unchanged.
    nft(&["add", "table", "inet", "other"]);
    nft(&["add chain inet other guests { type filter hook forward priority 0 ; policy accept ; }"]);
    nft(&["add rule inet other guests iifname \"tenant1\" accept comment \"masq up0\""]);
    let after = agree("with another tool's table");
    assert_eq!(
        from_netlink(&after),
        from_netlink(&repaired),
        "ours unchanged"
    );
    assert!(
        after.generation != repaired.generation,
        "the ruleset did change"
    );
    assert_eq!(intact(), all_ours, "another table is not drift");
    let o = hostnet(&["apply", "-"], Some(DOC));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        nft(&["list", "table", "inet", "other"]).contains("masq up0"),
        "hostnet left the other table alone"
    );
}

fn names(list: &[&str]) -> std::collections::BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// A query focused on some networks (what an apply of a file naming them reads) reads
/// their rules as a full query does, knows the others by their chains and dispatch
/// entries (marked unread), and reads everything when the skeleton is damaged. An apply
/// of a file naming one network changes it and leaves the other as it was.
#[test]
fn a_focused_query_reads_the_networks_named() {
    let test = "a_focused_query_reads_the_networks_named";
    if Command::new("nft").arg("--version").output().is_err() {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("{test}: needs nft, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP {test}: needs nft");
        return;
    }
    if !enter_private_netns(test) {
        return;
    }
    common::run_ops(&[common::veth("up0", "up0p")]);
    let o = hostnet(&["apply", "-"], Some(DOC));
    assert!(o.status.success(), "{}", text(&o));
    // Focused first: a full reading, remembered until the next transaction, would serve
    // the focused query too.
    let focused = nft_read::query(Some(&names(&["tenant2"]))).expect("focused query");
    let full = nft_read::query(None).expect("query");
    assert_eq!(focused.base, full.base);
    assert_eq!(focused.networks["tenant2"], full.networks["tenant2"]);
    let t1 = &focused.networks["tenant1"];
    assert!(t1.unread && !t1.intact, "{t1:?}");
    assert_eq!(t1.chains, full.networks["tenant1"].chains);
    assert_eq!(t1.dispatch, full.networks["tenant1"].dispatch);
    assert!(!full.networks.values().any(|n| n.unread), "{full:?}");

    // A foreign rule in tenant2's chain: seen by a query that reads tenant2.
    nft(&["add", "rule", "inet", "hostnet", "n-tenant2-post", "accept"]);
    let st = nft_read::query(Some(&names(&["tenant2"]))).expect("focused query");
    assert!(!st.networks["tenant2"].intact, "{st:?}");
    let st = nft_read::query(Some(&names(&["tenant1"]))).expect("focused query");
    assert!(
        st.networks["tenant1"].intact && st.networks["tenant2"].unread,
        "{st:?}"
    );

    // A file naming tenant2 alone repairs it; one naming tenant1 alone changes only it.
    let only = |i: usize| {
        DOC.split("  - name: ")
            .nth(i)
            .map(|n| format!("firewall: {{backend: nftables}}\nnetworks:\n  - name: {n}"))
    };
    let t2 = only(2).expect("tenant2 in DOC");
    let o = hostnet(&["apply", "-"], Some(&t2));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(nft_read::query(None).expect("query"), full, "repaired");
    let t1 = only(1)
        .expect("tenant1 in DOC")
        .replace("isolate: true", "isolate: false");
    let o = hostnet(&["apply", "-"], Some(&t1));
    assert!(o.status.success(), "{}", text(&o));
    let after = nft_read::query(None).expect("query");
    assert_eq!(after.networks["tenant2"], full.networks["tenant2"]);
    assert!(after.networks["tenant1"].intact && !after.networks["tenant1"].spec.isolate);

    // The skeleton damaged (a dispatch rule gone): the focused query reads it all.
    let listing = nft(&["-a", "list", "chain", "inet", "hostnet", "forward"]);
    let handle = listing
        .lines()
        .find(|l| l.contains("\"dispatch "))
        .and_then(|l| l.rsplit("handle ").next())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| panic!("a dispatch rule in {listing}"));
    nft(&[
        "delete", "rule", "inet", "hostnet", "forward", "handle", &handle,
    ]);
    let st = nft_read::query(Some(&names(&["tenant1"]))).expect("focused query");
    assert!(!st.networks.values().any(|n| n.unread), "{st:?}");
    let o = hostnet(&["apply", "-"], Some(&t1));
    assert!(o.status.success(), "{}", text(&o));
    let repaired = nft_read::query(None).expect("query");
    assert_eq!(repaired.base, full.base, "the skeleton is whole again");
    assert_eq!(repaired.networks["tenant2"], full.networks["tenant2"]);
}

/// A namespace without any iptables `filter` or `nat` table holds nothing of hostnet's
/// in iptables: its query runs no `iptables-save`; once a table exists, it does.
#[test]
fn iptables_is_read_only_where_its_tables_exist() {
    let test = "iptables_is_read_only_where_its_tables_exist";
    let have = |p: &str| Command::new(p).arg("--version").output().is_ok();
    if !have("nft") || !have("iptables-nft") {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("{test}: needs nft and iptables-nft, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP {test}: needs nft and iptables-nft");
        return;
    }
    if !enter_private_netns(test) {
        return;
    }
    common::run_ops(&[common::veth("up0", "up0p")]);
    let o = hostnet(&["apply", "-"], Some(DOC));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        !nft_read::iptables_tables_exist(),
        "an nftables-only namespace"
    );
    let o = Command::new("iptables-nft")
        .args(["-t", "nat", "-N", "HNTEST"])
        .output()
        .expect("iptables-nft");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        nft_read::iptables_tables_exist(),
        "a nat table of iptables-nft"
    );
}

/// The same for legacy iptables, whose tables are listed under `/proc/net` of the
/// namespace: the calling thread's (this test runs in a namespace of its thread only).
#[test]
fn legacy_iptables_tables_are_seen_in_the_threads_namespace() {
    let test = "legacy_iptables_tables_are_seen_in_the_threads_namespace";
    if Command::new("iptables-legacy")
        .arg("--version")
        .output()
        .is_err()
    {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("{test}: needs iptables-legacy, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP {test}: needs iptables-legacy");
        return;
    }
    if !enter_private_netns(test) {
        return;
    }
    assert!(!nft_read::iptables_tables_exist(), "a fresh namespace");
    let o = Command::new("iptables-legacy")
        .args(["-t", "filter", "-N", "HNTEST"])
        .output()
        .expect("iptables-legacy");
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        nft_read::iptables_tables_exist(),
        "a filter table of iptables-legacy"
    );
}
