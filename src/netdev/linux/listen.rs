//! Waiting for the kernel to change addresses or routes: a NETLINK_ROUTE socket that
//! joined the address and route multicast groups. Messages are not decoded; any change
//! means "look again", which keeps the consumer (the DHCP monitor) a pure convergence
//! loop that cannot drift from what a query says.
//!
//! The same socket, joined to every group a query reads (links, addresses, routes,
//! rules) and opened before the query's dumps, tells the query whether anything changed
//! while it read: see [`ChangeListener::for_query`].

use std::os::fd::AsFd;
use std::time::Duration;

use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::netdev::DriverError;

const RTMGRP_LINK: u32 = 0x1;
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV4_ROUTE: u32 = 0x40;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const RTMGRP_IPV6_ROUTE: u32 = 0x400;
const RTMGRP_IPV4_RULE: u32 = 0x80;
/// RTNLGRP_IPV6_RULE (19) has no RTMGRP_ constant; as a bind mask it is bit 18.
const RTMGRP_IPV6_RULE: u32 = 1 << 18;

/// Notifications of link, address and route changes in the calling thread's namespace.
pub struct ChangeListener {
    socket: Socket,
    buf: Vec<u8>,
}

impl ChangeListener {
    pub fn new() -> Result<ChangeListener, DriverError> {
        ChangeListener::joined(
            RTMGRP_LINK
                | RTMGRP_IPV4_IFADDR
                | RTMGRP_IPV4_ROUTE
                | RTMGRP_IPV6_IFADDR
                | RTMGRP_IPV6_ROUTE,
        )
    }

    /// Notifications of every change a query reads (links, addresses, routes and
    /// rules): open it before the dumps, ask [`ChangeListener::changed`] after them.
    pub fn for_query() -> Result<ChangeListener, DriverError> {
        ChangeListener::joined(
            RTMGRP_LINK
                | RTMGRP_IPV4_IFADDR
                | RTMGRP_IPV4_ROUTE
                | RTMGRP_IPV4_RULE
                | RTMGRP_IPV6_IFADDR
                | RTMGRP_IPV6_ROUTE
                | RTMGRP_IPV6_RULE,
        )
    }

    fn joined(groups: u32) -> Result<ChangeListener, DriverError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(DriverError::Io)?;
        socket
            .bind(&SocketAddr::new(0, groups))
            .map_err(DriverError::Io)?;
        socket.set_non_blocking(true).map_err(DriverError::Io)?;
        // A burst larger than the buffer (ENOBUFS) only means "something changed", which
        // is all this socket reports anyway.
        let _ = socket.set_rx_buf_sz(1 << 20);
        Ok(ChangeListener {
            socket,
            buf: vec![0; 64 * 1024],
        })
    }

    /// Waits up to `timeout` for a change; true when there was one. Reads everything
    /// pending, so one burst of changes is one `true`.
    pub fn wait(&mut self, timeout: Duration) -> Result<bool, DriverError> {
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok(false),
            Err(e) => return Err(DriverError::Io(e.into())),
        }
        self.drain()?;
        Ok(true)
    }

    /// Whether a change was notified since the socket was opened or last asked, without
    /// waiting. Reads everything pending.
    pub fn changed(&mut self) -> Result<bool, DriverError> {
        self.drain()
    }

    /// Reads everything pending; true when there was anything (an overrun counts).
    fn drain(&mut self) -> Result<bool, DriverError> {
        let mut any = false;
        loop {
            match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(0) => return Ok(any),
                Ok(_) => any = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(any),
                // Overrun: changes were lost, which the caller handles by looking again.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => any = true,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(DriverError::Io(e)),
            }
        }
    }
}

/// Reads of the netlink state before a query gives up on getting one that no change
/// overlapped, and the pause before the second (it doubles up to the maximum): together
/// about 4 s, past the second or two of notifications IPv6 duplicate address detection
/// sends after a large apply.
const QUERY_ATTEMPTS: u32 = 20;
const QUERY_RETRY_PAUSE: Duration = Duration::from_millis(5);
const QUERY_RETRY_PAUSE_MAX: Duration = Duration::from_millis(250);

