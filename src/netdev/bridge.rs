//! Linux bridge settings (IFLA_BR_*) and a port's settings in its bridge
//! (IFLA_BRPORT_*), in the kernel's units: timers in centiseconds (clock_t, USER_HZ
//! 100), as netlink carries them. nmstate's units (seconds for the STP timers and the
//! ageing time) are converted at the edges, in `model/` and `show`.
//!
//! Each settings type comes with a change type of the same fields, each optional: what
//! a plan sets. The kernel keeps timers in jiffies, so a centisecond value comes back
//! rounded on kernels whose HZ does not divide 100 evenly (3125 reads back as 3124 with
//! `CONFIG_HZ=250`); [`Cmp`] says how each field is compared.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::MacAddr;

/// How a wanted value is compared with the kernel's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmp {
    Exact,
    /// Centiseconds compared in whole seconds (nmstate's unit): a value another tool set
    /// in fractions of a second is not changed by a file that gives whole seconds.
    Seconds,
    /// Centiseconds compared within one (jiffy rounding).
    Jiffy,
}

/// A value of a settings field, for comparison and display.
pub trait FieldValue: Clone + PartialEq + fmt::Debug {
    fn same(&self, other: &Self, cmp: Cmp) -> bool {
        let _ = cmp;
        self == other
    }
    fn text(&self) -> String {
        format!("{self:?}")
    }
}

impl FieldValue for bool {
    fn text(&self) -> String {
        (if *self { "on" } else { "off" }).to_string()
    }
}

