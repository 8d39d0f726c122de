//! Routes and policy rules as the driver reports and the planner asks for them, with
//! the kernel's rules for when two of them collide or one deletes the other.

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// Scope of a route (only the two values hostnet writes are named).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub enum RouteScope {
    #[default]
    Universe,
    Link,
    Host,
    Other(u8),
}

/// A route: unicast (through a gateway or a device, or several as a multipath route) or
/// one of the types that drop traffic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Route {
    pub table: u32,
    pub destination: IpNet,
    /// The next hop of a route with one (`None` for a multipath route: see
    /// [`RouteAttrs::nexthops`]).
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    /// Route priority; `None` when the kernel reported none (IPv4 metric 0).
    pub metric: Option<u32>,
    pub scope: RouteScope,
    /// Preferred source address.
    pub src: Option<IpAddr>,
    pub protocol: u8,
    /// Type, metrics, onlink and next hops (added later, at the end so that the derived
    /// order of plain routes, which plans print in, did not change).
    #[serde(default, skip_serializing_if = "RouteAttrs::is_unset")]
    pub attrs: RouteAttrs,
}

/// What a route has beyond its key, next hop and source: nmstate's `route-type`,
/// `weight`, `mtu`, `cwnd`, … (RTA_METRICS, RTA_MULTIPATH, rtm_type, RTNH_F_ONLINK).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteAttrs {
    pub kind: RouteKind,
    /// The gateway is on the device's link whatever the addresses say (RTNH_F_ONLINK).
    pub onlink: bool,
    pub metrics: RouteMetrics,
    /// A multipath route's next hops, sorted (the route's own gateway and device are
    /// then `None`); empty for every other route.
    pub nexthops: Vec<NextHop>,
}

impl RouteAttrs {
    /// A plain unicast route's: left out of records, which older readers then read too.
    pub fn is_unset(&self) -> bool {
        *self == Self::default()
    }
}

/// A route's type (`rtm_type`).
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    #[default]
    Unicast,
    Blackhole,
    Unreachable,
    Prohibit,
}

impl RouteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Unicast => "unicast",
            RouteKind::Blackhole => "blackhole",
            RouteKind::Unreachable => "unreachable",
            RouteKind::Prohibit => "prohibit",
        }
    }
}

/// The metrics of a route hostnet models (RTAX_*; `None`: not set). A route with
/// others (rtt, hoplimit, a congestion control, …) stays opaque.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteMetrics {
    /// RTAX_LOCK: bit N locks metric N (`lock` in `ip route`); nmstate locks `cwnd`
    /// (bit 7) always, and `mtu` (bit 2) with `lock-mtu`.
    pub locks: u32,
    pub mtu: Option<u32>,
    pub cwnd: Option<u32>,
    pub advmss: Option<u32>,
    pub initcwnd: Option<u32>,
    pub initrwnd: Option<u32>,
    pub quickack: Option<u32>,
}

/// The lock bit of RTAX_MTU.
pub const LOCK_MTU: u32 = 1 << 2;
/// The lock bit of RTAX_CWND.
pub const LOCK_CWND: u32 = 1 << 7;

impl RouteMetrics {
    pub fn is_empty(&self) -> bool {
        *self == RouteMetrics::default()
    }
}

/// One next hop of a multipath route.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NextHop {
    pub gateway: Option<IpAddr>,
    pub dev: Option<String>,
    /// 1-256 (`rtnh_hops` + 1).
    pub weight: u16,
    pub onlink: bool,
}

impl fmt::Display for Route {
    /// `ip route` argument order (see [`super::fmt_route`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::fmt_route(f, self)
    }
}

impl fmt::Display for Rule {
    /// `ip rule` argument order (see [`super::fmt_rule`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        super::fmt_rule(f, self)
    }
}

impl Route {
    /// The devices the route goes out of: its own, or its next hops'.
    pub fn devices(&self) -> impl Iterator<Item = &str> {
        self.dev
            .as_deref()
            .into_iter()
            .chain(self.attrs.nexthops.iter().filter_map(|h| h.dev.as_deref()))
    }

    /// True when `self` and `other` denote the same kernel route entry, the one an add
    /// with NLM_F_EXCL would collide with: table, destination and metric (IPv4 also
    /// keys on tos, which hostnet never sets; IPv6 refuses a second route with the same
    /// destination and metric whatever its next hop).
    pub fn same_key(&self, other: &Route) -> bool {
        self.table == other.table
            && self.destination == other.destination
            && self.metric.unwrap_or(0) == other.metric.unwrap_or(0)
    }
}

/// Address family of a policy rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        if addr.is_ipv4() {
            Family::Ipv4
        } else {
            Family::Ipv6
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ipv4 => "ipv4",
            Family::Ipv6 => "ipv6",
        })
    }
}

