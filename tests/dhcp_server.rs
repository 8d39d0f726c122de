//! DHCP and DNS for guests, end to end: `hostnet apply` runs a real dnsmasq on a
//! network's bridge in a namespace of the test's own, and guests in other namespaces,
//! wired to the bridge by veth pairs, run real ISC dhclient against it and ask it DNS
//! questions over UDP.

mod common;
#[path = "dhcp/guests.rs"]
mod guests;
#[allow(dead_code)] // the lab serves other tests too
#[path = "dhcp/lab.rs"]
mod lab;

use std::net::{Ipv4Addr, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::text;
use guests::*;
use lab::may_run;
#[test]
fn guests_get_their_addresses_options_and_names() {
    if !may_run(
        "guests_get_their_addresses_options_and_names",
        &["dnsmasq", "dhclient", "ip"],
    ) {
        return;
    }
    let net = Net::new("sa", &[G1_MAC, G2_MAC]);
    let out = net.apply(&network("", 200));
    assert!(
        out.contains("Plan: 4 to create, 1 to change, 0 to remove"),
        "{out}"
    );
    join(&net, "gv2");

    // The declared host gets its fixed address, and the options arrive.
    let env = net.dhclient("g1");
    assert_eq!(
        env_value(&env, "new_ip_address"),
        Some("10.10.0.5"),
        "{env}"
    );
    assert_eq!(env_value(&env, "new_routers"), Some("10.10.0.1"), "{env}");
    assert_eq!(
        env_value(&env, "new_domain_name_servers"),
        Some("10.10.0.1"),
        "{env}"
    );
    assert_eq!(env_value(&env, "new_interface_mtu"), Some("1450"), "{env}");
    assert_eq!(
        env_value(&env, "new_domain_name"),
        Some("tenant1.example"),
        "{env}"
    );
    assert!(net.guest_address("g1").contains("10.10.0.5/24"));

    // An undeclared guest gets an address from the range.
    let env = net.dhclient("g2");
    let ip: Ipv4Addr = env_value(&env, "new_ip_address")
        .and_then(|a| a.parse().ok())
        .expect("an address");
    assert!(
        (Ipv4Addr::new(10, 10, 0, 100)..=Ipv4Addr::new(10, 10, 0, 200)).contains(&ip),
        "{ip}"
    );

    // DNS for the declared hostname, answered from the network's address.
    let (a, from) = dns_a(
        &net,
        "g2",
        Ipv4Addr::new(10, 10, 0, 1),
        "vm1.tenant1.example",
    );
    assert_eq!(a, vec![Ipv4Addr::new(10, 10, 0, 5)]);
    assert_eq!(from, Ipv4Addr::new(10, 10, 0, 1));

    let shown = net.servers_json();
    assert!(shown.contains("\"running\": true"), "{shown}");
    assert!(shown.contains("\"active-leases\": 2"), "{shown}");
    let o = net.hostnet(&["show"], None);
    let pid = net.pid().expect("pid");
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(&format!(
            "#   tenant1: dnsmasq pid {pid} running on tenant1, 1 host, 2 active leases"
        )),
        "{}",
        text(&o)
    );
    // `-o json` carries the same sections as the YAML's comments.
    let o = net.hostnet(&["show", "-o", "json"], None);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("show's JSON");
    assert_eq!(v["dhcp-servers"][0]["network"], "tenant1", "{v}");
    assert_eq!(v["dhcp-servers"][0]["active-leases"], 2, "{v}");
    assert_eq!(v["dhcp-servers"][0]["pid"], pid, "{v}");
    assert!(v["document"]["interfaces"].is_array(), "{v}");
    for section in ["checkpoint", "dhcp-networks", "firewall", "not-shown"] {
        assert!(v.get(section).is_some(), "no {section} in {v}");
    }

    // Re-applying changes nothing; the files are readable by the user dnsmasq runs as.
    let out = net.apply(&network("", 200));
    assert!(out.contains("Nothing to change"), "{out}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(net.dir().join("tenant1/hostsfile"))
        .expect("hosts file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
}

#[test]
fn hosts_and_range_change_the_cheapest_way() {
    if !may_run(
        "hosts_and_range_change_the_cheapest_way",
        &["dnsmasq", "dhclient", "ip", "dhcp_release"],
    ) {
        return;
    }
    let net = Net::new("sb", &[G1_MAC, G2_MAC]);
    net.apply(&network("", 200));
    join(&net, "gv2");
    net.dhclient("g1");
    let pid = net.pid().expect("dnsmasq pid");
    let started = Net::started(pid);
    let reads = net.option_reads();
    assert_eq!(reads, 1, "{}", net.file("dnsmasq.log"));

    // Adding a host: a file, no signal, no restart; the new guest gets its address.
    let out = net.apply(&network(&vm2(), 200));
    assert!(
        out.contains("+ dhcp-host 52:54:00:00:00:02 10.10.0.6 vm2"),
        "{out}"
    );
    let env = net.dhclient("g2");
    assert_eq!(
        env_value(&env, "new_ip_address"),
        Some("10.10.0.6"),
        "{env}"
    );
    assert_eq!(net.pid(), Some(pid));
    assert_eq!(Net::started(pid), started);
    assert_eq!(net.option_reads(), reads, "{}", net.file("dnsmasq.log"));
    assert!(net
        .file("dnsmasq.log")
        .contains("/tenant1/hosts/52-54-00-00-00-02"));
    assert!(net.file("leases").contains(&G2_MAC.to_lowercase()));

    // Removing it: its lease is released, and one SIGHUP makes dnsmasq forget it.
    let out = net.apply(&network("", 200));
    assert!(out.contains("- dhcp-host 52:54:00:00:00:02"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while net.file("leases").contains(&G2_MAC.to_lowercase()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !net.file("leases").contains(&G2_MAC.to_lowercase()),
        "{}",
        net.file("leases")
    );
    assert_eq!(net.pid(), Some(pid));
    let deadline = Instant::now() + Duration::from_secs(5);
    while net.option_reads() == reads && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(net.option_reads(), reads + 1, "one SIGHUP");
    // dnsmasq forgot it: asked again (afresh), the guest gets a range address.
    let _ = std::fs::remove_file(net.lab.path("g2.leases"));
    let env = net.dhclient("g2");
    let ip: Ipv4Addr = env_value(&env, "new_ip_address")
        .and_then(|a| a.parse().ok())
        .expect("an address");
    assert!(ip.octets()[3] >= 100, "{ip}");
    assert_eq!(net.pid(), Some(pid));

    // A new range: a restart with the new flags; the lease file and its leases stay.
    let out = net.apply(&network("", 250));
    assert!(
        out.contains("~ dhcp-server tenant1: range 10.10.0.100-10.10.0.200 -> 10.10.0.100-10.10.0.250, dnsmasq restarted"),
        "{out}"
    );
    let new_pid = net.pid().expect("pid");
    assert_ne!(new_pid, pid);
    assert!(!Net::alive(pid));
    assert!(net.file("leases").contains(&G1_MAC.to_lowercase()));
    let shown = net.servers_json();
    assert!(shown.contains("\"active-leases\": 2"), "{shown}");
    // ... and the guest keeps its address when it asks again.
    let env = net.dhclient("g1");
    assert_eq!(
        env_value(&env, "new_ip_address"),
        Some("10.10.0.5"),
        "{env}"
    );
}

#[test]
fn a_dead_dnsmasq_comes_back_and_a_stale_pid_is_never_signalled() {
    if !may_run(
        "a_dead_dnsmasq_comes_back_and_a_stale_pid_is_never_signalled",
        &["dnsmasq", "sleep"],
    ) {
        return;
    }
    let net = Net::new("sc", &[G1_MAC]);
    let yaml = network("", 200);
    net.apply(&yaml);
    let kill = |pid: i32| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("kill");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Net::alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    };

    // Killed: the next apply starts it again.
    let pid = net.pid().expect("pid");
    kill(pid);
    let out = net.apply(&yaml);
    assert!(
        out.contains("~ dhcp-server tenant1: dnsmasq stopped -> running"),
        "{out}"
    );
    let pid = net.pid().expect("pid");
    assert!(Net::alive(pid));

    // A PID file naming another process (recycled PID): that process is left alone.
    kill(pid);
    let mut other = Command::new("sleep").arg("60").spawn().expect("sleep");
    let other_pid = i32::try_from(other.id()).expect("pid");
    std::fs::write(
        net.dir().join("tenant1/dnsmasq.pid"),
        format!("{other_pid}\n"),
    )
    .expect("pid file");
    let out = net.apply(&yaml);
    assert!(
        out.contains("~ dhcp-server tenant1: dnsmasq stopped -> running"),
        "{out}"
    );
    assert!(
        other.try_wait().expect("wait").is_none(),
        "sleep was signalled"
    );
    let pid = net.pid().expect("pid");
    assert_ne!(pid, other_pid);

    // The same when the network goes: the stale PID is not stopped, the files go.
    kill(pid);
    std::fs::write(
        net.dir().join("tenant1/dnsmasq.pid"),
        format!("{other_pid}\n"),
    )
    .expect("pid file");
    net.apply("networks:\n  - {name: tenant1, state: absent}\n");
    assert!(
        other.try_wait().expect("wait").is_none(),
        "sleep was signalled"
    );
    assert!(!net.dir().join("tenant1").exists());
    let _ = other.kill();
    let _ = other.wait();
}

#[test]
fn monitor_restarts_a_dead_dnsmasq() {
    if !may_run("monitor_restarts_a_dead_dnsmasq", &["dnsmasq"]) {
        return;
    }
    let net = Net::new("sd", &[G1_MAC]);
    net.apply(&network("", 200));
    let ns = net.lab.sb.netns("host");
    let mut monitor = Command::new(env!("CARGO_BIN_EXE_hostnet"))
        .args(["monitor", "--netns", &ns])
        .env("HOSTNET_DNSMASQ_DIR", net.root())
        .env("HOSTNET_STATE_DIR", net.lab.path("run"))
        .env("HOSTNET_LIB_DIR", net.lab.path("lib"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("monitor");
    let pid = net.pid().expect("pid");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(20);
    let revived = loop {
        if let Some(p) = net.pid().filter(|p| *p != pid && Net::alive(*p)) {
            break Some(p);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let _ = monitor.kill();
    let _ = monitor.wait();
    assert!(revived.is_some(), "{}", net.file("dnsmasq.log"));
}

#[test]
fn a_server_that_cannot_start_is_rolled_back() {
    if !may_run("a_server_that_cannot_start_is_rolled_back", &["dnsmasq"]) {
        return;
    }
    let net = Net::new("se", &[G1_MAC]);
    let before = net.hostnet(&["show", "-o", "json"], None);
    // Port 53 taken on every address: dnsmasq cannot listen on the bridge's.
    let _blocker = net
        .lab
        .sb
        .run_in("host", || {
            Ok(UdpSocket::bind("0.0.0.0:53").expect("bind 53"))
        })
        .expect("in host");
    let o = net.hostnet(&["apply", "-"], Some(&network("", 200)));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("dnsmasq"), "{err}");
    let after = net.hostnet(&["show", "-o", "json"], None);
    assert_eq!(before.stdout, after.stdout, "the bridge is gone again");
    assert!(!net.dir().join("tenant1").exists(), "its files are gone");
}

#[test]
fn hostile_input_is_refused_before_anything_changes() {
    if !may_run("hostile_input_is_refused_before_anything_changes", &["ip"]) {
        return;
    }
    let net = Net::new("sf", &[G1_MAC]);
    for (bad, field) in [
        ("vm1\\nbogus-option", "hosts[0].hostname"),
        ("vm1,10.10.0.9", "hosts[0].hostname"),
        ("vm1#", "hosts[0].hostname"),
        ("vm 1", "hosts[0].hostname"),
        // Keywords and lease times in dnsmasq's host lines.
        ("ignore", "hosts[0].hostname"),
        ("Infinite", "hosts[0].hostname"),
        ("2m", "hosts[0].hostname"),
        ("3600", "hosts[0].hostname"),
    ] {
        let yaml = network("", 200).replace("hostname: vm1", &format!("hostname: \"{bad}\""));
        let o = net.hostnet(&["apply", "-"], Some(&yaml));
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr)
                .contains(&format!("networks[0].dhcp-server.{field}")),
            "{}",
            text(&o)
        );
    }
    let yaml =
        network("", 200).replace("domain: tenant1.example", "domain: \"a.example\\nport=0\"");
    let o = net.hostnet(&["apply", "-"], Some(&yaml));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("networks[0].dhcp-server.domain"));
    let o = net.lab.run("host", "ip", &["link", "show", "tenant1"]);
    assert!(!o.status.success(), "nothing was created");
    assert!(!net.dir().exists());
}

#[test]
fn dnsmasq_bench_quick_mode_succeeds() {
    if !may_run("dnsmasq_bench_quick_mode_succeeds", &["dnsmasq"]) {
        return;
    }
    let out = tempfile::tempdir().expect("temp dir");
    let o = Command::new(env!("CARGO_BIN_EXE_hostnet-dnsmasq-bench"))
        .args(["--hosts", "50", "--reps", "1", "--out"])
        .arg(out.path())
        .output()
        .expect("run the benchmark");
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(out.path().join("RESULTS.md")).expect("RESULTS.md");
    assert!(md.contains("| add one host"), "{md}");
    assert!(out.path().join("results.json").exists());
}

#[test]
fn dry_run_and_checkpoint_rollback_cover_the_server() {
    if !may_run(
        "dry_run_and_checkpoint_rollback_cover_the_server",
        &["dnsmasq", "dhcp_release"],
    ) {
        return;
    }
    let net = Net::new("sg", &[G1_MAC, G2_MAC]);
    // A dry run plans the server and changes nothing.
    let o = net.hostnet(&["apply", "--dry-run", "-"], Some(&network("", 200)));
    assert!(o.status.success(), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("+ dhcp-server tenant1 dev tenant1 10.10.0.1/24")
            && stdout.contains("(dnsmasq started)"),
        "{stdout}"
    );
    assert!(!net.dir().exists(), "a dry run wrote files");

    net.apply(&network("", 200));
    let pid = net.pid().expect("pid");
    // A checkpointed change (a new host, other options), then `hostnet rollback`.
    let changed = network(&vm2(), 200).replace("mtu: 1450", "mtu: 1400");
    let o = net.hostnet(&["apply", "--confirm-timeout", "120", "-"], Some(&changed));
    assert!(o.status.success(), "{}", text(&o));
    assert!(net.dir().join("tenant1/hosts/52-54-00-00-00-02").exists());
    assert!(net.file("options").contains("option:mtu,1400"));
    let o = net.hostnet(&["rollback"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(!net.dir().join("tenant1/hosts/52-54-00-00-00-02").exists());
    assert!(net.file("options").contains("option:mtu,1450"));
    assert_eq!(
        net.pid(),
        Some(pid),
        "options and hosts never restart dnsmasq"
    );
    let out = net.apply(&network("", 200));
    assert!(out.contains("Nothing to change"), "{out}");
}

#[test]
fn a_crash_at_any_phase_rolls_back_to_the_old_server() {
    if !may_run(
        "a_crash_at_any_phase_rolls_back_to_the_old_server",
        &["dnsmasq", "dhcp_release"],
    ) {
        return;
    }
    let net = Net::new("sh", &[G1_MAC, G2_MAC]);
    let base = network(&vm2(), 200);
    net.apply(&base);
    let cmdline = |n: &Net| hostnet::netdev::dnsmasq::cmdline(n.pid().expect("pid")).expect("runs");
    let hosts = |n: &Net| {
        let mut all = n.file("hostsfile");
        if let Ok(dir) = std::fs::read_dir(n.dir().join("tenant1/hosts")) {
            for e in dir.flatten() {
                all.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
        let mut lines: Vec<String> = all
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        lines.sort();
        lines
    };
    let (argv, opts, declared) = (cmdline(&net), net.file("options"), hosts(&net));
    // Host removed, options and range changed: remove hosts, configure, start (restart).
    let change = network("", 250).replace("mtu: 1450", "mtu: 1400");
    for k in 0..3 {
        let n = k.to_string();
        let o = net.hostnet_env(
            &["apply", "-"],
            Some(&change),
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", &n)],
        );
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&o.status),
            Some(9),
            "crash point {k}: {}",
            text(&o)
        );
        let o = net.hostnet(&["rollback"], None);
        assert!(o.status.success(), "crash point {k}: {}", text(&o));
        assert_eq!(cmdline(&net), argv, "crash point {k}");
        assert_eq!(net.file("options"), opts, "crash point {k}");
        assert_eq!(hosts(&net), declared, "crash point {k}");
        let out = net.apply(&base);
        assert!(out.contains("Nothing to change"), "crash point {k}: {out}");
    }
}

/// The apply that printed `out` started a new dnsmasq in place of `old_pid`, and it gives
/// the declared guest g1 its fixed address.
fn assert_a_new_server_serves_g1(net: &Net, out: &str, old_pid: i32) {
    assert!(
        out.contains("~ dhcp-server tenant1: dnsmasq restarted")
            || out.contains("~ dhcp-server tenant1: dnsmasq stopped -> running"),
        "{out}"
    );
    let new_pid = net.pid().expect("pid");
    assert_ne!(new_pid, old_pid);
    assert!(!Net::alive(old_pid));
    let env = net.dhclient("g1");
    assert_eq!(
        env_value(&env, "new_ip_address"),
        Some("10.10.0.5"),
        "{env}"
    );
}

#[test]
fn a_deleted_bridge_comes_back_with_a_restarted_server() {
    if !may_run(
        "a_deleted_bridge_comes_back_with_a_restarted_server",
        &["dnsmasq", "dhclient", "ip"],
    ) {
        return;
    }
    let net = Net::new("si", &[G1_MAC]);
    let yaml = network("", 200);
    net.apply(&yaml);
    let pid = net.pid().expect("pid");
    // Someone deletes the bridge under the running dnsmasq.
    let o = net.lab.run("host", "ip", &["link", "del", "tenant1"]);
    assert!(o.status.success(), "{o:?}");
    let out = net.apply(&yaml);
    assert!(
        out.contains("~ dhcp-server tenant1: dnsmasq restarted"),
        "{out}"
    );
    assert_a_new_server_serves_g1(&net, &out, pid);
}

#[test]
fn a_bridge_recreated_by_someone_else_gets_a_restarted_server() {
    if !may_run(
        "a_bridge_recreated_by_someone_else_gets_a_restarted_server",
        &["dnsmasq", "dhclient", "ip"],
    ) {
        return;
    }
    let net = Net::new("sk", &[G1_MAC]);
    let yaml = network("", 200);
    net.apply(&yaml);
    let pid = net.pid().expect("pid");
    // Someone deletes the bridge and makes one of the same name: the old dnsmasq is
    // still bound to the dead interface.
    for c in [
        &["link", "del", "tenant1"][..],
        &["link", "add", "tenant1", "type", "bridge"][..],
    ] {
        let o = net.lab.run("host", "ip", c);
        assert!(o.status.success(), "{o:?}");
    }
    let out = net.apply(&yaml);
    assert_a_new_server_serves_g1(&net, &out, pid);
    let out = net.apply(&yaml);
    assert!(out.contains("Nothing to change"), "{out}");
}

#[test]
fn stray_files_in_a_server_directory_wedge_nothing() {
    if !may_run(
        "stray_files_in_a_server_directory_wedge_nothing",
        &["dnsmasq", "dhclient", "ip"],
    ) {
        return;
    }
    let net = Net::new("sl", &[G1_MAC]);
    let yaml = network("", 200);
    net.apply(&yaml);
    let hosts = net.dir().join("tenant1/hosts");
    // An editor's backup (dnsmasq skips it too) and a file hostnet did not write.
    let backup = hosts.join("52-54-00-12-34-56~");
    std::fs::write(&backup, "52:54:00:12:34:56,10.10.0.5,vm1\n").expect("backup");
    let junk = hosts.join("junk");
    std::fs::write(&junk, "not a host\n").expect("junk");
    let o = net.hostnet(&["show"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&junk.display().to_string()),
        "{}",
        text(&o)
    );
    assert!(
        !String::from_utf8_lossy(&o.stderr).contains('~'),
        "{}",
        text(&o)
    );
    // Another network is not held up by it.
    let o = net.hostnet(
        &["apply", "-"],
        Some("networks:\n  - {name: other, ipv4: {address: [10.30.0.1/24]}}\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    // The server's own apply folds the junk away; the backup stays, unread.
    let out = net.apply(&yaml);
    assert!(out.contains("dnsmasq stopped -> running"), "{out}");
    assert!(!junk.exists());
    assert!(backup.exists());
    let out = net.apply(&yaml);
    assert!(out.contains("Nothing to change"), "{out}");
    let env = net.dhclient("g1");
    assert_eq!(
        env_value(&env, "new_ip_address"),
        Some("10.10.0.5"),
        "{env}"
    );
    let o = net.hostnet(
        &["apply", "-"],
        Some("networks:\n  - {name: tenant1, state: absent}\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(!net.dir().join("tenant1").exists());
}

#[test]
fn a_new_hostname_keeps_the_lease() {
    if !may_run(
        "a_new_hostname_keeps_the_lease",
        &["dnsmasq", "dhclient", "dhcp_release", "ip"],
    ) {
        return;
    }
    let net = Net::new("sm", &[G1_MAC]);
    net.apply(&network("", 200));
    let env = net.dhclient("g1");
    assert_eq!(
        env_value(&env, "new_ip_address"),
        Some("10.10.0.5"),
        "{env}"
    );
    let pid = net.pid().expect("pid");
    let mac = G1_MAC.to_ascii_lowercase();
    assert!(net.file("leases").contains(&mac), "{}", net.file("leases"));
    let renamed = network("", 200).replace("hostname: vm1", "hostname: vm1-renamed");
    let out = net.apply(&renamed);
    assert!(!out.contains("- dhcp-host"), "{out}");
    // dnsmasq rewrites its lease file in place after the SIGHUP: a read in the middle
    // can see it empty. A released lease does not come back (the guest is not asking).
    let start = Instant::now();
    while !net.file("leases").contains(&mac) && start.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        net.file("leases").contains(&mac),
        "released: {}",
        net.file("leases")
    );
    assert_eq!(net.pid(), Some(pid), "no restart");
    assert!(net.file("hostsfile").contains("vm1-renamed"));
    // dnsmasq has the new name (its SIGHUP re-read the hosts file).
    let (a, _) = dns_a(
        &net,
        "g1",
        std::net::Ipv4Addr::new(10, 10, 0, 1),
        "vm1-renamed.tenant1.example",
    );
    assert_eq!(a, [std::net::Ipv4Addr::new(10, 10, 0, 5)]);
    let out = net.apply(&renamed);
    assert!(out.contains("Nothing to change"), "{out}");
}

#[test]
fn per_host_files_are_folded_before_they_pile_up() {
    if !may_run(
        "per_host_files_are_folded_before_they_pile_up",
        &["dnsmasq", "ip"],
    ) {
        return;
    }
    let net = Net::new("sn", &[G1_MAC]);
    let hosts = |n: u8| -> String {
        (0..n)
            .map(|i| {
                format!(
                    "        - {{mac: \"52:54:00:00:01:{i:02x}\", ip: 10.10.0.{}}}\n",
                    10 + u32::from(i)
                )
            })
            .collect()
    };
    let files = || {
        std::fs::read_dir(net.dir().join("tenant1/hosts"))
            .expect("hosts dir")
            .count()
    };
    net.apply(&network("", 200));
    let pid = net.pid().expect("pid");
    // 60 new hosts: files dnsmasq reads by itself.
    net.apply(&network(&hosts(60), 200));
    assert_eq!(files(), 60);
    // 10 more would make 70 files: everything is folded into the hosts file.
    net.apply(&network(&hosts(70), 200));
    assert_eq!(files(), 0);
    assert_eq!(net.file("hostsfile").lines().count(), 1 + 71);
    assert_eq!(net.pid(), Some(pid), "no restart");
    let out = net.apply(&network(&hosts(70), 200));
    assert!(out.contains("Nothing to change"), "{out}");
}

#[test]
fn a_release_that_fails_rolls_the_removal_back() {
    if !may_run(
        "a_release_that_fails_rolls_the_removal_back",
        &["dnsmasq", "dhclient", "ip"],
    ) {
        return;
    }
    let net = Net::new("sj", &[G1_MAC, G2_MAC]);
    net.apply(&network(&vm2(), 200));
    join(&net, "gv2");
    net.dhclient("g2");
    let pid = net.pid().expect("pid");
    let hosts = net.file("hostsfile");
    // No dhcp_release on the PATH: the removal of a host with a lease cannot finish.
    let o = net.hostnet_env(
        &["apply", "-"],
        Some(&network("", 200)),
        &[("PATH", "/usr/sbin:/sbin")],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("dhcp_release"),
        "{}",
        text(&o)
    );
    assert_eq!(net.file("hostsfile"), hosts);
    assert_eq!(net.pid(), Some(pid));
    assert!(net.file("leases").contains(&G2_MAC.to_lowercase()));
    let out = net.apply(&network(&vm2(), 200));
    assert!(out.contains("Nothing to change"), "{out}");
}

#[test]
fn guests_reach_the_server_through_the_networks_firewall() {
    if !may_run(
        "guests_reach_the_server_through_the_networks_firewall",
        &["dnsmasq", "dhclient", "ip", "nft"],
    ) {
        return;
    }
    let net = Net::new("sk", &[G1_MAC]);
    // Guests may reach the host only on the ports listed: DHCP and DNS.
    let yaml = network("", 200).replace(
        "    dhcp-server:\n",
        "    firewall:\n      allow-from-guests: [{proto: udp, port: 67}, {proto: udp, port: 53}]\n    dhcp-server:\n",
    );
    let out = net.apply(&yaml);
    assert!(out.contains("(dnsmasq started)"), "{out}");
    let env = net.dhclient("g1");
    assert_eq!(
        env_value(&env, "new_ip_address"),
        Some("10.10.0.5"),
        "{env}"
    );
    let (a, _) = dns_a(
        &net,
        "g1",
        Ipv4Addr::new(10, 10, 0, 1),
        "vm1.tenant1.example",
    );
    assert_eq!(a, vec![Ipv4Addr::new(10, 10, 0, 5)]);
    // The firewall is in force: DNS over TCP (not listed) is dropped.
    let tcp = net
        .lab
        .sb
        .run_in("g1", || {
            Ok(std::net::TcpStream::connect_timeout(
                &(Ipv4Addr::new(10, 10, 0, 1), 53).into(),
                Duration::from_secs(1),
            )
            .is_ok())
        })
        .expect("in guest");
    assert!(!tcp, "TCP 53 should be filtered");
    let out = net.apply(&yaml);
    assert!(out.contains("Nothing to change"), "{out}");
}
