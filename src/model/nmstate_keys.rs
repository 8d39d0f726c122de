//! nmstate's keys that hostnet's types do not carry, decided before the types see the
//! document (docs/NMSTATE.md has the matrix this table follows).
//!
//! One pass over the YAML tree, driven by tables of nmstate's schema, decides each key
//! nmstate defines: carried by hostnet's types (left for serde, with nmstate's spellings
//! normalised: numbers and booleans given as strings, aliases such as `ports`, `-1` for
//! "the kernel's default"), *ignored* (meaningful to NetworkManager only, or printed by
//! nmstate's `show` and ignored by its `apply`: removed here and reported as a plan note),
//! or *refused* with a message of its own. Every refused key of the document is reported
//! at once. Keys no table names (hostnet's own, and keys nmstate does not define) are
//! left to serde, which rejects unknown ones as before.

use serde_yaml_ng::{Mapping, Value};

use super::nmstate_tables::{
    as_bool, Key, Verdict, FOREIGN, IFACE, LINUX_BRIDGE, OVS_BRIDGE, REFUSED_TYPES, TOP,
};

/// What the pass found.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    /// The document with ignored keys removed and spellings normalised, when anything
    /// was (`None`: parse the text as it is).
    pub value: Option<Value>,
    /// One line per ignored key (grouped by key: its first path and how many more).
    pub ignored: Vec<String>,
    /// One line per refused key, in document order.
    pub refused: Vec<String>,
}

