//! What was last applied in a network namespace, as far as later commands need it: the
//! DHCP networks, which `hostnet dhcp-event` and `hostnet monitor` converge when a lease
//! changes, long after the `apply` that declared them; and every network as it was
//! applied (its bridge, uplink, VLAN device, table, priority, addresses, whether it had
//! a firewall: [`NetworkRecord`]), which later files need not repeat to remove or change
//! it.
//!
//! One JSON file per namespace under `/run/hostnet/applied/` (tmpfs: the kernel state it
//! describes does not survive a reboot either), named like the namespace's lock and
//! written atomically. `HOSTNET_STATE_DIR` moves the whole directory (tests, packaging).

use std::fs;
use std::path::{Path, PathBuf};

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::expand::{
    expand_with, Dhcp, ExpandError, Intent, LeaseSource, NetworkIntent, NetworkRecord, Records,
};
use crate::files::{write_atomically, IoError};
use crate::model::Desired;
use crate::netdev::model::ModelDriver;
use crate::netdev::{Driver, Family, KernelState, LinkKind, Op};
use crate::plan::Plan;

/// Default for the state directory.
pub const STATE_DIR: &str = crate::netdev::netns_id::STATE_DIR;
const FORMAT_VERSION: u32 = 1;

/// The state directory: `HOSTNET_STATE_DIR` or [`STATE_DIR`].
pub fn state_dir() -> PathBuf {
    crate::netdev::netns_id::state_dir()
}

/// The applied state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum AppliedError {
    #[error(transparent)]
    Io(#[from] IoError),
    #[error("{} is not a hostnet state file", path.display())]
    Format {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// A DHCP network as last applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpNetwork {
    pub name: String,
    pub device: String,
    pub table: u32,
    pub table_derived: bool,
    pub priority: u32,
    pub ipv4: bool,
    pub ipv6: bool,
}

impl DhcpNetwork {
    pub fn has(&self, family: Family) -> bool {
        match family {
            Family::Ipv4 => self.ipv4,
            Family::Ipv6 => self.ipv6,
        }
    }

    /// The network as an intent with the given lease sources (`None`: the family is not
    /// planned at all), bridged or not and with the uplink it had as `record` (the
    /// network's record of applied networks) says. Without a record (written by a hostnet
    /// that kept none) it counts as not bridged: that it is bridged matters only to the
    /// check that a bridge's gateway can be reached through a port, which a lease that
    /// arrived through the device answers already.
    pub fn intent(
        &self,
        record: Option<&NetworkRecord>,
        v4: Option<LeaseSource>,
        v6: Option<LeaseSource>,
    ) -> NetworkIntent {
        let record = record.filter(|r| !r.removed && r.device == self.device);
        NetworkIntent {
            name: self.name.clone(),
            origin: format!("network {} (as last applied)", self.name),
            absent: false,
            device: self.device.clone(),
            table: Some(self.table),
            table_derived: self.table_derived,
            routes: Vec::new(),
            rules: Vec::new(),
            priority: self.priority,
            dhcp: Dhcp {
                v4: v4.filter(|_| self.ipv4),
                v6: v6.filter(|_| self.ipv6),
            },
            bridged: record.is_some_and(|r| r.bridged),
            uplink: record.and_then(|r| r.uplink.clone()),
            vlan_device: record.and_then(|r| r.vlan_device.clone()),
            vlan_aware: record.and_then(|r| r.vlan_aware.clone()),
            addresses: Vec::new(),
            previous: None,
            recorded: true,
        }
    }
}

/// The file's content.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    pub version: u32,
    pub dhcp_networks: Vec<DhcpNetwork>,
    /// Every network's source-routing table, by network name, static ones included: a
    /// later file that does not mention a network must not take its table.
    #[serde(default)]
    pub tables: BTreeMap<String, u32>,
    /// Every network as last applied, removed ones included (see [`NetworkRecord`]).
    /// Records written before this field existed have none: networks they applied are
    /// then found by what the file says of them.
    #[serde(default)]
    pub networks: Records,
    /// Bridges whose MTU hostnet set to another value than they had, with their ifindex:
    /// the kernel keeps that MTU whatever their ports do, and cannot be asked (finding F13
    /// of the fuzzer). See [`bridge_mtus_after`].
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub bridge_mtu_set: BTreeMap<String, u32>,
}

impl Applied {
    /// Every DHCP network with its leases taken from the kernel.
    pub fn kernel_intent(&self) -> Intent {
        Intent {
            networks: self
                .dhcp_networks
                .iter()
                .map(|n| self.dhcp_intent(n, Some(LeaseSource::Kernel), Some(LeaseSource::Kernel)))
                .collect(),
            ..Intent::default()
        }
    }

