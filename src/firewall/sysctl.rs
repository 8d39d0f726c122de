//! The forwarding sysctls hostnet sets for networks that route (`/proc/sys/net` is the
//! calling thread's network namespace's), and the interfaces' `accept_ra` that turning
//! IPv6 forwarding on would silently disable.

use std::collections::BTreeMap;

use super::FirewallError;

pub const IPV4_FORWARD: &str = "net.ipv4.ip_forward";
pub const IPV6_FORWARD: &str = "net.ipv6.conf.all.forwarding";

const CONF4: &str = "net.ipv4.conf.";
const CONF6: &str = "net.ipv6.conf.";
const ACCEPT_RA: &str = ".accept_ra";
/// Reset by the kernel whenever `net.ipv4.ip_forward` is written (to `!ip_forward`).
pub const IPV4_ACCEPT_REDIRECTS: &str = "net.ipv4.conf.all.accept_redirects";

/// The key of an interface's (or `default`'s) `accept_ra`.
pub fn accept_ra(ifname: &str) -> String {
    format!("{CONF6}{ifname}{ACCEPT_RA}")
}

/// The interface of an `accept_ra` key.
pub fn accept_ra_of(key: &str) -> Option<&str> {
    key.strip_prefix(CONF6)?.strip_suffix(ACCEPT_RA)
}

/// The key of an interface's (or `default`'s) IPv6 `disable_ipv6` (nmstate's
/// `ipv6.enabled`, inverted).
pub fn disable_ipv6(ifname: &str) -> String {
    format!("{CONF6}{ifname}.disable_ipv6")
}

/// The interface of a `disable_ipv6` key (`default` included).
pub fn disable_ipv6_of(key: &str) -> Option<&str> {
    key.strip_prefix(CONF6)?.strip_suffix(".disable_ipv6")
}

/// The key of an interface's (or `default`'s) IPv6 `autoconf` (SLAAC).
pub fn autoconf(ifname: &str) -> String {
    format!("{CONF6}{ifname}.autoconf")
}

/// The interface of a per-interface key (`net.ipv6.conf.eth0.accept_ra`: `eth0`), not
/// `all` or `default`.
pub fn interface_of(key: &str) -> Option<&str> {
    let (dev, _) = [CONF4, CONF6]
        .iter()
        .find_map(|c| key.strip_prefix(c))?
        .rsplit_once('.')?;
    (dev != "all" && dev != "default").then_some(dev)
}

/// The key of an interface's (or `default`'s) `forwarding` in a family.
fn forwarding(conf: &str, ifname: &str) -> String {
    format!("{conf}{ifname}.forwarding")
}

/// What writing `key` (a forwarding switch) makes the kernel write too: for
/// `ip_forward`, `all.accept_redirects` and every interface's and `default`'s IPv4
/// forwarding; for IPv6 `all.forwarding`, every interface's and `default`'s IPv6
/// forwarding. As (key, value after writing `on`), for the keys `state` holds.
pub fn side_effects(
    key: &str,
    on: &str,
    state: &BTreeMap<String, String>,
) -> Vec<(String, String)> {
    let conf = match key {
        IPV4_FORWARD => CONF4,
        IPV6_FORWARD => CONF6,
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    if key == IPV4_FORWARD && state.contains_key(IPV4_ACCEPT_REDIRECTS) {
        let off = if on == "0" { "1" } else { "0" };
        out.push((IPV4_ACCEPT_REDIRECTS.to_string(), off.to_string()));
    }
    for k in state.keys() {
        let is_dev_forwarding = k
            .strip_prefix(conf)
            .and_then(|r| r.strip_suffix(".forwarding"))
            .is_some_and(|dev| dev != "all");
        if is_dev_forwarding {
            out.push((k.clone(), on.to_string()));
        }
    }
    out
}

/// A key the kernel rewrites as a side effect of a forwarding switch.
pub fn is_side_effect(key: &str) -> bool {
    key == IPV4_ACCEPT_REDIRECTS
        || [CONF4, CONF6].iter().any(|c| {
            key.strip_prefix(c)
                .and_then(|r| r.strip_suffix(".forwarding"))
                .is_some_and(|dev| dev != "all")
        })
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
