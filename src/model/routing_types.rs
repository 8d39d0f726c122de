//! The routing part of the input file: `routes`, `route-rules` and the value types
//! their keys are written in (split from `types.rs`, which re-exports them).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::netdev::Family;

/// `routes`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RoutesSpec {
    #[serde(default)]
    pub config: Vec<RouteSpec>,
}

/// `state: absent` on a route or rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EntryState {
    Absent,
    /// nmstate's `ignore`: the entry is left out, as if the file did not list it.
    Ignore,
}

/// `routes.config[]`. With `state: absent`, unset fields match anything.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RouteSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Prefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_address: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_hop_interface: Option<String>,
    /// Default: 254 (main).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table_id: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EntryState>,
    /// `route-type`: `blackhole`, `unreachable`, `prohibit` (no next hop).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_type: Option<crate::netdev::RouteKind>,
    /// `weight` (1-256): entries of one table, destination and metric with a weight
    /// each are one multipath route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// `source`: the preferred source address (RTA_PREFSRC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<IpAddr>,
    /// Route metrics (RTA_METRICS); `cwnd` is locked, as nmstate does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_mtu: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwnd: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initcwnd: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initrwnd: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advmss: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quickack: Option<bool>,
    /// `onlink` (hostnet's, not nmstate's): the gateway is on the link whatever the
    /// addresses say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub onlink: Option<bool>,
    /// `vrf-name`: the route goes to that VRF's table (resolved at plan time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrf_name: Option<String>,
}

/// `route-rules`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RulesSpec {
    #[serde(default)]
    pub config: Vec<RuleSpec>,
}

/// `route-rules.config[]`. With `state: absent`, unset fields match anything.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RuleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_from: Option<Prefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_to: Option<Prefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route_table: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iif: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmark: Option<HexU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fwmask: Option<HexU32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<Family>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<EntryState>,
    /// `action`: what a matching packet gets instead of a table lookup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<RuleActionSpec>,
    /// `suppress-prefix-length`: a lookup's result with a prefix this long or shorter
    /// is refused (nmstate also reads `suppress_prefixlength`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress_prefix_length: Option<u32>,
    /// `oif` (hostnet's, not nmstate's): the output interface (sockets bound to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
}

/// `route-rules.config[].action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RuleActionSpec {
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RuleActionSpec {
    pub fn action(self) -> crate::netdev::RuleAction {
        use crate::netdev::RuleAction as A;
        match self {
            RuleActionSpec::Blackhole => A::Blackhole,
            RuleActionSpec::Unreachable => A::Unreachable,
            RuleActionSpec::Prohibit => A::Prohibit,
        }
    }

    pub fn of(a: crate::netdev::RuleAction) -> Option<RuleActionSpec> {
        use crate::netdev::RuleAction as A;
        match a {
            A::Blackhole => Some(RuleActionSpec::Blackhole),
            A::Unreachable => Some(RuleActionSpec::Unreachable),
            A::Prohibit => Some(RuleActionSpec::Prohibit),
            _ => None,
        }
    }
}

/// A prefix that may be written with or without `/len` (a bare address is a host
/// prefix), as nmstate accepts for `ip-from`/`ip-to`/`destination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Prefix(pub IpNet);

impl FromStr for Prefix {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.contains('/') {
            s.parse::<IpNet>()
                .map(Prefix)
                .map_err(|_| format!("{s:?} is not an address prefix (expected ADDRESS/LENGTH)"))
        } else {
            s.parse::<IpAddr>()
                .map(|a| Prefix(IpNet::from(a)))
                .map_err(|_| format!("{s:?} is not an IP address or prefix"))
        }
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl Serialize for Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// A u32 written as a number or as a `0x…` string (nmstate accepts both for fwmark).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HexU32(pub u32);

impl Serialize for HexU32 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{:#x}", self.0))
    }
}

impl<'de> Deserialize<'de> for HexU32 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = HexU32;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-bit number or a 0x-prefixed hex string")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<HexU32, E> {
                u32::try_from(v)
                    .map(HexU32)
                    .map_err(|_| E::custom(format!("{v} does not fit in 32 bits")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<HexU32, E> {
                u32::try_from(v)
                    .map(HexU32)
                    .map_err(|_| E::custom(format!("{v} is not a 32-bit unsigned number")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<HexU32, E> {
                let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                    Some(hex) => u32::from_str_radix(hex, 16),
                    None => v.parse::<u32>(),
                };
                parsed
                    .map(HexU32)
                    .map_err(|_| E::custom(format!("{v:?} is not a 32-bit number")))
            }
        }
        d.deserialize_any(V)
    }
}
