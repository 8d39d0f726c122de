//! NetworkManager as at boot, without the machine's system bus: a dbus-daemon of the
//! test's own (a system bus with a permissive policy, only root can reach its socket)
//! listens in a test directory, and NetworkManager runs in the sandbox host's network
//! namespace and a mount namespace of its own where that directory is `/run` (so
//! `/run/dbus/system_bus_socket` is the private bus), the persisted keyfiles are
//! `/etc/NetworkManager/system-connections`, its state directory and the machine's
//! configuration snippets and dispatcher scripts are hidden, and `/sys` is read-only (it
//! then treats links as initialized without udev) but for the devices' own directories,
//! where it writes bridge port settings. Readiness is NetworkManager's own
//! word: `nmcli` on the private bus until every device is connected.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::networkd::Daemon;
use super::sandbox::{output_within, script, Host, RUN_LIMIT};

pub const NETWORKMANAGER: &str = "/usr/sbin/NetworkManager";
pub const DBUS_DAEMON: &str = "/usr/bin/dbus-daemon";
pub const NMCLI: &str = "/usr/bin/nmcli";
/// What a NetworkManager boot needs (it runs in a private mount namespace: unshare).
pub const PROGRAMS: [&str; 4] = [NETWORKMANAGER, DBUS_DAEMON, NMCLI, "/usr/bin/unshare"];

/// The private bus and NetworkManager on it.
pub struct Nm {
    // Dropped first: NetworkManager before its bus.
    pub nm: Daemon,
    _bus: Daemon,
    socket: PathBuf,
}

/// Starts the private system bus and NetworkManager on the keyfiles in `connections`.
pub fn start(host: &Host, connections: &Path, work: &Path) -> Nm {
    let run = work.join("run");
    let var_lib = work.join("var-lib");
    std::fs::create_dir_all(run.join("dbus")).expect("mkdir");
    std::fs::create_dir_all(&var_lib).expect("mkdir");
    let socket = run.join("dbus/system_bus_socket");
    let conf = work.join("bus.conf");
    std::fs::write(
        &conf,
        format!(
            r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="root"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
  </policy>
</busconfig>
"#,
            socket.display()
        ),
    )
    .expect("write the bus configuration");
    let mut bus = Command::new(DBUS_DAEMON);
    bus.arg("--nofork")
        .arg(format!("--config-file={}", conf.display()));
    let mut bus = Daemon::spawn("dbus-daemon", host, bus, &work.join("bus.log"));
    let start = Instant::now();
    while !socket.exists() {
        assert!(
            bus.exited().is_none() && start.elapsed() < Duration::from_secs(30),
            "the private bus did not come up: {}",
            bus.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let nm_conf = work.join("NetworkManager.conf");
    std::fs::write(
        &nm_conf,
        "# Only the keyfiles under test; nothing of the host's DNS or hostname.\n\
         [main]\nplugins=keyfile\nno-auto-default=*\ndns=none\nrc-manager=unmanaged\n\
         hostname-mode=none\nauth-polkit=false\n\n[logging]\nlevel=INFO\n",
    )
    .expect("write NetworkManager.conf");
    let mut cmd = Command::new("/bin/sh");
    // NetworkManager writes a bridge port's settings to its brport/ directory in /sys.
    cmd.arg(script("private-mounts.sh"))
        .args(["--sysfs", "ro-but-net", "--bind"])
        .arg(&run)
        .arg("/run")
        .arg("--bind")
        .arg(connections)
        .arg("/etc/NetworkManager/system-connections")
        .arg("--bind")
        .arg(&var_lib)
        .arg("/var/lib/NetworkManager");
    for hidden in [
        "/etc/NetworkManager/conf.d",
        "/usr/lib/NetworkManager/conf.d",
        "/etc/NetworkManager/dispatcher.d",
    ] {
        cmd.args(["--tmpfs", hidden]);
    }
    cmd.args(["--", NETWORKMANAGER, "--debug"])
        .arg(format!("--config={}", nm_conf.display()));
    let nm = Daemon::spawn("NetworkManager", host, cmd, &work.join("nm.log"));
    Nm {
        nm,
        _bus: bus,
        socket,
    }
}

impl Nm {
    /// `nmcli ARGS` on the private bus: what it printed on stdout.
    pub fn nmcli(&self, args: &[&str]) -> String {
        let mut nmcli = Command::new(NMCLI);
        nmcli.args(args).env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            format!("unix:path={}", self.socket.display()),
        );
        let out = output_within(&mut nmcli, RUN_LIMIT);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `nmcli -t -f DEVICE,STATE device` on the private bus.
    fn device_states(&self) -> Vec<(String, String)> {
        self.nmcli(&["-t", "-f", "DEVICE,STATE", "device"])
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(d, s)| (d.to_string(), s.to_string()))
            .collect()
    }

    /// Waits until NetworkManager reports every one of `devices` connected; fails when
    /// one is unmanaged or NetworkManager logged a failed activation, or it exited, or
    /// after `limit`.
    pub fn wait_connected(&mut self, devices: &[String], limit: Duration) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let states = self.device_states();
            let of = |d: &str| {
                states
                    .iter()
                    .find(|(n, _)| n == d)
                    .map_or("(none)", |(_, s)| s.as_str())
            };
            let report = || {
                devices
                    .iter()
                    .map(|d| format!("{d}: {}", of(d)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let log = self.nm.log();
            if log.contains("Activation: failed") || devices.iter().any(|d| of(d) == "unmanaged") {
                return Err(format!("{}; {log}", report()));
            }
            if devices.iter().all(|d| of(d) == "connected") {
                return Ok(());
            }
            if let Some(status) = self.nm.exited() {
                return Err(format!(
                    "NetworkManager exited ({status}): {}; {log}",
                    report()
                ));
            }
            if start.elapsed() > limit {
                return Err(format!(
                    "not connected after {limit:?}: {}; {log}",
                    report()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
