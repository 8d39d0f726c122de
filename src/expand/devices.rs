//! Expansion of the device kinds beyond bridges and veths, and of a network's `vlan`.

use std::borrow::Cow;

use super::{Intent, KindIntent, LinkIntent};
use crate::model::*;
use crate::netdev::{
    IpVlanMode, IpVlanOptions, LinkKind, MacVlanMode, MacVlanOptions, TapOptions, VlanOptions,
    VlanProtocol, VxlanOptions, VXLAN_PORT_UNSET,
};

/// What `iface` asks for when its type is one of the kinds here (`None` for the
/// others). Values were range-checked by validation; a value that still does not fit is
/// left out rather than wrapped.
pub(super) fn kind_of(iface: &InterfaceSpec) -> Option<KindIntent> {
    let ty = iface.iface_type?;
    let want = match ty {
        InterfaceType::Vlan => iface
            .vlan
            .as_ref()
            .and_then(vlan_options)
            .map(LinkKind::Vlan),
        InterfaceType::Bond => iface
            .link_aggregation
            .as_ref()
            .and_then(|la| crate::model::bond_options::options(la).map(LinkKind::Bond)),
        InterfaceType::Vxlan => iface.vxlan.as_ref().and_then(|v| {
            Some(LinkKind::Vxlan(VxlanOptions {
                id: v.id,
                base: v.base_iface.clone(),
                remote: v.remote,
                local: v.local,
                dst_port: match v.destination_port {
                    Some(p) => u16::try_from(p).ok()?,
                    None => VXLAN_PORT_UNSET,
                },
                learning: v.learning.unwrap_or(true),
            }))
        }),
        InterfaceType::MacVlan | InterfaceType::MacVtap => {
            let spec = if ty == InterfaceType::MacVlan {
                &iface.mac_vlan
            } else {
                &iface.mac_vtap
            };
            spec.as_ref().and_then(|m| {
                let options = MacVlanOptions {
                    base: Some(m.base_iface.clone()),
                    mode: match &m.mode {
                        Some(mode) => mode.parse::<MacVlanMode>().ok()?,
                        None => MacVlanMode::Vepa,
                    },
                    promiscuous: m.promiscuous.unwrap_or(true),
                };
                Some(if ty == InterfaceType::MacVlan {
                    LinkKind::MacVlan(options)
                } else {
                    LinkKind::MacVtap(options)
                })
            })
        }
        InterfaceType::Tap if iface.tap.is_none() => {
            return Some(KindIntent::Device {
                type_name: ty.as_str(),
                want: Some(LinkKind::Tap(TapOptions::default())),
                exact: false,
            })
        }
        InterfaceType::Tap => {
            let t = iface.tap.clone().unwrap_or_default();
            Some(LinkKind::Tap(TapOptions {
                owner: t.owner,
                group: t.group,
                multi_queue: t.multi_queue.unwrap_or(false),
                persistent: t.persistent.unwrap_or(true),
            }))
        }
        InterfaceType::Dummy => Some(LinkKind::Dummy),
        InterfaceType::IpVlan => iface.ipvlan.as_ref().and_then(|m| {
            Some(LinkKind::IpVlan(IpVlanOptions {
                base: Some(m.base_iface.clone()),
                mode: match &m.mode {
                    Some(mode) => mode.parse::<IpVlanMode>().ok()?,
                    None => IpVlanMode::L3,
                },
                private: m.private.unwrap_or(false),
                vepa: m.vepa.unwrap_or(false),
            }))
        }),
        // Table 0: the one the VRF has (the planner resolves it, see plan/vrf.rs).
        InterfaceType::Vrf => Some(LinkKind::Vrf {
            table: crate::model::vrf::table_of(iface),
        }),
        InterfaceType::OvsBridge | InterfaceType::OvsInterface => None,
        InterfaceType::LinuxBridge
        | InterfaceType::Veth
        | InterfaceType::Ethernet
        | InterfaceType::Loopback => return None,
    };
    Some(KindIntent::Device {
        type_name: ty.as_str(),
        want,
        exact: true,
    })
}

