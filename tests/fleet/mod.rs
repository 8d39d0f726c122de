//! The fleet tests' shared parts: what they need on this machine, the namespace lab, and
//! the Ansible controller.

pub mod ansible;
pub mod lab;

use std::path::{Path, PathBuf};

/// The venv `tests/fleet/setup.sh` makes (`HOSTNET_FLEET_VENV` moves it).
pub fn venv() -> PathBuf {
    std::env::var_os("HOSTNET_FLEET_VENV").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fleet-venv"),
        PathBuf::from,
    )
}

/// Returns false (after printing why) when a fleet test cannot run here; with
/// `HOSTNET_REQUIRE_KERNEL_TESTS=1` (CI) that is a failure instead.
pub fn can_run(test: &str, needs_root: bool) -> bool {
    let venv = venv();
    let mut missing: Vec<String> = Vec::new();
    if needs_root && !nix::unistd::geteuid().is_root() {
        missing.push("root (network namespaces, sshd)".into());
    }
    if !venv.join("bin/ansible-playbook").exists() {
        missing.push(format!(
            "ansible-core in {} (run tests/fleet/setup.sh)",
            venv.display()
        ));
    }
    if needs_root {
        for tool in [
            "/usr/sbin/sshd",
            "/usr/bin/ssh",
            "/usr/bin/ssh-keygen",
            "/usr/sbin/nft",
        ] {
            if !Path::new(tool).exists() {
                missing.push(format!("{tool} (run tests/fleet/setup.sh)"));
            }
        }
    }
    if missing.is_empty() {
        return true;
    }
    let why = format!("needs {}", missing.join(", "));
    if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
        panic!("{test}: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
    }
    eprintln!("SKIP {test}: {why}");
    false
}

/// A positive integer from the environment, or the default.
pub fn env_u32(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|v| *v > 0)
        .unwrap_or(default)
}
