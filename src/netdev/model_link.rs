//! The model driver's link ops: creating, changing and deleting a device, with the
//! kernel's rules for stacked devices, bond ports and veth peers.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::{addresses_gone, bridge, check_controller, check_stacked_mtu, fake_mac, is_bond};
use super::{base, rejecter};
use crate::netdev::{DriverError, KernelState, Link, LinkChange, LinkKind, NewLink, Op, Route};

const EEXIST: i32 = libc::EEXIST;
const ENODEV: i32 = libc::ENODEV;
const EINVAL: i32 = libc::EINVAL;
/// IP6_MAX_MTU, a new VRF's MTU.
const VRF_MTU: u32 = 65575;

pub(super) fn create(s: &mut KernelState, op: &Op, l: &NewLink) -> Result<(), DriverError> {
    let reject = rejecter(op);
    // Alternative names are names too.
    if s.named(&l.name).is_some() {
        return Err(reject(EEXIST, "device exists"));
    }
    if let Some(base) = l.kind.base() {
        if !s.links.contains_key(base) {
            return Err(reject(ENODEV, "base device does not exist"));
        }
    }
    let peer_name = match &l.kind {
        k if k.creatable() && !matches!(k, LinkKind::Veth { .. }) => None,
        LinkKind::Veth { peer: Some(p) } => {
            if s.named(p).is_some() || *p == l.name {
                return Err(reject(EEXIST, "peer device exists"));
            }
            Some(p.clone())
        }
        _ => return Err(reject(libc::EOPNOTSUPP, "kind cannot be created")),
    };
    if let (Some(base), Some(m)) = (l.kind.base(), l.mtu) {
        check_stacked_mtu(s, &l.kind, base, m).map_err(|m| reject(libc::ERANGE, &m))?;
    }
    let peer = l.peer.clone().unwrap_or_default();
    for c in [&l.controller, &peer.controller].into_iter().flatten() {
        check_controller(s, c).map_err(|m| reject(EINVAL, &m))?;
    }
    // The request's flags come before its master: an up device cannot join
    // a bond (EPERM); a down one is brought up by the bond.
    for (c, up) in [(&l.controller, l.up), (&peer.controller, peer.up)] {
        if up && c.as_deref().is_some_and(|c| is_bond(s, c)) {
            return Err(reject(libc::EPERM, "Device can not be enslaved while up"));
        }
    }
    let up_in = |c: &Option<String>, up: bool| up || c.as_deref().is_some_and(|c| is_bond(s, c));
    let (l_up, peer_up) = (up_in(&l.controller, l.up), up_in(&peer.controller, peer.up));
    let kind = match &l.kind {
        LinkKind::Bridge(o) => {
            let sent = crate::netdev::BridgeChange::between(&Default::default(), o);
            bridge::without_vlans(&sent, s.no_bridge_vlans).map_err(|(e, m)| reject(e, m))?;
            let mut o = o.clone();
            if s.no_bridge_vlans {
                o.vlan_protocol = crate::netdev::VLAN_8021Q;
                o.vlan_default_pvid = 1;
            }
            LinkKind::Bridge(bridge::create(&o).map_err(|(e, m)| reject(e, m))?)
        }
        k => k.clone(),
    };
    // A VRF's MTU is IP6_MAX_MTU (vrf_setup); its first adds the kernel's l3mdev rules.
    let default_mtu = match kind {
        LinkKind::Vrf { .. } => {
            crate::netdev::vrf::add_l3mdev_rules(s);
            VRF_MTU
        }
        _ => 1500,
    };
    s.links.insert(
        l.name.clone(),
        Link {
            name: l.name.clone(),
            kind,
            up: l_up,
            mtu: l.mtu.unwrap_or(default_mtu),
            mac: Some(l.mac.unwrap_or_else(|| fake_mac(&l.name))),
            controller: l.controller.clone(),
        },
    );
    if let Some(p) = peer_name {
        s.links.insert(
            p.clone(),
            Link {
                name: p.clone(),
                kind: LinkKind::Veth {
                    peer: Some(l.name.clone()),
                },
                up: peer_up,
                mtu: peer.mtu.unwrap_or(1500),
                mac: Some(peer.mac.unwrap_or_else(|| fake_mac(&p))),
                controller: peer.controller.clone(),
            },
        );
    }
    Ok(())
}

