//! Which network namespace the calling thread is in: the one helper that names it for
//! every per-host file hostnet keeps (lock, journal, checkpoints, committed state, the
//! applied record, the DHCP servers' directories) and opens it for the code that must
//! re-enter it (taps, dnsmasq).
//!
//! A namespace is named, in this order of preference:
//!
//! * **the host's own** (PID 1's namespace): `host`, the same after every reboot;
//! * **by its name** under `/run/netns` (`ip netns add NAME`, `hostnet --netns NAME`):
//!   `netns.NAME`, the same whichever way a command got in (`--netns`, `ip netns exec`,
//!   `nsenter`), and again after a reboot once its owner names it again. A namespace with
//!   several names takes the smallest, so that every route in agrees;
//! * **unnamed**: `anon.INODE.COOKIE`, the kernel's cookie (`SO_NETNS_COOKIE`, never
//!   reused while the system runs) with the inode (which lets a cleaner see whether it is
//!   still alive). It means nothing after a reboot, so only runtime files (under
//!   `/run/hostnet`) are keyed by it.
//!
//! Keys never contain `/`, and the `.` in them cannot occur in a network name, so a
//! namespace's directory never collides with a network's.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Default of the runtime directory (tmpfs: its files describe kernel state, which does
/// not outlive a reboot either).
pub const STATE_DIR: &str = "/run/hostnet";
/// Default of the persistent directory.
pub const LIB_DIR: &str = "/var/lib/hostnet";

/// The runtime directory: `HOSTNET_STATE_DIR` or [`STATE_DIR`].
pub fn state_dir() -> std::path::PathBuf {
    std::env::var_os("HOSTNET_STATE_DIR").map_or_else(
        || std::path::PathBuf::from(STATE_DIR),
        std::path::PathBuf::from,
    )
}

/// The persistent directory: `HOSTNET_LIB_DIR` or [`LIB_DIR`].
pub fn lib_dir() -> std::path::PathBuf {
    std::env::var_os("HOSTNET_LIB_DIR").map_or_else(
        || std::path::PathBuf::from(LIB_DIR),
        std::path::PathBuf::from,
    )
}

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";
/// The calling thread's network namespace file.
pub const SELF_NS: &str = "/proc/thread-self/ns/net";

/// A network namespace, as hostnet keys its files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NetnsId {
    /// PID 1's namespace.
    Host,
    /// A namespace with a name under `/run/netns` (the smallest, if it has several).
    Named(String),
    /// A namespace without a name.
    Anonymous { inode: u64, cookie: Option<u64> },
}

/// `SO_NETNS_COOKIE` of `<asm-generic/socket.h>` (Linux 5.14+), which the libc crate does
/// not export for every architecture.
const SO_NETNS_COOKIE: libc::c_int = 71;

