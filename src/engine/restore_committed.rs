//! `hostnet restore`: the committed state applied again (at boot, or after someone undid
//! part of it), whole when it can be planned, else network by network.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::session::Session;
use super::{applied, committed, ApplyError, ApplyOptions, Report};
use crate::expand::{expand, Intent};
use crate::model::validate;
use crate::netdev::linux::LinuxDriver;
use crate::netdev::DriverError;

/// Why nothing was restored.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Nothing is committed here (the path that does not exist).
    #[error("nothing is committed here ({} does not exist)", .0.display())]
    NothingCommitted(PathBuf),
    #[error("cannot read the committed state")]
    Unreadable(#[source] committed::CommittedError),
    /// The committed document does not validate (the reason).
    #[error("the committed state is not valid")]
    Invalid(String),
    #[error("cannot open netlink")]
    Netlink(#[source] DriverError),
}

impl RestoreError {
    /// The process exit code: 2 for a document that is not valid, else 1.
    pub fn exit_code(&self) -> i32 {
        match self {
            RestoreError::Invalid(_) => 2,
            _ => 1,
        }
    }
}

/// One unit of a restore (everything, or one network) and how it went.
pub type UnitResult = (String, Result<Report, ApplyError>);

/// The committed intent split into units: one per network (its devices, tables and
/// rules), then the rest (interfaces, routes, rules), so that one network whose NIC is
/// missing does not keep the others down.
fn units(intent: &Intent) -> Vec<(String, Intent)> {
    let mut claimed = BTreeSet::new();
    let mut out = Vec::new();
    for n in &intent.networks {
        let mut unit = Intent {
            networks: vec![n.clone()],
            persisted: intent.persisted.clone(),
            ..Intent::default()
        };
        for (name, li) in intent.links.iter().filter(|(_, li)| li.origin == n.origin) {
            unit.links.insert(name.clone(), li.clone());
            claimed.insert(name.clone());
        }
        out.push((format!("network {}", n.name), unit));
    }
    let mut rest = intent.clone();
    rest.networks.clear();
    rest.links.retain(|name, _| !claimed.contains(name));
    // Last: user routes and rules may need the networks' bridges.
    out.push(("interfaces, routes and rules".to_string(), rest));
    out
}

impl Session {
    /// Applies the committed state of this namespace with a crash journal (see the module
    /// documentation). `Ok` holds each unit's result; the record of what was applied is
    /// updated whatever they are.
    pub fn restore_committed(
        &self,
        discard_stale_journal: bool,
    ) -> Result<Vec<UnitResult>, RestoreError> {
        let dir = committed::lib_dir();
        let doc = match committed::load(&dir) {
            Ok(Some(d)) => d,
            Ok(None) => {
                let path = committed::path(&dir).unwrap_or_else(|_| PathBuf::from("?"));
                return Err(RestoreError::NothingCommitted(path));
            }
            Err(e) => return Err(RestoreError::Unreadable(e)),
        };
        let mut intent = validate(&doc)
            .map_err(|e| e.to_string())
            .and_then(|()| expand(&doc).map_err(|e| e.to_string()))
            .map_err(RestoreError::Invalid)?;
        let mut driver = LinuxDriver::new().map_err(RestoreError::Netlink)?;
        let state = self.state_dir().to_path_buf();
        if let Ok(a) = applied::load(&state) {
            a.reserve_others(&mut intent);
        }
        let opts = ApplyOptions {
            dry_run: false,
            journal: Some(state.clone()),
            discard_stale_journal,
        };
        // Everything at once when it can be planned; unit by unit when something is missing.
        let whole = super::apply(&mut driver, &intent, opts.clone(), |_, _| Ok(()));
        let results = match whole {
            Err(ApplyError::Plan(_)) => units(&intent)
                .into_iter()
                .map(|(label, unit)| {
                    let r = super::apply(&mut driver, &unit, opts.clone(), |_, _| Ok(()));
                    (label, r)
                })
                .collect(),
            other => vec![("everything".to_string(), other)],
        };
        let _ = applied::record(&state, &intent);
        Ok(results)
    }
}
