//! `ovs-vsctl`: reading bridges, ports and interfaces, and one transaction per batch of
//! ops (commands joined with `--`).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::rows::{map_items, rows, set_items, uuid_of};
use super::{OvsBond, OvsBridge, OvsBridgeOptions, OvsError, OvsOp, OvsPort, OvsState};
use cmds::{key_cmd, port_settings, quoted, set_bridge_options};

#[path = "vsctl_cmds.rs"]
mod cmds;

/// The default database socket of a packaged Open vSwitch.
pub const DEFAULT_DB: &str = "unix:/var/run/openvswitch/db.sock";
/// Environment variable naming another database (`unix:PATH`).
pub const DB_ENV: &str = "HOSTNET_OVSDB";

/// How to reach OVSDB.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vsctl {
    /// `--db` of ovs-vsctl.
    pub db: String,
    /// The program, normally `ovs-vsctl` from `$PATH`.
    pub program: String,
}

impl Vsctl {
    pub fn new(db: impl Into<String>) -> Vsctl {
        Vsctl {
            db: db.into(),
            program: "ovs-vsctl".into(),
        }
    }

    /// `HOSTNET_OVSDB` or the packaged default.
    pub fn from_env() -> Vsctl {
        Vsctl::new(std::env::var(DB_ENV).unwrap_or_else(|_| DEFAULT_DB.to_string()))
    }

    /// Whether a database can be there: a `unix:` socket must accept a connection
    /// (checked so that a host without Open vSwitch, or with a stale socket of a stopped
    /// ovsdb-server, costs no process per query and fails nothing).
    pub fn reachable(&self) -> bool {
        match self.db.strip_prefix("unix:") {
            Some(path) => std::os::unix::net::UnixStream::connect(Path::new(path)).is_ok(),
            None => true,
        }
    }

