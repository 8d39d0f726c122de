//! An in-memory kernel: the [`Driver`] that `--dry-run` and the pure tests run on.
//!
//! It enforces the rules of the real kernel that plans depend on: unique names, a port
//! has one bridge and the bridge must exist, addresses and routes need their device,
//! routes need their device up and their gateway on a connected subnet, duplicates are
//! EEXIST, deleting what is gone succeeds, deleting a device takes its addresses, routes
//! and veth peer with it, and deleting addresses takes the routes the kernel drops with
//! them ([`addresses_gone`]). It does not model what hostnet never asks for.

use super::bridge_mtu::Marks;
use super::firewall::FirewallDriver;
use super::model_bridge as bridge;
use super::{Address, Driver, DriverError, KernelState, Link, LinkKind, MacAddr, Op, Route, Rule};

use addr::addresses_gone;
pub use addr::{delete_address, delete_addresses};

/// Predicate that makes the model reject an op, for failure-injection tests.
pub type FailWhen = Box<dyn Fn(&Op) -> bool + Send>;

/// The in-memory kernel.
pub struct ModelDriver {
    state: KernelState,
    /// Which bridges' MTU was set by hand, so that the others follow their ports.
    marks: Marks,
    fail_when: Option<FailWhen>,
    macs: mac::BridgeMacs,
    /// Number of ops executed (for "re-apply writes nothing" tests).
    pub ops_executed: usize,
}

const EEXIST: i32 = libc::EEXIST;
const ENODEV: i32 = libc::ENODEV;
const ENETDOWN: i32 = libc::ENETDOWN;
const EINVAL: i32 = libc::EINVAL;
const ENETUNREACH: i32 = libc::ENETUNREACH;

impl ModelDriver {
    pub fn new(state: KernelState) -> ModelDriver {
        ModelDriver {
            macs: mac::BridgeMacs::from_state(&state),
            marks: Marks::new(&state),
            state,
            fail_when: None,
            ops_executed: 0,
        }
    }

    /// A fresh namespace: only `lo`, up.
    pub fn fresh_namespace() -> ModelDriver {
        let mut s = KernelState::default();
        s.links.insert(
            "lo".into(),
            Link {
                name: "lo".into(),
                kind: LinkKind::Loopback,
                up: true,
                mtu: 65536,
                mac: None,
                controller: None,
            },
        );
        ModelDriver::new(s)
    }

    /// Makes every op for which `pred` is true fail with EINVAL.
    pub fn fail_when(&mut self, pred: impl Fn(&Op) -> bool + Send + 'static) {
        self.fail_when = Some(Box::new(pred));
    }

    pub fn state(&self) -> &KernelState {
        &self.state
    }

    /// The bridges whose MTU is known to be set by hand (recorded in the state it started
    /// from, or set to another value since): the kernel keeps theirs.
    pub fn bridge_mtu_set(&self) -> &std::collections::BTreeSet<String> {
        self.marks.known()
    }

    fn apply(&mut self, op: &Op) -> Result<(), DriverError> {
        let reject = rejecter(op);
        if self.fail_when.as_ref().is_some_and(|f| f(op)) {
            return Err(reject(EINVAL, "injected failure"));
        }
        if op.is_dhcp_server() {
            return crate::netdev::dnsmasq::model::apply(&mut self.state, op).map_err(|reason| {
                DriverError::Model {
                    op: format!("{} {op}", op.verb()),
                    reason,
                }
            });
        }
        let s = &mut self.state;
        match op {
            Op::Ovs(o) => {
                ovs::apply(s, o).map_err(|m| reject(EINVAL, &m))?;
            }
            Op::CreateLink(l) => link::create(s, op, l)?,
            Op::ChangeLink { name, change } => link::change(s, op, name, change)?,
            Op::DeleteLink { name } => link::delete(s, name),
            Op::AddAddress(a) => add_address(s, op, a)?,
            Op::DeleteAddress(a) => delete_address(s, a),
            Op::AddRoute(r) => add_route(s, op, r)?,
            Op::DeleteRoute(r) => delete_route(s, r),
            Op::AddRule(r) => add_rule(s, op, r)?,
            Op::DeleteRule(r) => delete_rule(s, r),
            Op::BridgeVlans { name, vlans, add } => {
                bridge::vlans(s, name, vlans, *add).map_err(|(e, m)| reject(e, m))?;
            }
            Op::AltName { name, alt, add } => {
                alt::apply(s, name, alt, *add).map_err(|(e, m)| reject(e, m))?;
            }
            Op::Firewall(fw) => {
                // Its one refusal is a sysctl the kernel lacks.
                firewall::ModelFirewall(&mut s.firewall)
                    .execute(&[&**fw])
                    .map_err(|_| reject(libc::ENOENT, "no such sysctl"))?;
            }
            // Handled above.
            Op::ConfigureDhcpServer { .. }
            | Op::StartDhcpServer { .. }
            | Op::StopDhcpServer { .. }
            | Op::AddDhcpHost { .. }
            | Op::RemoveDhcpHost { .. } => {}
        }
        Ok(())
    }
}

