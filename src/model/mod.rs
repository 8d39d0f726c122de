//! The input file: serde types for hostnet's YAML, nmstate-compatible where nmstate has a
//! word for the thing, plus hostnet's own `networks:` and `settings:`.
//!
//! `Option` means "not mentioned": partial editing leaves unmentioned things alone, so
//! the distinction between "absent" and "default" matters everywhere here. Defaults are
//! applied by [`crate::expand`], never by deserialization.
//!
//! Parsing ([`parse`]) rejects unknown keys and duplicate keys and reports the path of the
//! offending field; [`validate`] checks everything that needs more than one field.

pub mod alt_names;
mod base_keys;
pub mod bond_options;
pub mod bridge;
pub mod bridge_vlans;
pub mod devices;
pub mod dhcp_server;
mod doc_index;
mod nmstate_keys;
mod nmstate_tables;
pub mod ovs;
pub mod ovs_db_value;
pub mod ovs_global;
mod parse;
pub mod routes;
mod routing_types;
pub mod schema;
mod types;
pub mod validate;
mod validate_devices;
mod validate_firewall;
mod validate_kinds;
pub mod validate_source_routing;
pub mod vlan_aware;
pub mod vrf;

pub use alt_names::{AltNameSpec, AltNameState};
pub use devices::*;
pub use dhcp_server::{DhcpHostSpec, DhcpRange, DhcpServerSpec, LeaseTime};
pub use ovs_global::{OvnBridgeMappingSpec, OvnSpec, OvsGlobalDbSpec};
pub use parse::{parse, read_input, ParseError, MAX_INPUT_BYTES};
pub use types::*;
pub use validate::{validate, ValidationError, ValidationErrors};
