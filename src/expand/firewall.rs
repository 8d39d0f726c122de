//! The networks' firewall: each listed network's spec (none when it is absent or lists no
//! `firewall`), the sysctls they need and the floating IPs' host addresses.

use ipnet::IpNet;

use std::collections::BTreeMap;

use super::Intent;
use crate::firewall::{BackendKind, NetFirewall};
use crate::model::Desired;
use crate::netdev::Address;

/// What the file asks of the firewall.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FirewallIntent {
    pub backend: BackendKind,
    /// Networks whose firewall the file decides, by name: `None` removes it (network
    /// absent, or `firewall: {}`).
    pub networks: BTreeMap<String, Option<NetFirewall>>,
    /// Where each network was declared (`networks[2]`), for messages.
    pub origins: BTreeMap<String, String>,
    /// Sysctls the networks need (`net.ipv4.ip_forward: 1`).
    pub sysctls: BTreeMap<String, String>,
    /// Floating IPs' host addresses to ensure on their interfaces (beyond complete
    /// address lists, into which expansion merges them).
    pub addresses: Vec<Address>,
}

/// The /32 or /128 of an address on an interface.
pub fn host_address(ifname: &str, ip: std::net::IpAddr) -> Address {
    let len = if ip.is_ipv4() { 32 } else { 128 };
    Address::new(
        ifname.to_string(),
        ipnet::IpNet::new(ip, len).unwrap_or_else(|_| ipnet::IpNet::from(ip)),
    )
}

/// The networks' firewall specs, the sysctls they need and the floating IPs' addresses.
pub(super) fn expand_firewall(d: &Desired, intent: &mut Intent) {
    use crate::firewall::{IPV4_FORWARD, IPV6_FORWARD};
    let fw = &mut intent.firewall;
    fw.backend = d
        .firewall
        .as_ref()
        .and_then(|f| f.backend)
        .unwrap_or_default();
    let mut addresses = Vec::new();
    // By name: a search per network is quadratic at tens of thousands of networks.
    let by_name: std::collections::HashMap<&str, &super::NetworkIntent> = intent
        .networks
        .iter()
        .rev()
        .map(|x| (x.name.as_str(), x))
        .collect();
    for (i, n) in d.networks.iter().enumerate() {
        let Some(net) = by_name.get(n.name.as_str()) else {
            continue;
        };
        let spec = if net.absent {
            None
        } else if let Some(s) = &n.firewall {
            let subnets = [&n.ipv4, &n.ipv6]
                .into_iter()
                .flatten()
                .filter(|ip| ip.dhcp != Some(true))
                .flat_map(|ip| ip.address.iter().map(IpNet::trunc))
                .collect();
            Some(NetFirewall::from_spec(&net.device, subnets, s)).filter(|s| !s.is_empty())
        } else if net.previous.as_ref().and_then(|p| p.firewall) == Some(false) {
            // Listed without `firewall`, it has none; when it had none already, the
            // firewall need not even be read.
            continue;
        } else {
            None
        };
        if let Some(s) = &spec {
            // IPv4 forwarding for any IPv4 network as before; IPv6 only where routed.
            let v4 = s.subnets.iter().any(|x| x.addr().is_ipv4()) || routed_families(s).0;
            let v6 = routed_families(s).1;
            if v4 {
                fw.sysctls.insert(IPV4_FORWARD.into(), "1".into());
            }
            if v6 {
                fw.sysctls.insert(IPV6_FORWARD.into(), "1".into());
            }
            for f in &s.floating {
                addresses.push(host_address(&f.interface, f.external));
            }
        }
        fw.origins.insert(n.name.clone(), format!("networks[{i}]"));
        fw.networks.insert(n.name.clone(), spec);
    }
    for a in addresses {
        // A complete address list in the file must keep the floating IP too.
        let list = intent.links.get_mut(&a.ifname).and_then(|li| {
            if a.addr.addr().is_ipv4() {
                li.ipv4.as_mut()
            } else {
                li.ipv6.as_mut()
            }
        });
        match list {
            Some(l) => {
                if !l.contains(&a.addr) {
                    l.push(a.addr);
                    l.sort();
                }
            }
            None => intent.firewall.addresses.push(a),
        }
    }
}

/// Which families a network's firewall routes (IPv4, IPv6): masquerade of a subnet of
/// that family, a floating IP or a port forward in it. Forwarding is turned on only for
/// those: IPv6 forwarding changes every interface's behaviour (router mode).
fn routed_families(s: &crate::firewall::NetFirewall) -> (bool, bool) {
    let mut fams: Vec<bool> = Vec::new();
    if s.masquerade.is_some() {
        fams.extend(s.subnets.iter().map(|x| x.addr().is_ipv4()));
    }
    fams.extend(s.floating.iter().map(|f| f.external.is_ipv4()));
    fams.extend(s.forwards.iter().map(|p| p.internal.is_ipv4()));
    (fams.contains(&true), fams.contains(&false))
}
