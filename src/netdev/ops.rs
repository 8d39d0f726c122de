//! The vocabulary between planner and driver.

use std::fmt;

use super::bridge::{BondPortChange, BridgeChange, PortChange};
use super::dhcp_server::{DhcpHost, ServerSpec};
use super::types::{Address, LinkKind, MacAddr, Route, Rule};

/// A link to create, with everything that can be set in the same request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewLink {
    pub name: String,
    /// Only kinds for which [`LinkKind::creatable`] holds can be created.
    pub kind: LinkKind,
    pub up: bool,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    /// Bridge or bond to enslave the new link to (must already exist).
    pub controller: Option<String>,
    /// For veth: settings of the peer end, created in the same request.
    pub peer: Option<PeerSettings>,
}

/// Settings of the second end of a new veth pair.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeerSettings {
    pub up: bool,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    pub controller: Option<String>,
}

/// Changes to an existing link; `None` fields are left as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LinkChange {
    pub up: Option<bool>,
    pub mtu: Option<u32>,
    pub mac: Option<MacAddr>,
    /// `Some(None)` releases the link from its bridge.
    pub controller: Option<Option<String>>,
    /// Bridge settings to set (a bridge only).
    pub bridge: Option<BridgeChange>,
    /// Settings of the link as a port of its bridge (a bridge port only).
    #[serde(default)]
    pub port: Option<PortChange>,
    /// New settings of the kinds that change them in place (see
    /// [`LinkKind::changes_in_place`]): a bond's MII interval, a MACVLAN's mode.
    pub settings: Option<LinkKind>,
    /// IFLA_IFALIAS; `Some("")` removes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    /// The user-set IFF_PROMISC flag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promisc: Option<bool>,
    /// Settings of the link as a port of its bond (a bond port only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_port: Option<BondPortChange>,
    /// IPv6 address generation mode and token (IFLA_AF_SPEC{AF_INET6}).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inet6: Option<super::inet6::Inet6Change>,
}

impl LinkChange {
    pub fn is_empty(&self) -> bool {
        *self == LinkChange::default()
    }
}

