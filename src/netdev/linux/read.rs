//! The query's netlink part: links (all, or a reach's, see `scoped`), then every
//! address, route and rule, as of one moment (see `listen::consistent`).

use netlink_packet_route::AddressFamily;

use super::link::{self, RawLink};
use super::{
    addr, alt_names, bridge_vlan, inet6_keys, ipv6_conf, listen, route, rule, LinuxDriver,
    RTM_NEWADDR, RTM_NEWLINK, RTM_NEWROUTE, RTM_NEWRULE,
};
use crate::netdev::{DriverError, Family, KernelState, Reach};

impl LinuxDriver {
    /// Links, addresses, routes and rules as of one moment (see [`listen::consistent`]).
    pub(super) fn query_netlink(
        &mut self,
        reach: Option<&Reach>,
    ) -> Result<KernelState, DriverError> {
        listen::consistent(|| self.read_netlink(reach))
    }

    /// The links of `reach` (all without one), and what they carry.
    fn read_links(&mut self, reach: Option<&Reach>) -> Result<Vec<RawLink>, DriverError> {
        let Some(reach) = reach else {
            return self.dump_links();
        };
        let raw = self.read_links_in(reach)?;
        // The maps then know the reach's links only: an op naming another link makes
        // the execution dump every link first (`execute_each`'s unknown-name check), and
        // a plan from a reach names no other (`engine::reach::beyond`).
        self.note_links(&raw);
        Ok(raw)
    }

    fn read_netlink(&mut self, reach: Option<&Reach>) -> Result<KernelState, DriverError> {
        let raw_links = self.read_links(reach)?;
        let (links, mut names) = link::to_links(&raw_links);
        let (aliases, promisc) = link::base_keys(&raw_links);
        let mut state = KernelState {
            links,
            aliases,
            alt_names: alt_names::of_links(&raw_links),
            promisc,
            bridge_ports: link::bridge_ports(&raw_links),
            bond_ports: link::bond_ports(&raw_links),
            inet6: inet6_keys::of_links(&raw_links),
            link_ids: crate::netdev::LinkIds(
                raw_links
                    .iter()
                    .map(|l| (l.name.clone(), l.index))
                    .collect(),
            ),
            ..KernelState::default()
        };
        for l in &raw_links {
            let Some(sw) = l.ipv6 else { continue };
            if sw.disabled {
                state.ipv6_disabled.insert(l.name.clone());
            }
            if !sw.autoconf {
                state.ipv6_no_autoconf.insert(l.name.clone());
            }
        }
        state.ipv6_default = ipv6_conf::defaults();
        // Port VLANs exist only on a kernel with bridge VLAN filtering; reading them
        // costs a message per bridge port, so only where there are bridges.
        state.no_bridge_vlans = raw_links.iter().any(|l| l.no_bridge_vlans);
        if !state.no_bridge_vlans && !self.bridges.is_empty() {
            let mut vlans = Vec::new();
            let request = bridge_vlan::dump_request();
            self.dump_into(&request, "bridge vlans", RTM_NEWLINK, &mut vlans, |p| {
                bridge_vlan::parse(p, &names)
            })?;
            state.bridge_vlans = vlans.into_iter().filter(|(_, s)| !s.is_empty()).collect();
        }
        let mut routes = Vec::new();
        let mut rules = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let addresses = self.nl.dump(&addr::dump_request(family), "addresses")?;
            let route_replies = self.nl.dump(&route::dump_request(family), "routes")?;
            let addresses: Vec<_> = addresses.iter().filter(|r| r.kind == RTM_NEWADDR).collect();
            let route_replies: Vec<_> = route_replies
                .iter()
                .filter(|r| r.kind == RTM_NEWROUTE)
                .collect();
            if reach.is_some() {
                let devices = addresses
                    .iter()
                    .filter_map(|r| addr::device(&r.payload))
                    .chain(
                        route_replies
                            .iter()
                            .flat_map(|r| route::devices(&r.payload)),
                    );
                self.name_rest(&mut names, devices.collect::<Vec<u32>>());
            }
            state.addresses.extend(
                addresses
                    .iter()
                    .filter_map(|r| addr::parse(&r.payload, &names)),
            );
            routes.extend(
                route_replies
                    .iter()
                    .filter_map(|r| route::parse(&r.payload, &names)),
            );
        }
        for family in [Family::Ipv4, Family::Ipv6] {
            let request = rule::dump_request(family);
            self.dump_into(&request, "rules", RTM_NEWRULE, &mut rules, rule::parse)?;
        }
        for (route, opaque) in routes {
            if opaque {
                state.opaque_routes.push(route);
            } else {
                state.routes.push(route);
            }
        }
        for (rule, opaque) in rules {
            if opaque {
                state.opaque_rules.push(rule);
            } else {
                state.rules.push(rule);
            }
        }
        Ok(state)
    }
}
