//! Routes: RTM_*ROUTE requests and decoding of route dumps.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteMetric, RouteNextHop,
    RouteNextHopFlags, RouteProtocol, RouteScope as NlScope, RouteType, RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::wire;
use crate::netdev::{NextHop, Route, RouteAttrs, RouteKind, RouteMetrics, RouteScope, TABLE_LOCAL};

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_METRICS: u16 = 8;
const RTA_MULTIPATH: u16 = 9;
const RTA_CACHEINFO: u16 = 12;
const RTA_TABLE: u16 = 15;
const RTA_PREF: u16 = 20;
const RTA_EXPIRES: u16 = 23;
/// `onlink` in `ip route`: the only configuration among the next-hop flags (the others,
/// dead and linkdown, are state).
const RTNH_F_ONLINK: u32 = 0x4;
const RTN_UNICAST: u8 = 1;
const RTN_MULTICAST: u8 = 5;
const RTN_BLACKHOLE: u8 = 6;
const RTN_UNREACHABLE: u8 = 7;
const RTN_PROHIBIT: u8 = 8;
const RTAX_LOCK: u16 = 1;
const RTAX_MTU: u16 = 2;
const RTAX_CWND: u16 = 7;
const RTAX_ADVMSS: u16 = 8;
const RTAX_INITCWND: u16 = 11;
const RTAX_INITRWND: u16 = 14;
const RTAX_QUICKACK: u16 = 15;
/// Length of `struct rtnexthop`.
const RTNH_LEN: usize = 8;
const RTPROT_KERNEL: u8 = 2;
const RTM_F_CLONED: u32 = 0x200;
const RT_SCOPE_UNIVERSE: u8 = 0;
const RT_SCOPE_LINK: u8 = 253;
const RT_SCOPE_HOST: u8 = 254;
/// Matches any scope in a delete request.
const RT_SCOPE_NOWHERE: u8 = 255;
/// Length of `struct rtmsg`.
const RTMSG_LEN: usize = 12;

pub(super) fn dump_request(family: AddressFamily) -> RouteNetlinkMessage {
    let mut msg = RouteMessage::default();
    msg.header.address_family = family;
    RouteNetlinkMessage::GetRoute(msg)
}

pub(super) fn scope_to_raw(scope: RouteScope) -> u8 {
    match scope {
        RouteScope::Universe => RT_SCOPE_UNIVERSE,
        RouteScope::Link => RT_SCOPE_LINK,
        RouteScope::Host => RT_SCOPE_HOST,
        RouteScope::Other(raw) => raw,
    }
}

fn scope_from_raw(raw: u8) -> RouteScope {
    match raw {
        RT_SCOPE_UNIVERSE => RouteScope::Universe,
        RT_SCOPE_LINK => RouteScope::Link,
        RT_SCOPE_HOST => RouteScope::Host,
        other => RouteScope::Other(other),
    }
}

