//! The dnsmasq process of a network: found through its PID file, but only believed once
//! `/proc/PID/cmdline` shows a dnsmasq started with that very PID file. A PID is recycled;
//! a stale PID file that now names another process must never lead to a signal.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::render::{IFINDEX_FILE, PID_FILE, PROGRAM};
use super::ServerError;

/// The PID in a server's PID file, if it holds one.
pub fn pid_in_file(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join(PID_FILE))
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|p| *p > 1)
}

/// The command line of a live process (empty for zombies and kernel threads).
pub fn cmdline(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    if raw.is_empty() {
        return None;
    }
    Some(
        raw.split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect(),
    )
}

/// The PID of this server's dnsmasq and its command line: the PID file's process, if it
/// is a dnsmasq started with this directory's PID file.
pub fn ours(dir: &Path) -> Option<(i32, Vec<String>)> {
    let pid = pid_in_file(dir)?;
    let argv = cmdline(pid)?;
    let pid_arg = format!("--pid-file={}", dir.join(PID_FILE).display());
    let is_dnsmasq = argv
        .first()
        .is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n == PROGRAM));
    (is_dnsmasq && argv.contains(&pid_arg)).then_some((pid, argv))
}

/// The index of `interface` in the calling thread's namespace; `None` when it is absent.
pub fn ifindex(interface: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(interface)
        .ok()
        .filter(|i| *i != 0)
}

/// The interface index recorded when this server's dnsmasq was started.
pub fn bound_ifindex(dir: &Path) -> Option<u32> {
    std::fs::read_to_string(dir.join(IFINDEX_FILE))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

/// True when `interface` exists under another index than the one dnsmasq bound to at its
/// start: someone deleted and recreated it, and a `--bind-interfaces` dnsmasq keeps
/// listening on the dead one. An absent interface, or no record, is not "rebound".
pub fn rebound(dir: &Path, interface: &str) -> bool {
    matches!((bound_ifindex(dir), ifindex(interface)), (Some(a), Some(b)) if a != b)
}

fn signal(pid: i32, sig: Signal) -> Result<(), ServerError> {
    match kill(Pid::from_raw(pid), sig) {
        Ok(()) | Err(nix::errno::Errno::ESRCH) => Ok(()),
        Err(e) => Err(ServerError::Signal {
            pid,
            signal: sig.as_str(),
            source: e.into(),
        }),
    }
}

/// True once `pid` has exited: gone, or a zombie. An empty command line is not enough:
/// the kernel drops a dying process's memory (and so its command line) before it closes
/// its files, and a successor would find the old sockets still bound.
fn exited(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    matches!(state, Some("Z" | "X" | "x"))
}

/// Sends SIGHUP to this server's dnsmasq, if it is running; true when one was sent.
pub fn reload(dir: &Path) -> Result<bool, ServerError> {
    match ours(dir) {
        Some((pid, _)) => signal(pid, Signal::SIGHUP).map(|()| true),
        None => Ok(false),
    }
}

/// A handle on one process that stays with it: once it has exited, signals through the
/// handle go nowhere, even when its PID has been given to another process.
pub struct Handle(OwnedFd);

impl Handle {
    /// `pidfd_open(2)`; `None` when the process is gone or the kernel lacks pidfds.
    pub fn open(pid: i32) -> Option<Handle> {
        // SAFETY: pidfd_open takes a PID and flags and returns a new descriptor or -1;
        // no memory is passed.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: `fd` was just returned by the kernel and is owned by nobody else.
        Some(Handle(unsafe {
            <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
        }))
    }

    /// Sends `sig` to the process (nothing once it has exited).
    pub fn signal(&self, pid: i32, sig: Signal) -> Result<(), ServerError> {
        // SAFETY: pidfd_send_signal with a descriptor we own, a valid signal number, no
        // siginfo (null) and no flags.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                sig as libc::c_int,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        if r == 0 {
            return Ok(());
        }
        match std::io::Error::last_os_error() {
            e if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            source => Err(ServerError::Signal {
                pid,
                signal: sig.as_str(),
                source,
            }),
        }
    }

    /// True once the process has exited (a zombie included): its pidfd polls readable.
    pub fn exited(&self) -> bool {
        let mut p = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no timeout.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        n > 0
    }
}

/// Stops this server's dnsmasq (SIGTERM, then SIGKILL after 5 s) and waits until it is
/// gone. A PID file naming another process is left alone.
///
/// Every signal goes through a pidfd opened while `/proc/PID/cmdline` showed our dnsmasq,
/// so a PID that dnsmasq gave up meanwhile is never signalled. Without pidfds (kernels
/// before 5.3) ownership is checked again before each signal.
pub fn stop(dir: &Path) -> Result<(), ServerError> {
    let Some((pid, _)) = ours(dir) else {
        return Ok(());
    };
    let handle = Handle::open(pid);
    let still_ours = || ours(dir).is_some_and(|(p, _)| p == pid);
    if handle.is_some() && !still_ours() {
        // It exited between the check and the open: the pidfd may be another's.
        return Ok(());
    }
    let send = |sig: Signal| match &handle {
        Some(h) => h.signal(pid, sig),
        None if still_ours() => signal(pid, sig),
        None => Ok(()),
    };
    let gone = || match &handle {
        Some(h) => h.exited(),
        None => exited(pid),
    };
    send(Signal::SIGTERM)?;
    let start = Instant::now();
    while !gone() {
        if start.elapsed() > Duration::from_secs(5) {
            send(Signal::SIGKILL)?;
        }
        if start.elapsed() > Duration::from_secs(10) {
            return Err(ServerError::Stuck { pid });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Runs `argv` in the network namespace `netns` (the driver's), waiting for it to exit.
/// dnsmasq daemonizes and its first process exits only once the daemon is set up (or
/// has failed), so the status says whether it started.
pub fn run_in(netns: &OwnedFd, argv: &[String]) -> Result<std::process::Output, ServerError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(ServerError::Spawn {
            program: String::new(),
            source: std::io::Error::from(std::io::ErrorKind::InvalidInput),
        });
    };
    let fd = netns.as_raw_fd();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and calls only setns(2),
    // which is async-signal-safe; `fd` stays open in the parent until the child has
    // exec'd because `output()` waits for it.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().map_err(|source| ServerError::Spawn {
        program: program.clone(),
        source,
    })
}

