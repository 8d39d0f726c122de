//! Planning of the OVS section: from the current [`OvsState`] to an [`OvsIntent`], to a
//! recorded state (rollback), and the inverse of each op (journal). All OVS ops of a
//! plan are in one phase, so they go to OVSDB as one transaction: removals first.

use std::collections::BTreeMap;

use super::PlanError;
use crate::expand::LinkIntent;
use crate::model::IfaceState;
use crate::netdev::Link;
use crate::ovs::{
    OvsBondIntent, OvsBridgeOptions, OvsIntent, OvsOp, OvsPort, OvsPortIntent, OvsState,
};

/// Sorts removals before additions before changes, keeping order within each.
fn ordered(mut ops: Vec<OvsOp>) -> Vec<OvsOp> {
    ops.sort_by_key(|op| match op {
        OvsOp::DelPort { .. } => 0,
        OvsOp::DelBridge { .. } => 1,
        OvsOp::AddBridge { .. } => 2,
        OvsOp::AddPort { .. } => 3,
        OvsOp::SetPort { .. } => 4,
        OvsOp::SetBridge { .. } => 5,
        OvsOp::SetGlobal { .. } | OvsOp::SetRowKey { .. } => 6,
    });
    ops
}

struct Ctx<'a> {
    current: &'a OvsState,
    links: &'a BTreeMap<String, Link>,
    link_intents: &'a BTreeMap<String, LinkIntent>,
    ids: &'a BTreeMap<String, (String, BTreeMap<String, String>)>,
    other: &'a BTreeMap<String, (String, BTreeMap<String, String>)>,
    ops: Vec<OvsOp>,
    errors: Vec<PlanError>,
}