/// One change to the kernel's state. `Display` describes the object (without the verb:
/// see [`Op::verb`] and [`Op::sign`]), e.g. `linux-bridge br0 stp off up`. Serde: the
/// crash journal and checkpoints record the ops an apply carried out.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Op {
    CreateLink(NewLink),
    ChangeLink {
        name: String,
        change: LinkChange,
    },
    /// Deletes a link (a veth pair goes as a whole).
    DeleteLink {
        name: String,
    },
    AddAddress(Address),
    DeleteAddress(Address),
    AddRoute(Route),
    DeleteRoute(Route),
    AddRule(Rule),
    DeleteRule(Rule),
    /// Adds (or changes the flags of) VLANs of a bridge port, or of a bridge itself, or
    /// removes them (`add: false`; flags do not matter then).
    BridgeVlans {
        name: String,
        vlans: super::VlanSet,
        add: bool,
    },
    /// Adds an alternative name to a link, or removes one (`add: false`): one name per
    /// op, so that a rollback takes back exactly the names this apply changed.
    AltName {
        name: String,
        alt: String,
        add: bool,
    },
    /// A change to Open vSwitch's database (see [`crate::ovs`]).
    Ovs(crate::ovs::OvsOp),
    /// A firewall or sysctl change (see [`crate::firewall`]).
    Firewall(Box<crate::firewall::FwOp>),
    /// Writes a network's DHCP server configuration and options (a SIGHUP when only the
    /// options changed and it runs).
    ConfigureDhcpServer {
        network: String,
        spec: ServerSpec,
        /// The network has no server yet (for the plan's `+`; the op is the same).
        new: bool,
    },
    /// Makes the network's dnsmasq run with its configured flags (restarting one that
    /// runs with others).
    StartDhcpServer {
        network: String,
    },
    /// Stops the network's dnsmasq; `remove` also deletes its files.
    StopDhcpServer {
        network: String,
        remove: bool,
    },
    AddDhcpHost {
        network: String,
        host: DhcpHost,
    },
    /// Releases the host's lease and removes it (one SIGHUP per server and phase).
    RemoveDhcpHost {
        network: String,
        host: DhcpHost,
    },
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateLink(l) => {
                write!(f, "{} {}", l.kind.type_name(), l.name)?;
                if let LinkKind::Veth { peer: Some(p) } = &l.kind {
                    write!(f, " peer {p}")?;
                }
                let settings = l.kind.settings();
                if !settings.is_empty() {
                    write!(f, " {settings}")?;
                }
                if let Some(m) = l.mtu {
                    write!(f, " mtu {m}")?;
                }
                if let Some(m) = l.mac {
                    write!(f, " mac {m}")?;
                }
                if let Some(c) = &l.controller {
                    write!(f, " master {c}")?;
                }
                write!(f, " {}", if l.up { "up" } else { "down" })
            }
            Op::ChangeLink { name, change } => {
                write!(f, "link {name}")?;
                if let Some(b) = &change.bridge {
                    write!(f, " {b}")?;
                }
                if let Some(p) = &change.port {
                    write!(f, " bridge_slave {p}")?;
                }
                if let Some(p) = &change.bond_port {
                    write!(f, " bond_slave {p}")?;
                }
                if let Some(k) = &change.settings {
                    write!(f, " {}", k.settings())?;
                }
                if let Some(m) = change.mtu {
                    write!(f, " mtu {m}")?;
                }
                if let Some(m) = change.mac {
                    write!(f, " mac {m}")?;
                }
                match &change.alias {
                    Some(a) if a.is_empty() => write!(f, " alias \"\"")?,
                    Some(a) => write!(f, " alias {a:?}")?,
                    None => {}
                }
                match change.promisc {
                    Some(true) => write!(f, " promisc on")?,
                    Some(false) => write!(f, " promisc off")?,
                    None => {}
                }
                if let Some(i) = &change.inet6 {
                    write!(f, "{}", i.words())?;
                }
                match &change.controller {
                    Some(Some(c)) => write!(f, " master {c}")?,
                    Some(None) => write!(f, " nomaster")?,
                    None => {}
                }
                match change.up {
                    Some(true) => write!(f, " up")?,
                    Some(false) => write!(f, " down")?,
                    None => {}
                }
                Ok(())
            }
            Op::DeleteLink { name } => write!(f, "link {name}"),
            Op::AddAddress(a) | Op::DeleteAddress(a) => {
                write!(f, "address {} dev {}", a.addr, a.ifname)
            }
            Op::AddRoute(r) | Op::DeleteRoute(r) => fmt_route(f, r),
            Op::AddRule(r) | Op::DeleteRule(r) => fmt_rule(f, r),
            Op::BridgeVlans { name, vlans, add } => {
                let vlans = if *add {
                    super::fmt_vlans(vlans)
                } else {
                    let vids: Vec<String> = vlans.keys().map(u16::to_string).collect();
                    vids.join(" ")
                };
                write!(f, "bridge-vlan {vlans} dev {name}")
            }
            Op::AltName { name, alt, .. } => write!(f, "altname {alt} dev {name}"),
            Op::Ovs(o) => fmt::Display::fmt(o, f),
            Op::Firewall(op) => fmt::Display::fmt(op, f),
            Op::ConfigureDhcpServer { network, spec, .. } => {
                write!(f, "dhcp-server {network} {spec}")
            }
            Op::StartDhcpServer { network }
            | Op::StopDhcpServer {
                network,
                remove: false,
            } => {
                write!(f, "dnsmasq of network {network}")
            }
            Op::StopDhcpServer {
                network,
                remove: true,
            } => write!(f, "dhcp-server {network} (its dnsmasq and files)"),
            Op::AddDhcpHost { network, host } | Op::RemoveDhcpHost { network, host } => {
                write!(f, "dhcp-host {host} on {network}")
            }
        }
    }
}

