//! OVSDB's JSON as `ovs-vsctl --format=json --data=json` prints it: rows, sets, maps.

use std::collections::BTreeMap;

use serde_json::Value;

use super::OvsError;

/// The rows of `--format=json` output, as column name → value.
pub(super) fn rows(out: &str) -> Result<Vec<BTreeMap<String, Value>>, OvsError> {
    let v: Value = serde_json::from_str(out).map_err(|e| OvsError::Decode(e.to_string()))?;
    let headings: Vec<String> = v
        .get("headings")
        .and_then(Value::as_array)
        .ok_or_else(|| OvsError::Decode("no headings".into()))?
        .iter()
        .filter_map(|h| h.as_str().map(str::to_string))
        .collect();
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| OvsError::Decode("no data".into()))?;
    Ok(data
        .iter()
        .filter_map(Value::as_array)
        .map(|row| headings.iter().cloned().zip(row.iter().cloned()).collect())
        .collect())
}

/// The members of an OVSDB set (`["set", [...]]`, or one bare atom).
pub(super) fn set_items(v: &Value) -> Vec<Value> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(items)]) if tag == "set" => items.clone(),
        _ => vec![v.clone()],
    }
}

/// An OVSDB map (`["map", [[k, v], ...]]`) of strings.
pub(super) fn map_items(v: &Value) -> BTreeMap<String, String> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::Array(pairs)]) if tag == "map" => pairs
            .iter()
            .filter_map(|p| {
                let p = p.as_array()?;
                Some((
                    p.first()?.as_str()?.to_string(),
                    p.get(1)?.as_str()?.to_string(),
                ))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

pub(super) fn uuid_of(v: &Value) -> Option<String> {
    match v.as_array().map(Vec::as_slice) {
        Some([tag, Value::String(u)]) if tag == "uuid" => Some(u.clone()),
        _ => None,
    }
}
