//! What happens when a lease changes: one network converged from a client event, or every
//! DHCP network converged from what the kernel has (startup, and each netlink change in
//! `hostnet monitor`). Both run in an engine session ([`Session::lock`], then
//! [`Session::converge`]), so they take the namespace's lock and plan, verify and roll
//! back like `apply`, and both act on the networks as last applied in this namespace.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::event::{Change, Event};
use crate::engine::applied::{self, Applied, AppliedError};
use crate::engine::lock::LockError;
use crate::engine::session::Session;
use crate::engine::ApplyError;
use crate::expand::{Intent, LeaseSource};
use crate::netdev::linux::{ChangeListener, LinuxDriver};
use crate::netdev::{Driver, DriverError, Family};
use crate::plan::Plan;

/// Why a lease change could not be converged.
#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    #[error("cannot read what was last applied")]
    Applied(#[from] AppliedError),
    #[error("cannot take the hostnet lock")]
    Lock(#[from] LockError),
    #[error("netlink")]
    Driver(#[from] DriverError),
    #[error("converging failed")]
    Apply(#[from] ApplyError),
}

/// What an event led to.
#[derive(Debug)]
pub enum Outcome {
    /// Not about a DHCP network here, or not about a lease; the reason says which.
    Ignored(String),
    /// The event asks to keep what is there.
    Kept,
    /// Converged; the plan says what changed (empty when nothing had to).
    Converged { network: String, plan: Plan },
}

/// The intent for one event: the network whose device the event is about, each DHCP
/// family with the event's lease, or the kernel's where the event does not say.
pub fn event_intent(applied: &Applied, event: &Event) -> Result<(String, Intent), String> {
    let Some(net) = applied.by_device(&event.interface) else {
        return Err(format!(
            "interface {:?} belongs to no DHCP network applied in this namespace",
            event.interface
        ));
    };
    let relevant: Vec<&(Family, Change)> =
        event.changes.iter().filter(|(f, _)| net.has(*f)).collect();
    if relevant.is_empty() {
        return Err(format!(
            "{} event for network {} changes no lease of a DHCP family",
            event.reason, net.name
        ));
    }
    let source = |family: Family| {
        let change = relevant.iter().find(|(f, _)| *f == family).map(|(_, c)| c);
        Some(match change {
            Some(Change::Install(lease)) => LeaseSource::Event(Some(lease.clone())),
            Some(Change::Remove) => LeaseSource::Event(None),
            Some(Change::FromKernel | Change::Keep) | None => LeaseSource::Kernel,
        })
    };
    let mut intent = Intent {
        networks: vec![applied.dhcp_intent(net, source(Family::Ipv4), source(Family::Ipv6))],
        ..Intent::default()
    };
    applied.reserve_others(&mut intent);
    Ok((net.name.clone(), intent))
}

/// Converges the network an event is about. Takes the namespace's lock.
pub fn on_event(
    state_dir: &Path,
    event: &Event,
    lock_timeout: Duration,
) -> Result<Outcome, ConvergeError> {
    if event.changes.is_empty() {
        return Ok(Outcome::Ignored(format!(
            "{} is not a lease change",
            event.reason
        )));
    }
    if event.changes.iter().all(|(_, c)| *c == Change::Keep) {
        return Ok(Outcome::Kept);
    }
    // Events for other interfaces are the common case: answer them without waiting for
    // the lock, then look again under it (an apply may have changed the record).
    if let Err(why) = event_intent(&applied::load(state_dir)?, event) {
        return Ok(Outcome::Ignored(why));
    }
    let session = Session::lock(lock_timeout)?;
    let applied = applied::load(state_dir)?;
    let (network, intent) = match event_intent(&applied, event) {
        Ok(x) => x,
        Err(why) => return Ok(Outcome::Ignored(why)),
    };
    let mut driver = LinuxDriver::new()?;
    let report = session.converge(&mut driver, &intent)?;
    Ok(Outcome::Converged {
        network,
        plan: report.plan,
    })
}

/// Converges every DHCP network from the kernel's leases, each on its own so that one
/// that cannot converge does not hold the others back. Takes the namespace's lock.
pub fn converge_all(
    state_dir: &Path,
    driver: &mut dyn Driver,
    lock_timeout: Duration,
) -> Result<Round, ConvergeError> {
    let session = Session::lock(lock_timeout)?;
    let applied = applied::load(state_dir)?;
    let mut round = Round::default();
    for net in &applied.dhcp_networks {
        let mut intent = Intent {
            networks: vec![applied.dhcp_intent(
                net,
                Some(LeaseSource::Kernel),
                Some(LeaseSource::Kernel),
            )],
            ..Intent::default()
        };
        applied.reserve_others(&mut intent);
        match session.converge(driver, &intent) {
            Ok(report) => round
                .changes
                .extend(report.plan.ops().map(|op| format!("{} {op}", op.sign()))),
            Err(e) => round.failures.push(format!(
                "network {}: {}",
                net.name,
                describe(&ConvergeError::Apply(e))
            )),
        }
    }
    revive_servers(&session, driver, &mut round);
    Ok(round)
}

/// Restarts every DHCP server (dnsmasq) of this namespace that is not running with its
/// configuration, through the engine: its files as they are, and a start.
fn revive_servers(session: &Session, driver: &mut dyn Driver, round: &mut Round) {
    // The cheap look first: a full query reads every host file.
    if crate::netdev::dnsmasq::Supervisor::new().down().is_empty() {
        return;
    }
    let servers = match driver.query() {
        Ok(s) => s.dhcp_servers,
        Err(e) => {
            round
                .failures
                .push(format!("DHCP servers: {}", crate::error_chain(&e)));
            return;
        }
    };
    for (network, s) in servers.into_iter().filter(|(_, s)| !s.running) {
        let mut intent = Intent::default();
        intent.dhcp_servers.insert(
            network.clone(),
            Some(crate::netdev::dnsmasq::ServerIntent {
                origin: format!("dhcp server {network}"),
                spec: s.spec,
                hosts: s.hosts,
            }),
        );
        match session.converge(driver, &intent) {
            Ok(report) => round
                .changes
                .extend(report.plan.ops().map(|op| format!("{} {op}", op.sign()))),
            Err(e) => round.failures.push(format!(
                "DHCP server {network}: {}",
                describe(&ConvergeError::Apply(e))
            )),
        }
    }
}

/// What one round of the monitor did.
#[derive(Debug, Default)]
pub struct Round {
    pub changes: Vec<String>,
    pub failures: Vec<String>,
}

/// Longest pause after failed rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// `hostnet monitor`: converge once, then after every burst of address, route or link
/// changes, until `stop` is set. A failed round is logged, and the next one waits longer
/// (up to 30 s): a failing apply rolls back, and the kernel's notifications of its own
/// changes and rollback must not start the next attempt at once. Only losing the netlink
/// sockets ends the loop.
pub fn monitor(
    state_dir: &Path,
    lock_timeout: Duration,
    stop: &AtomicBool,
    mut log: impl FnMut(&str),
) -> Result<(), ConvergeError> {
    // Subscribe before the first round, so that nothing between the two is missed.
    let mut listener = ChangeListener::new()?;
    let mut driver = LinuxDriver::new()?;
    let mut backoff = Duration::ZERO;
    let mut why = "startup";
    loop {
        match converge_all(state_dir, &mut driver, lock_timeout) {
            Ok(round) => {
                if !round.changes.is_empty() {
                    let n = round.changes.len();
                    log(&format!(
                        "{why}: converged {n} {}",
                        if n == 1 { "change" } else { "changes" }
                    ));
                    for c in &round.changes {
                        log(&format!("  {c}"));
                    }
                }
                for f in &round.failures {
                    log(&format!("{why}: {f}"));
                }
                backoff = if round.failures.is_empty() {
                    Duration::ZERO
                } else {
                    (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF)
                };
            }
            Err(e) => {
                log(&format!("{why}: {}", describe(&e)));
                backoff = (backoff * 2).clamp(Duration::from_secs(1), MAX_BACKOFF);
            }
        }
        // What this round changed (and rolled back) is not news.
        while listener.wait(Duration::ZERO)? {}
        let resume = std::time::Instant::now() + backoff;
        while std::time::Instant::now() < resume {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        if !backoff.is_zero() {
            // The last round failed: try again after the pause, change or not.
            why = "retry";
            continue;
        }
        let servers = crate::netdev::dnsmasq::Supervisor::new();
        let mut polls = 0u32;
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            // A dnsmasq that died sends no netlink message: look every 2 s.
            polls += 1;
            if polls.is_multiple_of(4) && !servers.down().is_empty() {
                why = "DHCP server down";
                break;
            }
            if listener.wait(Duration::from_millis(500))? {
                // Clients change address and routes in quick succession: let the burst end.
                while listener.wait(Duration::from_millis(50))? {}
                why = "change";
                break;
            }
        }
    }
}

/// A convergence error with its causes and details, on one line (for logs).
pub fn describe(e: &ConvergeError) -> String {
    let mut s = crate::error_chain(e);
    if let ConvergeError::Apply(apply) = e {
        for d in apply.details() {
            s.push_str("; ");
            s.push_str(&d);
        }
    }
    s
}
