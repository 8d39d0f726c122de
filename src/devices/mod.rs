//! The device API for host agents that plug guests in directly: the calls the old nova
//! `linux_net` exposed, each an idempotent *ensure*. Every call is a small desired state
//! applied through the same engine as `hostnet apply` — planned against what the kernel
//! has, executed with an undo journal, verified, and rolled back on failure — so a
//! second call with the same arguments changes nothing, and a failed call leaves the
//! host as it was.
//!
//! The functions take any [`Driver`]: [`crate::netdev::linux::LinuxDriver`] on a host,
//! [`crate::netdev::model::ModelDriver`] in tests and in the examples below, which run
//! without root:
//!
//! ```
//! use hostnet::devices;
//! use hostnet::netdev::model::ModelDriver;
//! # fn main() -> Result<(), devices::DeviceError> {
//! let mut host = ModelDriver::fresh_namespace();
//! devices::create_veth_pair(&mut host, "uplink0", "wire0", Some(1500))?;
//! devices::ensure_vlan_bridge(&mut host, 100, "br100", "uplink0", Some(1400))?;
//! devices::create_tap(&mut host, "vnet0", &Default::default())?;
//! devices::ensure_bridge(&mut host, "br100", None)?; // already there: no change
//! assert!(devices::device_exists(&mut host, "uplink0.100")?);
//! devices::delete_device(&mut host, "vnet0")?;
//! assert!(!devices::device_exists(&mut host, "vnet0")?);
//! # Ok(()) }
//! ```

mod bridge;

pub use bridge::ensure_bridge;

use std::time::Duration;

use crate::engine::lock::LockError;
use crate::engine::session::Session;
use crate::engine::ApplyError;
use crate::expand::{expand, vlan_device, ExpandError, Intent};
use crate::model::{validate, Desired, ValidationErrors};
use crate::netdev::linux::LinuxDriver;
use crate::netdev::{Driver, DriverError, KernelState, TapOptions};

