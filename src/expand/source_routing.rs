//! The routes and rules of source routing, for static addresses and for DHCP leases.
//!
//! For an address A in subnet S on device D with gateway G, a network's table T holds
//! `default via G dev D` and the on-link `S dev D scope link src A` (never "via A": that
//! broke VDSM on newer kernels), and the rules `from S lookup T` and `to S lookup T` sit at
//! the network's priority. Everything carries [`HOSTNET_PROTO`].
//!
//! A DHCP family's lease is only known when planning: it comes either from the kernel
//! (the address the client put on the device and the default route it installed) or from
//! a client event ([`LeaseSource::Event`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::netdev::{Family, Route, RouteScope, Rule, HOSTNET_PROTO};

/// Metric the kernel gives IPv6 routes added without one; desired IPv6 routes carry it so
/// that they compare equal to what a dump returns.
pub const IPV6_DEFAULT_METRIC: u32 = 1024;

/// Shortest IPv4 prefix a DHCP lease may bring. A lease's subnet becomes a `to SUBNET`
/// rule that is consulted before the main table, so a server handing out a /1 (or a /8)
/// would pull traffic for that whole range off the host's own routes: a DHCP server is
/// not trusted with that.
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
    }
}

/// The on-link route and the two rules for one address of a network.
pub fn for_address(table: u32, priority: u32, device: &str, address: IpNet) -> (Route, [Rule; 2]) {
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
        src: Some(address.addr()),
        protocol: HOSTNET_PROTO,
    };
    let rule = |from: Option<IpNet>, to: Option<IpNet>| Rule {
        family,
        priority,
        from,
        to,
        iif: None,
        fwmark: None,
        fwmask: None,
        table,
        protocol: HOSTNET_PROTO,
    };
    (route, [rule(Some(subnet), None), rule(None, Some(subnet))])
}
