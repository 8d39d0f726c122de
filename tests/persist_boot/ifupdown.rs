//! ifupdown2 as Debian's `networking.service` runs it at boot (`ifup -a`), inside the
//! sandbox host's network namespace and a mount namespace of its own: the persisted
//! `interfaces.d` over `/etc/network/interfaces.d`, an interfaces file of the test's that
//! sources it (given with `-i`: the machine's `/etc/network/interfaces` is never read), a
//! test directory over `/run` (its lock and state, `/run/network`) and over `/var/tmp`
//! (its state directory), and the hook directories (`/etc/network/if-*.d`) hidden: they
//! belong to the machine's packages, not to the files under test.

use std::path::Path;
use std::process::{Command, Output};

use super::sandbox::{output_within, script, Host, RUN_LIMIT};

pub const IFUP: &str = "/usr/sbin/ifup";

/// `ifup -a` of the files in `interfaces_d`, with the test's directories under `work`.
pub fn ifup_all(host: &Host, interfaces_d: &Path, work: &Path) -> Output {
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
        .arg("/etc/network/interfaces.d");
    for hooks in ["if-pre-up.d", "if-up.d", "if-down.d", "if-post-down.d"] {
        cmd.arg("--tmpfs").arg(format!("/etc/network/{hooks}"));
    }
    cmd.args(["--", IFUP, "-a", "-i"]).arg(&interfaces);
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
