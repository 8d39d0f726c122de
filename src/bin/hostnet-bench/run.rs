//! Namespaces the benchmark owns, and timed child processes with their resource usage.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hostnet::netdev::linux::{
    create_named_netns, delete_named_netns, enter_named_netns, LinuxDriver,
};
use hostnet::netdev::{Driver, LinkChange, Op};

pub type Res<T> = Result<T, String>;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM set a flag; the benchmark stops at the next step and its guards
/// delete the namespaces.
pub fn install_signal_handlers() -> Res<()> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { sigaction(sig, &action) }.map_err(|e| format!("sigaction {sig}: {e}"))?;
    }
    Ok(())
}

pub fn check_interrupted() -> Res<()> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// Runs `f` on a thread inside the named namespace: children it spawns are born there.
pub fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> Res<T> + Send) -> Res<T> {
    std::thread::scope(|s| {
        s.spawn(|| {
            enter_named_netns(ns).map_err(|e| format!("enter {ns}: {e}"))?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(format!("worker thread in {ns} panicked")))
    })
}

fn lo_up() -> Res<()> {
    let mut d = LinuxDriver::new().map_err(|e| e.to_string())?;
    let op = Op::ChangeLink {
        name: "lo".into(),
        change: LinkChange {
            up: Some(true),
            ..LinkChange::default()
        },
    };
    for r in d.execute(&[op]) {
        r.map_err(|e| format!("set lo up: {e}"))?;
    }
    Ok(())
}

/// A named namespace with `lo` up, deleted on drop (waiting for the kernel's teardown when
/// it has a probe).
pub struct Netns {
    pub name: String,
    probe: Option<String>,
    canary: Option<String>,
    deleted: bool,
}

impl Netns {
    pub fn new(name: String, probe: Option<String>) -> Res<Netns> {
        check_interrupted()?;
        create_named_netns(&name).map_err(|e| format!("create {name}: {e}"))?;
        let ns = Netns {
            name,
            probe,
            canary: None,
            deleted: false,
        };
        in_ns(&ns.name, lo_up)?;
        Ok(ns)
    }

    /// Creates a veth whose peer lives in the probe namespace: when the peer is gone, the
    /// kernel has unregistered this namespace's devices.
    fn plant_canary(&mut self) -> Res<()> {
        let Some(probe) = self.probe.clone() else {
            return Ok(());
        };
        let canary = format!("c{}", self.name.rsplit('-').next().unwrap_or("x"));
        let args = format!("link add hnbcanary type veth peer name {canary} netns {probe}");
        in_ns(&self.name, || {
            let s = run_child(Command::new("ip").args(args.split(' ')), None)?;
            s.ok("ip link add canary")
        })?;
        self.canary = Some(canary);
        Ok(())
    }

    /// Deletes the namespace; returns once the kernel has finished tearing it down (the
    /// canary's peer is gone and RTNL is free again), or at once without a probe.
    pub fn delete_and_wait(&mut self) -> Res<Duration> {
        self.plant_canary()?;
        let t = Instant::now();
        delete_named_netns(&self.name).map_err(|e| format!("delete {}: {e}", self.name))?;
        self.deleted = true;
        if let (Some(probe), Some(canary)) = (self.probe.clone(), self.canary.take()) {
            in_ns(&probe, || {
                let deadline = Instant::now() + Duration::from_secs(600);
                while nix::net::if_::if_nametoindex(canary.as_str()).is_ok() {
                    if Instant::now() > deadline {
                        return Err(format!("{canary} still present after 600 s"));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                // One request that takes RTNL: the teardown no longer holds it.
                lo_up()
            })?;
        }
        Ok(t.elapsed())
    }
}

/// Waits until the kernel has torn down every namespace deleted before now: the kernel
/// cleans up deleted namespaces one batch after another, so a throwaway namespace's
/// teardown ends after theirs. A part measured while an earlier part's thousands of
/// devices are still being unregistered waits on RTNL (a first apply of 100 networks
/// took 17 s instead of a fraction of one).
pub fn wait_for_teardowns() -> Res<Duration> {
    let base = format!("hnb-{}-settle", std::process::id());
    let probe = Netns::new(format!("{base}-probe"), None)?;
    let mut ns = Netns::new(base, Some(probe.name.clone()))?;
    ns.delete_and_wait()
}

impl Drop for Netns {
    fn drop(&mut self) {
        if !self.deleted {
            self.deleted = true;
            if let Err(e) = delete_named_netns(&self.name) {
                eprintln!("warning: could not delete {}: {e}", self.name);
            }
        }
    }
}

/// What one process (or a sequence of them) cost.
#[derive(Clone, Debug, Default)]
pub struct Sample {
    pub wall: Duration,
    /// User + system CPU of the children.
    pub cpu: Duration,
    /// The system (kernel) part of `cpu`: what the kernel did in their system calls
    /// (work it defers to its own threads, such as IPv6 set-up, is not in it).
    pub sys: Duration,
    /// Largest peak RSS of any child, KiB.
    pub maxrss_kb: u64,
    pub processes: usize,
    pub failed: Option<String>,
}

impl Sample {
    pub fn ok(self, what: &str) -> Res<Sample> {
        match &self.failed {
            None => Ok(self),
            Some(e) => Err(format!("{what} failed: {e}")),
        }
    }

    pub fn add(&mut self, other: &Sample) {
        self.wall += other.wall;
        self.cpu += other.cpu;
        self.sys += other.sys;
        self.maxrss_kb = self.maxrss_kb.max(other.maxrss_kb);
        self.processes += other.processes;
        if self.failed.is_none() {
            self.failed.clone_from(&other.failed);
        }
    }
}

fn tv(t: libc::timeval) -> Duration {
    Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
        + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
}

/// Runs `cmd` to completion, stdout to `stdout` (or nowhere), stderr kept for the error
/// message; wall time from spawn to reaping, CPU and peak RSS from `wait4`.
pub fn run_child(cmd: &mut Command, stdout: Option<&Path>) -> Res<Sample> {
    run_child_rss(cmd, stdout, false)
}

/// Resets the peak-RSS mark of the forked child before `exec`: otherwise the kernel
/// carries the parent's (this benchmark's) peak over into the child's `ru_maxrss`.
fn reset_peak_rss_before_exec(cmd: &mut Command) {
    const PATH: &[u8] = b"/proc/self/clear_refs\0";
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls (open, write, close) on a static, NUL-terminated path.
    unsafe {
        cmd.pre_exec(|| {
            let fd = libc::open(PATH.as_ptr().cast(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd >= 0 {
                let _ = libc::write(fd, b"5".as_ptr().cast(), 1);
                libc::close(fd);
            }
            Ok(())
        });
    }
}

/// [`run_child`]; with `rss`, the child's peak RSS is its own (it is forked rather than
/// vforked, which costs a little more start-up).
pub fn run_child_rss(cmd: &mut Command, stdout: Option<&Path>, rss: bool) -> Res<Sample> {
    check_interrupted()?;
    if rss {
        reset_peak_rss_before_exec(cmd);
    }
    let err_file = tempfile_path("stderr");
    let out = match stdout {
        Some(p) => Stdio::from(File::create(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => Stdio::null(),
    };
    let err = File::create(&err_file).map_err(|e| format!("{}: {e}", err_file.display()))?;
    cmd.stdin(Stdio::null())
        .stdout(out)
        .stderr(Stdio::from(err));
    let t = Instant::now();
    let child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    let pid = libc::pid_t::try_from(child.id()).map_err(|e| e.to_string())?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain data; zeroed is a valid value for it.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let mut killed = false;
    loop {
        // SAFETY: pid is our own child, not reaped yet (std's Child is never waited on);
        // status and usage point to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == pid {
            break;
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(format!("wait4: {e}"));
        }
        if INTERRUPTED.load(Ordering::SeqCst) && !killed {
            // Our own child: stop it, then reap it.
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            killed = true;
        }
    }
    let wall = t.elapsed();
    drop(child);
    let failed = if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        None
    } else {
        let text = std::fs::read_to_string(&err_file).unwrap_or_default();
        let tail: String = text.lines().rev().take(6).collect::<Vec<_>>().join(" | ");
        Some(format!("status {status:#x}: {tail}"))
    };
    let _ = std::fs::remove_file(&err_file);
    check_interrupted()?;
    Ok(Sample {
        wall,
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
        sys: tv(usage.ru_stime),
        maxrss_kb: if rss {
            u64::try_from(usage.ru_maxrss).unwrap_or(0)
        } else {
            0
        },
        processes: 1,
        failed,
    })
}

/// The 1-minute load average (NaN when unreadable).
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// A scratch file name of this process under the scratch directory.
pub fn tempfile_path(what: &str) -> PathBuf {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    scratch_dir().join(format!("{what}-{}", N.fetch_add(1, Ordering::SeqCst)))
}

/// `/tmp/hnb-PID`, made by `main`.
pub fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("hnb-{}", std::process::id()))
}
