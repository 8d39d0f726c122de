//! Where each namespace's servers live: the host's directly under the parent, a named
//! namespace's under `netns.NAME/`, an unnamed one's under the runtime directory (see
//! [`crate::netdev::netns_id`]); and the directories an older hostnet made for a
//! namespace other than the host's, keyed by its cookie, which are used where they are.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::render::CONFIG_FILE;
use super::Record;
use crate::netdev::netns_id::NetnsId;

/// Default parent of the servers' directories.
pub const DNSMASQ_DIR: &str = "/var/lib/hostnet/dnsmasq";

/// The parent of the namespaces' server directories: `HOSTNET_DNSMASQ_DIR`, else
/// `HOSTNET_LIB_DIR/dnsmasq`, else [`DNSMASQ_DIR`].
pub fn base_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("HOSTNET_DNSMASQ_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("HOSTNET_LIB_DIR").map_or_else(
        || PathBuf::from(DNSMASQ_DIR),
        |d| PathBuf::from(d).join("dnsmasq"),
    )
}

/// The directory of the calling thread's namespace's servers under `root`: `root` for
/// the host's, `root/netns.NAME` for a named one; an unnamed one's under the runtime
/// directory (its leases cannot outlive it), unless `HOSTNET_DNSMASQ_DIR` says where.
pub(super) fn namespace_dir(root: PathBuf, id: &NetnsId) -> PathBuf {
    match id {
        NetnsId::Host => root,
        NetnsId::Named(_) => root.join(id.key()),
        NetnsId::Anonymous { .. } => std::env::var_os("HOSTNET_DNSMASQ_DIR")
            .map_or_else(
                || crate::netdev::netns_id::state_dir().join("dnsmasq"),
                PathBuf::from,
            )
            .join(id.key()),
    }
}

/// Servers an older hostnet made for the calling thread's namespace (other than the
/// host's) directly under `root`, keyed by the namespace's cookie: they are used where
/// they are (their dnsmasq runs with that directory on its command line).
pub(super) fn legacy_servers(root: &Path, legacy_key: &str) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for e in fs::read_dir(root).into_iter().flatten().flatten() {
        let network = e.file_name().to_string_lossy().into_owned();
        // Namespaces' directories have a '.' in their name; networks never do.
        if network.contains('.') {
            continue;
        }
        let Ok(bytes) = fs::read(e.path().join(CONFIG_FILE)) else {
            continue;
        };
        if serde_json::from_slice::<Record>(&bytes)
            .is_ok_and(|r| r.netns == legacy_key && r.network == network)
        {
            out.insert(network, e.path());
        }
    }
    out
}
