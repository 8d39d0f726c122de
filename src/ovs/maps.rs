//! The string maps of OVSDB rows hostnet models (external_ids, other_config): the
//! Open_vSwitch row's, and a Bridge's, a bond's Port's or an Interface's, which change
//! one key per op ([`super::OvsOp::SetGlobal`], [`super::OvsOp::SetRowKey`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{OvsBridgeOptions, OvsPort, OvsState};

/// The Open_vSwitch row's external_ids and other_config (nmstate's top-level `ovs-db`;
/// external_ids also holds `ovn-bridge-mappings`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OvsGlobal {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub external_ids: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub other_config: BTreeMap<String, String>,
}

impl OvsGlobal {
    /// The map of `column` (`external_ids` or `other_config`).
    pub fn column(&self, column: GlobalColumn) -> &BTreeMap<String, String> {
        match column {
            GlobalColumn::ExternalIds => &self.external_ids,
            GlobalColumn::OtherConfig => &self.other_config,
        }
    }

    pub fn column_mut(&mut self, column: GlobalColumn) -> &mut BTreeMap<String, String> {
        match column {
            GlobalColumn::ExternalIds => &mut self.external_ids,
            GlobalColumn::OtherConfig => &mut self.other_config,
        }
    }
}

/// A map column of the Open_vSwitch row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GlobalColumn {
    ExternalIds,
    OtherConfig,
}

impl GlobalColumn {
    pub const ALL: [GlobalColumn; 2] = [GlobalColumn::ExternalIds, GlobalColumn::OtherConfig];

    pub fn as_str(self) -> &'static str {
        match self {
            GlobalColumn::ExternalIds => "external_ids",
            GlobalColumn::OtherConfig => "other_config",
        }
    }
}

/// The OVSDB tables whose rows' maps hostnet sets key by key (the Open_vSwitch row has
/// [`super::OvsOp::SetGlobal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum RowTable {
    /// An ovs-bridge's own row (nmstate's `ovs-db` of the bridge).
    Bridge,
    /// A bond's Port row (`link-aggregation.ovs-db`).
    Port,
    /// A port's one Interface row (an interface's `ovs-db`).
    Interface,
}

impl RowTable {
    pub fn as_str(self) -> &'static str {
        match self {
            RowTable::Bridge => "Bridge",
            RowTable::Port => "Port",
            RowTable::Interface => "Interface",
        }
    }
}

impl OvsState {
    /// The map `column` of row `name` of `table` as hostnet models it (a Bridge's
    /// other_config without the STP keys, a bond's Port external_ids without hostnet's
    /// mark); `None` when there is no such row.
    pub fn row_map(
        &self,
        table: RowTable,
        name: &str,
        column: GlobalColumn,
    ) -> Option<&BTreeMap<String, String>> {
        let pick = |ids, other| match column {
            GlobalColumn::ExternalIds => ids,
            GlobalColumn::OtherConfig => other,
        };
        match table {
            RowTable::Bridge => self
                .bridges
                .get(name)
                .map(|b| pick(&b.options.external_ids, &b.options.other_config)),
            RowTable::Port => self
                .port(name)
                .and_then(|p| p.bond.as_ref())
                .map(|b| pick(&b.external_ids, &b.other_config)),
            RowTable::Interface => self
                .port(name)
                .filter(|p| p.bond.is_none())
                .map(|p| pick(&p.external_ids, &p.other_config)),
        }
    }

    /// [`Self::row_map`], to change.
    pub fn row_map_mut(
        &mut self,
        table: RowTable,
        name: &str,
        column: GlobalColumn,
    ) -> Option<&mut BTreeMap<String, String>> {
        let ids = column == GlobalColumn::ExternalIds;
        match table {
            RowTable::Bridge => self.bridges.get_mut(name).map(|b| {
                if ids {
                    &mut b.options.external_ids
                } else {
                    &mut b.options.other_config
                }
            }),
            RowTable::Port => port_mut(self, name).and_then(|p| p.bond.as_mut()).map(|b| {
                if ids {
                    &mut b.external_ids
                } else {
                    &mut b.other_config
                }
            }),
            RowTable::Interface => port_mut(self, name).filter(|p| p.bond.is_none()).map(|p| {
                if ids {
                    &mut p.external_ids
                } else {
                    &mut p.other_config
                }
            }),
        }
    }
}

impl OvsBridgeOptions {
    /// The options without the `ovs-db` maps, which change key by key.
    pub fn without_maps(&self) -> OvsBridgeOptions {
        OvsBridgeOptions {
            external_ids: BTreeMap::new(),
            other_config: BTreeMap::new(),
            ..self.clone()
        }
    }
}

impl OvsPort {
    /// The settings without the Interface row's or bond Port row's maps, which change
    /// key by key.
    pub fn without_maps(&self) -> OvsPort {
        let mut p = OvsPort {
            external_ids: BTreeMap::new(),
            other_config: BTreeMap::new(),
            ..self.clone()
        };
        if let Some(b) = p.bond.as_mut() {
            b.external_ids.clear();
            b.other_config.clear();
        }
        p
    }
}

fn port_mut<'a>(s: &'a mut OvsState, name: &str) -> Option<&'a mut OvsPort> {
    s.bridges.values_mut().find_map(|b| b.ports.get_mut(name))
}
