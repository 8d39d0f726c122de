//! The routes and rules of source routing, for static addresses and for DHCP leases.
//!
//! For an address A in subnet S on device D with gateway G, a network's table T holds
//! `default via G dev D` and the on-link `S dev D scope link src A` (never "via A": that
//! broke VDSM on newer kernels; IPv6: `S dev D`, without a source, see [`for_address`]),
//! and the rule `from S lookup T` sits at the network's priority. Everything carries
//! [`HOSTNET_PROTO`].
//!
//! The networks' rules of a family sit inside a *block* of three rules that belongs to no
//! network ([`block_rules`]), from the lowest network priority P_min to the highest P_max:
//!
//! ```text
//! P_min-2  not iif lo goto P_max+1                 forwarded packets jump over the block
//! P_min-1  lookup main suppress_prefixlength 0     the host's own traffic to anything main
//!                                                  routes more specifically than a default
//! P_min..  from S lookup T                         the rest of the host's own traffic from S
//! P_max+1  nop                                     where the goto lands
//! ```
//!
//! The kernel walks rules one by one for every routed packet; with the block a forwarded
//! packet walks three rules whatever the number of networks, and never meets a network's
//! `from S` rule (which would send a de-NATed reply from S back out of the uplink). A
//! locally generated packet is looked up with iif = loopback, so the goto lets it in.
//! main's connected route of S makes the `to S lookup T` rule of earlier releases dead
//! weight: the second rule already sends the host's traffic to S by main.
//!
//! A DHCP family's lease is only known when planning: it comes either from the kernel
//! (the address the client put on the device and the default route it installed) or from
//! a client event ([`LeaseSource::Event`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::netdev::{Family, Route, RouteScope, Rule, RuleAction, HOSTNET_PROTO, TABLE_MAIN};

/// Metric the kernel gives IPv6 routes added without one; desired IPv6 routes carry it so
/// that they compare equal to what a dump returns.
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// Shortest IPv4 prefix a DHCP lease may bring. A lease's subnet becomes a `from SUBNET`
/// rule, so a server handing out a /1 (or a /8) would send the host's own traffic from
/// every other address in that range (other networks' included) through its router: a
/// DHCP server is not trusted with that.
pub const MIN_LEASE_PREFIX_V4: u8 = 16;
/// Shortest IPv6 prefix a lease (or a kernel address of a DHCP family) may bring.
pub const MIN_LEASE_PREFIX_V6: u8 = 48;

/// Why a leased prefix is refused, if it is.
pub fn lease_prefix_problem(address: &IpNet) -> Option<String> {
    let min = if address.addr().is_ipv4() {
        MIN_LEASE_PREFIX_V4
    } else {
        MIN_LEASE_PREFIX_V6
    };
    (address.prefix_len() < min).then(|| {
        format!(
            "{address}: a lease's prefix must be /{min} or longer; a wider one would take traffic for the whole range away from the host's own routes"
        )
    })
}

/// Why a lease's router is refused, if it is: the checks a static gateway gets
/// (`networks[].ipv4.gateway`), for a router a DHCP server (or the client's default
/// route) names. The host's own leased address, and for IPv4 the subnet's network and
/// broadcast addresses or one outside the subnet, would make `default via` point at the
/// host itself or at nothing. IPv6 routers come from router advertisements and are
/// link-local: only the own address is refused.
pub fn lease_router_problem(address: &IpNet, router: IpAddr) -> Option<String> {
    if router == address.addr() {
        return Some(format!(
            "router {router} is the lease's own address ({address})"
        ));
    }
    let IpNet::V4(v4) = address else { return None };
    let IpAddr::V4(r) = router else {
        return Some(format!("router {router} is not an IPv4 address"));
    };
    if !v4.contains(&r) {
        return Some(format!(
            "router {router} is outside the lease's subnet ({})",
            v4.trunc()
        ));
    }
    if v4.prefix_len() <= 30 && (r == v4.network() || r == v4.broadcast()) {
        let which = if r == v4.network() {
            "network"
        } else {
            "broadcast"
        };
        return Some(format!(
            "router {router} is the {which} address of the lease's subnet ({})",
            v4.trunc()
        ));
    }
    None
}

