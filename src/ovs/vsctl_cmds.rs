//! The ovs-vsctl commands that set a bridge's options, a port's settings and one key of
//! a row's map, for [`super::transaction_args`].

use crate::ovs::{GlobalColumn, OvsBridgeOptions, OvsPort};

/// Commands that set every option of bridge `name` to `o`'s; its `ovs-db` maps only for a
/// bridge made in this transaction (`new`): an existing bridge's change key by key
/// (`SetRowKey`), so that keys another tool set stay.
pub(super) fn set_bridge_options(
    cmds: &mut Vec<Vec<String>>,
    name: &str,
    o: &OvsBridgeOptions,
    new: bool,
) {
    let mut set = vec![
        "set".into(),
        "Bridge".into(),
        name.to_string(),
        format!("stp_enable={}", o.stp),
        format!("rstp_enable={}", o.rstp),
        format!("mcast_snooping_enable={}", o.mcast_snooping),
    ];
    if let Some(m) = &o.fail_mode {
        set.push(format!("fail_mode={}", quoted(m)));
    }
    // The STP keys share other_config with the bridge's `ovs-db`: each is set or removed
    // on its own.
    for (k, v) in o.stp_keys() {
        match v {
            Some(v) => set.push(format!("other_config:{k}=\"{v}\"")),
            None if !new => cmds.push(key_cmd("Bridge", name, GlobalColumn::OtherConfig, k, None)),
            None => {}
        }
    }
    if new {
        for (column, map) in [
            ("external_ids", &o.external_ids),
            ("other_config", &o.other_config),
        ] {
            for (k, v) in map {
                set.push(format!("{column}:{}={}", quoted(k), quoted(v)));
            }
        }
    }
    cmds.push(set);
    if o.fail_mode.is_none() {
        cmds.push(vec![
            "clear".into(),
            "Bridge".into(),
            name.to_string(),
            "fail_mode".into(),
        ]);
    }
}

/// An OVSDB string atom as ovs-vsctl parses it: always quoted, so that `:` and `-`
/// in MACs and UUIDs stay part of the value.
pub(super) fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Commands that set port `port`'s settings to `p`'s: for a port made in this transaction
/// (`clear` false) with its Interface row's or bond Port row's maps; for an existing one
/// (`clear`) without them, and clearing the columns `p` leaves empty.
pub(super) fn port_settings(cmds: &mut Vec<Vec<String>>, port: &str, p: &OvsPort, clear: bool) {
    // Records are named as they are; only values are OVSDB atoms.
    let q = port.to_string();
    let mut set = Vec::new();
    let mut cleared = Vec::new();
    match p.tag {
        Some(t) => set.push(format!("tag={t}")),
        None => cleared.push("tag"),
    }
    match &p.vlan_mode {
        Some(m) => set.push(format!("vlan_mode={}", quoted(m))),
        None => cleared.push("vlan_mode"),
    }
    if p.trunks.is_empty() {
        cleared.push("trunks");
    } else {
        let ids: Vec<String> = p.trunks.iter().map(u16::to_string).collect();
        set.push(format!("trunks=[{}]", ids.join(",")));
    }
    if let Some(b) = &p.bond {
        set.push(format!("bond_updelay={}", b.updelay));
        set.push(format!("bond_downdelay={}", b.downdelay));
        for (column, value) in [("bond_mode", &b.mode), ("lacp", &b.lacp)] {
            match value {
                Some(v) => set.push(format!("{column}={}", quoted(v))),
                None => cleared.push(column),
            }
        }
    }
    if !set.is_empty() {
        cmds.push([vec!["set".into(), "Port".into(), q.clone()], set].concat());
    }
    if clear && !cleared.is_empty() {
        let names = cleared.iter().map(|c| c.to_string());
        cmds.push(
            ["clear".to_string(), "Port".into(), q.clone()]
                .into_iter()
                .chain(names)
                .collect(),
        );
    }
    if p.internal {
        cmds.push(vec![
            "set".into(),
            "Interface".into(),
            q.clone(),
            "type=internal".into(),
        ]);
    }
    if let Some(peer) = &p.patch_peer {
        cmds.push(vec![
            "set".into(),
            "Interface".into(),
            q.clone(),
            "type=patch".into(),
            format!("options:peer={}", quoted(peer)),
        ]);
    }
    if clear {
        // An existing port's maps change key by key (`SetRowKey`).
        return;
    }
    // A bond's Interface rows are its members'; none is named after the port. Its
    // `ovs-db` is the Port row's.
    let (table, maps) = match &p.bond {
        Some(b) => ("Port", [&b.external_ids, &b.other_config]),
        None => ("Interface", [&p.external_ids, &p.other_config]),
    };
    for (column, map) in ["external_ids", "other_config"].into_iter().zip(maps) {
        if !map.is_empty() {
            let mut set = vec!["set".into(), table.into(), q.clone()];
            for (k, v) in map {
                set.push(format!("{column}:{}={}", quoted(k), quoted(v)));
            }
            cmds.push(set);
        }
    }
}

/// The command that sets `key` of map `column` of row `record` of `table` (`None`:
/// removes it).
pub(super) fn key_cmd(
    table: &str,
    record: &str,
    column: GlobalColumn,
    key: &str,
    value: Option<&str>,
) -> Vec<String> {
    match value {
        Some(v) => vec![
            "set".into(),
            table.into(),
            record.into(),
            format!("{}:{}={}", column.as_str(), quoted(key), quoted(v)),
        ],
        None => vec![
            "remove".into(),
            table.into(),
            record.into(),
            column.as_str().into(),
            quoted(key),
        ],
    }
}
