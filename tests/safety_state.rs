//! Per-namespace records (issue 12 item 7, issue 14 item 3): every file hostnet keeps is
//! keyed by the namespace's name where it has one, so that namespaces sharing one
//! filesystem never see each other's, a named namespace finds its committed state after
//! it is made again (a reboot), and records of namespaces that are gone are cleaned.
//! Each test builds its own named namespaces and state directories.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use common::text;
use hostnet::netdev::linux::{create_named_netns, delete_named_netns};
use hostnet::sandbox::Sandbox;

/// The hostnet binary with this test's state directories.
struct Hostnet {
    state: tempfile::TempDir,
    lib: tempfile::TempDir,
}

impl Hostnet {
    fn new() -> Hostnet {
        let h = Hostnet {
            state: tempfile::tempdir().expect("tempdir"),
            lib: tempfile::tempdir().expect("tempdir"),
        };
        // dnsmasq reads its files as an unprivileged user.
        std::fs::set_permissions(h.lib.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        h
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hostnet"));
        c.args(args)
            .env("HOSTNET_STATE_DIR", self.state.path())
            .env("HOSTNET_LIB_DIR", self.lib.path())
            .env("HOSTNET_OVSDB", common::NO_OVSDB)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = self.cmd(args).spawn().expect("spawn");
        let mut input = child.stdin.take().expect("stdin");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write");
        }
        drop(input);
        child.wait_with_output().expect("runs")
    }

    /// `hostnet ARGS --netns NS`.
    fn run_in(&self, ns: &str, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all = args.to_vec();
        all.extend(["--netns", ns]);
        self.run(&all, stdin)
    }

    fn state(&self, rel: &str) -> PathBuf {
        self.state.path().join(rel)
    }

    fn lib(&self, rel: &str) -> PathBuf {
        self.lib.path().join(rel)
    }
}

fn may_run(test: &str, programs: &[&str]) -> bool {
    let missing: Vec<&&str> = programs
        .iter()
        .filter(|p| {
            !std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(p).is_file()))
        })
        .collect();
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root".to_string())
    } else if !missing.is_empty() {
        Some(format!("needs {missing:?}"))
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
                panic!("{test}: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
            }
            eprintln!("SKIP {test}: {why}");
            false
        }
    }
}

/// A sandbox with one namespace per role, each with a NIC stand-in `e1` (a veth whose
/// other end is in a namespace of its own, so it has carrier).
fn sandbox(tag: &str, roles: &[&str]) -> Sandbox {
    let mut sb = Sandbox::new(&format!("ss{}{tag}", std::process::id()));
    for role in roles {
        sb.add(role).expect("netns");
        let peer = format!("{role}-peer");
        sb.add(&peer).expect("peer netns");
        sb.wire(role, "e1", &peer, "e1p").expect("wire");
    }
    sb
}

fn key(ns: &str) -> String {
    format!("netns.{ns}")
}

const SERVED: &str = "networks:
- name: tenant1
  uplink: e1
  ipv4: {address: [10.10.0.1/24]}
  dhcp-server: {range: {start: 10.10.0.100, end: 10.10.0.200}}
";

const SERVED_GONE: &str = "networks:\n- {name: tenant1, state: absent}\n";

/// One network name in two namespaces: two servers, each in its namespace's directory.
/// Before, both used `dnsmasq/tenant1/`: the second apply's dry run said OK and its
/// execution failed ("belongs to network tenant1 of another network namespace").
#[test]
fn one_network_name_in_two_namespaces_is_two_dhcp_servers() {
    if !may_run(
        "one_network_name_in_two_namespaces_is_two_dhcp_servers",
        &["dnsmasq"],
    ) {
        return;
    }
    let sb = sandbox("d", &["a", "b"]);
    let h = Hostnet::new();
    let (a, b) = (sb.netns("a"), sb.netns("b"));
    // Whatever happens, the servers stop (a dnsmasq would keep its namespace alive).
    struct Stop<'a>(&'a Hostnet, [String; 2]);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            for ns in &self.1 {
                self.0.run_in(ns, &["apply", "-"], Some(SERVED_GONE));
            }
        }
    }
    let _stop = Stop(&h, [a.clone(), b.clone()]);
    for ns in [&a, &b] {
        let o = h.run_in(ns, &["apply", "--dry-run", "-"], Some(SERVED));
        assert!(o.status.success(), "{ns}: {}", text(&o));
        let o = h.run_in(ns, &["apply", "-"], Some(SERVED));
        assert!(o.status.success(), "{ns}: {}", text(&o));
    }
    for ns in [&a, &b] {
        let dir = h.lib(&format!("dnsmasq/{}/tenant1", key(ns)));
        assert!(dir.join("config.json").is_file(), "{}", dir.display());
        let o = h.run_in(ns, &["show", "--dhcp-servers"], None);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains("running: true") && out.contains(&key(ns)),
            "{ns}: {}",
            text(&o)
        );
    }
    // Removing one leaves the other.
    let o = h.run_in(&a, &["apply", "-"], Some(SERVED_GONE));
    assert!(o.status.success(), "{}", text(&o));
    assert!(!h.lib(&format!("dnsmasq/{}/tenant1", key(&a))).exists());
    let o = h.run_in(&b, &["show", "--dhcp-servers"], None);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("running: true"),
        "{}",
        text(&o)
    );
}

