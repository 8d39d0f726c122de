//! Named network namespaces the way iproute2 keeps them (`/run/netns/NAME`, a bind mount
//! of a namespace file), and moving links between namespaces.
//!
//! Namespace membership is per thread: entering a namespace changes only the calling
//! thread, and a [`LinuxDriver`] stays in the namespace it was opened in.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use netlink_packet_route::RouteNetlinkMessage;
use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use super::socket::Nack;
use super::{link, LinuxDriver};
use crate::netdev::DriverError;

const RUN_DIR: &str = "/run/netns";

/// Why a named namespace could not be created, entered or deleted.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("{0:?} is not a valid network namespace name")]
    InvalidName(String),
    #[error("network namespace {0} already exists")]
    Exists(String),
    #[error("could not {action} {}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_error(action: &'static str, path: &Path, source: impl Into<io::Error>) -> NetnsError {
    NetnsError::Io {
        action,
        path: path.to_path_buf(),
        source: source.into(),
    }
}

/// `/run/netns/NAME`, for names iproute2 would accept.
fn netns_path(name: &str) -> Result<PathBuf, NetnsError> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.len() > 255
        || name.contains(['/', '\0'])
    {
        return Err(NetnsError::InvalidName(name.to_string()));
    }
    Ok(Path::new(RUN_DIR).join(name))
}

/// Makes `/run/netns` a shared mount point, so that namespace mounts made later propagate
/// into mount namespaces created after them (and their removal too). A directory that is
/// not a mount point yet is bind-mounted onto itself first, as iproute2 does.
fn prepare_run_dir() -> Result<(), NetnsError> {
    let dir = Path::new(RUN_DIR);
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(dir)
        .map_err(|e| io_error("create", dir, e))?;
    let mut bound = false;
    loop {
        let shared = mount(
            Some(""),
            dir,
            Some("none"),
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            None::<&str>,
        );
        match shared {
            Ok(()) => return Ok(()),
            Err(Errno::EINVAL) if !bound => {
                mount(
                    Some(dir),
                    dir,
                    Some("none"),
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .map_err(|e| io_error("bind-mount", dir, e))?;
                bound = true;
            }
            Err(e) => return Err(io_error("make a shared mount of", dir, e)),
        }
    }
}

/// Creates the named network namespace NAME (`ip netns add NAME`). The caller's own
/// namespace is not changed.
pub fn create_named_netns(name: &str) -> Result<(), NetnsError> {
    let path = netns_path(name)?;
    prepare_run_dir()?;
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(&path)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(NetnsError::Exists(name.to_string()))
        }
        Err(e) => return Err(io_error("create", &path, e)),
    }
    // unshare(CLONE_NEWNET) moves only the calling thread, so a throw-away thread makes
    // the namespace and pins it to the file before it exits.
    let target = path.clone();
    let made = std::thread::spawn(move || -> Result<(), NetnsError> {
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| io_error("create a network namespace for", &target, e))?;
        mount(
            Some(crate::netdev::netns_id::SELF_NS),
            &target,
            Some("none"),
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| io_error("bind-mount the new namespace onto", &target, e))
    })
    .join()
    .unwrap_or_else(|_| {
        Err(io_error(
            "create",
            &path,
            io::Error::other("namespace thread panicked"),
        ))
    });
    if made.is_err() {
        let _ = fs::remove_file(&path);
    }
    made
}

/// Deletes the named network namespace (`ip netns delete NAME`). The namespace itself
/// lives on while processes or open files still refer to it. A namespace that does not
/// exist is not an error.
pub fn delete_named_netns(name: &str) -> Result<(), NetnsError> {
    let path = netns_path(name)?;
    match umount2(&path, MntFlags::MNT_DETACH) {
        // EINVAL: a left-over file that is not a mount point.
        Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
        Err(e) => return Err(io_error("unmount", &path, e)),
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("remove", &path, e)),
    }
}

/// Opens the named namespace, e.g. for [`LinuxDriver::move_link_to_netns`].
pub fn open_named_netns(name: &str) -> Result<File, NetnsError> {
    let path = netns_path(name)?;
    File::open(&path).map_err(|e| io_error("open", &path, e))
}

/// Moves the calling thread (only it) into the named namespace.
pub fn enter_named_netns(name: &str) -> Result<(), NetnsError> {
    let file = open_named_netns(name)?;
    setns(&file, CloneFlags::CLONE_NEWNET)
        .map_err(|e| io_error("enter", &Path::new(RUN_DIR).join(name), e))
}

impl LinuxDriver {
    /// Moves the link `name` into the namespace `netns_fd` refers to (a file under
    /// `/run/netns` or `/proc/PID/ns/net`). Moving one end of a veth pair leaves the
    /// other end here with its peer in another namespace.
    pub fn move_link_to_netns(
        &mut self,
        name: &str,
        netns_fd: BorrowedFd<'_>,
    ) -> Result<(), DriverError> {
        let op = format!("move link {name} to another network namespace");
        if self.stale || !self.ifindex.contains_key(name) {
            self.dump_links()?;
        }
        let index =
            self.ifindex
                .get(name)
                .copied()
                .ok_or_else(|| DriverError::NoSuchInterface {
                    op: op.clone(),
                    name: name.to_string(),
                })?;
        self.stale = true;
        let request =
            RouteNetlinkMessage::NewLink(link::move_to_netns(index, netns_fd.as_raw_fd()));
        match self.nl.transact(vec![(request, 0)]).pop() {
            Some(Ok(())) => Ok(()),
            Some(Err(Nack::Kernel { errno, message })) => {
                Err(DriverError::Rejected { op, errno, message })
            }
            Some(Err(Nack::Failed(e))) => Err(e),
            None => Err(DriverError::Decode("no answer for the request".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for bad in ["", ".", "..", "a/b", "x\0y"] {
            assert!(
                matches!(netns_path(bad), Err(NetnsError::InvalidName(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            netns_path("blue").expect("test value"),
            Path::new("/run/netns/blue")
        );
    }
}
