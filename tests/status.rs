//! `hostnet status` (networks in force, drift, exit codes) and `hostnet show IFACE`, each
//! test in a namespace of its own with private record directories.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{enter_private_netns, run_ops, text, veth, NO_OVSDB};

const FILE: &str = "
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    source-routing: {table: 1001}
    firewall:
      masquerade: {out-interface: up-blue}
  - name: blue
    uplink: up-blue
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
";

/// Runs hostnet in the calling thread's namespace with its records under `dir`.
fn hostnet(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostnet"));
    c.args(args)
        .env("HOSTNET_OVSDB", NO_OVSDB)
        .env("HOSTNET_STATE_DIR", dir.join("run"))
        .env("HOSTNET_LIB_DIR", dir.join("lib"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn hostnet");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).expect("write");
    }
    drop(input);
    child.wait_with_output().expect("runs")
}

fn status_json(dir: &Path) -> (Option<i32>, serde_json::Value) {
    let o = hostnet(dir, &["status", "-o", "json"], None);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o.status.code(), v)
}

fn has_nft() -> bool {
    let ok = Command::new("nft")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!(
                "the status test needs nft, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping"
            );
        }
        eprintln!("SKIP status test: needs nft (apt-get install nftables)");
    }
    ok
}

#[test]
fn status_reports_networks_in_force_and_drift_with_exit_codes() {
    if !has_nft() || !enter_private_netns("status_reports_networks_in_force_and_drift") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p"), veth("up-blue", "up-blue-p")]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();

    // Nothing recorded: nothing can drift.
    let o = hostnet(dir, &["status"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Nothing is recorded here"),
        "{}",
        text(&o)
    );

    let o = hostnet(dir, &["apply", "-"], Some(FILE));
    assert!(o.status.success(), "{}", text(&o));
    let o = hostnet(dir, &["status"], None);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("Drift: none"), "{out}");
    assert!(
        out.contains("  red: linux-bridge red up, mtu 1500, ports up-red"),
        "{out}"
    );
    assert!(
        out.contains("    table 1001: 2 routes, 1 rule at priority 3200"),
        "{out}"
    );
    assert!(
        out.contains("    firewall: nftables: masquerade out up-blue"),
        "{out}"
    );
    assert!(out.contains("(derived from its name)"), "{out}");
    let (code, v) = status_json(dir);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["in-sync"], true, "{v}");
    assert_eq!(v["networks"][0]["name"], "red", "{v}");
    assert_eq!(v["networks"][0]["table"]["id"], 1001, "{v}");
    assert_eq!(v["networks"][0]["firewall"]["backend"], "nftables", "{v}");
    assert_eq!(v["networks"][1]["device"]["ports"][0], "up-blue", "{v}");

    // Someone flushes hostnet's table and deletes a route: drift, exit 1.
    let o = Command::new("nft")
        .args(["delete", "table", "inet", "hostnet"])
        .output()
        .expect("nft");
    assert!(o.status.success(), "{}", text(&o));
    let o = Command::new("ip")
        .args(["route", "del", "default", "table", "1001"])
        .output()
        .expect("ip");
    assert!(o.status.success(), "{}", text(&o));
    let o = hostnet(dir, &["status"], None);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("    firewall: MISSING"), "{out}");
    assert!(
        out.contains("  + route default via 192.0.2.1 dev red table 1001"),
        "{out}"
    );
    let (code, v) = status_json(dir);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["in-sync"], false, "{v}");
    let drift = v["drift"].as_array().expect("drift");
    let has = |network: &str, kind: &str| {
        drift
            .iter()
            .any(|e| e["network"] == network && e["kind"] == kind && e["action"] == "create")
    };
    assert!(has("red", "firewall") && has("red", "route"), "{v}");
    assert_eq!(v["networks"][0]["drift"], 2, "{v}");

    // Applying the file again puts it right.
    let o = hostnet(dir, &["apply", "-"], Some(FILE));
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(status_json(dir).0, Some(0));

    // A pending checkpoint's change is part of the record.
    let change = FILE.replace("gateway: 198.51.100.1", "gateway: 198.51.100.254");
    let o = hostnet(
        dir,
        &["apply", "-o", "json", "--confirm-timeout", "300", "-"],
        Some(&change),
    );
    assert!(o.status.success(), "{}", text(&o));
    // stdout is one JSON document, and it carries the checkpoint.
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("one JSON document");
    let cp = &v["checkpoint"];
    assert_eq!(cp["timeout"], 300, "{v}");
    assert!(
        cp["deadline"].as_u64() >= cp["created"].as_u64().map(|c| c + 299),
        "{v}"
    );
    let o = hostnet(dir, &["status"], None);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(out.contains("Checkpoint pending"), "{out}");
    assert!(out.contains("gateways 198.51.100.254"), "{out}");
    let o = hostnet(dir, &["rollback"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(status_json(dir).0, Some(0));

    // A record that cannot be read: exit 2.
    let committed = dir.join("run").join("committed");
    for e in std::fs::read_dir(&committed).expect("committed dir") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "yaml") {
            std::fs::write(&p, "networks: [unterminated\n").expect("garble");
        }
    }
    let o = hostnet(dir, &["status"], None);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn show_iface_reports_its_addresses_routes_and_rules() {
    if !enter_private_netns("show_iface_reports_its_addresses_routes_and_rules") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p"), veth("up-blue", "up-blue-p")]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let file = "
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    source-routing: {table: 1001}
";
    let o = hostnet(dir, &["apply", "-"], Some(file));
    assert!(o.status.success(), "{}", text(&o));
    let o = hostnet(dir, &["show", "red", "-o", "json"], None);
    assert!(o.status.success(), "{}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["interface"]["name"], "red", "{v}");
    // The type once, in the interface (review finding 12: it was there and at the top).
    assert_eq!(v["interface"]["type"], "linux-bridge", "{v}");
    assert!(
        v.get("type").is_none() && v.get("controller").is_none(),
        "{v}"
    );
    assert_eq!(v["networks"][0], "red", "{v}");
    assert_eq!(v["addresses"][0], "192.0.2.10/24", "{v}");
    let routes = v["routes"].as_array().expect("routes");
    assert!(
        routes
            .iter()
            .any(|r| r["table-id"] == 1001 && r["next-hop-address"] == "192.0.2.1"),
        "{v}"
    );
    let rules = v["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), 1, "{v}");
    assert!(rules.iter().all(|r| r["route-table"] == 1001), "{v}");

    let o = hostnet(dir, &["show", "up-red"], None);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("controller: red"),
        "{out}"
    );

    let o = hostnet(dir, &["show", "nosuch0"], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("there is no interface nosuch0 here"),
        "{}",
        text(&o)
    );
}

#[test]
fn show_graph_draws_each_network_on_its_device() {
    if !has_nft() || !enter_private_netns("show_graph_draws_each_network_on_its_device") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p"), veth("up-blue", "up-blue-p")]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let o = hostnet(dir, &["apply", "-"], Some(FILE));
    assert!(o.status.success(), "{}", text(&o));

    let o = hostnet(dir, &["show", "--graph", "dot"], None);
    assert!(o.status.success(), "{}", text(&o));
    let dot = String::from_utf8_lossy(&o.stdout);
    for want in [
        "\"dev:up-red\" -> \"dev:red\" [label=\"port\"];",
        "\"dev:red\" -> \"net:red\";",
        "network red | gateway 192.0.2.1 | table 1001 | firewall",
        "red\\nlinux-bridge\\n192.0.2.10/24",
        // The other ends of the uplinks' veth pairs are here too, one edge per pair.
        "\"dev:up-blue\" -> \"dev:up-blue-p\" [style=dashed, label=\"veth\"];",
    ] {
        assert!(dot.contains(want), "{want} in {dot}");
    }

    // SVG by default, laid out without Graphviz.
    let o = hostnet(dir, &["show", "--graph"], None);
    assert!(o.status.success(), "{}", text(&o));
    let svg = String::from_utf8_lossy(&o.stdout);
    assert!(
        svg.trim_start().starts_with("<svg") || svg.contains("<svg"),
        "{svg}"
    );
    assert!(
        svg.contains("network blue") && svg.contains("up-red"),
        "{svg}"
    );
}

const NET: &str = "networks:
  - name: red
    uplink: e1
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
";

/// The watchdog's line files under `dir` (one per namespace key).
fn watchdog_lines(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir.join("run/checkpoint"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".last-rollback.txt"))
        .collect()
}