pub(super) fn change(
    s: &mut KernelState,
    op: &Op,
    name: &String,
    change: &LinkChange,
) -> Result<(), DriverError> {
    let reject = rejecter(op);
    if !s.links.contains_key(name) {
        return Err(reject(ENODEV, "no such device"));
    }
    base::check(s, name, change).map_err(|(e, m)| reject(e, m))?;
    if let Some(Some(c)) = &change.controller {
        if c == name {
            return Err(reject(EINVAL, "a device cannot be its own port"));
        }
        check_controller(s, c).map_err(|m| reject(EINVAL, &m))?;
    }
    // The kernel applies a link's own settings and its port settings
    // before its master, MTU and flags.
    if let Some(b) = &change.bridge {
        let no_vlans = s.no_bridge_vlans;
        let Some(LinkKind::Bridge(o)) = s.links.get_mut(name).map(|l| &mut l.kind) else {
            return Err(reject(EINVAL, "not a bridge"));
        };
        let old_pvid = o.vlan_default_pvid;
        let b = bridge::without_vlans(b, no_vlans).map_err(|(e, m)| reject(e, m))?;
        bridge::change(o, &b).map_err(|(e, m)| reject(e, m))?;
        let new_pvid = o.vlan_default_pvid;
        bridge::move_default_pvid(s, name, old_pvid, new_pvid);
    }
    if let Some(p) = &change.port {
        let Some(o) = s.bridge_ports.get_mut(name) else {
            return Err(reject(libc::EOPNOTSUPP, "not a bridge port"));
        };
        bridge::change_port(o, p).map_err(|(e, m)| reject(e, m))?;
    }
    if let Some(k) = &change.settings {
        let ok = s
            .links
            .get(name)
            .is_some_and(|l| l.kind.changes_in_place(k));
        if !ok {
            return Err(reject(EINVAL, "these settings cannot change in place"));
        }
        if let Some(l) = s.links.get_mut(name) {
            l.kind = k.clone();
        }
    }
    if let Some(m) = change.mtu {
        if !(68..=65535).contains(&m) {
            return Err(reject(EINVAL, "MTU out of range"));
        }
        if let Some(kind) = s.links.get(name).map(|l| l.kind.clone()) {
            if let Some(base) = kind.base() {
                check_stacked_mtu(s, &kind, base, m).map_err(|m| reject(libc::ERANGE, &m))?;
            }
        }
    }
    flags_and_controller(s, op, name, change)?;
    base::change(s, name, change);
    Ok(())
}

/// The part of a change the kernel applies last: the flags, MTU, MAC and controller.
fn flags_and_controller(
    s: &mut KernelState,
    op: &Op,
    name: &String,
    change: &LinkChange,
) -> Result<(), DriverError> {
    let reject = rejecter(op);
    // The kernel applies the flags, then the master: joining a bond while up
    // is refused, the bond brings its port up, leaving a bond closes it.
    let old_controller = s.links.get(name).and_then(|l| l.controller.clone());
    let (mut joins_bond, mut leaves_bond) = (false, false);
    if let Some(c) = &change.controller {
        if *c != old_controller {
            joins_bond = c.as_deref().is_some_and(|c| is_bond(s, c));
            leaves_bond = old_controller.as_deref().is_some_and(|c| is_bond(s, c));
        }
    }
    // (The Linux driver sets an up port down before it joins; `up` in the
    // same request would undo that.)
    if joins_bond && change.up == Some(true) {
        return Err(reject(libc::EPERM, "Device can not be enslaved while up"));
    }
    let went_down = change.up == Some(false) || (leaves_bond && !joins_bond);
    // A port joining or leaving a VRF is cycled down and up by the kernel, and IPv6
    // drops its addresses and routes on the change of upper device.
    let is_vrf = |c: &Option<String>| {
        c.as_deref()
            .and_then(|c| s.links.get(c))
            .is_some_and(|l| matches!(l.kind, LinkKind::Vrf { .. }))
    };
    let cycled = change.controller.as_ref().is_some_and(|c| {
        *c != old_controller
            && (is_vrf(c) || is_vrf(&old_controller))
            && change
                .up
                .unwrap_or_else(|| s.links.get(name).is_some_and(|l| l.up))
    });
    if let Some(l) = s.links.get_mut(name) {
        if let Some(up) = change.up {
            l.up = up;
        }
        if leaves_bond {
            l.up = false;
        }
        if joins_bond {
            l.up = true;
        }
        if let Some(m) = change.mtu {
            l.mtu = m;
        }
        if let Some(m) = change.mac {
            l.mac = Some(m);
        }
        if let Some(c) = &change.controller {
            l.controller = c.clone();
        }
    }
    if cycled {
        s.routes.retain(|r| !r.devices().any(|d| d == name));
        s.opaque_routes.retain(|r| !r.devices().any(|d| d == name));
        s.addresses
            .retain(|a| !(a.ifname == *name && a.addr.addr().is_ipv6()));
    }
    if went_down {
        // The kernel flushes a downed device's IPv4 routes (a multipath route
        // with a next hop through it as a whole).
        s.routes
            .retain(|r| !(r.devices().any(|d| d == name) && r.destination.addr().is_ipv4()));
    }
    Ok(())
}

