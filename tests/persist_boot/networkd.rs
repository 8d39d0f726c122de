//! systemd-networkd, started as at boot but inside the sandbox host's network namespace
//! and a mount namespace of its own: the persisted files over `/etc/systemd/network`, a
//! test directory over `/run/systemd` (its state files, read here), an empty
//! `/usr/lib/systemd/network` (the distribution's defaults are not under test) and
//! `/run/dbus` (the machine's system bus, if any, is not networkd's to join), and `/sys`
//! read-only, so that it treats links as initialized without udev, as in a container.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::sandbox::{script, Host};

/// Where Debian 12 installs it (package `systemd`).
pub const NETWORKD: &str = "/lib/systemd/systemd-networkd";

/// A process this test started, stopped (by its PID) when dropped.
pub struct Daemon {
    pub name: &'static str,
    child: Child,
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `cmd` with stdout and stderr into `log`.
    pub fn spawn(name: &'static str, host: &Host, mut cmd: Command, log: &Path) -> Daemon {
        let out = File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = host.run(|| cmd.spawn().unwrap_or_else(|e| panic!("start {name}: {e}")));
        Daemon {
            name,
            child,
            log: log.to_path_buf(),
        }
    }

    /// The log so far, under the daemon's name.
    pub fn log(&self) -> String {
        format!(
            "--- {} ({})\n{}",
            self.name,
            self.log.display(),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        )
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            // A daemon that does not stop on SIGTERM must not hang the suite.
            let start = Instant::now();
            while self.exited().is_none() && start.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Starts systemd-networkd on the files in `network_dir`, its runtime directory in
/// `run_dir` (which must exist and be empty).
pub fn start(host: &Host, network_dir: &Path, run_dir: &Path, log: &Path) -> Daemon {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg(script("private-mounts.sh"))
        .args(["--sysfs", "ro", "--bind"])
        .arg(run_dir)
        .arg("/run/systemd")
        .arg("--bind")
        .arg(network_dir)
        .arg("/etc/systemd/network")
        .args([
            "--tmpfs",
            "/usr/lib/systemd/network",
            "--tmpfs",
            "/run/dbus",
        ])
        .args(["--", NETWORKD]);
    Daemon::spawn("systemd-networkd", host, cmd, log)
}

/// `ADMIN_STATE` of a link in networkd's state file (`/run/systemd/netif/links/INDEX`),
/// if it has written one.
fn admin_state(run_dir: &Path, ifindex: u32) -> Option<String> {
    let text =
        std::fs::read_to_string(run_dir.join("netif/links").join(ifindex.to_string())).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("ADMIN_STATE="))
        .map(str::to_string)
}

/// Each device's `ADMIN_STATE` (`None` while the device or its state file is missing).
pub type States = Vec<(String, Option<String>)>;

/// Waits until `done` holds for the devices' states, or fails with what networkd reached:
/// a `failed` link, a link it does not manage, networkd gone, or not `done` after
/// `limit`.
pub fn wait(
    host: &Host,
    daemon: &mut Daemon,
    run_dir: &Path,
    devices: &[String],
    limit: Duration,
    mut done: impl FnMut(&States) -> bool,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let states: States = devices
            .iter()
            .map(|d| {
                let s = host.ifindex(d).and_then(|i| admin_state(run_dir, i));
                (d.clone(), s)
            })
            .collect();
        let report = || {
            states
                .iter()
                .map(|(d, s)| format!("{d}: {}", s.as_deref().unwrap_or("(none)")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some((d, s)) = states
            .iter()
            .find(|(_, s)| matches!(s.as_deref(), Some("failed" | "unmanaged" | "linger")))
        {
            return Err(format!(
                "{d} is {} ({}); {}",
                s.as_deref().unwrap_or_default(),
                report(),
                daemon.log()
            ));
        }
        if done(&states) {
            return Ok(());
        }
        if let Some(status) = daemon.exited() {
            return Err(format!(
                "networkd exited ({status}) with {}\n{}",
                report(),
                daemon.log()
            ));
        }
        if start.elapsed() > limit {
            return Err(format!(
                "not done after {limit:?}: {}; {}",
                report(),
                daemon.log()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every device `configured`: networkd has set all its files say, and (its own
/// condition) the link's static addresses have passed duplicate address detection.
pub fn all_configured(states: &States) -> bool {
    states
        .iter()
        .all(|(_, s)| s.as_deref() == Some("configured"))
}
