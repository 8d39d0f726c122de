//! The input file's JSON Schema, for editors (yaml-language-server and the like):
//! generated from the input types with schemars, checked in as
//! `dist/hostnet.schema.json` and installed by the Debian package. A test keeps the file
//! equal to what the types generate (`HOSTNET_UPDATE_SCHEMA=1` rewrites it) and checks
//! that the example files validate against it.
//!
//! The types with their own serde rules say here what they accept: a prefix with or
//! without its length, a 32-bit number or `0x` string, a MAC address, a family.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use super::{Desired, HexU32, Prefix};
use crate::netdev::{Family, MacAddr};

/// Where the checked-in schema lives, from the repository's root.
pub const SCHEMA_FILE: &str = "dist/hostnet.schema.json";

/// The schema of the input file, as the checked-in file holds it.
pub fn input_schema() -> String {
    let mut schema = schemars::schema_for!(Desired);
    schema.insert(
        "title".into(),
        "hostnet host network description (/etc/hostnet/host.yaml)".into(),
    );
    if let Some(root) = schema.as_object_mut() {
        nmstate_keys(root);
    }
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}

/// nmstate's keys that `apply` accepts without a type of hostnet carrying them: the
/// ignored ones (any value) and the other names of keys (the key's own schema).
fn nmstate_keys(root: &mut serde_json::Map<String, serde_json::Value>) {
    use super::nmstate_tables::{Key, SCHEMA_TABLES};
    for (def, table) in SCHEMA_TABLES {
        let obj = if def.is_empty() {
            Some(&mut *root)
        } else {
            root.get_mut("$defs")
                .and_then(|d| d.get_mut(*def))
                .and_then(serde_json::Value::as_object_mut)
        };
        let Some(props) = obj
            .and_then(|o| o.get_mut("properties"))
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        for (key, rule) in table.iter() {
            let entry = match rule {
                Key::Ignore(why) => serde_json::json!({
                    "description": format!("nmstate's key, accepted and ignored by hostnet: {why}")
                }),
                Key::Alias(to) => match props.get(*to) {
                    Some(target) => target.clone(),
                    None => continue,
                },
                _ => continue,
            };
            props.entry(key.to_string()).or_insert(entry);
        }
    }
}

/// `networks[].ipv4.address`: addresses with their prefix length.
pub fn cidr_list(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "items": {
            "type": "string",
            "description": "ADDRESS/LENGTH, e.g. 192.0.2.10/24 or 2001:db8::10/64",
            "pattern": "^[0-9A-Fa-f:.]+/[0-9]{1,3}$"
        }
    })
}

impl JsonSchema for Prefix {
    fn schema_name() -> Cow<'static, str> {
        "Prefix".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "An address prefix, ADDRESS/LENGTH; a bare address is a host prefix",
            "pattern": "^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$"
        })
    }
}

impl JsonSchema for HexU32 {
    fn schema_name() -> Cow<'static, str> {
        "HexU32".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A 32-bit number, or a string of one (0x-prefixed hex or decimal)",
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": u32::MAX},
                {"type": "string", "pattern": "^(0[xX][0-9A-Fa-f]{1,8}|[0-9]{1,10})$"}
            ]
        })
    }
}

impl JsonSchema for MacAddr {
    fn schema_name() -> Cow<'static, str> {
        "MacAddr".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A MAC address, six hex octets separated by ':'",
            "pattern": "^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$"
        })
    }
}

impl JsonSchema for Family {
    fn schema_name() -> Cow<'static, str> {
        "Family".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "enum": ["ipv4", "ipv6"]})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> std::path::PathBuf {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_checked_in_schema_is_what_the_types_generate() {
        let path = root().join(SCHEMA_FILE);
        let generated = input_schema();
        if std::env::var("HOSTNET_UPDATE_SCHEMA").as_deref() == Ok("1") {
            std::fs::write(&path, &generated).expect("write the schema");
        }
        let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            checked_in == generated,
            "{SCHEMA_FILE} is not what the input types generate: run \
             `HOSTNET_UPDATE_SCHEMA=1 cargo test --lib model::schema` and commit it"
        );
    }

    fn validator() -> jsonschema::Validator {
        let schema: serde_json::Value =
            serde_json::from_str(&input_schema()).expect("the schema is JSON");
        jsonschema::validator_for(&schema).expect("a valid JSON Schema")
    }

    /// A YAML document as the JSON an editor validates.
    fn json_of(yaml: &str) -> serde_json::Value {
        serde_yaml_ng::from_str(yaml).expect("YAML")
    }

    #[test]
    fn nmstate_keys_apply_ignores_validate_against_the_schema() {
        let v = validator();
        let text = include_str!("../../tests/nmstate/nm_only_keys.yml");
        let errors: Vec<String> = v
            .iter_errors(&json_of(text))
            .map(|e| format!("{}: {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:?}");
        let ports =
            "interfaces: [{name: br0, type: linux-bridge, bridge: {ports: [{name: eth1}]}}]\n";
        assert!(v.is_valid(&json_of(ports)));
        let wrong =
            "interfaces: [{name: br0, type: linux-bridge, bridge: {ports: [{nom: eth1}]}}]\n";
        assert!(!v.is_valid(&json_of(wrong)));
    }

    #[test]
    fn the_examples_validate_against_the_schema_and_mistakes_do_not() {
        let v = validator();
        let mut seen = 0;
        for entry in std::fs::read_dir(root().join("examples")).expect("examples") {
            let path = entry.expect("entry").path();
            if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            crate::model::parse(&text).expect("the example parses");
            let errors: Vec<String> = v
                .iter_errors(&json_of(&text))
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            seen += 1;
        }
        assert!(seen > 0, "no examples");
        for (bad, why) in [
            ("networks: [{name: a, colour: red}]\n", "an unknown key"),
            ("networks: [{uplink: eth0}]\n", "a network without a name"),
            ("interfaces: [{name: a, type: wifi}]\n", "an unknown type"),
            (
                "interfaces: [{name: a, mac-address: '52:54:00'}]\n",
                "a short MAC",
            ),
            (
                "networks: [{name: a, ipv4: {address: [192.0.2.1]}}]\n",
                "no prefix length",
            ),
        ] {
            assert!(!v.is_valid(&json_of(bad)), "{why} validates: {bad}");
        }
        // nmstate's ways of writing numbers the parser takes validate too.
        let fwmark = "route-rules: {config: [{priority: 5, route-table: 100, fwmark: '0x10', fwmask: 255}]}\n";
        crate::model::parse(fwmark).expect("parses");
        assert!(v.is_valid(&json_of(fwmark)));
    }
}
