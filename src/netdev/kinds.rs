//! Settings of the device kinds beyond bridges and veths: VLAN, bond, VXLAN,
//! MACVLAN/MACVTAP and tap. Plain data, platform-neutral, totally ordered like the rest
//! of [`super::types`]; names follow nmstate where it has them.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The port of a new VXLAN whose file gives none: the kernel's own default, the
/// pre-standard 8472, which NetworkManager (and so nmstate, which leaves the key to it)
/// uses too, so that an nmstate file makes the tunnel it makes there (IANA's port is
/// 4789: give `destination-port: 4789` for peers that use it). hostnet still sends the
/// port explicitly.
pub const VXLAN_DEFAULT_PORT: u16 = 8472;

/// `dst_port` of a VXLAN in an intent whose file gives no `destination-port`: the
/// planner keeps an existing VXLAN's port (nmstate's rule for keys left out) and gives
/// a new one [`VXLAN_DEFAULT_PORT`]. Never sent: validation refuses a port 0.
pub const VXLAN_PORT_UNSET: u16 = 0;

/// An 802.1Q VLAN device on `base`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VlanOptions {
    /// The device the tagged frames go out on; `None` when it is in another namespace.
    pub base: Option<String>,
    /// 1..=4094.
    pub id: u16,
    /// The tag's protocol; fixed at creation (the kernel ignores it in a change).
    pub protocol: VlanProtocol,
    /// VLAN_FLAG_REORDER_HDR: the kernel's default, on.
    pub reorder_headers: bool,
    /// VLAN_FLAG_LOOSE_BINDING: the VLAN's state does not follow its base's.
    pub loose_binding: bool,
    /// VLAN_FLAG_GVRP.
    pub gvrp: bool,
    /// VLAN_FLAG_MVRP.
    pub mvrp: bool,
}

/// The VLAN flags hostnet manages (IFLA_VLAN_FLAGS' mask); bridge binding is left
/// as the kernel has it.
pub const VLAN_FLAGS_MASK: u32 =
    VLAN_FLAG_REORDER_HDR | VLAN_FLAG_GVRP | VLAN_FLAG_LOOSE_BINDING | VLAN_FLAG_MVRP;
const VLAN_FLAG_REORDER_HDR: u32 = 0x1;
const VLAN_FLAG_GVRP: u32 = 0x2;
const VLAN_FLAG_LOOSE_BINDING: u32 = 0x4;
const VLAN_FLAG_MVRP: u32 = 0x8;

impl VlanOptions {
    /// An 802.1Q VLAN with the kernel's default flags (header reordering only).
    pub fn new(base: Option<String>, id: u16) -> Self {
        VlanOptions {
            base,
            id,
            protocol: VlanProtocol::Dot1Q,
            reorder_headers: true,
            loose_binding: false,
            gvrp: false,
            mvrp: false,
        }
    }

    /// IFLA_VLAN_FLAGS' flags, within [`VLAN_FLAGS_MASK`].
    pub fn flags(&self) -> u32 {
        [
            (self.reorder_headers, VLAN_FLAG_REORDER_HDR),
            (self.gvrp, VLAN_FLAG_GVRP),
            (self.loose_binding, VLAN_FLAG_LOOSE_BINDING),
            (self.mvrp, VLAN_FLAG_MVRP),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .fold(0, |acc, (_, f)| acc | f)
    }

    /// Takes the managed flags from IFLA_VLAN_FLAGS' `flags`.
    pub fn set_flags(&mut self, flags: u32) {
        self.reorder_headers = flags & VLAN_FLAG_REORDER_HDR != 0;
        self.gvrp = flags & VLAN_FLAG_GVRP != 0;
        self.loose_binding = flags & VLAN_FLAG_LOOSE_BINDING != 0;
        self.mvrp = flags & VLAN_FLAG_MVRP != 0;
    }
}

/// A VLAN tag's protocol, by nmstate's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum VlanProtocol {
    /// 802.1Q, ethertype 0x8100.
    Dot1Q,
    /// 802.1ad (Q-in-Q service tag), ethertype 0x88a8.
    Dot1Ad,
}

