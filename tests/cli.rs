//! The command line's conventions and messages that need no root and no kernel: input
//! errors, `--version`, completions and the man page, the packaging metadata and the
//! input's JSON Schema.

use std::process::{Command, Output};

fn hostnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(args)
        .output()
        .expect("hostnet runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_missing_file_is_reported_as_not_found() {
    let o = hostnet(&["validate", "/nonexistent/hostnet/host.yaml"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err, "error: /nonexistent/hostnet/host.yaml not found\n");
    let o = hostnet(&["apply", "/nonexistent/hostnet/host.yaml"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "error: /nonexistent/hostnet/host.yaml not found; nothing was changed\n"
    );
}

#[test]
fn validate_reports_every_unknown_key_and_does_not_say_nothing_was_changed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("host.yaml");
    std::fs::write(
        &file,
        "networks:\n  - name: a\n    colour: red\n    ipv4: {adress: [192.0.2.1/24]}\n",
    )
    .expect("write");
    let f = file.to_str().expect("utf-8 path");
    let o = hostnet(&["validate", f]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.starts_with(&format!("error: {f} is not valid\n")),
        "{err}"
    );
    assert!(!err.contains("nothing was changed"), "{err}");
    assert!(
        err.contains("  networks[0]: unknown field `colour`"),
        "{err}"
    );
    assert!(
        err.contains("  networks[0].ipv4: unknown field `adress`"),
        "{err}"
    );
    std::fs::write(
        &file,
        "networks:\n  - name: a\n    ipv4: {address: [192.0.2.1]}\n",
    )
    .expect("write");
    let err = stderr(&hostnet(&["validate", f]));
    assert!(
        err.contains("192.0.2.1 has no prefix length; give it one, such as 192.0.2.1/24"),
        "{err}"
    );
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let o = hostnet(&["--version"]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success(), "{out}");
    assert!(
        out.starts_with(&format!("hostnet {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(commit) => assert!(out.contains(&format!("(git {commit})")), "{out}"),
        None => eprintln!("not a git checkout: the version alone ({out})"),
    }
}

#[test]
fn completions_and_man_pages_come_from_the_command_definitions() {
    for (shell, marker) in [
        ("bash", "_hostnet()"),
        ("zsh", "#compdef hostnet"),
        ("fish", "complete -c hostnet"),
    ] {
        let o = hostnet(&["completions", shell]);
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        assert!(out.contains(marker), "{shell}: {out}");
        assert!(
            out.contains("status") && out.contains("--confirm-timeout"),
            "{shell}"
        );
    }
    let o = hostnet(&["man"]);
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(page.contains(".TH hostnet 8"), "{page}");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("man8");
    let o = hostnet(&["man", "--out-dir", out.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let apply = std::fs::read_to_string(out.join("hostnet-apply.8")).expect("apply's page");
    assert!(apply.contains(".TH hostnet-apply 8"), "{apply}");
    assert!(apply.contains("/etc/hostnet/host.yaml"), "{apply}");
    assert!(out.join("hostnet-status.8").exists());
    assert!(
        !out.join("hostnet-checkpoint-watchdog.8").exists(),
        "a page for a hidden command"
    );
}
