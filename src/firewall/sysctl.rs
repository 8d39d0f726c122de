//! The forwarding sysctls hostnet sets for networks that route (`/proc/sys/net` is the
//! calling thread's network namespace's).

use std::collections::BTreeMap;

use super::FirewallError;

pub const IPV4_FORWARD: &str = "net.ipv4.ip_forward";
pub const IPV6_FORWARD: &str = "net.ipv6.conf.all.forwarding";

fn path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// The values of the sysctls hostnet manages; a key the kernel lacks (IPv6 disabled) is
/// left out.
pub fn read_all() -> BTreeMap<String, String> {
    [IPV4_FORWARD, IPV6_FORWARD]
        .into_iter()
        .filter_map(|k| {
            std::fs::read_to_string(path(k))
                .ok()
                .map(|v| (k.to_string(), v.trim().to_string()))
        })
        .collect()
}

pub fn write(key: &str, value: &str) -> Result<(), FirewallError> {
    std::fs::write(path(key), value).map_err(|source| FirewallError::Sysctl {
        key: key.to_string(),
        source,
    })
}