impl Ctx<'_> {
    fn device_will_exist(&self, name: &str) -> bool {
        let declared = self.link_intents.get(name);
        match declared {
            Some(li) if li.state == IfaceState::Absent => false,
            Some(li) if li.kind.is_some() => true,
            _ => self.links.contains_key(name),
        }
    }

    /// Refuses to delete `port` of `bridge` when it carries what hostnet does not model:
    /// a rollback could not put it back as it was.
    fn refuse_unmodelled_port(&mut self, bridge: &str, port: &str, origin: &str) {
        let what = self
            .current
            .bridges
            .get(bridge)
            .and_then(|b| b.ports.get(port))
            .and_then(|p| p.unmodelled.clone());
        if let Some(what) = what {
            self.errors.push(PlanError {
                path: origin.to_string(),
                message: format!(
                    "port {port} of {bridge} has {what}, which hostnet does not model and could not \
                     restore on rollback; remove it with ovs-vsctl"
                ),
            });
        }
    }

    /// Refuses to delete `bridge` when it, or a port on it, carries what hostnet does not
    /// model, or when it has ports hostnet did not create that this file does not remove
    /// (`state: absent`): they belong to someone else.
    fn refuse_bridge_delete(&mut self, bridge: &str, origin: &str) {
        let Some(b) = self.current.bridges.get(bridge) else {
            return;
        };
        let mut why = Vec::new();
        if let Some(what) = &b.unmodelled {
            why.push(what.clone());
        }
        let removed = |p: &str| {
            self.link_intents
                .get(p)
                .is_some_and(|l| l.state == IfaceState::Absent)
        };
        for (name, p) in &b.ports {
            if let Some(what) = &p.unmodelled {
                why.push(format!("port {name} with {what}"));
            } else if !p.managed && !removed(name) {
                why.push(format!("port {name}, which hostnet did not create"));
            }
        }
        if !why.is_empty() {
            self.errors.push(PlanError {
                path: origin.to_string(),
                message: format!(
                    "Open vSwitch bridge {bridge} has {}; hostnet does not delete it (a rollback \
                     could not restore that), remove those first",
                    why.join("; ")
                ),
            });
        }
    }

    /// Makes `port` a port of `bridge` with `want`'s settings.
    fn ensure_port(&mut self, bridge: &str, bridge_is_new: bool, port: &str, want: &OvsPortIntent) {
        let ids = want
            .external_ids
            .clone()
            .or_else(|| self.ids.get(port).map(|(_, m)| m.clone()));
        let other = want
            .other_config
            .clone()
            .or_else(|| self.other.get(port).map(|(_, m)| m.clone()));
        let here = (!bridge_is_new)
            .then(|| self.current.bridges.get(bridge))
            .flatten()
            .and_then(|b| b.ports.get(port));
        if let Some(b) = &want.bond {
            if !self.bond_members_ready(port, b, &want.origin) {
                return;
            }
        }
        let Some(have) = here else {
            return self.add_port(bridge, port, want, (ids, other));
        };
        if kind(have) != want_kind(want) {
            self.errors.push(PlanError {
                path: want.origin.clone(),
                message: format!(
                    "port {port} of {bridge} exists as {}, not as {}; remove it first",
                    kind(have),
                    want_kind(want)
                ),
            });
            return;
        }
        // Unmentioned settings stay as another agent set them; VLAN and bond settings
        // that OVS reads alike stay as they are written.
        let mut settings = OvsPort {
            internal: want.internal,
            patch_peer: want.patch_peer.clone(),
            bond: want
                .bond
                .as_ref()
                .map(|b| b.merged(have.bond.as_ref()))
                .or(have.bond.clone()),
            external_ids: ids.unwrap_or_else(|| have.external_ids.clone()),
            other_config: other.unwrap_or_else(|| have.other_config.clone()),
            ..have.clone()
        };
        if let Some(tag) = want.tag {
            let vlans = OvsPort {
                tag,
                vlan_mode: want.vlan_mode.clone(),
                trunks: want.trunks.clone(),
                ..OvsPort::default()
            };
            if !vlans.same_vlans(have) {
                settings.tag = vlans.tag;
                settings.vlan_mode = vlans.vlan_mode;
                settings.trunks = vlans.trunks;
            }
        }
        let members = |p: &OvsPort| p.bond.as_ref().map(|b| b.members.clone());
        if members(&settings) != members(have) {
            // A bond has no device of its own: other members make it again.
            self.ops.push(OvsOp::DelPort {
                bridge: bridge.to_string(),
                port: port.to_string(),
            });
            self.ops.push(OvsOp::AddPort {
                bridge: bridge.to_string(),
                port: port.to_string(),
                settings,
            });
        } else if settings != *have {
            self.ops.push(OvsOp::SetPort {
                port: port.to_string(),
                settings,
            });
        }
    }

    /// Adds `port` (not on `bridge` yet), moving it from another bridge.
    fn add_port(&mut self, bridge: &str, port: &str, want: &OvsPortIntent, (ids, other): (Db, Db)) {
        let device = !want.internal && want.patch_peer.is_none() && want.bond.is_none();
        if device && !self.device_will_exist(port) {
            self.errors.push(PlanError {
                path: want.origin.clone(),
                message: format!(
                    "{port} does not exist; an OVS port that is not internal must be an existing device \
                     (declare it as type: ovs-interface for an internal port)"
                ),
            });
            return;
        }
        if let Some(other) = self.current.bridge_of(port).filter(|o| *o != bridge) {
            self.refuse_unmodelled_port(other, port, &want.origin);
            self.ops.push(OvsOp::DelPort {
                bridge: other.to_string(),
                port: port.to_string(),
            });
        }
        self.ops.push(OvsOp::AddPort {
            bridge: bridge.to_string(),
            port: port.to_string(),
            settings: OvsPort {
                tag: want.tag.flatten(),
                vlan_mode: want.vlan_mode.clone().filter(|_| want.tag.is_some()),
                trunks: want.tag.map(|_| want.trunks.clone()).unwrap_or_default(),
                internal: want.internal,
                patch_peer: want.patch_peer.clone(),
                bond: want.bond.as_ref().map(|b| b.merged(None)),
                external_ids: ids.unwrap_or_default(),
                other_config: other.unwrap_or_default(),
                managed: true,
                unmodelled: None,
            },
        });
    }

    /// Whether the members of bond `port` can join it: each an existing device, none a
    /// member of another bond. A member that is a port of its own leaves that port.
    fn bond_members_ready(&mut self, port: &str, b: &OvsBondIntent, origin: &str) -> bool {
        let mut ready = true;
        for m in &b.members {
            let problem = if !self.device_will_exist(m) {
                Some(format!(
                    "{m} does not exist; a bond's members are existing devices"
                ))
            } else if let Some((br, other)) = self.current.bond_of(m).filter(|(_, o)| *o != port) {
                Some(format!(
                    "{m} is a member of bond {other} of {br}; remove it from there first"
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                self.errors.push(PlanError {
                    path: format!("{origin}.link-aggregation.port"),
                    message,
                });
                ready = false;
                continue;
            }
            let Some(br) = self.current.bridge_of(m) else {
                continue;
            };
            let del = OvsOp::DelPort {
                bridge: br.to_string(),
                port: m.clone(),
            };
            if !self.ops.contains(&del) {
                self.refuse_unmodelled_port(br, m, origin);
                self.ops.push(del);
            }
        }
        ready
    }
}

/// An `ovs-db` map a file gives, or not.
type Db = Option<BTreeMap<String, String>>;

/// What a port is, for messages.
fn kind(p: &OvsPort) -> &'static str {
    kind_of(p.internal, p.patch_peer.is_some(), p.bond.is_some())
}

