//! DHCP servers as transient systemd units of their own (`hostnet-dnsmasq-KEY-NET`), so
//! that they outlive the command or unit that started them.
//!
//! Where systemd is PID 1 this test runs the real `systemd-run`. Where it is not (a
//! container, or this project's test machines, whose PID 1 is no service manager), it
//! puts a stand-in `systemd-run` and `systemctl` first in `PATH`
//! (`tests/dhcp/fake-systemd/`): they record their arguments and run the command the way
//! systemd would for the properties hostnet gives (in the namespace of
//! `NetworkNamespacePath=`), without cgroups or restarts. That checks the unit's command
//! line and that a server started that way is found, signalled, restarted and stopped
//! through its PID file like a forked one; that the unit survives the end of what started
//! it is checked only with a real systemd (its cgroup is the unit's own). Every other
//! DHCP server test runs the fork path (`HOSTNET_DNSMASQ_UNITS=no`).

mod common;
#[allow(dead_code)] // the helpers serve other tests too
#[path = "dhcp/guests.rs"]
mod guests;
#[allow(dead_code)] // the lab serves other tests too
#[path = "dhcp/lab.rs"]
mod lab;

use std::path::Path;

use common::text;
use guests::{env_value, network, Net, G1_MAC};
use hostnet::netdev::dnsmasq::unit::{systemd_booted, unit_name};
use lab::may_run;

#[test]
fn servers_started_as_units_are_found_signalled_and_stopped_like_forked_ones() {
    if !may_run(
        "servers_started_as_units_are_found_signalled_and_stopped_like_forked_ones",
        &["dnsmasq", "dhclient", "ip", "nsenter"],
    ) {
        return;
    }
    let net = Net::new("su", &[G1_MAC]);
    let real = systemd_booted();
    let log = net.lab.path("systemd.log");
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dhcp/fake-systemd");
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log_text = log.display().to_string();
    let mut env = vec![("HOSTNET_DNSMASQ_UNITS", "yes")];
    if !real {
        eprintln!(
            "systemd is not PID 1 here: the unit path runs a stand-in systemd-run ({})",
            fake.display()
        );
        env.extend([
            ("PATH", path.as_str()),
            ("HOSTNET_FAKE_SYSTEMD_LOG", log_text.as_str()),
        ]);
    }
    let apply = |yaml: &str| {
        let o = net.hostnet_env(&["apply", "-"], Some(yaml), &env);
        assert!(o.status.success(), "{}", text(&o));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let recorded = || std::fs::read_to_string(&log).unwrap_or_default();
    let ns = net.lab.sb.netns("host");
    let unit = unit_name(&format!("netns.{ns}"), "tenant1");
    let dir = net.dir().join("tenant1");

    let out = apply(&network("", 200));
    assert!(
        out.contains("dnsmasq started") || out.contains("dnsmasq restarted"),
        "{out}"
    );
    let pid = net.pid().expect("dnsmasq pid");
    if real {
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroup");
        assert!(
            cgroup.contains(&unit.replace('\\', "\\\\")) || cgroup.contains(&unit),
            "{cgroup}"
        );
    } else {
        let r = recorded();
        for want in [
            format!("systemd-run --unit={unit} "),
            "--property=Type=forking".to_string(),
            format!("--property=PIDFile={}", dir.join("dnsmasq.pid").display()),
            "--property=Restart=on-failure".to_string(),
            format!("--property=NetworkNamespacePath=/run/netns/{ns}"),
            "dnsmasq --conf-file=/dev/null".to_string(),
        ] {
            assert!(r.contains(&want), "{want} in {r}");
        }
    }
    // It runs in the network's namespace (the guest gets its lease there), and it is
    // found through its PID file and command line: running, nothing to change.
    let env_g1 = net.dhclient("g1");
    assert_eq!(
        env_value(&env_g1, "new_ip_address"),
        Some("10.10.0.5"),
        "{env_g1}"
    );
    let shown = net.servers_json();
    assert!(shown.contains("\"running\": true"), "{shown}");
    assert!(apply(&network("", 200)).contains("Nothing to change"));

    // New options: a SIGHUP to the unit's dnsmasq, no restart.
    apply(&network("", 200).replace("mtu: 1450", "mtu: 1400"));
    assert_eq!(net.pid(), Some(pid));
    // New flags: its unit is stopped and a new one started.
    let out = apply(&network("", 250).replace("mtu: 1450", "mtu: 1400"));
    assert!(
        out.contains("dnsmasq started") || out.contains("dnsmasq restarted"),
        "{out}"
    );
    let new_pid = net.pid().expect("pid");
    assert_ne!(new_pid, pid);
    assert!(!Net::alive(pid));
    if !real {
        let r = recorded();
        assert!(r.contains(&format!("systemctl stop --quiet {unit}")), "{r}");
        assert_eq!(r.matches("systemd-run ").count(), 2, "{r}");
    }
    let env_g1 = net.dhclient("g1");
    assert_eq!(
        env_value(&env_g1, "new_ip_address"),
        Some("10.10.0.5"),
        "{env_g1}"
    );

    // Removed: stopped (its unit, and the PID file's process), its files gone.
    apply("networks:\n  - {name: tenant1, state: absent}\n");
    assert!(!Net::alive(new_pid));
    assert!(!dir.exists());
}
