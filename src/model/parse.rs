//! YAML (or JSON, a subset of YAML) text into [`Desired`], with the path of the field that
//! failed.

use super::Desired;

/// The input could not be read as hostnet's schema.
///
/// The message starts with the dotted path of the field (`networks[1].ipv4.gateway: …`)
/// and ends with the line and column, as the YAML parser reports them.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

/// Parses an input document. Unknown keys, duplicate keys and wrongly typed values are
/// errors that name the field.
pub fn parse(text: &str) -> Result<Desired, ParseError> {
    if text.trim().is_empty() {
        return Err(ParseError {
            message: "the file is empty".into(),
        });
    }
    serde_yaml_ng::from_str(text).map_err(|e| ParseError {
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).expect_err("must fail").to_string()
    }

    #[test]
    fn unknown_key_names_the_field() {
        let e = err("networks:\n  - name: a\n    ipv4:\n      adress: [192.0.2.1/24]\n");
        assert!(
            e.starts_with("networks[0].ipv4: unknown field `adress`"),
            "{e}"
        );
    }

    #[test]
    fn duplicate_key_is_an_error() {
        let e = err("networks:\n  - name: a\n    mtu: 1500\n    mtu: 9000\n");
        assert!(e.contains("duplicate field `mtu`"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = err("networks:\n  - name: a\n  - name: b\n    ipv4: {gateway: nope}\n");
        assert!(e.starts_with("networks[1].ipv4.gateway:"), "{e}");
    }

    #[test]
    fn empty_file_is_an_error() {
        assert_eq!(err("  \n"), "the file is empty");
    }

    #[test]
    fn nmstate_style_document_parses() {
        let d = parse(
            "interfaces:\n- name: br0\n  type: linux-bridge\n  state: up\n  bridge:\n    options:\n      stp:\n        enabled: false\n    port:\n    - name: eth1\n  ipv4:\n    enabled: true\n    address:\n    - ip: 192.0.2.1\n      prefix-length: 24\nroutes:\n  config:\n  - destination: 0.0.0.0/0\n    next-hop-address: 192.0.2.254\n    next-hop-interface: br0\n    table-id: 100000\nroute-rules:\n  config:\n  - ip-from: 192.0.2.0/24\n    priority: 1000\n    route-table: 100000\n    fwmark: 0x10\n",
        )
        .expect("parses");
        assert_eq!(d.interfaces.len(), 1);
        let rule = &d.route_rules.expect("rules").config[0];
        assert_eq!(rule.fwmark.map(|m| m.0), Some(16));
    }
}