/// Decodes one RTM_NEWROUTE dump message into a route hostnet may manage, or `None` for
/// routes that belong to the kernel: the `local` table, protocol-kernel routes (address
/// prefix routes, fe80::/64), local, broadcast and multicast types, cached clones and
/// IPv6 multicast.
///
/// The flag is true for a route with something [`Route`] cannot hold (metrics other
/// than [`RouteMetrics`]'s, a next-hop object, encapsulation, tos, a source prefix, a
/// next hop of the other family, a throw or nat type): it may be shown and collided
/// with, never deleted or re-created from the lossy view.
pub(super) fn parse(payload: &[u8], names: &HashMap<u32, String>) -> Option<(Route, bool)> {
    let family = *payload.first()?;
    let dst_len = *payload.get(1)?;
    let src_len = *payload.get(2)?;
    let tos = *payload.get(3)?;
    let header_table = *payload.get(4)?;
    let protocol = *payload.get(5)?;
    let scope = *payload.get(6)?;
    let kind = *payload.get(7)?;
    let flags = wire::u32_at(payload, 8)?;
    if protocol == RTPROT_KERNEL || (RTN_UNICAST + 1..=RTN_MULTICAST).contains(&kind) {
        return None;
    }
    if flags & RTM_F_CLONED != 0 {
        return None;
    }
    let mut attrs = RouteAttrs {
        kind: match kind {
            RTN_BLACKHOLE => RouteKind::Blackhole,
            RTN_UNREACHABLE => RouteKind::Unreachable,
            RTN_PROHIBIT => RouteKind::Prohibit,
            _ => RouteKind::Unicast,
        },
        onlink: flags & RTNH_F_ONLINK != 0,
        ..RouteAttrs::default()
    };
    let mut table = u32::from(header_table);
    let mut destination = None;
    let mut gateway = None;
    let mut dev = None;
    let mut metric = None;
    let mut src = None;
    let mut opaque = src_len != 0 || tos != 0 || kind > RTN_PROHIBIT;
    for (attr, value) in wire::attrs(payload.get(RTMSG_LEN..)?) {
        match attr {
            RTA_DST => destination = wire::as_ip(value),
            RTA_GATEWAY => gateway = wire::as_ip(value),
            RTA_OIF => dev = wire::as_u32(value),
            RTA_PRIORITY => metric = wire::as_u32(value),
            RTA_PREFSRC => src = wire::as_ip(value),
            RTA_TABLE => table = wire::as_u32(value).unwrap_or(table),
            RTA_METRICS => opaque |= !metrics(value, &mut attrs.metrics),
            RTA_MULTIPATH => match nexthops(value, names) {
                Some(hops) => attrs.nexthops = hops,
                None => opaque = true,
            },
            // Bookkeeping the kernel adds to IPv6 routes; not configuration.
            RTA_CACHEINFO | RTA_PREF | RTA_EXPIRES => {}
            _ => opaque = true,
        }
    }
    if table == TABLE_LOCAL {
        return None;
    }
    let unspecified: IpAddr = match i32::from(family) {
        libc::AF_INET => IpAddr::from([0u8; 4]),
        libc::AF_INET6 => IpAddr::from([0u8; 16]),
        _ => return None,
    };
    let destination = IpNet::new(destination.unwrap_or(unspecified), dst_len).ok()?;
    if let IpNet::V6(net) = destination {
        if net.addr().segments()[0] & 0xff00 == 0xff00 {
            return None;
        }
    }
    attrs.nexthops.sort();
    let route = Route {
        table,
        destination,
        gateway,
        dev: match dev {
            Some(index) => Some(names.get(&index)?.clone()),
            None => None,
        },
        metric,
        scope: scope_from_raw(scope),
        src,
        protocol,
        attrs,
    };
    Some((route, opaque))
}

/// Reads RTA_METRICS into `m`; false when it holds a metric [`RouteMetrics`] has no
/// field for.
fn metrics(value: &[u8], m: &mut RouteMetrics) -> bool {
    let mut known = true;
    for (kind, v) in wire::attrs(value) {
        let v = wire::as_u32(v);
        match kind {
            RTAX_LOCK => m.locks = v.unwrap_or(0),
            RTAX_MTU => m.mtu = v,
            RTAX_CWND => m.cwnd = v,
            RTAX_ADVMSS => m.advmss = v,
            RTAX_INITCWND => m.initcwnd = v,
            RTAX_INITRWND => m.initrwnd = v,
            RTAX_QUICKACK => m.quickack = v,
            _ => known = false,
        }
    }
    known
}

/// The ifindexes a route message names that [`parse`] needs the names of (none for
/// the routes it leaves out).
pub(super) fn devices(payload: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    let (Some(&protocol), Some(&kind), Some(flags)) =
        (payload.get(5), payload.get(7), wire::u32_at(payload, 8))
    else {
        return out;
    };
    if protocol == RTPROT_KERNEL
        || (RTN_UNICAST + 1..=RTN_MULTICAST).contains(&kind)
        || flags & RTM_F_CLONED != 0
    {
        return out;
    }
    for (attr, value) in wire::attrs(payload.get(RTMSG_LEN..).unwrap_or(&[])) {
        match attr {
            RTA_OIF => out.extend(wire::as_u32(value)),
            RTA_MULTIPATH => {
                let mut rest = value;
                while rest.len() >= RTNH_LEN {
                    out.extend(wire::u32_at(rest, 4));
                    let len = wire::u16_at(rest, 0).map_or(0, usize::from);
                    let step = (len + 3) & !3;
                    if len < RTNH_LEN || step > rest.len() {
                        break;
                    }
                    rest = &rest[step..];
                }
            }
            _ => {}
        }
    }
    out
}

