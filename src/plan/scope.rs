//! How much of the host a plan for an intent depends on: the [`Reach`] an apply reads,
//! so that a one-network change among thousands does not read every link.
//!
//! The guarantee, checked by the differential tests (`scope_tests`):
//! `plan(&full.narrowed(&r), intent) == plan(&full, intent)` for `Some(r) = reach(intent)`
//! (the same ops, errors and notes). `None` means the whole host.
//!
//! What the planner and its validators read beyond the links the intent names, and how
//! the reach covers it:
//!
//! * addresses, routes, rules (opaque ones included), the firewall, Open vSwitch, the
//!   DHCP servers and the IPv6 defaults: read whole in every case (an address another
//!   device holds, a table in use, a gateway reached through another device's subnet,
//!   the rule blocks, persisted copies: all cross-network checks look at these);
//! * the links the intent mentions anywhere (links, ports, controllers, uplinks, veth
//!   peers, lower devices, route and rule devices, firewall and DHCP interfaces,
//!   `copy-mac-from`, alternative names, the records' previous devices): every string
//!   the intent holds is taken as a name, so a field added later cannot escape the
//!   reach; a name may be an alternative name of a link, which is then read;
//! * around those ([`Reach::links`]): controllers, veth peers, lower devices and every
//!   port of a kept link, until nothing is added (ports a bridge's exact list drops,
//!   the port an uplink-less gateway needs, the bond a port leaves);
//! * every VRF, when a network of the file has a table (it must not be a VRF's);
//! * `no_bridge_vlans` (a kernel-wide fact a bridge's dump tells): kept only with a
//!   bridge, so the intents whose plan reads it with no bridge in reach (bridge VLANs,
//!   VLAN-aware networks) read everything.
//!
//! The whole host is read when the intent removes a link or a network (the links stacked
//! on a removed device go with it, Open vSwitch may own it), has Open vSwitch, IPVLAN or
//! VRF devices or `vrf-name` routes (their checks scan every link of their kind), any
//! bridge VLAN setting, or names more than [`MAX_NAMES`] links (one request each would
//! then cost more than one dump).

use std::collections::BTreeSet;

use crate::expand::{Intent, KindIntent};
use crate::model::IfaceState;
use crate::netdev::Reach;

/// Beyond this many names a dump of every link is cheaper than reading them one by one.
pub const MAX_NAMES: usize = 64;

/// The reach of a plan for `intent`, or `None` for the whole host (see the module
/// documentation).
pub fn reach(intent: &Intent) -> Option<Reach> {
    if intent.links.len() + intent.networks.len() > MAX_NAMES || whole_host(intent) {
        return None;
    }
    let names = strings(&format!("{intent:?}"))?;
    if names.len() > 4 * MAX_NAMES {
        return None;
    }
    Some(Reach {
        names,
        vrfs: intent
            .networks
            .iter()
            .any(|n| !n.absent && n.table.is_some()),
    })
}

/// Whether a plan for `intent` can read links beyond any bounded reach.
fn whole_host(intent: &Intent) -> bool {
    let device = |li: &crate::expand::LinkIntent| match &li.kind {
        Some(KindIntent::Device { type_name, .. }) => matches!(*type_name, "ipvlan" | "vrf"),
        _ => false,
    };
    let vlans = |li: &crate::expand::LinkIntent| {
        li.vlans.is_some()
            || li.bridge.as_ref().is_some_and(|b| {
                b.vlan_protocol.is_some()
                    || b.vlan_default_pvid.is_some()
                    || b.vlan_filtering.is_some()
            })
    };
    intent
        .links
        .values()
        .any(|li| li.state == IfaceState::Absent || device(li) || vlans(li))
        || intent
            .networks
            .iter()
            .any(|n| n.absent || n.vlan_aware.is_some())
        || !intent.ovs.is_empty()
        || !intent.route_vrfs.is_empty()
        || !intent.owned_vlans.is_empty()
        || !intent.recorded_vlan_aware.is_empty()
}

/// Every string literal of a `Debug` rendering, unescaped; `None` for an escape this
/// does not know (then the caller reads everything).
fn strings(debug: &str) -> Option<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut chars = debug.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => s.push(match chars.next()? {
                            '"' => '"',
                            '\\' => '\\',
                            '\'' => '\'',
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            '0' => '\0',
                            _ => return None,
                        }),
                        c => s.push(c),
                    }
                }
                out.insert(s);
            }
            // A char literal ('x') may be a quote.
            '\'' => {
                if chars.next()? == '\\' && chars.next()? == 'u' {
                    return None;
                }
                if chars.next()? != '\'' {
                    return None;
                }
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_string_of_a_debug_rendering() {
        let v = vec!["br0".to_string(), "a\"b\\c".into()];
        let got = strings(&format!("{:?} {:?}", v, ('"', '\n', "x"))).expect("known escapes");
        let want: BTreeSet<String> = ["br0", "a\"b\\c", "x"].map(String::from).into();
        assert_eq!(got, want);
        assert_eq!(strings("\"\\u{1}\""), None);
    }
}