/// Starts dnsmasq with `argv` and returns its PID.
///
/// A dnsmasq that was just killed (by someone else, or stopped by us) may hold its sockets
/// for a moment after it is gone from view: "Address already in use" is retried for up
/// to a second before it counts.
pub fn start(netns: &OwnedFd, dir: &Path, argv: &[String]) -> Result<i32, ServerError> {
    let mut attempts = 0;
    let out = loop {
        let out = run_in(netns, argv)?;
        attempts += 1;
        let busy = String::from_utf8_lossy(&out.stderr).contains("Address already in use");
        if out.status.success() || !busy || attempts >= 10 {
            break out;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    if !out.status.success() {
        return Err(ServerError::Start {
            dir: dir.to_path_buf(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    // The daemon writes its PID file before the first process exits.
    ours(dir)
        .map(|(pid, _)| pid)
        .ok_or_else(|| ServerError::Start {
            dir: dir.to_path_buf(),
            message: "dnsmasq exited without a running daemon behind its PID file".into(),
        })
}

/// `dhcp_release IFACE IP MAC`: tells the server the lease is given up, as the client
/// would. Only dnsmasq-utils has it.
pub fn release(netns: &OwnedFd, interface: &str, ip: &str, mac: &str) -> Result<(), ServerError> {
    let argv = [RELEASE_PROGRAM, interface, ip, mac].map(str::to_string);
    let out = run_in(netns, &argv)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ServerError::Release {
            ip: ip.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The program that releases a lease (package dnsmasq-utils).
pub const RELEASE_PROGRAM: &str = "dhcp_release";
/// The program that releases a DHCPv6 lease (package dnsmasq-utils).
pub const RELEASE6_PROGRAM: &str = "dhcp_release6";

/// `dhcp_release6`: tells the server a DHCPv6 lease is given up, as its client would
/// (with the client's DUID and IAID, and the server's DUID, from the lease file).
pub fn release6(
    netns: &OwnedFd,
    interface: &str,
    lease: &super::leases::Lease6,
    server_duid: &str,
) -> Result<(), ServerError> {
    let argv = [
        RELEASE6_PROGRAM,
        "--iface",
        interface,
        "--client-id",
        &lease.duid,
        "--server-id",
        server_duid,
        "--iaid",
        &lease.iaid,
        "--ip",
        &lease.address.to_string(),
    ]
    .map(str::to_string);
    let out = run_in(netns, &argv)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(ServerError::Release {
            ip: lease.address.to_string(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The calling thread's namespace, opened: the one servers are started in.
pub fn current_netns() -> Result<OwnedFd, ServerError> {
    crate::netdev::netns_id::open_current()
        .map(OwnedFd::from)
        .map_err(|source| {
            ServerError::Io(crate::files::IoError::new(
                "open",
                crate::netdev::netns_id::SELF_NS,
                source,
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pid_file_naming_another_program_is_not_ours() {
        let dir = tempfile::tempdir().expect("tempdir");
        // This test process: alive, but no dnsmasq with this PID file.
        std::fs::write(
            dir.path().join(PID_FILE),
            format!("{}\n", std::process::id()),
        )
        .expect("pid file");
        assert_eq!(
            pid_in_file(dir.path()),
            i32::try_from(std::process::id()).ok()
        );
        assert!(ours(dir.path()).is_none());
        assert!(!reload(dir.path()).expect("no signal, no error"));
        stop(dir.path()).expect("nothing to stop");
        // Garbage, PID 1 and nothing at all are never anyone's.
        for text in ["x\n", "1\n", "-5\n"] {
            std::fs::write(dir.path().join(PID_FILE), text).expect("pid file");
            assert_eq!(pid_in_file(dir.path()), None, "{text:?}");
        }
    }

    #[test]
    fn a_pidfd_never_signals_a_process_that_has_exited() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("sleep");
        let pid = i32::try_from(child.id()).expect("pid");
        let Some(h) = Handle::open(pid) else {
            child.kill().expect("kill");
            child.wait().expect("reaped");
            assert!(
                std::env::var_os("HOSTNET_REQUIRE_KERNEL_TESTS").is_none(),
                "no pidfd_open on this kernel"
            );
            eprintln!("SKIP: no pidfd_open on this kernel");
            return;
        };
        assert!(!h.exited());
        h.signal(pid, Signal::SIGTERM).expect("signalled");
        child.wait().expect("reaped");
        assert!(h.exited());
        // The PID may belong to anyone now: the handle sends nothing, and says so quietly.
        h.signal(pid, Signal::SIGKILL)
            .expect("no process, no error");
    }

    #[test]
    fn exited_tells_the_living_from_the_gone() {
        let me = i32::try_from(std::process::id()).expect("pid");
        assert!(!exited(me));
        assert!(exited(i32::MAX));
    }
}
