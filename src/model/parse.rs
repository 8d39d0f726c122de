//! YAML (or JSON, a subset of YAML) text into [`Desired`], with the path of the field that
//! failed.

use serde_yaml_ng::Value;

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
        message: explain(text, &e),
    })
}

/// At most this many unknown keys are reported.
const MAX_UNKNOWN: usize = 50;

/// The parser's error, and what it alone would not say: every further unknown key (the
/// parser stops at the first), and that an address lacks its prefix length. One line
/// per problem.
fn explain(text: &str, e: &serde_yaml_ng::Error) -> String {
    let first = e.to_string();
    let Ok(mut value) = serde_yaml_ng::from_str::<Value>(text) else {
        return first;
    };
    if let Some(hint) = missing_prefix(&first, &value) {
        return hint;
    }
    let mut lines = vec![first.clone()];
    let mut current = first;
    // Without each unknown key found so far, the document shows the next one. Its
    // position is looked up in the original text (the document is re-serialized).
    while lines.len() < MAX_UNKNOWN {
        let Some((path, key)) = unknown_field(&current) else {
            break;
        };
        if !remove(&mut value, &path, &key) {
            break;
        }
        let Ok(again) = serde_yaml_ng::to_string(&value) else {
            break;
        };
        let Err(next) = serde_yaml_ng::from_str::<Desired>(&again) else {
            break;
        };
        current = next.to_string();
        let Some((_, next_key)) = unknown_field(&current) else {
            break;
        };
        let bare = match current.rfind(" at line ") {
            Some(i) => &current[..i],
            None => &current,
        };
        lines.push(match locate(text, &next_key) {
            Some((line, column)) => format!("{bare} at line {line} column {column}"),
            None => bare.to_string(),
        });
    }
    lines.join("\n")
}

/// The path and key of an `unknown field` message (`networks[0].ipv4`, `adress`).
fn unknown_field(message: &str) -> Option<(String, String)> {
    let i = message.find("unknown field `")?;
    let rest = &message[i + "unknown field `".len()..];
    let key = &rest[..rest.find('`')?];
    let path = message[..i].trim_end().trim_end_matches(':');
    Some((path.to_string(), key.to_string()))
}

/// The value at a path such as `networks[0].ipv4.address[1]` (empty: the document).
fn at<'a>(value: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let mut v = value;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        let name = pieces.next()?;
        if !name.is_empty() {
            v = v.as_mapping_mut()?.get_mut(name)?;
        }
        for index in pieces {
            let n: usize = index.strip_suffix(']')?.parse().ok()?;
            v = v.as_sequence_mut()?.get_mut(n)?;
        }
    }
    Some(v)
}

fn remove(value: &mut Value, path: &str, key: &str) -> bool {
    at(value, path)
        .and_then(Value::as_mapping_mut)
        .is_some_and(|m| m.remove(key).is_some())
}

/// Line and column (1-based) of `key` used as a mapping key, when it is so used exactly
/// once in the text.
fn locate(text: &str, key: &str) -> Option<(usize, usize)> {
    let mut found = None;
    for (n, line) in text.lines().enumerate() {
        for (i, _) in line.match_indices(key) {
            let before = line[..i].chars().next_back();
            let after = line[i + key.len()..].chars().next();
            let starts = before.is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '-');
            if starts && after == Some(':') {
                if found.is_some() {
                    return None;
                }
                found = Some((n + 1, i + 1));
            }
        }
    }
    found
}

/// An address given without its prefix length where one is required.
fn missing_prefix(message: &str, value: &Value) -> Option<String> {
    let i = message.find(": invalid IP address syntax")?;
    let path = &message[..i];
    let mut v = value.clone();
    let s = at(&mut v, path)?.as_str()?.to_string();
    let ip: std::net::IpAddr = s.parse().ok()?;
    let example = if ip.is_ipv4() { 24 } else { 64 };
    let location = message.rfind(" at line ").map_or("", |j| &message[j..]);
    Some(format!(
        "{path}: {s} has no prefix length; give it one, such as {s}/{example}{location}"
    ))
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
    fn every_unknown_key_is_reported_where_it_is() {
        let e = err(
            "networks:\n  - name: a\n    colour: red\n    ipv4:\n      adress: [192.0.2.1/24]\n  - name: b\n    mtu: 1500\n    shape: round\n",
        );
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 3, "{e}");
        assert!(
            lines[0].starts_with("networks[0]: unknown field `colour`")
                && lines[0].ends_with("at line 3 column 5"),
            "{e}"
        );
        assert!(
            lines[1].starts_with("networks[0].ipv4: unknown field `adress`")
                && lines[1].ends_with("at line 5 column 7"),
            "{e}"
        );
        assert!(
            lines[2].starts_with("networks[1]: unknown field `shape`")
                && lines[2].ends_with("at line 8 column 5"),
            "{e}"
        );
    }

    #[test]
    fn an_address_without_prefix_length_says_so() {
        let e = err("networks:\n  - name: a\n    ipv4: {address: [192.0.2.10]}\n");
        assert_eq!(
            e,
            "networks[0].ipv4.address[0]: 192.0.2.10 has no prefix length; give it one, \
             such as 192.0.2.10/24 at line 3 column 22"
        );
        // Not an address at all: the parser's own words.
        let e = err("networks:\n  - name: a\n    ipv4: {address: [nope]}\n");
        assert!(e.contains("invalid IP address syntax"), "{e}");
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