/// The error for `op` refused by the kernel with `errno` and `msg`.
fn rejecter(op: &Op) -> impl Fn(i32, &str) -> DriverError + '_ {
    move |errno, msg| DriverError::Rejected {
        op: format!("{} {op}", op.verb()),
        errno,
        message: Some(msg.to_string()),
    }
}

fn add_address(s: &mut KernelState, op: &Op, a: &Address) -> Result<(), DriverError> {
    let reject = rejecter(op);
    if !s.links.contains_key(&a.ifname) {
        return Err(reject(ENODEV, "no such device"));
    }
    if a.addr.addr().is_ipv6() && s.ipv6_disabled.contains(&a.ifname) {
        return Err(reject(libc::EACCES, "IPv6 is disabled on this device"));
    }
    if s.addresses
        .iter()
        .any(|x| x.ifname == a.ifname && x.addr.addr() == a.addr.addr())
    {
        return Err(reject(EEXIST, "address exists"));
    }
    s.addresses.push(a.clone());
    Ok(())
}

fn add_route(s: &mut KernelState, op: &Op, r: &Route) -> Result<(), DriverError> {
    let reject = rejecter(op);
    if s.routes.iter().any(|x| x.same_key(r)) {
        return Err(reject(EEXIST, "route exists"));
    }
    for d in r.devices() {
        match s.links.get(d) {
            None => return Err(reject(ENODEV, "no such device")),
            Some(l) if !l.up => return Err(reject(ENETDOWN, "device is down")),
            Some(_) => {}
        }
    }
    let mut route = r.clone();
    let v6 = r.destination.addr().is_ipv6();
    if r.attrs.kind != crate::netdev::RouteKind::Unicast {
        if r.gateway.is_some() || (r.dev.is_some() && !v6) {
            return Err(reject(EINVAL, "a route of this type has no next hop"));
        }
        // IPv6 keeps such a route on the loopback device.
        if v6 {
            route.dev = Some("lo".into());
        }
    }
    if let Some(gw) = r.gateway.filter(|_| !r.attrs.onlink) {
        let Some(dev) = gateway_device(s, r, gw) else {
            return Err(reject(ENETUNREACH, "Nexthop has invalid gateway"));
        };
        route.dev = Some(dev);
    }
    for h in &r.attrs.nexthops {
        let Some(gw) = h.gateway.filter(|_| !h.onlink) else {
            continue;
        };
        let one = Route {
            dev: h.dev.clone(),
            ..r.clone()
        };
        if gateway_device(s, &one, gw).is_none() {
            return Err(reject(ENETUNREACH, "Nexthop has invalid gateway"));
        }
    }
    if let Some(src) = r.src {
        if !s.addresses.iter().any(|a| a.addr.addr() == src) {
            return Err(reject(EINVAL, "Invalid prefsrc address"));
        }
    }
    s.routes.push(route);
    Ok(())
}

fn delete_route(s: &mut KernelState, r: &Route) {
    // Without a device the kernel deletes the entry whatever its device.
    if let Some(i) = s.routes.iter().position(|x| {
        x.same_key(r)
            && x.gateway == r.gateway
            && (r.dev.is_none() || x.dev == r.dev)
            && x.attrs.kind == r.attrs.kind
    }) {
        s.routes.remove(i);
    }
}

fn add_rule(s: &mut KernelState, op: &Op, r: &Rule) -> Result<(), DriverError> {
    let reject = rejecter(op);
    if let crate::netdev::RuleAction::Goto(target) = r.action {
        if target <= r.priority {
            return Err(reject(EINVAL, "Backward goto not supported"));
        }
    }
    if s.rules.iter().any(|x| r.kernel_duplicate(x)) {
        return Err(reject(EEXIST, "rule exists"));
    }
    s.rules.push(r.clone());
    Ok(())
}

fn delete_rule(s: &mut KernelState, r: &Rule) {
    // The kernel removes the first rule its selectors match; the model,
    // which keeps no kernel order, prefers the rule itself.
    let i = s
        .rules
        .iter()
        .position(|x| x == r)
        .or_else(|| s.rules.iter().position(|x| r.kernel_delete_matches(x)));
    if let Some(i) = i {
        s.rules.remove(i);
    }
}

/// The kernel keeps a stacked device's MTU within its base's.
fn check_stacked_mtu(s: &KernelState, kind: &LinkKind, base: &str, mtu: u32) -> Result<(), String> {
    match s.links.get(base) {
        Some(b) if mtu > b.mtu.saturating_sub(kind.mtu_headroom()) => Err(format!(
            "MTU {mtu} is above what base {base} (MTU {}) allows",
            b.mtu
        )),
        _ => Ok(()),
    }
}