impl FieldValue for u8 {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for i32 {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for u16 {
    fn text(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for u32 {
    fn same(&self, other: &Self, cmp: Cmp) -> bool {
        u64::from(*self).same(&u64::from(*other), cmp)
    }
    fn text(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for u64 {
    fn same(&self, other: &Self, cmp: Cmp) -> bool {
        match cmp {
            Cmp::Exact => self == other,
            Cmp::Seconds => self / 100 == other / 100,
            Cmp::Jiffy => self.abs_diff(*other) <= 1,
        }
    }
    fn text(&self) -> String {
        self.to_string()
    }
}

impl FieldValue for MacAddr {
    fn text(&self) -> String {
        self.to_string()
    }
}

/// Declares a settings struct (with the kernel's defaults), its change struct, and
/// what plans and rollbacks need of them.
macro_rules! settings {
    (
        $(#[$m:meta])* $opts:ident, $(#[$cm:meta])* $change:ident {
            $( $(#[$fm:meta])* $field:ident : $ty:ty = $default:expr, $cmp:ident, $label:literal; )*
        }
    ) => {
        $(#[$m])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $opts {
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl Default for $opts {
            fn default() -> Self {
                $opts { $( $field: $default, )* }
            }
        }

        $(#[$cm])*
        #[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default)]
        pub struct $change {
            $( pub $field: Option<$ty>, )*
        }

        impl $change {
            pub fn is_empty(&self) -> bool {
                true $( && self.$field.is_none() )*
            }

            /// The fields this change sets that `have` does not have yet, compared as
            /// each field's [`Cmp`] says.
            pub fn missing_from(&self, have: &$opts) -> $change {
                $change {
                    $( $field: self.$field.clone().filter(|v| !v.same(&have.$field, Cmp::$cmp)), )*
                }
            }

            /// Every field where `to` differs from `from` (exactly: for converging to a
            /// recorded state).
            pub fn between(from: &$opts, to: &$opts) -> $change {
                $change {
                    $( $field: (from.$field != to.$field).then(|| to.$field.clone()), )*
                }
            }

            /// `o` with this change's fields set.
            pub fn apply_to(&self, o: &mut $opts) {
                $( if let Some(v) = &self.$field { o.$field = v.clone(); } )*
            }

            /// This change with `later`'s fields set over it.
            pub fn merge(&mut self, later: &$change) {
                $( if later.$field.is_some() { self.$field = later.$field.clone(); } )*
            }

            /// What takes this change back, field by field: the `before` value where
            /// `now` still has the value this change set; a field someone changed since
            /// is left and described (`name: now, set, was`) in the second part.
            pub fn take_back(&self, before: &$opts, now: &$opts) -> ($change, Vec<(&'static str, String, String, String)>) {
                let mut back = $change::default();
                let mut kept = Vec::new();
                $(
                    if let Some(set) = &self.$field {
                        if now.$field != before.$field {
                            if now.$field == *set {
                                back.$field = Some(before.$field.clone());
                            } else {
                                kept.push(($label, now.$field.text(), set.text(), before.$field.text()));
                            }
                        }
                    }
                )*
                (back, kept)
            }

            /// `label value` pairs of the fields set, in `ip -d link` style.
            pub fn fields(&self) -> Vec<(&'static str, String)> {
                let mut out = Vec::new();
                $( if let Some(v) = &self.$field { out.push(($label, v.text())); } )*
                out
            }
        }

        impl $opts {
            /// `label value` pairs of the fields that differ from the kernel's defaults.
            pub fn non_default(&self) -> Vec<(&'static str, String)> {
                $change::between(&$opts::default(), self).fields()
            }
        }

        impl fmt::Display for $change {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let fields = self.fields();
                for (i, (label, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{label} {value}")?;
                }
                Ok(())
            }
        }
    };
}

/// The group address 802.1D reserves for STP (01:80:C2:00:00:00), the kernel's default.
pub const STP_GROUP_ADDR: MacAddr = MacAddr([0x01, 0x80, 0xc2, 0, 0, 0]);

settings! {
    /// A Linux bridge's settings, as the kernel reports them (IFLA_BR_*). Defaults are a
    /// new bridge's on Linux 6.1 and 6.18 (`mcast_startup_query_interval` reads 3124 with
    /// HZ 250; `mcast_hash_max` was 512 before 5.x).
    BridgeOptions,
    /// The bridge settings a change sets (RTM_NEWLINK with IFLA_INFO_DATA).
    BridgeChange {
        /// Spanning tree (kernel STP) on or off.
        stp: bool = false, Exact, "stp";
        forward_delay: u32 = 1500, Seconds, "forward_delay";
        hello_time: u32 = 200, Seconds, "hello_time";
        max_age: u32 = 2000, Seconds, "max_age";
        priority: u16 = 32768, Exact, "priority";
        ageing_time: u32 = 30000, Seconds, "ageing_time";
        group_fwd_mask: u16 = 0, Exact, "group_fwd_mask";
        group_addr: MacAddr = STP_GROUP_ADDR, Exact, "group_address";
        mcast_snooping: bool = true, Exact, "mcast_snooping";
        /// 0 disabled, 1 automatic (from queries), 2 always.
        mcast_router: u8 = 1, Exact, "mcast_router";
        mcast_querier: bool = false, Exact, "mcast_querier";
        mcast_query_use_ifaddr: bool = false, Exact, "mcast_query_use_ifaddr";
        mcast_hash_max: u32 = 4096, Exact, "mcast_hash_max";
        mcast_last_member_count: u32 = 2, Exact, "mcast_last_member_count";
        mcast_startup_query_count: u32 = 2, Exact, "mcast_startup_query_count";
        mcast_last_member_interval: u64 = 100, Jiffy, "mcast_last_member_interval";
        mcast_membership_interval: u64 = 26000, Jiffy, "mcast_membership_interval";
        mcast_querier_interval: u64 = 25500, Jiffy, "mcast_querier_interval";
        mcast_query_interval: u64 = 12500, Jiffy, "mcast_query_interval";
        mcast_query_response_interval: u64 = 1000, Jiffy, "mcast_query_response_interval";
        mcast_startup_query_interval: u64 = 3124, Jiffy, "mcast_startup_query_interval";
        /// Forward by port VLANs (a kernel without CONFIG_BRIDGE_VLAN_FILTERING refuses
        /// the attribute even as 0: it is sent only when it changes).
        vlan_filtering: bool = false, Exact, "vlan_filtering";
        /// 0x8100 (802.1Q) or 0x88a8 (802.1ad).
        vlan_protocol: u16 = VLAN_8021Q, Exact, "vlan_protocol";
        /// The VLAN a port gets (PVID, untagged) when it joins; 0: none.
        vlan_default_pvid: u16 = 1, Exact, "vlan_default_pvid";
    }
}

/// 802.1Q's ethertype.
pub const VLAN_8021Q: u16 = 0x8100;
/// 802.1ad's (Q-in-Q) ethertype.
pub const VLAN_8021AD: u16 = 0x88a8;

/// How a port (or the bridge itself) carries a VLAN: whether untagged frames coming in
/// get it (PVID, one per port) and whether frames leave untagged.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct VlanFlags {
    pub pvid: bool,
    pub untagged: bool,
}

/// The VLANs of a bridge port or bridge, by VLAN id (1-4094).
pub type VlanSet = std::collections::BTreeMap<u16, VlanFlags>;

/// The set a port gets when it joins a bridge whose default PVID is `pvid` (and the
/// bridge itself when it is made): that VLAN, PVID and untagged; none for 0.
pub fn default_vlans(pvid: u16) -> VlanSet {
    let mut s = VlanSet::new();
    if pvid != 0 {
        s.insert(
            pvid,
            VlanFlags {
                pvid: true,
                untagged: true,
            },
        );
    }
    s
}

/// `ip`'s words for a set: `100 pvid untagged 200 201`.
pub fn fmt_vlans(s: &VlanSet) -> String {
    let mut out = Vec::new();
    for (vid, f) in s {
        let mut w = vid.to_string();
        if f.pvid {
            w.push_str(" pvid");
        }
        if f.untagged {
            w.push_str(" untagged");
        }
        out.push(w);
    }
    out.join(" ")
}

settings! {
    /// A port's settings in its bridge (IFLA_BRPORT_* in IFLA_INFO_SLAVE_DATA). The
    /// kernel derives `cost` from the port's speed until it is set (a veth's 10 Gb/s
    /// gives 2, 1 Gb/s 4, an unknown speed 100).
    BridgePortOptions,
    /// The port settings a change sets.
    PortChange {
        hairpin: bool = false, Exact, "hairpin";
        cost: u32 = 2, Exact, "cost";
        priority: u16 = 32, Exact, "priority";
    }
}

settings! {
    /// A port's settings in its bond (IFLA_BOND_SLAVE_* in IFLA_INFO_SLAVE_DATA; here
    /// for the macro). `prio` needs Linux 6.0 and a mode with a primary (active-backup,
    /// balance-tlb, balance-alb): the kernel refuses it in the others, even unchanged.
    BondPortOptions,
    /// The bond port settings a change sets.
    BondPortChange {
        queue_id: u16 = 0, Exact, "queue_id";
        prio: i32 = 0, Exact, "prio";
    }
}

impl BridgeOptions {
    /// What hostnet creates a bridge with when the file says nothing: the kernel's
    /// defaults, but no forward delay (with STP off it is unused; with STP on the kernel
    /// raises it to its 2 s minimum, so that a new port forwards after 4 s, not 30).
    pub fn new_bridge() -> BridgeOptions {
        BridgeOptions {
            forward_delay: 0,
            ..BridgeOptions::default()
        }
    }
}

/// The shortest forward delay the kernel allows while STP is on (2 s, BR_MIN_FORWARD_DELAY).
pub const MIN_STP_FORWARD_DELAY: u32 = 200;

impl BridgeChange {
    /// A change that only turns STP on or off.
    pub fn stp(on: bool) -> BridgeChange {
        BridgeChange {
            stp: Some(on),
            ..BridgeChange::default()
        }
    }

    /// The part of this change that must go in a request of its own, first: STP off
    /// when the forward delay goes below 2 s too (the kernel checks the delay before it
    /// takes STP off, and refuses it while STP is on).
    pub fn split_stp_off(&mut self) -> Option<BridgeChange> {
        let below = self
            .forward_delay
            .is_some_and(|d| d < MIN_STP_FORWARD_DELAY);
        if self.stp == Some(false) && below {
            self.stp = None;
            return Some(BridgeChange::stp(false));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_compare_as_the_kernel_rounds() {
        let have = BridgeOptions {
            hello_time: 250,
            mcast_startup_query_interval: 3124,
            ..BridgeOptions::default()
        };
        let want = BridgeChange {
            hello_time: Some(200),
            mcast_startup_query_interval: Some(3125),
            priority: Some(4096),
            ..BridgeChange::default()
        };
        let missing = want.missing_from(&have);
        assert_eq!(missing.to_string(), "priority 4096");
        let mut o = have.clone();
        missing.apply_to(&mut o);
        assert!(want.missing_from(&o).is_empty());
    }

    #[test]
    fn a_rollback_takes_back_only_what_is_still_as_set() {
        let before = BridgeOptions::default();
        let set = BridgeChange {
            priority: Some(4096),
            hello_time: Some(300),
            ..BridgeChange::default()
        };
        let mut now = before.clone();
        set.apply_to(&mut now);
        now.hello_time = 400;
        let (back, kept) = set.take_back(&before, &now);
        assert_eq!(back.to_string(), "priority 32768");
        assert_eq!(
            kept,
            [(
                "hello_time",
                "400".to_string(),
                "300".to_string(),
                "200".to_string()
            )]
        );
    }

    #[test]
    fn stp_off_with_a_short_delay_is_split() {
        let mut c = BridgeChange {
            stp: Some(false),
            forward_delay: Some(0),
            ..BridgeChange::default()
        };
        assert_eq!(c.split_stp_off(), Some(BridgeChange::stp(false)));
        assert_eq!(c.to_string(), "forward_delay 0");
        let mut on = BridgeChange {
            stp: Some(true),
            forward_delay: Some(1400),
            ..BridgeChange::default()
        };
        assert_eq!(on.split_stp_off(), None);
    }
}
