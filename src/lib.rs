//! hostnet: declarative network configuration for Linux virtualization hosts.
//!
//! The pipeline (see `docs/ARCHITECTURE.md`): YAML → [`model`] (parse + validate) →
//! [`expand`] (logical networks into kernel objects) → [`plan`] (diff against what the
//! driver reports) → [`engine`] (execute with an undo journal, verify, roll back) on a
//! [`netdev::Driver`].

pub mod cli;
pub mod devices;
pub mod dhcp;
pub mod engine;
pub mod expand;
pub mod files;
pub mod firewall;
pub mod model;
pub mod netdev;
pub mod ovs;
pub mod persist;
pub mod plan;
pub mod sandbox;
pub mod show;

/// An error and its causes on one line (`cannot write X: No space left on device`), for
/// messages: every error type here keeps its cause as `#[source]` instead of repeating it.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(cause) = src {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        src = cause.source();
    }
    s
}
