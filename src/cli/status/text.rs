//! `hostnet status` for people.

use std::fmt;

use super::{NetworkReport, Report};
use crate::cli::output::count;
use crate::cli::safety::when;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.record.is_empty() {
            writeln!(
                f,
                "Nothing is recorded here: no apply was committed in this namespace."
            )?;
        } else {
            writeln!(f, "Record: {}.", self.record.join(", with "))?;
        }
        if let Some(cp) = &self.checkpoint {
            writeln!(
                f,
                "Checkpoint pending: the change applied {} rolls back at {} unless `hostnet commit` runs first.",
                when(cp.created),
                when(cp.deadline)
            )?;
        }
        if let Some(j) = &self.unfinished_apply {
            writeln!(
                f,
                "An apply (pid {}, started {}) did not finish: `hostnet rollback` returns to the state before it.",
                j.pid,
                when(j.started)
            )?;
        }
        if let Some(line) = &self.last_rollback {
            writeln!(f, "Last checkpoint watchdog: {line}")?;
        }
        if !self.networks.is_empty() {
            writeln!(f, "\nNetworks in force:")?;
            for n in &self.networks {
                write_network(f, n)?;
            }
        }
        writeln!(f)?;
        if self.in_sync {
            return writeln!(f, "Drift: none; the host matches the record.");
        }
        if !self.drift_errors.is_empty() {
            writeln!(
                f,
                "Drift: the record cannot be applied to the host as it is now:"
            )?;
            for e in &self.drift_errors {
                writeln!(f, "  {e}")?;
            }
        }
        if !self.view.is_empty() {
            writeln!(
                f,
                "Drift: {}; an apply of the record would make these changes:",
                count(self.view.len(), "difference", "differences")
            )?;
            write!(f, "{}", self.view)?;
        }
        Ok(())
    }
}

fn write_network(f: &mut fmt::Formatter<'_>, n: &NetworkReport) -> fmt::Result {
    let d = &n.device;
    write!(
        f,
        "  {}: {} {} {}",
        n.name,
        d.kind.as_deref().unwrap_or("device"),
        d.name,
        d.state
    )?;
    if let Some(m) = d.mtu {
        write!(f, ", mtu {m}")?;
    }
    if !d.ports.is_empty() {
        write!(f, ", ports {}", d.ports.join(" "))?;
    } else if let Some(u) = &n.uplink {
        write!(f, ", uplink {u}")?;
    }
    writeln!(f)?;
    let addresses = if n.addresses.is_empty() {
        "no addresses".to_string()
    } else {
        format!("addresses {}", n.addresses.join(" "))
    };
    write!(f, "    {addresses}")?;
    if !n.gateways.is_empty() {
        write!(f, "; gateways {}", n.gateways.join(" "))?;
        if n.default_route {
            write!(f, " (the host's default route)")?;
        }
    }
    writeln!(f)?;
    if let Some(t) = &n.table {
        writeln!(
            f,
            "    table {}{}: {}, {} at priority {}",
            t.id,
            if t.derived {
                " (derived from its name)"
            } else {
                ""
            },
            count(t.routes.len(), "route", "routes"),
            count(t.rules.len(), "rule", "rules"),
            t.priority
        )?;
    }
    match (&n.firewall, n.firewall_expected) {
        (Some(fw), _) => {
            let spec = crate::firewall::NetFirewall::from_spec(
                &fw.device,
                std::collections::BTreeSet::new(),
                &fw.firewall,
            );
            writeln!(
                f,
                "    firewall: {}{}: {}",
                fw.backend,
                if fw.intact {
                    ""
                } else {
                    " (EDITED by someone: the next apply rewrites it)"
                },
                crate::firewall::spec::describe(&spec).join("; ")
            )?;
        }
        (None, true) => writeln!(f, "    firewall: MISSING")?,
        (None, false) => {}
    }
    match (&n.dhcp_server, n.dhcp_server_expected) {
        (Some(s), _) => {
            let line = s.to_string();
            let prefix = format!("{}: ", s.network);
            writeln!(
                f,
                "    dhcp-server: {}",
                line.strip_prefix(&prefix).unwrap_or(&line)
            )?;
        }
        (None, true) => writeln!(f, "    dhcp-server: MISSING")?,
        (None, false) => {}
    }
    if n.drift > 0 {
        writeln!(
            f,
            "    drift: {}",
            count(n.drift, "difference", "differences")
        )?;
    }
    Ok(())
}
