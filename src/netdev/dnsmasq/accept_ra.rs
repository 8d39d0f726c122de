//! A device whose dnsmasq advertises routes takes none: `net.ipv6.conf.DEV.accept_ra=0`
//! while a server sends router advertisements on it.
//!
//! dnsmasq's advertisements are multicast, and the kernel loops them back to the host's
//! own stack: a device that accepts advertisements (`accept_ra=1`, IPv6 forwarding off)
//! makes itself a SLAAC address from its own prefix (which the next apply would remove
//! again, a list of addresses being complete), and any guest could advertise itself as
//! the host's router. libvirt turns `accept_ra` off on its networks' bridges for the
//! same reasons. The value the device had is recorded in the server's directory and
//! written back when the server stops advertising (it loses `ipv6`, or goes); a device
//! made again (with the kernel's default) is turned off again at the next start.

use std::fs;
use std::path::{Path, PathBuf};

use super::{io, write_file, ServerError};

/// The value the device had before the server turned it off.
pub const RECORD_FILE: &str = "accept_ra";

/// The device's `accept_ra` in the calling thread's namespace (`/proc/sys/net` is the
/// namespace's of whoever opens it).
fn key(interface: &str) -> PathBuf {
    Path::new("/proc/sys/net/ipv6/conf")
        .join(interface)
        .join("accept_ra")
}

fn read(interface: &str) -> Option<String> {
    fs::read_to_string(key(interface))
        .ok()
        .map(|s| s.trim().to_string())
}

/// True unless the device accepts advertisements (a device that is gone, or has no IPv6,
/// accepts none).
pub fn is_off(interface: &str) -> bool {
    read(interface).is_none_or(|v| v == "0")
}

/// Turns advertisements off on the device, recording the value it had (the first one:
/// a value hostnet wrote is never recorded over it).
pub fn turn_off(dir: &Path, interface: &str) -> Result<(), ServerError> {
    let Some(now) = read(interface).filter(|v| v != "0") else {
        return Ok(());
    };
    let record = dir.join(RECORD_FILE);
    if !record.exists() {
        write_file(&record, format!("{now}\n").as_bytes())?;
    }
    let path = key(interface);
    fs::write(&path, "0").map_err(io("write", &path))
}

/// Writes the recorded value back, if the device still has the value hostnet wrote, and
/// forgets it.
pub fn restore(dir: &Path, interface: &str) -> Result<(), ServerError> {
    let record = dir.join(RECORD_FILE);
    let Ok(was) = fs::read_to_string(&record) else {
        return Ok(());
    };
    let was = was.trim();
    let valid = !was.is_empty() && was.bytes().all(|b| b.is_ascii_digit() || b == b'-');
    if valid && read(interface).as_deref() == Some("0") {
        let path = key(interface);
        fs::write(&path, was).map_err(io("write", &path))?;
    }
    fs::remove_file(&record).map_err(io("remove", &record))
}
