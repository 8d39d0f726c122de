//! What the kernel does by itself for VRFs, shared by the model driver (which must
//! predict it) and the rollback checks (which must accept it).
//!
//! With the first VRF of a namespace the kernel adds an `l3mdev` rule for IPv4 and IPv6
//! (`vrf_add_fib_rules`: priority 1000, protocol kernel, FRA_L3MDEV, no table) and keeps
//! it after the last VRF goes. The Linux driver reads it as an opaque rule (FRA_L3MDEV is
//! not a selector [`Rule`] has), so the model keeps it there too.

use super::{Family, KernelState, Rule, PROTO_KERNEL};

/// FIB_RULE_PREF, the l3mdev rule's priority.
pub const L3MDEV_PRIORITY: u32 = 1000;

/// The kernel's l3mdev rule of `family`, as the Linux driver reads it back.
pub fn l3mdev_rule(family: Family) -> Rule {
    Rule::lookup(family, L3MDEV_PRIORITY, 0, PROTO_KERNEL)
}

/// Adds the kernel's l3mdev rules where they are missing (a VRF was created).
pub fn add_l3mdev_rules(s: &mut KernelState) {
    for family in [Family::Ipv4, Family::Ipv6] {
        let rule = l3mdev_rule(family);
        if !s.opaque_rules.contains(&rule) {
            s.opaque_rules.push(rule);
            s.opaque_rules.sort();
        }
    }
}

/// `after` without the l3mdev rules that `before` did not have: what a rollback leaves
/// behind by the kernel's doing once it made a VRF, and nothing else.
pub fn without_l3mdev_leftover(before: &KernelState, mut after: KernelState) -> KernelState {
    after.opaque_rules.retain(|r| {
        let leftover = [Family::Ipv4, Family::Ipv6]
            .iter()
            .any(|f| *r == l3mdev_rule(*f));
        !leftover || before.opaque_rules.contains(r)
    });
    after
}
