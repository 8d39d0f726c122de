//! The record of what `hostnet persist` wrote in a form without hostnet's route protocol:
//! networkd has no protocol setting for rules, NetworkManager none for routes and rules,
//! netplan none for either, so after a boot the kernel holds hostnet's own objects with
//! the stack's protocol (`static`). The writers say which (each object as the stack will
//! make it), and this module keeps them beside the files, one record per device and
//! format, written in the same transaction as the files (so `--restore` brings back the
//! record with them): `var/lib/hostnet/persisted/FORMAT/DEV.yaml` under the root.
//!
//! `apply` (and `restore`, `monitor`, `status`) read every record under the persistent
//! directory ([`load`]) into [`PersistedCopies`]; the planner counts a kernel object
//! equal to a recorded one as hostnet's ([`crate::plan::copies`]). An object another
//! tool made is never in the record unless it is, attribute for attribute and protocol
//! included, one hostnet wrote to the boot files.

use std::path::{Path, PathBuf};

use crate::expand::PersistedCopies;

/// The records' directory, relative to the root (the persistent directory,
/// `/var/lib/hostnet`, on a host).
pub const DIR: &str = "var/lib/hostnet/persisted";

/// The same directory under the persistent directory itself.
const UNDER_LIB: &str = "persisted";

/// Where a device's record of one format lives, relative to the root.
pub fn path(format: &str, device: &str) -> PathBuf {
    PathBuf::from(DIR)
        .join(format)
        .join(format!("{device}.yaml"))
}

/// The record file of `copies`: YAML, one object a line (a JSON flow mapping) under a
/// comment that says it as `ip` would.
pub fn contents(format: &str, device: &str, copies: &PersistedCopies) -> String {
    let mut s = format!(
        "{}# The routes and rules hostnet persist wrote for {device} in the {format} files, as \
         that stack makes them\n# (with its own protocol): hostnet's own when it finds them \
         in the kernel.\n",
        super::HEADER
    );
    let mut section = |name: &str, items: Vec<(String, String)>| {
        s.push_str(&format!(
            "{name}:{}\n",
            if items.is_empty() { " []" } else { "" }
        ));
        for (text, json) in items {
            s.push_str(&format!("  # {text}\n  - {json}\n"));
        }
    };
    let line = |text: String, json: serde_json::Result<String>| (text, json.unwrap_or_default());
    section(
        "routes",
        copies
            .routes
            .iter()
            .map(|r| line(r.to_string(), serde_json::to_string(r)))
            .collect(),
    );
    section(
        "rules",
        copies
            .rules
            .iter()
            .map(|r| line(r.to_string(), serde_json::to_string(r)))
            .collect(),
    );
    s
}

/// Why a record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a record of hostnet persist: {message}", path.display())]
    Format { path: PathBuf, message: String },
}

/// Every record under the persistent directory `lib` (`HOSTNET_LIB_DIR`), all formats
/// together. No directory: nothing was persisted in a format that needs one.
pub fn load(lib: &Path) -> Result<PersistedCopies, RecordError> {
    let mut out = PersistedCopies::default();
    let top = lib.join(UNDER_LIB);
    for dir in sorted_entries(&top)? {
        if !dir.is_dir() {
            continue;
        }
        for file in sorted_entries(&dir)? {
            if file.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let text = std::fs::read_to_string(&file).map_err(|source| RecordError::Io {
                path: file.clone(),
                source,
            })?;
            let copies: PersistedCopies =
                serde_yaml_ng::from_str(&text).map_err(|e| RecordError::Format {
                    path: file.clone(),
                    message: e.to_string(),
                })?;
            out.extend(copies);
        }
    }
    out.routes.sort();
    out.routes.dedup();
    out.rules.sort();
    out.rules.dedup();
    Ok(out)
}

/// The records of this host's boot files, for the planner: those under
/// `HOSTNET_LIB_DIR` (`/var/lib/hostnet`). A record that cannot be read counts as none
/// (the objects it names are then someone else's, which refuses more, never less).
pub fn own_copies() -> PersistedCopies {
    load(&crate::netdev::netns_id::lib_dir()).unwrap_or_default()
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, RecordError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RecordError::Io {
                path: dir.to_path_buf(),
                source,
            })
        }
    };
    let mut out: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netdev::{Family, Rule, PROTO_STATIC};

    #[test]
    fn records_round_trip_and_merge_across_formats() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rule = |p| Rule {
            from: Some("192.0.2.0/24".parse().expect("net")),
            ..Rule::lookup(Family::Ipv4, p, 1001, PROTO_STATIC)
        };
        let a = PersistedCopies {
            routes: vec![],
            rules: vec![rule(3200)],
        };
        let b = PersistedCopies {
            routes: vec![],
            rules: vec![rule(3200), rule(3300)],
        };
        for (format, dev, c) in [("networkd", "red", &a), ("keyfile", "red", &b)] {
            let p = dir.path().join("lib").join(
                path(format, dev)
                    .strip_prefix("var/lib/hostnet")
                    .expect("under lib"),
            );
            std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            let text = contents(format, dev, c);
            assert!(super::super::transaction::is_ours(text.as_bytes()));
            std::fs::write(&p, text).expect("write");
        }
        let got = load(&dir.path().join("lib")).expect("load");
        assert_eq!(got.rules, vec![rule(3200), rule(3300)]);
        assert!(load(&dir.path().join("nothing")).expect("none").is_empty());
        std::fs::write(
            dir.path().join("lib/persisted/networkd/red.yaml"),
            "rules: [{priority: x}]\n",
        )
        .expect("write");
        assert!(matches!(
            load(&dir.path().join("lib")),
            Err(RecordError::Format { .. })
        ));
    }
}
