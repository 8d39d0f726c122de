//! Checks of `networks[].firewall` that need more than one field: ports, addresses
//! inside the network, duplicates across networks. Every problem names its field.

use std::collections::BTreeMap;
use std::net::IpAddr;

use ipnet::IpNet;

use super::validate::check_ifname as check_linux_ifname;
use super::validate::Errors;
use super::{Desired, NetworkState};

fn unusable(ip: &IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        Some("is unspecified")
    } else if ip.is_multicast() {
        Some("is multicast")
    } else if ip.is_loopback() {
        Some("is loopback")
    } else {
        None
    }
}

/// An interface name the firewall can use verbatim: a valid Linux name made only of
/// letters, digits and `_ . - @`. nft and iptables read `*` and `+` as wildcards, and
/// quotes, backslashes, braces or semicolons as syntax.
fn check_ifname(name: &str) -> Result<(), String> {
    check_linux_ifname(name)?;
    match name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@')))
    {
        Some(c) => Err(format!(
            "interface name {name:?} contains {c:?}, which nft and iptables read as a wildcard or as syntax (use letters, digits, '_', '.', '-', '@')"
        )),
        None => Ok(()),
    }
}

/// The subnets of networks with a firewall seen so far, by (family, first address,
/// prefix length), so that finding one that overlaps a new subnet costs a lookup per
/// shorter prefix length and one range query, not a pass over every network.
#[derive(Default)]
struct Prefixes(BTreeMap<(bool, u128, u8), usize>);

