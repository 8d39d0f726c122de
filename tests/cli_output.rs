//! What the commands print and what they exit with when the reader goes away
//! (`hostnet apply FILE | head -1`), and `status` after an apply that died (review
//! findings 2 and 10). Each test runs in a namespace of its own with private records.

mod common;

use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::{enter_private_netns, run_ops, text, veth, NO_OVSDB};

const FILE: &str = "
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: [\"2001:db8:1::10/64\"], gateway: \"2001:db8:1::1\"}
    default-route: true
    source-routing: {table: 1001}
";

/// FILE renumbered: the second apply must be recorded too, not only the first.
const RENUMBERED: &str = "
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.20/24], gateway: 192.0.2.1}
    ipv6: {address: [\"2001:db8:1::10/64\"], gateway: \"2001:db8:1::1\"}
    default-route: true
    source-routing: {table: 1001}
";

/// Where a command's stdout goes.
enum Out {
    /// A pipe the test reads.
    Captured,
    /// A pipe whose read end is closed before the command starts: every write fails
    /// with EPIPE, as under `| head -1` once head has its line.
    Closed,
}

/// Runs hostnet in the calling thread's namespace with its records under `dir`.
fn hostnet(
    dir: &Path,
    args: &[&str],
    stdin: Option<&str>,
    out: Out,
    env: &[(&str, &str)],
) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hostnet"));
    c.args(args)
        .envs(env.iter().copied())
        .env("HOSTNET_OVSDB", NO_OVSDB)
        .env("HOSTNET_STATE_DIR", dir.join("run"))
        .env("HOSTNET_LIB_DIR", dir.join("lib"))
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    match out {
        Out::Captured => {
            c.stdout(Stdio::piped());
        }
        Out::Closed => {
            let (read, write): (OwnedFd, OwnedFd) = nix::unistd::pipe().expect("pipe");
            drop(read);
            c.stdout(Stdio::from(write));
        }
    }
    let mut child = c.spawn().expect("spawn hostnet");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(s) = stdin {
        // A command that refuses its input early may exit before reading
        // stdin; its answer is what the test checks, not the write.
        if let Err(e) = input.write_all(s.as_bytes()) {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write: {e}");
        }
    }
    drop(input);
    child.wait_with_output().expect("runs")
}

/// `hostnet status -o json`, read normally: its exit code and document.
fn status(dir: &Path) -> (Option<i32>, serde_json::Value) {
    let o = hostnet(dir, &["status", "-o", "json"], None, Out::Captured, &[]);
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    (o.status.code(), v)
}

/// The command ran to its end with `code` and said nothing about the closed pipe.
fn assert_quiet_exit(o: &Output, code: i32, what: &str) {
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{what}: {}", text(o));
    assert!(
        !err.contains("panicked") && !err.contains("Broken pipe") && !err.contains("backtrace"),
        "{what}: {}",
        text(o)
    );
}

#[test]
fn a_closed_stdout_changes_neither_the_exit_code_nor_the_records() {
    if !enter_private_netns("a_closed_stdout_changes_neither_the_exit_code_nor_the_records") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p")]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();

    // The first apply and a renumbering, each with nobody reading: both are recorded, so
    // `status` (and `restore` at boot) know the host as it is.
    for (file, what) in [(FILE, "apply"), (RENUMBERED, "apply of the renumbering")] {
        let o = hostnet(dir, &["apply", "-"], Some(file), Out::Closed, &[]);
        assert_quiet_exit(&o, 0, what);
        let (code, v) = status(dir);
        assert_eq!(code, Some(0), "after the {what}: {v}");
        assert_eq!(v["in-sync"], true, "after the {what}: {v}");
    }
    let o = hostnet(
        dir,
        &["show", "red", "-o", "json"],
        None,
        Out::Captured,
        &[],
    );
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("192.0.2.20/24"),
        "the renumbering did not happen: {}",
        text(&o)
    );

    // The JSON report, a dry run and an apply that changes nothing.
    let o = hostnet(
        dir,
        &["apply", "-o", "json", "-"],
        Some(FILE),
        Out::Closed,
        &[],
    );
    assert_quiet_exit(&o, 0, "apply -o json");
    assert_eq!(status(dir).1["in-sync"], true, "after apply -o json");
    let o = hostnet(
        dir,
        &["apply", "--dry-run", "-"],
        Some(RENUMBERED),
        Out::Closed,
        &[],
    );
    assert_quiet_exit(&o, 0, "apply --dry-run");
    let o = hostnet(dir, &["apply", "-"], Some(FILE), Out::Closed, &[]);
    assert_quiet_exit(&o, 0, "apply with nothing to change");

    // Every command that prints keeps its documented exit code.
    let in_sync: &[(&[&str], i32)] = &[
        (&["status"], 0),
        (&["status", "-o", "json"], 0),
        (&["show"], 0),
        (&["show", "-o", "json"], 0),
        (&["show", "red"], 0),
        (&["show", "--graph", "dot"], 0),
        (&["completions", "bash"], 0),
        (&["man"], 0),
    ];
    for (args, code) in in_sync {
        let o = hostnet(dir, args, None, Out::Closed, &[]);
        assert_quiet_exit(&o, *code, &args.join(" "));
    }
    // Drift still exits 1 with nobody reading.
    let o = Command::new("ip")
        .args(["route", "del", "default", "table", "1001"])
        .output()
        .expect("ip");
    assert!(o.status.success(), "{}", text(&o));
    let o = hostnet(dir, &["status"], None, Out::Closed, &[]);
    assert_quiet_exit(&o, 1, "status with drift");
    // An error still exits with its code (its message goes to stderr).
    let o = hostnet(dir, &["apply", "-"], Some("networks: 3"), Out::Closed, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn status_is_not_in_sync_while_an_apply_that_died_has_its_journal() {
    if !enter_private_netns("status_is_not_in_sync_while_an_apply_that_died_has_its_journal") {
        return;
    }
    run_ops(&[veth("up-red", "up-red-p")]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (code, v) = status(dir);
    assert_eq!(
        (code, &v["in-sync"]),
        (Some(0), &serde_json::json!(true)),
        "{v}"
    );

    // Nothing is recorded yet, so the half-done changes are no drift from the record:
    // only the journal tells (review finding 10).
    let crash = [("HOSTNET_TEST_CRASH_AFTER_PHASE", "1")];
    let o = hostnet(dir, &["apply", "-"], Some(FILE), Out::Captured, &crash);
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&o.status),
        Some(9),
        "{}",
        text(&o)
    );
    let o = hostnet(dir, &["status"], None, Out::Captured, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("Not in sync: an apply")
            && out.contains("hostnet rollback")
            && out.contains("--discard-stale-journal")
            && !out.contains("the host matches the record"),
        "{out}"
    );
    let (code, v) = status(dir);
    assert_eq!(code, Some(1), "{v}");
    assert_eq!(v["in-sync"], false, "{v}");
    assert!(v["unfinished-apply"]["pid"].is_u64(), "{v}");

    let o = hostnet(dir, &["rollback"], None, Out::Captured, &[]);
    assert!(o.status.success(), "{}", text(&o));
    let (code, v) = status(dir);
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["in-sync"], true, "{v}");
    assert!(v["unfinished-apply"].is_null(), "{v}");
}

#[test]
fn a_namespace_that_is_not_there_is_bad_input_for_every_command() {
    // No namespace is entered or made: the name is looked up and not found.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let ns = "hn-cli-output-no-such-netns";
    let cases: &[&[&str]] = &[
        &["apply", "--netns", ns, "-"],
        &["apply", "--netns", ns, "--dry-run", "-"],
        &["status", "--netns", ns],
        &["show", "--netns", ns],
        &["rollback", "--netns", ns],
        &["commit", "--netns", ns],
    ];
    for args in cases {
        let o = hostnet(dir, args, Some(FILE), Out::Captured, &[]);
        assert_eq!(o.status.code(), Some(2), "{}: {}", args.join(" "), text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("cannot enter network namespace"),
            "{}: {}",
            args.join(" "),
            text(&o)
        );
    }
}
