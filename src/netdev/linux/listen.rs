//! Waiting for the kernel to change addresses or routes: a NETLINK_ROUTE socket that
//! joined the address and route multicast groups. Messages are not decoded; any change
//! means "look again", which keeps the consumer (the DHCP monitor) a pure convergence
//! loop that cannot drift from what a query says.

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

/// Notifications of link, address and route changes in the calling thread's namespace.
pub struct ChangeListener {
    socket: Socket,
    buf: Vec<u8>,
}

impl ChangeListener {
    pub fn new() -> Result<ChangeListener, DriverError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(DriverError::Io)?;
        let groups = RTMGRP_LINK
            | RTMGRP_IPV4_IFADDR
            | RTMGRP_IPV4_ROUTE
            | RTMGRP_IPV6_IFADDR
            | RTMGRP_IPV6_ROUTE;
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

    fn drain(&mut self) -> Result<(), DriverError> {
        loop {
            match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(0) => return Ok(()),
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                // Overrun: changes were lost, which the caller handles by looking again.
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(DriverError::Io(e)),
            }
        }
    }
}
