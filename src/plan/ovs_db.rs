//! `ovs-db` of interfaces that are ports of Open vSwitch bridges a file does not describe
//! (a VM's tap on a bridge another agent made): their Interface row's external_ids and
//! other_config, each complete when given.

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
