//! hostnet: declarative network configuration for Linux virtualization hosts.
//!
//! The pipeline (see `docs/ARCHITECTURE.md`): YAML → [`model`] (parse + validate) →
//! [`expand`] (logical networks into kernel objects) → [`plan`] (diff against what the
//! driver reports) → [`engine`] (execute with an undo journal, verify, roll back) on a
//! [`netdev::Driver`].

pub mod netdev;
pub mod model;
pub mod expand;
pub mod plan;
pub mod engine;
pub mod show;
pub mod cli;
