//! `show` of Open vSwitch: devices OVS makes are shown as `ovs-bridge` (with its ports)
//! and `ovs-interface`, and ports' external_ids as `ovs-db`, so that the document
//! re-applies to nothing.

use crate::model::{
    BridgeOptionsSpec, BridgeSpec, InterfaceSpec, InterfaceType, OvsBondPortSpec, OvsBondSpec,
    OvsDbSpec, OvsPatchSpec, PortSpec, StpSpec,
};
use crate::netdev::KernelState;

use crate::ovs::{OvsBond, OvsBridge};

/// A bridge's options in nmstate's keys, as nmstate's show gives them (every flag, the
/// fail mode when set) with the STP keys of other_config that are set.
fn options(b: &OvsBridge) -> BridgeOptionsSpec {
    let o = &b.options;
    BridgeOptionsSpec {
        datapath: b.datapath.clone(),
        stp: Some(StpSpec {
            enabled: Some(o.stp),
            forward_delay: o.stp_forward_delay,
            hello_time: o.stp_hello_time,
            max_age: o.stp_max_age,
            priority: o.stp_priority,
        }),
        rstp: Some(o.rstp),
        mcast_snooping_enable: Some(o.mcast_snooping),
        fail_mode: o.fail_mode.clone(),
        ..BridgeOptionsSpec::default()
    }
}

/// A bond in nmstate's keys; its mode only when one of nmstate's says it exactly.
fn bond(b: &OvsBond) -> OvsBondSpec {
    let mode = match b.effective() {
        ("active-backup", "active") => Some("lacp"),
        ("active-backup", "off") => Some("active-backup"),
        ("balance-slb", "off") => Some("balance-slb"),
        ("balance-tcp", "active") => Some("balance-tcp"),
        _ => None,
    };
    OvsBondSpec {
        mode: mode.map(str::to_string),
        port: Some(
            b.members
                .iter()
                .map(|m| OvsBondPortSpec { name: m.clone() })
                .collect(),
        ),
        bond_updelay: (b.updelay != 0).then_some(b.updelay),
        bond_downdelay: (b.downdelay != 0).then_some(b.downdelay),
        ovs_db: (!b.external_ids.is_empty() || !b.other_config.is_empty()).then(|| OvsDbSpec {
            external_ids: Some(b.external_ids.clone()),
            other_config: Some(b.other_config.clone()),
        }),
    }
}

/// Marks the devices OVS makes in `interfaces` (the kernel's) and adds the patch ports,
/// which have no device.
pub fn annotate(state: &KernelState, interfaces: &mut Vec<InterfaceSpec>) {
    let ovs = &state.ovs;
    let patches = ovs
        .bridges
        .values()
        .flat_map(|b| &b.ports)
        .filter_map(|(name, p)| {
            let peer = p.patch_peer.as_ref()?;
            Some(InterfaceSpec {
                name: name.clone(),
                iface_type: Some(InterfaceType::OvsInterface),
                patch: Some(OvsPatchSpec { peer: peer.clone() }),
                ..InterfaceSpec::default()
            })
        });
    let patches: Vec<InterfaceSpec> = patches
        .filter(|p| !interfaces.iter().any(|i| i.name == p.name))
        .collect();
    interfaces.extend(patches);
    for iface in interfaces.iter_mut() {
        if let Some(b) = ovs.bridges.get(&iface.name) {
            iface.iface_type = Some(InterfaceType::OvsBridge);
            iface.tap = None;
            // nmstate's show prints the Bridge row's maps, empty ones too.
            iface.ovs_db = Some(OvsDbSpec {
                external_ids: Some(b.options.external_ids.clone()),
                other_config: Some(b.options.other_config.clone()),
            });
            iface.bridge = Some(BridgeSpec {
                options: Some(options(b)),
                port: Some(
                    b.ports
                        .iter()
                        .map(|(name, p)| PortSpec {
                            name: name.clone(),
                            vlan: crate::model::ovs::show_port_vlans(
                                p.vlan_mode.as_deref(),
                                p.tag,
                                &p.trunks,
                            ),
                            link_aggregation: p.bond.as_ref().map(bond),
                            ..PortSpec::default()
                        })
                        .collect(),
                ),
            });
            continue;
        }
        let Some(port) = ovs
            .bridge_of(&iface.name)
            .and_then(|b| ovs.bridges[b].ports.get(&iface.name))
        else {
            continue;
        };
        if port.internal {
            iface.iface_type = Some(InterfaceType::OvsInterface);
            iface.tap = None;
        }
        let map =
            |m: &std::collections::BTreeMap<String, String>| (!m.is_empty()).then(|| m.clone());
        if !port.external_ids.is_empty() || !port.other_config.is_empty() {
            iface.ovs_db = Some(OvsDbSpec {
                external_ids: map(&port.external_ids),
                other_config: map(&port.other_config),
            });
        }
    }
}

/// The top-level `ovs-db`: the Open_vSwitch row's maps (but `ovn-bridge-mappings`,
/// shown as `ovn`); `None` without Open vSwitch. Applied back, it sets each key to the
/// value it has.
pub fn global_db(ovs: &crate::ovs::OvsState) -> Option<crate::model::OvsGlobalDbSpec> {
    use crate::model::ovs_global::{parse_mappings, OVN_MAPPINGS_KEY};
    if !ovs.available {
        return None;
    }
    let g = &ovs.global;
    let shown_as_ovn = |k: &str, v: &str| k == OVN_MAPPINGS_KEY && parse_mappings(v).is_some();
    let map = |m: &std::collections::BTreeMap<String, String>, ids: bool| {
        m.iter()
            .filter(|(k, v)| !(ids && shown_as_ovn(k, v)))
            .map(|(k, v)| (k.clone(), Some(v.clone())))
            .collect()
    };
    Some(crate::model::OvsGlobalDbSpec {
        external_ids: Some(map(&g.external_ids, true)),
        other_config: Some(map(&g.other_config, false)),
    })
}

/// The top-level `ovn`: the mappings of `ovn-bridge-mappings`, when it has some.
pub fn ovn(ovs: &crate::ovs::OvsState) -> Option<crate::model::OvnSpec> {
    use crate::model::ovs_global::{parse_mappings, OVN_MAPPINGS_KEY};
    let maps = parse_mappings(ovs.global.external_ids.get(OVN_MAPPINGS_KEY)?)?;
    Some(crate::model::OvnSpec {
        bridge_mappings: Some(
            maps.into_iter()
                .map(|(localnet, bridge)| crate::model::OvnBridgeMappingSpec {
                    localnet,
                    bridge: Some(bridge),
                    state: None,
                })
                .collect(),
        ),
    })
}