/// The kernel's cookie of the calling thread's network namespace: unique for the life of
/// the system and never reused, unlike the namespace file's inode.
fn cookie() -> io::Result<u64> {
    use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
    use std::os::fd::AsRawFd;
    let sock = socket(
        AddressFamily::Unix,
        SockType::Datagram,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    let mut cookie: u64 = 0;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<u64>()).unwrap_or(8);
    // SAFETY: `sock` is an open socket for the whole call; `cookie` and `len` are live
    // locals and `len` states the size of `cookie`, as getsockopt requires.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&raw mut cookie).cast(),
            &raw mut len,
        )
    };
    if rc == 0 {
        Ok(cookie)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Opens the calling thread's network namespace (to re-enter it from another thread, or
/// to start a process in it).
pub fn open_current() -> io::Result<File> {
    File::open(SELF_NS)
}

/// `(device, inode)` of a namespace file: what makes two of them the same namespace.
fn file_id(path: &Path) -> io::Result<(u64, u64)> {
    let m = fs::metadata(path)?;
    Ok((m.dev(), m.ino()))
}

/// The names under `/run/netns` that are bind mounts of the namespace `id`.
fn names_of(id: (u64, u64)) -> Vec<String> {
    let Ok(entries) = fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| file_id(&e.path()).is_ok_and(|f| f == id))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// What makes a namespace itself: its file's device and inode, and its cookie (the inode
/// may be reused by a later namespace, the cookie never).
type Identity = ((u64, u64), Option<u64>);

thread_local! {
    /// The last namespace identified on this thread: a command keeps one key for its
    /// whole life even if names change meanwhile.
    static LAST: RefCell<Option<(Identity, NetnsId)>> = const { RefCell::new(None) };
}

impl NetnsId {
    /// The namespace of the calling thread.
    pub fn current() -> io::Result<NetnsId> {
        let own = file_id(Path::new(SELF_NS))?;
        let cookie = cookie().ok();
        let identity = (own, cookie);
        if let Some(id) = LAST.with(|l| {
            l.borrow()
                .as_ref()
                .filter(|(f, _)| *f == identity)
                .map(|(_, id)| id.clone())
        }) {
            return Ok(id);
        }
        // PID 1's namespace may be unreadable (containers, hardened /proc): then this is
        // not knowably the host's namespace.
        let id = if file_id(Path::new("/proc/1/ns/net")).is_ok_and(|init| init == own) {
            NetnsId::Host
        } else if let Some(name) = names_of(own).into_iter().next() {
            NetnsId::Named(name)
        } else {
            NetnsId::Anonymous {
                inode: own.1,
                cookie,
            }
        };
        LAST.with(|l| *l.borrow_mut() = Some((identity, id.clone())));
        Ok(id)
    }

    /// The key of this namespace's files: `host`, `netns.NAME` (NAME escaped) or
    /// `anon.INODE.COOKIE`.
    pub fn key(&self) -> String {
        match self {
            NetnsId::Host => "host".into(),
            NetnsId::Named(name) => format!("netns.{}", escape(name)),
            NetnsId::Anonymous {
                inode,
                cookie: Some(c),
            } => format!("anon.{inode}.{c}"),
            NetnsId::Anonymous {
                inode,
                cookie: None,
            } => format!("anon.{inode}"),
        }
    }

    /// Whether the key means the same namespace after a reboot (so that its files may
    /// live in persistent storage).
    pub fn persistent(&self) -> bool {
        !matches!(self, NetnsId::Anonymous { .. })
    }

    /// For messages: `the host's network namespace`, `network namespace blue`.
    pub fn describe(&self) -> String {
        match self {
            NetnsId::Host => "the host's network namespace".into(),
            NetnsId::Named(n) => format!("network namespace {n}"),
            NetnsId::Anonymous { inode, .. } => {
                format!("an unnamed network namespace (net:[{inode}])")
            }
        }
    }
}

/// The key an older hostnet gave the calling thread's namespace (`netns-cookie-N`, or
/// `netns-DEV-INO` without cookies; `host` for PID 1's): to find records it left.
pub fn legacy_key() -> io::Result<String> {
    if let Ok(c) = cookie() {
        return Ok(format!("netns-cookie-{c}"));
    }
    let (dev, ino) = file_id(Path::new(SELF_NS))?;
    Ok(format!("netns-{dev}-{ino}"))
}

/// A name as part of a file name: bytes other than `[A-Za-z0-9_-]` (and `.` after the
/// first byte) as `%XX`, so that the mapping is one to one and never yields `/`.
fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for (i, b) in name.bytes().enumerate() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(key: &str) -> Option<String> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a key's namespace is still there, as far as can be told without entering it.
/// `None` for keys that are not a namespace's (or the host's, which is always there).
pub struct Liveness {
    /// Inodes of the namespaces a mount holds (`ip netns add`, bind mounts), read once.
    mounted: Option<BTreeSet<u64>>,
    /// Inodes of every namespace a thread is in, read once and only if needed.
    in_use: Option<BTreeSet<u64>>,
}

impl Liveness {
    pub fn new() -> Liveness {
        Liveness {
            mounted: None,
            in_use: None,
        }
    }

    /// Mounts first (one file), then every thread's namespace (a walk of `/proc`, two
    /// system calls a thread: a few milliseconds on a busy host, paid by every apply
    /// while any unnamed namespace's record was there). A namespace kept by a mount is
    /// then known without the walk.
    fn live(&mut self, inode: u64) -> bool {
        if self
            .mounted
            .get_or_insert_with(mounted_namespace_inodes)
            .contains(&inode)
        {
            return true;
        }
        self.in_use
            .get_or_insert_with(thread_namespace_inodes)
            .contains(&inode)
    }

    /// `Some(false)` only when the namespace is certainly gone: a named one whose name is
    /// gone, an unnamed one no thread is in and no mount holds. A namespace held only by
    /// an open descriptor counts as gone.
    pub fn alive(&mut self, key: &str) -> Option<bool> {
        if let Some(name) = key.strip_prefix("netns.") {
            let name = unescape(name)?;
            if name.is_empty() || name.contains('/') || name == "." || name == ".." {
                return None;
            }
            return Some(Path::new(NETNS_DIR).join(name).exists());
        }
        let rest = key.strip_prefix("anon.")?;
        let inode: u64 = rest.split('.').next()?.parse().ok()?;
        Some(self.live(inode))
    }
}

impl Default for Liveness {
    fn default() -> Self {
        Liveness::new()
    }
}

fn ns_inode(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")
        .and_then(|s| s.strip_suffix(']'))
        .and_then(|s| s.parse::<u64>().ok())
}

/// `net:[INODE]` of every thread's namespace (`/proc/*/task/*/ns/net`).
fn thread_namespace_inodes() -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for p in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(tasks) = fs::read_dir(p.path().join("task")) else {
            continue;
        };
        for t in tasks.flatten() {
            if let Ok(link) = fs::read_link(t.path().join("ns/net")) {
                out.extend(ns_inode(&link.to_string_lossy()));
            }
        }
    }
    out
}

