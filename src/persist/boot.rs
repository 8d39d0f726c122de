//! What comes back at boot from a format's files, and what does not: the stack brings up
//! the devices, addresses, routes and rules it was given; everything else hostnet made
//! for the file comes back from `hostnet restore` of the committed state (the unit
//! `hostnet-restore.service`, which must run after the stack), or from elsewhere (Open
//! vSwitch's database, the DHCP clients' hooks). `persist` prints it, per run, for the
//! objects of the file at hand.

use std::path::Path;

use super::{Format, Rendered};
use crate::expand::Intent;

/// The unit that runs `hostnet restore` at boot.
pub const RESTORE_UNIT: &str = "hostnet-restore.service";

/// The committed state of the host's own namespace, relative to the root.
pub const COMMITTED: &str = "var/lib/hostnet/committed/host.yaml";

/// What a format's boot restores, and who restores the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AtBoot {
    /// The program that reads the files at boot.
    pub stack: &'static str,
    /// Its unit, which `hostnet-restore.service` must come after.
    pub unit: &'static str,
    /// What the files bring up.
    pub by_stack: Vec<String>,
    /// What `hostnet restore` brings back.
    pub by_restore: Vec<String>,
    /// What other parts of the system bring back.
    pub elsewhere: Vec<String>,
}

fn stack(format: Format) -> (&'static str, &'static str) {
    match format {
        Format::Ifcfg => ("network-scripts", "network.service"),
        Format::Networkd => ("systemd-networkd", "systemd-networkd.service"),
        Format::Keyfile => ("NetworkManager", "NetworkManager.service"),
        Format::Ifupdown => ("ifupdown2", "networking.service"),
        Format::Netplan => (
            "netplan (its generator, then systemd-networkd)",
            "systemd-networkd.service",
        ),
    }
}

fn names<'a>(it: impl Iterator<Item = &'a String>) -> String {
    it.map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// `network a` or `networks a, b`.
fn networks<'a>(it: impl Iterator<Item = &'a String>) -> String {
    let v: Vec<&str> = it.map(String::as_str).collect();
    format!(
        "network{} {}",
        if v.len() == 1 { "" } else { "s" },
        v.join(", ")
    )
}

/// The boot of `intent` from `rendered`, its files in `format`.
pub fn at_boot(intent: &Intent, format: Format, rendered: &Rendered) -> AtBoot {
    let (stack, unit) = stack(format);
    let mut b = AtBoot {
        stack,
        unit,
        ..AtBoot::default()
    };
    let written: Vec<&String> = rendered
        .devices
        .iter()
        .filter(|d| {
            !rendered
                .left_out
                .devices
                .iter()
                .any(|l| l == *d || l.starts_with(&format!("{d} (")))
        })
        .collect();
    if !written.is_empty() {
        b.by_stack.push(format!(
            "devices {} with their addresses, routes and rules",
            names(written.into_iter())
        ));
    }
    let lo = &rendered.left_out;
    if !lo.devices.is_empty() {
        b.by_restore.push(format!(
            "devices the files cannot hold: {}",
            lo.devices.join(", ")
        ));
    }
    let objects: Vec<String> = lo
        .routes
        .iter()
        .map(ToString::to_string)
        .chain(lo.rules.iter().map(ToString::to_string))
        .collect();
    if !objects.is_empty() {
        b.by_restore.push(format!(
            "routes and rules the files cannot hold: {}",
            objects.join(", ")
        ));
    }
    let fw = &intent.firewall;
    let with_firewall: Vec<&String> = fw
        .networks
        .iter()
        .filter(|(_, s)| s.as_ref().is_some_and(|s| !s.is_empty()))
        .map(|(n, _)| n)
        .collect();
    if !with_firewall.is_empty() {
        b.by_restore.push(format!(
            "the firewall ({}) of {}",
            fw.backend,
            networks(with_firewall.into_iter())
        ));
    }
    if !fw.sysctls.is_empty() {
        let s: Vec<String> = fw.sysctls.iter().map(|(k, v)| format!("{k}={v}")).collect();
        b.by_restore.push(format!("sysctls {}", s.join(", ")));
    }
    let servers: Vec<&String> = intent
        .dhcp_servers
        .iter()
        .filter(|(_, s)| s.is_some())
        .map(|(n, _)| n)
        .collect();
    if !servers.is_empty() {
        b.by_restore.push(format!(
            "the DHCP servers (dnsmasq) of {}",
            networks(servers.into_iter())
        ));
    }
    if !intent.ovs.is_empty() {
        b.elsewhere.push(
            "Open vSwitch bridges and ports: ovs-vswitchd restores them from its own database"
                .into(),
        );
    }
    let dhcp: Vec<&String> = intent
        .networks
        .iter()
        .filter(|n| !n.absent && n.dhcp.any() && n.table.is_some())
        .map(|n| &n.name)
        .collect();
    if !dhcp.is_empty() {
        b.elsewhere.push(format!(
            "the tables and rules of DHCP {}: from the lease, by `hostnet hooks install` \
             or `hostnet monitor`",
            networks(dhcp.into_iter())
        ));
    }
    b
}