/// Reads RTA_MULTIPATH; `None` when a next hop has something [`NextHop`] cannot hold.
fn nexthops(mut value: &[u8], names: &HashMap<u32, String>) -> Option<Vec<NextHop>> {
    let mut hops = Vec::new();
    while value.len() >= RTNH_LEN {
        let len = usize::from(wire::u16_at(value, 0)?);
        let flags = *value.get(2)?;
        let weight = u16::from(*value.get(3)?) + 1;
        let index = wire::u32_at(value, 4)?;
        let body = value.get(RTNH_LEN..len)?;
        let mut hop = NextHop {
            gateway: None,
            dev: (index != 0).then(|| names.get(&index).cloned()).flatten(),
            weight,
            onlink: u32::from(flags) & RTNH_F_ONLINK != 0,
        };
        if index != 0 && hop.dev.is_none() {
            return None;
        }
        for (attr, v) in wire::attrs(body) {
            match attr {
                RTA_GATEWAY => hop.gateway = wire::as_ip(v),
                _ => return None,
            }
        }
        hops.push(hop);
        value = value.get(wire::align4(len)..).unwrap_or(&[]);
    }
    Some(hops)
}

/// The body of RTM_NEWROUTE (send with NLM_F_CREATE | NLM_F_EXCL) or RTM_DELROUTE.
/// `oif` is the ifindex of `route.dev`, `hops` those of its next hops' devices.
pub(super) fn message(
    route: &Route,
    oif: Option<u32>,
    hops: &[Option<u32>],
    adding: bool,
) -> RouteMessage {
    let mut msg = RouteMessage::default();
    let dst = route.destination;
    msg.header.address_family = if dst.addr().is_ipv4() {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    msg.header.destination_prefix_length = dst.prefix_len();
    // Tables above 255 only fit RTA_TABLE; the header then says RT_TABLE_UNSPEC.
    msg.header.table = u8::try_from(route.table).unwrap_or(RouteHeader::RT_TABLE_UNSPEC);
    msg.header.protocol = RouteProtocol::from(route.protocol);
    msg.header.kind = match route.attrs.kind {
        RouteKind::Unicast => RouteType::Unicast,
        RouteKind::Blackhole => RouteType::BlackHole,
        RouteKind::Unreachable => RouteType::Unreachable,
        RouteKind::Prohibit => RouteType::Prohibit,
    };
    if route.attrs.onlink {
        msg.header.flags |= RouteFlags::Onlink;
    }
    // A delete matches the route whatever its scope, as `ip route del` does; every other
    // identifying attribute is sent so that only the route we mean goes.
    msg.header.scope = NlScope::from(if adding {
        scope_to_raw(route.scope)
    } else {
        RT_SCOPE_NOWHERE
    });
    msg.attributes.push(RouteAttribute::Table(route.table));
    if dst.prefix_len() > 0 {
        msg.attributes
            .push(RouteAttribute::Destination(RouteAddress::from(dst.addr())));
    }
    if let Some(gateway) = route.gateway {
        msg.attributes.push(gateway_attribute(gateway, dst.addr()));
    }
    if let Some(index) = oif {
        msg.attributes.push(RouteAttribute::Oif(index));
    }
    if let Some(metric) = route.metric {
        msg.attributes.push(RouteAttribute::Priority(metric));
    }
    if let Some(src) = route.src {
        msg.attributes
            .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
    }
    let metrics = metric_attributes(&route.attrs.metrics);
    if !metrics.is_empty() {
        msg.attributes.push(RouteAttribute::Metrics(metrics));
    }
    if !route.attrs.nexthops.is_empty() {
        let hops = route
            .attrs
            .nexthops
            .iter()
            .zip(hops.iter().chain(std::iter::repeat(&None)))
            .map(|(h, index)| {
                let mut hop = RouteNextHop::default();
                if h.onlink {
                    hop.flags = RouteNextHopFlags::Onlink;
                }
                hop.hops = u8::try_from(h.weight.saturating_sub(1)).unwrap_or(u8::MAX);
                hop.interface_index = index.unwrap_or(0);
                hop.attributes = h
                    .gateway
                    .map(|g| gateway_attribute(g, dst.addr()))
                    .into_iter()
                    .collect();
                hop
            })
            .collect();
        msg.attributes.push(RouteAttribute::MultiPath(hops));
    }
    msg
}

/// RTA_GATEWAY, or RTA_VIA for a gateway of the other family.
fn gateway_attribute(gateway: IpAddr, dst: IpAddr) -> RouteAttribute {
    if gateway.is_ipv4() == dst.is_ipv4() {
        RouteAttribute::Gateway(RouteAddress::from(gateway))
    } else {
        RouteAttribute::Via(match gateway {
            IpAddr::V4(v4) => RouteVia::Inet(v4),
            IpAddr::V6(v6) => RouteVia::Inet6(v6),
        })
    }
}

fn metric_attributes(m: &RouteMetrics) -> Vec<RouteMetric> {
    let mut out = Vec::new();
    if m.locks != 0 {
        out.push(RouteMetric::Lock(m.locks));
    }
    out.extend(m.mtu.map(RouteMetric::Mtu));
    out.extend(m.cwnd.map(RouteMetric::Cwnd));
    out.extend(m.advmss.map(RouteMetric::Advmss));
    out.extend(m.initcwnd.map(RouteMetric::InitCwnd));
    out.extend(m.initrwnd.map(RouteMetric::InitRwnd));
    out.extend(m.quickack.map(RouteMetric::QuickAck));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::too_many_arguments)]
    fn rtmsg(
        family: u8,
        dst_len: u8,
        table: u8,
        proto: u8,
        scope: u8,
        kind: u8,
        flags: u32,
        attrs: &[(u16, &[u8])],
    ) -> Vec<u8> {
        let mut out = vec![family, dst_len, 0, 0, table, proto, scope, kind];
        out.extend(flags.to_ne_bytes());
        for (k, v) in attrs {
            out.extend(((4 + v.len()) as u16).to_ne_bytes());
            out.extend(k.to_ne_bytes());
            out.extend_from_slice(v);
            out.resize(wire::align4(out.len()), 0);
        }
        out
    }

    #[test]
    fn table_attribute_wins_over_header() {
        let names = HashMap::from([(3, "br0".to_string())]);
        let msg = rtmsg(
            2,
            0,
            252,
            201,
            0,
            1,
            0,
            &[
                (RTA_TABLE, &100_000u32.to_ne_bytes()),
                (RTA_GATEWAY, &[192, 0, 2, 1]),
                (RTA_OIF, &3u32.to_ne_bytes()),
            ],
        );
        let (r, opaque) = parse(&msg, &names).expect("test value");
        assert!(!opaque);
        assert_eq!(r.table, 100_000);
        assert_eq!(
            r.destination,
            "0.0.0.0/0".parse::<IpNet>().expect("test value")
        );
        assert_eq!(r.gateway, Some("192.0.2.1".parse().expect("test value")));
        assert_eq!(r.dev.as_deref(), Some("br0"));
        assert_eq!(r.metric, None);
        assert_eq!(r.protocol, 201);
    }

    #[test]
    fn kernel_routes_are_skipped() {
        let names = HashMap::new();
        let local = rtmsg(
            2,
            32,
            255,
            2,
            254,
            2,
            0,
            &[(RTA_TABLE, &255u32.to_ne_bytes())],
        );
        assert!(parse(&local, &names).is_none());
        let mut mc = vec![0u8; 16];
        mc[0] = 0xff;
        let multicast = rtmsg(10, 8, 254, 3, 0, 1, 0, &[(RTA_DST, &mc)]);
        assert!(parse(&multicast, &names).is_none());
        let cloned = rtmsg(10, 128, 254, 3, 0, 1, RTM_F_CLONED, &[]);
        assert!(parse(&cloned, &names).is_none());
    }

    #[test]
    fn attributes_the_type_cannot_hold_make_a_route_opaque() {
        let names = HashMap::from([(3, "eth0".to_string())]);
        let gw: &[u8] = &[172, 31, 1, 1];
        let onlink = rtmsg(
            2,
            0,
            254,
            4,
            0,
            1,
            RTNH_F_ONLINK,
            &[(RTA_GATEWAY, gw), (RTA_OIF, &3u32.to_ne_bytes())],
        );
        let (r, opaque) = parse(&onlink, &names).expect("decodes");
        assert!(!opaque && r.attrs.onlink);
        let mtu = rtmsg(
            2,
            0,
            254,
            4,
            0,
            1,
            0,
            &[(RTA_GATEWAY, gw), (8, &[8, 0, 2, 0, 0x78, 5, 0, 0])],
        );
        let (r, opaque) = parse(&mtu, &names).expect("decodes");
        assert!(!opaque && r.attrs.metrics.mtu == Some(1400), "{r:?}");
        // A metric hostnet does not model (hoplimit) keeps a route opaque.
        let hoplimit = rtmsg(2, 0, 254, 4, 0, 1, 0, &[(8, &[8, 0, 10, 0, 64, 0, 0, 0])]);
        assert!(parse(&hoplimit, &names).expect("decodes").1);
        // Link-down is state, not configuration.
        let linkdown = rtmsg(2, 0, 254, 4, 0, 1, 0x10, &[(RTA_GATEWAY, gw)]);
        assert!(!parse(&linkdown, &names).expect("decodes").1);
        let cacheinfo = rtmsg(10, 0, 254, 4, 0, 1, 0, &[(RTA_CACHEINFO, &[0u8; 16])]);
        assert!(!parse(&cacheinfo, &names).expect("decodes").1);
    }
}
