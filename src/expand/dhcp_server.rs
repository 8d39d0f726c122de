//! A network's `dhcp-server` into the server the planner converges: dnsmasq's flags, its
//! options and the declared hosts, with the defaults filled in.

use std::collections::BTreeSet;

use super::Intent;
use crate::dhcp::server::{DhcpHost, ServerFlags, ServerIntent, ServerOptions, ServerSpec};
use crate::model::dhcp_server::{server_address, DEFAULT_LEASE_SECONDS};
use crate::model::{NetworkSpec, NetworkState};

/// Records network `n`'s server (or its removal: absent, or no `dhcp-server`). The
/// document is validated, so what does not convert here cannot occur.
pub(super) fn expand_server(intent: &mut Intent, i: usize, n: &NetworkSpec) {
    let want = (n.state != Some(NetworkState::Absent))
        .then_some(())
        .and(n.dhcp_server.as_ref())
        .and_then(|s| {
            let address = server_address(n)?;
            let device = if n.bridged.unwrap_or(true) {
                n.bridge.clone().unwrap_or_else(|| n.name.clone())
            } else {
                n.uplink.clone().unwrap_or_default()
            };
            let lease_seconds = match &s.lease_time {
                Some(t) => t.seconds().ok()?,
                None => Some(DEFAULT_LEASE_SECONDS),
            };
            let router = match s.router.as_deref() {
                Some("none") => None,
                Some(r) => Some(r.parse().ok()?),
                None => Some(address.addr()),
            };
            let hosts: BTreeSet<DhcpHost> = s
                .hosts
                .iter()
                .flatten()
                .map(|h| DhcpHost {
                    mac: h.mac,
                    ip: h.ip,
                    hostname: h.hostname.clone(),
                })
                .collect();
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
                    },
                    options: ServerOptions {
                        router,
                        dns_servers: s.dns_servers.clone().unwrap_or_default(),
                        mtu: s.mtu.and_then(|m| u16::try_from(m).ok()),
                    },
                },
                hosts,
            })
        });
    intent.dhcp_servers.insert(n.name.clone(), want);
}