/// A DHCP lease, as far as source routing cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The leased address with its prefix length.
    pub address: IpNet,
    pub router: Router,
}

/// The router of a lease.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Router {
    /// The lease has none (or 0.0.0.0): on-link route and rules only.
    None,
    Via(IpAddr),
    /// The event does not say (IPv6 routers come from router advertisements; networkd's
    /// dispatcher passes no router): take the default route the kernel has on the device.
    FromKernel,
}

/// Where planning takes a DHCP family's lease from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseSource {
    /// What the kernel has on the device now (`apply`, `monitor`, most events).
    Kernel,
    /// A client event: the lease, or `None` when it is gone.
    Event(Option<Lease>),
}

/// The DHCP families of a network and where their leases come from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dhcp {
    pub v4: Option<LeaseSource>,
    pub v6: Option<LeaseSource>,
}

impl Dhcp {
    pub fn any(&self) -> bool {
        self.v4.is_some() || self.v6.is_some()
    }

    pub fn family(&self, family: Family) -> Option<&LeaseSource> {
        match family {
            Family::Ipv4 => self.v4.as_ref(),
            Family::Ipv6 => self.v6.as_ref(),
        }
    }
}

fn default_net(v6: bool) -> IpNet {
    let unspecified = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    // A zero-length prefix is valid for both families.
    IpNet::new(unspecified, 0).unwrap_or(IpNet::from(unspecified))
}

/// `default via gateway dev device` in `table`.
pub fn default_via(table: u32, device: &str, gateway: IpAddr) -> Route {
    let v6 = gateway.is_ipv6();
    Route {
        table,
        destination: default_net(v6),
        gateway: Some(gateway),
        dev: Some(device.to_string()),
        metric: v6.then_some(IPV6_DEFAULT_METRIC),
        scope: RouteScope::Universe,
        src: None,
        protocol: HOSTNET_PROTO,
        attrs: Default::default(),
    }
}

/// The on-link route and the rule for one address of a network (an array, so that
/// callers collect the rules of several addresses alike).
///
/// An IPv6 on-link route has no preferred source: the kernel refuses one whose source is
/// still tentative (duplicate address detection, about a second after the address is
/// added and again after every loss of carrier: "Invalid source address"), so a boot
/// stack that does DAD could not add it until the link had carrier, and it would be
/// left out or the link failed. It would change nothing either: table T is only
/// reached through `from S`, so the packet has its source before it gets there. IPv4
/// addresses have no DAD; their route keeps `src A`, as VDSM wrote it.
pub fn for_address(table: u32, priority: u32, device: &str, address: IpNet) -> (Route, [Rule; 1]) {
    let v6 = address.addr().is_ipv6();
    let subnet = address.trunc();
    let family = Family::of(&address.addr());
    let route = Route {
        table,
        destination: subnet,
        gateway: None,
        dev: Some(device.to_string()),
        metric: v6.then_some(IPV6_DEFAULT_METRIC),
        // IPv6 routes have no scope in the kernel; it reports universe.
        scope: if v6 {
            RouteScope::Universe
        } else {
            RouteScope::Link
        },
        src: (!v6).then_some(address.addr()),
        protocol: HOSTNET_PROTO,
        attrs: Default::default(),
    };
    let rule = Rule {
        from: Some(subnet),
        ..Rule::lookup(family, priority, table, HOSTNET_PROTO)
    };
    (route, [rule])
}

/// The range of a network's rule priorities (validation refuses others).
pub use crate::model::validate_source_routing::{MAX_NETWORK_PRIORITY, MIN_NETWORK_PRIORITY};

/// A network's rule, as found in the kernel: hostnet's lookup of a table of its own.
pub fn is_network_rule(r: &Rule) -> bool {
    r.protocol == HOSTNET_PROTO && r.is_plain() && r.table != TABLE_MAIN
}

/// A rule of the block: hostnet's and not a network's.
pub fn is_block_rule(r: &Rule) -> bool {
    r.protocol == HOSTNET_PROTO && !is_network_rule(r)
}

