//! `dhcp-server.hosts[]`: each host is known by its MAC or by its DUID, and gets an IPv4
//! address, an IPv6 address or both; keys, addresses and names are unique.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::{check_host_name, host_addr, v6::host_addr6, DhcpServerSpec, Errors, RaMode};
use crate::dhcp::server::Duid;
use crate::netdev::MacAddr;

/// Where each key, address and name was first declared.
#[derive(Default)]
struct Seen {
    macs: BTreeMap<MacAddr, usize>,
    duids: BTreeMap<Duid, usize>,
    ips: BTreeMap<Ipv4Addr, usize>,
    ips6: BTreeMap<Ipv6Addr, usize>,
    names: BTreeMap<String, usize>,
}

fn again<K: Ord>(seen: &mut BTreeMap<K, usize>, k: K, j: usize) -> Option<usize> {
    seen.insert(k, j)
}

/// Checks the hosts against the IPv4 subnet (`v4`, the network's first IPv4 address) and
/// the IPv6 prefix (`v6`, the network's first IPv6 address) the server serves.
pub(super) fn validate(
    sp: &str,
    s: &DhcpServerSpec,
    v4: Option<Ipv4Net>,
    v6: Option<Ipv6Net>,
    errs: &mut Errors,
) {
    let stateful = s.ipv6.as_ref().is_some_and(|x| x.ra == RaMode::Stateful);
    let mut seen = Seen::default();
    for (j, h) in s.hosts.iter().flatten().enumerate() {
        let hp = format!("{sp}.hosts[{j}]");
        let mut err = |path: String, m: String| errs.push((path, m));
        match (&h.mac, &h.duid) {
            (Some(_), Some(_)) => err(
                format!("{hp}.duid"),
                "a host is known by its mac or by its duid, not both".into(),
            ),
            (None, None) => err(hp.clone(), "a host needs a mac or a duid".into()),
            _ => {}
        }
        if let Some(mac) = h.mac {
            if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
                err(
                    format!("{hp}.mac"),
                    format!("{mac} is not a unicast MAC address"),
                );
            }
            if let Some(prev) = again(&mut seen.macs, mac, j) {
                err(
                    format!("{hp}.mac"),
                    format!("{mac} is already declared at hosts[{prev}]"),
                );
            }
        }
        if let Some(d) = &h.duid {
            match d.parse::<Duid>() {
                Err(m) => err(format!("{hp}.duid"), m),
                Ok(duid) => {
                    if let Some(prev) = again(&mut seen.duids, duid, j) {
                        err(
                            format!("{hp}.duid"),
                            format!("{d} is already declared at hosts[{prev}]"),
                        );
                    }
                }
            }
            if h.ip.is_some() {
                err(
                    format!("{hp}.ip"),
                    "a host known by its duid gets an IPv6 address only (DHCPv4 clients are \
                     known by their MAC)"
                        .into(),
                );
            }
        }
        if h.ip.is_none() && h.ipv6.is_none() {
            err(
                hp.clone(),
                "a host needs an ip, an ipv6 address or both".into(),
            );
        }
        if let Some(ip) = h.ip {
            match v4 {
                None => err(
                    format!("{hp}.ip"),
                    "the network has no static IPv4 address (ipv4.address) to serve DHCPv4 from"
                        .into(),
                ),
                Some(me) => {
                    if let Err(m) = host_addr(me.trunc(), ip) {
                        err(format!("{hp}.ip"), m);
                    } else if ip == me.addr() {
                        err(
                            format!("{hp}.ip"),
                            format!("{ip} is the network's own address"),
                        );
                    }
                }
            }
            if let Some(prev) = again(&mut seen.ips, ip, j) {
                err(
                    format!("{hp}.ip"),
                    format!("{ip} is already declared at hosts[{prev}]"),
                );
            }
        }
        if let Some(ip) = h.ipv6 {
            if !stateful {
                err(
                    format!("{hp}.ipv6"),
                    "fixed IPv6 addresses are given by DHCPv6: they need ipv6.ra: stateful".into(),
                );
            } else if let Some(me) = v6 {
                if let Err(m) = host_addr6(me.trunc(), ip) {
                    err(format!("{hp}.ipv6"), m);
                } else if ip == me.addr() {
                    err(
                        format!("{hp}.ipv6"),
                        format!("{ip} is the network's own address"),
                    );
                }
            }
            if let Some(prev) = again(&mut seen.ips6, ip, j) {
                err(
                    format!("{hp}.ipv6"),
                    format!("{ip} is already declared at hosts[{prev}]"),
                );
            }
        }
        if let Some(name) = &h.hostname {
            if let Err(m) = check_host_name(name) {
                err(format!("{hp}.hostname"), m);
            } else if let Some(prev) = again(&mut seen.names, name.to_ascii_lowercase(), j) {
                err(
                    format!("{hp}.hostname"),
                    format!("{name} is already declared at hosts[{prev}]"),
                );
            }
        }
    }
}
