//! A network's `dhcp-server` into the server the planner converges: dnsmasq's flags, its
//! options and the declared hosts, with the defaults filled in.

use std::collections::BTreeSet;

use super::Intent;
use crate::model::dhcp_server::{
    server_address, server_address6, DhcpServerSpec, DEFAULT_LEASE_SECONDS,
    DEFAULT_LEASE_SECONDS_V6, DEFAULT_RA_INTERVAL,
};
use crate::model::{NetworkSpec, NetworkState};
use crate::netdev::dhcp_server::{
    DhcpHost, Ipv6Flags, ServerFlags, ServerIntent, ServerOptions, ServerSpec,
};

/// Records network `n`'s server (or its removal: absent, or no `dhcp-server`). The
/// document is validated, so what does not convert here cannot occur.
pub(super) fn expand_server(intent: &mut Intent, i: usize, n: &NetworkSpec) {
    let want = (n.state != Some(NetworkState::Absent))
        .then_some(())
        .and(n.dhcp_server.as_ref())
        .and_then(|s| server(i, n, s));
    intent.dhcp_servers.insert(n.name.clone(), want);
}

fn server(i: usize, n: &NetworkSpec, s: &DhcpServerSpec) -> Option<ServerIntent> {
    let address = server_address(n);
    let ipv6 = match &s.ipv6 {
        Some(six) => {
            let interval = six.ra_interval.unwrap_or(DEFAULT_RA_INTERVAL);
            Some(Ipv6Flags {
                address: server_address6(n)?,
                ra: six.ra,
                range: six.range.as_ref().map(|r| (r.start, r.end)),
                lease_seconds: match &six.lease_time {
                    Some(t) => t.seconds().ok()?,
                    None => Some(DEFAULT_LEASE_SECONDS_V6),
                },
                ra_interval: interval,
                router_lifetime: six.router_lifetime.unwrap_or(3 * interval),
                mtu: six.mtu.and_then(|m| u16::try_from(m).ok()),
            })
        }
        None => None,
    };
    if address.is_none() && ipv6.is_none() {
        return None;
    }
    let device = n.device();
    let lease_seconds = match &s.lease_time {
        Some(t) => t.seconds().ok()?,
        None => Some(DEFAULT_LEASE_SECONDS),
    };
    let router = match s.router.as_deref() {
        Some("none") => None,
        Some(r) => Some(r.parse().ok()?),
        None => address.map(|a| a.addr()),
    };
    let six = s.ipv6.as_ref();
    let domain_search = match six.and_then(|x| x.domain_search.clone()) {
        Some(list) => list,
        // The guests' domain is their search domain, as DHCPv4's option 15 makes it.
        None => s.domain.iter().filter(|_| six.is_some()).cloned().collect(),
    };
    let mut hosts = BTreeSet::new();
    for h in s.hosts.iter().flatten() {
        hosts.insert(DhcpHost {
            mac: h.mac,
            duid: match &h.duid {
                Some(d) => Some(d.parse().ok()?),
                None => None,
            },
            ip: h.ip,
            ipv6: h.ipv6,
            hostname: h.hostname.clone(),
        });
    }
    Some(ServerIntent {
        origin: format!("networks[{i}].dhcp-server"),
        spec: ServerSpec {
            flags: ServerFlags {
                interface: device,
                address,
                range: s.range.as_ref().map(|r| (r.start, r.end)),
                lease_seconds,
                domain: s.domain.clone(),
                upstream: s.upstream_dns.clone().unwrap_or_default(),
                resolv_conf: s.resolv_conf.unwrap_or(false),
                ping_check: s.ping_check.unwrap_or(true),
                log_dhcp: s.log_dhcp.unwrap_or(false),
                ipv6,
            },
            options: ServerOptions {
                router,
                dns_servers: s.dns_servers.clone().unwrap_or_default(),
                mtu: s.mtu.and_then(|m| u16::try_from(m).ok()),
                dns_servers6: six.and_then(|x| x.dns_servers.clone()).unwrap_or_default(),
                domain_search,
            },
        },
        hosts,
    })
}
