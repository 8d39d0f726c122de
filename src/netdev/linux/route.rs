//! Routes: RTM_*ROUTE requests and decoding of route dumps.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope as NlScope,
    RouteType, RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::wire;
use crate::netdev::{Route, RouteScope, TABLE_LOCAL};

const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_PRIORITY: u16 = 6;
const RTA_PREFSRC: u16 = 7;
const RTA_CACHEINFO: u16 = 12;
const RTA_TABLE: u16 = 15;
const RTA_PREF: u16 = 20;
const RTA_EXPIRES: u16 = 23;
/// `onlink` in `ip route`: the only configuration among the next-hop flags (the others,
/// dead and linkdown, are state).
const RTNH_F_ONLINK: u32 = 0x4;
const RTN_UNICAST: u8 = 1;
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
/// prefix routes, fe80::/64), non-unicast types, cached clones and IPv6 multicast.
///
/// The flag is true for a route with something [`Route`] cannot hold (onlink, metrics
/// such as mtu, multipath, a next-hop object, encapsulation, tos, a source prefix, a
/// next hop of the other family): it may be shown and collided with, never deleted or
/// re-created from the lossy view.
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
    if protocol == RTPROT_KERNEL || kind != RTN_UNICAST || flags & RTM_F_CLONED != 0 {
        return None;
    }
    let mut table = u32::from(header_table);
    let mut destination = None;
    let mut gateway = None;
    let mut dev = None;
    let mut metric = None;
    let mut src = None;
    let mut opaque = src_len != 0 || tos != 0 || flags & RTNH_F_ONLINK != 0;
    for (attr, value) in wire::attrs(payload.get(RTMSG_LEN..)?) {
        match attr {
            RTA_DST => destination = wire::as_ip(value),
            RTA_GATEWAY => gateway = wire::as_ip(value),
            RTA_OIF => dev = wire::as_u32(value),
            RTA_PRIORITY => metric = wire::as_u32(value),
            RTA_PREFSRC => src = wire::as_ip(value),
            RTA_TABLE => table = wire::as_u32(value).unwrap_or(table),
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
    };
    Some((route, opaque))
}

/// The body of RTM_NEWROUTE (send with NLM_F_CREATE | NLM_F_EXCL) or RTM_DELROUTE.
/// `oif` is the ifindex of `route.dev`.
pub(super) fn message(route: &Route, oif: Option<u32>, adding: bool) -> RouteMessage {
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
    msg.header.kind = RouteType::Unicast;
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
        if gateway.is_ipv4() == dst.addr().is_ipv4() {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gateway)));
        } else {
            msg.attributes.push(RouteAttribute::Via(match gateway {
                IpAddr::V4(v4) => RouteVia::Inet(v4),
                IpAddr::V6(v6) => RouteVia::Inet6(v6),
            }));
        }
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
    msg
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
        assert!(parse(&onlink, &names).expect("decodes").1);
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
        assert!(parse(&mtu, &names).expect("decodes").1);
        // Link-down is state, not configuration.
        let linkdown = rtmsg(2, 0, 254, 4, 0, 1, 0x10, &[(RTA_GATEWAY, gw)]);
        assert!(!parse(&linkdown, &names).expect("decodes").1);
        let cacheinfo = rtmsg(10, 0, 254, 4, 0, 1, 0, &[(RTA_CACHEINFO, &[0u8; 16])]);
        assert!(!parse(&cacheinfo, &names).expect("decodes").1);
    }
}
