//! The model driver's Linux bridges: settings applied as the kernel applies them
//! (`br_changelink`, measured on 6.1 and 6.18), and bridge ports' settings, which a link
//! gets when it joins a bridge and loses when it leaves.
//!
//! Values the kernel rounds to jiffies (the multicast intervals with HZ 250) are kept as
//! sent: plans compare them with a tolerance instead (see [`super::Cmp`]).

use std::collections::{BTreeMap, BTreeSet};

use super::{
    default_vlans, BridgeChange, BridgeOptions, BridgePortOptions, KernelState, LinkKind,
    PortChange, VlanSet, MIN_STP_FORWARD_DELAY,
};

/// An errno and the kernel's message.
pub(super) type Refusal = (i32, &'static str);

const MAX_FORWARD_DELAY: u32 = 3000;
/// The shortest multicast query and startup query interval (1 s): shorter ones are
/// raised to it, silently.
const MIN_QUERY_INTERVAL: u64 = 100;

/// Changes a bridge's settings as the kernel does: attribute by attribute in its order,
/// stopping at the first it refuses and keeping the ones before.
pub(super) fn change(o: &mut BridgeOptions, c: &BridgeChange) -> Result<(), Refusal> {
    if let Some(d) = c.forward_delay {
        // Checked against the STP state before this request's.
        if o.stp && !(MIN_STP_FORWARD_DELAY..=MAX_FORWARD_DELAY).contains(&d) {
            return Err((libc::ERANGE, "forward delay out of range while STP is on"));
        }
        o.forward_delay = d;
    }
    if let Some(h) = c.hello_time {
        if !(100..=1000).contains(&h) {
            return Err((libc::ERANGE, "hello time out of range"));
        }
        o.hello_time = h;
    }
    if let Some(m) = c.max_age {
        if !(600..=4000).contains(&m) {
            return Err((libc::ERANGE, "max age out of range"));
        }
        o.max_age = m;
    }
    if let Some(a) = c.ageing_time {
        o.ageing_time = a;
    }
    if let Some(on) = c.stp {
        if on && !o.stp {
            o.forward_delay = o
                .forward_delay
                .clamp(MIN_STP_FORWARD_DELAY, MAX_FORWARD_DELAY);
        }
        o.stp = on;
    }
    if let Some(p) = c.priority {
        o.priority = p;
    }
    if let Some(f) = c.vlan_filtering {
        o.vlan_filtering = f;
    }
    if let Some(p) = c.vlan_protocol {
        if p != super::VLAN_8021Q && p != super::VLAN_8021AD {
            return Err((libc::EPROTONOSUPPORT, "VLAN protocol not supported"));
        }
        o.vlan_protocol = p;
    }
    if let Some(p) = c.vlan_default_pvid {
        if p > 4094 {
            return Err((libc::EINVAL, "default PVID out of range"));
        }
        o.vlan_default_pvid = p;
    }
    if let Some(m) = c.group_fwd_mask {
        // STP, pause and LACP frames are never forwarded.
        if m & 0x7 != 0 {
            return Err((libc::EINVAL, "group_fwd_mask bits 0-2 are reserved"));
        }
        o.group_fwd_mask = m;
    }
    if let Some(a) = c.group_addr {
        let b = a.0;
        let link_local = b[..5] == [0x01, 0x80, 0xc2, 0, 0] && b[5] <= 0x0f;
        if !link_local || matches!(b[5], 1..=3) {
            return Err((
                libc::EINVAL,
                "group address must be 01:80:C2:00:00:0X, not 01-03",
            ));
        }
        o.group_addr = a;
    }
    if let Some(r) = c.mcast_router {
        if r > 2 {
            return Err((libc::EINVAL, "multicast router type out of range"));
        }
        o.mcast_router = r;
    }
    if let Some(v) = c.mcast_snooping {
        o.mcast_snooping = v;
    }
    if let Some(v) = c.mcast_query_use_ifaddr {
        o.mcast_query_use_ifaddr = v;
    }
    if let Some(v) = c.mcast_querier {
        o.mcast_querier = v;
    }
    if let Some(v) = c.mcast_hash_max {
        o.mcast_hash_max = v;
    }
    if let Some(v) = c.mcast_last_member_count {
        o.mcast_last_member_count = v;
    }
    if let Some(v) = c.mcast_startup_query_count {
        o.mcast_startup_query_count = v;
    }
    if let Some(v) = c.mcast_last_member_interval {
        o.mcast_last_member_interval = v;
    }
    if let Some(v) = c.mcast_membership_interval {
        o.mcast_membership_interval = v;
    }
    if let Some(v) = c.mcast_querier_interval {
        o.mcast_querier_interval = v;
    }
    if let Some(v) = c.mcast_query_interval {
        o.mcast_query_interval = v.max(MIN_QUERY_INTERVAL);
    }
    if let Some(v) = c.mcast_query_response_interval {
        o.mcast_query_response_interval = v;
    }
    if let Some(v) = c.mcast_startup_query_interval {
        o.mcast_startup_query_interval = v.max(MIN_QUERY_INTERVAL);
    }
    Ok(())
}

/// The settings a bridge created with `want` has: the kernel's defaults, changed by the
/// attributes the create request carries (the ones that differ from the defaults, the
/// STP state and the forward delay), as `br_dev_newlink` does.
pub(super) fn create(want: &BridgeOptions) -> Result<BridgeOptions, Refusal> {
    let mut sent = BridgeChange::between(&BridgeOptions::default(), want);
    sent.stp = Some(want.stp);
    sent.forward_delay = Some(want.forward_delay);
    let mut o = BridgeOptions::default();
    change(&mut o, &sent)?;
    Ok(o)
}

/// Changes a port's settings in its bridge.
pub(super) fn change_port(o: &mut BridgePortOptions, c: &PortChange) -> Result<(), Refusal> {
    if let Some(p) = c.priority {
        if p > 63 {
            return Err((libc::ERANGE, "port priority out of range"));
        }
        o.priority = p;
    }
    if let Some(cost) = c.cost {
        if !(1..=65535).contains(&cost) {
            return Err((libc::ERANGE, "port cost out of range"));
        }
        o.cost = cost;
    }
    if let Some(h) = c.hairpin {
        o.hairpin = h;
    }
    Ok(())
}

/// A bridge change as a kernel without bridge VLAN filtering takes it: VLAN filtering
/// refused (even off), the VLAN protocol and default PVID accepted and ignored.
pub(super) fn without_vlans(c: &BridgeChange, no_vlans: bool) -> Result<BridgeChange, Refusal> {
    if !no_vlans {
        return Ok(c.clone());
    }
    if c.vlan_filtering.is_some() {
        return Err((libc::EOPNOTSUPP, "this kernel has no bridge VLAN filtering"));
    }
    Ok(BridgeChange {
        vlan_protocol: None,
        vlan_default_pvid: None,
        ..c.clone()
    })
}

/// A new default PVID moves every port of `bridge`, and the bridge itself, whose VLANs
/// are still just the old default (measured on 6.1); 0 takes them away.
pub(super) fn move_default_pvid(s: &mut KernelState, bridge: &str, old: u16, new: u16) {
    if old == new || s.no_bridge_vlans {
        return;
    }
    let members: Vec<String> = s
        .links
        .values()
        .filter(|l| l.name == bridge || l.controller.as_deref() == Some(bridge))
        .map(|l| l.name.clone())
        .collect();
    for m in members {
        if s.bridge_vlans
            .get(&m)
            .is_none_or(|v| *v == default_vlans(old))
        {
            let set = default_vlans(new);
            if set.is_empty() {
                s.bridge_vlans.remove(&m);
            } else {
                s.bridge_vlans.insert(m, set);
            }
        }
    }
}

/// Adds (or re-flags) or deletes VLANs of a bridge port or bridge. A new PVID takes the
/// PVID flag from the VLAN that had it.
pub(super) fn vlans(
    s: &mut KernelState,
    name: &str,
    vlans: &VlanSet,
    add: bool,
) -> Result<(), Refusal> {
    if s.no_bridge_vlans {
        return Err((libc::EOPNOTSUPP, "this kernel has no bridge VLAN filtering"));
    }
    let member = match s.links.get(name) {
        None => return Err((libc::ENODEV, "no such device")),
        Some(l) => {
            matches!(l.kind, LinkKind::Bridge(_))
                || l.controller.as_deref().is_some_and(|c| {
                    s.links
                        .get(c)
                        .is_some_and(|b| matches!(b.kind, LinkKind::Bridge(_)))
                })
        }
    };
    if !member {
        return Err((libc::EINVAL, "not a bridge or bridge port"));
    }
    if vlans.keys().any(|v| !(1..=4094).contains(v)) {
        return Err((libc::EINVAL, "VLAN id out of range"));
    }
    let set = s.bridge_vlans.entry(name.to_string()).or_default();
    if add {
        if vlans.values().any(|f| f.pvid) {
            for f in set.values_mut() {
                f.pvid = false;
            }
        }
        set.extend(vlans.iter().map(|(v, f)| (*v, *f)));
    } else {
        for v in vlans.keys() {
            set.remove(v);
        }
    }
    if set.is_empty() {
        s.bridge_vlans.remove(name);
    }
    Ok(())
}

/// Keeps `s.bridge_ports` in step with the links' controllers: a link that joined a
/// bridge gets the kernel's defaults (and its default PVID), one that left (or is gone)
/// loses its settings and VLANs; a new bridge gets its default PVID itself.
pub(super) fn sync_ports(s: &mut KernelState) {
    let bridge = |s: &KernelState, c: &str| {
        s.links
            .get(c)
            .is_some_and(|l| matches!(l.kind, LinkKind::Bridge(_)))
    };
    // Sets, not lists: this runs after every op that joins or leaves, over every port.
    let ports: BTreeSet<String> = s
        .links
        .values()
        .filter(|l| l.controller.as_deref().is_some_and(|c| bridge(s, c)))
        .map(|l| l.name.clone())
        .collect();
    s.bridge_ports.retain(|name, _| ports.contains(name));
    let bridges: BTreeMap<String, u16> = s
        .links
        .values()
        .filter_map(|l| match &l.kind {
            LinkKind::Bridge(o) => Some((l.name.clone(), o.vlan_default_pvid)),
            _ => None,
        })
        .collect();
    let vlans = !s.no_bridge_vlans;
    s.bridge_vlans
        .retain(|name, _| ports.contains(name) || bridges.contains_key(name));
    for p in ports {
        let joined = !s.bridge_ports.contains_key(&p);
        s.bridge_ports.entry(p.clone()).or_default();
        let pvid = s
            .links
            .get(&p)
            .and_then(|l| l.controller.as_ref())
            .and_then(|c| bridges.get(c))
            .map_or(0, |pvid| *pvid);
        if vlans && joined && pvid != 0 {
            s.bridge_vlans.insert(p, default_vlans(pvid));
        }
    }
}

/// What [`sync_ports`] does after a link is created, for the links `names` it made
/// alone: a creation can only add ports (a pass over every link per creation made a dry
/// run of N networks O(N²)).
pub(super) fn join_ports<'a>(s: &mut KernelState, names: impl Iterator<Item = &'a str>) {
    for n in names {
        let pvid = s
            .links
            .get(n)
            .and_then(|l| l.controller.as_ref())
            .and_then(|c| s.links.get(c))
            .and_then(|b| match &b.kind {
                LinkKind::Bridge(o) => Some(o.vlan_default_pvid),
                _ => None,
            });
        let Some(pvid) = pvid else { continue };
        let joined = !s.bridge_ports.contains_key(n);
        s.bridge_ports.entry(n.to_string()).or_default();
        if !s.no_bridge_vlans && joined && pvid != 0 {
            s.bridge_vlans.insert(n.to_string(), default_vlans(pvid));
        }
    }
}

