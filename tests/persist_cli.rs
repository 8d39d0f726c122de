//! `hostnet persist` end to end on temporary roots: foreign files, --adopt, --restore,
//! --dry-run, and a real write failure in the middle of a transaction restoring every
//! file byte for byte. Needs no root and touches nothing outside its temporary roots.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const INPUT: &str = r#"
networks:
  - name: red
    uplink: up-red
    ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}
    ipv6: {address: ["2001:db8:1::10/64"], gateway: "2001:db8:1::1"}
    default-route: true
    source-routing: {table: 1001}
  - name: blue
    uplink: up-blue
    ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}
"#;

const IFCFG: &str = "etc/sysconfig/network-scripts";

fn hostnet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(args)
        .output()
        .expect("hostnet runs")
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Every file under `root/etc` with its bytes and mode.
fn tree(root: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.join("etc")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).expect("meta");
            if m.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).expect("under root").to_path_buf();
                let bytes = std::fs::read(&p).expect("read");
                out.insert(rel, (bytes, m.permissions().mode() & 0o7777));
            }
        }
    }
    out
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("host.yaml"), INPUT).expect("yaml");
        Fixture { dir }
    }
    fn root(&self) -> &Path {
        self.dir.path()
    }
    fn root_arg(&self) -> &str {
        self.dir.path().to_str().expect("utf-8")
    }
    fn yaml(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("yaml");
        p.to_str().expect("utf-8").to_string()
    }
    fn persist(&self, yaml: &str, format: &str, extra: &[&str]) -> Output {
        let mut args = vec![
            "persist",
            yaml,
            "--format",
            format,
            "--root",
            self.root_arg(),
        ];
        args.extend_from_slice(extra);
        hostnet(&args)
    }
}