/// Every file of a command follows `HOSTNET_STATE_DIR` and `HOSTNET_LIB_DIR`: nothing
/// with the namespace's key lands in the machine's `/run/hostnet` or `/var/lib/hostnet`.
/// Before, the lock went to `/run/hostnet/locks` whatever the state directory said.
#[test]
fn every_file_follows_the_state_directories() {
    if !may_run("every_file_follows_the_state_directories", &["dnsmasq"]) {
        return;
    }
    let sb = sandbox("f", &["a"]);
    let h = Hostnet::new();
    let a = sb.netns("a");
    struct Stop<'a>(&'a Hostnet, String);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.run_in(&self.1, &["apply", "-"], Some(SERVED_GONE));
        }
    }
    let _stop = Stop(&h, a.clone());
    for (args, stdin) in [
        (vec!["apply", "--dry-run", "-"], Some(SERVED)),
        (vec!["apply", "-"], Some(SERVED)),
        (
            vec!["apply", "--confirm-timeout", "120", "-"],
            Some(SERVED_GONE),
        ),
        (vec!["rollback"], None),
        (vec!["show", "--dhcp-servers"], None),
        (
            vec!["apply", "--confirm-timeout", "120", "-"],
            Some(SERVED_GONE),
        ),
        (vec!["commit"], None),
        (vec!["apply", "-"], Some(NET)),
        (vec!["show"], None),
    ] {
        let o = h.run_in(&a, &args, stdin);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    assert!(h.state(&format!("locks/{}.lock", key(&a))).is_file());
    let mut strays = Vec::new();
    for root in ["/run/hostnet", "/var/lib/hostnet"] {
        let mut todo = vec![PathBuf::from(root)];
        while let Some(dir) = todo.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if e.file_name().to_string_lossy().contains(&key(&a)) {
                    strays.push(e.path());
                }
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    todo.push(e.path());
                }
            }
        }
    }
    assert!(
        strays.is_empty(),
        "outside the state directories: {strays:?}"
    );
}

const NET: &str = "networks:
- name: red
  uplink: e1
  ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
  source-routing: {table: 1001}
";

