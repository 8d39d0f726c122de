//! `ovs-db` of interfaces that are ports of Open vSwitch bridges a file does not describe
//! (a VM's tap on a bridge another agent made): their Interface row's external_ids and
//! other_config, each complete when given; and of such bridges named without their type
//! (the Bridge row's maps).

use std::collections::BTreeMap;

use super::PlanError;
use crate::ovs::{OvsIntent, OvsOp, OvsPort, OvsState};

type Given = BTreeMap<String, (String, BTreeMap<String, String>)>;

/// The SetPort ops for the `ovs-db` of ports not in `listed`, and the interfaces that are
/// no OVS port.
pub(super) fn other_ports(
    current: &OvsState,
    intent: &OvsIntent,
    listed: &[&str],
) -> (Vec<OvsOp>, Vec<PlanError>) {
    let (mut ops, mut errors) = (Vec::new(), Vec::new());
    let mut seen: Vec<&str> = Vec::new();
    for (port, (origin, _)) in intent.external_ids.iter().chain(&intent.other_config) {
        if listed.contains(&port.as_str()) || seen.contains(&port.as_str()) {
            continue;
        }
        seen.push(port);
        if let Some(b) = current.bridges.get(port) {
            // An ovs-bridge named without its type: its own row.
            let other = intent.other_config.get(port).map(|(_, m)| m);
            let stp = |k: &str| other.and_then(|m| m.get(k)).and_then(|v| v.parse().ok());
            let options = crate::ovs::OvsBridgeOptionsIntent {
                external_ids: intent.external_ids.get(port).map(|(_, m)| m.clone()),
                other_config: other.map(|m| {
                    m.iter()
                        .filter(|(k, _)| !crate::ovs::STP_KEYS.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                }),
                stp_forward_delay: stp("stp-forward-delay"),
                stp_hello_time: stp("stp-hello-time"),
                stp_max_age: stp("stp-max-age"),
                stp_priority: stp("stp-priority"),
                ..Default::default()
            }
            .merged(&b.options);
            if options != b.options {
                ops.push(OvsOp::SetBridge {
                    name: port.clone(),
                    options,
                });
            }
            continue;
        }
        let Some(have) = current
            .bridge_of(port)
            .and_then(|b| current.bridges[b].ports.get(port))
        else {
            errors.push(PlanError {
                path: format!("{origin}.ovs-db"),
                message: format!("{port} is not a port of any Open vSwitch bridge"),
            });
            continue;
        };
        let given = |m: &Given, now: &BTreeMap<String, String>| {
            m.get(port).map_or_else(|| now.clone(), |(_, v)| v.clone())
        };
        let settings = OvsPort {
            external_ids: given(&intent.external_ids, &have.external_ids),
            other_config: given(&intent.other_config, &have.other_config),
            ..have.clone()
        };
        if settings != *have {
            ops.push(OvsOp::SetPort {
                port: port.clone(),
                settings,
            });
        }
    }
    (ops, errors)
}
