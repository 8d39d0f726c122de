//! A small UDP blaster and counter for the forwarding benchmark.
//!
//! The sender writes 64-byte datagrams with `sendmmsg`, 64 per call, each message naming
//! its destination: the socket is not connected, so the kernel routes every datagram
//! (a connected socket would cache the route and hide the rule walk of the host's own
//! traffic). The counter drains its socket with `recvmmsg`.

use std::net::{SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Datagrams per `sendmmsg`/`recvmmsg` call.
const BATCH: usize = 64;
/// UDP payload: 64 bytes, as in the iperf3 runs.
pub const PAYLOAD: usize = 64;

fn sockaddr(a: SocketAddrV4) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: a.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*a.ip()).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Sends to `dst` from `sock` for `dur`; returns the datagrams the kernel accepted and
/// the time it took.
pub fn blast(sock: &UdpSocket, dst: SocketAddrV4, dur: Duration) -> std::io::Result<(u64, f64)> {
    let mut name = sockaddr(dst);
    let mut payload = [0x5au8; PAYLOAD];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: PAYLOAD,
    };
    // SAFETY: mmsghdr is plain data; zeroed is a valid (empty) value.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for m in &mut msgs {
        m.msg_hdr.msg_name = std::ptr::addr_of_mut!(name).cast();
        m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        // Every message sends the same buffer; the kernel only reads it.
        m.msg_hdr.msg_iov = std::ptr::addr_of_mut!(iov);
        m.msg_hdr.msg_iovlen = 1;
    }
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < dur {
        // SAFETY: msgs holds BATCH initialised headers whose name, iovec and payload
        // pointers point to locals that outlive the call; fd is an open socket.
        let n = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            // A full queue somewhere on the way is the rate limit, not an error.
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOBUFS | libc::EAGAIN | libc::EINTR)
            ) {
                continue;
            }
            return Err(e);
        }
        sent += u64::try_from(n).unwrap_or(0);
    }
    Ok((sent, start.elapsed().as_secs_f64()))
}

/// Counts datagrams arriving on `sock` until `stop` is set (the socket needs a read
/// timeout, so that the flag is seen).
pub fn count(sock: &UdpSocket, stop: &AtomicBool) -> u64 {
    let mut bufs = [[0u8; 256]; BATCH];
    let mut iovs: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: mmsghdr is plain data; zeroed is a valid (empty) value.
    let mut msgs: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for (m, iov) in msgs.iter_mut().zip(iovs.iter_mut()) {
        m.msg_hdr.msg_iov = iov;
        m.msg_hdr.msg_iovlen = 1;
    }
    let mut got = 0u64;
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: msgs holds BATCH headers pointing into iovs and bufs, which outlive
        // the call; fd is an open socket; no timeout pointer.
        let n = unsafe {
            libc::recvmmsg(
                sock.as_raw_fd(),
                msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                0,
                std::ptr::null_mut(),
            )
        };
        if n > 0 {
            got += u64::try_from(n).unwrap_or(0);
        }
    }
    got
}

/// A socket buffer large enough that the counter does not drop what arrives in a burst.
pub fn big_receive_buffer(sock: &UdpSocket) {
    let size: libc::c_int = 8 << 20;
    // SAFETY: fd is an open socket and the option value is a live c_int of its size.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            std::ptr::addr_of!(size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}
