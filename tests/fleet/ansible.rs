//! The Ansible controller of the fleet tests: the collection built and installed from
//! `ansible/`, an inventory for the lab's hosts in the layout of the collection's example
//! (its group variables are used as they are), and runs of `ansible-playbook` in the lab's
//! controller namespace.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use super::lab::{Host, Lab};

/// Where the collection's source is.
pub fn collection_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("ansible")
}

/// One host's line of the play recap.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recap {
    pub ok: u32,
    pub changed: u32,
    pub unreachable: u32,
    pub failed: u32,
}

/// What one `ansible-playbook` run did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub out: String,
    pub secs: f64,
    pub recap: BTreeMap<String, Recap>,
}

impl Run {
    /// Every listed host's recap, or a failure naming the missing one.
    pub fn recap_of(&self, host: &str) -> Recap {
        *self
            .recap
            .get(host)
            .unwrap_or_else(|| panic!("{host} is not in the recap:\n{}", self.out))
    }
}

/// Parses `PLAY RECAP` lines: `hv01 : ok=1 changed=1 unreachable=0 failed=0 …`.
pub fn parse_recap(out: &str) -> BTreeMap<String, Recap> {
    let mut recap = BTreeMap::new();
    let Some(start) = out.rfind("PLAY RECAP") else {
        return recap;
    };
    for line in out[start..].lines().skip(1) {
        let Some((host, counts)) = line.split_once(" : ") else {
            continue;
        };
        let mut r = Recap::default();
        for kv in counts.split_whitespace() {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u32 = v.parse().unwrap_or(0);
            match k {
                "ok" => r.ok = v,
                "changed" => r.changed = v,
                "unreachable" => r.unreachable = v,
                "failed" => r.failed = v,
                _ => {}
            }
        }
        recap.insert(host.trim().to_string(), r);
    }
    recap
}

pub struct Controller {
    pub venv: PathBuf,
    pub dir: PathBuf,
    pub ctl: String,
    pub forks: u32,
}

impl Controller {
    /// Builds the collection with `ansible-galaxy collection build`, installs the tarball,
    /// and writes the controller's configuration and the inventory.
    pub fn new(lab: &Lab, venv: &Path, forks: u32, shared_state: bool) -> Controller {
        let c = Controller {
            venv: venv.to_path_buf(),
            dir: lab.path().to_path_buf(),
            ctl: lab.ctl.clone(),
            forks,
        };
        let out = c.tool(
            "ansible-galaxy",
            &["collection", "build", "--force", "--output-path"],
            &[&c.dir],
        );
        assert!(out.contains("Created collection"), "{out}");
        let tarball = c.dir.join("hostnet-hostnet-0.1.0.tar.gz");
        c.tool(
            "ansible-galaxy",
            &["collection", "install", "--force", "-p"],
            &[&c.dir.join("collections"), &tarball],
        );
        c.write_config();
        c.write_inventory(&lab.hosts, shared_state);
        c
    }

