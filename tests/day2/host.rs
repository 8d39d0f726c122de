//! A host for the day-2 tests: the test thread's own network namespace with two NICs
//! (veth pairs `eth1`/`eth1p`, `eth2`/`eth2p`), private state directories, and the
//! differential step every change goes through: the dry run's plan and the model's end
//! state must be the kernel's.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use hostnet::engine::{self, applied, ApplyOptions};
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::model::ModelDriver;
use hostnet::netdev::{Driver, KernelState, Link};

use super::common::{enter_private_netns, run_ops, text, veth, NO_OVSDB};

pub struct Host {
    state: tempfile::TempDir,
    lib: tempfile::TempDir,
}

/// `ip ARGS` in the test thread's namespace; panics on failure.
pub fn ip(args: &str) -> String {
    let o = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("ip");
    assert!(
        o.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Whether `tool --version` runs; a missing tool skips (or, in CI, fails) the test.
pub fn have(test: &str, tool: &str) -> bool {
    let ok = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
            panic!("{test}: needs {tool}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
        }
        eprintln!("SKIP {test}: needs {tool}");
    }
    ok
}

/// The kernel's state as `apply` reads it, without the firewall and DHCP servers.
pub fn query() -> KernelState {
    LinuxDriver::new().expect("netlink").query().expect("query")
}

/// The part of a state both drivers must agree on: links (MACs aside: the model makes
/// up its own), addresses, routes, rules.
pub fn kernel_part(s: &KernelState) -> String {
    let link = |l: &Link| {
        format!(
            "{} {:?} up={} mtu={} master={:?}",
            l.name, l.kind, l.up, l.mtu, l.controller
        )
    };
    let mut out: Vec<String> = s.links.values().map(link).collect();
    out.extend(
        s.addresses
            .iter()
            .map(|a| format!("address {} dev {} dynamic={}", a.addr, a.ifname, a.dynamic)),
    );
    out.extend(s.routes.iter().map(ToString::to_string));
    out.extend(s.rules.iter().map(ToString::to_string));
    out.join("\n")
}

/// The plan's object lines as `apply` prints them (grouped under network headers).
fn plan_lines(o: &Output) -> Vec<String> {
    object_lines(&String::from_utf8_lossy(&o.stdout))
}

fn object_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("+ ") || l.starts_with("~ ") || l.starts_with("- "))
        .map(str::to_string)
        .collect()
}

impl Host {
    /// The test thread's namespace with the two NICs; `None` (after a SKIP line) when
    /// kernel tests cannot run here.
    pub fn new(test: &str) -> Option<Host> {
        if !enter_private_netns(test) {
            return None;
        }
        run_ops(&[veth("eth1", "eth1p"), veth("eth2", "eth2p")]);
        let dir = || {
            let d = tempfile::tempdir().expect("tempdir");
            // dnsmasq drops to nobody, which must reach its files below.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755))
                .expect("chmod");
            d
        };
        Some(Host {
            state: dir(),
            lib: dir(),
        })
    }

    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Where `hostnet` keeps this namespace's DHCP servers: an unnamed namespace's are
    /// runtime files, under the state directory, keyed by the namespace.
    pub fn dnsmasq_dir(&self) -> std::path::PathBuf {
        let id = hostnet::netdev::netns_id::NetnsId::current().expect("namespace identity");
        self.state.path().join("dnsmasq").join(id.key())
    }

    /// The state as `hostnet apply` here reads it (the firewall too when `firewall`).
    pub fn query(&self, firewall: bool) -> KernelState {
        let mut d = LinuxDriver::new()
            .expect("netlink")
            .with_dhcp_server_dir(self.dnsmasq_dir());
        d.consider_firewall(firewall);
        d.query().expect("query")
    }

    /// The hostnet binary in this namespace, with this host's state directories.
    pub fn hostnet(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_hostnet"))
            .args(args)
            .env("HOSTNET_OVSDB", NO_OVSDB)
            .env("HOSTNET_STATE_DIR", self.state.path())
            .env("HOSTNET_LIB_DIR", self.lib.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn hostnet");
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("stdin");
        }
        drop(child.stdin.take());
        child.wait_with_output().expect("hostnet runs")
    }

