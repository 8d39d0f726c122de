//! YAML (or JSON, a subset of YAML) text into [`Desired`], with the path of the field that
//! failed.

use std::cell::Cell;
use std::io::Read;

use serde::de::{self, DeserializeSeed, Deserializer, Visitor};
use serde_yaml_ng::Value;

use super::Desired;

/// The largest input hostnet reads, in bytes (4 MiB). A file of 1,000 networks with
/// their firewall and DHCP servers is well under 1 MiB; the cap keeps a mistaken
/// `hostnet validate /dev/zero` (or a hostile document) from taking the host's memory.
pub const MAX_INPUT_BYTES: usize = 4 << 20;

/// The input could not be read as hostnet's schema.
///
/// The message starts with the dotted path of the field (`networks[1].ipv4.gateway: …`)
/// and ends with the line and column, as the YAML parser reports them.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
}

fn too_large(what: &str) -> ParseError {
    ParseError {
        message: format!(
            "{what} is larger than {MAX_INPUT_BYTES} bytes (4 MiB), the most hostnet reads"
        ),
    }
}

/// Reads a document of at most [`MAX_INPUT_BYTES`] from `input` (a file, standard input,
/// a device: nothing beyond the cap is read); `what` names it in errors.
pub fn read_input(input: impl Read, what: &str) -> Result<String, ParseError> {
    let mut bytes = Vec::new();
    let cap = u64::try_from(MAX_INPUT_BYTES).unwrap_or(u64::MAX);
    input
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ParseError {
            message: format!("cannot read {what}: {e}"),
        })?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(too_large(what));
    }
    String::from_utf8(bytes).map_err(|e| ParseError {
        message: format!(
            "{what} is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Most YAML nodes a document may expand to: what a document of [`MAX_INPUT_BYTES`]
/// without aliases could hold (a node takes at least two bytes). Aliases (`*name`)
/// repeat what an anchor names, so a small file can otherwise expand without bound.
pub const MAX_NODES: usize = MAX_INPUT_BYTES / 2;

/// Counts the nodes of a document, aliases expanded, and stops at [`MAX_NODES`].
struct NodeBudget<'a>(&'a Cell<usize>);

impl NodeBudget<'_> {
    fn spend<E: de::Error>(&self) -> Result<(), E> {
        let n = self.0.get() + 1;
        self.0.set(n);
        if n > MAX_NODES {
            return Err(E::custom(format!(
                "the document expands to more than {MAX_NODES} nodes (YAML aliases repeat what an anchor names); write it out without aliases"
            )));
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for NodeBudget<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeBudget<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML node")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.spend()
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.spend()
    }
    fn visit_i128<E: de::Error>(self, _: i128) -> Result<(), E> {
        self.spend()
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.spend()
    }
    fn visit_u128<E: de::Error>(self, _: u128) -> Result<(), E> {
        self.spend()
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.spend()
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.spend()
    }
    fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<(), E> {
        self.spend()
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.spend()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.spend()?;
        d.deserialize_any(self)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        self.spend()?;
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        while seq.next_element_seed(NodeBudget(self.0))?.is_some() {}
        Ok(())
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        while map.next_key_seed(NodeBudget(self.0))?.is_some() {
            map.next_value_seed(NodeBudget(self.0))?;
        }
        Ok(())
    }
    /// A tagged node (`!tag value`).
    fn visit_enum<A: de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        self.spend()?;
        let ((), variant) = data.variant_seed(NodeBudget(self.0))?;
        de::VariantAccess::newtype_variant_seed(variant, NodeBudget(self.0))
    }
}

/// Parses an input document. Unknown keys, duplicate keys and wrongly typed values are
/// errors that name the field. Documents over [`MAX_INPUT_BYTES`], or that expand to
/// more than [`MAX_NODES`] nodes, are refused before they are turned into anything.
pub fn parse(text: &str) -> Result<Desired, ParseError> {
    if text.len() > MAX_INPUT_BYTES {
        return Err(too_large("the document"));
    }
    if text.trim().is_empty() {
        return Err(ParseError {
            message: "the file is empty".into(),
        });
    }
    // A first pass that only counts (and stops at the budget), so that an alias bomb
    // costs a bounded walk instead of the host's memory.
    let spent = Cell::new(0);
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        NodeBudget(&spent)
            .deserialize(doc)
            .map_err(|e| ParseError {
                message: e.to_string(),
            })?;
    }
    // nmstate's keys hostnet ignores or refuses are decided first (nmstate_keys.rs).
    let prepared = super::nmstate_keys::prepare(text);
    let parsed: Result<Desired, String> = match &prepared.value {
        None => serde_yaml_ng::from_str(text).map_err(|e| explain(text, &e)),
        // The rewritten document's lines are not the file's: the paths alone are given.
        Some(v) => serde_yaml_ng::to_string(v)
            .map_err(|e| e.to_string())
            .and_then(|again| {
                serde_yaml_ng::from_str(&again).map_err(|e| {
                    explain(&again, &e)
                        .lines()
                        .map(without_location)
                        .collect::<Vec<_>>()
                        .join("\n")
                })
            }),
    };
    let mut lines = prepared.refused;
    match parsed {
        Ok(mut d) if lines.is_empty() => {
            d.ignored = prepared.ignored;
            Ok(d)
        }
        Ok(_) => Err(ParseError {
            message: lines.join("\n"),
        }),
        Err(e) => {
            lines.push(e);
            Err(ParseError {
                message: lines.join("\n"),
            })
        }
    }
}

