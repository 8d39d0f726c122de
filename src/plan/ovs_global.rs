//! The Open_vSwitch row: nmstate's top-level `ovs-db` (merged per key) and
//! `ovn.bridge-mappings` (merged per localnet), as one op per key changed, so that a
//! rollback puts back exactly the keys hostnet changed.

use std::collections::BTreeMap;

use crate::model::ovs_global::{mappings_value, parse_mappings, OVN_MAPPINGS_KEY};
use crate::ovs::{GlobalColumn, OvsGlobal, OvsGlobalIntent, OvsOp};

use super::PlanError;

fn set(column: GlobalColumn, key: &str, value: Option<String>) -> OvsOp {
    OvsOp::SetGlobal {
        column,
        key: key.to_string(),
        value,
    }
}

/// The ops that bring `have` to what `want` says.
pub(super) fn plan(have: &OvsGlobal, want: &OvsGlobalIntent) -> Result<Vec<OvsOp>, PlanError> {
    let mut ops = Vec::new();
    for (column, given) in &want.maps {
        let now = have.column(*column);
        // An empty map removes every key; `ovn-bridge-mappings` is `ovn`'s.
        let keep = |k: &str| *column == GlobalColumn::ExternalIds && k == OVN_MAPPINGS_KEY;
        let removed = now
            .keys()
            .filter(|k| given.is_empty() && !keep(k))
            .map(|k| (k, None));
        let given = given.iter().map(|(k, v)| (k, v.as_ref()));
        for (k, v) in removed.chain(given) {
            if now.get(k) != v {
                ops.push(set(*column, k, v.cloned()));
            }
        }
    }
    if let Some(maps) = &want.ovn {
        let now_value = have.external_ids.get(OVN_MAPPINGS_KEY);
        let now = match now_value.map(|v| parse_mappings(v)) {
            None => BTreeMap::new(),
            Some(Some(m)) => m,
            Some(None) => {
                return Err(PlanError {
                    path: format!("{}.bridge-mappings", want.origin),
                    message: format!(
                        "Open_vSwitch external_ids:{OVN_MAPPINGS_KEY} is {:?}, not localnet:bridge \
                         pairs; hostnet does not merge into it",
                        now_value.cloned().unwrap_or_default()
                    ),
                });
            }
        };
        let mut merged = now.clone();
        for (net, bridge) in maps {
            match bridge {
                Some(b) => merged.insert(net.clone(), b.clone()),
                None => merged.remove(net),
            };
        }
        if merged != now {
            let value = (!merged.is_empty()).then(|| mappings_value(&merged));
            ops.push(set(GlobalColumn::ExternalIds, OVN_MAPPINGS_KEY, value));
        }
    }
    Ok(ops)
}

/// The op that takes back `SetGlobal` of `key`, given the row before it.
pub(super) fn inverse(column: GlobalColumn, key: &str, before: &OvsGlobal) -> OvsOp {
    set(column, key, before.column(column).get(key).cloned())
}

/// The ops that make `current`'s row equal to `target`'s, key by key.
pub(super) fn restore(current: &OvsGlobal, target: &OvsGlobal) -> Vec<OvsOp> {
    let mut ops = Vec::new();
    for column in GlobalColumn::ALL {
        let (now, want) = (current.column(column), target.column(column));
        for k in now.keys().chain(want.keys()) {
            if now.get(k) != want.get(k) && !ops.iter().any(|o| matches!(o, OvsOp::SetGlobal { column: c, key, .. } if *c == column && key == k)) {
                ops.push(set(column, k, want.get(k).cloned()));
            }
        }
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(ids: &[(&str, &str)], other: &[(&str, &str)]) -> OvsGlobal {
        let m = |kv: &[(&str, &str)]| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        OvsGlobal {
            external_ids: m(ids),
            other_config: m(other),
        }
    }

    #[test]
    fn keys_merge_null_removes_and_an_empty_map_clears_all_but_the_mappings() {
        let have = global(
            &[
                ("system-id", "a"),
                ("ovn-bridge-mappings", "n1:br1"),
                ("x", "1"),
            ],
            &[("stats-update-interval", "5000")],
        );
        let mut want = OvsGlobalIntent::default();
        want.maps.insert(
            GlobalColumn::ExternalIds,
            [("x".to_string(), None), ("y".to_string(), Some("2".into()))].into(),
        );
        want.maps.insert(GlobalColumn::OtherConfig, BTreeMap::new());
        let ops = plan(&have, &want).expect("plan");
        let text: Vec<String> = ops.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "Open_vSwitch external_ids:x removed",
                "Open_vSwitch external_ids:y=2",
                "Open_vSwitch other_config:stats-update-interval removed",
            ]
        );
        // Each op's inverse puts back that key only.
        assert_eq!(
            inverse(GlobalColumn::ExternalIds, "x", &have).to_string(),
            "Open_vSwitch external_ids:x=1"
        );
    }

    #[test]
    fn mappings_merge_per_localnet() {
        let have = global(&[("ovn-bridge-mappings", "n2:br2,n1:br1")], &[]);
        let want = OvsGlobalIntent {
            origin: "ovn".into(),
            maps: BTreeMap::new(),
            ovn: Some(
                [
                    ("n1".to_string(), None),
                    ("n3".to_string(), Some("br3".to_string())),
                ]
                .into(),
            ),
        };
        let ops = plan(&have, &want).expect("plan");
        assert_eq!(
            ops,
            [set(
                GlobalColumn::ExternalIds,
                OVN_MAPPINGS_KEY,
                Some("n2:br2,n3:br3".into())
            )]
        );
        // The same mappings in another order are no change.
        let same = OvsGlobalIntent {
            ovn: Some([("n1".to_string(), Some("br1".to_string()))].into()),
            ..want.clone()
        };
        assert!(plan(&have, &same).expect("plan").is_empty());
        // The last one removed removes the key.
        let one = global(&[("ovn-bridge-mappings", "n1:br1")], &[]);
        let gone = OvsGlobalIntent {
            ovn: Some([("n1".to_string(), None)].into()),
            ..want.clone()
        };
        assert_eq!(
            plan(&one, &gone).expect("plan"),
            [set(GlobalColumn::ExternalIds, OVN_MAPPINGS_KEY, None)]
        );
        // A value in another form is refused, not overwritten.
        let odd = global(&[("ovn-bridge-mappings", "garbage")], &[]);
        assert!(plan(&odd, &want).is_err());
    }

    #[test]
    fn a_rollback_restores_the_keys_the_apply_changed_and_no_other() {
        use crate::netdev::{KernelState, Op};
        use crate::plan::{restore_plan_in, Phase, Plan, Scope};
        let mut before = KernelState::default();
        before.ovs.available = true;
        before.ovs.global = global(&[("owner", "a")], &[]);
        let mut applied = Plan::new();
        applied.push(
            Phase::Ovs,
            Op::Ovs(set(GlobalColumn::ExternalIds, "owner", Some("b".into()))),
        );
        let scope = Scope::of(&applied);
        // After the apply, another tool sets a key of its own.
        let mut now = before.clone();
        now.ovs.global = global(&[("owner", "b"), ("theirs", "x")], &[("k", "v")]);
        let r = restore_plan_in(&now, &before, Some(&scope));
        let ops: Vec<String> = r.ops().map(ToString::to_string).collect();
        assert_eq!(ops, ["Open_vSwitch external_ids:owner=a"]);
    }
}
