//! The verify after an apply: the state read again, and planning again must be empty.

use crate::expand::Intent;
use crate::netdev::{Driver, KernelState, Op};
use crate::plan::{plan, Plan};

/// Re-reads the state and checks that the intent holds: planning again must be empty.
pub fn verify(driver: &mut dyn Driver, intent: &Intent) -> Result<(), Vec<String>> {
    verify_state(driver, intent, None).map(|_| ())
}

/// Whether every op of `plan` leaves what netlink's dumps show as it was: firewall rules
/// and their dispatch maps (nftables, iptables) and conntrack. A sysctl may take a link's
/// addresses with it (`disable_ipv6`), so a plan with one is not.
pub(super) fn beside_netlink(plan: &Plan) -> bool {
    use crate::firewall::FwOp;
    plan.ops().all(|op| {
        matches!(op, Op::Firewall(f) if matches!(**f,
            FwOp::Base { .. } | FwOp::Network { .. } | FwOp::ForgetFlows { .. }))
    })
}

/// [`verify`], returning the state it read. With `known`, the state before a plan that
/// changed nothing netlink shows ([`beside_netlink`]), its links, addresses, routes and
/// rules are not read again (a whole-host dump: about 25 ms at 1,000 networks): the
/// verify is of what the plan changed.
pub(super) fn verify_state(
    driver: &mut dyn Driver,
    intent: &Intent,
    known: Option<&KernelState>,
) -> Result<KernelState, Vec<String>> {
    let after = match known {
        Some(known) => driver.query_beside(known),
        None => driver.query(),
    }
    .map_err(|e| vec![format!("verification could not read the state: {e}")])?;
    match plan(&after, intent) {
        Ok(p) if p.is_empty() => Ok(after),
        Ok(p) => Err(p
            .ops()
            .map(|op| format!("verification: still to {} {op}", op.verb()))
            .collect()),
        Err(errs) => Err(errs.iter().map(|e| format!("verification: {e}")).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::firewall::FwOp;
    use crate::plan::Phase;

    fn plan_of(ops: Vec<(Phase, Op)>) -> Plan {
        let mut p = Plan::new();
        for (phase, op) in ops {
            p.push(phase, op);
        }
        p
    }

    #[test]
    fn only_firewall_rules_leave_netlink_alone() {
        let flows = || {
            Op::Firewall(Box::new(FwOp::ForgetFlows {
                external: "192.0.2.1".parse().expect("ip"),
            }))
        };
        assert!(beside_netlink(&plan_of(vec![(
            Phase::FirewallSetup,
            flows()
        )])));
        let sysctl = Op::Firewall(Box::new(FwOp::Sysctl {
            key: "net/ipv6/conf/br0/disable_ipv6".into(),
            from: Some("0".into()),
            to: "1".into(),
        }));
        assert!(!beside_netlink(&plan_of(vec![
            (Phase::FirewallSetup, flows()),
            (Phase::Sysctls, sysctl)
        ])));
        let link = Op::DeleteLink { name: "br0".into() };
        assert!(!beside_netlink(&plan_of(vec![
            (Phase::FirewallSetup, flows()),
            (Phase::DeleteLinks, link)
        ])));
    }
}