    fn env(&self, cmd: &mut Command) {
        for (k, _) in std::env::vars() {
            if k.starts_with("ANSIBLE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("ANSIBLE_CONFIG", self.dir.join("ansible.cfg"))
            .env("ANSIBLE_HOME", self.dir.join("ansible-home"))
            .env("ANSIBLE_COLLECTIONS_PATH", self.dir.join("collections"))
            .env("ANSIBLE_NOCOLOR", "1")
            // cryptography's deprecation of DSA, which ansible-core still imports.
            .env("PYTHONWARNINGS", "ignore");
    }

    fn tool(&self, tool: &str, args: &[&str], paths: &[&Path]) -> String {
        let mut cmd = Command::new(self.venv.join("bin").join(tool));
        cmd.args(args).args(paths).current_dir(collection_src());
        self.env(&mut cmd);
        let out = cmd.output().unwrap_or_else(|e| panic!("{tool}: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{tool} {args:?} failed:\n{text}");
        text
    }

    /// The recommended settings of `ansible/examples/ansible.cfg`, with the lab's keys and
    /// everything Ansible writes kept in the lab's directory.
    fn write_config(&self) {
        let d = self.dir.display();
        let cfg = format!(
            "[defaults]\nforks = {}\ngathering = explicit\nhost_key_checking = True\n\
             interpreter_python = /usr/bin/python3\nlocal_tmp = {d}/ansible-local\n\
             remote_tmp = {d}/ansible-remote\ntimeout = 5\nretry_files_enabled = False\n\
             [ssh_connection]\npipelining = True\ncontrol_path_dir = {d}/cp\nssh_args = {}\n",
            self.forks,
            self.ssh_args(true)
        );
        fs::write(self.dir.join("ansible.cfg"), cfg).expect("ansible.cfg");
    }

    /// The ssh options; `keepalive: false` leaves the keepalives to the action plugin.
    pub fn ssh_args(&self, keepalive: bool) -> String {
        let mut a = format!(
            "-F {}/ssh_config -o ControlMaster=auto -o ControlPersist=300s",
            self.dir.display()
        );
        if keepalive {
            a.push_str(" -o ServerAliveInterval=5 -o ServerAliveCountMax=3");
        }
        a
    }

    pub fn inventory(&self) -> PathBuf {
        self.dir.join("inventory")
    }

    /// `hosts.yml` with the hosts split into the example's two racks, the example's group
    /// variables, and host variables: address, index, and where hostnet keeps its files.
    /// With `shared_state` every host uses the same state directories (hosts sharing a
    /// filesystem); otherwise each host has its own.
    fn write_inventory(&self, hosts: &[Host], shared_state: bool) {
        let inv = self.inventory();
        fs::create_dir_all(inv.join("host_vars")).expect("inventory");
        let example = collection_src().join("examples/inventory/group_vars");
        let group_vars = inv.join("group_vars");
        fs::create_dir_all(&group_vars).expect("group_vars");
        for f in fs::read_dir(&example).expect("example group_vars") {
            let f = f.expect("entry").path();
            fs::copy(&f, group_vars.join(f.file_name().expect("name"))).expect("copy group_vars");
        }
        let half = hosts.len().div_ceil(2);
        let mut yml = String::from("---\nhypervisors:\n  children:\n");
        for (rack, members) in [("rack1", &hosts[..half]), ("rack2", &hosts[half..])] {
            let _ = writeln!(yml, "    {rack}:\n      hosts:");
            for h in members {
                let _ = writeln!(yml, "        {}:", h.name);
            }
        }
        fs::write(inv.join("hosts.yml"), yml).expect("hosts.yml");
        for h in hosts {
            let state = if shared_state {
                self.dir.join("state")
            } else {
                h.dir.join("state")
            };
            let vars = format!(
                "---\nansible_host: {}\nhost_index: {}\nhostnet_environment:\n  \
                 HOSTNET_STATE_DIR: {}/run\n  HOSTNET_LIB_DIR: {}/lib\n  \
                 HOSTNET_OVSDB: unix:/nonexistent/hostnet-tests/no-ovsdb.sock\n",
                h.addr,
                h.index,
                state.display(),
                state.display()
            );
            fs::write(inv.join("host_vars").join(format!("{}.yml", h.name)), vars)
                .expect("host_vars");
        }
    }

    /// Runs `ansible-playbook` (or `ansible`) in the controller namespace.
    pub fn run(&self, program: &str, args: &[&str], env: &[(&str, String)]) -> Run {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ctl])
            .arg(self.venv.join("bin").join(program))
            .arg("-i")
            .arg(self.inventory())
            .args(args)
            // e.g. `-v` to see every task's result
            .args(
                std::env::var("HOSTNET_FLEET_ANSIBLE_ARGS")
                    .unwrap_or_default()
                    .split_whitespace(),
            )
            .current_dir(&self.dir);
        self.env(&mut cmd);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let out = cmd.output().unwrap_or_else(|e| panic!("{program}: {e}"));
        let secs = started.elapsed().as_secs_f64();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        // Kept for a look afterwards, e.g. with HOSTNET_FLEET_ANSIBLE_ARGS=-v.
        if let Some(dir) = std::env::var_os("HOSTNET_FLEET_LOG_DIR") {
            static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let _ = fs::write(Path::new(&dir).join(format!("{n:02}-{program}.log")), &text);
        }
        Run {
            code: out.status.code().unwrap_or(-1),
            recap: parse_recap(&text),
            out: text,
            secs,
        }
    }

    /// Replaces text in a file of the inventory (a change to roll out).
    pub fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.inventory().join(file);
        let text = fs::read_to_string(&path).expect("inventory file");
        assert!(text.contains(from), "{file} has no {from:?}");
        fs::write(&path, text.replacen(from, to, 1)).expect("write inventory file");
    }

    /// Appends to a file of the inventory.
    pub fn append(&self, file: &str, text: &str) {
        let path = self.inventory().join(file);
        let mut old = fs::read_to_string(&path).unwrap_or_default();
        old.push_str(text);
        fs::write(&path, old).expect("write inventory file");
    }
}