/// The walk's findings.
#[derive(Default)]
struct Walk {
    changed: bool,
    /// (key, path, reason) of each ignored key.
    ignored: Vec<(String, String, &'static str)>,
    refused: Vec<String>,
}

impl Walk {
    fn refuse(&mut self, path: &str, message: &str) {
        self.refused.push(format!("{path}: {message}"));
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Runs the pass over the document `text` (which already passed the node budget).
pub(super) fn prepare(text: &str) -> Prepared {
    // A document the YAML parser cannot read is left to the typed parse to report.
    let Ok(mut value) = serde_yaml_ng::from_str::<Value>(text) else {
        return Prepared::default();
    };
    let mut w = Walk::default();
    walk_map(&mut w, "", &mut value, TOP);
    Prepared {
        ignored: group(&w.ignored),
        refused: w.refused,
        value: w.changed.then_some(value),
    }
}

/// Ignored keys, one line per key name (the first path, and how many more).
fn group(ignored: &[(String, String, &'static str)]) -> Vec<String> {
    let mut out: Vec<(String, String, &'static str, usize)> = Vec::new();
    for (key, path, reason) in ignored {
        match out.iter_mut().find(|(k, ..)| k == key) {
            Some(entry) => entry.3 += 1,
            None => out.push((key.clone(), path.clone(), reason, 0)),
        }
    }
    out.into_iter()
        .map(|(_, path, reason, more)| {
            let more = match more {
                0 => String::new(),
                n => format!(" (and {n} more)"),
            };
            format!("{path}{more}: {reason}; ignored")
        })
        .collect()
}

fn walk_interface(w: &mut Walk, path: &str, iface: &mut Value) {
    let Some(map) = iface.as_mapping_mut() else {
        return;
    };
    if left_alone(w, path, map, IFACE) {
        return;
    }
    let ty = map.get("type").and_then(Value::as_str).map(str::to_string);
    if let Some(ty) = ty.as_deref() {
        if let Some((_, why)) = REFUSED_TYPES.iter().find(|(t, _)| *t == ty) {
            w.refuse(&join(path, "type"), &format!("type {ty}: {why}"));
            // Its sections are that type's: nothing more to say about them.
            map.retain(|k, _| k.as_str() == Some("name"));
            w.changed = true;
            return;
        }
        if ty == "unknown" {
            // nmstate's "whatever the kernel has", the same as no type.
            map.shift_remove("type");
            w.changed = true;
        }
    }
    let bridge = match ty.as_deref() {
        Some("ovs-bridge") => OVS_BRIDGE,
        _ => LINUX_BRIDGE,
    };
    let mut table: Vec<(&str, Key)> = IFACE.to_vec();
    table.push(("bridge", Key::Map(bridge)));
    // A veth's section is nmstate's; hostnet's `tap` is its own.
    walk_map(w, path, iface, &table);
}

fn walk_map(w: &mut Walk, path: &str, v: &mut Value, table: &[(&str, Key)]) {
    let Some(map) = v.as_mapping_mut() else {
        return;
    };
    if left_alone(w, path, map, table) {
        return;
    }
    let names: Vec<String> = map
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    for name in names {
        let Some(rule) = table.iter().find(|(n, _)| *n == name).map(|(_, k)| *k) else {
            continue;
        };
        let (name, rule) = match rule {
            Key::Alias(to) => {
                let p = join(path, &name);
                if let Some(other) = map.get(to) {
                    // nmstate's own `show` prints both spellings of some keys (a bridge's
                    // group-forward-mask): the same value twice says it once.
                    if map.get(name.as_str()).is_some_and(|v| same_value(v, other)) {
                        map.shift_remove(name.as_str());
                        w.changed = true;
                        continue;
                    }
                    let message = format!(
                        "{name} is another name of {to} with another value; give one of them"
                    );
                    refuse(w, map, &name, &p, &message);
                    continue;
                }
                let Some(value) = map.shift_remove(name.as_str()) else {
                    continue;
                };
                map.insert(Value::String(to.to_string()), value);
                w.changed = true;
                let Some(rule) = table.iter().find(|(n, _)| *n == to).map(|(_, k)| *k) else {
                    continue;
                };
                (to.to_string(), rule)
            }
            other => (name, other),
        };
        decide(w, path, map, &name, rule);
    }
}

/// Whether two spellings of one key give the same value (`8`, `"8"` and `0x8` are one).
fn same_value(a: &Value, b: &Value) -> bool {
    fn int(v: &Value) -> Option<i64> {
        match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => i64::from_str_radix(hex, 16).ok(),
                None => s.parse().ok(),
            },
            _ => None,
        }
    }
    a == b || int(a).is_some_and(|x| Some(x) == int(b))
}

/// An entry whose `state` says to leave it alone (`ignore`, `unknown`): only its name
/// and state stay, so that nothing else of it is looked at or applied.
fn left_alone(w: &mut Walk, path: &str, map: &mut Mapping, table: &[(&str, Key)]) -> bool {
    let Some(Key::Check(f)) = table.iter().find(|(n, _)| *n == "state").map(|(_, k)| *k) else {
        return false;
    };
    let Some(state) = map.get("state") else {
        return false;
    };
    let Verdict::Ignore(reason) = f(state) else {
        return false;
    };
    let text = value_text(state);
    map.retain(|k, _| matches!(k.as_str(), Some("name" | "state")));
    map.insert(Value::from("state"), Value::from("ignore"));
    w.changed = true;
    w.ignored
        .push((format!("state: {text}"), join(path, "state"), reason));
    true
}

fn decide(w: &mut Walk, path: &str, map: &mut Mapping, name: &str, rule: Key) {
    let p = join(path, name);
    let Some(value) = map.get_mut(name) else {
        return;
    };
    match rule {
        Key::Keep | Key::Alias(_) => {}
        Key::Int => w.changed |= coerce_int(value),
        Key::Bool => w.changed |= coerce_bool(value),
        Key::Text => w.changed |= coerce_text(value),
        Key::IntOrDefault => {
            w.changed |= coerce_int(value);
            if value.as_i64() == Some(-1) {
                map.shift_remove(name);
                w.changed = true;
            }
        }
        Key::Map(t) => {
            walk_map(w, &p, value, t);
            // A section left empty by what was taken out of it says nothing.
            if value.as_mapping().is_some_and(Mapping::is_empty) && FOREIGN.contains(&name) {
                map.shift_remove(name);
                w.changed = true;
            }
        }
        Key::EnabledOrMap(t) => {
            if let Some(b) = as_bool(value) {
                let mut m = Mapping::new();
                m.insert(Value::String("enabled".into()), Value::Bool(b));
                *value = Value::Mapping(m);
                w.changed = true;
            }
            walk_map(w, &p, value, t);
        }
        Key::List(t) => {
            if let Some(items) = value.as_sequence_mut() {
                for (j, item) in items.iter_mut().enumerate() {
                    walk_map(w, &format!("{p}[{j}]"), item, t);
                }
            }
        }
        Key::Interfaces => {
            if let Some(items) = value.as_sequence_mut() {
                for (j, item) in items.iter_mut().enumerate() {
                    walk_interface(w, &format!("{p}[{j}]"), item);
                }
            }
        }
        Key::Ignore(reason) => ignore(w, map, name, p, reason),
        Key::Refuse(message) => refuse(w, map, name, &p, message),
        Key::Check(f) => match f(value) {
            Verdict::Keep => {}
            Verdict::Refuse(message) => refuse(w, map, name, &p, message),
            Verdict::Ignore(reason) => ignore(w, map, name, p, reason),
        },
    }
}

fn value_text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Refuses a key, and takes it out so that the types can still report what else is
/// wrong with the document.
fn refuse(w: &mut Walk, map: &mut Mapping, name: &str, path: &str, message: &str) {
    map.shift_remove(name);
    w.changed = true;
    w.refuse(path, message);
}

fn ignore(w: &mut Walk, map: &mut Mapping, name: &str, path: String, reason: &'static str) {
    map.shift_remove(name);
    w.changed = true;
    w.ignored.push((name.to_string(), path, reason));
}

/// `"1500"` → 1500; true when the value changed.
fn coerce_int(v: &mut Value) -> bool {
    let Some(n) = v.as_str().and_then(|s| s.trim().parse::<i64>().ok()) else {
        return false;
    };
    *v = Value::Number(n.into());
    true
}

/// `2` → `"2"`; true when the value changed.
fn coerce_text(v: &mut Value) -> bool {
    let Value::Number(n) = v else { return false };
    *v = Value::String(n.to_string());
    true
}

/// `"yes"` → true; true when the value changed.
fn coerce_bool(v: &mut Value) -> bool {
    if v.is_bool() {
        return false;
    }
    let Some(b) = as_bool(v) else { return false };
    *v = Value::Bool(b);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prep(text: &str) -> Prepared {
        prepare(text)
    }

    #[test]
    fn every_refused_key_is_reported_with_its_reason() {
        let p = prep(
            "interfaces:\n- name: eth1\n  type: ethernet\n  ethtool: {feature: {rx-gro: false}}\n  lldp: {enabled: true}\n  mptcp: {address-flags: [signal]}\n- name: ipsec0\n  type: ipsec\n  libreswan: {right: 192.0.2.250}\ndns-resolver:\n  config: {server: [192.0.2.53]}\nhostname:\n  config: hv1.example.org\n",
        );
        let paths: Vec<&str> = p
            .refused
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
                "hostname.config",
            ],
            "{:?}",
            p.refused
        );
        assert!(p.refused[3].contains("Libreswan"), "{:?}", p.refused);
    }

    #[test]
    fn ignored_keys_are_removed_and_named_once() {
        let p = prep(
            "interfaces:\n- name: eth1\n  type: ethernet\n  profile-name: x\n  ipv4:\n    auto-dns: true\n    address:\n    - {ip: 192.0.2.1, prefix-length: \"24\", valid-life-time: forever}\n    - {ip: 192.0.2.2, prefix-length: 24, valid-life-time: forever}\nroutes:\n  running: []\n  config: []\n",
        );
        assert!(p.refused.is_empty(), "{:?}", p.refused);
        assert_eq!(
            p.ignored,
            [
                "interfaces[0].profile-name: NetworkManager's connection name; ignored",
                "interfaces[0].ipv4.auto-dns: a DHCP or autoconfiguration client's setting (NetworkManager's); ignored",
                "interfaces[0].ipv4.address[0].valid-life-time (and 1 more): reported by nmstate's show and ignored by its apply; ignored",
                "routes.running: reported by nmstate's show and ignored by its apply; ignored",
            ]
        );
        let v = p.value.expect("rewritten");
        let text = serde_yaml_ng::to_string(&v).expect("yaml");
        assert!(!text.contains("profile-name") && !text.contains("valid-life-time"));
        assert!(text.contains("prefix-length: 24"), "{text}");
    }

    #[test]
    fn aliases_and_defaults_are_normalised() {
        let p = prep(
            "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge: {ports: [{name: eth1}]}\nroutes:\n  config:\n  - {destination: 10.0.0.0/8, next-hop-interface: eth1, metric: -1}\n",
        );
        let text = serde_yaml_ng::to_string(&p.value.expect("rewritten")).expect("yaml");
        assert!(text.contains("port:") && !text.contains("ports:"), "{text}");
        assert!(!text.contains("metric"), "{text}");
        let both = prep(
            "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge: {ports: [{name: eth1}], port: []}\n",
        );
        assert_eq!(
            both.refused,
            ["interfaces[0].bridge.ports: ports is another name of port with another value; give one of them"]
        );
        // nmstatectl show prints a bridge's mask under both names: equal, they are one key.
        let shown = prep(
            "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge:\n    options: {group-forward-mask: 8, group-fwd-mask: \"0x8\"}\n",
        );
        assert!(shown.refused.is_empty(), "{:?}", shown.refused);
        let text = serde_yaml_ng::to_string(&shown.value.expect("rewritten")).expect("yaml");
        assert!(
            text.contains("group-forward-mask: 8") && !text.contains("group-fwd-mask"),
            "{text}"
        );
        let differ = prep(
            "interfaces:\n- name: br0\n  type: linux-bridge\n  bridge:\n    options: {group-forward-mask: 8, group-fwd-mask: 16}\n",
        );
        assert_eq!(differ.refused.len(), 1, "{:?}", differ.refused);
        // nmstate's other spellings: address lifetimes (ignored) and balance-slb (refused
        // with balance_slb's own reason).
        let other = prep(
            "interfaces:\n- name: eth1\n  type: ethernet\n  ipv4:\n    enabled: true\n    address: [{ip: 192.0.2.1, prefix-length: 24, valid-left: forever, preferred-left: forever}]\n- name: bond0\n  type: bond\n  link-aggregation: {mode: balance-rr, options: {balance-slb: true}}\n",
        );
        assert_eq!(other.refused.len(), 1, "{:?}", other.refused);
        assert!(
            other.refused[0].contains("options.balance_slb: balance-slb is a NetworkManager mode"),
            "{:?}",
            other.refused
        );
    }

    #[test]
    fn keys_nmstate_does_not_define_are_left_to_the_types() {
        let p = prep(
            "interfaces:\n- name: eth1\n  type: ethernet\n  colour: red\nnetworks: [{name: a}]\n",
        );
        assert!(p.refused.is_empty() && p.ignored.is_empty() && p.value.is_none());
    }
}
