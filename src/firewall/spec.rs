//! What a network asks of the firewall, in the input schema (`networks[].firewall`) and in
//! the canonical form the planner compares ([`NetFirewall`]).
//!
//! The canonical form is also what the kernel holds: every rule hostnet writes carries a
//! comment *token* naming the item of [`NetFirewall`] it implements (`fip 203.0.113.10
//! 10.10.0.5 uplink0`), so a query reads the spec back from our own rules' comments
//! ([`NetFirewall::from_tokens`]) without interpreting rule syntax, and never looks at
//! anything outside our table or chains.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// `firewall.backend`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    #[default]
    Nftables,
    Iptables,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Nftables => "nftables",
            BackendKind::Iptables => "iptables",
        })
    }
}

/// Top-level `firewall`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FirewallSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendKind>,
}

/// A transport protocol of a port rule.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }

    fn parse(s: &str) -> Option<Proto> {
        match s {
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            _ => None,
        }
    }
}

/// `masquerade`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Masquerade {
    pub out_interface: String,
}

/// `allow-from-guests[]`.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Allow {
    pub proto: Proto,
    pub port: u16,
}

/// `floating-ips[]`: 1:1 NAT.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FloatingIp {
    pub external: IpAddr,
    pub internal: IpAddr,
    pub interface: String,
}

/// `port-forwards[]`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PortForward {
    pub proto: Proto,
    pub external_port: u16,
    pub internal: IpAddr,
    pub internal_port: u16,
    pub interface: String,
}

/// `metadata`: guests' requests to `address:port` (TCP) go to `to`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Metadata {
    pub address: IpAddr,
    pub port: u16,
    pub to: SocketAddr,
}

/// `networks[].firewall`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct NetworkFirewallSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masquerade: Option<Masquerade>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_from_guests: Option<Vec<Allow>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub floating_ips: Vec<FloatingIp>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_forwards: Vec<PortForward>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
}

/// A network's firewall in canonical form: what the planner compares and the kernel holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NetFirewall {
    /// The device the guests are behind (the bridge, or the uplink when not bridged).
    pub device: String,
    /// The network's subnets (prefixes of its static addresses).
    pub subnets: BTreeSet<IpNet>,
    pub masquerade: Option<String>,
    pub isolate: bool,
    /// `None`: guests may reach the host on anything; `Some`: only on these (plus
    /// replies, ICMP and the metadata service).
    pub allow: Option<BTreeSet<Allow>>,
    pub floating: BTreeSet<FloatingIp>,
    pub forwards: BTreeSet<PortForward>,
    pub metadata: Option<Metadata>,
}

impl NetFirewall {
    /// From the input: `device` and `subnets` come from the network around it.
    pub fn from_spec(device: &str, subnets: BTreeSet<IpNet>, s: &NetworkFirewallSpec) -> Self {
        NetFirewall {
            device: device.to_string(),
            subnets,
            masquerade: s.masquerade.as_ref().map(|m| m.out_interface.clone()),
            isolate: s.isolate.unwrap_or(false),
            allow: s
                .allow_from_guests
                .as_ref()
                .map(|v| v.iter().copied().collect()),
            floating: s.floating_ips.iter().cloned().collect(),
            forwards: s.port_forwards.iter().cloned().collect(),
            metadata: s.metadata.clone(),
        }
    }

    /// Nothing asked of the firewall: the network needs no chains at all.
    pub fn is_empty(&self) -> bool {
        self.masquerade.is_none()
            && !self.isolate
            && self.allow.is_none()
            && self.floating.is_empty()
            && self.forwards.is_empty()
            && self.metadata.is_none()
    }

    /// Back to the input schema (for `show`).
    pub fn to_spec(&self) -> NetworkFirewallSpec {
        NetworkFirewallSpec {
            masquerade: self.masquerade.as_ref().map(|m| Masquerade {
                out_interface: m.clone(),
            }),
            isolate: self.isolate.then_some(true),
            allow_from_guests: self.allow.as_ref().map(|a| a.iter().copied().collect()),
            floating_ips: self.floating.iter().cloned().collect(),
            port_forwards: self.forwards.iter().cloned().collect(),
            metadata: self.metadata.clone(),
        }
    }