    /// DHCP network `net` as an intent with the given lease sources, as it was applied
    /// (see [`DhcpNetwork::intent`]).
    pub fn dhcp_intent(
        &self,
        net: &DhcpNetwork,
        v4: Option<LeaseSource>,
        v6: Option<LeaseSource>,
    ) -> NetworkIntent {
        net.intent(self.networks.get(&net.name), v4, v6)
    }

    /// Fills `intent.reserved_tables` with the tables of recorded networks it does not
    /// mention, and `reserved_priorities` with their priorities; and `persisted` with the
    /// copies of hostnet's objects that `hostnet persist`'s files give the boot stack
    /// (read from the persistent directory, [`crate::persist::record`]).
    pub fn reserve_others(&self, intent: &mut Intent) {
        intent.persisted = crate::persist::record::own_copies();
        intent.bridge_mtu_set = self.bridge_mtu_set.clone();
        let mentioned: std::collections::BTreeSet<&str> =
            intent.networks.iter().map(|n| n.name.as_str()).collect();
        for (name, table) in &self.tables {
            if !mentioned.contains(name.as_str()) {
                intent.reserved_tables.insert(*table, name.clone());
            }
        }
        for (name, r) in &self.networks {
            if !r.removed && !mentioned.contains(name.as_str()) {
                intent.reserved_priorities.insert(r.priority);
            }
        }
    }

    /// The intent of document `d` in this namespace: expanded with what the record knows
    /// of the networks it mentions ([`expand_with`]), and with the tables and priorities
    /// of those it does not reserved.
    pub fn intent_for(&self, d: &Desired) -> Result<Intent, ExpandError> {
        let mut intent = expand_with(d, &self.networks)?;
        self.reserve_others(&mut intent);
        Ok(intent)
    }

    /// The DHCP network whose addresses live on `device`.
    pub fn by_device(&self, device: &str) -> Option<&DhcpNetwork> {
        self.dhcp_networks.iter().find(|n| n.device == device)
    }

    /// Folds an applied intent in: networks it declares with DHCP are recorded, networks
    /// it declares otherwise (static, absent) are dropped, others stay (partial editing).
    pub fn merge(&mut self, intent: &Intent) {
        for n in &intent.networks {
            match (n.absent, n.table) {
                (false, Some(t)) => self.tables.insert(n.name.clone(), t),
                _ => self.tables.remove(&n.name),
            };
            let firewall = intent
                .firewall
                .networks
                .get(&n.name)
                .map(|s| s.as_ref().is_some_and(|s| !s.is_empty()));
            self.networks.insert(n.name.clone(), n.record(firewall));
            self.dhcp_networks
                .retain(|r| r.name != n.name && r.device != n.device);
            if n.absent || !n.dhcp.any() {
                continue;
            }
            let Some(table) = n.table else { continue };
            self.dhcp_networks.push(DhcpNetwork {
                name: n.name.clone(),
                device: n.device.clone(),
                table,
                table_derived: n.table_derived,
                priority: n.priority,
                ipv4: n.dhcp.v4.is_some(),
                ipv6: n.dhcp.v6.is_some(),
            });
        }
        self.dhcp_networks.sort_by(|a, b| a.name.cmp(&b.name));
        self.version = FORMAT_VERSION;
    }
}

/// Tells `before` (a state just read) which of its bridges hostnet set the MTU of, as
/// `recorded` says ([`Intent::bridge_mtu_set`]): those that still have the ifindex they had.
pub fn seed_bridge_mtus(before: &mut KernelState, recorded: &BTreeMap<String, u32>) {
    before.bridge_mtu_set = recorded
        .iter()
        .filter(|(name, index)| before.link_ids.0.get(*name) == Some(*index))
        .filter(|(name, _)| crate::netdev::bridge_mtu::is_bridge(before, name))
        .map(|(name, _)| name.clone())
        .collect();
}

/// The bridges whose MTU hostnet has set once `plan` ran from `before` (seeded with
/// [`seed_bridge_mtus`]), by their ifindex in `after`: the recorded ones that are still
/// there, and those the plan set to another value than they had then, which only the
/// model driver, running the plan again, can tell.
pub fn bridge_mtus_after(
    before: &KernelState,
    plan: &Plan,
    after: &KernelState,
) -> BTreeMap<String, u32> {
    let sets_a_bridge_mtu = plan.ops().any(|op| {
        matches!(op, Op::ChangeLink { name, change } if change.mtu.is_some()
            && plan_makes_or_has_bridge(before, plan, name))
    });
    let known: BTreeSet<String> = if sets_a_bridge_mtu {
        let mut model = ModelDriver::new(before.clone());
        for phase in plan.phases.iter().filter(|p| !p.is_empty()) {
            // An op the model refuses failed for real too (or the apply would not have
            // succeeded): what the others did is what counts.
            let _ = model.execute(phase);
        }
        model.bridge_mtu_set().clone()
    } else {
        before.bridge_mtu_set.clone()
    };
    known
        .into_iter()
        .filter(|b| crate::netdev::bridge_mtu::is_bridge(after, b))
        .filter_map(|b| Some((b.clone(), *after.link_ids.0.get(&b)?)))
        .collect()
}

