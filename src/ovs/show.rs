//! `show` of Open vSwitch: devices OVS makes are shown as `ovs-bridge` (with its ports)
//! and `ovs-interface`, and ports' external_ids as `ovs-db`, so that the document
//! re-applies to nothing.

use crate::model::{
    BridgeOptionsSpec, BridgeSpec, InterfaceSpec, InterfaceType, OvsDbSpec, PortSpec, PortVlanSpec,
};
use crate::netdev::KernelState;

pub fn annotate(state: &KernelState, interfaces: &mut [InterfaceSpec]) {
    let ovs = &state.ovs;
    for iface in interfaces.iter_mut() {
        if let Some(b) = ovs.bridges.get(&iface.name) {
            iface.iface_type = Some(InterfaceType::OvsBridge);
            iface.tap = None;
            iface.bridge = Some(BridgeSpec {
                options: b.datapath.as_ref().map(|d| BridgeOptionsSpec {
                    datapath: Some(d.clone()),
                    ..BridgeOptionsSpec::default()
                }),
                port: Some(
                    b.ports
                        .iter()
                        .map(|(name, p)| PortSpec {
                            name: name.clone(),
                            vlan: p.tag.map(|t| PortVlanSpec {
                                mode: Some("access".into()),
                                tag: Some(u32::from(t)),
                                ..PortVlanSpec::default()
                            }),
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
        if !port.external_ids.is_empty() {
            iface.ovs_db = Some(OvsDbSpec {
                external_ids: port.external_ids.clone(),
            });
        }
    }
}
