//! `dhcp-server.ipv6`: router advertisements and DHCPv6 for the network's IPv6 prefix.
//!
//! dnsmasq takes its IPv6 settings mostly from its command line and clamps what is out of
//! range without a word (an interval below 4 s, a router lifetime shorter than the
//! interval): such values are refused here, with the field named, instead of being
//! advertised differently from what the file says.

use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

use super::{check_domain, DhcpServerV6Spec, Errors, LeaseTime, RaMode, DEFAULT_RA_INTERVAL};
use crate::model::types::NetworkSpec;

/// Link-local, multicast, loopback or unspecified: never a guest network's prefix.
fn not_routable(a: Ipv6Addr) -> bool {
    a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (a.segments()[0] & 0xffc0) == 0xfe80
}

/// An address of the prefix that a guest may hold: inside it, and not its subnet-router
/// anycast address (the prefix with a zero interface identifier).
pub(super) fn host_addr6(prefix: Ipv6Net, a: Ipv6Addr) -> Result<(), String> {
    if !prefix.contains(&a) {
        return Err(format!("{a} is outside the network's prefix {prefix}"));
    }
    if a == prefix.network() {
        return Err(format!(
            "{a} is the subnet-router anycast address of {prefix}, not a host address"
        ));
    }
    Ok(())
}

/// Checks `six`; the network's IPv6 address (with its prefix) when there is one to check
/// hosts against.
pub(super) fn validate(
    sp: &str,
    n: &NetworkSpec,
    six: &DhcpServerV6Spec,
    errs: &mut Errors,
) -> Option<Ipv6Net> {
    let p6 = format!("{sp}.ipv6");
    let mut err = |path: String, m: String| errs.push((path, m));
    let Some(me) = super::server_address6(n) else {
        err(
            p6,
            "router advertisements need a static IPv6 address on the network (ipv6.address): \
             its prefix is what they advertise"
                .into(),
        );
        return None;
    };
    if not_routable(me.addr()) {
        err(
            p6,
            format!(
                "the network's first IPv6 address {me} is not a global or unique local \
                 address: its prefix cannot be advertised"
            ),
        );
        return None;
    }
    let prefix = me.trunc();
    let plen = prefix.prefix_len();
    match six.ra {
        // The kernel (RFC 4862 with Ethernet's 64-bit interface identifiers) forms
        // addresses only from /64 prefixes.
        RaMode::Slaac | RaMode::Stateless if plen != 64 => err(
            format!("{p6}.ra"),
            format!(
                "{} needs a /64 prefix; the network's first IPv6 address is {me}",
                six.ra.as_str()
            ),
        ),
        // dnsmasq serves DHCPv6 ranges of /64 or longer prefixes only.
        RaMode::Stateful if !(64..=120).contains(&plen) => err(
            format!("{p6}.ra"),
            format!(
                "stateful DHCPv6 needs a prefix from /64 to /120; the network's first IPv6 \
                 address is {me}"
            ),
        ),
        _ => {}
    }
    if let Some(r) = &six.range {
        if six.ra != RaMode::Stateful {
            err(
                format!("{p6}.range"),
                format!(
                    "a DHCPv6 range needs ra: stateful (with {} guests make their own addresses)",
                    six.ra.as_str()
                ),
            );
        }
        for (f, a) in [("start", r.start), ("end", r.end)] {
            if let Err(m) = host_addr6(prefix, a) {
                err(format!("{p6}.range.{f}"), m);
            }
        }
        if r.start > r.end {
            err(
                format!("{p6}.range"),
                format!("start {} is after end {}", r.start, r.end),
            );
        }
    }
    if let Some(Err(m)) = six.lease_time.as_ref().map(LeaseTime::seconds) {
        err(format!("{p6}.lease-time"), m);
    }
    for (j, a) in six.dns_servers.iter().flatten().enumerate() {
        // dnsmasq reads :: as "my own global address": say nothing or say which.
        if a.is_unspecified() || a.is_multicast() || a.is_loopback() {
            err(
                format!("{p6}.dns-servers[{j}]"),
                format!("{a} is not a unicast address"),
            );
        }
    }
    for (j, d) in six.domain_search.iter().flatten().enumerate() {
        if let Err(m) = check_domain(d) {
            err(format!("{p6}.domain-search[{j}]"), m);
        }
    }
    if let Some(m) = six.mtu {
        if !(1280..=65535).contains(&m) {
            err(
                format!("{p6}.mtu"),
                format!("{m} is outside 1280-65535 (IPv6's minimum MTU is 1280)"),
            );
        } else if let Some(link) = n.mtu.filter(|link| m > *link) {
            err(
                format!("{p6}.mtu"),
                format!("{m} is above the network's MTU {link}, which guests would ignore"),
            );
        }
    }
    let interval = six.ra_interval.unwrap_or(DEFAULT_RA_INTERVAL);
    if !(4..=1800).contains(&interval) {
        err(
            format!("{p6}.ra-interval"),
            format!("{interval} is outside 4-1800 seconds"),
        );
    }
    if let Some(l) = six.router_lifetime {
        if l != 0 && !(interval..=9000).contains(&l) {
            err(
                format!("{p6}.router-lifetime"),
                format!(
                    "{l} is neither 0 (not a default router) nor from the ra-interval \
                     ({interval}) to 9000 seconds"
                ),
            );
        }
    }
    Some(me)
}
