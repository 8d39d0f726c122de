//! `ensure_bridge`: a bridge that takes over its uplink without cutting the host off.
//!
//! The uplink's addresses and routes move to the bridge in three applies, each planned,
//! journaled and verified on its own, in the order that keeps traffic flowing:
//! 1. the bridge is made (STP off, forward delay 0, up) with the uplink's MAC, and gets
//!    the uplink's addresses *as well* (Linux allows one address on two devices; the
//!    uplink's prefix routes stay first, so replies still leave through it);
//! 2. the uplink joins the bridge, and only then does the bridge get the uplink's MTU
//!    (a bridge's MTU set before its first port would be lowered to the port's);
//!    frames now arrive through the bridge, which has the addresses;
//! 3. the addresses leave the uplink, and its routes are re-made on the bridge.
//!
//! The three are one call: when step 2 or 3 fails (and has rolled itself back), the
//! earlier steps are undone too, by converging the bridge and the uplink (their links,
//! addresses and routes) back to the state read before step 1.
//!
//! Only routes through a gateway have a gap between delete and add (one netlink round
//! trip); on-link traffic never stops. IPv6 addresses on the bridge do duplicate
//! address detection once the uplink joins, about a second in which they are tentative.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::{json, Value};

use super::{apply_intent, apply_json, state, DeviceError};
use crate::expand::{expand, Intent, LinkIntent, RouteIntent};
use crate::model::{validate, Desired, IfaceState};
use crate::netdev::{Driver, PROTO_KERNEL};

/// Route protocol of routes learnt from router advertisements: the kernel's, per device.
const PROTO_RA: u8 = 9;

fn address_list(addrs: &[IpNet]) -> Value {
    Value::Array(
        addrs
            .iter()
            .map(|a| json!({"ip": a.addr(), "prefix-length": a.prefix_len()}))
            .collect(),
    )
}

/// Ensures bridge `bridge` exists, up, with STP off and forward delay 0. With an
/// `uplink`, the uplink becomes its port: the bridge takes the uplink's MAC (so the
/// host keeps its identity on the wire), its addresses and routes, and then its MTU.
/// Ports the bridge already has (guests' taps) stay. On failure the bridge and the
/// uplink are as they were before the call.
///
/// ```
/// use hostnet::devices::{create_veth_pair, ensure_bridge};
/// use hostnet::netdev::model::ModelDriver;
/// use hostnet::netdev::Driver;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut host = ModelDriver::fresh_namespace();
/// create_veth_pair(&mut host, "eth0", "wire", Some(9000))?;
/// ensure_bridge(&mut host, "br0", Some("eth0"))?;
/// let s = host.query()?;
/// assert_eq!(s.links["eth0"].controller.as_deref(), Some("br0"));
/// assert_eq!(s.links["br0"].mac, s.links["eth0"].mac);
/// assert_eq!(s.links["br0"].mtu, 9000);
/// # Ok(()) }
/// ```
pub fn ensure_bridge(
    driver: &mut dyn Driver,
    bridge: &str,
    uplink: Option<&str>,
) -> Result<(), DeviceError> {
    let stp_off = json!({"options": {"stp": {"enabled": false}}});
    let Some(uplink) = uplink else {
        return apply_json(
            driver,
            json!({"interfaces": [{"name": bridge, "type": "linux-bridge", "bridge": stp_off}]}),
        );
    };
    let s = state(driver)?;
    let up = s
        .links
        .get(uplink)
        .ok_or_else(|| DeviceError::NoSuchDevice(uplink.to_string()))?
        .clone();
    let on = |dev: &str, v4: bool| -> Vec<IpNet> {
        s.addresses
            .iter()
            .filter(|a| a.ifname == dev && a.addr.addr().is_ipv4() == v4)
            .map(|a| a.addr)
            .collect()
    };

    // 1. The bridge, with the uplink's MAC and its addresses as well.
    let mut br = json!({"name": bridge, "type": "linux-bridge", "bridge": stp_off});
    if let Some(mac) = up.mac {
        br["mac-address"] = json!(mac);
    }
    for (key, v4) in [("ipv4", true), ("ipv6", false)] {
        let mut want = on(bridge, v4);
        want.extend(on(uplink, v4));
        if !want.is_empty() {
            want.sort();
            want.dedup();
            br[key] = json!({"enabled": true, "address": address_list(&want)});
        }
    }
    apply_json(driver, json!({"interfaces": [br]}))?;
    let later = steps_2_and_3(driver, bridge, uplink, &up, &on);
    match later {
        Ok(()) => Ok(()),
        Err(e) => Err(undo(driver, &s, bridge, uplink).map_or_else(|u| u, |()| e)),
    }
}

/// Returns the bridge and the uplink to `before` after a later step failed: the bridge
/// goes if step 1 made it, the addresses and routes return.
fn undo(
    driver: &mut dyn Driver,
    before: &crate::netdev::KernelState,
    bridge: &str,
    uplink: &str,
) -> Result<(), DeviceError> {
    let mut scope = crate::plan::Scope::default();
    for dev in [bridge, uplink] {
        scope.links.insert(dev.to_string());
        scope.route_devs.insert(dev.to_string());
    }
    crate::engine::restore(driver, before, Some(&scope))?;
    Ok(())
}

fn steps_2_and_3(
    driver: &mut dyn Driver,
    bridge: &str,
    uplink: &str,
    up: &crate::netdev::Link,
    on: &dyn Fn(&str, bool) -> Vec<IpNet>,
) -> Result<(), DeviceError> {
    // 2. The uplink joins (its addresses stay for now), then the bridge gets its MTU.
    let doc: Desired = serde_json::from_value(json!({"networks": [{
        "name": "ensure-bridge",
        "bridge": bridge,
        "uplink": uplink,
        "mtu": up.mtu,
    }]}))
    .map_err(|e| DeviceError::Build(e.to_string()))?;
    validate(&doc)?;
    let mut intent = expand(&doc)?;
    intent.networks.clear();
    // A network without addresses has none; the bridge keeps those step 1 gave it.
    if let Some(li) = intent.links.get_mut(bridge) {
        li.ipv4 = None;
        li.ipv6 = None;
    }
    if let Some(li) = intent.links.get_mut(uplink) {
        li.ipv4 = Some(on(uplink, true));
        li.ipv6 = Some(on(uplink, false));
    }
    apply_intent(driver, &intent)?;

    // 3. The addresses leave the uplink; its routes are re-made on the bridge.
    let s = state(driver)?;
    let mut links = BTreeMap::new();
    links.insert(
        uplink.to_string(),
        LinkIntent {
            controller: Some(bridge.to_string()),
            ipv4: Some(Vec::new()),
            ipv6: Some(Vec::new()),
            ..LinkIntent::named(format!("ensure_bridge({bridge}, {uplink})"), IfaceState::Up)
        },
    );
    let routes = s
        .routes
        .iter()
        .filter(|r| {
            r.dev.as_deref() == Some(uplink) && ![PROTO_KERNEL, PROTO_RA].contains(&r.protocol)
        })
        .map(|r| {
            let mut moved = r.clone();
            moved.dev = Some(bridge.to_string());
            RouteIntent {
                origin: format!("ensure_bridge({bridge}, {uplink})"),
                route: moved,
            }
        })
        .collect();
    apply_intent(
        driver,
        &Intent {
            links,
            routes,
            ..Intent::default()
        },
    )
}