/// Formats a route in `ip route` argument order, leaving out what is the default:
/// `default` for a zero-length destination, no `table` for the main table, no IPv6
/// metric 1024, no `scope link` on an IPv4 route without gateway, and no protocol for
/// hostnet's own routes (201) and configured ones (`static`).
pub fn fmt_route(f: &mut impl fmt::Write, r: &Route) -> fmt::Result {
    write!(f, "route ")?;
    if r.attrs.kind != super::RouteKind::Unicast {
        write!(f, "{} ", r.attrs.kind.as_str())?;
    }
    fmt_prefix(f, &r.destination)?;
    if let Some(g) = r.gateway {
        write!(f, " via {g}")?;
    }
    if let Some(d) = &r.dev {
        write!(f, " dev {d}")?;
    }
    if r.table != super::TABLE_MAIN {
        write!(f, " table {}", table_name(r.table))?;
    }
    let v6 = r.destination.addr().is_ipv6();
    match r.metric {
        Some(m) if !(v6 && m == IPV6_DEFAULT_METRIC) => write!(f, " metric {m}")?,
        _ => {}
    }
    // The scope `ip route add` gives by itself: link for an IPv4 unicast route without
    // gateway or next hops, else global.
    let natural = if v6
        || r.gateway.is_some()
        || !r.attrs.nexthops.is_empty()
        || r.attrs.kind != super::RouteKind::Unicast
    {
        super::RouteScope::Universe
    } else {
        super::RouteScope::Link
    };
    if r.scope != natural {
        match r.scope {
            super::RouteScope::Universe => write!(f, " scope global")?,
            super::RouteScope::Link => write!(f, " scope link")?,
            super::RouteScope::Host => write!(f, " scope host")?,
            super::RouteScope::Other(n) => write!(f, " scope {n}")?,
        }
    }
    if let Some(s) = r.src {
        write!(f, " src {s}")?;
    }
    if r.attrs.onlink {
        write!(f, " onlink")?;
    }
    fmt_metrics(f, &r.attrs.metrics)?;
    for h in &r.attrs.nexthops {
        write!(f, " nexthop")?;
        if let Some(g) = h.gateway {
            write!(f, " via {g}")?;
        }
        if let Some(d) = &h.dev {
            write!(f, " dev {d}")?;
        }
        write!(f, " weight {}", h.weight)?;
        if h.onlink {
            write!(f, " onlink")?;
        }
    }
    fmt_protocol(f, r.protocol)
}

/// A route's metrics as `ip route` prints them (`cwnd lock 20`).
fn fmt_metrics(f: &mut impl fmt::Write, m: &super::RouteMetrics) -> fmt::Result {
    let fields = [
        ("mtu", m.mtu, super::LOCK_MTU),
        ("cwnd", m.cwnd, super::LOCK_CWND),
        ("advmss", m.advmss, 1 << 8),
        ("initcwnd", m.initcwnd, 1 << 11),
        ("initrwnd", m.initrwnd, 1 << 14),
        ("quickack", m.quickack, 1 << 15),
    ];
    for (name, value, lock) in fields {
        if let Some(v) = value {
            let locked = if m.locks & lock != 0 { " lock" } else { "" };
            write!(f, " {name}{locked} {v}")?;
        }
    }
    Ok(())
}

/// Formats a rule in `ip rule` argument order; the family only when no prefix shows it,
/// `lookup main` for table 254, no protocol for hostnet's own and configured rules.
pub fn fmt_rule(f: &mut impl fmt::Write, r: &Rule) -> fmt::Result {
    write!(f, "rule ")?;
    if r.from.is_none() && r.to.is_none() {
        write!(f, "{} ", r.family)?;
    }
    write!(f, "priority {}", r.priority)?;
    if r.invert {
        write!(f, " not")?;
    }
    if let Some(n) = r.from {
        write!(f, " from ")?;
        fmt_prefix(f, &n)?;
    }
    if let Some(n) = r.to {
        write!(f, " to ")?;
        fmt_prefix(f, &n)?;
    }
    if let Some(i) = &r.iif {
        write!(f, " iif {i}")?;
    }
    if let Some(o) = &r.oif {
        write!(f, " oif {o}")?;
    }
    if let Some(m) = r.fwmark {
        write!(f, " fwmark {m:#x}")?;
        if let Some(k) = r.fwmask {
            write!(f, "/{k:#x}")?;
        }
    }
    match r.action {
        super::RuleAction::Lookup => write!(f, " lookup {}", table_name(r.table))?,
        super::RuleAction::Goto(p) => write!(f, " goto {p}")?,
        super::RuleAction::Nop => write!(f, " nop")?,
        super::RuleAction::Blackhole => write!(f, " blackhole")?,
        super::RuleAction::Unreachable => write!(f, " unreachable")?,
        super::RuleAction::Prohibit => write!(f, " prohibit")?,
    }
    if let Some(n) = r.suppress_prefixlength {
        write!(f, " suppress_prefixlength {n}")?;
    }
    fmt_protocol(f, r.protocol)
}

