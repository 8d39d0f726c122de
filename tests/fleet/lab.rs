//! A fleet of namespace "hosts" reached the way Ansible reaches real ones: each host is a
//! network namespace with its own `sshd` on its management address; the controller is one
//! more namespace, bridged to every host's `eth0`.
//!
//! ```text
//!  ctl namespace: mgmt0 (bridge, 192.0.2.254/24) ── m1 … mN (veth)
//!                                                    │
//!  host i:        eth0 192.0.2.i/24 (sshd listens here)   eth1 ── eth1p (a spare NIC)
//! ```
//!
//! Everything lives in the lab's own namespaces and temporary directory; dropping the lab
//! ends every process in them (by PID) and deletes the namespaces.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The management network's gateway: the controller's bridge address.
pub const GATEWAY: &str = "192.0.2.254";

/// One namespace host.
#[derive(Debug, Clone)]
pub struct Host {
    /// The inventory name, `hv01` …
    pub name: String,
    pub index: u32,
    pub ns: String,
    /// The management address, on `eth0`.
    pub addr: String,
    /// The host's own directory (state directories, sshd log).
    pub dir: PathBuf,
}

pub struct Lab {
    pub dir: tempfile::TempDir,
    pub ctl: String,
    pub hosts: Vec<Host>,
    sshd: Vec<Child>,
    namespaces: Vec<String>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs `ip [-n NS] -batch -` with the given lines.
fn ip_batch(ns: Option<&str>, lines: &[String]) {
    let mut cmd = Command::new("ip");
    if let Some(ns) = ns {
        cmd.args(["-n", ns]);
    }
    let mut child = cmd
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(lines.join("\n").as_bytes())
        .expect("write ip batch");
    drop(stdin);
    let out = child.wait_with_output().expect("ip -batch");
    assert!(
        out.status.success(),
        "ip -batch in {ns:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path) {
    run(Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "",
            "-C",
            "hostnet-fleet-test",
            "-f",
        ])
        .arg(path));
}

