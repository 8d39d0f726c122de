//! Plan entries of the DHCP servers' ops: a server's flags and options, and its hosts.

use serde_json::{json, Map, Value};

use super::objects::{obj, put, Described};
use super::{Action, Kind};
use crate::netdev::dnsmasq::{DhcpHost, ServerSpec};
use crate::netdev::{KernelState, Op};

/// The DHCP servers' ops.
pub(super) fn dhcp(op: &Op, before: &KernelState) -> Described {
    use Action::{Change, Create, Remove};
    match op {
        Op::ConfigureDhcpServer { network, spec, new } => {
            let old = before.dhcp_servers.get(network).map(|s| server(&s.spec));
            let action = if *new { Create } else { Change };
            let label = format!("dhcp-server {network}");
            (
                Kind::DhcpServer,
                network.clone(),
                label,
                action,
                old.filter(|_| !new),
                Some(server(spec)),
            )
        }
        Op::StartDhcpServer { network } => {
            let was = before.dhcp_servers.get(network).map(|s| s.running);
            let label = format!("dhcp-server {network}");
            let b = was.map(|r| obj([("running", json!(r))]));
            (
                Kind::DhcpServer,
                network.clone(),
                label,
                Change,
                b,
                Some(obj([("running", json!(true))])),
            )
        }
        Op::StopDhcpServer { network, remove } => {
            let label = format!("dhcp-server {network}");
            let state = before.dhcp_servers.get(network);
            if *remove {
                let b = state.map(|s| {
                    let mut m = server(&s.spec);
                    m.insert("running".into(), json!(s.running));
                    m
                });
                (Kind::DhcpServer, network.clone(), label, Remove, b, None)
            } else {
                let b = Some(obj([("running", json!(state.is_none_or(|s| s.running)))]));
                (
                    Kind::DhcpServer,
                    network.clone(),
                    label,
                    Change,
                    b,
                    Some(obj([("running", json!(false))])),
                )
            }
        }
        Op::AddDhcpHost { host, .. } => {
            let label = format!("dhcp-host {}", host.key());
            (
                Kind::DhcpHost,
                host.key().to_string(),
                label,
                Create,
                None,
                Some(dhcp_host(host)),
            )
        }
        Op::RemoveDhcpHost { host, .. } => {
            let label = format!("dhcp-host {}", host.key());
            (
                Kind::DhcpHost,
                host.key().to_string(),
                label,
                Remove,
                Some(dhcp_host(host)),
                None,
            )
        }
        // The caller passes the DHCP servers' ops only.
        _ => (
            Kind::DhcpServer,
            String::new(),
            op.to_string(),
            Change,
            None,
            None,
        ),
    }
}

/// A JSON object from pairs.
fn server(s: &ServerSpec) -> Map<String, Value> {
    let fl = &s.flags;
    let o = &s.options;
    let mut m = obj([
        ("interface", json!(fl.interface)),
        ("address", json!(fl.address.map(|a| a.to_string()))),
        (
            "range",
            match fl.range {
                Some((a, b)) => json!({"start": a.to_string(), "end": b.to_string()}),
                None => Value::Null,
            },
        ),
        (
            "lease-time",
            match fl.lease_seconds {
                Some(s) => json!(s),
                None => json!("infinite"),
            },
        ),
    ]);
    put(&mut m, "domain", fl.domain.as_deref());
    m.insert("router".into(), json!(o.router.map(|r| r.to_string())));
    let dns: Vec<String> = o.dns_servers.iter().map(ToString::to_string).collect();
    m.insert("dns-servers".into(), json!(dns));
    put(&mut m, "mtu", o.mtu);
    let up: Vec<String> = fl.upstream.iter().map(ToString::to_string).collect();
    m.insert("upstream-dns".into(), json!(up));
    m.insert("resolv-conf".into(), json!(fl.resolv_conf));
    m.insert("ping-check".into(), json!(fl.ping_check));
    m.insert("log-dhcp".into(), json!(fl.log_dhcp));
    m
}

fn dhcp_host(h: &DhcpHost) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "mac", h.mac.map(|v| v.to_string()));
    put(&mut m, "duid", h.duid.as_ref().map(|v| v.to_string()));
    put(&mut m, "ip", h.ip.map(|v| v.to_string()));
    put(&mut m, "ipv6", h.ipv6.map(|v| v.to_string()));
    put(&mut m, "hostname", h.hostname.as_deref());
    m
}