fn plan_makes_or_has_bridge(before: &KernelState, plan: &Plan, name: &str) -> bool {
    crate::netdev::bridge_mtu::is_bridge(before, name)
        || plan.ops().any(|op| {
            matches!(op, Op::CreateLink(l) if l.name == name && matches!(l.kind, LinkKind::Bridge(_)))
        })
}

/// After a successful apply in the calling thread's namespace: records `set`, the bridges
/// whose MTU hostnet has set ([`bridge_mtus_after`]). `recorded` is what the record said
/// before the apply (the lock was held since): when nothing changed, the record is not read.
pub fn note_bridge_mtus(
    dir: &Path,
    set: &BTreeMap<String, u32>,
    recorded: &BTreeMap<String, u32>,
) -> Result<(), AppliedError> {
    if set == recorded {
        return Ok(());
    }
    let mut applied = load(dir)?;
    if applied.bridge_mtu_set == *set {
        return Ok(());
    }
    applied.bridge_mtu_set = set.clone();
    store(dir, &applied)
}

/// The state file of the calling thread's namespace.
pub fn path_for_current_netns(dir: &Path) -> Result<PathBuf, AppliedError> {
    super::records::locate(dir, "applied", "json").map_err(|source| {
        AppliedError::Io(IoError::new(
            "identify the network namespace of",
            crate::netdev::netns_id::SELF_NS,
            source,
        ))
    })
}

/// Reads the state of the calling thread's namespace (empty when nothing was applied).
pub fn load(dir: &Path) -> Result<Applied, AppliedError> {
    let path = path_for_current_netns(dir)?;
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).map_err(|source| AppliedError::Format { path, source })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Applied::default()),
        Err(source) => Err(AppliedError::Io(IoError::new("read", path, source))),
    }
}

/// Writes a whole record back (a rollback puts back the one from before the change).
pub fn store(dir: &Path, applied: &Applied) -> Result<(), AppliedError> {
    let path = path_for_current_netns(dir)?;
    let text = serde_json::to_vec_pretty(applied).map_err(|source| AppliedError::Format {
        path: path.clone(),
        source,
    })?;
    write_atomically(&path, &text).map_err(|f| AppliedError::Io(f.into()))
}

/// Records an applied intent for the calling thread's namespace.
pub fn record(dir: &Path, intent: &Intent) -> Result<(), AppliedError> {
    if intent.networks.is_empty() {
        return Ok(());
    }
    record_onto(dir, load(dir)?, intent)
}