fn key_of(s: &IpNet) -> (bool, u128, u8) {
    let start = match s.network() {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    (s.addr().is_ipv6(), start, s.prefix_len())
}

impl Prefixes {
    fn insert(&mut self, s: IpNet, network: usize) {
        self.0.entry(key_of(&s)).or_insert(network);
    }

    /// A subnet seen before that contains `s` or lies inside it, with its network
    /// (`networks[i]`): the earliest of those that contain `s` and the first inside it.
    fn overlapping(&self, s: &IpNet) -> Option<(IpNet, String)> {
        let (v6, start, len) = key_of(s);
        let end = match s.broadcast() {
            IpAddr::V4(a) => u128::from(u32::from(a)),
            IpAddr::V6(a) => u128::from(a),
        };
        let containing = (0..=len).filter_map(|l| {
            let outer = IpNet::new(s.addr(), l).ok()?.trunc();
            self.0.get(&key_of(&outer)).map(|i| (outer, *i))
        });
        let inside = self
            .0
            .range((v6, start, len)..=(v6, end, u8::MAX))
            .filter_map(|(&(_, a, l), i)| {
                let addr = if v6 {
                    IpAddr::from(std::net::Ipv6Addr::from(a))
                } else {
                    IpAddr::from(std::net::Ipv4Addr::from(u32::try_from(a).ok()?))
                };
                Some((IpNet::new(addr, l).ok()?, *i))
            })
            .take(1);
        containing
            .chain(inside)
            .min_by_key(|(_, i)| *i)
            .map(|(o, i)| (o, format!("networks[{i}]")))
    }
}

/// Pushes the problems to `errs`, in document order.
pub(super) fn check(errs: &mut Errors, d: &Desired) {
    let mut externals: BTreeMap<IpAddr, String> = BTreeMap::new();
    let mut forwards: BTreeMap<(&str, &str, u16), String> = BTreeMap::new();
    // Source-prefix dispatch (nft interval maps, iptables -s jumps) needs disjoint
    // subnets across networks with a firewall.
    let mut prefixes = Prefixes::default();
    for (i, n) in d.networks.iter().enumerate() {
        let Some(f) = &n.firewall else { continue };
        if n.state == Some(NetworkState::Absent) {
            continue;
        }
        let p = format!("networks[{i}].firewall");
        let subnets: Vec<IpNet> = [&n.ipv4, &n.ipv6]
            .into_iter()
            .flatten()
            .filter(|ip| ip.dhcp != Some(true))
            .flat_map(|ip| ip.address.iter().map(IpNet::trunc))
            .collect();
        let shown = || {
            let v: Vec<String> = subnets.iter().map(ToString::to_string).collect();
            if v.is_empty() {
                "it has no static address".to_string()
            } else {
                v.join(", ")
            }
        };
        let inside = |ip: &IpAddr| subnets.iter().any(|s| s.contains(ip));
        let mut mine: Vec<IpNet> = Vec::new();
        for s in &subnets {
            if mine.contains(s) {
                continue;
            }
            mine.push(*s);
            if let Some((o, at)) = prefixes.overlapping(s) {
                errs.push(
                    p.clone(),
                    format!("subnet {s} overlaps {o} of {at}: networks with a firewall need disjoint subnets (rules are chosen by source prefix)"),
                );
            }
        }
        for s in mine {
            prefixes.insert(s, i);
        }
        if let Some(m) = &f.masquerade {
            if let Err(e) = check_ifname(&m.out_interface) {
                errs.push(format!("{p}.masquerade.out-interface"), e);
            }
        }
        if f.masquerade.is_some() && subnets.is_empty() {
            errs.push(
                format!("{p}.masquerade"),
                "masquerade needs a static address on the network (its subnet is what is translated)",
            );
        }
        for (j, a) in f.allow_from_guests.iter().flatten().enumerate() {
            if a.port == 0 {
                errs.push(
                    format!("{p}.allow-from-guests[{j}].port"),
                    "port 0 is not a port",
                );
            }
        }
        for (j, fl) in f.floating_ips.iter().enumerate() {
            let q = format!("{p}.floating-ips[{j}]");
            if let Some(why) = unusable(&fl.external) {
                errs.push(format!("{q}.external"), format!("{} {why}", fl.external));
            }
            if fl.external.is_ipv4() != fl.internal.is_ipv4() {
                errs.push(
                    format!("{q}.internal"),
                    format!(
                        "{} and {} are of different families",
                        fl.internal, fl.external
                    ),
                );
            } else if !inside(&fl.internal) {
                errs.push(
                    format!("{q}.internal"),
                    format!("{} is outside the network ({})", fl.internal, shown()),
                );
            }
            if inside(&fl.external) {
                errs.push(
                    format!("{q}.external"),
                    format!("{} is inside the network it translates to", fl.external),
                );
            }
            if let Err(m) = check_ifname(&fl.interface) {
                errs.push(format!("{q}.interface"), m);
            }
            if let Some(prev) = externals.insert(fl.external, q.clone()) {
                errs.push(
                    format!("{q}.external"),
                    format!("{} is already a floating IP at {prev}", fl.external),
                );
            }
            if f.floating_ips[..j]
                .iter()
                .any(|o| o.internal == fl.internal)
            {
                errs.push(
                    format!("{q}.internal"),
                    format!("{} already has a floating IP in this network", fl.internal),
                );
            }
        }
        for (j, pf) in f.port_forwards.iter().enumerate() {
            let q = format!("{p}.port-forwards[{j}]");
            if pf.external_port == 0 {
                errs.push(format!("{q}.external-port"), "port 0 is not a port");
            }
            if pf.internal_port == 0 {
                errs.push(format!("{q}.internal-port"), "port 0 is not a port");
            }
            if !inside(&pf.internal) {
                errs.push(
                    format!("{q}.internal"),
                    format!("{} is outside the network ({})", pf.internal, shown()),
                );
            }
            if let Err(m) = check_ifname(&pf.interface) {
                errs.push(format!("{q}.interface"), m);
            }
            // Guests reach a forward on any of the host's addresses (hairpin), so a port
            // is forwarded once per address family and protocol, whatever the interface.
            let fam = if pf.internal.is_ipv4() {
                "IPv4"
            } else {
                "IPv6"
            };
            let key = (fam, pf.proto.as_str(), pf.external_port);
            if let Some(prev) = forwards.insert(key, q.clone()) {
                errs.push(
                    format!("{q}.external-port"),
                    format!(
                        "{fam} {} port {} is already forwarded at {prev} (guests reach a forward on any host address, so it must be unique per family)",
                        pf.proto.as_str(),
                        pf.external_port,
                    ),
                );
            }
        }
        if let Some(m) = &f.metadata {
            let q = format!("{p}.metadata");
            if m.port == 0 {
                errs.push(format!("{q}.port"), "port 0 is not a port");
            }
            if m.to.port() == 0 {
                errs.push(format!("{q}.to"), "port 0 is not a port");
            }
            if let Some(why) = unusable(&m.address) {
                errs.push(format!("{q}.address"), format!("{} {why}", m.address));
            }
            if m.to.ip().is_loopback() {
                // DNAT from a guest to loopback is dropped as martian; making it work
                // (route_localnet on the bridge) would let guests reach every service
                // bound to 127.0.0.1 on the host.
                errs.push(
                    format!("{q}.to"),
                    format!(
                        "{} is a loopback address, which guests' traffic cannot be sent to; give an address of the host (for example the network's own) and have the service listen there",
                        m.to
                    ),
                );
            }
            if m.address.is_ipv4() != m.to.ip().is_ipv4() {
                errs.push(
                    format!("{q}.to"),
                    format!("{} and {} are of different families", m.to, m.address),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    fn problems(fw: &str) -> Vec<(String, String)> {
        let doc = format!(
            "networks:\n  - name: t1\n    uplink: g1h\n    ipv4: {{address: [10.10.0.1/24]}}\n    ipv6: {{address: [\"fd00:10::1/64\"]}}\n    firewall: {fw}\n"
        );
        checked(&crate::model::parse(&doc).expect("parses"))
    }

    /// [`super::check`]'s problems as (path, message).
    fn checked(d: &crate::model::Desired) -> Vec<(String, String)> {
        let mut errs = super::Errors::default();
        super::check(&mut errs, d);
        errs.0.into_iter().map(|e| (e.path, e.message)).collect()
    }

    #[test]
    fn a_port_is_forwarded_once_per_family_whatever_the_interface() {
        let dual = "{port-forwards: [{proto: tcp, external-port: 80, internal: 10.10.0.5, internal-port: 80, interface: up0}, {proto: tcp, external-port: 80, internal: 'fd00:10::5', internal-port: 80, interface: up0}]}";
        assert_eq!(problems(dual), vec![]);
        let two_ifs = "{port-forwards: [{proto: tcp, external-port: 80, internal: 10.10.0.5, internal-port: 80, interface: up0}, {proto: tcp, external-port: 80, internal: 10.10.0.6, internal-port: 80, interface: up1}]}";
        let p = problems(two_ifs);
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(
            p[0].0,
            "networks[0].firewall.port-forwards[1].external-port"
        );
    }

    #[test]
    fn a_loopback_metadata_target_is_refused() {
        let p = problems("{metadata: {address: 169.254.169.254, port: 80, to: '127.0.0.1:8775'}}");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "networks[0].firewall.metadata.to");
        assert!(p[0].1.contains("loopback"), "{p:?}");
        let host = "{metadata: {address: 169.254.169.254, port: 80, to: '10.10.0.1:8775'}}";
        assert_eq!(problems(host), vec![]);
    }

    #[test]
    fn interface_names_with_wildcards_or_syntax_are_refused() {
        for bad in ["up\\\"0", "g*", "eth+", "a\\\\b", "x;y"] {
            let p = problems(&format!("{{masquerade: {{out-interface: \"{bad}\"}}}}"));
            assert_eq!(p.len(), 1, "{bad}: {p:?}");
            assert_eq!(
                p[0].0, "networks[0].firewall.masquerade.out-interface",
                "{bad}"
            );
        }
        assert_eq!(problems("{masquerade: {out-interface: eth0.100}}"), vec![]);
    }

    #[test]
    fn overlapping_subnets_across_networks_are_refused() {
        let doc = "networks:\n  - name: a\n    uplink: g1h\n    ipv4: {address: [10.20.0.1/24]}\n    firewall: {isolate: true}\n  - name: b\n    uplink: g2h\n    ipv4: {address: [10.20.0.129/16]}\n    firewall: {isolate: true}\n";
        let p = checked(&crate::model::parse(doc).expect("parses"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].0, "networks[1].firewall");
        assert!(
            p[0].1.contains("overlaps 10.20.0.0/24 of networks[0]"),
            "{p:?}"
        );
    }
}
