//! The forwarding sysctls hostnet sets for networks that route (`/proc/sys/net` is the
//! calling thread's network namespace's), and the interfaces' `accept_ra` that turning
//! IPv6 forwarding on would silently disable.

use std::collections::BTreeMap;

pub const IPV4_FORWARD: &str = "net.ipv4.ip_forward";
pub const IPV6_FORWARD: &str = "net.ipv6.conf.all.forwarding";

pub(crate) const CONF4: &str = "net.ipv4.conf.";
pub(crate) const CONF6: &str = "net.ipv6.conf.";
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
