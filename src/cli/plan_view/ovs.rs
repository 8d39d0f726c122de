//! Plan entries of the Open vSwitch ops: bridges, ports, and single keys of rows' maps.

use serde_json::{json, Map, Value};

use super::objects::{obj, put, Described};
use super::{Action, Kind};
use crate::netdev::KernelState;
use crate::ovs::{OvsOp, OvsPort};

fn ovs_port(bridge: Option<&str>, p: &OvsPort) -> Map<String, Value> {
    let mut m = Map::new();
    put(&mut m, "bridge", bridge);
    put(&mut m, "tag", p.tag);
    put(&mut m, "vlan-mode", p.vlan_mode.as_deref());
    if !p.trunks.is_empty() {
        m.insert("trunks".into(), json!(p.trunks));
    }
    put(&mut m, "patch-peer", p.patch_peer.as_deref());
    if let Some(b) = &p.bond {
        m.insert("bond".into(), json!(b));
    }
    m.insert("internal".into(), json!(p.internal));
    m.insert("external-ids".into(), json!(p.external_ids));
    m
}

pub(super) fn ovs(o: &OvsOp, before: &KernelState) -> Described {
    use Action::{Change, Create, Remove};
    let port_now = |port: &str| {
        let bridge = before.ovs.bridge_of(port)?;
        let p = before.ovs.bridges.get(bridge)?.ports.get(port)?;
        Some(ovs_port(Some(bridge), p))
    };
    match o {
        OvsOp::AddBridge {
            name,
            datapath,
            options,
        } => {
            let mut m = Map::new();
            put(&mut m, "datapath", datapath.as_deref());
            m.insert("options".into(), json!(options));
            (
                Kind::OvsBridge,
                name.clone(),
                format!("ovs-bridge {name}"),
                Create,
                None,
                Some(m),
            )
        }
        OvsOp::DelBridge { name } => {
            let b = before.ovs.bridges.get(name).map(|b| {
                let mut m = Map::new();
                put(&mut m, "datapath", b.datapath.as_deref());
                m.insert("options".into(), json!(b.options));
                m
            });
            (
                Kind::OvsBridge,
                name.clone(),
                format!("ovs-bridge {name}"),
                Remove,
                b,
                None,
            )
        }
        OvsOp::SetBridge { name, options } => {
            let b = before
                .ovs
                .bridges
                .get(name)
                .map(|b| obj([("options", json!(b.options))]));
            (
                Kind::OvsBridge,
                name.clone(),
                format!("ovs-bridge {name}"),
                Change,
                b,
                Some(obj([("options", json!(options))])),
            )
        }
        OvsOp::AddPort {
            bridge,
            port,
            settings,
        } => {
            let a = ovs_port(Some(bridge), settings);
            (
                Kind::OvsPort,
                port.clone(),
                format!("ovs-port {port}"),
                Create,
                None,
                Some(a),
            )
        }
        OvsOp::DelPort { port, .. } => (
            Kind::OvsPort,
            port.clone(),
            format!("ovs-port {port}"),
            Remove,
            port_now(port),
            None,
        ),
        OvsOp::SetGlobal { column, key, value } => {
            let now = before.ovs.global.column(*column).get(key);
            let val = |v: Option<&String>| v.map(|v| obj([("value", json!(v))]));
            let action = match (now, value) {
                (None, _) => Create,
                (Some(_), None) => Remove,
                _ => Change,
            };
            (
                Kind::OvsDb,
                format!("{}:{key}", column.as_str()),
                format!("Open_vSwitch {}:{key}", column.as_str()),
                action,
                val(now),
                val(value.as_ref()),
            )
        }
        OvsOp::SetRowKey {
            table,
            name,
            column,
            key,
            value,
        } => {
            let now = before
                .ovs
                .row_map(*table, name, *column)
                .and_then(|m| m.get(key));
            let val = |v: Option<&String>| v.map(|v| obj([("value", json!(v))]));
            let action = match (now, value) {
                (None, _) => Create,
                (Some(_), None) => Remove,
                _ => Change,
            };
            let what = format!("{} {name} {}:{key}", table.as_str(), column.as_str());
            (
                Kind::OvsDb,
                what.clone(),
                what,
                action,
                val(now),
                val(value.as_ref()),
            )
        }
        OvsOp::SetPort { port, settings } => {
            let a = ovs_port(None, settings);
            let b = port_now(port).map(|mut m| {
                m.remove("bridge");
                m
            });
            (
                Kind::OvsPort,
                port.clone(),
                format!("ovs-port {port}"),
                Change,
                b,
                Some(a),
            )
        }
    }
}
