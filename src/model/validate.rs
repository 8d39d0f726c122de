//! Checks that need more than one field, run on the whole document before anything is
//! planned. Every problem is collected (not only the first) and names its field.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

use super::doc_index::DocIndex;
use super::types::*;
use crate::netdev::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};

/// Default range that derived source-routing table ids are taken from.
pub const DEFAULT_TABLE_RANGE: [u32; 2] = [1000, 9999];
/// Default priority of source-routing rules.
pub const DEFAULT_RULE_PRIORITY: u32 = 3200;
/// Longest interface name Linux accepts (IFNAMSIZ - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// One problem with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Path of the field, e.g. `networks[1].ipv4.gateway`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every problem found, in document order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ValidationErrors(pub Vec<ValidationError>);

impl fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// The one validator style: every check pushes (path, message) here, in document order.
#[derive(Default)]
pub(super) struct Errors(pub(super) Vec<ValidationError>);

impl Errors {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Checks an interface name the way the kernel's `dev_valid_name` does, minus the
/// characters that are legal there but break tools (`:` is alias syntax).
pub fn check_ifname(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("interface name is empty".into());
    }
    if name.len() > MAX_IFNAME_LEN {
        return Err(format!(
            "interface name {name:?} is {} bytes long; Linux allows at most {MAX_IFNAME_LEN}",
            name.len()
        ));
    }
    if name.starts_with('-') {
        // ovs-vsctl and other tools would read it as an option.
        return Err(format!("interface name {name:?} starts with '-'"));
    }
    if name == "." || name == ".." {
        return Err(format!("{name:?} is not a valid interface name"));
    }
    // The kernel refuses these: they name the per-protocol sysctl directories
    // (`net.ipv4.conf.all`, `.default`) every device gets one of.
    if name == "all" || name == "default" {
        return Err(format!(
            "{name:?} is reserved by the kernel (net.ipv4.conf.{name}); it cannot name an interface"
        ));
    }
    if name.contains('%') {
        // `%d` is a template the kernel fills with the first free number: the device made
        // would not have the name asked for.
        return Err(format!(
            "interface name {name:?} contains '%', which the kernel treats as a template (a%d becomes a0)"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| *c == '/' || *c == ':' || c.is_whitespace() || c.is_control() || !c.is_ascii())
    {
        return Err(format!(
            "interface name {name:?} contains the invalid character {c:?}"
        ));
    }
    Ok(())
}

fn check_network_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("network name is empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "network name {name:?} contains {c:?}; use lowercase letters, digits and '-'"
        ));
    }
    Ok(())
}

fn check_mtu(errs: &mut Errors, path: &str, mtu: Option<u32>) {
    if let Some(m) = mtu {
        // 65536 is loopback's default; the device type enforces its own ceiling.
        if !(68..=65536).contains(&m) {
            errs.push(path, format!("MTU {m} is out of range (68 to 65536)"));
        }
    }
}

fn check_kind_mtu(errs: &mut Errors, path: &str, mtu: Option<u32>, kind: &str, max: Option<u32>) {
    if let (Some(m), Some(max)) = (mtu, max) {
        if m > max {
            errs.push(
                path,
                format!("MTU {m} is above what a {kind} allows ({max})"),
            );
        }
    }
}

fn reserved_table(t: u32) -> Option<&'static str> {
    match t {
        0 => Some("0 (unspecified)"),
        TABLE_DEFAULT => Some("253 (default)"),
        TABLE_MAIN => Some("254 (main)"),
        TABLE_LOCAL => Some("255 (local)"),
        _ => None,
    }
}

/// Why an address cannot be managed on an interface, if it cannot.
fn unassignable(ip: &IpAddr, loopback: bool) -> Option<&'static str> {
    if ip.is_unspecified() || ip.is_multicast() {
        return Some("cannot be assigned to an interface");
    }
    if ip.is_loopback() && !loopback {
        return Some("is a loopback address; only the loopback device can have it");
    }
    if let IpAddr::V6(v6) = ip {
        if v6.segments()[0] & 0xffc0 == 0xfe80 {
            return Some("is link-local; the kernel makes and owns those");
        }
    }
    None
}

fn has_host_bits(net: &IpNet) -> bool {
    net.addr() != net.network()
}

fn is_v4(a: &IpAddr) -> bool {
    a.is_ipv4()
}

/// Validates a parsed document.
pub fn validate(d: &Desired) -> Result<(), ValidationErrors> {
    let mut errs = Errors::default();
    let ix = DocIndex::new(d);
    let iface_names = validate_interfaces(&mut errs, d, &ix);
    validate_routes(&mut errs, d);
    validate_rules(&mut errs, d);
    validate_networks(&mut errs, d, &iface_names, &ix);
    for (i, iface) in d.interfaces.iter().enumerate() {
        super::validate_devices::check_interface(&mut errs, &ix, i, iface);
        super::bridge::check(&mut errs, &format!("interfaces[{i}]"), iface);
        super::bridge_vlans::check(&mut errs, &format!("interfaces[{i}]"), iface);
        super::ovs::check_ovs(&mut errs, &ix, i, iface);
    }
    super::validate_devices::check_port_owners(&mut errs, d);
    super::validate_kinds::check_shared_bases(&mut errs, d);
    super::vrf::check(&mut errs, d);
    super::ovs_global::check(&mut errs, d.ovs_db.as_ref(), d.ovn.as_ref());
    super::base_keys::check(&mut errs, d);
    super::alt_names::check(&mut errs, d);
    super::routes::check(&mut errs, d);
    for (i, n) in d.networks.iter().enumerate() {
        super::validate_devices::check_network(&mut errs, i, n);
    }
    super::vlan_aware::check(&mut errs, d);
    super::validate_firewall::check(&mut errs, d);
    super::validate_source_routing::check(&mut errs, d);
    if errs.0.is_empty() {
        Ok(())
    } else {
        Err(ValidationErrors(errs.0))
    }
}

#[path = "validate_interfaces.rs"]
mod interfaces;
#[path = "validate_networks.rs"]
mod networks;
#[path = "validate_routing.rs"]
mod routing;

use interfaces::validate_interfaces;
use networks::validate_networks;
use routing::{validate_routes, validate_rules};

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