/// Runs `read` (a set of dumps) until no change was notified while it ran, or two
/// reads in a row overlapped by changes agree.
///
/// The kernel dumps links, addresses, routes and rules under RCU, not under the RTNL
/// lock, and resumes each datagram of a dump by position (`ip_idx` in
/// `inet_dump_ifaddr`/`in6_dump_addrs`). Its consistency check compares a generation it
/// reads once at the start of each datagram (`cb->seq`, NLM_F_DUMP_INTR): a change made
/// while the *last* datagram is being filled shifts the positions, skips an object and
/// is never compared, so the dump ends complete-looking without the flag. A socket that
/// joined the change notifications before the dumps tells whether anything changed
/// meanwhile; if so, everything is read again. Changes that do not move objects in the
/// kernel's lists (duplicate address detection finishing on many new links, carrier
/// events) keep coming for a second or two after a large apply; two equal reads mean
/// those did not skip anything (a skip would have to hit the same object twice). After
/// [`QUERY_ATTEMPTS`] reads that kept differing it gives up with
/// [`DriverError::DumpInterrupted`].
pub(super) fn consistent<T: PartialEq>(
    mut read: impl FnMut() -> Result<T, DriverError>,
) -> Result<T, DriverError> {
    let mut last: Option<T> = None;
    for attempt in 0..QUERY_ATTEMPTS {
        if attempt > 0 {
            let pause = QUERY_RETRY_PAUSE.saturating_mul(2u32.saturating_pow(attempt - 1));
            std::thread::sleep(pause.min(QUERY_RETRY_PAUSE_MAX));
        }
        let mut changes = ChangeListener::for_query()?;
        let state = read()?;
        if !changes.changed()? || last.as_ref() == Some(&state) {
            return Ok(state);
        }
        last = Some(state);
    }
    Err(DriverError::DumpInterrupted {
        what: "links, addresses, routes and rules",
        attempts: QUERY_ATTEMPTS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::{Driver, LinkChange, Op};

    fn lo(up: bool) -> Op {
        Op::ChangeLink {
            name: "lo".into(),
            change: LinkChange {
                up: Some(up),
                ..LinkChange::default()
            },
        }
    }

    /// In a namespace of its own (a thread that unshared): a change while `read` runs
    /// makes it run again; a change during every run, with reads that keep differing,
    /// gives up with `DumpInterrupted`; equal reads under changes are taken.
    #[test]
    fn a_change_during_a_read_makes_the_query_read_again() {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var("HOSTNET_REQUIRE_KERNEL_TESTS").as_deref() != Ok("1"),
                "needs root, and HOSTNET_REQUIRE_KERNEL_TESTS=1 forbids skipping"
            );
            eprintln!("SKIP a_change_during_a_read_makes_the_query_read_again: needs root");
            return;
        }
        std::thread::spawn(|| {
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).expect("unshare");
            let mut d = crate::netdev::linux::LinuxDriver::new().expect("driver");
            let mut calls = 0;
            let got = consistent(|| {
                calls += 1;
                if calls == 1 {
                    d.execute(&[lo(true)]).remove(0)?;
                }
                Ok(calls)
            })
            .expect("a quiet second read");
            assert_eq!(got, 2, "the read overlapped by a change was repeated once");

            // lo is up: every read sets it down or up again.
            let mut up = true;
            let r = consistent(|| {
                up = !up;
                d.execute(&[lo(up)]).remove(0).map(|()| up)
            });
            assert!(
                matches!(r, Err(DriverError::DumpInterrupted { attempts, .. }) if attempts == QUERY_ATTEMPTS),
                "{r:?}"
            );

            // Changes that leave what is read alone: the second read agrees with the first.
            let mut calls = 0;
            let r = consistent(|| {
                calls += 1;
                up = !up;
                d.execute(&[lo(up)]).remove(0).map(|()| "same")
            });
            assert_eq!((r.ok(), calls), (Some("same"), 2));
        })
        .join()
        .expect("test thread");
    }
}