/// [`record`] onto `applied`, the record as it is in `dir` (read earlier, under the lock
/// held since): at 1,000 networks each reading of it is about 1 ms.
pub fn record_onto(dir: &Path, mut applied: Applied, intent: &Intent) -> Result<(), AppliedError> {
    if intent.networks.is_empty() {
        return Ok(());
    }
    let before = applied.clone();
    applied.merge(intent);
    if applied == before {
        return Ok(());
    }
    let path = path_for_current_netns(dir)?;
    let text = serde_json::to_vec_pretty(&applied).map_err(|source| AppliedError::Format {
        path: path.clone(),
        source,
    })?;
    write_atomically(&path, &text).map_err(|f| AppliedError::Io(f.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: &str) -> Desired {
        let d = crate::model::parse(yaml).expect("parses");
        crate::model::validate(&d).expect("valid");
        d
    }

    /// A state with bridge `br0` (ifindex 7) at MTU `mtu` whose one port `e1` has 1500.
    fn bridged(mtu: u32) -> KernelState {
        use crate::netdev::Link;
        let mut s = KernelState::default();
        let link = |name: &str, kind: LinkKind, mtu: u32, controller: Option<&str>| Link {
            name: name.into(),
            kind,
            up: true,
            mtu,
            mac: None,
            controller: controller.map(String::from),
        };
        let br = link("br0", LinkKind::Bridge(Default::default()), mtu, None);
        let e1 = link("e1", LinkKind::Ethernet, 1500, Some("br0"));
        s.links.insert("br0".into(), br);
        s.links.insert("e1".into(), e1);
        s.link_ids.0.insert("br0".into(), 7);
        s.link_ids.0.insert("e1".into(), 2);
        s
    }

    fn set_mtu(mtu: u32) -> Plan {
        let mut plan = Plan::new();
        plan.push(
            crate::plan::Phase::BridgeMtu,
            Op::ChangeLink {
                name: "br0".into(),
                change: crate::netdev::LinkChange {
                    mtu: Some(mtu),
                    ..Default::default()
                },
            },
        );
        plan
    }

    /// Finding F13: the kernel marks a bridge whose MTU is set to another value, and
    /// does not report it; the record keeps it, for the bridge with that ifindex only.
    #[test]
    fn a_bridge_whose_mtu_hostnet_changed_is_recorded_and_seeded() {
        let before = bridged(1500);
        let after = bridged(1400);
        let set = bridge_mtus_after(&before, &set_mtu(1400), &after);
        assert_eq!(set, BTreeMap::from([("br0".to_string(), 7)]));
        // Set to the value it has: no change, no mark.
        assert!(bridge_mtus_after(&before, &set_mtu(1500), &before).is_empty());
        // Seeded into the next state read, the model keeps the MTU when ports change.
        let mut next = bridged(1400);
        next.links.get_mut("e1").expect("e1").mtu = 1400;
        seed_bridge_mtus(&mut next, &set);
        assert!(next.bridge_mtu_set.contains("br0"));
        let mut m = ModelDriver::new(next.clone());
        let leave = Op::ChangeLink {
            name: "e1".into(),
            change: crate::netdev::LinkChange {
                controller: Some(None),
                ..Default::default()
            },
        };
        assert!(m
            .execute(std::slice::from_ref(&leave))
            .iter()
            .all(Result::is_ok));
        assert_eq!(m.state().links["br0"].mtu, 1400);
        // Kept by a later apply that does not touch it.
        assert_eq!(bridge_mtus_after(&next, &Plan::new(), &next), set);
        // A bridge made again under the name (another ifindex) is not the one recorded:
        // it follows its ports.
        let mut again = bridged(1400);
        again.links.get_mut("e1").expect("e1").mtu = 1400;
        again.link_ids.0.insert("br0".into(), 9);
        seed_bridge_mtus(&mut again, &set);
        assert!(again.bridge_mtu_set.is_empty());
        let mut m = ModelDriver::new(again);
        assert!(m.execute(&[leave]).iter().all(Result::is_ok));
        assert_eq!(m.state().links["br0"].mtu, 1500);
    }

    #[test]
    fn a_record_from_before_networks_were_recorded_still_reads() {
        let old = r#"{"version": 1, "dhcp_networks": [], "tables": {"mgmt": 1001}}"#;
        let a: Applied = serde_json::from_str(old).expect("reads");
        assert!(a.networks.is_empty());
        assert_eq!(a.tables["mgmt"], 1001);
    }

    #[test]
    fn a_network_is_recorded_as_applied_and_kept_as_removed() {
        let mut a = Applied::default();
        let applied = doc("networks:\n  - {name: mgmt, bridge: vmbr0, uplink: eth0, vlan: 7, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, source-routing: {table: 1234, priority: 3100}}\n");
        a.merge(&a.intent_for(&applied).expect("expands"));
        let r = &a.networks["mgmt"];
        assert_eq!(
            (
                r.device.as_str(),
                r.bridged,
                r.uplink.as_deref(),
                r.vlan_device.as_deref()
            ),
            ("vmbr0", true, Some("eth0.7"), Some("eth0.7"))
        );
        assert_eq!((r.table, r.priority), (Some(1234), 3100));
        assert_eq!(r.firewall, Some(false));
        // Removed by name: the intent has what the record knows.
        let removal = a
            .intent_for(&doc("networks:\n  - {name: mgmt, state: absent}\n"))
            .expect("expands");
        let n = &removal.networks[0];
        assert_eq!(
            (n.device.as_str(), n.table, n.priority),
            ("vmbr0", Some(1234), 3100)
        );
        assert_eq!(
            removal.links["eth0.7"].state,
            crate::model::IfaceState::Absent
        );
        a.merge(&removal);
        assert!(a.networks["mgmt"].removed);
        // A tombstone completes nothing: vmbr0 may be someone else's now.
        let again = a
            .intent_for(&doc("networks:\n  - {name: mgmt, state: absent}\n"))
            .expect("expands");
        assert_eq!(again.networks[0].device, "mgmt");
        assert!(again.networks[0].recorded && again.networks[0].previous.is_none());
    }

    #[test]
    fn networks_a_file_does_not_mention_keep_their_table_and_priority() {
        let mut a = Applied::default();
        a.merge(&a.intent_for(&doc("networks:\n  - {name: a, uplink: eth0, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}, source-routing: {table: 1001, priority: 3100}}\n")).expect("expands"));
        let other = a
            .intent_for(&doc("networks:\n  - {name: b, uplink: eth1, ipv4: {address: [198.51.100.10/24], gateway: 198.51.100.1}}\n"))
            .expect("expands");
        assert_eq!(
            other.reserved_tables.get(&1001).map(String::as_str),
            Some("a")
        );
        assert!(other.reserved_priorities.contains(&3100));
    }
}