/// Waits (bounded) until the checkpoint watchdog has written that it rolled back.
fn wait_for_the_watchdog(dir: &Path) {
    let start = std::time::Instant::now();
    while !watchdog_lines(dir).iter().any(|p| {
        std::fs::read_to_string(p).is_ok_and(|l| l.contains("was not committed; rolled back"))
    }) {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "the watchdog did not roll back: {:?}, {}",
            watchdog_lines(dir),
            text(&hostnet(dir, &["status"], None))
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn said_by_status(dir: &Path) -> (Option<String>, String) {
    let (_, v) = status_json(dir);
    let text = String::from_utf8_lossy(&hostnet(dir, &["status"], None).stdout).into_owned();
    (v["last-rollback"].as_str().map(String::from), text)
}

/// The watchdog's line ("the change applied … was not committed; rolled back") is the
/// latest news only until the next change here: once a later checkpoint is committed or
/// rolled back (or another apply ran), `status` no longer shows it.
#[test]
fn status_shows_the_watchdogs_line_only_until_the_next_change() {
    if !enter_private_netns("status_shows_the_watchdogs_line_only_until_the_next_change") {
        return;
    }
    run_ops(&[veth("e1", "e1-p")]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let o = hostnet(dir, &["apply", "-"], Some(NET));
    assert!(o.status.success(), "{}", text(&o));
    // Each round's change is one the host does not have yet (a committed MTU stays).
    for (end, mtu) in [("commit", 1400), ("rollback", 1300)] {
        let change = NET.replace(
            "    uplink: e1\n",
            &format!("    uplink: e1\n    mtu: {mtu}\n"),
        );
        // A change the watchdog rolls back: status says so.
        for p in watchdog_lines(dir) {
            std::fs::remove_file(p).expect("forget the last run");
        }
        let o = hostnet(
            dir,
            &["apply", "--confirm-timeout", "1", "-"],
            Some(&change),
        );
        assert!(o.status.success(), "{}", text(&o));
        wait_for_the_watchdog(dir);
        let (json, shown) = said_by_status(dir);
        assert!(
            json.as_deref()
                .is_some_and(|l| l.contains("was not committed; rolled back")),
            "{json:?}"
        );
        assert!(shown.contains("Last checkpoint watchdog: "), "{shown}");
        // `commit` with nothing pending says why: the watchdog's line is still news.
        let o = hostnet(dir, &["commit"], None);
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("rolled back"),
            "commit right after the watchdog: {}",
            text(&o)
        );
        // A new checkpoint: pending, then ended by hand.
        let o = hostnet(
            dir,
            &["apply", "--confirm-timeout", "300", "-"],
            Some(&change),
        );
        assert!(o.status.success(), "{}", text(&o));
        let (json, shown) = said_by_status(dir);
        assert_eq!(json, None, "while a newer checkpoint is pending");
        assert!(!shown.contains("Last checkpoint watchdog"), "{shown}");
        let o = hostnet(dir, &[end], None);
        assert!(o.status.success(), "{end}: {}", text(&o));
        let (json, shown) = said_by_status(dir);
        assert_eq!(json, None, "after {end}");
        assert!(
            !shown.contains("Last checkpoint watchdog"),
            "after {end}: {shown}"
        );
        // Nor does a `commit` with nothing pending repeat the old line.
        let o = hostnet(dir, &["commit"], None);
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("rolled back"),
            "commit after {end}: {}",
            text(&o)
        );
    }
}
