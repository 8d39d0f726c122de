//! A private Open vSwitch for a test: ovsdb-server and ovs-vswitchd started in the
//! test's namespace with their own run, log and database directory (the schema from
//! the installed packages), ended by PID. The system's Open vSwitch, if any, is never
//! contacted: every client gets `--db=unix:<private socket>`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

pub struct Ovs {
    pub dir: tempfile::TempDir,
    pub db: String,
    children: Vec<Child>,
}

fn wait_for(path: &Path, what: &str) {
    let t = Instant::now();
    while !path.exists() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{what} did not come up"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Ovs {
    /// Starts the daemons; `None` (after printing why) where Open vSwitch is not
    /// installed, a failure under HOSTNET_REQUIRE_KERNEL_TESTS=1.
    pub fn start(test: &str) -> Option<Ovs> {
        let missing = ["ovsdb-tool", "ovsdb-server", "ovs-vswitchd", "ovs-vsctl"]
            .into_iter()
            .find(|p| {
                Command::new(p)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_err()
            });
        if let Some(p) = missing.or((!Path::new(SCHEMA).exists()).then_some(SCHEMA)) {
            if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
                panic!("{test}: {p} is missing (apt-get install openvswitch-switch) and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
            }
            eprintln!("SKIP {test}: {p} is missing (apt-get install openvswitch-switch)");
            return None;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path().to_path_buf();
        let path = |f: &str| -> PathBuf { d.join(f) };
        let env = |c: &mut Command| {
            for var in ["OVS_RUNDIR", "OVS_LOGDIR", "OVS_DBDIR", "OVS_SYSCONFDIR"] {
                c.env(var, &d);
            }
        };
        let mut create = Command::new("ovsdb-tool");
        env(&mut create);
        let st = create
            .arg("create")
            .arg(path("conf.db"))
            .arg(SCHEMA)
            .status()
            .expect("ovsdb-tool runs");
        assert!(st.success(), "ovsdb-tool create failed");
        let sock = path("db.sock");
        let db = format!("unix:{}", sock.display());
        let mut ovs = Ovs {
            db: db.clone(),
            children: Vec::new(),
            dir,
        };
        let mut server = Command::new("ovsdb-server");
        env(&mut server);
        server
            .arg(path("conf.db"))
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!("--unixctl={}", path("ovsdb-server.ctl").display()))
            .arg(format!("--log-file={}", path("ovsdb-server.log").display()))
            .arg("--no-chdir")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        ovs.children
            .push(server.spawn().expect("ovsdb-server starts"));
        wait_for(&sock, "ovsdb-server");
        let st = Command::new("ovs-vsctl")
            .args([&format!("--db={db}"), "--no-wait", "init"])
            .status()
            .expect("ovs-vsctl runs");
        assert!(st.success(), "ovs-vsctl init failed");
        let mut switchd = Command::new("ovs-vswitchd");
        env(&mut switchd);
        switchd
            .arg(&db)
            .arg(format!("--unixctl={}", path("ovs-vswitchd.ctl").display()))
            .arg(format!("--log-file={}", path("ovs-vswitchd.log").display()))
            .arg("--no-chdir")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        ovs.children
            .push(switchd.spawn().expect("ovs-vswitchd starts"));
        wait_for(&path("ovs-vswitchd.ctl"), "ovs-vswitchd");
        Some(ovs)
    }

    pub fn vsctl(&self) -> hostnet::ovs::vsctl::Vsctl {
        hostnet::ovs::vsctl::Vsctl::new(self.db.clone())
    }

    /// ovs-vswitchd's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ovs-vswitchd.log")).unwrap_or_default()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        // Only the daemons this test started, by their PIDs, vswitchd first.
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