/// Why a device call failed. Nothing was changed unless it says so
/// ([`ApplyError::RollbackIncomplete`]).
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("invalid arguments: {0}")]
    Invalid(#[from] ValidationErrors),
    #[error("invalid arguments: {0}")]
    Expand(#[from] ExpandError),
    #[error("cannot read the kernel's state")]
    Query(#[source] DriverError),
    #[error("{}", .0.details().join("; "))]
    Apply(#[from] ApplyError),
    #[error("device {0} does not exist")]
    NoSuchDevice(String),
    #[error("cannot build the request: {0}")]
    Build(String),
    #[error("cannot take the hostnet lock")]
    Lock(#[from] LockError),
    #[error("cannot open netlink")]
    Netlink(#[source] DriverError),
}

/// The calling thread's network namespace, held for a sequence of device calls: its
/// hostnet lock is taken (so no `hostnet apply`, DHCP event or monitor round runs in
/// between, and none of them starts until the `Host` is dropped), with a netlink driver
/// to pass to the calls.
///
/// The calls keep no crash journal: each is small, and one that dies midway is undone by
/// calling it again or by its inverse (`delete_device`).
pub struct Host {
    _session: Session,
    driver: LinuxDriver,
}

impl Host {
    /// Takes the namespace's lock, waiting up to `lock_timeout`, and opens netlink. The
    /// records of other namespaces are left alone (a command's session cleans them).
    pub fn open(lock_timeout: Duration) -> Result<Host, DeviceError> {
        let session = Session::lock(lock_timeout)?;
        let driver = LinuxDriver::new().map_err(DeviceError::Netlink)?;
        Ok(Host {
            _session: session,
            driver,
        })
    }

    /// The driver for the device calls.
    pub fn driver(&mut self) -> &mut LinuxDriver {
        &mut self.driver
    }
}

/// Applies a document given as JSON in the input schema (the same keys as the YAML).
fn apply_json(driver: &mut dyn Driver, doc: serde_json::Value) -> Result<(), DeviceError> {
    let desired: Desired =
        serde_json::from_value(doc).map_err(|e| DeviceError::Build(e.to_string()))?;
    validate(&desired)?;
    apply_intent(driver, &expand(&desired)?)
}

/// One call's change, through the engine's session (planned, verified, rolled back on
/// failure). The lock is the caller's to hold ([`Host`]): the driver may be a model.
fn apply_intent(driver: &mut dyn Driver, intent: &Intent) -> Result<(), DeviceError> {
    Session::unlocked().converge(driver, intent)?;
    Ok(())
}

fn state(driver: &mut dyn Driver) -> Result<KernelState, DeviceError> {
    driver.query().map_err(DeviceError::Query)
}

/// Whether a network device called `name` exists.
pub fn device_exists(driver: &mut dyn Driver, name: &str) -> Result<bool, DeviceError> {
    Ok(state(driver)?.links.contains_key(name))
}

/// Deletes device `name` (a veth pair as a whole); nothing to do when it is gone.
pub fn delete_device(driver: &mut dyn Driver, name: &str) -> Result<(), DeviceError> {
    apply_json(
        driver,
        serde_json::json!({"interfaces": [{"name": name, "state": "absent"}]}),
    )
}

/// Sets the MTU of existing device `name`.
pub fn set_mtu(driver: &mut dyn Driver, name: &str, mtu: u32) -> Result<(), DeviceError> {
    let s = state(driver)?;
    let link = s
        .links
        .get(name)
        .ok_or_else(|| DeviceError::NoSuchDevice(name.to_string()))?;
    apply_json(
        driver,
        serde_json::json!({"interfaces": [{
            "name": name,
            "type": link.kind.type_name(),
            "state": if link.up { "up" } else { "down" },
            "mtu": mtu,
        }]}),
    )
}

/// Ensures the veth pair `a`–`b` exists, both ends up (with `mtu` when given).
pub fn create_veth_pair(
    driver: &mut dyn Driver,
    a: &str,
    b: &str,
    mtu: Option<u32>,
) -> Result<(), DeviceError> {
    if device_exists(driver, a)? {
        // The peer may have been moved to a guest's namespace since: only `a` is ours.
        return apply_json(
            driver,
            serde_json::json!({"interfaces": [{"name": a, "type": "veth", "mtu": mtu}]}),
        );
    }
    apply_json(
        driver,
        serde_json::json!({"interfaces": [
            {"name": a, "type": "veth", "veth": {"peer": b}, "mtu": mtu},
            {"name": b, "type": "veth", "veth": {"peer": a}, "mtu": mtu},
        ]}),
    )
}

/// Ensures the persistent tap `name` exists, up, with `options`.
pub fn create_tap(
    driver: &mut dyn Driver,
    name: &str,
    options: &TapOptions,
) -> Result<(), DeviceError> {
    apply_json(
        driver,
        serde_json::json!({"interfaces": [{
            "name": name,
            "type": "tap",
            "tap": {
                "owner": options.owner,
                "group": options.group,
                "multi-queue": options.multi_queue,
                "persistent": options.persistent,
            },
        }]}),
    )
}

/// Ensures VLAN `vlan_id` on `base` exists and is up (`BASE.ID`, as `networks[].vlan`
/// names it), with `mtu` when given; `base` is brought up. Returns its name.
pub fn ensure_vlan(
    driver: &mut dyn Driver,
    vlan_id: u16,
    base: &str,
    mtu: Option<u32>,
) -> Result<String, DeviceError> {
    let name = vlan_device(base, u32::from(vlan_id));
    let s = state(driver)?;
    let base_type = s
        .links
        .get(base)
        .map(|l| l.kind.type_name().to_string())
        .ok_or_else(|| DeviceError::NoSuchDevice(base.to_string()))?;
    apply_json(
        driver,
        serde_json::json!({"interfaces": [
            {"name": base, "type": base_type, "state": "up"},
            {"name": name, "type": "vlan", "mtu": mtu,
             "vlan": {"base-iface": base, "id": vlan_id}},
        ]}),
    )?;
    Ok(name)
}

/// Ensures VLAN `vlan_id` on `base` and bridge `bridge` with that VLAN as its uplink
/// (see [`ensure_bridge`]). Returns the VLAN device's name.
pub fn ensure_vlan_bridge(
    driver: &mut dyn Driver,
    vlan_id: u16,
    bridge: &str,
    base: &str,
    mtu: Option<u32>,
) -> Result<String, DeviceError> {
    let vlan = ensure_vlan(driver, vlan_id, base, mtu)?;
    ensure_bridge(driver, bridge, Some(&vlan))?;
    Ok(vlan)
}

/// Ensures `port` is a port of the existing Open vSwitch bridge `bridge` with
/// `settings` (VLANs, internal, a patch peer or bond members, external_ids such as
/// `iface-id`, `attached-mac`, `vm-uuid`); a port elsewhere moves. A missing bridge is an error
/// ([`ApplyError::Plan`]), never created here.
pub fn create_ovs_port(
    driver: &mut dyn Driver,
    bridge: &str,
    port: &str,
    settings: &crate::ovs::OvsPort,
) -> Result<(), DeviceError> {
    let mut intent = Intent::default();
    let mut b = crate::ovs::OvsBridgeIntent {
        origin: format!("create_ovs_port({bridge}, {port})"),
        must_exist: true,
        ..Default::default()
    };
    b.add_ports.insert(
        port.to_string(),
        crate::ovs::OvsPortIntent {
            origin: b.origin.clone(),
            tag: Some(settings.tag),
            vlan_mode: settings.vlan_mode.clone(),
            trunks: settings.trunks.clone(),
            internal: settings.internal,
            patch_peer: settings.patch_peer.clone(),
            bond: settings.bond.as_ref().map(|b| crate::ovs::OvsBondIntent {
                members: b.members.clone(),
                mode: Some((b.mode.clone(), b.lacp.clone())),
                updelay: Some(b.updelay),
                downdelay: Some(b.downdelay),
                external_ids: Some(b.external_ids.clone()),
                other_config: Some(b.other_config.clone()),
            }),
            external_ids: Some(settings.external_ids.clone()),
            other_config: Some(settings.other_config.clone()),
        },
    );
    intent.ovs.bridges.insert(bridge.to_string(), b);
    apply_intent(driver, &intent)
}

/// Ensures `port` is not a port of Open vSwitch bridge `bridge`.
pub fn delete_ovs_port(
    driver: &mut dyn Driver,
    bridge: &str,
    port: &str,
) -> Result<(), DeviceError> {
    driver.consider_ovs(true);
    if !state(driver)?.ovs.bridges.contains_key(bridge) {
        return Ok(());
    }
    let mut intent = Intent::default();
    intent.ovs.bridges.insert(
        bridge.to_string(),
        crate::ovs::OvsBridgeIntent {
            origin: format!("delete_ovs_port({bridge}, {port})"),
            must_exist: true,
            remove_ports: vec![port.to_string()],
            ..Default::default()
        },
    );
    apply_intent(driver, &intent)
}

#[cfg(test)]
mod tests;
