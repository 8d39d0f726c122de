//! Reading and writing the forwarding sysctls (`/proc/sys/net` is the calling thread's
//! network namespace's). The keys and the kernel's side effects are
//! [`crate::firewall::sysctl`]'s.

use std::collections::BTreeMap;

use crate::firewall::sysctl::{accept_ra, CONF4, CONF6};
use crate::firewall::sysctl::{IPV4_ACCEPT_REDIRECTS, IPV4_FORWARD, IPV6_FORWARD};
use crate::firewall::FirewallError;

/// The key of an interface's (or `default`'s) `forwarding` in a family.
fn forwarding(conf: &str, ifname: &str) -> String {
    format!("{conf}{ifname}.forwarding")
}

fn path(key: &str) -> String {
    // An interface name may hold dots (`eth0.100`): it is one path component.
    for (conf, dir) in [(CONF4, "ipv4"), (CONF6, "ipv6")] {
        if let Some((dev, leaf)) = key.strip_prefix(conf).and_then(|r| r.rsplit_once('.')) {
            return format!("/proc/sys/net/{dir}/conf/{dev}/{leaf}");
        }
    }
    format!("/proc/sys/{}", key.replace('.', "/"))
}

/// The host-wide keys: the two forwarding switches and `all.accept_redirects`.
const SWITCHES: [&str; 3] = [IPV4_FORWARD, IPV6_FORWARD, IPV4_ACCEPT_REDIRECTS];

/// The sysctls a plan towards `wanted` needs (`None`: all of [`read_all`]). The
/// per-interface forwarding keys matter only to a plan that writes a forwarding switch
/// (the kernel's side effects, `accept_ra` before IPv6 forwarding goes on); when every
/// wanted key already has its value, no plan towards it writes one, and reading
/// `forwarding` and `accept_ra` of every interface (three files each, thousands on a
/// host with a thousand networks) is skipped: only the three host-wide keys are read.
pub fn read_for(focus: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let Some(wanted) = focus else {
        return read_all();
    };
    let read_now: BTreeMap<String, String> = SWITCHES
        .iter()
        .map(|k| k.to_string())
        .filter_map(|k| read(&k).map(|v| (k, v)))
        .collect();
    if wanted.iter().all(|(k, v)| read_now.get(k) == Some(v)) {
        read_now
    } else {
        read_all()
    }
}

/// The values of the sysctls hostnet manages or that change with them; a key the
/// kernel lacks (IPv6 disabled) is left out. Read for `default` and every interface:
/// IPv6 `accept_ra` (`all` has no effect on it) and both families' `forwarding`.
pub fn read_all() -> BTreeMap<String, String> {
    let mut keys: Vec<String> = SWITCHES.iter().map(|k| k.to_string()).collect();
    for (conf, dir) in [(CONF4, "ipv4"), (CONF6, "ipv6")] {
        let Ok(entries) = std::fs::read_dir(format!("/proc/sys/net/{dir}/conf")) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name == "all" {
                continue;
            }
            keys.push(forwarding(conf, &name));
            if conf == CONF6 {
                keys.push(accept_ra(&name));
            }
        }
    }
    keys.into_iter()
        .filter_map(|k| {
            std::fs::read_to_string(path(&k))
                .ok()
                .map(|v| (k, v.trim().to_string()))
        })
        .collect()
}

/// The current value of `key` (`None`: the kernel lacks it).
pub fn read(key: &str) -> Option<String> {
    std::fs::read_to_string(path(key))
        .ok()
        .map(|v| v.trim().to_string())
}

pub fn write(key: &str, value: &str) -> Result<(), FirewallError> {
    std::fs::write(path(key), value).map_err(|source| FirewallError::Sysctl {
        key: key.to_string(),
        source,
    })
}
