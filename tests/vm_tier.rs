//! The real-kernel tier: boots Debian's own kernel in qemu (`tests/vm/run.sh`) and runs
//! kernel test binaries inside it, where 802.1q, bonding, dummy and VRF exist and the
//! kernel is older than most hosts' (so the driver is checked on two kernels).
//!
//! Needs `tests/vm/setup.sh` once (CI runs it). Without it, or without qemu, the tests
//! print a `SKIP` line, unless `HOSTNET_REQUIRE_VM_TIER=1` (CI) makes that a failure.
//! The test binaries must be built from the current sources: `cargo test` builds every
//! test target before running any; for a run of this file alone, name the others too
//! (`cargo test --test real_kernel --test linux_driver --test kernel_apply --test nmstate
//! --test vlan_aware --test vm_tier`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

fn vm_dir() -> PathBuf {
    std::env::var_os("HOSTNET_VM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(MANIFEST).join("target/vm"))
}

/// Why the tier cannot run here, if it cannot.
fn unavailable() -> Option<String> {
    if !vm_dir().join("ready").is_file() {
        return Some(format!(
            "{} is not prepared (run tests/vm/setup.sh as root)",
            vm_dir().display()
        ));
    }
    let qemu = Command::new("qemu-system-x86_64").arg("--version").output();
    if !qemu.is_ok_and(|o| o.status.success()) {
        return Some("qemu-system-x86_64 is not installed (tests/vm/setup.sh installs it)".into());
    }
    None
}

fn skip_or_fail(test: &str) -> bool {
    let Some(why) = unavailable() else {
        return false;
    };
    if std::env::var("HOSTNET_REQUIRE_VM_TIER").as_deref() == Ok("1") {
        panic!("{test}: {why}, and HOSTNET_REQUIRE_VM_TIER=1 forbids skipping");
    }
    eprintln!("SKIP {test}: {why}");
    true
}

/// The newest of the sources a test binary for `tests/NAME.rs` is built from.
fn newest_source(name: &str) -> SystemTime {
    fn walk(dir: &Path, newest: &mut SystemTime) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, newest);
            } else if p.extension().is_some_and(|x| x == "rs") {
                if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                    *newest = (*newest).max(t);
                }
            }
        }
    }
    let mut newest = SystemTime::UNIX_EPOCH;
    let root = Path::new(MANIFEST);
    walk(&root.join("src"), &mut newest);
    walk(&root.join("tests/common"), &mut newest);
    if let Ok(t) =
        std::fs::metadata(root.join(format!("tests/{name}.rs"))).and_then(|m| m.modified())
    {
        newest = newest.max(t);
    }
    newest
}

/// The test binary cargo built for `tests/NAME.rs`: the newest `NAME-<hash>` next to
/// this one. Panics when it is missing or older than the sources.
fn test_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let deps = exe.parent().expect("deps dir");
    let prefix = format!("{name}-");
    let found = std::fs::read_dir(deps)
        .expect("read deps dir")
        .flatten()
        .filter(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.strip_prefix(&prefix)
                .is_some_and(|h| h.len() == 16 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max();
    let Some((built, path)) = found else {
        panic!("no test binary for tests/{name}.rs in {}: build it with `cargo test --test {name} --no-run`", deps.display());
    };
    assert!(
        built >= newest_source(name),
        "{} is older than the sources: build it with `cargo test --test {name} --no-run`",
        path.display()
    );
    path
}

/// Boots the VM and runs `tests/NAME.rs`'s binary inside, one test at a time.
fn run_in_vm(name: &str) {
    if skip_or_fail(name) {
        return;
    }
    if !Path::new(MANIFEST)
        .join(format!("tests/{name}.rs"))
        .is_file()
    {
        eprintln!("SKIP {name}: tests/{name}.rs does not exist in this tree");
        return;
    }
    let bin = test_binary(name);
    let mut cmd = Command::new(Path::new(MANIFEST).join("tests/vm/run.sh"));
    cmd.arg("-d").arg(vm_dir());
    // The tests run the CLI by its build path and cross-check with iproute2's `ip` and
    // `bridge` (busybox's own `ip` in the guest lacks most of its options).
    cmd.arg("-c").arg(env!("CARGO_BIN_EXE_hostnet"));
    for tool in ["ip", "bridge"] {
        let found = ["/usr/bin", "/usr/sbin", "/bin", "/sbin"]
            .iter()
            .map(|d| Path::new(d).join(tool))
            .find(|p| p.is_file());
        if let Some(p) = found {
            cmd.arg("-c").arg(p);
        }
    }
    cmd.arg(&bin).arg("--test-threads=1");
    let out = cmd.output().expect("run tests/vm/run.sh");
    let console = String::from_utf8_lossy(&out.stdout);
    let status = String::from_utf8_lossy(&out.stderr);
    // The console carries the guest's test report; show it whatever the outcome.
    println!("{console}\n{status}");
    assert!(
        out.status.success(),
        "{name} failed inside the VM ({}): see the console above",
        status.trim()
    );
    assert!(
        console.contains("test result: ok."),
        "{name}: no test report from the VM"
    );
}

/// VLAN, bond and the other devices this host's kernel lacks (`tests/real_kernel.rs`).
#[test]
fn real_kernel_features_in_vm() {
    run_in_vm("real_kernel");
}

/// The netlink driver's own tests on Debian 12's kernel (6.1), an older kernel than the
/// host's.
#[test]
fn linux_driver_on_debian_kernel() {
    run_in_vm("linux_driver");
}

/// Apply, re-apply, rollback and the CLI on Debian 12's kernel.
#[test]
fn kernel_apply_on_debian_kernel() {
    run_in_vm("kernel_apply");
}

/// The nmstate corpus on Debian 12's kernel, which has bridge VLAN filtering: port VLANs
/// (`linux_bridge_port_vlans`) are checked there against `bridge -j vlan show`.
#[test]
fn nmstate_corpus_on_debian_kernel() {
    run_in_vm("nmstate");
}

/// Networks on a shared VLAN-aware bridge (`tests/vlan_aware.rs`): VLAN filtering and
/// 802.1Q, which this host's kernel lacks.
#[test]
fn vlan_aware_networks_on_debian_kernel() {
    run_in_vm("vlan_aware");
}
