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

/// `[package.metadata.deb]` as `cargo metadata` reads it.
fn deb_metadata() -> serde_json::Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let o = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--format-version",
            "1",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    v["packages"][0]["metadata"]["deb"].clone()
}

#[test]
fn the_debian_package_carries_binary_units_completions_man_pages_and_etc() {
    let deb = deb_metadata();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let assets: Vec<(String, String)> = deb["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| {
            (
                a[0].as_str().expect("source").to_string(),
                a[1].as_str().expect("dest").to_string(),
            )
        })
        .collect();
    let dest_of = |source: &str| {
        assets
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, d)| d.as_str())
    };
    assert_eq!(dest_of("target/release/hostnet"), Some("usr/bin/"));
    assert_eq!(
        dest_of("target/dist/completions/hostnet.bash"),
        Some("usr/share/bash-completion/completions/hostnet")
    );
    assert_eq!(dest_of("target/dist/man/*.8"), Some("usr/share/man/man8/"));
    // The directory of the host's file, where `apply` looks without an argument.
    assert_eq!(dest_of("dist/etc/hostnet/README"), Some("etc/hostnet/"));
    // The input's JSON Schema, where /etc/hostnet/README tells editors to find it.
    assert_eq!(
        dest_of("dist/hostnet.schema.json"),
        Some("usr/share/hostnet/")
    );
    let readme = std::fs::read_to_string(root.join("dist/etc/hostnet/README")).expect("README");
    assert!(
        readme.contains("/usr/share/hostnet/hostnet.schema.json"),
        "{readme}"
    );
    let o = hostnet(&["apply", "--help"]);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("[default: /etc/hostnet/host.yaml]"),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    // What dist/build-deb.sh generates, it generates into the assets' sources.
    let script = std::fs::read_to_string(root.join("dist/build-deb.sh")).expect("script");
    for generated in [
        "target/dist/completions/hostnet.bash",
        "target/dist/completions/_hostnet",
        "target/dist/completions/hostnet.fish",
    ] {
        assert!(dest_of(generated).is_some(), "{generated} is not packaged");
        let file = generated.trim_start_matches("target/dist/completions/");
        assert!(
            script.contains(&format!("\"$out/completions/{file}\"")),
            "{file}"
        );
    }
    assert!(script.contains("man --out-dir \"$out/man\""), "{script}");
    // Every other source exists in the tree.
    for (source, _) in assets.iter().filter(|(s, _)| !s.starts_with("target/")) {
        let dir = root.join(source.rsplit_once('/').map_or("", |(d, _)| d));
        let name = source.rsplit('/').next().expect("name");
        let found = std::fs::read_dir(&dir)
            .expect("asset directory")
            .filter_map(Result::ok)
            .any(|e| {
                let n = e.file_name().to_string_lossy().into_owned();
                match name.strip_prefix('*') {
                    Some(suffix) => n.ends_with(suffix),
                    None => n == name,
                }
            });
        assert!(found, "asset {source} does not exist");
    }
    // The units: one file each in the maintainer-scripts directory, the binary's path,
    // and the monitor leaving the DHCP servers in its control group alive.
    let units_dir = root.join(deb["maintainer-scripts"].as_str().expect("dir"));
    let units: Vec<&str> = deb["systemd-units"]
        .as_array()
        .expect("units")
        .iter()
        .map(|u| u["unit-name"].as_str().expect("unit-name"))
        .collect();
    assert_eq!(units, ["hostnet-restore", "hostnet-monitor"]);
    for unit in units {
        let text = std::fs::read_to_string(units_dir.join(format!("{unit}.service")))
            .unwrap_or_else(|e| panic!("{unit}.service: {e}"));
        let command = unit.trim_start_matches("hostnet-");
        assert!(
            text.contains(&format!("ExecStart=/usr/bin/hostnet {command}\n")),
            "{text}"
        );
    }
    let monitor =
        std::fs::read_to_string(units_dir.join("hostnet-monitor.service")).expect("monitor");
    assert!(monitor.contains("\nKillMode=process\n"), "{monitor}");
    let restore =
        std::fs::read_to_string(units_dir.join("hostnet-restore.service")).expect("restore");
    assert!(restore.contains("\nRemainAfterExit=yes\n"), "{restore}");
}
