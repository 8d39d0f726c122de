//! hostnet: declarative network configuration for Linux virtualization hosts.
//!
//! The pipeline (see `docs/ARCHITECTURE.md`): YAML → [`model`] (parse + validate) →
//! [`expand`] (logical networks into kernel objects) → [`plan`] (diff against what the
//! driver reports) → [`engine`] (execute with an undo journal, verify, roll back) on a
//! [`netdev::Driver`].

pub mod cli;
pub mod dhcp;
pub mod engine;
pub mod expand;
pub mod model;
pub mod netdev;
pub mod persist;
pub mod plan;
pub mod sandbox;
pub mod show;
