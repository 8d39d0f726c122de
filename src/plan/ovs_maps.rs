//! The maps of Bridge, bond Port and Interface rows change one key per op
//! ([`OvsOp::SetRowKey`]), as the Open_vSwitch row's do (`ovs_global.rs`): a rollback
//! then takes back the keys hostnet changed, each to its old value or removed, and leaves
//! a key another tool set meanwhile in the same map.

use std::collections::BTreeMap;

use crate::ovs::{GlobalColumn, OvsOp, OvsState, RowTable};

/// The SetRowKey ops that make map `column` of row `name` go from `now` to `want`.
fn key_ops(
    ops: &mut Vec<OvsOp>,
    (table, name): (RowTable, &str),
    column: GlobalColumn,
    now: &BTreeMap<String, String>,
    want: &BTreeMap<String, String>,
) {
    let mut keys: Vec<&String> = now.keys().chain(want.keys()).collect();
    keys.sort();
    keys.dedup();
    for k in keys.into_iter().filter(|k| now.get(*k) != want.get(*k)) {
        ops.push(OvsOp::SetRowKey {
            table,
            name: name.to_string(),
            column,
            key: k.clone(),
            value: want.get(k).cloned(),
        });
    }
}

/// `ops` with each SetBridge and SetPort of an existing row split in two: the op for the
/// rest of its settings (left out when only maps change) and one SetRowKey per key of its
/// maps that differs from `current`.
pub(super) fn per_key(ops: Vec<OvsOp>, current: &OvsState) -> Vec<OvsOp> {
    use GlobalColumn::{ExternalIds, OtherConfig};
    let mut out = Vec::new();
    for op in ops {
        match op {
            OvsOp::SetBridge { name, options } => {
                let Some(have) = current.bridges.get(&name).map(|b| &b.options) else {
                    out.push(OvsOp::SetBridge { name, options });
                    continue;
                };
                if options.without_maps() != have.without_maps() {
                    out.push(OvsOp::SetBridge {
                        name: name.clone(),
                        options: options.clone(),
                    });
                }
                let row = (RowTable::Bridge, name.as_str());
                key_ops(
                    &mut out,
                    row,
                    ExternalIds,
                    &have.external_ids,
                    &options.external_ids,
                );
                key_ops(
                    &mut out,
                    row,
                    OtherConfig,
                    &have.other_config,
                    &options.other_config,
                );
            }
            OvsOp::SetPort { port, settings } => {
                let have = current.port(&port);
                let Some(have) = have.filter(|h| h.bond.is_some() == settings.bond.is_some())
                else {
                    out.push(OvsOp::SetPort { port, settings });
                    continue;
                };
                if settings.without_maps() != have.without_maps() {
                    out.push(OvsOp::SetPort {
                        port: port.clone(),
                        settings: settings.clone(),
                    });
                }
                let maps = |p: &crate::ovs::OvsPort| match &p.bond {
                    Some(b) => (
                        RowTable::Port,
                        b.external_ids.clone(),
                        b.other_config.clone(),
                    ),
                    None => (
                        RowTable::Interface,
                        p.external_ids.clone(),
                        p.other_config.clone(),
                    ),
                };
                let ((table, ids_now, other_now), (_, ids, other)) = (maps(have), maps(&settings));
                let row = (table, port.as_str());
                key_ops(&mut out, row, ExternalIds, &ids_now, &ids);
                key_ops(&mut out, row, OtherConfig, &other_now, &other);
            }
            op => out.push(op),
        }
    }
    out
}

/// The op that takes back SetRowKey of `key`, given the state before it (nothing when
/// the row was not there: the op that made it is taken back instead).
pub(super) fn inverse(
    table: RowTable,
    name: &str,
    column: GlobalColumn,
    key: &str,
    before: &OvsState,
) -> Option<OvsOp> {
    before
        .row_map(table, name, column)
        .map(|m| OvsOp::SetRowKey {
            table,
            name: name.to_string(),
            column,
            key: key.to_string(),
            value: m.get(key).cloned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::{KernelState, Op};
    use crate::ovs::{OvsBridge, OvsBridgeOptions};
    use crate::plan::{restore_plan_in, Phase, Plan, Scope};

    fn state(ids: &[(&str, &str)]) -> KernelState {
        let mut s = KernelState::default();
        s.ovs.available = true;
        let options = OvsBridgeOptions {
            external_ids: ids
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..OvsBridgeOptions::default()
        };
        s.ovs.bridges.insert(
            "br0".into(),
            OvsBridge {
                options,
                ..OvsBridge::default()
            },
        );
        s
    }

    #[test]
    fn a_bridge_change_is_its_options_and_one_op_per_key() {
        let before = state(&[("owner", "a"), ("gone", "x")]);
        let mut options = before.ovs.bridges["br0"].options.clone();
        options.external_ids = [("owner".to_string(), "b".to_string())].into();
        let ops = per_key(
            vec![OvsOp::SetBridge {
                name: "br0".into(),
                options: options.clone(),
            }],
            &before.ovs,
        );
        let text: Vec<String> = ops.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "Bridge br0 external_ids:gone removed",
                "Bridge br0 external_ids:owner=b"
            ]
        );
        // With an option changed too, the SetBridge stays for it.
        options.stp = true;
        let ops = per_key(
            vec![OvsOp::SetBridge {
                name: "br0".into(),
                options,
            }],
            &before.ovs,
        );
        assert_eq!(ops.len(), 3);
        assert_eq!(
            ops[0].to_string(),
            "ovs-bridge br0 stp on rstp off mcast-snooping off"
        );
    }

    #[test]
    fn a_rollback_restores_the_keys_the_apply_changed_and_no_other() {
        let before = state(&[("owner", "a")]);
        let mut applied = Plan::new();
        applied.push(
            Phase::Ovs,
            Op::Ovs(OvsOp::SetRowKey {
                table: RowTable::Bridge,
                name: "br0".into(),
                column: GlobalColumn::ExternalIds,
                key: "owner".into(),
                value: Some("b".into()),
            }),
        );
        let scope = Scope::of(&applied);
        // After the apply, another tool sets a key of its own in the same map.
        let now = state(&[("owner", "b"), ("theirs", "x")]);
        let r = restore_plan_in(&now, &before, Some(&scope));
        let ops: Vec<String> = r.ops().map(ToString::to_string).collect();
        assert_eq!(ops, ["Bridge br0 external_ids:owner=a"]);
        // The journal's inverse is that key's old value.
        assert_eq!(
            inverse(
                RowTable::Bridge,
                "br0",
                GlobalColumn::ExternalIds,
                "owner",
                &before.ovs
            ),
            Some(OvsOp::SetRowKey {
                table: RowTable::Bridge,
                name: "br0".into(),
                column: GlobalColumn::ExternalIds,
                key: "owner".into(),
                value: Some("a".into()),
            })
        );
    }
}
