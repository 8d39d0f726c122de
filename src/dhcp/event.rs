//! DHCP client events: what ISC dhclient, dhcpcd, NetworkManager's dispatcher and
//! networkd-dispatcher hand to their hooks, turned into what source routing needs.
//!
//! Every value here comes from the network (a DHCP server chose it) or from a client's
//! environment, so nothing is trusted: each value is parsed strictly and bounded in
//! length, an interface name must be a valid one, a netmask must be contiguous, and an
//! event that does not parse changes nothing. Nothing is ever passed to a shell.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::expand::{lease_prefix_problem, lease_router_problem, Lease, Router};
use crate::model::validate::check_ifname;
use crate::netdev::Family;

/// The clients whose events hostnet understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    /// ISC dhclient (`dhclient-script` environment).
    Dhclient,
    /// dhcpcd (`dhcpcd-run-hooks` environment).
    Dhcpcd,
    /// NetworkManager's dispatcher (arguments `IFACE ACTION`, `DHCP4_*` environment).
    Networkmanager,
    /// networkd-dispatcher (`IFACE`, `STATE` environment).
    Networkd,
}

/// What to do with one family of a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A lease arrived or was renewed.
    Install(Lease),
    /// The lease is gone.
    Remove,
    /// Keep what is there (a failed renew does not mean the address is gone).
    Keep,
    /// The event says something changed but not what: look at the kernel.
    FromKernel,
}

/// One parsed event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub interface: String,
    /// The client's own word for what happened (`BOUND`, `dhcp4-change`, `routable`).
    pub reason: String,
    /// Per family; families the event is not about are absent.
    pub changes: Vec<(Family, Change)>,
}

/// An event that cannot be trusted or understood. Nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("{0} is missing")]
    Missing(&'static str),
    #[error("{name}: {problem}")]
    Invalid { name: String, problem: String },
}

/// Longest value accepted from an event (the longest legitimate one, a list of routers, is
/// far shorter).
const MAX_VALUE: usize = 512;
/// Most routers read from a list; only the first is used.
const MAX_ROUTERS: usize = 16;

/// The event's inputs: environment and arguments.
pub struct Input<'a> {
    pub env: &'a BTreeMap<String, String>,
    pub args: &'a [String],
}

impl Input<'_> {
    fn get(&self, name: &'static str) -> Result<Option<&str>, EventError> {
        match self.env.get(name) {
            None => Ok(None),
            Some(v) if v.len() > MAX_VALUE => {
                Err(invalid(name, format!("is {} bytes long", v.len())))
            }
            Some(v) if v.chars().any(char::is_control) => {
                Err(invalid(name, "contains control characters"))
            }
            Some(v) => Ok(Some(v.as_str()).filter(|v| !v.is_empty())),
        }
    }

    fn require(&self, name: &'static str) -> Result<&str, EventError> {
        self.get(name)?.ok_or(EventError::Missing(name))
    }
}

fn invalid(name: &str, problem: impl Into<String>) -> EventError {
    EventError::Invalid {
        name: name.to_string(),
        problem: problem.into(),
    }
}

fn interface(name: &'static str, value: &str) -> Result<String, EventError> {
    check_ifname(value).map_err(|p| invalid(name, p))?;
    Ok(value.to_string())
}

fn ipv4(name: &str, value: &str) -> Result<Ipv4Addr, EventError> {
    value
        .parse::<Ipv4Addr>()
        .map_err(|_| invalid(name, format!("{value:?} is not an IPv4 address")))
}

fn ipv6(name: &str, value: &str) -> Result<Ipv6Addr, EventError> {
    value
        .parse::<Ipv6Addr>()
        .map_err(|_| invalid(name, format!("{value:?} is not an IPv6 address")))
}

/// A dotted netmask as a prefix length; only contiguous masks are masks.
fn netmask(name: &str, value: &str) -> Result<u8, EventError> {
    let bits = u32::from(ipv4(name, value)?);
    let len = bits.leading_ones();
    if bits.checked_shl(len).unwrap_or(0) != 0 {
        return Err(invalid(
            name,
            format!("{value} is not a contiguous netmask"),
        ));
    }
    u8::try_from(len).map_err(|_| invalid(name, "netmask out of range"))
}