/// `net:[INODE]` of every nsfs mount of this mount namespace (`/proc/self/mountinfo`:
/// "... - nsfs nsfs rw" with root "net:[N]").
fn mounted_namespace_inodes() -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    if let Ok(info) = fs::read_to_string("/proc/self/mountinfo") {
        for line in info.lines() {
            let root = line.split_whitespace().nth(3).unwrap_or("");
            if line.contains(" - nsfs ") {
                out.extend(ns_inode(root));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_file_names_and_one_to_one() {
        for (name, key) in [
            ("blue", "netns.blue"),
            ("a b", "netns.a%20b"),
            ("x/y", "netns.x%2Fy"),
            (".hidden", "netns.%2Ehidden"),
            ("50%", "netns.50%25"),
            ("lab.host", "netns.lab.host"),
        ] {
            let id = NetnsId::Named(name.into());
            assert_eq!(id.key(), key);
            assert_eq!(unescape(&key["netns.".len()..]).as_deref(), Some(name));
            assert!(!id.key().contains('/'));
        }
        assert_eq!(NetnsId::Host.key(), "host");
        assert_eq!(
            NetnsId::Anonymous {
                inode: 4026532000,
                cookie: Some(9)
            }
            .key(),
            "anon.4026532000.9"
        );
        assert!(!NetnsId::Anonymous {
            inode: 1,
            cookie: None
        }
        .persistent());
    }

    #[test]
    fn liveness_of_keys() {
        let mut l = Liveness::new();
        assert_eq!(l.alive("host"), None);
        assert_eq!(l.alive("netns-cookie-5"), None);
        assert_eq!(
            l.alive("netns.hostnet-test-surely-not-there-1234"),
            Some(false)
        );
        // This thread's namespace is alive; an inode no namespace has is not.
        let own = file_id(Path::new(SELF_NS)).expect("own namespace").1;
        assert_eq!(l.alive(&format!("anon.{own}.1")), Some(true));
        assert_eq!(l.alive("anon.1.1"), Some(false));
    }
}
