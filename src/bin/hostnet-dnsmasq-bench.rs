//! `hostnet-dnsmasq-bench`: what a host change costs a network's dnsmasq with many
//! declared hosts. In a namespace of its own (`hndb-PID-host`, removed at the end) one
//! network serves `--hosts` declared hosts (default 10,000); then, `--reps` times each:
//!
//! * **add one host**: `engine::apply` of the file with one more host (query, plan, one
//!   new file, verify), and the time until dnsmasq's log shows it read that file (inotify,
//!   no signal);
//! * **remove one host**: `engine::apply` without it (the rest folded into the hosts file,
//!   one SIGHUP), and the time until dnsmasq's log shows it re-read the hosts file;
//! * **full SIGHUP reload** of the same hosts, without hostnet: `kill -HUP`, then the time
//!   until the log shows the hosts file re-read;
//! * **reference**: a second dnsmasq with the same hosts in one `--dhcp-hostsfile` of its
//!   own and nothing else, reloaded with SIGHUP.
//!
//! With dnsmasq's CPU time for each.
//!
//! Needs root and dnsmasq. Writes `RESULTS.md` and `results.json` into `--out` (default
//! `bench/results/dnsmasq`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hostnet::engine::{self, ApplyOptions};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::sandbox::Sandbox;

struct Args {
    hosts: usize,
    reps: usize,
    out: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        hosts: 10_000,
        reps: 10,
        out: PathBuf::from("bench/results/dnsmasq"),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--hosts" => a.hosts = value()?.parse().map_err(|e| format!("--hosts: {e}"))?,
            "--reps" => a.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--out" => a.out = PathBuf::from(value()?),
            "-h" | "--help" => {
                return Err(
                    "usage: hostnet-dnsmasq-bench [--hosts N] [--reps R] [--out DIR]".into(),
                )
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.hosts == 0 || a.hosts > 60_000 {
        return Err("--hosts must be 1 to 60000".into());
    }
    Ok(a)
}

/// Host i: a MAC and an address in 10.78.0.0/16 (the network is 10.78.0.1).
fn host(i: usize) -> String {
    let (hi, lo) = (i / 200 + 1, i % 200 + 10);
    format!(
        "        - {{mac: \"52:54:00:{:02x}:{:02x}:{:02x}\", ip: 10.78.{hi}.{lo}, hostname: h{i}}}\n",
        (i >> 16) & 0xff,
        (i >> 8) & 0xff,
        i & 0xff
    )
}

fn document(hosts: impl Iterator<Item = usize>) -> String {
    let mut s = String::from(
        "networks:
  - name: bench0
    ipv4: {address: [10.78.0.1/16]}
    dhcp-server:
      range: {start: 10.78.250.10, end: 10.78.250.200}
      domain: bench.example
      ping-check: false
      hosts:
",
    );
    for i in hosts {
        s.push_str(&host(i));
    }
    s
}

fn intent(yaml: &str) -> Result<hostnet::expand::Intent, String> {
    let d = hostnet::model::parse(yaml).map_err(|e| e.to_string())?;
    hostnet::model::validate(&d).map_err(|e| e.to_string())?;
    hostnet::expand::expand(&d).map_err(|e| e.to_string())
}

fn apply(driver: &mut LinuxDriver, yaml: &str) -> Result<Duration, String> {
    let intent = intent(yaml)?;
    let t = Instant::now();
    engine::apply(driver, &intent, ApplyOptions::default(), |_, _| Ok(()))
        .map_err(|e| format!("{e}: {:?}", e.details()))?;
    Ok(t.elapsed())
}

/// Waits until dnsmasq's log, from byte `from` on, shows `count` lines with `needle`.
fn wait_for_log(log: &Path, needle: &str, from: u64, count: usize) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut f = std::fs::File::open(log).map_err(|e| e.to_string())?;
    f.seek(SeekFrom::Start(from)).map_err(|e| e.to_string())?;
    let (mut seen, mut carry) = (0usize, String::new());
    loop {
        let mut chunk = String::new();
        f.read_to_string(&mut chunk).map_err(|e| e.to_string())?;
        carry.push_str(&chunk);
        if let Some(end) = carry.rfind('\n') {
            seen += carry[..end].lines().filter(|l| l.contains(needle)).count();
            carry = carry[end + 1..].to_string();
        }
        if seen >= count {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!(
                "dnsmasq logged {seen} of {count} lines with {needle}"
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn log_size(log: &Path) -> u64 {
    std::fs::metadata(log).map_or(0, |m| m.len())
}

fn pid(dir: &Path) -> Result<i32, String> {
    hostnet::netdev::dnsmasq::pid_in_file(dir).ok_or("no dnsmasq PID".into())
}

/// dnsmasq's CPU time so far (user + system), in ms (10 ms ticks).
fn cpu_ms(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rfind(')').map_or("", |i| &stat[i + 2..]);
    let f: Vec<u64> = after
        .split(' ')
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    f.iter().sum::<u64>() as f64 * 1000.0 / hz
}

#[derive(Default, serde::Serialize)]
struct Samples {
    add_apply_ms: Vec<f64>,
    add_until_read_ms: Vec<f64>,
    add_dnsmasq_cpu_ms: Vec<f64>,
    remove_apply_ms: Vec<f64>,
    remove_until_reloaded_ms: Vec<f64>,
    remove_dnsmasq_cpu_ms: Vec<f64>,
    sighup_until_reloaded_ms: Vec<f64>,
    sighup_dnsmasq_cpu_ms: Vec<f64>,
    hostsfile_sighup_ms: Vec<f64>,
    hostsfile_sighup_cpu_ms: Vec<f64>,
    initial_apply_ms: f64,
    reapply_ms: Vec<f64>,
    teardown_ms: f64,
    hosts: usize,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn run(args: &Args, state: &Path) -> Result<Samples, String> {
    let n = args.hosts;
    let mut driver = LinuxDriver::new()
        .map_err(|e| e.to_string())?
        .with_dhcp_server_dir(state.to_path_buf());
    let dir = state.join("bench0");
    let log = dir.join("dnsmasq.log");
    let mut s = Samples {
        hosts: n,
        ..Samples::default()
    };
    let full = document(0..n);
    let more = document(0..=n);
    let from = 0;
    s.initial_apply_ms = ms(apply(&mut driver, &full)?);
    // Ready once the start-up read of the hosts file is done.
    let hosts_file = "/bench0/hostsfile";
    wait_for_log(&log, hosts_file, from, 1)?;
    let base = pid(&dir)?;
    let mac = format!(
        "52-54-00-{:02x}-{:02x}-{:02x}",
        (n >> 16) & 0xff,
        (n >> 8) & 0xff,
        n & 0xff
    );
    for rep in 0..args.reps {
        s.reapply_ms.push(ms(apply(&mut driver, &full)?));
        // Add host n: one new file, which dnsmasq reads through inotify.
        let (from, cpu, t) = (log_size(&log), cpu_ms(base), Instant::now());
        s.add_apply_ms.push(ms(apply(&mut driver, &more)?));
        wait_for_log(&log, &format!("/hosts/{mac}"), from, 1)?;
        s.add_until_read_ms.push(ms(t.elapsed()));
        s.add_dnsmasq_cpu_ms.push(cpu_ms(base) - cpu);
        // Remove it again: the rest folded into the hosts file, one SIGHUP re-reads it.
        let (from, cpu, t) = (log_size(&log), cpu_ms(base), Instant::now());
        s.remove_apply_ms.push(ms(apply(&mut driver, &full)?));
        wait_for_log(&log, hosts_file, from, 1)?;
        s.remove_until_reloaded_ms.push(ms(t.elapsed()));
        s.remove_dnsmasq_cpu_ms.push(cpu_ms(base) - cpu);
        // A full reload of the same hosts, as a hosts-file setup does for every change.
        let (from, cpu, t) = (log_size(&log), cpu_ms(base), Instant::now());
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(base),
            nix::sys::signal::Signal::SIGHUP,
        )
        .map_err(|e| e.to_string())?;
        wait_for_log(&log, hosts_file, from, 1)?;
        s.sighup_until_reloaded_ms.push(ms(t.elapsed()));
        s.sighup_dnsmasq_cpu_ms.push(cpu_ms(base) - cpu);
        eprintln!("rep {}/{} done", rep + 1, args.reps);
    }
    if pid(&dir)? != base {
        return Err("dnsmasq was restarted during the benchmark".into());
    }
    hosts_file_reference(args, state, &mut driver, &mut s)?;
    let t = Instant::now();
    apply(
        &mut driver,
        "networks:\n  - {name: bench0, state: absent}\n",
    )?;
    s.teardown_ms = ms(t.elapsed());
    Ok(s)
}

/// The old way for comparison: a dnsmasq of the benchmark's own, on a second bridge, with
/// the same hosts in one `--dhcp-hostsfile`, reloaded with SIGHUP.
fn hosts_file_reference(
    args: &Args,
    state: &Path,
    driver: &mut LinuxDriver,
    s: &mut Samples,
) -> Result<(), String> {
    apply(
        driver,
        "networks:\n  - {name: bench1, ipv4: {address: [10.79.0.1/16]}}\n",
    )?;
    let dir = state.join("reference");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let file = dir.join("hostsfile");
    let mut text = String::new();
    for i in 0..args.hosts {
        text.push_str(&format!(
            "52:54:00:{:02x}:{:02x}:{:02x},10.79.{}.{},h{i}\n",
            (i >> 16) & 0xff,
            (i >> 8) & 0xff,
            i & 0xff,
            i / 200 + 1,
            i % 200 + 10
        ));
    }
    std::fs::write(&file, text).map_err(|e| e.to_string())?;
    use std::os::unix::fs::PermissionsExt;
    for p in [&dir, &file] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| e.to_string())?;
    }
    let (log, pid_file) = (dir.join("dnsmasq.log"), dir.join("dnsmasq.pid"));
    let f = |p: &Path| p.display().to_string();
    let status = std::process::Command::new("dnsmasq")
        .args([
            "--conf-file=/dev/null",
            "--port=0",
            "--bind-interfaces",
            "--interface=bench1",
            "--except-interface=lo",
            "--no-ping",
            "--dhcp-range=10.79.250.10,10.79.250.200,255.255.0.0,1h",
            &format!("--dhcp-lease-max={}", args.hosts + 1000),
            &format!("--dhcp-hostsfile={}", f(&file)),
            &format!("--dhcp-leasefile={}", f(&dir.join("leases"))),
            &format!("--log-facility={}", f(&log)),
            &format!("--pid-file={}", f(&pid_file)),
        ])
        .status()
        .map_err(|e| format!("dnsmasq: {e}"))?;
    if !status.success() {
        return Err(format!("reference dnsmasq did not start: {status}"));
    }
    let result = (|| {
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .map_err(|e| e.to_string())?
            .trim()
            .parse()
            .map_err(|e| format!("{e}"))?;
        let needle = format!("read {}", f(&file));
        wait_for_log(&log, &needle, 0, 1)?;
        for _ in 0..args.reps {
            let (from, cpu, t) = (log_size(&log), cpu_ms(pid), Instant::now());
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGHUP,
            )
            .map_err(|e| e.to_string())?;
            wait_for_log(&log, &needle, from, 1)?;
            s.hostsfile_sighup_ms.push(ms(t.elapsed()));
            s.hostsfile_sighup_cpu_ms.push(cpu_ms(pid) - cpu);
        }
        Ok::<i32, String>(pid)
    })();
    // Ours to stop: started above, PID from its own PID file.
    if let Some(pid) = hostnet::netdev::dnsmasq::pid_in_file(&dir) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    apply(driver, "networks:\n  - {name: bench1, state: absent}\n")?;
    result.map(|_| ())
}

fn stats(v: &[f64]) -> String {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match (v.first(), v.last()) {
        (Some(lo), Some(hi)) => format!("**{:.1} ms** [{lo:.1}–{hi:.1}]", v[v.len() / 2]),
        _ => "–".into(),
    }
}

fn report(s: &Samples, reps: usize) -> String {
    format!(
        "# dnsmasq with {n} declared hosts\n\n\
         `cargo run --release --bin hostnet-dnsmasq-bench -- --hosts {n} --reps {reps}`: one network,\n\
         one dnsmasq 2.90; hosts in one `--dhcp-hostsfile`, hosts added since the last removal\n\
         one file each in `--dhcp-hostsdir`. Median [min–max] of {reps} runs.\n\
         \"Until dnsmasq has it\" runs from the start of the apply (or the signal) to the last\n\
         `read` line the change makes dnsmasq log; dnsmasq CPU is user + system time (10 ms ticks).\n\n\
         | step | hostnet apply (query, plan, execute, verify) | until dnsmasq has it | dnsmasq CPU |\n\
         |---|--:|--:|--:|\n\
         | add one host (a new file, no signal) | {} | {} | {} |\n\
         | remove one host (rest folded into the hosts file, one SIGHUP) | {} | {} | {} |\n\
         | full SIGHUP reload of the same hosts (no hostnet) | – | {} | {} |\n\
         | reference: SIGHUP of a dnsmasq with the same hosts in one `--dhcp-hostsfile` | – | {} | {} |\n\
         | re-apply, nothing to change | {} | – | – |\n\n\
         First apply with all {n} hosts (writes every file, starts dnsmasq): {:.0} ms; \
         removing the network (stops dnsmasq, removes its files and the bridge): {:.0} ms.\n",
        stats(&s.add_apply_ms),
        stats(&s.add_until_read_ms),
        stats(&s.add_dnsmasq_cpu_ms),
        stats(&s.remove_apply_ms),
        stats(&s.remove_until_reloaded_ms),
        stats(&s.remove_dnsmasq_cpu_ms),
        stats(&s.sighup_until_reloaded_ms),
        stats(&s.sighup_dnsmasq_cpu_ms),
        stats(&s.hostsfile_sighup_ms),
        stats(&s.hostsfile_sighup_cpu_ms),
        stats(&s.reapply_ms),
        s.initial_apply_ms,
        s.teardown_ms,
        n = s.hosts,
    )
}

fn main() -> std::process::ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let result = (|| -> Result<Samples, String> {
        let state = tempfile_dir()?;
        let mut sb = Sandbox::new(&format!("hndb-{}", std::process::id()));
        sb.add("host").map_err(|e| e.to_string())?;
        let st = state.clone();
        let r = sb
            .run_in("host", || Ok(run(&args, &st)))
            .map_err(|e| e.to_string())?;
        if let Some(pid) = hostnet::netdev::dnsmasq::pid_in_file(&state.join("bench0")) {
            // Only after an error: a dnsmasq of ours may still run.
            if hostnet::netdev::dnsmasq::cmdline(pid)
                .is_some_and(|a| a.iter().any(|x| x.contains(&state.display().to_string())))
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGTERM,
                );
            }
        }
        let _ = std::fs::remove_dir_all(&state);
        r
    })();
    match result {
        Ok(s) => {
            let md = report(&s, args.reps);
            print!("{md}");
            let written = std::fs::create_dir_all(&args.out)
                .and_then(|()| std::fs::write(args.out.join("RESULTS.md"), &md))
                .and_then(|()| {
                    let json = serde_json::to_string_pretty(&s).map_err(std::io::Error::other)?;
                    std::fs::write(args.out.join("results.json"), json)
                });
            if let Err(e) = written {
                eprintln!("cannot write {}: {e}", args.out.display());
                return std::process::ExitCode::from(1);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

/// A directory dnsmasq (as nobody) can read.
fn tempfile_dir() -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("hostnet-dnsmasq-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| e.to_string())?;
    Ok(dir)
}