#[test]
fn foreign_files_are_untouched_without_adopt_and_restore_brings_them_back() {
    let f = Fixture::new();
    let yaml = f.yaml("host.yaml", INPUT);
    let dir = f.root().join(IFCFG);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let foreign = "DEVICE=red\nBOOTPROTO=dhcp\n# the admin's\n";
    std::fs::write(dir.join("ifcfg-red"), foreign).expect("write");
    std::fs::set_permissions(
        dir.join("ifcfg-red"),
        std::fs::Permissions::from_mode(0o640),
    )
    .expect("chmod");
    let before = tree(f.root());

    let o = f.persist(&yaml, "ifcfg", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("ifcfg-red") && err.contains("--adopt"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(tree(f.root()), before, "nothing at all is written");

    let o = f.persist(&yaml, "ifcfg", &["--adopt"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let now = std::fs::read_to_string(dir.join("ifcfg-red")).expect("read");
    assert!(now.starts_with("# Written by hostnet"), "{now}");
    assert!(dir.join("route-red").exists() && dir.join("rule6-red").exists());

    let o = hostnet(&["persist", "--restore", "--root", f.root_arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(tree(f.root()), before, "byte for byte, mode included");
}

/// The review's finding 3: a header-less file the user put at a hostnet file name after a
/// persist is not removed by `--restore` (refused, exit 2, the file named, nothing
/// changed); with --adopt it is, and without it once the user's file is gone.
#[test]
fn restore_leaves_a_file_the_user_wrote_since_alone() {
    let f = Fixture::new();
    let yaml = f.yaml("host.yaml", INPUT);
    let o = f.persist(&yaml, "networkd", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mine = f.root().join("etc/systemd/network/50-hostnet-blue.network");
    assert!(mine.exists());
    std::fs::write(&mine, "# mine\n").expect("write");
    let before = tree(f.root());

    let o = hostnet(&["persist", "--restore", "--root", f.root_arg()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("50-hostnet-blue.network")
            && err.contains("--adopt")
            && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(tree(f.root()), before, "nothing at all is touched");
    let o = hostnet(&["persist", "--restore", "--root", f.root_arg(), "--dry-run"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));

    // Edited with the header kept, the file is hostnet's again: restored over.
    std::fs::write(&mine, "# Written by hostnet\n# edited\n").expect("write");
    let o = hostnet(&["persist", "--restore", "--root", f.root_arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !mine.exists() && tree(f.root()).is_empty(),
        "{:?}",
        tree(f.root())
    );

    // A second restore puts the persisted files back; the user's file placed again
    // is taken over only with --adopt.
    let o = hostnet(&["persist", "--restore", "--root", f.root_arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::fs::write(&mine, "# mine\n").expect("write");
    let o = hostnet(&["persist", "--restore", "--root", f.root_arg(), "--adopt"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!mine.exists());
}

#[test]
fn dry_run_shows_a_unified_diff_and_writes_nothing() {
    let f = Fixture::new();
    let yaml = f.yaml("host.yaml", INPUT);
    let o = f.persist(&yaml, "networkd", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = tree(f.root());
    let changed = f.yaml("changed.yaml", &INPUT.replace("table: 1001", "table: 1002"));
    let o = f.persist(&changed, "networkd", &["--dry-run"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("--- a/etc/systemd/network/50-hostnet-red.network\n+++ b/etc/systemd/network/50-hostnet-red.network"),
        "{out}"
    );
    assert!(
        out.contains("-Table=1001\n") && out.contains("+Table=1002\n"),
        "{out}"
    );
    assert!(
        out.contains("~ etc/systemd/network/50-hostnet-red.network"),
        "{out}"
    );
    assert_eq!(tree(f.root()), before);
}

#[test]
fn invalid_input_and_missing_arguments_exit_2() {
    let f = Fixture::new();
    let bad = f.yaml("bad.yaml", "networks:\n  - name: x\n    colour: red\n");
    let o = f.persist(&bad, "keyfile", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = hostnet(&["persist", "--root", f.root_arg()]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = hostnet(&["persist", "--restore", "--root", f.root_arg()]);
    assert_eq!(o.status.code(), Some(2), "no backup set yet: {}", text(&o));
    assert!(!f.root().join("etc").exists());
}

/// A write failure root cannot escape: RLIMIT_FSIZE makes write(2) fail with EFBIG once a
/// file would grow past the limit. The second persist rewrites small files first and
/// then a large route file; the large one fails, and everything must come back.
#[test]
fn a_write_failure_in_the_middle_restores_every_file_byte_for_byte() {
    let f = Fixture::new();
    let yaml = f.yaml("host.yaml", INPUT);
    let o = f.persist(&yaml, "ifcfg", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let before = tree(f.root());

    // MTU changes every ifcfg file (written first, in path order); 300 user routes on
    // `red` make route-red (written after the ifcfg files) far larger than the limit.
    let mut big = INPUT.replace(
        "    uplink: up-red\n",
        "    uplink: up-red\n    mtu: 1400\n",
    );
    big.push_str("routes:\n  config:\n");
    for i in 0..300 {
        big.push_str(&format!(
            "    - {{destination: 10.{}.{}.0/24, next-hop-address: 192.0.2.254, next-hop-interface: red, metric: 7}}\n",
            i / 256,
            i % 256
        ));
    }
    let big = f.yaml("big.yaml", &big);
    const LIMIT: u64 = 8192;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hostnet"));
    cmd.args(["persist", &big, "--format", "ifcfg", "--root", f.root_arg()]);
    // SAFETY: runs in the forked child before exec; setrlimit and signal are
    // async-signal-safe and touch only the child's own limits and dispositions.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: LIMIT,
                rlim_max: LIMIT,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // EFBIG instead of death by SIGXFSZ.
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let o = cmd.output().expect("hostnet runs");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("route-red") && err.contains("every file was restored"),
        "{err}"
    );
    assert_eq!(tree(f.root()), before, "every file byte for byte");

    // Without the limit the same change goes through, and --restore undoes it.
    let o = f.persist(&big, "ifcfg", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_ne!(tree(f.root()), before);
    let o = hostnet(&["persist", "--restore", "--root", f.root_arg()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(tree(f.root()), before);
}

#[test]
fn absent_networks_lose_their_files_but_foreign_ones_stay() {
    let f = Fixture::new();
    let yaml = f.yaml("host.yaml", INPUT);
    let o = f.persist(&yaml, "keyfile", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let kf = f.root().join("etc/NetworkManager/system-connections");
    assert!(kf.join("hostnet-blue.nmconnection").exists());
    let mode = std::fs::metadata(kf.join("hostnet-blue.nmconnection"))
        .expect("meta")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let gone = f.yaml(
        "gone.yaml",
        "networks:\n  - name: blue\n    state: absent\n  - name: red\n    state: absent\n",
    );
    // A foreign keyfile under a hostnet name is refused, and then nothing is removed.
    std::fs::write(
        kf.join("hostnet-red.nmconnection"),
        "[connection]\nid=mine\n",
    )
    .expect("w");
    let o = f.persist(&gone, "keyfile", &[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(kf.join("hostnet-blue.nmconnection").exists());
    std::fs::remove_file(kf.join("hostnet-red.nmconnection")).expect("rm");
    let o = f.persist(&gone, "keyfile", &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!kf.join("hostnet-blue.nmconnection").exists());
    assert!(String::from_utf8_lossy(&o.stdout)
        .contains("- etc/NetworkManager/system-connections/hostnet-blue.nmconnection"));
}

#[test]
fn every_format_says_what_its_stack_brings_up_and_what_restore_brings_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = dir.path().join("host.yaml");
    std::fs::write(
        &yaml,
        format!(
            "{INPUT}  - name: guests\n    bridge: br-guests\n    ipv4: {{address: [10.0.0.1/24]}}\n    \
             firewall: {{masquerade: {{out-interface: up-red}}}}\n    \
             dhcp-server: {{range: {{start: 10.0.0.100, end: 10.0.0.200}}}}\n"
        ),
    )
    .expect("write");
    let yaml = yaml.to_str().expect("utf-8");
    for (format, stack, unit) in [
        ("networkd", "systemd-networkd", "systemd-networkd.service"),
        ("keyfile", "NetworkManager", "NetworkManager.service"),
        ("ifupdown", "ifupdown2", "networking.service"),
        ("netplan", "netplan", "systemd-networkd.service"),
        ("ifcfg", "network-scripts", "network.service"),
    ] {
        let root = dir.path().join(format);
        let root_arg = root.to_str().expect("utf-8");
        let o = hostnet(&["persist", yaml, "--format", format, "--root", root_arg]);
        assert!(o.status.success(), "{}", text(&o));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(
            out.contains(&format!("At boot, {stack}")),
            "{format}: {out}"
        );
        assert!(
            out.contains(&format!(
                "(hostnet-restore.service, after {unit}) brings back"
            )),
            "{format}: {out}"
        );
        for what in [
            "the firewall (nftables) of network guests",
            "sysctls net.ipv4.ip_forward=1",
            "the DHCP servers (dnsmasq) of network guests",
        ] {
            assert!(out.contains(what), "{format}: {what}\n{out}");
        }
        // Nothing is committed under this root: restore would bring back nothing.
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("var/lib/hostnet/committed/host.yaml does not exist"),
            "{format}: {err}"
        );
    }
}