/// A parser message without its "at line L column C", which names a place in a
/// rewritten document.
fn without_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
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

    /// Issue 16 item 7: an endless input (`/dev/zero`) is cut at the cap, named in the
    /// error, before anything is parsed.
    #[test]
    fn input_is_capped_before_parsing() {
        let endless = std::io::repeat(b'a');
        let e = read_input(endless, "standard input").expect_err("too large");
        assert_eq!(
            e.to_string(),
            "standard input is larger than 4194304 bytes (4 MiB), the most hostnet reads"
        );
        let zeros = std::fs::File::open("/dev/zero").expect("/dev/zero");
        let e = read_input(zeros, "/dev/zero").expect_err("too large");
        assert!(e.to_string().contains("larger than 4194304 bytes"), "{e}");
        let just = "#".repeat(MAX_INPUT_BYTES);
        assert_eq!(
            read_input(just.as_bytes(), "x").expect("fits").len(),
            MAX_INPUT_BYTES
        );
        assert!(parse(&format!("{just}\n")).is_err());
        let e = read_input(&[0xff_u8, 0xfe][..], "x").expect_err("not text");
        assert!(e.to_string().contains("not UTF-8"), "{e}");
    }

    /// An alias bomb: 200,000 aliases of one interface with 2,000 addresses would expand
    /// a 1 MiB file to 400 million nodes. It is refused after a bounded walk.
    #[test]
    fn alias_expansion_is_bounded() {
        let addrs: Vec<String> = (0..2000)
            .map(|i| format!("{{ip: 10.{}.{}.1, prefix-length: 24}}", i / 250, i % 250))
            .collect();
        let mut doc = format!(
            "interfaces:\n- &i {{name: a, type: ethernet, ipv4: {{address: [{}]}}}}\n",
            addrs.join(", ")
        );
        for _ in 0..200_000 {
            doc.push_str("- *i\n");
        }
        let e = parse(&doc).expect_err("refused");
        assert!(
            e.to_string().contains("expands to more than 2097152 nodes"),
            "{e}"
        );
        // A few aliases are fine.
        let d = parse("networks:\n- &n {name: a}\nsettings: {}\n").expect("parses");
        assert_eq!(d.networks.len(), 1);
    }

    /// Issue 13: every refused nmstate key of a file is reported, each with its reason,
    /// and nothing else (no "unknown field" for a key nmstate defines).
    #[test]
    fn every_refused_nmstate_key_is_reported() {
        let e = err(include_str!("../../tests/nmstate/refused_many.yml"));
        let lines: Vec<&str> = e.lines().collect();
        let paths: Vec<&str> = lines
            .iter()
            .map(|l| l.split(": ").next().unwrap_or_default())
            .collect();
        assert_eq!(
            paths,
            [
                "interfaces[0].ethtool",
                "interfaces[0].lldp.enabled",
                "interfaces[0].mptcp",
                "interfaces[1].type",
                "dns-resolver.config",
                "hostname.config"
            ],
            "{e}"
        );
        assert!(!e.contains("unknown field"), "{e}");
        let e = err(include_str!("../../tests/nmstate/refused_sriov.yml"));
        assert!(
            e.starts_with("interfaces[0].ethernet.sr-iov: SR-IOV virtual functions")
                && e.lines().count() == 1,
            "{e}"
        );
        let e = err(include_str!("../../tests/nmstate/refused_8021x.yml"));
        assert!(
            e.starts_with("interfaces[0].802.1x: 802.1X authentication needs a supplicant"),
            "{e}"
        );
        // A key nmstate does not define is still the types' "unknown field", reported
        // with the refused ones.
        let e = err("interfaces:\n- {name: eth1, type: ethernet, ethtool: {}, colour: red}\n");
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 2, "{e}");
        assert!(
            lines[1].starts_with("interfaces[0]: unknown field `colour`"),
            "{e}"
        );
    }

    /// NetworkManager-only and query-only keys parse, and the document says which.
    #[test]
    fn ignored_nmstate_keys_are_listed() {
        let d = parse(include_str!("../../tests/nmstate/nm_only_keys.yml")).expect("parses");
        let keys: Vec<&str> = d
            .ignored
            .iter()
            .map(|l| l.split([':', ' ']).next().unwrap_or_default())
            .collect();
        assert_eq!(
            keys,
            [
                "interfaces[0].profile-name",
                "interfaces[0].wait-ip",
                "interfaces[0].permanent-mac-address",
                "interfaces[0].min-mtu",
                "interfaces[0].max-mtu",
                "interfaces[0].ipv4.auto-dns",
                "interfaces[0].ipv4.auto-gateway",
                "interfaces[0].ipv4.auto-routes",
                "interfaces[0].ipv4.auto-route-table-id",
                "interfaces[0].ipv4.allow-extra-address",
                "interfaces[0].ipv4.address[0].valid-life-time",
                "interfaces[0].ipv4.address[0].preferred-life-time",
                "routes.running"
            ],
            "{:?}",
            d.ignored
        );
        let ip = d.interfaces[0].ipv4.as_ref().expect("ipv4");
        assert_eq!(ip.address.as_ref().map(Vec::len), Some(1));
        // The same key on two interfaces is one line.
        let d = parse("interfaces:\n- {name: a, type: ethernet, profile-name: x}\n- {name: b, type: ethernet, profile-name: y}\n").expect("parses");
        assert_eq!(d.ignored, ["interfaces[0].profile-name (and 1 more): NetworkManager's connection name; ignored"]);
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
