//! Checks of `networks[]` that need more than one field: names, subnets, gateways,
//! DHCP, tables and the interfaces a network claims. Split out of `validate.rs`
//! (issue 15: files under 600 lines).

use std::collections::BTreeMap;

use super::super::doc_index::DocIndex;
use super::super::types::*;
use super::{
    check_ifname, check_kind_mtu, check_mtu, check_network_name, reserved_table, unassignable,
    Errors,
};

pub(super) fn validate_networks(
    errs: &mut Errors,
    d: &Desired,
    iface_names: &BTreeMap<String, usize>,
    ix: &DocIndex,
) {
    let settings = d.settings.as_ref().and_then(|s| s.source_routing.as_ref());
    if let Some([lo, hi]) = settings.and_then(|s| s.table_range) {
        let p = "settings.source-routing.table-range";
        if lo > hi {
            errs.push(p, format!("[{lo}, {hi}] is empty"));
        } else if (lo..=hi).all(|t| reserved_table(t).is_some()) {
            errs.push(p, format!("[{lo}, {hi}] holds only reserved tables"));
        } else if lo == 0 {
            errs.push(p, "table 0 is not a table");
        }
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut devices: BTreeMap<String, (String, bool)> = BTreeMap::new();
    let mut uplinks: BTreeMap<String, (String, Option<String>)> = BTreeMap::new();
    let mut tables: BTreeMap<u32, String> = BTreeMap::new();
    let mut default_route: Option<usize> = None;
    for (i, n) in d.networks.iter().enumerate() {
        let p = format!("networks[{i}]");
        if let Err(m) = check_network_name(&n.name) {
            errs.push(format!("{p}.name"), m);
        }
        if let Some(prev) = names.insert(&n.name, i) {
            errs.push(
                format!("{p}.name"),
                format!("network {} is already declared at networks[{prev}]", n.name),
            );
        }
        for (path, message) in super::super::dhcp_server::validate(&p, n) {
            errs.push(path, message);
        }
        let absent = n.state == Some(NetworkState::Absent);
        let bridged = n.bridged.unwrap_or(true);
        // A VLAN-aware bridge is shared: the network's own device is its VLAN device.
        let shares = bridged && n.is_vlan_aware();
        let aware = shares && n.vlan.is_some();
        let bridge = n.bridge_name().to_string();
        let device = if bridged {
            n.device()
        } else {
            match &n.uplink {
                Some(u) => u.clone(),
                None => {
                    errs.push(
                        format!("{p}.uplink"),
                        "a network with bridged: false needs an uplink",
                    );
                    continue;
                }
            }
        };
        let dev_path = if aware {
            format!("{p}.vlan")
        } else if bridged && n.bridge.is_some() {
            format!("{p}.bridge")
        } else if bridged {
            format!("{p}.name")
        } else {
            format!("{p}.uplink")
        };
        if let Err(m) = check_ifname(&device) {
            errs.push(dev_path.clone(), m);
        }
        // The shared bridge's own name (a bridge per network is its device, checked above).
        if let (true, Err(m)) = (aware, check_ifname(&bridge)) {
            let at = if n.bridge.is_some() { "bridge" } else { "name" };
            errs.push(format!("{p}.{at}"), m);
        }
        if !bridged && n.bridge.is_some() {
            errs.push(
                format!("{p}.bridge"),
                "a network with bridged: false has no bridge",
            );
        }
        // A bridgeless network being removed hands its NIC over: a bridgeless network of
        // the same file may take it (finding F9).
        let releases = absent && !bridged;
        match devices.get(&device) {
            Some((_, prev_releases)) if !bridged && *prev_releases != releases => {
                if !releases {
                    devices.insert(device.clone(), (n.name.clone(), false));
                }
            }
            Some((prev, _)) => errs.push(
                dev_path.clone(),
                format!("device {device} is already used by network {prev}"),
            ),
            None => {
                devices.insert(device.clone(), (n.name.clone(), releases));
            }
        }
        if bridged {
            if let Some(&j) = iface_names.get(&bridge) {
                if aware {
                    // The network owns its VLANs there, the entry the bridge's options.
                    crate::model::vlan_aware::declared_bridge(errs, d, n, &p, j);
                } else {
                    errs.push(dev_path.clone(), format!("bridge {bridge} is also declared at interfaces[{j}]; declare it in one place"));
                }
            }
        }
        declared_vlan_device(errs, n, &p, iface_names);
        if let Some(u) = &n.uplink {
            if let Err(m) = check_ifname(u) {
                errs.push(format!("{p}.uplink"), m);
            } else if !(bridged && *u == bridge) && ix.names_bridge(u) {
                errs.push(
                    format!("{p}.uplink"),
                    format!("{u} is a bridge; a bridge cannot be the uplink of another bridge"),
                );
            } else if bridged && *u == bridge {
                errs.push(
                    format!("{p}.uplink"),
                    format!("bridge {bridge} cannot be a port of itself"),
                );
            } else if absent {
                // A network being removed releases its uplink: another network of the
                // same file may take it over.
            } else if let Some((prev, prev_shared)) =
                uplinks.insert(u.clone(), (n.name.clone(), shares.then(|| bridge.clone())))
            {
                // Networks on one VLAN-aware bridge share its uplink, a trunk port.
                if !(shares && prev_shared.as_ref() == Some(&bridge)) {
                    errs.push(
                        format!("{p}.uplink"),
                        format!(
                            "port {u} is claimed by two bridges: network {prev} and network {}",
                            n.name
                        ),
                    );
                }
            } else if bridged {
                // The shared bridge's own entry may list its uplink.
                if let Some(other) = ix.bridge_claiming(u).filter(|o| !(aware && *o == bridge)) {
                    errs.push(
                        format!("{p}.uplink"),
                        format!(
                            "port {u} is claimed by two bridges: {other} (interfaces) and {bridge}"
                        ),
                    );
                }
            }
        }
        check_mtu(errs, &format!("{p}.mtu"), n.mtu);
        // A network's MTU goes on its bridge (and VLAN device); a bridgeless one's on
        // its NIC, whose ceiling is its driver's.
        if bridged || n.vlan.is_some() {
            let kind = if bridged && !aware {
                "linux-bridge"
            } else {
                "vlan"
            };
            check_kind_mtu(errs, &format!("{p}.mtu"), n.mtu, kind, Some(65_535));
        }
        if absent {
            continue;
        }
        let mut has_gateway = false;
        let mut has_dhcp = false;
        for (fam, ip) in [("ipv4", &n.ipv4), ("ipv6", &n.ipv6)] {
            let Some(ip) = ip else { continue };
            let fp = format!("{p}.{fam}");
            let want_v4 = fam == "ipv4";
            if ip.dhcp == Some(true) {
                has_dhcp = true;
                if !ip.address.is_empty() {
                    errs.push(
                        format!("{fp}.address"),
                        "with dhcp: true the address comes from the lease; remove address",
                    );
                }
                if ip.gateway.is_some() {
                    errs.push(
                        format!("{fp}.gateway"),
                        "with dhcp: true the gateway comes from the lease; remove gateway",
                    );
                }
            }
            for (j, a) in ip.address.iter().enumerate() {
                if a.addr().is_ipv4() != want_v4 {
                    errs.push(
                        format!("{fp}.address[{j}]"),
                        format!("{a} is not an {fam} address"),
                    );
                } else if let Some(why) = unassignable(&a.addr(), false) {
                    errs.push(format!("{fp}.address[{j}]"), format!("{} {why}", a.addr()));
                } else if a.addr() == a.network() && a.prefix_len() < a.max_prefix_len() - 1 {
                    errs.push(
                        format!("{fp}.address[{j}]"),
                        format!("{a} is the subnet's network address; give the host's address, e.g. 192.0.2.10/24"),
                    );
                }
            }
            if let Some(gw) = ip.gateway {
                has_gateway = true;
                let gp = format!("{fp}.gateway");
                if gw.is_ipv4() != want_v4 {
                    errs.push(gp, format!("{gw} is not an {fam} address"));
                } else if ip.address.is_empty() {
                    errs.push(
                        gp,
                        format!("{gw} needs at least one {fam} address on the network"),
                    );
                } else if !ip.address.iter().any(|a| a.contains(&gw)) {
                    let subnets: Vec<String> =
                        ip.address.iter().map(|a| a.trunc().to_string()).collect();
                    errs.push(
                        gp,
                        format!(
                            "{gw} is outside every subnet of the network ({})",
                            subnets.join(", ")
                        ),
                    );
                } else if ip.address.iter().any(|a| a.addr() == gw) {
                    errs.push(gp, format!("{gw} is the network's own address"));
                } else if let Some(why) =
                    super::super::validate_source_routing::gateway_problem(&ip.address, gw)
                {
                    errs.push(gp, why);
                }
            }
            if fam == "ipv6" && !ip.address.is_empty() {
                if let Some(m) = n.mtu.filter(|m| *m < 1280) {
                    errs.push(
                        format!("{p}.mtu"),
                        format!("IPv6 needs an MTU of at least 1280, not {m}"),
                    );
                }
            }
        }
        if n.default_route == Some(true) {
            if !has_gateway {
                errs.push(
                    format!("{p}.default-route"),
                    if has_dhcp {
                        "default-route needs a static gateway; with DHCP the client sets the host's default route"
                    } else {
                        "default-route needs a gateway"
                    },
                );
            }
            if let Some(prev) = default_route {
                errs.push(
                    format!("{p}.default-route"),
                    format!("only one network can carry the default route; networks[{prev}] already does"),
                );
            }
            default_route = Some(i);
        }
        if let Some(sr) = &n.source_routing {
            let sp = format!("{p}.source-routing");
            if sr.enabled == Some(true) && !has_gateway && !has_dhcp {
                errs.push(format!("{sp}.enabled"), "source routing needs a gateway");
            }
            if let Some(t) = sr.table {
                if let Some(why) = reserved_table(t) {
                    errs.push(format!("{sp}.table"), format!("table {why} is reserved"));
                } else if let Some(prev) = tables.insert(t, n.name.clone()) {
                    errs.push(
                        format!("{sp}.table"),
                        format!("table {t} is already used by network {prev}"),
                    );
                }
            }
        }
    }
}

/// A network's VLAN device (`UPLINK.ID`, or `BRIDGE.ID` over a VLAN-aware bridge) is the
/// network's to create, change and remove, as its bridge is: an `interfaces` entry of the
/// same name would be silently overridden by one of them (or fight it over the device's
/// kind, base and id), so it is refused as a bridge declared twice is.
fn declared_vlan_device(
    errs: &mut Errors,
    n: &NetworkSpec,
    p: &str,
    iface_names: &BTreeMap<String, usize>,
) {
    let Some(id) = n.vlan else { return };
    let device = match (&n.uplink, n.is_vlan_aware()) {
        (_, true) => n.device(),
        (Some(u), false) => crate::model::devices::vlan_device(u, id),
        (None, false) => return,
    };
    if let Some(&j) = iface_names.get(&device) {
        errs.push(
            format!("{p}.vlan"),
            format!(
                "VLAN device {device} of network {} is also declared at interfaces[{j}]; \
                 declare it in one place (the network creates it; give its MTU as the network's mtu)",
                n.name
            ),
        );
    }
}
