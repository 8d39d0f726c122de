//! The record of verified chain fingerprints (see [`super`]): one file per
//! network namespace under the runtime directory, `nft-verified/KEY`, lines of
//! `FINGERPRINT CHAIN`. It is a cache: a missing, stale or unreadable record only makes
//! the next query compare more chains as text, so every error here is ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::netdev::netns_id::{state_dir, NetnsId};

/// Written on the first line: a record of another build (whose renderer may differ) is
/// not trusted.
const HEADER: &str = concat!("hostnet ", env!("CARGO_PKG_VERSION"), " nft-verified 1");

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Record {
    chains: BTreeMap<String, u64>,
    changed: bool,
}

impl Record {
    pub fn contains(&self, chain: &str, print: u64) -> bool {
        self.chains.get(chain) == Some(&print)
    }

    pub fn insert(&mut self, chain: &str, print: u64) {
        if self.chains.insert(chain.to_string(), print) != Some(print) {
            self.changed = true;
        }
    }

    pub fn remove(&mut self, chain: &str) {
        if self.chains.remove(chain).is_some() {
            self.changed = true;
        }
    }

    /// Forgets chains that no longer exist.
    pub fn keep_only<'a>(&mut self, chains: impl Iterator<Item = &'a String>) {
        let keep: std::collections::BTreeSet<&String> = chains.collect();
        let before = self.chains.len();
        self.chains.retain(|c, _| keep.contains(c));
        self.changed |= self.chains.len() != before;
    }
}

fn path() -> Option<PathBuf> {
    let key = NetnsId::current().ok()?.key();
    Some(state_dir().join("nft-verified").join(key))
}

pub fn load() -> Record {
    let text = path().and_then(|p| std::fs::read_to_string(p).ok());
    let mut r = Record::default();
    let Some(text) = text else { return r };
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return r;
    }
    for line in lines {
        if let Some((print, chain)) = line.split_once(' ') {
            if let Ok(p) = u64::from_str_radix(print, 16) {
                r.chains.insert(chain.to_string(), p);
            }
        }
    }
    r
}

/// Writes the record if it changed (atomically: a reader sees the old or the new one).
pub fn store(r: &Record) {
    if !r.changed {
        return;
    }
    let Some(p) = path() else { return };
    let Some(dir) = p.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let mut text = String::with_capacity(r.chains.len() * 40);
    text.push_str(HEADER);
    text.push('\n');
    for (c, print) in &r.chains {
        text.push_str(&format!("{print:016x} {c}\n"));
    }
    let tmp = p.with_extension(format!("tmp{}", std::process::id()));
    if std::fs::write(&tmp, text).is_ok() && std::fs::rename(&tmp, &p).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_tracks_changes() {
        let mut r = Record::default();
        r.insert("n-a-fwd", 7);
        assert!(r.contains("n-a-fwd", 7) && !r.contains("n-a-fwd", 8));
        r.changed = false;
        r.insert("n-a-fwd", 7);
        assert!(!r.changed);
        let keep = ["n-b-fwd".to_string()];
        r.keep_only(keep.iter());
        assert!(r.changed && !r.contains("n-a-fwd", 7));
    }
}