fn prefix_len(name: &str, value: &str, max: u8) -> Result<u8, EventError> {
    match value.parse::<u8>() {
        Ok(n) if n <= max && !value.starts_with('+') => Ok(n),
        _ => Err(invalid(
            name,
            format!("{value:?} is not a prefix length of 0 to {max}"),
        )),
    }
}

/// The first router of a space-separated list; 0.0.0.0 means none.
fn router(name: &str, value: Option<&str>) -> Result<Router, EventError> {
    let Some(list) = value else {
        return Ok(Router::None);
    };
    let routers: Vec<&str> = list.split_ascii_whitespace().collect();
    if routers.len() > MAX_ROUTERS {
        return Err(invalid(name, format!("lists {} routers", routers.len())));
    }
    let parsed = routers
        .iter()
        .map(|r| ipv4(name, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match parsed.first() {
        Some(r) if !r.is_unspecified() => Router::Via(IpAddr::V4(*r)),
        _ => Router::None,
    })
}

fn checked_address(name: &str, addr: IpAddr, len: u8) -> Result<IpNet, EventError> {
    if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() {
        return Err(invalid(name, format!("{addr} cannot be a leased address")));
    }
    let net = IpNet::new(addr, len)
        .map_err(|_| invalid(name, format!("{addr}/{len} is not an address prefix")))?;
    match lease_prefix_problem(&net) {
        Some(problem) => Err(invalid(name, problem)),
        None => Ok(net),
    }
}

/// A lease whose router passes the checks a static gateway gets (the static path refuses
/// the same things in `networks[].ipv4.gateway`).
fn checked_lease(router_name: &str, address: IpNet, router: Router) -> Result<Lease, EventError> {
    if let Router::Via(r) = router {
        if let Some(problem) = lease_router_problem(&address, r) {
            return Err(invalid(router_name, problem));
        }
    }
    Ok(Lease { address, router })
}

/// An IPv4 lease from `PREFIX_ip_address`, `PREFIX_subnet_mask` (or dhcpcd's
/// `PREFIX_subnet_cidr`) and `PREFIX_routers`.
fn v4_lease(input: &Input<'_>, new: bool) -> Result<Lease, EventError> {
    let (a, m, c, r) = if new {
        (
            "new_ip_address",
            "new_subnet_mask",
            "new_subnet_cidr",
            "new_routers",
        )
    } else {
        (
            "old_ip_address",
            "old_subnet_mask",
            "old_subnet_cidr",
            "old_routers",
        )
    };
    let addr = ipv4(a, input.require(a)?)?;
    let len = match (input.get(c)?, input.get(m)?) {
        (Some(cidr), _) => prefix_len(c, cidr, 32)?,
        (None, Some(mask)) => netmask(m, mask)?,
        (None, None) => return Err(EventError::Missing(m)),
    };
    checked_lease(
        r,
        checked_address(a, IpAddr::V4(addr), len)?,
        router(r, input.get(r)?)?,
    )
}

/// dhclient's DHCPv6 lease (`new_ip6_address`, `new_ip6_prefixlen`); the router comes from
/// router advertisements, so from the kernel.
fn v6_lease(input: &Input<'_>) -> Result<Lease, EventError> {
    let addr = ipv6("new_ip6_address", input.require("new_ip6_address")?)?;
    let len = match input.get("new_ip6_prefixlen")? {
        Some(v) => prefix_len("new_ip6_prefixlen", v, 128)?,
        None => 128,
    };
    Ok(Lease {
        address: checked_address("new_ip6_address", IpAddr::V6(addr), len)?,
        router: Router::FromKernel,
    })
}

/// Parses an event of `client`.
pub fn parse(client: Client, input: &Input<'_>) -> Result<Event, EventError> {
    match client {
        Client::Dhclient | Client::Dhcpcd => parse_script_env(client, input),
        Client::Networkmanager => parse_networkmanager(input),
        Client::Networkd => parse_networkd(input),
    }
}

fn parse_script_env(client: Client, input: &Input<'_>) -> Result<Event, EventError> {
    let interface = interface("interface", input.require("interface")?)?;
    let reason = input.require("reason")?.to_string();
    let v4 = Family::Ipv4;
    let v6 = Family::Ipv6;
    let changes = match reason.as_str() {
        "BOUND" | "REBOOT" | "RENEW" | "REBIND" => {
            vec![(v4, Change::Install(v4_lease(input, true)?))]
        }
        "EXPIRE" | "RELEASE" | "STOP" => vec![(v4, Change::Remove)],
        // A failed renew does not mean the lease is gone (VDSM removed routes on FAIL and
        // cut hosts off): keep what is there.
        "FAIL" | "TIMEOUT" => vec![(v4, Change::Keep)],
        // dhcpcd: the server refused the address, or the interface went away.
        "NAK" | "NOCARRIER" if client == Client::Dhcpcd => vec![(v4, Change::FromKernel)],
        "DEPARTED" if client == Client::Dhcpcd => vec![(v4, Change::Remove), (v6, Change::Remove)],
        "BOUND6" | "RENEW6" | "REBIND6" | "REBOOT6" => match client {
            Client::Dhclient => vec![(v6, Change::Install(v6_lease(input)?))],
            // dhcpcd hands IPv6 leases in per-IA variables; the kernel has the result.
            _ => vec![(v6, Change::FromKernel)],
        },
        "EXPIRE6" | "RELEASE6" | "STOP6" => vec![(v6, Change::Remove)],
        "DEPREF6" => vec![(v6, Change::Keep)],
        // PREINIT, MEDIUM, CARRIER, INFORM, ROUTERADVERT, TEST…: no lease change.
        _ => vec![],
    };
    Ok(Event {
        interface,
        reason,
        changes,
    })
}

fn parse_networkmanager(input: &Input<'_>) -> Result<Event, EventError> {
    let (Some(iface), Some(action)) = (input.args.first(), input.args.get(1)) else {
        return Err(EventError::Missing(
            "the dispatcher's arguments (interface, action)",
        ));
    };
    if action.len() > 64
        || !action
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '-' || c.is_ascii_digit())
    {
        return Err(invalid(
            "action",
            format!("{action:?} is not a dispatcher action"),
        ));
    }
    // "none" and "" are what the dispatcher passes for events without a device.
    if iface.is_empty() || iface == "none" {
        return Ok(Event {
            interface: String::new(),
            reason: action.clone(),
            changes: vec![],
        });
    }
    let interface = interface("interface argument", iface)?;
    let v4 = Family::Ipv4;
    let v6 = Family::Ipv6;
    let changes = match action.as_str() {
        "up" | "dhcp4-change" | "reapply" => match input.get("DHCP4_IP_ADDRESS")? {
            Some(addr) => {
                let a = ipv4("DHCP4_IP_ADDRESS", addr)?;
                let len = netmask("DHCP4_SUBNET_MASK", input.require("DHCP4_SUBNET_MASK")?)?;
                vec![(
                    v4,
                    Change::Install(checked_lease(
                        "DHCP4_ROUTERS",
                        checked_address("DHCP4_IP_ADDRESS", IpAddr::V4(a), len)?,
                        router("DHCP4_ROUTERS", input.get("DHCP4_ROUTERS")?)?,
                    )?),
                )]
            }
            None => vec![(v4, Change::FromKernel)],
        },
        "dhcp6-change" => vec![(v6, Change::FromKernel)],
        "down" | "pre-down" => vec![(v4, Change::Remove), (v6, Change::Remove)],
        _ => vec![],
    };
    Ok(Event {
        interface,
        reason: action.clone(),
        changes,
    })
}

fn parse_networkd(input: &Input<'_>) -> Result<Event, EventError> {
    let interface = interface("IFACE", input.require("IFACE")?)?;
    let state = input.require("STATE")?;
    if state.len() > 32 || !state.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
        return Err(invalid(
            "STATE",
            format!("{state:?} is not a networkd state"),
        ));
    }
    // networkd-dispatcher passes addresses without prefix lengths and no router: every
    // state change means "look at the kernel".
    Ok(Event {
        interface,
        reason: state.to_string(),
        changes: vec![
            (Family::Ipv4, Change::FromKernel),
            (Family::Ipv6, Change::FromKernel),
        ],
    })
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