    /// Reads a spec back from the comment tokens of a network's rules. Returns `None`
    /// when there is no `net` marker (then the chains are not a network's).
    pub fn from_tokens<'a>(tokens: impl IntoIterator<Item = &'a str>) -> Option<NetFirewall> {
        let mut n = NetFirewall::default();
        let mut marked = false;
        for t in tokens {
            let w: Vec<&str> = t.split(' ').collect();
            match w.as_slice() {
                ["net", _, "dev", dev] => {
                    n.device = dev.to_string();
                    marked = true;
                }
                ["subnet", s] => {
                    n.subnets.extend(s.parse::<IpNet>().ok());
                }
                ["masq", out] => n.masquerade = Some(out.to_string()),
                ["iso"] => n.isolate = true,
                ["allow-end"] => {
                    n.allow.get_or_insert_with(BTreeSet::new);
                }
                ["allow", p, port] => {
                    if let (Some(proto), Ok(port)) = (Proto::parse(p), port.parse()) {
                        n.allow
                            .get_or_insert_with(BTreeSet::new)
                            .insert(Allow { proto, port });
                    }
                }
                ["fip", e, i, dev] => {
                    if let (Ok(external), Ok(internal)) = (e.parse(), i.parse()) {
                        n.floating.insert(FloatingIp {
                            external,
                            internal,
                            interface: dev.to_string(),
                        });
                    }
                }
                ["pf", p, ep, i, ip, dev] => {
                    if let (Some(proto), Ok(external_port), Ok(internal), Ok(internal_port)) =
                        (Proto::parse(p), ep.parse(), i.parse(), ip.parse())
                    {
                        n.forwards.insert(PortForward {
                            proto,
                            external_port,
                            internal,
                            internal_port,
                            interface: dev.to_string(),
                        });
                    }
                }
                ["meta", a, p, to] => {
                    if let (Ok(address), Ok(port), Ok(to)) = (a.parse(), p.parse(), to.parse()) {
                        n.metadata = Some(Metadata { address, port, to });
                    }
                }
                _ => {}
            }
        }
        marked.then_some(n)
    }
}

/// Comment tokens (at most 128 bytes: nft's limit on comments).
pub mod token {
    use super::*;

    pub fn net(name: &str, dev: &str) -> String {
        format!("net {name} dev {dev}")
    }
    pub fn subnet(s: &IpNet) -> String {
        format!("subnet {s}")
    }
    pub fn masq(out: &str) -> String {
        format!("masq {out}")
    }
    pub const ISO: &str = "iso";
    pub const ALLOW_END: &str = "allow-end";
    pub fn allow(a: &Allow) -> String {
        format!("allow {} {}", a.proto.as_str(), a.port)
    }
    pub fn fip(f: &FloatingIp) -> String {
        format!("fip {} {} {}", f.external, f.internal, f.interface)
    }
    pub fn pf(p: &PortForward) -> String {
        format!(
            "pf {} {} {} {} {}",
            p.proto.as_str(),
            p.external_port,
            p.internal,
            p.internal_port,
            p.interface
        )
    }
    pub fn meta(m: &Metadata) -> String {
        format!("meta {} {} {}", m.address, m.port, m.to)
    }
}

/// One line per item, for plans and `show`: `masquerade out uplink0`, `floating-ip …`.
pub fn describe(n: &NetFirewall) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(m) = &n.masquerade {
        v.push(format!("masquerade out {m}"));
    }
    if n.isolate {
        v.push("isolate".into());
    }
    if let Some(a) = &n.allow {
        let list: Vec<String> = a
            .iter()
            .map(|a| format!("{}/{}", a.proto.as_str(), a.port))
            .collect();
        v.push(format!("allow-from-guests [{}]", list.join(", ")));
    }
    for f in &n.floating {
        v.push(format!(
            "floating-ip {} <-> {} on {}",
            f.external, f.internal, f.interface
        ));
    }
    for p in &n.forwards {
        v.push(format!(
            "port-forward {} {}:{} -> {}",
            p.proto.as_str(),
            p.interface,
            p.external_port,
            SocketAddr::new(p.internal, p.internal_port)
        ));
    }
    if let Some(m) = &n.metadata {
        v.push(format!(
            "metadata {} -> {}",
            SocketAddr::new(m.address, m.port),
            m.to
        ));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The firewall tests' sample, dual-stack, with its port forward to the IPv6 guest.
    fn sample() -> NetFirewall {
        let mut n = crate::firewall::tests::sample("br0", "10.10.0.0/24");
        n.subnets.insert("fd00::/64".parse().expect("literal"));
        n.forwards = n
            .forwards
            .into_iter()
            .map(|f| PortForward {
                internal: "fd00::5".parse().expect("literal"),
                ..f
            })
            .collect();
        n
    }

    #[test]
    fn tokens_round_trip() {
        let n = sample();
        let mut t = vec![
            token::net("a", "br0"),
            token::masq("up0"),
            token::ISO.into(),
        ];
        t.extend(n.subnets.iter().map(token::subnet));
        t.push(token::ALLOW_END.into());
        t.extend(n.allow.iter().flatten().map(token::allow));
        t.extend(n.floating.iter().map(token::fip));
        t.extend(n.forwards.iter().map(token::pf));
        t.extend(n.metadata.iter().map(token::meta));
        // Repeated tokens (one item, several rules) are harmless.
        t.push(token::masq("up0"));
        assert_eq!(
            NetFirewall::from_tokens(t.iter().map(String::as_str)),
            Some(n)
        );
    }

    #[test]
    fn longest_tokens_fit_in_an_nft_comment() {
        let f = FloatingIp {
            external: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse()
                .expect("literal"),
            internal: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"
                .parse()
                .expect("literal"),
            interface: "abcdefghijklmno".into(),
        };
        assert!(token::fip(&f).len() <= 128);
        let m = Metadata {
            address: "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse()
                .expect("literal"),
            port: 65535,
            to: "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:65535"
                .parse()
                .expect("literal"),
        };
        assert!(token::meta(&m).len() <= 128);
    }

    #[test]
    fn no_marker_is_not_a_network() {
        assert_eq!(NetFirewall::from_tokens(["iso"]), None);
    }
}