fn want_kind(p: &OvsPortIntent) -> &'static str {
    kind_of(p.internal, p.patch_peer.is_some(), p.bond.is_some())
}

fn kind_of(internal: bool, patch: bool, bond: bool) -> &'static str {
    match (internal, patch, bond) {
        (true, _, _) => "an internal port",
        (_, true, _) => "a patch port",
        (_, _, true) => "a bond",
        _ => "a device's port",
    }
}

/// Plans the OVS ops from `current` to `intent`.
pub fn plan(
    current: &OvsState,
    intent: &OvsIntent,
    links: &BTreeMap<String, Link>,
    link_intents: &BTreeMap<String, LinkIntent>,
) -> Result<Vec<OvsOp>, Vec<PlanError>> {
    let absent_owned: Vec<&String> = link_intents
        .iter()
        .filter(|(n, li)| {
            li.state == IfaceState::Absent
                && (current.bridges.contains_key(*n) || current.bridge_of(n).is_some())
        })
        .map(|(n, _)| n)
        .collect();
    if intent.is_empty() && absent_owned.is_empty() {
        return Ok(Vec::new());
    }
    if !current.available && !intent.is_empty() {
        let origin = intent
            .bridges
            .values()
            .map(|b| b.origin.clone())
            .chain(Some(intent.global.origin.clone()).filter(|o| !o.is_empty()))
            .chain(intent.external_ids.values().map(|(o, _)| o.clone()))
            .chain(intent.other_config.values().map(|(o, _)| o.clone()))
            .next()
            .unwrap_or_default();
        return Err(vec![PlanError {
            path: origin,
            message: "no Open vSwitch database answers (is ovsdb-server running? \
                      HOSTNET_OVSDB names another database)"
                .into(),
        }]);
    }
    let mut cx = Ctx {
        current,
        links,
        link_intents,
        ids: &intent.external_ids,
        other: &intent.other_config,
        ops: Vec::new(),
        errors: Vec::new(),
    };
    for name in absent_owned {
        let origin = link_intents
            .get(name)
            .map(|l| l.origin.clone())
            .unwrap_or_default();
        if current.bridges.contains_key(name) {
            cx.refuse_bridge_delete(name, &origin);
            cx.ops.push(OvsOp::DelBridge { name: name.clone() });
        } else if let Some(b) = current.bridge_of(name) {
            cx.refuse_unmodelled_port(b, name, &origin);
            if !intent.bridges.get(b).is_some_and(|bi| bi.absent) {
                cx.ops.push(OvsOp::DelPort {
                    bridge: b.to_string(),
                    port: name.clone(),
                });
            }
        }
    }
    let mut listed: Vec<&str> = Vec::new();
    for (name, b) in &intent.bridges {
        let have = current.bridges.get(name);
        if b.absent {
            if have.is_some()
                && !link_intents
                    .get(name)
                    .is_some_and(|l| l.state == IfaceState::Absent)
            {
                cx.refuse_bridge_delete(name, &b.origin);
                cx.ops.push(OvsOp::DelBridge { name: name.clone() });
            }
            continue;
        }
        let new = match have {
            None if b.must_exist => {
                cx.errors.push(PlanError {
                    path: b.origin.clone(),
                    message: format!("Open vSwitch bridge {name} does not exist"),
                });
                continue;
            }
            None => {
                cx.ops.push(OvsOp::AddBridge {
                    name: name.clone(),
                    datapath: b.datapath.clone(),
                    options: b.options.merged(&OvsBridgeOptions::default()),
                });
                true
            }
            Some(h) => {
                if b.datapath.is_some() && b.datapath != h.datapath {
                    cx.errors.push(PlanError {
                        path: format!("{}.bridge.options.datapath", b.origin),
                        message: format!(
                            "bridge {name} has datapath {}; hostnet does not change it in place",
                            h.datapath.as_deref().unwrap_or("system")
                        ),
                    });
                    continue;
                }
                let options = b.options.merged(&h.options);
                if options != h.options {
                    cx.ops.push(OvsOp::SetBridge {
                        name: name.clone(),
                        options,
                    });
                }
                false
            }
        };
        if let (Some(want), Some(h)) = (&b.ports, have) {
            // The list is not exact: only ports hostnet created leave it unlisted.
            for port in h
                .ports
                .iter()
                .filter(|(p, s)| s.managed && !want.contains_key(*p))
                .map(|(p, _)| p)
            {
                cx.refuse_unmodelled_port(name, port, &format!("{}.bridge.port", b.origin));
                cx.ops.push(OvsOp::DelPort {
                    bridge: name.clone(),
                    port: port.clone(),
                });
            }
        }
        if let Some(h) = have {
            for port in b.remove_ports.iter().filter(|p| h.ports.contains_key(*p)) {
                cx.refuse_unmodelled_port(name, port, &b.origin);
                cx.ops.push(OvsOp::DelPort {
                    bridge: name.clone(),
                    port: port.clone(),
                });
            }
        }
        for (port, want) in b.ports.iter().flatten().chain(&b.add_ports) {
            listed.push(port);
            cx.ensure_port(name, new, port, want);
        }
    }
    // ovs-db of interfaces that are ports of bridges the file does not describe.
    let (ops, errors) = super::ovs_db::other_ports(current, intent, &listed);
    cx.ops.extend(ops);
    cx.errors.extend(errors);
    match super::ovs_global::plan(&current.global, &intent.global) {
        Ok(ops) => cx.ops.extend(ops),
        Err(e) => cx.errors.push(e),
    }
    if cx.errors.is_empty() {
        Ok(ordered(super::ovs_maps::per_key(cx.ops, current)))
    } else {
        Err(cx.errors)
    }
}