/// A named namespace's records carry its name: its committed state is found again after
/// the namespace is made anew (what a reboot does; the cookie changes), and what the
/// checkpoint watchdog did in one namespace is not reported in another.
#[test]
fn records_are_keyed_by_the_namespace_name() {
    if !may_run("records_are_keyed_by_the_namespace_name", &[]) {
        return;
    }
    let sb = sandbox("k", &["a", "b"]);
    let h = Hostnet::new();
    let (a, b) = (sb.netns("a"), sb.netns("b"));
    let o = h.run_in(&a, &["apply", "-"], Some(NET));
    assert!(o.status.success(), "{}", text(&o));
    assert!(h.lib(&format!("committed/{}.yaml", key(&a))).is_file());
    assert!(h.state(&format!("applied/{}.json", key(&a))).is_file());
    assert!(h.state(&format!("locks/{}.lock", key(&a))).is_file());
    // "Reboot" a: the namespace is made again under the same name, its NIC comes back,
    // hostnet's bridge does not.
    delete_named_netns(&a).expect("delete");
    create_named_netns(&a).expect("create");
    sb.wire("a", "e1", "a-peer", "e1x").expect("wire");
    let o = h.run_in(&a, &["restore"], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = h.run_in(&a, &["show"], None);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("192.0.2.10"),
        "{}",
        text(&o)
    );
    // A checkpoint that the watchdog rolls back in a...
    let change = NET.replace("  uplink: e1\n", "  uplink: e1\n  mtu: 1400\n");
    let o = h.run_in(&a, &["apply", "--confirm-timeout", "1", "-"], Some(&change));
    assert!(o.status.success(), "{}", text(&o));
    let last = h.state(&format!("checkpoint/{}.last-rollback.txt", key(&a)));
    let start = std::time::Instant::now();
    while !last.exists() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "the watchdog did not roll back"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let o = h.run_in(&a, &["commit"], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("was not committed; rolled back"),
        "{}",
        text(&o)
    );
    // `status -o json` says so too, for a controller that finds its change gone.
    let o = h.run_in(&a, &["status", "-o", "json"], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status json");
    assert!(
        v["last-rollback"]
            .as_str()
            .is_some_and(|l| l.contains("was not committed; rolled back")),
        "{v}"
    );
    // ... is not b's business.
    let o = h.run_in(&b, &["commit"], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains("rolled back"),
        "{}",
        text(&o)
    );
}

/// A record an older hostnet kept under the namespace's cookie is found: the committed
/// state is moved to the name's key.
#[test]
fn a_committed_state_under_the_old_cookie_key_is_moved_to_the_name() {
    if !may_run(
        "a_committed_state_under_the_old_cookie_key_is_moved_to_the_name",
        &[],
    ) {
        return;
    }
    let sb = sandbox("m", &["a"]);
    let h = Hostnet::new();
    let a = sb.netns("a");
    let legacy = sb
        .run_in("a", || {
            Ok(hostnet::netdev::netns_id::legacy_key().expect("legacy key"))
        })
        .expect("in a");
    std::fs::create_dir_all(h.lib("committed")).expect("dir");
    let old = h.lib(&format!("committed/{legacy}.yaml"));
    std::fs::write(&old, NET).expect("write");
    let o = h.run_in(&a, &["restore"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!old.exists());
    assert!(h.lib(&format!("committed/{}.yaml", key(&a))).is_file());
}

/// Records of namespaces that are gone are removed by the next command anywhere (runtime
/// ones: the persistent committed state of a named namespace stays for when it comes
/// back), and so are temporary files whose writer died.
#[test]
fn records_of_namespaces_that_are_gone_are_cleaned() {
    if !may_run("records_of_namespaces_that_are_gone_are_cleaned", &[]) {
        return;
    }
    let sb = sandbox("c", &["a", "c"]);
    let h = Hostnet::new();
    let (a, c) = (sb.netns("a"), sb.netns("c"));
    let o = h.run_in(&c, &["apply", "-"], Some(NET));
    assert!(o.status.success(), "{}", text(&o));
    // An apply in c that dies leaves its journal.
    let mut cmd = h.cmd(&["apply", "--netns", &c, "-"]);
    cmd.env("HOSTNET_TEST_CRASH_AFTER_PHASE", "1");
    let mut child = cmd.spawn().expect("spawn");
    {
        use std::io::Write;
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(NET.replace("192.0.2.10", "192.0.2.12").as_bytes())
            .expect("write");
    }
    let o = child.wait_with_output().expect("runs");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "{}",
        text(&o)
    );
    let journal = h.state(&format!("journal/{}.json", key(&c)));
    let applied = h.state(&format!("applied/{}.json", key(&c)));
    let lock = h.state(&format!("locks/{}.lock", key(&c)));
    let committed = h.lib(&format!("committed/{}.yaml", key(&c)));
    for p in [&journal, &applied, &lock, &committed] {
        assert!(p.exists(), "{} missing", p.display());
    }
    // A writer killed between write and rename (no process has that PID).
    let tmp = h.state(&format!("journal/.{}.json.tmp.{}", key(&a), i32::MAX));
    std::fs::write(&tmp, "{").expect("write");
    // An unnamed namespace (a thread's own) that applies and goes away.
    let state = h.state.path().to_path_buf();
    let lib = h.lib.path().to_path_buf();
    let anon_key = std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
        let o = Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(["apply", "-"])
            .env("HOSTNET_STATE_DIR", &state)
            .env("HOSTNET_LIB_DIR", &lib)
            .env("HOSTNET_OVSDB", common::NO_OVSDB)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(b"interfaces:\n- {name: br9, type: linux-bridge}\n")?;
                child.wait_with_output()
            })
            .expect("runs");
        assert!(o.status.success(), "{}", text(&o));
        hostnet::netdev::netns_id::NetnsId::current()
            .expect("id")
            .key()
    })
    .join()
    .expect("thread");
    assert!(anon_key.starts_with("anon."), "{anon_key}");
    let anon_committed = h.state(&format!("committed/{anon_key}.yaml"));
    assert!(
        anon_committed.is_file(),
        "an unnamed namespace's committed state is a runtime file"
    );
    assert!(!h.lib(&format!("committed/{anon_key}.yaml")).exists());
    // c goes away; the next command (in a) cleans up after it and the thread's namespace.
    delete_named_netns(&c).expect("delete c");
    let o = h.run_in(&a, &["apply", "-"], Some(NET));
    assert!(o.status.success(), "{}", text(&o));
    for p in [&journal, &applied, &lock, &tmp, &anon_committed] {
        assert!(!p.exists(), "{} was not cleaned", p.display());
    }
    assert!(
        committed.exists(),
        "a named namespace's committed state stays"
    );
}
