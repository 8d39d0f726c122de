//! ifupdown2 as Debian's `networking.service` runs it at boot (`ifup -a`), and as
//! Proxmox VE's "Apply configuration" runs it on a host that is up (`ifreload -a`), inside
//! the sandbox host's network namespace and a mount namespace of its own: the persisted
//! `interfaces.d` over `/etc/network/interfaces.d`, an interfaces file of the test's that
//! sources it (given with `-i`, and bound over `/etc/network/interfaces` for `ifreload`,
//! which has no `-i`: the machine's file is never read), a
//! test directory over `/run` (its lock and state, `/run/network`) and over `/var/tmp`
//! (its state directory), and the hook directories (`/etc/network/if-*.d`) hidden: they
//! belong to the machine's packages, not to the files under test.

use std::path::Path;
use std::process::{Command, Output};

use super::sandbox::{output_within, script, Host, RUN_LIMIT};

pub const IFUP: &str = "/usr/sbin/ifup";
pub const IFRELOAD: &str = "/usr/sbin/ifreload";

/// `ifup -a` of the files in `interfaces_d`, with the test's directories under `work`.
pub fn ifup_all(host: &Host, interfaces_d: &Path, work: &Path) -> Output {
    ifupdown2(host, interfaces_d, work, |i| {
        vec![IFUP.into(), "-a".into(), "-i".into(), i.into()]
    })
}

/// `ifreload -a` after [`ifup_all`] with the same `work` (ifupdown2's state of that run
/// is kept there): every `auto` interface is brought up again, `post-up` included.
pub fn ifreload_all(host: &Host, interfaces_d: &Path, work: &Path) -> Output {
    ifupdown2(host, interfaces_d, work, |_| {
        vec![IFRELOAD.into(), "-a".into()]
    })
}

/// Runs every `keyword` command (`post-up`, `pre-down`) of the files in `interfaces_d`
/// through `/bin/sh` in the host, as ifupdown2 runs them (`shell=True`), in file order;
/// each must exit 0 and say nothing.
pub fn run_each(host: &Host, interfaces_d: &Path, keyword: &str) {
    let mut files: Vec<_> = std::fs::read_dir(interfaces_d)
        .expect("read the files")
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let prefix = format!("\t{keyword} ");
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read a file");
        for cmd in text.lines().filter_map(|l| l.strip_prefix(prefix.as_str())) {
            let out =
                host.run(|| output_within(Command::new("/bin/sh").args(["-c", cmd]), RUN_LIMIT));
            assert!(
                out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
                "{keyword} {cmd} ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Runs ifupdown2's `argv` (given the interfaces file) in the private mounts.
fn ifupdown2(
    host: &Host,
    interfaces_d: &Path,
    work: &Path,
    argv: impl FnOnce(&Path) -> Vec<std::ffi::OsString>,
) -> Output {
    let interfaces = work.join("interfaces");
    std::fs::write(
        &interfaces,
        "# What Debian's /etc/network/interfaces says, and Proxmox VE's.\n\
         auto lo\niface lo inet loopback\n\nsource /etc/network/interfaces.d/*\n",
    )
    .expect("write the interfaces file");
    let run = work.join("run");
    let var_tmp = work.join("var-tmp");
    std::fs::create_dir_all(run.join("network")).expect("mkdir");
    std::fs::create_dir_all(&var_tmp).expect("mkdir");
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(script("private-mounts.sh"))
        // ifupdown2 sets some bridge and port attributes through sysfs.
        .args(["--sysfs", "rw", "--bind"])
        .arg(&run)
        .arg("/run")
        .arg("--bind")
        .arg(&var_tmp)
        .arg("/var/tmp")
        .arg("--bind")
        .arg(interfaces_d)
        .arg("/etc/network/interfaces.d")
        .arg("--bind")
        .arg(&interfaces)
        .arg("/etc/network/interfaces");
    for hooks in ["if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"] {
        cmd.arg("--tmpfs").arg(format!("/etc/network/{hooks}"));
    }
    cmd.arg("--").args(argv(&interfaces));
    let before = machines_own();
    let out = host.run(|| output_within(&mut cmd, RUN_LIMIT));
    assert_eq!(
        machines_own(),
        before,
        "ifup changed the machine's own ifupdown files"
    );
    out
}

/// What of the machine's ifupdown state a stray `ifup` would change: its interfaces
/// file, and ifupdown2's runtime and state directories.
fn machines_own() -> Vec<(String, Option<Vec<u8>>)> {
    let list = |d: &str| -> Option<Vec<u8>> {
        let mut names: Vec<String> = std::fs::read_dir(d)
            .ok()?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Some(names.join("\n").into_bytes())
    };
    vec![
        (
            "/etc/network/interfaces".into(),
            std::fs::read("/etc/network/interfaces").ok(),
        ),
        ("/run/network".into(), list("/run/network")),
        ("/var/tmp/network".into(), list("/var/tmp/network")),
    ]
}