fn add_bridge(ops: &mut Vec<OvsOp>, name: &str, b: &crate::ovs::OvsBridge) {
    ops.push(OvsOp::AddBridge {
        name: name.to_string(),
        datapath: b.datapath.clone(),
        options: b.options.clone(),
    });
    for (port, settings) in &b.ports {
        ops.push(OvsOp::AddPort {
            bridge: name.to_string(),
            port: port.clone(),
            settings: settings.clone(),
        });
    }
}

/// The ops that make `current` equal to `target` (nothing when either is unknown).
pub fn restore(current: &OvsState, target: &OvsState) -> Vec<OvsOp> {
    if !current.available || !target.available {
        return Vec::new();
    }
    let mut ops = Vec::new();
    for (name, cur) in &current.bridges {
        match target.bridges.get(name) {
            None => ops.push(OvsOp::DelBridge { name: name.clone() }),
            Some(t) if t.datapath != cur.datapath => {
                ops.push(OvsOp::DelBridge { name: name.clone() });
                add_bridge(&mut ops, name, t);
            }
            Some(t) => {
                if t.options != cur.options {
                    ops.push(OvsOp::SetBridge {
                        name: name.clone(),
                        options: t.options.clone(),
                    });
                }
                for (port, have) in &cur.ports {
                    match t.ports.get(port) {
                        None => ops.push(OvsOp::DelPort {
                            bridge: name.clone(),
                            port: port.clone(),
                        }),
                        Some(want)
                            if kind(want) != kind(have)
                                || want.bond.as_ref().map(|b| &b.members)
                                    != have.bond.as_ref().map(|b| &b.members) =>
                        {
                            ops.push(OvsOp::DelPort {
                                bridge: name.clone(),
                                port: port.clone(),
                            });
                            ops.push(OvsOp::AddPort {
                                bridge: name.clone(),
                                port: port.clone(),
                                settings: want.clone(),
                            });
                        }
                        Some(want) if want != have => ops.push(OvsOp::SetPort {
                            port: port.clone(),
                            settings: want.clone(),
                        }),
                        Some(_) => {}
                    }
                }
                for (port, want) in t.ports.iter().filter(|(p, _)| !cur.ports.contains_key(*p)) {
                    ops.push(OvsOp::AddPort {
                        bridge: name.clone(),
                        port: port.clone(),
                        settings: want.clone(),
                    });
                }
            }
        }
    }
    for (name, t) in target
        .bridges
        .iter()
        .filter(|(n, _)| !current.bridges.contains_key(*n))
    {
        add_bridge(&mut ops, name, t);
    }
    ops.extend(super::ovs_global::restore(&current.global, &target.global));
    ordered(super::ovs_maps::per_key(ops, current))
}