    fn run(&self, args: &[String]) -> Result<String, OvsError> {
        let out = Command::new(&self.program)
            .arg(format!("--db={}", self.db))
            .arg("--timeout=30")
            .args(args)
            .output()
            .map_err(|source| OvsError::Spawn {
                program: self.program.clone(),
                source,
            })?;
        if !out.status.success() {
            return Err(OvsError::Failed {
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn list(&self, table: &str, columns: &str) -> Result<Vec<BTreeMap<String, Value>>, OvsError> {
        let out = self.run(&[
            "--format=json".into(),
            "--data=json".into(),
            format!("--columns={columns}"),
            "list".into(),
            table.into(),
        ])?;
        rows(&out)
    }

    /// Reads every bridge with its ports. Unreachable: `available: false`.
    pub fn query(&self) -> Result<OvsState, OvsError> {
        if !self.reachable() {
            return Ok(OvsState::default());
        }
        let columns = "name,ports,datapath_type,controller,fail_mode,stp_enable,rstp_enable,\
                       mcast_snooping_enable,other_config,external_ids";
        let bridges = match self.list("Bridge", columns) {
            // No ovs-vsctl, or no database answering behind a tcp:/ssl: address: OVS is not
            // available, which only matters (as a plan error) to a file that uses it.
            Err(e) if e.is_unreachable() => return Ok(OvsState::default()),
            r => r?,
        };
        let ports = self.list(
            "Port",
            "_uuid,name,tag,vlan_mode,trunks,interfaces,external_ids,other_config,bond_mode,\
             lacp,bond_updelay,bond_downdelay",
        )?;
        let ifaces = self.list(
            "Interface",
            "_uuid,name,type,options,external_ids,other_config",
        )?;
        let mut state = decode(&bridges, &ports, &ifaces);
        if let Some(row) = self
            .list("Open_vSwitch", "external_ids,other_config")?
            .first()
        {
            let map = |c: &str| row.get(c).map(map_items).unwrap_or_default();
            state.global = super::OvsGlobal {
                external_ids: map("external_ids"),
                other_config: map("other_config"),
            };
        }
        Ok(state)
    }

    /// Carries out `ops` as one OVSDB transaction.
    pub fn transact(&self, ops: &[OvsOp]) -> Result<(), OvsError> {
        let args = transaction_args(ops);
        if args.is_empty() {
            return Ok(());
        }
        self.run(&args).map(|_| ())
    }
}

type Row = BTreeMap<String, Value>;

/// One Interface row: name, type, options and external_ids.
struct Iface {
    name: String,
    kind: String,
    options: BTreeMap<String, String>,
    external_ids: BTreeMap<String, String>,
    other_config: BTreeMap<String, String>,
}

/// The state from the rows of the Bridge, Port and Interface tables, noting what hostnet
/// does not model (see [`OvsPort::unmodelled`], [`OvsBridge::unmodelled`]).
fn decode(bridges: &[Row], ports: &[Row], ifaces: &[Row]) -> OvsState {
    let ifaces: BTreeMap<String, Iface> = ifaces
        .iter()
        .filter_map(|i| {
            Some((
                uuid_of(i.get("_uuid")?)?,
                Iface {
                    name: i.get("name")?.as_str()?.to_string(),
                    kind: i
                        .get("type")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    options: i.get("options").map(map_items).unwrap_or_default(),
                    external_ids: i.get("external_ids").map(map_items).unwrap_or_default(),
                    other_config: i.get("other_config").map(map_items).unwrap_or_default(),
                },
            ))
        })
        .collect();
    let ports: BTreeMap<String, (String, OvsPort)> = ports
        .iter()
        .filter_map(|p| decode_port(p, &ifaces))
        .collect();
    let mut state = OvsState {
        available: true,
        ..OvsState::default()
    };
    for b in bridges {
        let Some(name) = b.get("name").and_then(Value::as_str) else {
            continue;
        };
        let datapath = b
            .get("datapath_type")
            .and_then(Value::as_str)
            .filter(|d| !d.is_empty() && *d != "system")
            .map(str::to_string);
        let mut unmodelled = Vec::new();
        if !b
            .get("controller")
            .map(set_items)
            .unwrap_or_default()
            .is_empty()
        {
            unmodelled.push("a controller".to_string());
        }
        let options = bridge_options(b, &mut unmodelled);
        let mut bridge = OvsBridge {
            datapath,
            options,
            ports: BTreeMap::new(),
            unmodelled: (!unmodelled.is_empty()).then(|| unmodelled.join(", ")),
        };
        for uuid in b.get("ports").map(set_items).unwrap_or_default() {
            let Some((port, settings)) = uuid_of(&uuid).and_then(|u| ports.get(&u)) else {
                continue;
            };
            if port == name {
                continue; // the bridge's local port
            }
            bridge.ports.insert(port.clone(), settings.clone());
        }
        state.bridges.insert(name.to_string(), bridge);
    }
    state
}

/// One Port row with its interfaces: (uuid, (name, port)).
fn decode_port(p: &Row, ifaces: &BTreeMap<String, Iface>) -> Option<(String, (String, OvsPort))> {
    let uuid = uuid_of(p.get("_uuid")?)?;
    let name = p.get("name")?.as_str()?.to_string();
    let optional = |c: &str| p.get(c).map(set_items).unwrap_or_default().first().cloned();
    let tag = optional("tag")
        .and_then(|t| t.as_u64())
        .and_then(|t| u16::try_from(t).ok());
    let members: Vec<&Iface> = p
        .get("interfaces")
        .map(set_items)
        .unwrap_or_default()
        .iter()
        .filter_map(|u| ifaces.get(&uuid_of(u)?))
        .collect();
    let trunks: Vec<Value> = p.get("trunks").map(set_items).unwrap_or_default();
    let text = |c: &str| optional(c).and_then(|v| v.as_str().map(str::to_string));
    let managed = p
        .get("external_ids")
        .map(map_items)
        .is_some_and(|m| m.contains_key(super::MANAGED_KEY));
    let mut unmodelled = Vec::new();
    let bond = (members.len() > 1).then(|| {
        // A bond of plain devices without settings of their own is modelled.
        if members.iter().any(|i| {
            !matches!(i.kind.as_str(), "" | "system")
                || !i.external_ids.is_empty()
                || !i.other_config.is_empty()
                || !i.options.is_empty()
        }) {
            unmodelled.push(format!(
                "{} interfaces (a bond) with settings of their own",
                members.len()
            ));
        }
        let delay = |c: &str| {
            p.get(c)
                .and_then(Value::as_u64)
                .and_then(|v| u32::try_from(v).ok())
        };
        let map = |c: &str| p.get(c).map(map_items).unwrap_or_default();
        let mut external_ids = map("external_ids");
        external_ids.remove(super::MANAGED_KEY);
        OvsBond {
            members: members.iter().map(|i| i.name.clone()).collect(),
            mode: text("bond_mode"),
            lacp: text("lacp"),
            updelay: delay("bond_updelay").unwrap_or(0),
            downdelay: delay("bond_downdelay").unwrap_or(0),
            external_ids,
            other_config: map("other_config"),
        }
    });
    let own = members
        .iter()
        .find(|i| i.name == name)
        .or(members.first())
        .filter(|_| bond.is_none());
    let kind = own.map_or("", |i| i.kind.as_str());
    // A patch port is modelled when its only option is its peer.
    let patch_peer = own
        .filter(|i| i.kind == "patch" && i.options.len() == 1)
        .and_then(|i| i.options.get("peer").cloned());
    if !matches!(kind, "" | "system" | "internal") && patch_peer.is_none() {
        unmodelled.push(format!("interface type {kind}"));
    }
    let port = OvsPort {
        tag,
        vlan_mode: text("vlan_mode"),
        trunks: trunks
            .iter()
            .filter_map(|t| u16::try_from(t.as_u64()?).ok())
            .collect(),
        internal: kind == "internal",
        patch_peer,
        bond,
        external_ids: own.map(|i| i.external_ids.clone()).unwrap_or_default(),
        other_config: own.map(|i| i.other_config.clone()).unwrap_or_default(),
        managed,
        unmodelled: (!unmodelled.is_empty()).then(|| unmodelled.join(", ")),
    };
    Some((uuid, (name, port)))
}

/// A bridge's options from its row; an STP key of other_config that is no number is
/// noted in `unmodelled`.
fn bridge_options(b: &Row, unmodelled: &mut Vec<String>) -> OvsBridgeOptions {
    let flag = |c: &str| b.get(c).and_then(Value::as_bool).unwrap_or(false);
    let other = b.get("other_config").map(map_items).unwrap_or_default();
    let mut key = |k: &str| {
        let v = other.get(k)?;
        let n = v.parse::<u32>().ok();
        if n.is_none() {
            unmodelled.push(format!("other_config:{k}={v}"));
        }
        n
    };
    OvsBridgeOptions {
        stp: flag("stp_enable"),
        rstp: flag("rstp_enable"),
        mcast_snooping: flag("mcast_snooping_enable"),
        fail_mode: b
            .get("fail_mode")
            .map(set_items)
            .unwrap_or_default()
            .first()
            .and_then(Value::as_str)
            .map(str::to_string),
        stp_forward_delay: key("stp-forward-delay"),
        stp_hello_time: key("stp-hello-time"),
        stp_max_age: key("stp-max-age"),
        stp_priority: key("stp-priority"),
        external_ids: b.get("external_ids").map(map_items).unwrap_or_default(),
        other_config: other
            .iter()
            .filter(|(k, _)| !super::STP_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// The arguments of the one ovs-vsctl invocation that carries out `ops`.
pub fn transaction_args(ops: &[OvsOp]) -> Vec<String> {
    let mut cmds: Vec<Vec<String>> = Vec::new();
    for op in ops {
        match op {
            OvsOp::AddBridge {
                name,
                datapath,
                options,
            } => {
                cmds.push(vec!["add-br".into(), name.clone()]);
                if let Some(d) = datapath {
                    cmds.push(vec![
                        "set".into(),
                        "Bridge".into(),
                        name.clone(),
                        format!("datapath_type={}", quoted(d)),
                    ]);
                }
                if *options != OvsBridgeOptions::default() {
                    set_bridge_options(&mut cmds, name, options, true);
                }
            }
            OvsOp::SetBridge { name, options } => {
                set_bridge_options(&mut cmds, name, options, false)
            }
            OvsOp::DelBridge { name } => {
                cmds.push(vec!["--if-exists".into(), "del-br".into(), name.clone()]);
            }
            OvsOp::AddPort {
                bridge,
                port,
                settings,
            } => {
                match &settings.bond {
                    Some(b) => cmds.push(
                        ["add-bond".to_string(), bridge.clone(), port.clone()]
                            .into_iter()
                            .chain(b.members.iter().cloned())
                            .collect(),
                    ),
                    None => cmds.push(vec!["add-port".into(), bridge.clone(), port.clone()]),
                }
                port_settings(&mut cmds, port, settings, false);
                if settings.managed {
                    cmds.push(vec![
                        "set".into(),
                        "Port".into(),
                        port.clone(),
                        format!("external_ids:{}=\"true\"", super::MANAGED_KEY),
                    ]);
                }
            }
            OvsOp::DelPort { bridge, port } => {
                cmds.push(vec![
                    "--if-exists".into(),
                    "del-port".into(),
                    bridge.clone(),
                    port.clone(),
                ]);
            }
            OvsOp::SetGlobal { column, key, value } => {
                cmds.push(key_cmd("Open_vSwitch", ".", *column, key, value.as_deref()));
            }
            OvsOp::SetRowKey {
                table,
                name,
                column,
                key,
                value,
            } => cmds.push(key_cmd(
                table.as_str(),
                name,
                *column,
                key,
                value.as_deref(),
            )),
            OvsOp::SetPort { port, settings } => {
                port_settings(&mut cmds, port, settings, true);
                // A rollback may have to put the mark back, or take it off.
                let key = super::MANAGED_KEY.to_string();
                cmds.push(if settings.managed {
                    vec![
                        "set".into(),
                        "Port".into(),
                        port.clone(),
                        format!("external_ids:{key}=\"true\""),
                    ]
                } else {
                    vec![
                        "remove".into(),
                        "Port".into(),
                        port.clone(),
                        "external_ids".into(),
                        key,
                    ]
                });
            }
        }
    }
    let mut args = Vec::new();
    for c in cmds {
        args.push("--".into());
        args.extend(c);
    }
    args
}

#[cfg(test)]
#[path = "vsctl_tests.rs"]
mod tests;