/// The block around network rules of `family` whose priorities span `lo..=hi`, in the
/// order they are added (landing first, so the goto never points at nothing), or `None`
/// when the span leaves no room for it.
pub fn block_rules(family: Family, lo: u32, hi: u32) -> Option<[Rule; 3]> {
    if lo < MIN_NETWORK_PRIORITY || hi > MAX_NETWORK_PRIORITY || lo > hi {
        return None;
    }
    let base = |priority: u32, action: RuleAction| Rule {
        action,
        ..Rule::lookup(family, priority, 0, HOSTNET_PROTO)
    };
    Some([
        base(hi + 1, RuleAction::Nop),
        Rule {
            invert: true,
            iif: Some("lo".into()),
            ..base(lo - 2, RuleAction::Goto(hi + 1))
        },
        Rule {
            table: TABLE_MAIN,
            suppress_prefixlength: Some(0),
            ..base(lo - 1, RuleAction::Lookup)
        },
    ])
}

/// The blocks `rules` need: one per family that has network rules (see
/// [`is_network_rule`]), around all of them.
pub fn blocks<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> Vec<Rule> {
    let mut span: [Option<(u32, u32)>; 2] = [None, None];
    for r in rules.into_iter().filter(|r| is_network_rule(r)) {
        let slot = &mut span[usize::from(r.family == Family::Ipv6)];
        let (lo, hi) = slot.unwrap_or((r.priority, r.priority));
        *slot = Some((lo.min(r.priority), hi.max(r.priority)));
    }
    [Family::Ipv4, Family::Ipv6]
        .into_iter()
        .zip(span)
        .filter_map(|(f, s)| s.and_then(|(lo, hi)| block_rules(f, lo, hi)))
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().expect("test value")
    }

    #[test]
    fn one_rule_per_address_from_its_subnet() {
        let (route, [rule]) = for_address(1001, 3200, "br0", net("192.0.2.10/24"));
        assert_eq!(route.src, Some("192.0.2.10".parse().expect("test value")));
        let (v6, _) = for_address(1001, 3200, "br0", net("2001:db8::10/64"));
        assert_eq!(v6.src, None, "a tentative source would be refused");
        assert_eq!(
            rule.to_string(),
            "rule priority 3200 from 192.0.2.0/24 lookup 1001"
        );
        assert!(is_network_rule(&rule) && !is_block_rule(&rule));
    }

    #[test]
    fn the_block_wraps_every_network_rule_of_its_family() {
        let rules: Vec<Rule> = [
            (3200, "192.0.2.10/24"),
            (5000, "198.51.100.10/24"),
            (4000, "2001:db8::10/64"),
        ]
        .iter()
        .map(|(p, a)| for_address(1000, *p, "d", net(a)).1[0].clone())
        .collect();
        let text: Vec<String> = blocks(&rules).iter().map(Rule::to_string).collect();
        assert_eq!(
            text,
            [
                "rule ipv4 priority 5001 nop",
                "rule ipv4 priority 3198 not iif lo goto 5001",
                "rule ipv4 priority 3199 lookup main suppress_prefixlength 0",
                "rule ipv6 priority 4001 nop",
                "rule ipv6 priority 3998 not iif lo goto 4001",
                "rule ipv6 priority 3999 lookup main suppress_prefixlength 0",
            ]
        );
        assert!(blocks(&rules).iter().all(is_block_rule));
        // Rules that are not hostnet's networks' need no block.
        let foreign = Rule {
            from: Some(net("10.0.0.0/8")),
            ..Rule::lookup(Family::Ipv4, 100, 100, 4)
        };
        assert!(blocks([&foreign]).is_empty());
        assert!(blocks(&blocks(&rules)).is_empty());
    }

    #[test]
    fn no_block_without_room_for_it() {
        assert!(block_rules(Family::Ipv4, 2, 10).is_none());
        assert!(block_rules(Family::Ipv4, 3, MAX_NETWORK_PRIORITY).is_some());
        assert!(block_rules(Family::Ipv4, 3, MAX_NETWORK_PRIORITY + 1).is_none());
    }
}