    /// `hostnet apply` of `yaml`, which must succeed.
    pub fn apply(&self, yaml: &str) -> Output {
        let o = self.hostnet(&["apply", "-"], Some(yaml));
        assert_eq!(o.status.code(), Some(0), "{}\n{yaml}", text(&o));
        o
    }

    /// One change, checked from every side: the model, given the kernel's state and the
    /// record of what was applied, reaches it; `--dry-run` prints the plan the real apply
    /// then prints; the kernel ends where the model did; applying again changes nothing.
    /// Returns the real apply's output.
    pub fn step(&self, yaml: &str) -> Output {
        let d = parse(yaml).expect("parses");
        validate(&d).expect("valid");
        let record = applied::load(self.state_dir()).expect("record");
        let intent = record.intent_for(&d).expect("expands");
        let fw = &intent.firewall;
        let firewall =
            !fw.networks.is_empty() || !fw.sysctls.is_empty() || !fw.addresses.is_empty();
        let mut before = self.query(firewall);
        // The kernel knows which bridges' MTU hostnet set; the model learns it from the
        // record, as the dry run's model does (finding F13).
        applied::seed_bridge_mtus(&mut before, &intent.bridge_mtu_set);
        let mut model = ModelDriver::new(before);
        let predicted = engine::apply(&mut model, &intent, ApplyOptions::default(), |_, _| Ok(()))
            .unwrap_or_else(|e| panic!("the model refuses: {e}: {:#?}\n{yaml}", e.details()));
        let dry = self.hostnet(&["apply", "--dry-run", "-"], Some(yaml));
        assert_eq!(dry.status.code(), Some(0), "dry run: {}", text(&dry));
        let real = self.apply(yaml);
        let model_plan = object_lines(
            &hostnet::cli::plan_view::PlanView::new(&predicted.plan, &predicted.before, &intent)
                .to_string(),
        );
        assert_eq!(plan_lines(&dry), plan_lines(&real), "{}", text(&real));
        assert_eq!(model_plan, plan_lines(&real));
        assert_eq!(
            kernel_part(&model.query().expect("model")),
            kernel_part(&self.query(false)),
            "the model ended elsewhere than the kernel after\n{}",
            text(&real)
        );
        let again = self.apply(yaml);
        assert!(
            String::from_utf8_lossy(&again.stdout).contains("Nothing to change"),
            "re-apply is not a no-op: {}",
            text(&again)
        );
        real
    }

    /// `hostnet apply` of `yaml` must be refused before anything changes (exit 2), naming
    /// `field`, and so must its dry run.
    pub fn refused(&self, yaml: &str, field: &str) -> String {
        let before = kernel_part(&query());
        for args in [&["apply", "--dry-run", "-"][..], &["apply", "-"]] {
            let o = self.hostnet(args, Some(yaml));
            assert_eq!(o.status.code(), Some(2), "{}", text(&o));
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            assert!(err.contains(field), "{field} not named: {err}");
        }
        assert_eq!(
            kernel_part(&query()),
            before,
            "a refused apply changed the host"
        );
        String::from_utf8_lossy(&self.hostnet(&["apply", "-"], Some(yaml)).stderr).into_owned()
    }
}

impl Drop for Host {
    /// Stops the dnsmasq a failed test may have left running: only a process whose
    /// command line names this host's directory, by the PID its own file gives.
    fn drop(&mut self) {
        let Ok(dirs) = std::fs::read_dir(self.dnsmasq_dir()) else {
            return;
        };
        for dir in dirs.flatten() {
            let Ok(pid) = std::fs::read_to_string(dir.path().join("dnsmasq.pid")) else {
                continue;
            };
            let Ok(pid) = pid.trim().parse::<i32>() else {
                continue;
            };
            let ours = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&*dir.path().to_string_lossy()))
                .unwrap_or(false);
            if ours {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
    }
}
