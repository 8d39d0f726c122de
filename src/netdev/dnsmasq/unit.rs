//! DHCP servers as transient systemd units of their own, where systemd is PID 1.
//!
//! A dnsmasq that hostnet forks stays in the control group of whatever ran hostnet: a
//! oneshot unit running `hostnet apply`, or a `hostnet monitor` unit that is stopped or
//! restarted, takes every guest's DHCP server down with it. Started with `systemd-run` as
//! `hostnet-dnsmasq-KEY-NETWORK.service` (KEY the namespace's record key, so one network
//! name in two namespaces is two units), a server has a unit of its own, which systemd
//! supervises and restarts when dnsmasq fails.
//!
//! The unit runs exactly the command line the fork path runs (`Type=forking` with
//! dnsmasq's own PID file), so a server is identified, signalled and stopped the same way
//! whichever path started it: through its PID file, once `/proc/PID/cmdline` shows a
//! dnsmasq started with that PID file. systemd cannot enter a namespace for us: a named
//! namespace is given as `NetworkNamespacePath=/run/netns/NAME`, which systemd opens again
//! at every restart; an unnamed one has no path that stays its own (a `/proc/PID/ns/net`
//! would name whatever namespace that PID has after a restart), so its servers keep the
//! fork path, as they do where systemd is not PID 1 (containers, the tests).
//!
//! `HOSTNET_DNSMASQ_UNITS`: `auto` (the default: units where systemd runs), `yes`
//! (units whatever PID 1 is; the tests use it with a stand-in `systemd-run`), `no`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::render::PID_FILE;
use super::{process, ServerError};
use crate::netdev::netns_id::{NetnsId, NETNS_DIR};

/// The prefix of every server's unit name.
pub const UNIT_PREFIX: &str = "hostnet-dnsmasq-";
/// Where a unit's dnsmasq writes what it says before it has its log (systemd truncates it
/// at every start): the reason a start failed.
pub const STDERR_FILE: &str = "dnsmasq.stderr";
/// The environment variable that chooses the path.
pub const UNITS_ENV: &str = "HOSTNET_DNSMASQ_UNITS";
/// systemd's unit names are at most 255 characters long.
const UNIT_NAME_MAX: usize = 255;

/// Whether systemd runs this system (`sd_booted(3)`'s test).
pub fn systemd_booted() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// Whether servers are started as units (before the namespace is looked at).
fn wanted() -> bool {
    wanted_by(std::env::var(UNITS_ENV).ok().as_deref(), systemd_booted)
}

fn wanted_by(setting: Option<&str>, booted: impl FnOnce() -> bool) -> bool {
    match setting {
        Some("yes" | "1" | "true") => true,
        Some("no" | "0" | "false") => false,
        _ => booted(),
    }
}