/// A `vlan` section's settings, absent keys at the kernel's defaults.
fn vlan_options(v: &VlanSpec) -> Option<VlanOptions> {
    let mut o = VlanOptions::new(Some(v.base_iface.clone()), u16::try_from(v.id).ok()?);
    if let Some(p) = &v.protocol {
        o.protocol = p.parse::<VlanProtocol>().ok()?;
    }
    o.reorder_headers = v.reorder_headers.unwrap_or(o.reorder_headers);
    o.loose_binding = v.loose_binding.unwrap_or(o.loose_binding);
    match v.registration_protocol.as_deref() {
        None | Some("none") => {}
        Some("gvrp") => o.gvrp = true,
        Some("mvrp") => o.mvrp = true,
        Some(_) => return None,
    }
    Some(o)
}

/// The Open vSwitch part of the document: `ovs-bridge` interfaces with their port
/// lists, `ovs-interface` internal ports, and `ovs-db` of any interface.
pub(super) fn expand_ovs(d: &Desired, intent: &mut Intent) {
    use crate::ovs::{OvsBridgeIntent, OvsPortIntent};
    // An ovs-interface is an internal port, or a patch port with `patch`.
    let declared = |name: &str| {
        d.interfaces
            .iter()
            .find(|i| i.name == name && i.iface_type == Some(InterfaceType::OvsInterface))
    };
    let internal = |name: &str| declared(name).is_some_and(|i| i.patch.is_none());
    let patch_peer =
        |name: &str| declared(name).and_then(|i| i.patch.as_ref().map(|p| p.peer.clone()));
    intent.ovs.global = crate::ovs::global_intent(d.ovs_db.as_ref(), d.ovn.as_ref());
    for (i, iface) in d.interfaces.iter().enumerate() {
        let origin = format!("interfaces[{i}]");
        let bridge_row = iface.iface_type == Some(InterfaceType::OvsBridge);
        if let Some(db) = iface.ovs_db.as_ref().filter(|_| !bridge_row) {
            for (map, given) in [
                (&mut intent.ovs.external_ids, &db.external_ids),
                (&mut intent.ovs.other_config, &db.other_config),
            ] {
                if let Some(m) = given {
                    map.insert(iface.name.clone(), (origin.clone(), m.clone()));
                }
            }
        }
        if iface.iface_type != Some(InterfaceType::OvsBridge) {
            continue;
        }
        let bridge = iface.bridge.as_ref();
        let ports = bridge.and_then(|b| b.port.as_ref()).map(|ps| {
            ps.iter()
                .enumerate()
                .map(|(j, p)| {
                    let (vlan_mode, tag, trunks) = p
                        .vlan
                        .as_ref()
                        .map(crate::model::ovs::port_vlans)
                        .unwrap_or_default();
                    (
                        p.name.clone(),
                        OvsPortIntent {
                            origin: format!("{origin}.bridge.port[{j}]"),
                            tag: p.vlan.as_ref().map(|_| tag),
                            vlan_mode,
                            trunks,
                            internal: internal(&p.name),
                            patch_peer: patch_peer(&p.name),
                            bond: p.link_aggregation.as_ref().map(ovs_bond),
                            external_ids: None,
                            other_config: None,
                        },
                    )
                })
                .collect()
        });
        intent.ovs.bridges.insert(
            iface.name.clone(),
            OvsBridgeIntent {
                origin,
                absent: iface.state == Some(IfaceState::Absent),
                must_exist: false,
                datapath: bridge
                    .and_then(|b| b.options.as_ref())
                    .and_then(|o| o.datapath.clone()),
                options: ovs_options(
                    &bridge.and_then(|b| b.options.clone()).unwrap_or_default(),
                    iface.ovs_db.as_ref(),
                ),
                ports,
                add_ports: Default::default(),
                remove_ports: Vec::new(),
            },
        );
    }
}

