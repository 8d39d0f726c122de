//! Values of nmstate's `ovs-db` maps. OVSDB's maps hold strings, but nmstate files write
//! `stp-priority: 4096` or `mcast-snooping-disable-flood-unregistered: true` as YAML
//! numbers and booleans, which nmstate takes as their decimal text and `true`/`false`
//! (and `null` as "no value": the key removed). hostnet takes them the same way, so the
//! same file gives the same row; a sequence or a map is refused naming the key.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// One value of an `ovs-db` map: a string, number or boolean as OVSDB's string, `None`
/// for `null`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OvsDbValue(pub Option<String>);

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = OvsDbValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, number, boolean or null (OVSDB keeps them as strings)")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(Some(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(Some(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(Some(v.to_string())))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(Some(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(Some(v.to_string())))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(Some(v.to_string())))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(Some(v.to_string())))
    }
    /// Rust's shortest form, as nmstate writes it (`1.50` → `1.5`, `1e3` → `1000`).
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(Some(v.to_string())))
    }
    fn visit_unit<E: de::Error>(self) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(None))
    }
    fn visit_none<E: de::Error>(self) -> Result<OvsDbValue, E> {
        Ok(OvsDbValue(None))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<OvsDbValue, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Deserialize<'de> for OvsDbValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OvsDbValue, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl schemars::JsonSchema for OvsDbValue {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OvsDbValue".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "An OVSDB map value: a string; a number or boolean is taken as its text, null as no value",
            "type": ["string", "number", "boolean", "null"]
        })
    }
}

/// An interface's, bridge's or bond's map, complete when given: a `null` value leaves the
/// key out (nmstate drops it from the map it writes, so the key goes).
pub fn complete_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let m: Option<BTreeMap<String, OvsDbValue>> = Option::deserialize(d)?;
    Ok(m.map(|m| m.into_iter().filter_map(|(k, v)| Some((k, v.0?))).collect()))
}

/// The Open_vSwitch row's map, merged per key: `None` removes the key.
pub fn merge_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, Option<String>>>, D::Error> {
    let m: Option<BTreeMap<String, OvsDbValue>> = Option::deserialize(d)?;
    Ok(m.map(|m| m.into_iter().map(|(k, v)| (k, v.0)).collect()))
}

#[cfg(test)]
mod tests {
    use crate::model::parse;

    #[test]
    fn numbers_and_booleans_are_their_text_and_null_is_no_value() {
        let d = parse(
            "ovs-db:\n  other_config: {a: 4096, b: true, c: 1.50, d: null, e: '010'}\n\
             interfaces:\n- name: br0\n  type: ovs-bridge\n  ovs-db:\n    \
             other_config: {stp-priority: 4096, f: false, g: ~}\n    external_ids: {n: -3}\n",
        )
        .expect("parses");
        let g = d.ovs_db.and_then(|g| g.other_config).expect("global map");
        let text = |k: &str| g.get(k).cloned().flatten();
        assert_eq!(text("a").as_deref(), Some("4096"));
        assert_eq!(text("b").as_deref(), Some("true"));
        assert_eq!(text("c").as_deref(), Some("1.5"));
        assert_eq!(g.get("d"), Some(&None));
        assert_eq!(text("e").as_deref(), Some("010"));
        let db = d.interfaces[0].ovs_db.clone().expect("ovs-db");
        let other = db.other_config.expect("other_config");
        assert_eq!(
            other.into_iter().collect::<Vec<_>>(),
            [
                ("f".to_string(), "false".to_string()),
                ("stp-priority".to_string(), "4096".to_string())
            ]
        );
        assert_eq!(
            db.external_ids
                .expect("external_ids")
                .get("n")
                .map(String::as_str),
            Some("-3")
        );
    }

    #[test]
    fn a_sequence_or_map_is_refused_naming_the_key() {
        for v in ["[1]", "{a: 1}"] {
            let yaml = format!(
                "interfaces:\n- name: br0\n  type: ovs-bridge\n  ovs-db:\n    other_config: {{k: {v}}}\n"
            );
            let e = parse(&yaml).expect_err("refused").to_string();
            assert!(
                e.contains("interfaces[0].ovs-db.other_config.k") && e.contains("number, boolean"),
                "{e}"
            );
        }
    }
}
