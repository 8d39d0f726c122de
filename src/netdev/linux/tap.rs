//! Tap devices. Netlink can report a tun/tap device and change or delete it, but not
//! create one: that takes `/dev/net/tun` and the TUNSETIFF family of ioctls, which act
//! in the network namespace of the calling thread. The driver's namespace is the one
//! its socket was opened in, so when the caller has moved elsewhere since, the ioctls
//! run on a helper thread that joins the driver's namespace first.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use nix::sched::{setns, CloneFlags};

use crate::netdev::TapOptions;

const TUN_PATH: &str = "/dev/net/tun";

/// `struct ifreq` as TUNSETIFF reads it: the name, then the flags in the union.
#[repr(C)]
struct IfReq {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// The namespace of the calling thread, to compare with and later re-enter.
pub(super) fn current_netns() -> io::Result<File> {
    crate::netdev::netns_id::open_current()
}

fn same_file(a: &File, b: &File) -> io::Result<bool> {
    let (a, b) = (a.metadata()?, b.metadata()?);
    Ok(a.dev() == b.dev() && a.ino() == b.ino())
}

fn ioctl_int(fd: &OwnedFd, request: libc::Ioctl, value: libc::c_ulong) -> io::Result<()> {
    // SAFETY: the TUNSET{PERSIST,OWNER,GROUP} ioctls take their argument by value (an
    // integer in the pointer-sized slot); `fd` is an open /dev/net/tun descriptor that
    // outlives the call.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), request, value) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Creates tap `name` in the calling thread's namespace. Returns the queue's file
/// descriptor: for a persistent tap the caller may drop it, a transient one lives
/// as long as it.
fn create_here(name: &str, options: &TapOptions) -> io::Result<OwnedFd> {
    let file = OpenOptions::new().read(true).write(true).open(TUN_PATH)?;
    let fd = OwnedFd::from(file);
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    req.name[..bytes.len()].copy_from_slice(bytes);
    // IFF_TUN_EXCL: without it TUNSETIFF on an existing tap (a running VM's, made after
    // hostnet read the host) attaches to it and the ioctls below would re-own it.
    let mut flags = libc::IFF_TAP | libc::IFF_NO_PI | libc::IFF_TUN_EXCL;
    if options.multi_queue {
        flags |= libc::IFF_MULTI_QUEUE;
    }
    // The flags all fit in the 16 bits of ifr_flags (IFF_TUN_EXCL is its top bit).
    req.flags = flags as u16 as libc::c_short;
    // SAFETY: TUNSETIFF reads and writes a `struct ifreq`; `req` is a properly laid out,
    // initialised ifreq (name NUL-terminated, the union zeroed beyond the flags) that
    // lives across the call, and `fd` is open.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req as *mut IfReq) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let settings = (|| {
        if let Some(uid) = options.owner {
            ioctl_int(&fd, libc::TUNSETOWNER, libc::c_ulong::from(uid))?;
        }
        if let Some(gid) = options.group {
            ioctl_int(&fd, libc::TUNSETGROUP, libc::c_ulong::from(gid))?;
        }
        if options.persistent {
            ioctl_int(&fd, libc::TUNSETPERSIST, 1)?;
        }
        Ok(())
    })();
    // On failure the device is not persistent yet: closing `fd` removes it.
    settings.map(|()| fd)
}

/// Creates tap `name` in the namespace `netns` refers to.
pub(super) fn create(netns: &File, name: &str, options: &TapOptions) -> io::Result<OwnedFd> {
    if same_file(netns, &current_netns()?)? {
        return create_here(name, options);
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(netns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
            create_here(name, options)
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("tap helper thread panicked")))
    })
}