impl AtBoot {
    /// The lines `persist` prints.
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("At boot, {} brings up:", self.stack)];
        if self.by_stack.is_empty() {
            out.push("  nothing of this file".into());
        }
        out.extend(self.by_stack.iter().map(|s| format!("  {s}")));
        if !self.by_restore.is_empty() {
            out.push(format!(
                "`hostnet restore` ({RESTORE_UNIT}, after {}) brings back from the committed \
                 state:",
                self.unit
            ));
            out.extend(self.by_restore.iter().map(|s| format!("  {s}")));
        }
        if !self.elsewhere.is_empty() {
            out.push("From elsewhere:".into());
            out.extend(self.elsewhere.iter().map(|s| format!("  {s}")));
        }
        out
    }

    /// A warning when `hostnet restore` has something to bring back but nothing is
    /// committed under `root`.
    pub fn committed_warning(&self, root: &Path) -> Option<String> {
        let committed = root.join(COMMITTED);
        (!self.by_restore.is_empty() && !committed.exists()).then(|| {
            format!(
                "{} does not exist: `hostnet restore` at boot would bring back nothing of the \
                 above; `hostnet apply` of the file records it",
                committed.display()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persist::tests::{intent_of, GOLDEN_INPUT};

    const FIREWALL: &str = "networks:
  - name: guests
    bridge: br-guests
    ipv4: {address: [10.0.0.1/24]}
    firewall: {masquerade: {out-interface: up-red}}
    dhcp-server: {range: {start: 10.0.0.100, end: 10.0.0.200}}
  - {name: red, uplink: up-red, ipv4: {address: [192.0.2.10/24], gateway: 192.0.2.1}}
";

    #[test]
    fn each_format_says_what_its_stack_leaves_to_restore() {
        let intent = intent_of(GOLDEN_INPUT);
        let of = |f| at_boot(&intent, f, &crate::persist::render(&intent, f));
        let networkd = of(Format::Networkd);
        assert!(networkd.by_stack[0].contains("red"));
        assert!(networkd.by_restore.iter().any(|l| l.contains("goto 3201")));
        assert!(networkd
            .elsewhere
            .iter()
            .any(|l| l.contains("DHCP network lan")));
        let ifupdown = of(Format::Ifupdown);
        assert!(ifupdown.by_restore.is_empty(), "{ifupdown:#?}");
        let ifcfg = of(Format::Ifcfg);
        assert!(ifcfg.by_restore[0].contains("vm-a (veth)"), "{ifcfg:#?}");
        assert!(!ifcfg.by_stack[0].contains("vm-a"));
        let netplan = of(Format::Netplan);
        assert!(netplan
            .by_restore
            .iter()
            .any(|l| l.contains("suppress_prefixlength")));
        let text = networkd.lines().join("\n");
        assert!(
            text.contains("(hostnet-restore.service, after systemd-networkd.service) brings back"),
            "{text}"
        );
    }

    #[test]
    fn firewall_dhcp_servers_and_sysctls_are_restores() {
        let intent = intent_of(FIREWALL);
        for f in Format::ALL {
            let b = at_boot(&intent, f, &crate::persist::render(&intent, f));
            let text = b.by_restore.join("\n");
            assert!(
                text.contains("firewall (nftables) of network guests"),
                "{text}"
            );
            assert!(
                text.contains("DHCP servers (dnsmasq) of network guests"),
                "{text}"
            );
            assert!(text.contains("net.ipv4.ip_forward=1"), "{text}");
            let dir = tempfile::tempdir().expect("tempdir");
            assert!(b.committed_warning(dir.path()).is_some());
            let committed = dir.path().join(COMMITTED);
            std::fs::create_dir_all(committed.parent().expect("parent")).expect("mkdir");
            std::fs::write(&committed, "networks: []\n").expect("write");
            assert!(b.committed_warning(dir.path()).is_none());
        }
    }
}