/// What a policy rule does when its selectors match (`FR_ACT_*`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    /// Look the route up in the rule's `table`; on no result, go on with the next rule.
    #[default]
    Lookup,
    /// Go on at the first rule with this priority (always above the rule's own; a
    /// target no rule has makes the rule a no-op until one appears).
    Goto(u32),
    /// Do nothing (a landing place for gotos).
    Nop,
    Blackhole,
    Unreachable,
    Prohibit,
}

/// A policy routing rule.
///
/// Fields after `protocol` were added later; they keep their place at the end so that the
/// derived order (which plans print in) of plain lookup rules did not change.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Rule {
    pub family: Family,
    pub priority: u32,
    pub from: Option<IpNet>,
    pub to: Option<IpNet>,
    /// Input interface; `lo` matches what the host itself sends.
    pub iif: Option<String>,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    /// The table of a [`RuleAction::Lookup`]; 0 for the other actions.
    pub table: u32,
    pub protocol: u8,
    #[serde(default)]
    pub action: RuleAction,
    /// `not`: the rule applies where its selectors do *not* match (FIB_RULE_INVERT).
    #[serde(default)]
    pub invert: bool,
    /// Output interface (only sockets bound to a device have one).
    #[serde(default)]
    pub oif: Option<String>,
    /// A lookup's result is refused when its prefix is this long or shorter.
    #[serde(default)]
    pub suppress_prefixlength: Option<u32>,
}

impl Rule {
    /// `lookup table` with no selectors besides the priority.
    pub fn lookup(family: Family, priority: u32, table: u32, protocol: u8) -> Rule {
        Rule {
            family,
            priority,
            from: None,
            to: None,
            iif: None,
            fwmark: None,
            fwmask: None,
            table,
            protocol,
            action: RuleAction::Lookup,
            invert: false,
            oif: None,
            suppress_prefixlength: None,
        }
    }

    /// What `route-rules` entries can say today: a lookup without `not`, `oif` or
    /// `suppress_prefixlength`. Only such rules are matched by `state: absent` wildcards
    /// and listed by `show`.
    pub fn is_plain(&self) -> bool {
        self.action == RuleAction::Lookup
            && !self.invert
            && self.oif.is_none()
            && self.suppress_prefixlength.is_none()
    }

    /// What a `route-rules` entry can say: a lookup or a blackhole, unreachable or
    /// prohibit action, without `not` (nmstate has no key for it), with any of the
    /// selectors. Only such rules are matched by `state: absent` wildcards and listed by
    /// `show`.
    pub fn is_sayable(&self) -> bool {
        !self.invert && !matches!(self.action, RuleAction::Goto(_) | RuleAction::Nop)
    }

    /// True when an RTM_NEWRULE with `NLM_F_EXCL` for `self` is refused because of
    /// `other` (the kernel's `rule_exists`): every attribute counts, the protocol too,
    /// except `not` and a goto's target.
    pub fn kernel_duplicate(&self, other: &Rule) -> bool {
        // The fields every rule sets, compared as they are before the whole rule is
        // cloned for the comparison below: most pairs differ there (one per rule present,
        // for each rule added, in the model driver).
        if self.priority != other.priority || self.table != other.table || self.from != other.from {
            return false;
        }
        let action = |r: &Rule| match r.action {
            RuleAction::Goto(_) => RuleAction::Goto(0),
            a => a,
        };
        Rule {
            action: action(self),
            invert: false,
            ..self.clone()
        } == Rule {
            action: action(other),
            invert: false,
            ..other.clone()
        }
    }

    /// True when an RTM_DELRULE for `self` may remove `other` (the kernel's
    /// `rule_find`): the attributes `self` sets must match, those it leaves unset match
    /// anything, and `not` and a goto's target are not compared. The kernel removes the
    /// first rule in its list that matches.
    pub fn kernel_delete_matches(&self, other: &Rule) -> bool {
        fn opt<T: PartialEq>(want: &Option<T>, have: &Option<T>) -> bool {
            want.is_none() || want == have
        }
        let prefix = |want: &Option<IpNet>, have: &Option<IpNet>| match want {
            Some(n) if n.prefix_len() > 0 => Some(*n) == *have,
            _ => true,
        };
        let nonzero = |want: Option<u32>, have: Option<u32>| {
            want.unwrap_or(0) == 0 || want.unwrap_or(0) == have.unwrap_or(0)
        };
        self.family == other.family
            && self.priority == other.priority
            && std::mem::discriminant(&self.action) == std::mem::discriminant(&other.action)
            && (self.table == 0 || self.table == other.table)
            && opt(&self.iif, &other.iif)
            && opt(&self.oif, &other.oif)
            && nonzero(self.fwmark, other.fwmark)
            && nonzero(self.fwmask, other.fwmask)
            && opt(&self.suppress_prefixlength, &other.suppress_prefixlength)
            && (self.protocol == 0 || self.protocol == other.protocol)
            && prefix(&self.from, &other.from)
            && prefix(&self.to, &other.to)
    }
}
