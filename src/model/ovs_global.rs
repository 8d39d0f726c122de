//! nmstate's top-level Open vSwitch keys: `ovs-db` (the `Open_vSwitch` row's maps, merged
//! per key) and `ovn.bridge-mappings` (the `ovn-bridge-mappings` key of its external_ids,
//! merged per `localnet`), and their checks.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::validate::Errors;

/// The key of Open_vSwitch.external_ids that `ovn.bridge-mappings` is written to.
pub const OVN_MAPPINGS_KEY: &str = "ovn-bridge-mappings";

/// Top-level `ovs-db`: each key given is set, a `null` value removes it, keys not given
/// stay; an empty map removes every key (but `ovn-bridge-mappings`, which is `ovn`'s).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OvsGlobalDbSpec {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::ovs_db_value::merge_map"
    )]
    #[schemars(with = "Option<BTreeMap<String, super::ovs_db_value::OvsDbValue>>")]
    pub external_ids: Option<BTreeMap<String, Option<String>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "super::ovs_db_value::merge_map"
    )]
    #[schemars(with = "Option<BTreeMap<String, super::ovs_db_value::OvsDbValue>>")]
    pub other_config: Option<BTreeMap<String, Option<String>>>,
}

/// Top-level `ovn`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct OvnSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge_mappings: Option<Vec<OvnBridgeMappingSpec>>,
}

/// `ovn.bridge-mappings[]`: OVN's physical network `localnet` reached through `bridge`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OvnBridgeMappingSpec {
    pub localnet: String,
    /// Needed unless `state: absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<String>,
    /// `present` (the default) or `absent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// The mappings of an `ovn-bridge-mappings` value (`net1:br1,net2:br2`), by localnet;
/// `None` when it is not in that form.
pub fn parse_mappings(value: &str) -> Option<BTreeMap<String, String>> {
    value
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(|m| {
            let (net, br) = m.split_once(':')?;
            Some((net.trim().to_string(), br.trim().to_string()))
        })
        .collect()
}

/// The value of `ovn-bridge-mappings` for `maps` (sorted by localnet, as nmstate writes it).
pub fn mappings_value(maps: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = maps.iter().map(|(n, b)| format!("{n}:{b}")).collect();
    parts.join(",")
}

/// Checks the top-level `ovs-db` and `ovn` sections.
pub(super) fn check(errs: &mut Errors, db: Option<&OvsGlobalDbSpec>, ovn: Option<&OvnSpec>) {
    let maps = ovn.and_then(|o| o.bridge_mappings.as_ref());
    if maps.is_some()
        && db
            .and_then(|d| d.external_ids.as_ref())
            .is_some_and(|m| m.contains_key(OVN_MAPPINGS_KEY))
    {
        errs.push(
            format!("ovs-db.external_ids.{OVN_MAPPINGS_KEY}"),
            "ovn.bridge-mappings gives this key too; give the mappings once, in ovn".to_string(),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, m) in maps.into_iter().flatten().enumerate() {
        let p = format!("ovn.bridge-mappings[{i}]");
        let bad =
            |s: &str| s.is_empty() || s.contains([',', ':']) || s.contains(char::is_whitespace);
        if bad(&m.localnet) {
            errs.push(
                format!("{p}.localnet"),
                format!("{:?} is not a name (no ',', ':' or spaces)", m.localnet),
            );
        } else if !seen.insert(m.localnet.as_str()) {
            errs.push(
                format!("{p}.localnet"),
                format!("{} is given twice", m.localnet),
            );
        }
        match m.state.as_deref() {
            None | Some("present") => match m.bridge.as_deref() {
                None => errs.push(
                    format!("{p}.bridge"),
                    "a mapping needs its bridge (or state: absent)".to_string(),
                ),
                Some(b) if bad(b) => {
                    errs.push(format!("{p}.bridge"), format!("{b:?} is not a bridge name"))
                }
                Some(_) => {}
            },
            Some("absent") => {}
            Some(s) => errs.push(
                format!("{p}.state"),
                format!("{s:?} is not present or absent"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_parse_and_print_sorted() {
        let m = parse_mappings("physnet2:br-b, physnet1:br-a").expect("mappings");
        assert_eq!(mappings_value(&m), "physnet1:br-a,physnet2:br-b");
        assert_eq!(parse_mappings(""), Some(BTreeMap::new()));
        assert_eq!(parse_mappings("nocolon"), None);
    }

    #[test]
    fn mappings_are_checked() {
        let ovn: OvnSpec = serde_yaml_ng::from_str(
            "bridge-mappings: [{localnet: a, bridge: br1}, {localnet: a, bridge: br2}, \
             {localnet: 'x:y', bridge: br1}, {localnet: b}, {localnet: c, state: gone}]",
        )
        .expect("ovn");
        let db: OvsGlobalDbSpec =
            serde_yaml_ng::from_str("external_ids: {ovn-bridge-mappings: 'a:b'}").expect("db");
        let mut errs = Errors::default();
        check(&mut errs, Some(&db), Some(&ovn));
        let problems: Vec<String> = errs.0.iter().map(ToString::to_string).collect();
        assert_eq!(
            problems,
            [
                "ovs-db.external_ids.ovn-bridge-mappings: ovn.bridge-mappings gives this key too; give the mappings once, in ovn",
                "ovn.bridge-mappings[1].localnet: a is given twice",
                "ovn.bridge-mappings[2].localnet: \"x:y\" is not a name (no ',', ':' or spaces)",
                "ovn.bridge-mappings[3].bridge: a mapping needs its bridge (or state: absent)",
                "ovn.bridge-mappings[4].state: \"gone\" is not present or absent",
            ]
        );
    }
}