/// The metric the kernel gives an IPv6 route that has none.
const IPV6_DEFAULT_METRIC: u32 = 1024;

/// `default` for a zero-length prefix, as `ip` prints it.
fn fmt_prefix(f: &mut impl fmt::Write, p: &ipnet::IpNet) -> fmt::Result {
    if p.prefix_len() == 0 {
        write!(f, "default")
    } else {
        write!(f, "{p}")
    }
}

/// A routing table by the name `ip` gives it (`main`, `local`, `default`), else its id.
fn table_name(table: u32) -> String {
    match table {
        super::TABLE_MAIN => "main".into(),
        super::TABLE_LOCAL => "local".into(),
        super::TABLE_DEFAULT => "default".into(),
        t => t.to_string(),
    }
}

/// A route protocol by the name `ip` gives it; nothing for hostnet's own (201) and for
/// `static`, the protocol of configured routes and rules.
fn fmt_protocol(f: &mut impl fmt::Write, protocol: u8) -> fmt::Result {
    match protocol {
        super::HOSTNET_PROTO | super::PROTO_STATIC => Ok(()),
        super::PROTO_KERNEL => write!(f, " proto kernel"),
        super::PROTO_BOOT => write!(f, " proto boot"),
        9 => write!(f, " proto ra"),
        16 => write!(f, " proto dhcp"),
        p => write!(f, " proto {p}"),
    }
}

impl Op {
    /// The verb for messages: "create", "change", "delete", "add".
    pub fn verb(&self) -> &'static str {
        match self {
            Op::Ovs(o) => o.verb(),
            Op::CreateLink(_) => "create",
            Op::ConfigureDhcpServer { new: true, .. } => "create",
            Op::ChangeLink { .. } | Op::ConfigureDhcpServer { .. } => "change",
            Op::StartDhcpServer { .. } => "start",
            Op::StopDhcpServer { .. } => "stop",
            Op::AddDhcpHost { .. } => "add",
            Op::RemoveDhcpHost { .. } => "delete",
            Op::AddAddress(_) | Op::AddRoute(_) | Op::AddRule(_) => "add",
            Op::BridgeVlans { add: true, .. } | Op::AltName { add: true, .. } => "add",
            Op::BridgeVlans { .. } | Op::AltName { .. } => "delete",
            Op::Firewall(op) => op.verb(),
            Op::DeleteLink { .. }
            | Op::DeleteAddress(_)
            | Op::DeleteRoute(_)
            | Op::DeleteRule(_) => "delete",
        }
    }

    /// "+", "~" or "-": what the op does to the object it names.
    pub fn sign(&self) -> char {
        match self {
            Op::Ovs(o) => o.sign(),
            Op::CreateLink(_)
            | Op::AddAddress(_)
            | Op::AddRoute(_)
            | Op::AddRule(_)
            | Op::ConfigureDhcpServer { new: true, .. }
            | Op::StartDhcpServer { .. }
            | Op::AddDhcpHost { .. }
            | Op::BridgeVlans { add: true, .. }
            | Op::AltName { add: true, .. } => '+',
            Op::ChangeLink { .. } | Op::ConfigureDhcpServer { .. } => '~',
            Op::Firewall(op) => op.sign(),
            Op::DeleteLink { .. }
            | Op::DeleteAddress(_)
            | Op::DeleteRoute(_)
            | Op::DeleteRule(_)
            | Op::StopDhcpServer { .. }
            | Op::RemoveDhcpHost { .. }
            | Op::BridgeVlans { .. }
            | Op::AltName { .. } => '-',
        }
    }

    /// True for the ops of the DHCP servers (carried out by [`crate::netdev::dnsmasq`]).
    pub fn is_dhcp_server(&self) -> bool {
        matches!(
            self,
            Op::ConfigureDhcpServer { .. }
                | Op::StartDhcpServer { .. }
                | Op::StopDhcpServer { .. }
                | Op::AddDhcpHost { .. }
                | Op::RemoveDhcpHost { .. }
        )
    }
}