/// What a port's `link-aggregation` says of its OVS bond. nmstate's modes are Port.bond_mode
/// with Port.lacp (`lacp` alone is LACP on the default bond mode; balance-tcp needs LACP).
fn ovs_bond(la: &crate::model::OvsBondSpec) -> crate::ovs::OvsBondIntent {
    let text = |s: &str| Some(s.to_string());
    crate::ovs::OvsBondIntent {
        members: la.port.iter().flatten().map(|m| m.name.clone()).collect(),
        mode: la.mode.as_deref().map(|m| match m {
            "lacp" => (None, text("active")),
            "balance-tcp" => (text(m), text("active")),
            other => (text(other), text("off")),
        }),
        updelay: la.bond_updelay,
        downdelay: la.bond_downdelay,
        external_ids: la.ovs_db.as_ref().and_then(|d| d.external_ids.clone()),
        other_config: la.ovs_db.as_ref().and_then(|d| d.other_config.clone()),
    }
}

/// What an ovs-bridge's `bridge.options` and `ovs-db` say of the bridge's OVSDB options.
/// An STP key in `ovs-db.other_config` is the option's other spelling (validation refuses
/// the two disagreeing).
fn ovs_options(
    o: &crate::model::BridgeOptionsSpec,
    db: Option<&crate::model::OvsDbSpec>,
) -> crate::ovs::OvsBridgeOptionsIntent {
    let mut stp = o.stp.clone().unwrap_or_default();
    let other = db.and_then(|d| d.other_config.as_ref());
    let key = |k: &str| other.and_then(|m| m.get(k)).and_then(|v| v.parse().ok());
    stp.forward_delay = stp.forward_delay.or(key("stp-forward-delay"));
    stp.hello_time = stp.hello_time.or(key("stp-hello-time"));
    stp.max_age = stp.max_age.or(key("stp-max-age"));
    stp.priority = stp.priority.or(key("stp-priority"));
    crate::ovs::OvsBridgeOptionsIntent {
        external_ids: db.and_then(|d| d.external_ids.clone()),
        other_config: other.map(|m| {
            m.iter()
                .filter(|(k, _)| !crate::ovs::STP_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }),
        stp: stp.enabled,
        rstp: o.rstp,
        mcast_snooping: o.mcast_snooping_enable,
        fail_mode: o
            .fail_mode
            .as_ref()
            .map(|m| Some(m.clone()).filter(|m| !m.is_empty())),
        stp_forward_delay: stp.forward_delay,
        stp_hello_time: stp.hello_time,
        stp_max_age: stp.max_age,
        stp_priority: stp.priority,
    }
}

/// The bond's or VRF's port list, when the file gives one.
pub(super) fn bond_ports(iface: &InterfaceSpec) -> Option<&[String]> {
    (iface.iface_type == Some(InterfaceType::Bond))
        .then(|| iface.link_aggregation.as_ref()?.port.as_deref())
        .flatten()
        .or_else(|| crate::model::vrf::ports(iface))
}

/// For a network with `vlan`, the network as it is seen from the bridge (its uplink is
/// the VLAN device), after adding the VLAN device (and its base, which must be up) to
/// the intent.
pub(super) fn vlan_uplink<'a>(
    intent: &mut Intent,
    origin: &str,
    n: &'a NetworkSpec,
) -> Cow<'a, NetworkSpec> {
    let (Some(id), Some(base)) = (n.vlan, n.uplink.as_ref()) else {
        return Cow::Borrowed(n);
    };
    let name = vlan_device(base, id);
    let absent = n.state == Some(NetworkState::Absent);
    let blank = |state| LinkIntent::named(origin, state);
    if !intent.links.contains_key(&name) {
        let mut li = blank(if absent {
            IfaceState::Absent
        } else {
            IfaceState::Up
        });
        li.kind = Some(KindIntent::Device {
            type_name: "vlan",
            want: u16::try_from(id)
                .ok()
                .map(|id| LinkKind::Vlan(VlanOptions::new(Some(base.clone()), id))),
            exact: true,
        });
        intent.links.insert(name.clone(), li);
    }
    if !absent {
        // Tagged frames leave through the base: it must be up.
        intent
            .links
            .entry(base.clone())
            .or_insert_with(|| blank(IfaceState::Up));
    }
    let mut eff = n.clone();
    eff.uplink = Some(name);
    eff.vlan = None;
    Cow::Owned(eff)
}