/// A bridge just made: the kernel gives it its default PVID.
pub(super) fn new_bridge_vlans(s: &mut KernelState, name: &str) {
    if let Some(LinkKind::Bridge(o)) = s.links.get(name).map(|l| &l.kind) {
        let set = default_vlans(o.vlan_default_pvid);
        if !s.no_bridge_vlans && !set.is_empty() {
            s.bridge_vlans.insert(name.to_string(), set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stp_raises_a_short_forward_delay_and_guards_it() {
        let mut o = BridgeOptions::new_bridge();
        change(&mut o, &BridgeChange::stp(true)).expect("STP on");
        assert_eq!(o.forward_delay, 200);
        let short = BridgeChange {
            forward_delay: Some(100),
            ..BridgeChange::default()
        };
        assert_eq!(change(&mut o, &short).map_err(|e| e.0), Err(libc::ERANGE));
        // STP off and a delay of 0 in one request: the delay is checked first.
        let both = BridgeChange {
            stp: Some(false),
            forward_delay: Some(0),
            ..BridgeChange::default()
        };
        assert_eq!(change(&mut o, &both).map_err(|e| e.0), Err(libc::ERANGE));
        // The other way round it is taken.
        let created = create(&BridgeOptions {
            stp: true,
            forward_delay: 1400,
            ..BridgeOptions::default()
        })
        .expect("created");
        assert_eq!((created.stp, created.forward_delay), (true, 1400));
    }

    #[test]
    fn a_refused_attribute_keeps_the_ones_before() {
        let mut o = BridgeOptions::default();
        let c = BridgeChange {
            priority: Some(4096),
            group_addr: Some(crate::netdev::MacAddr([1, 0x80, 0xc2, 0, 0, 2])),
            mcast_hash_max: Some(512),
            ..BridgeChange::default()
        };
        assert_eq!(change(&mut o, &c).map_err(|e| e.0), Err(libc::EINVAL));
        assert_eq!((o.priority, o.mcast_hash_max), (4096, 4096));
    }
}
