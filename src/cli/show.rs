//! `hostnet show`.

use super::output::{print_error, Format};
use super::{enter_netns, ShowArgs};
use crate::engine::applied;
use crate::netdev::linux::LinuxDriver;
use crate::netdev::Driver;
use crate::show::{dhcp_status, show};

pub fn run(args: &ShowArgs) -> i32 {
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        print_error(&e, &[]);
        return 1;
    }
    let state = match LinuxDriver::new().and_then(|mut d| d.query()) {
        Ok(s) => s,
        Err(e) => {
            print_error("cannot read the current state", &[e.to_string()]);
            return 1;
        }
    };
    // Missing or unreadable: no DHCP networks to report, which `show` need not fail on.
    let dhcp = applied::load(&applied::state_dir())
        .map(|a| dhcp_status(&state, &a))
        .unwrap_or_default();
    let servers = crate::dhcp::server::Supervisor::new()
        .status()
        .unwrap_or_default();
    if args.dhcp_servers {
        let text = match args.output {
            Format::Yaml => serde_yaml_ng::to_string(&servers).map_err(|e| e.to_string()),
            Format::Json => serde_json::to_string_pretty(&servers).map_err(|e| e.to_string()),
        };
        return print(text);
    }
    if args.dhcp {
        let text = match args.output {
            Format::Yaml => serde_yaml_ng::to_string(&dhcp).map_err(|e| e.to_string()),
            Format::Json => serde_json::to_string_pretty(&dhcp).map_err(|e| e.to_string()),
        };
        return print(text);
    }
    let firewall = crate::firewall::status(&state.firewall);
    if let Some(w) = crate::firewall::forward_policy_warning(&state.firewall, !firewall.is_empty())
    {
        eprintln!("warning: {w}");
    }
    if args.firewall {
        let text = match args.output {
            Format::Yaml => serde_yaml_ng::to_string(&firewall).map_err(|e| e.to_string()),
            Format::Json => serde_json::to_string_pretty(&firewall).map_err(|e| e.to_string()),
        };
        return print(text);
    }
    let shown = show(&state);
    let text = match args.output {
        Format::Yaml => serde_yaml_ng::to_string(&shown.document).map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(&shown.document).map_err(|e| e.to_string()),
    };
    super::safety::report_stale_journal(&applied::state_dir(), super::safety::STALE_JOURNAL_HINT);
    if text.is_ok() && args.output == Format::Yaml {
        if let Ok(Some(cp)) = crate::engine::checkpoint::load_checkpoint(&applied::state_dir()) {
            println!(
                "# checkpoint pending: the change applied {} rolls back at {} unless `hostnet commit` runs first",
                super::safety::when(cp.created),
                super::safety::when(cp.deadline)
            );
        }
        // Comments, so that the output stays a document `apply` takes unchanged.
        if !dhcp.is_empty() {
            println!("# DHCP networks: source routing in force (hostnet show --dhcp):");
            for d in &dhcp {
                println!("#   {d}");
            }
        }
        if !firewall.is_empty() {
            println!("# networks' firewall (hostnet show --firewall):");
            for n in &firewall {
                println!("#   {n}");
            }
        }
        if !servers.is_empty() {
            println!("# DHCP servers (hostnet show --dhcp-servers):");
            for s in &servers {
                println!("#   {s}");
            }
        }
        if !shown.skipped.is_empty() {
            println!("# not shown (hostnet does not manage them):");
            for line in &shown.skipped {
                println!("#   {line}");
            }
        }
    }
    print(text)
}

fn print(text: Result<String, String>) -> i32 {
    match text {
        Ok(t) => {
            println!("{}", t.trim_end());
            0
        }
        Err(e) => {
            print_error("cannot render the state", &[e]);
            1
        }
    }
}