impl Lab {
    /// Builds `n` hosts (`n` ≤ 200), each with a running sshd.
    pub fn build(n: u32) -> Lab {
        assert!((1..=200).contains(&n), "1..=200 hosts fit in 192.0.2.0/24");
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let tag = format!(
            "hnf{}x{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("hostnet-fleet-")
            .tempdir()
            .expect("tempdir");
        let ctl = format!("{tag}-ctl");
        let hosts: Vec<Host> = (1..=n)
            .map(|i| Host {
                name: format!("hv{i:02}"),
                index: i,
                ns: format!("{tag}-h{i}"),
                addr: format!("192.0.2.{i}"),
                dir: dir.path().join(format!("hv{i:02}")),
            })
            .collect();
        let mut lab = Lab {
            dir,
            ctl,
            hosts,
            sshd: Vec::new(),
            namespaces: Vec::new(),
        };
        lab.make_namespaces();
        lab.start_sshds();
        lab
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    fn make_namespaces(&mut self) {
        let mut names = vec![self.ctl.clone()];
        names.extend(self.hosts.iter().map(|h| h.ns.clone()));
        // Recorded first, so that a failure half-way still deletes what was made.
        self.namespaces = names.clone();
        ip_batch(
            None,
            &names
                .iter()
                .map(|n| format!("netns add {n}"))
                .collect::<Vec<_>>(),
        );
        let mut ctl = vec![
            "link set lo up".to_string(),
            "link add mgmt0 type bridge".to_string(),
            "link set mgmt0 up".to_string(),
            format!("addr add {GATEWAY}/24 dev mgmt0"),
        ];
        for h in &self.hosts {
            ctl.push(format!(
                "link add m{} type veth peer name eth0 netns {}",
                h.index, h.ns
            ));
            ctl.push(format!("link set m{} master mgmt0", h.index));
            ctl.push(format!("link set m{} up", h.index));
        }
        ip_batch(Some(&self.ctl), &ctl);
        for h in &self.hosts {
            fs::create_dir_all(&h.dir).expect("host dir");
            ip_batch(
                Some(&h.ns),
                &[
                    "link set lo up".to_string(),
                    "link set eth0 up".to_string(),
                    format!("addr add {}/24 dev eth0", h.addr),
                    "link add eth1 type veth peer name eth1p".to_string(),
                    "link set eth1 up".to_string(),
                    "link set eth1p up".to_string(),
                ],
            );
        }
    }

    /// Keys made here; one sshd per host, listening on its management address only.
    fn start_sshds(&mut self) {
        let d = self.path().to_path_buf();
        keygen(&d.join("ssh_host_ed25519_key"));
        keygen(&d.join("id_ed25519"));
        fs::copy(d.join("id_ed25519.pub"), d.join("authorized_keys")).expect("authorized_keys");
        let host_key = fs::read_to_string(d.join("ssh_host_ed25519_key.pub")).expect("host key");
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        let known: String = self
            .hosts
            .iter()
            .map(|h| format!("{} {}\n", h.addr, host_key.join(" ")))
            .collect();
        fs::write(d.join("known_hosts"), known).expect("known_hosts");
        fs::write(
            d.join("sshd_config"),
            format!(
                "HostKey {0}/ssh_host_ed25519_key\nAuthorizedKeysFile {0}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nUseDNS no\n\
                 MaxStartups 200\nMaxSessions 50\nLogLevel INFO\nSubsystem sftp internal-sftp\n",
                d.display()
            ),
        )
        .expect("sshd_config");
        fs::write(
            d.join("ssh_config"),
            format!(
                "Host *\n  IdentityFile {0}/id_ed25519\n  IdentitiesOnly yes\n\
                 UserKnownHostsFile {0}/known_hosts\n  GlobalKnownHostsFile /dev/null\n\
                 StrictHostKeyChecking yes\n  PasswordAuthentication no\n  BatchMode yes\n\
                 LogLevel ERROR\n",
                d.display()
            ),
        )
        .expect("ssh_config");
        // sshd's privilege-separation directory (Debian's unit makes it at service start).
        fs::create_dir_all("/run/sshd").expect("/run/sshd");
        for h in self.hosts.clone() {
            let child = Command::new("ip")
                .args(["netns", "exec", &h.ns, "/usr/sbin/sshd", "-D", "-f"])
                .arg(d.join("sshd_config"))
                .arg("-E")
                .arg(h.dir.join("sshd.log"))
                .args(["-o", &format!("ListenAddress={}", h.addr)])
                .arg("-o")
                .arg(format!("PidFile={}", h.dir.join("sshd.pid").display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("sshd");
            self.sshd.push(child);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        for h in &self.hosts {
            let want = format!("Server listening on {} port 22", h.addr);
            loop {
                let log = fs::read_to_string(h.dir.join("sshd.log")).unwrap_or_default();
                if log.contains(&want) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "{}: sshd did not start listening: {log}",
                    h.name
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The names of the links in a host's namespace.
    pub fn links(&self, h: &Host) -> Vec<String> {
        run(Command::new("ip").args(["-n", &h.ns, "-o", "link", "show"]))
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }

    /// `ip rule show` in a host's namespace.
    pub fn rules(&self, h: &Host) -> String {
        run(Command::new("ip").args(["-n", &h.ns, "rule", "show"]))
    }

    /// The addresses on a host's `eth0`.
    pub fn mgmt_addresses(&self, h: &Host) -> String {
        run(Command::new("ip").args(["-n", &h.ns, "-o", "-4", "addr", "show", "dev", "eth0"]))
    }

    fn pids_in(ns: &str) -> Vec<i32> {
        Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        for c in &mut self.sshd {
            let _ = c.kill();
            let _ = c.wait();
        }
        // What else runs in the lab's namespaces was started through it: sshd sessions,
        // hostnet's checkpoint watchdogs, the controller's ssh ControlMasters.
        for ns in &self.namespaces {
            for pid in Self::pids_in(ns) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        let del: Vec<String> = self
            .namespaces
            .iter()
            .map(|n| format!("netns del {n}"))
            .collect();
        let _ = Command::new("ip")
            .args(["-force", "-batch", "-"])
            .stdin(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                if let Some(mut i) = c.stdin.take() {
                    let _ = i.write_all(del.join("\n").as_bytes());
                }
                c.wait()
            });
    }
}
