//! What the kernel's refusals mean: errnos that say a delete found its object gone, and
//! bare errnos explained where the op says why.

use super::socket::Nack;
use crate::netdev::{DriverError, LinkKind, Op};

pub(super) fn rejection(op: &Op, nack: Nack) -> DriverError {
    match nack {
        Nack::Kernel { errno, message } => DriverError::Rejected {
            op: format!("{} {op}", op.verb()),
            errno,
            message: message.or_else(|| match op {
                Op::AltName { add, .. } => super::alt_names::why(*add, errno),
                _ => why_unsupported(op, errno),
            }),
        },
        Nack::Failed(e) => e,
    }
}

/// The kernel's bare EOPNOTSUPP for what needs bridge VLAN filtering, explained: with
/// no bridge yet, the plan could not know the kernel lacks it.
fn why_unsupported(op: &Op, errno: i32) -> Option<String> {
    let vlans = match op {
        Op::BridgeVlans { .. } => true,
        Op::CreateLink(l) => matches!(&l.kind, LinkKind::Bridge(o) if o.vlan_filtering),
        Op::ChangeLink { change, .. } => change
            .bridge
            .as_ref()
            .is_some_and(|b| b.vlan_filtering.is_some()),
        _ => false,
    };
    (errno == libc::EOPNOTSUPP && vlans).then(|| {
        "this kernel has no bridge VLAN filtering (CONFIG_BRIDGE_VLAN_FILTERING), which port VLANs need".into()
    })
}

/// Errnos that mean a delete found its object already gone.
pub(super) fn already_gone(op: &Op, errno: i32) -> bool {
    match op {
        Op::DeleteLink { .. } => matches!(errno, libc::ENODEV | libc::ENOENT),
        Op::DeleteAddress(_) => matches!(errno, libc::EADDRNOTAVAIL | libc::ENOENT | libc::ENODEV),
        Op::DeleteRoute(_) => matches!(errno, libc::ESRCH | libc::ENOENT | libc::ENODEV),
        Op::DeleteRule(_) => matches!(errno, libc::ENOENT | libc::ESRCH),
        Op::AltName { add, .. } => super::alt_names::already_gone(*add, errno),
        _ => false,
    }
}
