//! Sets `HOSTNET_VERSION` for `hostnet --version`: the crate's version and, when built
//! from a git checkout, the commit (`0.1.0 (git 1a2b3c4d5e6f)`). A build from a source
//! tarball, or without git, gets the crate's version alone.

use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    let version = env!("CARGO_PKG_VERSION");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=HOSTNET_BUILD_COMMIT");
    // Packagers building outside the checkout can say which commit it was.
    // Only this checkout's own commit: not that of a repository it was copied into.
    let own = git(&["rev-parse", "--show-toplevel"]).is_some_and(|top| {
        let here = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        std::fs::canonicalize(top).ok() == std::fs::canonicalize(here).ok()
    });
    let commit = std::env::var("HOSTNET_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            own.then(|| git(&["rev-parse", "--short=12", "HEAD"]))
                .flatten()
        });
    if let Some(commit) = &commit {
        println!("cargo:rustc-env=HOSTNET_VERSION={version} (git {commit})");
    } else {
        println!("cargo:rustc-env=HOSTNET_VERSION={version}");
    }
    // Rebuild when HEAD moves: HEAD itself (a checkout) and the branch it points to (a
    // commit). Only files that exist, or Cargo would run this script on every build.
    if !own {
        return;
    }
    let dirs = [
        git(&["rev-parse", "--git-dir"]),
        git(&["rev-parse", "--git-common-dir"]),
    ];
    let branch = git(&["rev-parse", "--symbolic-full-name", "HEAD"]);
    for dir in dirs.iter().flatten() {
        let dir = PathBuf::from(dir);
        let mut watch = vec![dir.join("HEAD"), dir.join("packed-refs")];
        if let Some(b) = &branch {
            watch.push(dir.join(b));
        }
        for p in watch.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}