/// Escapes a namespace key for a unit name the way `systemd-escape` does (`-` and
/// anything but letters, digits, `_`, `.` and `:` as `\xNN`), so that the first `-`
/// after the prefix ends the key: network names, which may hold `-`, come after it.
fn escape(key: &str) -> String {
    let mut out = String::new();
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// FNV-1a of a key too long to spell out in a unit name.
fn fnv(key: &str) -> u64 {
    key.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The unit name of `network`'s server in the namespace keyed `key`.
pub fn unit_name(key: &str, network: &str) -> String {
    let name = format!("{UNIT_PREFIX}{}-{network}.service", escape(key));
    if name.len() <= UNIT_NAME_MAX {
        return name;
    }
    format!("{UNIT_PREFIX}h{:016x}-{network}.service", fnv(key))
}

/// How this namespace's servers are started as units.
#[derive(Clone, Debug)]
pub struct Units {
    key: String,
    /// `NetworkNamespacePath=`; `None` for the host's own namespace.
    netns_path: Option<PathBuf>,
}

impl Units {
    /// The units of namespace `id`, when servers are to be units and the namespace has a
    /// path systemd can open again (the host's, or a named one).
    pub fn for_namespace(id: &NetnsId) -> Option<Units> {
        Units::of(id, wanted())
    }

    fn of(id: &NetnsId, wanted: bool) -> Option<Units> {
        if !wanted {
            return None;
        }
        let netns_path = match id {
            NetnsId::Host => None,
            NetnsId::Named(name) => Some(Path::new(NETNS_DIR).join(name)),
            NetnsId::Anonymous { .. } => return None,
        };
        Some(Units {
            key: id.key(),
            netns_path,
        })
    }

    pub fn name(&self, network: &str) -> String {
        unit_name(&self.key, network)
    }

    /// `systemctl stop` of the network's unit: ends a server systemd would otherwise
    /// restart, or one waiting to be restarted. A unit that is not loaded is no error;
    /// nor is any other failure, since the PID file's process is stopped next anyway.
    pub fn stop(&self, network: &str) {
        let _ = Command::new("systemctl")
            .args(["stop", "--quiet", &self.name(network)])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    /// The `systemd-run` command line that starts `argv` (dnsmasq's) as the network's
    /// unit, its files in `dir`.
    pub fn command(&self, network: &str, dir: &Path, argv: &[String]) -> Vec<String> {
        let mut c = vec![
            "systemd-run".to_string(),
            format!("--unit={}", self.name(network)),
            format!(
                "--description=hostnet DHCP server of network {network} ({})",
                self.key
            ),
            // A failed start leaves nothing loaded that would block the next one.
            "--collect".to_string(),
            "--quiet".to_string(),
            "--property=Type=forking".to_string(),
            format!("--property=PIDFile={}", dir.join(PID_FILE).display()),
            "--property=Restart=on-failure".to_string(),
            "--property=RestartSec=1".to_string(),
            format!(
                "--property=StandardError=truncate:{}",
                dir.join(STDERR_FILE).display()
            ),
        ];
        if let Some(p) = &self.netns_path {
            c.push(format!("--property=NetworkNamespacePath={}", p.display()));
        }
        c.push("--".to_string());
        c.extend(argv.iter().cloned());
        c
    }

    /// Starts `argv` as the network's unit and returns its PID: `systemd-run` returns once
    /// dnsmasq's first process has exited, its daemon set up (or failed).
    ///
    /// "Address already in use" (a dnsmasq that was just stopped may hold its sockets for
    /// a moment) is retried for up to a second, as on the fork path.
    pub fn start(&self, network: &str, dir: &Path, argv: &[String]) -> Result<i32, ServerError> {
        let mut argv = argv.to_vec();
        if let Some(first) = argv.first_mut() {
            // systemd runs programs by their path.
            if let Some(path) = in_path(first) {
                *first = path.display().to_string();
            }
        }
        let command = self.command(network, dir, &argv);
        let mut attempts = 0;
        loop {
            let _ = fs::remove_file(dir.join(STDERR_FILE));
            let out = run(&command)?;
            attempts += 1;
            if out.status.success() {
                break;
            }
            let said = fs::read_to_string(dir.join(STDERR_FILE)).unwrap_or_default();
            if said.contains("Address already in use") && attempts < 10 {
                // The failed unit is gone (--collect) before systemd-run returns.
                self.stop(network);
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if !said.trim().is_empty() {
                message = format!("{message} ({})", said.trim());
            }
            return Err(ServerError::Start {
                dir: dir.to_path_buf(),
                message: format!("systemd-run {}: {message}", self.name(network)),
            });
        }
        process::ours(dir)
            .map(|(pid, _)| pid)
            .ok_or_else(|| ServerError::Start {
                dir: dir.to_path_buf(),
                message: format!(
                    "unit {} started, but no dnsmasq runs behind its PID file",
                    self.name(network)
                ),
            })
    }
}

/// Runs a command of the service manager's and waits for it.
fn run(command: &[String]) -> Result<std::process::Output, ServerError> {
    let Some((program, args)) = command.split_first() else {
        return Err(ServerError::Spawn {
            program: String::new(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    };
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| ServerError::Spawn {
            program: program.clone(),
            source,
        })
}

/// The path of `program` in `PATH`, as a shell would find it.
fn in_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names_are_unique_per_namespace_and_network() {
        assert_eq!(
            unit_name("host", "tenant1"),
            "hostnet-dnsmasq-host-tenant1.service"
        );
        assert_eq!(
            unit_name("netns.blue", "t-1"),
            "hostnet-dnsmasq-netns.blue-t-1.service"
        );
        // A '-' in the namespace's name cannot make two keys and networks meet.
        assert_ne!(unit_name("netns.a-b", "c"), unit_name("netns.a", "b-c"));
        assert_eq!(
            unit_name("netns.a-b c", "c"),
            "hostnet-dnsmasq-netns.a\\x2db\\x20c-c.service"
        );
        let long = format!("netns.{}", "x".repeat(250));
        let name = unit_name(&long, "t1");
        assert!(name.len() <= UNIT_NAME_MAX, "{name}");
        assert!(name.starts_with("hostnet-dnsmasq-h") && name.ends_with("-t1.service"));
        assert_ne!(name, unit_name(&format!("{long}y"), "t1"));
    }

    #[test]
    fn the_unit_runs_dnsmasq_in_the_namespace_by_its_path() {
        let u = Units {
            key: "netns.blue".into(),
            netns_path: Some(PathBuf::from("/run/netns/blue")),
        };
        let c = u.command(
            "t1",
            Path::new("/var/lib/hostnet/dnsmasq/netns.blue/t1"),
            &[
                "/usr/sbin/dnsmasq".to_string(),
                "--conf-file=/dev/null".to_string(),
            ],
        );
        let text = c.join(" ");
        assert!(text.starts_with(
            "systemd-run --unit=hostnet-dnsmasq-netns.blue-t1.service --description=hostnet DHCP server of network t1 (netns.blue) --collect --quiet --property=Type=forking --property=PIDFile=/var/lib/hostnet/dnsmasq/netns.blue/t1/dnsmasq.pid --property=Restart=on-failure"
        ), "{text}");
        assert!(text.ends_with(
            "--property=NetworkNamespacePath=/run/netns/blue -- /usr/sbin/dnsmasq --conf-file=/dev/null"
        ), "{text}");
        let host = Units {
            key: "host".into(),
            netns_path: None,
        };
        let c = host.command("t1", Path::new("/d"), &["dnsmasq".to_string()]);
        assert!(
            !c.iter().any(|a| a.contains("NetworkNamespacePath")),
            "{c:?}"
        );
    }

    #[test]
    fn units_where_systemd_runs_and_never_for_unnamed_namespaces() {
        assert!(wanted_by(None, || true));
        assert!(!wanted_by(Some("auto"), || false));
        assert!(wanted_by(Some("yes"), || false));
        assert!(!wanted_by(Some("no"), || true));
        let anon = NetnsId::Anonymous {
            inode: 1,
            cookie: Some(2),
        };
        assert!(Units::of(&anon, true).is_none());
        assert!(Units::of(&NetnsId::Host, true).is_some());
        assert!(Units::of(&NetnsId::Host, false).is_none());
        let named = Units::of(&NetnsId::Named("blue".into()), true).expect("units");
        assert_eq!(named.netns_path, Some(PathBuf::from("/run/netns/blue")));
    }
}
