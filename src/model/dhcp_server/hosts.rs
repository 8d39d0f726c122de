//! `dhcp-server.hosts[]`: each host is known by its MAC or by its DUID, and gets an IPv4
//! address, an IPv6 address or both; keys, addresses and names are unique.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use super::{
    check_host_name, host_addr, v6::host_addr6, DhcpHostSpec, DhcpServerSpec, Errors, RaMode,
};
use crate::netdev::dhcp_server::Duid;
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

/// What the hosts are checked against: the network's first IPv4 address, its first IPv6
/// address (with the prefix the server serves), and whether DHCPv6 gives addresses.
struct Served {
    v4: Option<Ipv4Net>,
    v6: Option<Ipv6Net>,
    stateful: bool,
}

/// One host's checks, each problem at `path` (`…hosts[j]`).
struct Host<'a> {
    path: String,
    j: usize,
    errs: &'a mut Errors,
}

impl Host<'_> {
    fn err(&mut self, field: &str, m: String) {
        let path = if field.is_empty() {
            self.path.clone()
        } else {
            format!("{}.{field}", self.path)
        };
        self.errs.push((path, m));
    }

    /// `k` is new in `seen`, or the error names where it was first declared.
    fn unique<K: Ord>(&mut self, seen: &mut BTreeMap<K, usize>, k: K, field: &str, shown: &str) {
        if let Some(prev) = seen.insert(k, self.j) {
            self.err(
                field,
                format!("{shown} is already declared at hosts[{prev}]"),
            );
        }
    }
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
    let served = Served {
        v4,
        v6,
        stateful: s.ipv6.as_ref().is_some_and(|x| x.ra == RaMode::Stateful),
    };
    let mut seen = Seen::default();
    for (j, h) in s.hosts.iter().flatten().enumerate() {
        let mut host = Host {
            path: format!("{sp}.hosts[{j}]"),
            j,
            errs,
        };
        key(&mut host, h, &mut seen);
        addresses(&mut host, h, &served, &mut seen);
        if let Some(name) = &h.hostname {
            match check_host_name(name) {
                Err(m) => host.err("hostname", m),
                Ok(()) => host.unique(&mut seen.names, name.to_ascii_lowercase(), "hostname", name),
            }
        }
    }
}

/// A MAC or a DUID, not both, and unique.
fn key(host: &mut Host<'_>, h: &DhcpHostSpec, seen: &mut Seen) {
    match (&h.mac, &h.duid) {
        (Some(_), Some(_)) => host.err(
            "duid",
            "a host is known by its mac or by its duid, not both".into(),
        ),
        (None, None) => host.err("", "a host needs a mac or a duid".into()),
        _ => {}
    }
    if let Some(mac) = h.mac {
        if mac.0[0] & 1 == 1 || mac.0 == [0; 6] {
            host.err("mac", format!("{mac} is not a unicast MAC address"));
        }
        host.unique(&mut seen.macs, mac, "mac", &mac.to_string());
    }
    if let Some(d) = &h.duid {
        match d.parse::<Duid>() {
            Err(m) => host.err("duid", m),
            Ok(duid) => host.unique(&mut seen.duids, duid, "duid", d),
        }
        if h.ip.is_some() {
            host.err(
                "ip",
                "a host known by its duid gets an IPv6 address only (DHCPv4 clients are \
                 known by their MAC)"
                    .into(),
            );
        }
    }
}

/// At least one address; each in what the server serves, not the network's own, unique.
fn addresses(host: &mut Host<'_>, h: &DhcpHostSpec, served: &Served, seen: &mut Seen) {
    if h.ip.is_none() && h.ipv6.is_none() {
        host.err("", "a host needs an ip, an ipv6 address or both".into());
    }
    if let Some(ip) = h.ip {
        match served.v4 {
            None => host.err(
                "ip",
                "the network has no static IPv4 address (ipv4.address) to serve DHCPv4 from".into(),
            ),
            Some(me) => match host_addr(me.trunc(), ip) {
                Err(m) => host.err("ip", m),
                Ok(()) if ip == me.addr() => {
                    host.err("ip", format!("{ip} is the network's own address"));
                }
                Ok(()) => {}
            },
        }
        host.unique(&mut seen.ips, ip, "ip", &ip.to_string());
    }
    if let Some(ip) = h.ipv6 {
        if !served.stateful {
            host.err(
                "ipv6",
                "fixed IPv6 addresses are given by DHCPv6: they need ipv6.ra: stateful".into(),
            );
        } else if let Some(me) = served.v6 {
            match host_addr6(me.trunc(), ip) {
                Err(m) => host.err("ipv6", m),
                Ok(()) if ip == me.addr() => {
                    host.err("ipv6", format!("{ip} is the network's own address"));
                }
                Ok(()) => {}
            }
        }
        host.unique(&mut seen.ips6, ip, "ipv6", &ip.to_string());
    }
}