/// The ops that take back `op`, given the state before it.
pub fn inverse(op: &OvsOp, before: &OvsState) -> Vec<OvsOp> {
    match op {
        OvsOp::AddBridge { name, .. } => vec![OvsOp::DelBridge { name: name.clone() }],
        OvsOp::DelBridge { name } => {
            let mut ops = Vec::new();
            if let Some(b) = before.bridges.get(name) {
                add_bridge(&mut ops, name, b);
            }
            ops
        }
        OvsOp::AddPort { bridge, port, .. } => {
            let mut ops = vec![OvsOp::DelPort {
                bridge: bridge.clone(),
                port: port.clone(),
            }];
            if let Some(old) = before.bridge_of(port).filter(|b| b != bridge) {
                ops.push(OvsOp::AddPort {
                    bridge: old.to_string(),
                    port: port.clone(),
                    settings: before.bridges[old].ports[port].clone(),
                });
            }
            ops
        }
        OvsOp::DelPort { bridge, port } => before
            .bridges
            .get(bridge)
            .and_then(|b| b.ports.get(port))
            .map(|settings| OvsOp::AddPort {
                bridge: bridge.clone(),
                port: port.clone(),
                settings: settings.clone(),
            })
            .into_iter()
            .collect(),
        OvsOp::SetBridge { name, .. } => before
            .bridges
            .get(name)
            .map(|b| OvsOp::SetBridge {
                name: name.clone(),
                options: b.options.clone(),
            })
            .into_iter()
            .collect(),
        OvsOp::SetGlobal { column, key, .. } => {
            vec![super::ovs_global::inverse(*column, key, &before.global)]
        }
        OvsOp::SetRowKey {
            table,
            name,
            column,
            key,
            ..
        } => super::ovs_maps::inverse(*table, name, *column, key, before)
            .into_iter()
            .collect(),
        OvsOp::SetPort { port, .. } => before
            .bridge_of(port)
            .map(|b| OvsOp::SetPort {
                port: port.clone(),
                settings: before.bridges[b].ports[port].clone(),
            })
            .into_iter()
            .collect(),
    }
}
