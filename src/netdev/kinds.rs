//! Settings of the device kinds beyond bridges and veths: VLAN, bond, VXLAN,
//! MACVLAN/MACVTAP and tap. Plain data, platform-neutral, totally ordered like the rest
//! of [`super::types`]; names follow nmstate where it has them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// IANA's VXLAN port. The kernel's own default is the pre-standard 8472, so hostnet
/// always sends the port explicitly.
pub const VXLAN_DEFAULT_PORT: u16 = 4789;

/// An 802.1Q VLAN device on `base`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VlanOptions {
    /// The device the tagged frames go out on; `None` when it is in another namespace.
    pub base: Option<String>,
    /// 1..=4094.
    pub id: u16,
}

/// Bonding modes, by their nmstate / sysfs names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BondMode {
    BalanceRr,
    ActiveBackup,
    BalanceXor,
    Broadcast,
    Lacp,
    BalanceTlb,
    BalanceAlb,
}

impl BondMode {
    pub const ALL: [BondMode; 7] = [
        BondMode::BalanceRr,
        BondMode::ActiveBackup,
        BondMode::BalanceXor,
        BondMode::Broadcast,
        BondMode::Lacp,
        BondMode::BalanceTlb,
        BondMode::BalanceAlb,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BondMode::BalanceRr => "balance-rr",
            BondMode::ActiveBackup => "active-backup",
            BondMode::BalanceXor => "balance-xor",
            BondMode::Broadcast => "broadcast",
            BondMode::Lacp => "802.3ad",
            BondMode::BalanceTlb => "balance-tlb",
            BondMode::BalanceAlb => "balance-alb",
        }
    }

    /// The kernel's number for the mode (IFLA_BOND_MODE).
    pub fn number(self) -> u8 {
        match self {
            BondMode::BalanceRr => 0,
            BondMode::ActiveBackup => 1,
            BondMode::BalanceXor => 2,
            BondMode::Broadcast => 3,
            BondMode::Lacp => 4,
            BondMode::BalanceTlb => 5,
            BondMode::BalanceAlb => 6,
        }
    }

    pub fn from_number(n: u8) -> Option<BondMode> {
        BondMode::ALL.into_iter().find(|m| m.number() == n)
    }
}

impl FromStr for BondMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        BondMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = BondMode::ALL.iter().map(|m| m.as_str()).collect();
                format!("unknown bond mode {s:?} (one of {})", names.join(", "))
            })
    }
}

impl fmt::Display for BondMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bond; its ports are the links whose controller it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BondOptions {
    pub mode: BondMode,
    /// MII link monitoring interval in ms (0: off).
    pub miimon: u32,
}

/// A VXLAN tunnel endpoint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VxlanOptions {
    /// The VNI, 24 bits.
    pub id: u32,
    /// Device the tunnel is bound to.
    pub base: Option<String>,
    /// Remote endpoint (unicast) or multicast group.
    pub remote: Option<IpAddr>,
    pub local: Option<IpAddr>,
    /// UDP destination port.
    pub dst_port: u16,
    /// Learn remote MACs from received packets.
    pub learning: bool,
}

/// MACVLAN / MACVTAP modes, by their nmstate names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum MacVlanMode {
    Private,
    Vepa,
    Bridge,
    Passthru,
    Source,
}

impl MacVlanMode {
    pub const ALL: [MacVlanMode; 5] = [
        MacVlanMode::Private,
        MacVlanMode::Vepa,
        MacVlanMode::Bridge,
        MacVlanMode::Passthru,
        MacVlanMode::Source,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MacVlanMode::Private => "private",
            MacVlanMode::Vepa => "vepa",
            MacVlanMode::Bridge => "bridge",
            MacVlanMode::Passthru => "passthru",
            MacVlanMode::Source => "source",
        }
    }

    /// The kernel's flag value (IFLA_MACVLAN_MODE).
    pub fn number(self) -> u32 {
        match self {
            MacVlanMode::Private => 1,
            MacVlanMode::Vepa => 2,
            MacVlanMode::Bridge => 4,
            MacVlanMode::Passthru => 8,
            MacVlanMode::Source => 16,
        }
    }

    pub fn from_number(n: u32) -> Option<MacVlanMode> {
        MacVlanMode::ALL.into_iter().find(|m| m.number() == n)
    }
}

impl FromStr for MacVlanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MacVlanMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = MacVlanMode::ALL.iter().map(|m| m.as_str()).collect();
                format!("unknown mode {s:?} (one of {})", names.join(", "))
            })
    }
}

/// A MACVLAN or MACVTAP device on `base`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MacVlanOptions {
    pub base: Option<String>,
    pub mode: MacVlanMode,
}

/// A tap device (a tun device in tap mode, without packet information).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TapOptions {
    /// User allowed to attach (`None`: only CAP_NET_ADMIN).
    pub owner: Option<u32>,
    /// Group allowed to attach.
    pub group: Option<u32>,
    pub multi_queue: bool,
    /// Outlives the file descriptor that created it. hostnet only makes persistent
    /// taps: it exits after applying.
    pub persistent: bool,
}

impl Default for TapOptions {
    fn default() -> Self {
        TapOptions {
            owner: None,
            group: None,
            multi_queue: false,
            persistent: true,
        }
    }
}
