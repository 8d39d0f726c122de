//! nmstate's `alt-names`: an interface's alternative names. A name listed is added, one
//! listed with `state: absent` removed; names not listed stay (nmstate's rule: it never
//! replaces the list). Validation refuses a name the kernel would refuse or that breaks
//! tools, and a name the file gives an interface or twice, each at its key.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::{Desired, IfaceState};
use super::validate::Errors;

/// The kernel keeps at most 127 bytes (ALTIFNAMSIZ 128 with its NUL).
pub const MAX_ALT_NAME_LEN: usize = 127;

/// `interfaces[].alt-names[]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AltNameSpec {
    pub name: String,
    /// `absent` removes the name; left out, it is added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<AltNameState>,
}

/// nmstate's only state of an alternative name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AltNameState {
    Absent,
}

impl AltNameSpec {
    pub fn present(&self) -> bool {
        self.state != Some(AltNameState::Absent)
    }
}

/// What the kernel takes (any bytes up to 127, even none) minus what breaks tools, as
/// for interface names: `ip` refuses to name an empty one or one with '/' or spaces.
pub fn check_alt_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("alternative name is empty".into());
    }
    if name.len() > MAX_ALT_NAME_LEN {
        return Err(format!(
            "alternative name is {} bytes long; Linux allows at most {MAX_ALT_NAME_LEN}",
            name.len()
        ));
    }
    if name.starts_with('-') {
        return Err(format!("alternative name {name:?} starts with '-'"));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid alternative name"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(format!(
            "alternative name {name:?} contains the invalid character {c:?}"
        ));
    }
    Ok(())
}

/// Checks every interface's `alt-names`.
pub(super) fn check(errs: &mut Errors, d: &Desired) {
    let names: BTreeMap<&str, usize> = d
        .interfaces
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    // name -> (interface, present, where) of each time the file gives it: once per
    // interface, and present on one interface at most (absent on one and present on
    // another moves it).
    let mut given: BTreeMap<&str, Vec<(usize, bool, String)>> = BTreeMap::new();
    for (i, iface) in d.interfaces.iter().enumerate() {
        let Some(alts) = &iface.alt_names else {
            continue;
        };
        let absent = iface.state == Some(IfaceState::Absent);
        for (j, a) in alts.iter().enumerate() {
            let path = format!("interfaces[{i}].alt-names[{j}].name");
            if let Err(m) = check_alt_name(&a.name) {
                errs.push(path, m);
                continue;
            }
            let seen = given.entry(&a.name).or_default();
            let twice = seen
                .iter()
                .find(|(k, present, _)| *k == i || (*present && a.present()));
            if let Some((_, _, first)) = twice {
                errs.push(path, format!("{} is given already at {first}", a.name));
                continue;
            }
            seen.push((i, a.present(), path.clone()));
            if !a.present() || absent {
                continue;
            }
            let goes = |k: usize| d.interfaces[k].state == Some(IfaceState::Absent);
            match names.get(a.name.as_str()) {
                Some(k) if *k == i => {
                    errs.push(path, format!("{} is the interface's own name", a.name))
                }
                Some(k) if !goes(*k) => errs.push(
                    path,
                    format!(
                        "{} is the name of interfaces[{k}]; a name is one interface's",
                        a.name
                    ),
                ),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {

    fn errors(yaml: &str) -> Vec<String> {
        let d = crate::model::parse(yaml).expect("parses");
        match crate::model::validate(&d) {
            Ok(()) => Vec::new(),
            Err(e) => e.0.iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn good_names_pass() {
        let long = "a".repeat(127);
        let yaml = format!(
            "interfaces:\n- name: eth1\n  type: ethernet\n  alt-names:\n  - name: port1\n  - name: {long}\n  - name: old\n    state: absent\n"
        );
        assert_eq!(errors(&yaml), Vec::<String>::new());
    }

    #[test]
    fn bad_names_are_refused_at_their_key() {
        let long = "a".repeat(128);
        let yaml = format!(
            "interfaces:\n- name: eth1\n  type: ethernet\n  alt-names:\n  - name: ok1\n  - name: {long}\n  - name: 'has space'\n  - name: ''\n  - name: a/b\n  - name: ok1\n  - name: eth1\n  - name: eth2\n- name: eth2\n  type: ethernet\n"
        );
        let e = errors(&yaml);
        let at = |j: usize| format!("interfaces[0].alt-names[{j}].name: ");
        assert!(
            e[0].starts_with(&at(1)) && e[0].contains("128 bytes"),
            "{e:?}"
        );
        assert!(e[1].starts_with(&at(2)) && e[1].contains("' '"), "{e:?}");
        assert!(e[2].starts_with(&at(3)) && e[2].contains("empty"), "{e:?}");
        assert!(e[3].starts_with(&at(4)) && e[3].contains("'/'"), "{e:?}");
        assert!(
            e[4].starts_with(&at(5)) && e[4].contains("given already"),
            "{e:?}"
        );
        assert!(
            e[5].starts_with(&at(6)) && e[5].contains("own name"),
            "{e:?}"
        );
        assert!(
            e[6].starts_with(&at(7)) && e[6].contains("interfaces[1]"),
            "{e:?}"
        );
        assert_eq!(e.len(), 7, "{e:?}");
    }

    #[test]
    fn only_absent_is_a_state() {
        let yaml = "interfaces:\n- name: eth1\n  type: ethernet\n  alt-names:\n  - name: p\n    state: up\n";
        assert!(crate::model::parse(yaml).is_err());
    }
}
