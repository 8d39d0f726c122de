//! A DHCP lab: a host namespace and router namespaces, each router serving DHCP with a
//! real dnsmasq on the link to the host, and the host's real DHCP clients.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::{Driver, KernelState};
use hostnet::sandbox::{addr, Sandbox};

pub struct Lab {
    pub sb: Sandbox,
    pub dir: tempfile::TempDir,
    servers: Vec<(String, Child)>,
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Root and the programs, or a visible skip (a failure under HOSTNET_REQUIRE_KERNEL_TESTS).
pub fn may_run(test: &str, programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs.iter().copied().filter(|p| !have(p)).collect();
    let why = if !nix::unistd::geteuid().is_root() {
        Some("needs root".to_string())
    } else if !missing.is_empty() {
        Some(format!(
            "needs {} (apt-get install dnsmasq-base isc-dhcp-client dhcpcd-base)",
            missing.join(", ")
        ))
    } else {
        None
    };
    match why {
        None => true,
        Some(why) => {
            if std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() == Ok("1") {
                panic!("{test}: {why}, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping");
            }
            eprintln!("SKIP {test}: {why}");
            false
        }
    }
}

impl Lab {
    /// A host and one router per `(router role, host uplink, subnet octet)`; the router's
    /// address is 10.OCTET.0.1/24 on `r-host`.
    pub fn new(tag: &str, routers: &[(&str, &str, u8)]) -> Lab {
        let mut sb = Sandbox::new(&format!("hd{}{tag}", std::process::id()));
        sb.add("host").expect("host netns");
        for (role, uplink, octet) in routers {
            sb.add(role).expect("router netns");
            sb.wire("host", uplink, role, "r-host").expect("wire");
            sb.ops(
                role,
                &[addr("r-host", &format!("10.{octet}.0.1/24")).expect("addr")],
            )
            .expect("router address");
        }
        Lab {
            sb,
            dir: tempfile::tempdir().expect("tempdir"),
            servers: Vec::new(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs a command in a namespace and waits for it.
    pub fn run(&self, role: &str, program: &str, args: &[&str]) -> Output {
        let (program, args): (String, Vec<String>) =
            (program.into(), args.iter().map(|s| s.to_string()).collect());
        self.sb
            .run_in(role, move || {
                Ok(Command::new(&program).args(&args).output().expect("runs"))
            })
            .expect("in netns")
    }

    /// Starts a process in a namespace (it inherits the namespace of the thread).
    pub fn spawn(&self, role: &str, program: &str, args: &[&str]) -> Child {
        let (program, args): (String, Vec<String>) =
            (program.into(), args.iter().map(|s| s.to_string()).collect());
        self.sb
            .run_in(role, move || {
                Ok(Command::new(&program)
                    .args(&args)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawns"))
            })
            .expect("in netns")
    }

    /// (Re)starts dnsmasq in `role`, handing out 10.OCTET.0.100-200 with `router` (or no
    /// router option at all).
    pub fn dnsmasq(&mut self, role: &str, octet: u8, router: Option<&str>) {
        if let Some(i) = self.servers.iter().position(|(r, _)| r == role) {
            let (_, mut child) = self.servers.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
        let leases = self.path(&format!("{role}.leases"));
        let log = self.path(&format!("{role}.dnsmasq.log"));
        // Its own PID file: instances running in parallel must not share the default one.
        let pid_file = format!(
            "--pid-file={}",
            self.path(&format!("{role}.dnsmasq.pid")).display()
        );
        let range = format!("--dhcp-range=10.{octet}.0.100,10.{octet}.0.200,255.255.255.0,2m");
        let router_opt = match router {
            Some(r) => format!("--dhcp-option=option:router,{r}"),
            // An empty option 3 withholds the router.
            None => "--dhcp-option=3".to_string(),
        };
        let args = [
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--port=0",
            "--no-resolv",
            "--no-hosts",
            "--interface=r-host",
            "--bind-interfaces",
            "--no-ping",
            "--user=root",
            &range,
            &router_opt,
            &format!("--dhcp-leasefile={}", leases.display()),
            &format!("--log-facility={}", log.display()),
            "--log-dhcp",
            &pid_file,
        ];
        let mut child = self.spawn(role, "dnsmasq", &args);
        std::thread::sleep(Duration::from_millis(300));
        if let Ok(Some(status)) = child.try_wait() {
            let out = child
                .wait_with_output()
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned());
            panic!(
                "dnsmasq in {role} exited ({status}): {}\nlog: {}",
                out.unwrap_or_default(),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        self.servers.push((role.to_string(), child));
    }

    /// Runs a command in a namespace, killing it (by PID: it is our child) when it does not
    /// finish within `timeout`.
    pub fn run_timeout(
        &self,
        role: &str,
        program: &str,
        args: &[&str],
        timeout: Duration,
    ) -> Output {
        let mut child = self.spawn(role, program, args);
        let start = Instant::now();
        while child.try_wait().ok().flatten().is_none() && start.elapsed() < timeout {
            std::thread::sleep(Duration::from_millis(100));
        }
        if child.try_wait().ok().flatten().is_none() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0)),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        child.wait_with_output().expect("reaped")
    }

    /// A `-sf`/`-c` script for the clients that configures the lease as their stock
    /// scripts would (address with the lease time, and the main default route when
    /// `default_route`), then
    /// sources the installed hostnet hook when there is one.
    pub fn client_script(&self, name: &str, hook: Option<&Path>, default_route: bool) -> PathBuf {
        let route_add = if default_route {
            "    r=${new_routers%% *}; [ -n \"$r\" ] && ip route replace default via \"$r\" dev \"$interface\"\n"
        } else {
            ""
        };
        let route_del = if default_route {
            "    ip route del default dev \"$interface\" 2>/dev/null\n"
        } else {
            ""
        };
        let hook_line = hook
            .map(|h| format!(". '{}'\n", h.display()))
            .unwrap_or_default();
        let mask = "${new_subnet_cidr:-$new_subnet_mask}";
        // With the lease time as lifetime, as the stock scripts add it: the kernel holds
        // the address as dynamic (no IFA_F_PERMANENT), which hostnet must leave alone.
        let lifetime = "${new_dhcp_lease_time:+valid_lft $new_dhcp_lease_time preferred_lft $new_dhcp_lease_time}";
        let text = format!(
            "#!/bin/sh\ncase \"$reason\" in\n  BOUND|RENEW|REBIND|REBOOT)\n    ip addr replace \"$new_ip_address/{mask}\" dev \"$interface\" {lifetime}\n{route_add}    ;;\n  RELEASE|STOP|EXPIRE)\n{route_del}    ip addr flush dev \"$interface\" scope global\n    ;;\nesac\n{hook_line}"
        );
        let path = self.path(name);
        std::fs::write(&path, text).expect("script");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    /// The host's kernel state.
    pub fn host_state(&self) -> KernelState {
        self.sb
            .run_in("host", || {
                Ok(LinuxDriver::new()
                    .and_then(|mut d| d.query())
                    .expect("query"))
            })
            .expect("in netns")
    }

    /// Waits up to `timeout` for `cond` on the host's state.
    pub fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        cond: impl Fn(&KernelState) -> bool,
    ) -> KernelState {
        let start = Instant::now();
        loop {
            let s = self.host_state();
            if cond(&s) {
                return s;
            }
            if start.elapsed() > timeout {
                panic!(
                    "timed out waiting for {what}; state: rules {:#?}\nroutes {:#?}",
                    s.rules, s.routes
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills dhclient daemons this lab started (by the PID files it gave them).
    fn stop_clients(&self) {
        let Ok(entries) = std::fs::read_dir(self.dir.path()) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".pid") {
                if let Some(pid) = std::fs::read_to_string(e.path())
                    .ok()
                    .and_then(|p| p.trim().parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGTERM,
                    );
                }
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop_clients();
        for (_, child) in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