pub(super) fn delete(s: &mut KernelState, name: &String) {
    delete_all(s, &[name]);
}

/// What [`delete_all`] took away.
pub(super) struct Gone {
    /// The links removed, as they were.
    pub links: Vec<Link>,
    /// Their names.
    pub names: BTreeSet<String>,
}

/// Deletes the links `names` in their order, as one `delete` each would: a veth takes its
/// peer, a device takes the devices stacked on it (one level), the ports of a deleted
/// controller leave it (a bond's close as it goes), and the addresses and routes of every
/// device gone go with it; in one pass over the links, addresses and routes.
pub(super) fn delete_all(s: &mut KernelState, names: &[&String]) -> Gone {
    let mut stacked_on: HashMap<String, Vec<String>> = HashMap::new();
    for l in s.links.values() {
        if let Some(b) = l.kind.base() {
            stacked_on
                .entry(b.to_string())
                .or_default()
                .push(l.name.clone());
        }
    }
    let mut gone = Gone {
        links: Vec::new(),
        names: BTreeSet::new(),
    };
    // The devices whose ports close as they go (a bond's deletion), and those whose up
    // ports the kernel cycles as they go (a VRF's, see `change`).
    let mut closing: HashSet<String> = HashSet::new();
    let mut cycling: HashSet<String> = HashSet::new();
    for name in names {
        let Some(link) = s.links.remove(*name) else {
            continue;
        };
        let mut went = vec![(*name).clone()];
        let bond = matches!(link.kind, LinkKind::Bond(_));
        let vrf = matches!(link.kind, LinkKind::Vrf { .. });
        if let LinkKind::Veth { peer: Some(p) } = &link.kind {
            gone.links.extend(s.links.remove(p));
            went.push(p.clone());
        }
        gone.links.push(link);
        let bases = went.clone();
        for st in bases.iter().filter_map(|b| stacked_on.get(b)).flatten() {
            if let Some(l) = s.links.remove(st) {
                gone.links.push(l);
                went.push(st.clone());
            }
        }
        if bond {
            closing.extend(went.iter().cloned());
        }
        if vrf {
            cycling.insert((*name).clone());
        }
        gone.names.extend(went);
    }
    if gone.names.is_empty() {
        return gone;
    }
    let mut cycled: HashSet<String> = HashSet::new();
    for l in s.links.values_mut() {
        let Some(c) = l.controller.as_ref().filter(|c| gone.names.contains(*c)) else {
            continue;
        };
        if closing.contains(c) {
            l.up = false;
        }
        if cycling.contains(c) && l.up {
            cycled.insert(l.name.clone());
        }
        l.controller = None;
    }
    let (lost, kept) = std::mem::take(&mut s.addresses)
        .into_iter()
        .partition(|a| gone.names.contains(&a.ifname));
    s.addresses = kept;
    // A multipath route with a next hop through a vanished device goes whole.
    let on_gone = |r: &Route| {
        r.devices()
            .any(|d| gone.names.contains(d) || cycled.contains(d))
    };
    s.routes.retain(|r| !on_gone(r));
    s.opaque_routes.retain(|r| !on_gone(r));
    s.addresses
        .retain(|a| !(cycled.contains(&a.ifname) && a.addr.addr().is_ipv6()));
    addresses_gone(s, &lost, false);
    gone
}