impl VlanProtocol {
    pub const ALL: [VlanProtocol; 2] = [VlanProtocol::Dot1Q, VlanProtocol::Dot1Ad];

    pub fn as_str(self) -> &'static str {
        match self {
            VlanProtocol::Dot1Q => "802.1q",
            VlanProtocol::Dot1Ad => "802.1ad",
        }
    }

    /// The ethertype (IFLA_VLAN_PROTOCOL, big-endian on the wire).
    pub fn ethertype(self) -> u16 {
        match self {
            VlanProtocol::Dot1Q => 0x8100,
            VlanProtocol::Dot1Ad => 0x88a8,
        }
    }

    pub fn from_ethertype(t: u16) -> Option<VlanProtocol> {
        VlanProtocol::ALL.into_iter().find(|p| p.ethertype() == t)
    }
}

impl FromStr for VlanProtocol {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VlanProtocol::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown VLAN protocol {s:?} (one of 802.1q, 802.1ad)"))
    }
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
    /// A name, or the kernel's number (`"4"`, as the bonding sysfs and nmstate take it).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Ok(n) = s.trim().parse::<i64>() {
            return u8::try_from(n)
                .ok()
                .and_then(BondMode::from_number)
                .ok_or_else(|| format!("{n} is out of range (0-6: balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb)"));
        }
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
    /// UDP destination port ([`VXLAN_PORT_UNSET`] in an intent: the file gives none).
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
    /// Passthru puts the base in promiscuous mode unless MACVLAN_FLAG_NOPROMISC is set;
    /// nmstate's `promiscuous` is that flag inverted (default on, as the kernel's).
    pub promiscuous: bool,
}

/// MACVLAN_FLAG_NOPROMISC in IFLA_MACVLAN_FLAGS.
pub const MACVLAN_FLAG_NOPROMISC: u16 = 1;

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

/// IPVLAN modes, by their nmstate names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum IpVlanMode {
    L2,
    L3,
    L3s,
}

impl IpVlanMode {
    pub const ALL: [IpVlanMode; 3] = [IpVlanMode::L2, IpVlanMode::L3, IpVlanMode::L3s];

    pub fn as_str(self) -> &'static str {
        match self {
            IpVlanMode::L2 => "l2",
            IpVlanMode::L3 => "l3",
            IpVlanMode::L3s => "l3s",
        }
    }

    /// The kernel's value (IFLA_IPVLAN_MODE).
    pub fn number(self) -> u16 {
        match self {
            IpVlanMode::L2 => 0,
            IpVlanMode::L3 => 1,
            IpVlanMode::L3s => 2,
        }
    }

    pub fn from_number(n: u16) -> Option<IpVlanMode> {
        IpVlanMode::ALL.into_iter().find(|m| m.number() == n)
    }
}

impl FromStr for IpVlanMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        IpVlanMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = IpVlanMode::ALL.iter().map(|m| m.as_str()).collect();
                format!("unknown mode {s:?} (one of {})", names.join(", "))
            })
    }
}

/// An IPVLAN device on `base`: its mode and IFLA_IPVLAN_FLAGS (`private` and `vepa`
/// exclude each other; neither is the kernel's default, bridge).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct IpVlanOptions {
    pub base: Option<String>,
    pub mode: IpVlanMode,
    pub private: bool,
    pub vepa: bool,
}

/// IPVLAN_F_PRIVATE in IFLA_IPVLAN_FLAGS.
pub const IPVLAN_F_PRIVATE: u16 = 1;
/// IPVLAN_F_VEPA in IFLA_IPVLAN_FLAGS.
pub const IPVLAN_F_VEPA: u16 = 2;

impl IpVlanOptions {
    /// IFLA_IPVLAN_FLAGS.
    pub fn flags(&self) -> u16 {
        let mut f = 0;
        if self.private {
            f |= IPVLAN_F_PRIVATE;
        }
        if self.vepa {
            f |= IPVLAN_F_VEPA;
        }
        f
    }
}
