//! The plan for people: a header per network (its device and table, and whether the
//! table was derived from its name), then one line per object.

use std::fmt;

use serde_json::{Map, Value};

use super::{Action, Entry, Kind, PlanView, SideEffect};

impl fmt::Display for PlanView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut group: Option<Option<&str>> = None;
        for e in &self.entries {
            let network = e.network.as_deref();
            if group != Some(network) {
                writeln!(f, "{}", self.header(network))?;
                group = Some(network);
            }
            writeln!(f, "  {} {}", e.action.sign(), e.line())?;
        }
        Ok(())
    }
}

impl PlanView {
    /// `network blue (bridge blue, table 3541, derived from its name):`.
    fn header(&self, network: Option<&str>) -> String {
        let Some(name) = network else {
            return "not tied to one network:".into();
        };
        let Some(n) = self.networks.iter().find(|n| n.name == name) else {
            return format!("network {name}:");
        };
        if n.absent {
            return format!("network {name} (removed):");
        }
        let mut parts = vec![format!(
            "{} {}",
            if n.bridge { "bridge" } else { "device" },
            n.device
        )];
        match (n.table, n.table_derived) {
            (Some(t), true) => parts.push(format!("table {t}, derived from its name")),
            (Some(t), false) => parts.push(format!("table {t}")),
            (None, _) => {}
        }
        format!("network {name} ({}):", parts.join(", "))
    }
}

impl Entry {
    /// The entry's line without its sign.
    pub fn line(&self) -> String {
        let mut s = match self.action {
            Action::Create if self.later.is_empty() => self.text.clone(),
            Action::Create => {
                let after = self.after.clone().unwrap_or_default();
                let words: Vec<String> = self
                    .later
                    .iter()
                    .map(|k| later_words(k, after.get(k).unwrap_or(&Value::Null)))
                    .collect();
                format!("{} ({})", self.text, words.join(", "))
            }
            Action::Remove => self.text.clone(),
            Action::Change => self.change_line(),
        };
        if !self.side_effects.is_empty() {
            s.push_str(&format!(
                " (the kernel then also sets {})",
                side_effect_words(&self.side_effects)
            ));
        }
        s
    }

    fn change_line(&self) -> String {
        // A firewall change lists the items it adds and removes, which reads better
        // than two lists of rules.
        if self.merged == 1 && matches!(self.kind, Kind::Firewall | Kind::FirewallBase) {
            return self.text.clone();
        }
        let empty = Map::new();
        let before = self.before.as_ref().unwrap_or(&empty);
        let after = self.after.as_ref().unwrap_or(&empty);
        let mut diffs: Vec<String> = after
            .iter()
            .filter(|(k, v)| before.get(*k).unwrap_or(&Value::Null) != *v)
            .map(|(k, v)| change_words(k, before.get(k).unwrap_or(&Value::Null), v))
            .collect();
        // Started while it ran: a restart (new flags, or a bridge made again).
        let running = Some(&Value::Bool(true));
        if self.kind == Kind::DhcpServer
            && before.get("running") == running
            && after.get("running") == running
        {
            diffs.push("dnsmasq restarted".into());
        }
        if diffs.is_empty() {
            let note = if self.merged == 1 {
                "set again"
            } else {
                "re-created"
            };
            return format!("{}: {note}", self.label);
        }
        format!("{}: {}", self.label, diffs.join(", "))
    }
}

/// A value as a plan line shows it.
fn value_words(key: &str, v: &Value) -> String {
    match (key, v) {
        ("running", Value::Bool(true)) => "running".into(),
        ("running", Value::Bool(false)) => "stopped".into(),
        ("range", Value::Object(o)) => format!(
            "{}-{}",
            value_words("", o.get("start").unwrap_or(&Value::Null)),
            value_words("", o.get("end").unwrap_or(&Value::Null))
        ),
        (_, Value::Null) => "none".into(),
        (_, Value::Bool(b)) => if *b { "on" } else { "off" }.into(),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Array(a)) => {
            let items: Vec<String> = a.iter().map(|x| value_words("", x)).collect();
            format!("[{}]", items.join(", "))
        }
        (_, Value::Object(o)) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", value_words(k, v)))
            .collect::<Vec<_>>()
            .join(" "),
        (_, n) => n.to_string(),
    }
}

/// `mtu 1500 -> 9000`; a sysctl's value without its name; `dnsmasq stopped -> running`.
fn change_words(key: &str, old: &Value, new: &Value) -> String {
    let (o, n) = (value_words(key, old), value_words(key, new));
    match key {
        "value" => format!("{o} -> {n}"),
        "running" => format!("dnsmasq {o} -> {n}"),
        // Bridge VLANs added and removed (their set before is in `vlans`).
        "add" | "remove" if old.is_null() => format!("{key} {n}"),
        // An alternative name: `add altname port1`.
        k if k.starts_with("altname ") => format!("{n} {k}"),
        _ => format!("{key} {o} -> {n}"),
    }
}

/// What a later step of a creation adds: `dnsmasq started`, `then controller bond0`.
fn later_words(key: &str, v: &Value) -> String {
    match (key, v) {
        ("running", Value::Bool(true)) => "dnsmasq started".into(),
        // A new bridge made down and brought up once its addresses are on (plan/bridges_up.rs).
        ("state", Value::String(s)) if s == "up" => "then up once its addresses are on".into(),
        (k, Value::String(s)) if k.starts_with("altname ") => format!("then {s} {k}"),
        _ => format!("then {key} {}", value_words(key, v)),
    }
}

/// `net.ipv4.conf.all.accept_redirects 1 -> 0 and the forwarding of 3 interfaces`.
fn side_effect_words(effects: &[SideEffect]) -> String {
    let mut named = Vec::new();
    let mut forwarding = 0;
    for e in effects {
        if e.key.ends_with(".forwarding") {
            forwarding += 1;
        } else {
            let was = e.before.as_deref().unwrap_or("unset");
            named.push(format!("{} {was} -> {}", e.key, e.after));
        }
    }
    match forwarding {
        0 => {}
        1 => named.push("the forwarding of 1 interface".into()),
        n => named.push(format!("the forwarding of {n} interfaces")),
    }
    named.join(" and ")
}