fn is_bond(s: &KernelState, name: &str) -> bool {
    s.links
        .get(name)
        .is_some_and(|l| matches!(l.kind, LinkKind::Bond(_)))
}

fn check_controller(s: &KernelState, c: &str) -> Result<(), String> {
    match s.links.get(c) {
        Some(l) if l.kind.is_controller() => Ok(()),
        Some(_) => Err(format!("{c} is not a bridge or bond")),
        None => Err(format!("controller {c} does not exist")),
    }
}

/// The device through which route `r` reaches gateway `gw`, if any: the kernel gives a
/// route without a device that one.
fn gateway_device(s: &KernelState, r: &Route, gw: std::net::IpAddr) -> Option<String> {
    let on_dev = |name: &str| r.dev.as_deref().is_none_or(|d| d == name);
    let up = |name: &str| s.links.get(name).is_some_and(|l| l.up);
    s.addresses
        .iter()
        .find(|a: &&Address| on_dev(&a.ifname) && up(&a.ifname) && a.addr.contains(&gw))
        .map(|a| a.ifname.clone())
        .or_else(|| {
            s.routes
                .iter()
                .filter(|x: &&Route| x.gateway.is_none() && x.destination.contains(&gw))
                .find_map(|x| x.dev.clone().filter(|d| on_dev(d)))
        })
}

/// A locally administered MAC derived from the name, so that model runs are repeatable.
fn fake_mac(name: &str) -> MacAddr {
    let mut h: u32 = 0x811c_9dc5;
    for b in name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let b = h.to_be_bytes();
    MacAddr([0x02, 0x00, b[0], b[1], b[2], b[3]])
}

impl Driver for ModelDriver {
    fn query(&mut self) -> Result<KernelState, DriverError> {
        let mut s = self.state.clone();
        s.normalize();
        Ok(s)
    }

    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        let mut out = Vec::with_capacity(ops.len());
        let mut rest = ops;
        while let Some(op) = rest.first() {
            // Failure injection decides op by op.
            let n = if self.fail_when.is_none() {
                batch::run_len(rest)
            } else {
                0
            };
            if n > 1 {
                batch::execute(self, &rest[..n]);
                self.ops_executed += n;
                out.extend((0..n).map(|_| Ok(())));
                rest = &rest[n..];
            } else {
                out.push(self.execute_one(op));
                rest = &rest[1..];
            }
        }
        out
    }

    fn name(&self) -> &'static str {
        "model"
    }
}

impl ModelDriver {
    fn execute_one(&mut self, op: &Op) -> Result<(), DriverError> {
        self.ops_executed += 1;
        let pending = self.marks.before(&self.state, op);
        let touched = mac::BridgeMacs::touched(&self.state, op);
        let links = sysctl::before(&self.state, op);
        // A link that moves from one bridge to another leaves the first: its port
        // settings and VLANs go, the second gives it the defaults.
        let moving = match op {
            Op::ChangeLink { name, change } => {
                let now = self
                    .state
                    .links
                    .get(name)
                    .and_then(|l| l.controller.clone());
                change.controller.as_ref().is_some_and(|c| *c != now)
            }
            _ => false,
        };
        let result = self.apply(op);
        if result.is_ok() {
            self.marks.after(&mut self.state, pending);
            self.macs.after(&mut self.state, op, &touched);
            sysctl::after(&mut self.state, op, links);
            base::after(&mut self.state, op);
        }
        if let (Op::ChangeLink { name, .. }, true, Ok(())) = (op, moving, &result) {
            self.state.bridge_ports.remove(name);
            self.state.bridge_vlans.remove(name);
        }
        let joins_or_leaves = match op {
            Op::DeleteLink { .. } => true,
            Op::ChangeLink { change, .. } => change.controller.is_some(),
            _ => false,
        };
        if joins_or_leaves {
            bridge::sync_ports(&mut self.state);
        }
        if let (Op::CreateLink(l), Ok(())) = (op, &result) {
            bridge::join_ports(&mut self.state, base::created(l));
        }
        if let (Op::CreateLink(l), Ok(())) = (op, &result) {
            bridge::new_bridge_vlans(&mut self.state, &l.name);
        }
        result
    }
}

#[path = "model_addr.rs"]
mod addr;
#[path = "model_alt.rs"]
pub mod alt;
#[path = "model_base.rs"]
pub mod base;
#[path = "model_batch.rs"]
mod batch;
#[path = "model_firewall.rs"]
mod firewall;
#[path = "model_link.rs"]
mod link;
#[path = "model_mac.rs"]
mod mac;
#[path = "model_ovs.rs"]
mod ovs;
#[path = "model_sysctl.rs"]
mod sysctl;

#[cfg(test)]
#[path = "model_tests.rs"]
mod tests;
