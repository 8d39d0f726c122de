//! `hostnet show`.
//!
//! YAML is the current state in the input schema, with what the schema cannot hold
//! (pending checkpoint, DHCP networks, firewall, DHCP servers, objects not shown) as
//! comments, so that the output stays a document `apply` takes unchanged. JSON carries
//! the same sections as fields: `{version, document, checkpoint, dhcp-networks,
//! firewall, dhcp-servers, not-shown}`.

use serde::Serialize;

use super::output::{print_error, Format};
use super::plan_view::{route_object, rule_object, JSON_VERSION};
use super::{enter_netns, ShowArgs};
use crate::engine::{applied, checkpoint};
use crate::model::Desired;
use crate::netdev::linux::LinuxDriver;
use crate::netdev::Driver;
use crate::show::{dhcp_status, show, DhcpStatus};

/// A pending checkpoint, as `show` reports it.
#[derive(Debug, Serialize)]
pub struct PendingCheckpoint {
    /// When the change was applied and when it rolls back, in seconds since the epoch.
    pub created: u64,
    pub deadline: u64,
}

/// Everything `show` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Shown {
    version: u32,
    document: Desired,
    checkpoint: Option<PendingCheckpoint>,
    dhcp_networks: Vec<DhcpStatus>,
    firewall: Vec<crate::firewall::NetworkStatus>,
    dhcp_servers: Vec<crate::netdev::dnsmasq::Status>,
    not_shown: Vec<String>,
}

pub fn run(args: &ShowArgs) -> i32 {
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        print_error(&e, &[]);
        return super::NETNS_ERROR;
    }
    let state = match LinuxDriver::new().and_then(|mut d| d.query()) {
        Ok(s) => s,
        Err(e) => {
            print_error("cannot read the current state", &[e.to_string()]);
            return 1;
        }
    };
    if let Some(format) = args.graph {
        return graph(&state, format);
    }
    // Missing or unreadable: no DHCP networks to report, which `show` need not fail on.
    let dhcp = applied::load(&applied::state_dir())
        .map(|a| dhcp_status(&state, &a))
        .unwrap_or_default();
    let servers = crate::netdev::dnsmasq::Supervisor::new()
        .status()
        .unwrap_or_default();
    if let Some(name) = &args.interface {
        return match interface_report(&state, name) {
            Some(r) => print(render(&r, args.output)),
            None => {
                print_error(&format!("there is no interface {name} here"), &[]);
                1
            }
        };
    }
    if args.dhcp_servers {
        return print(render(&servers, args.output));
    }
    if args.dhcp {
        return print(render(&dhcp, args.output));
    }
    let firewall = crate::firewall::status(&state.firewall);
    if let Some(w) = crate::firewall::forward_policy_warning(&state.firewall, !firewall.is_empty())
    {
        tracing::warn!("{w}");
    }
    if args.firewall {
        return print(render(&firewall, args.output));
    }
    let shown = show(&state);
    super::safety::report_stale_journal(&applied::state_dir(), super::safety::STALE_JOURNAL_HINT);
    let report = Shown {
        version: JSON_VERSION,
        document: shown.document,
        checkpoint: checkpoint::load_checkpoint(&applied::state_dir())
            .ok()
            .flatten()
            .map(|cp| PendingCheckpoint {
                created: cp.created,
                deadline: cp.deadline,
            }),
        dhcp_networks: dhcp,
        firewall,
        dhcp_servers: servers,
        not_shown: shown.skipped,
    };
    match args.output {
        Format::Json => print(render(&report, Format::Json)),
        Format::Yaml => {
            let text = render(&report.document, Format::Yaml);
            if text.is_ok() {
                print_comments(&report);
            }
            print(text)
        }
    }
}

/// The sections the input schema has no place for, as YAML comments.
fn print_comments(r: &Shown) {
    if let Some(cp) = &r.checkpoint {
        outln!(
            "# checkpoint pending: the change applied {} rolls back at {} unless `hostnet commit` runs first",
            super::safety::when(cp.created),
            super::safety::when(cp.deadline)
        );
    }
    let section = |title: &str, lines: Vec<String>| {
        if !lines.is_empty() {
            outln!("# {title}:");
            for l in lines {
                outln!("#   {l}");
            }
        }
    };
    section(
        "DHCP networks: source routing in force (hostnet show --dhcp)",
        r.dhcp_networks.iter().map(ToString::to_string).collect(),
    );
    section(
        "networks' firewall (hostnet show --firewall)",
        r.firewall.iter().map(ToString::to_string).collect(),
    );
    section(
        "DHCP servers (hostnet show --dhcp-servers)",
        r.dhcp_servers.iter().map(ToString::to_string).collect(),
    );
    section(
        "not shown (hostnet does not manage them)",
        r.not_shown.clone(),
    );
}

/// `value` as YAML or pretty JSON.
pub fn render<T: Serialize>(value: &T, format: Format) -> Result<String, String> {
    match format {
        Format::Yaml => serde_yaml_ng::to_string(value).map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(value).map_err(|e| e.to_string()),
    }
}

pub fn print(text: Result<String, String>) -> i32 {
    match text {
        Ok(t) => {
            outln!("{}", t.trim_end());
            0
        }
        Err(e) => {
            print_error("cannot render the state", &[e]);
            1
        }
    }
}

/// `show IFACE`: one interface and what routes through it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
struct InterfaceReport {
    /// The interface in the input schema (`null` for a kind the schema has no type for).
    interface: Option<crate::model::InterfaceSpec>,
    /// The kernel's kind, only when `interface` has no type to say it.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    /// The bridge or bond it is a port of.
    #[serde(skip_serializing_if = "Option::is_none")]
    controller: Option<String>,
    /// Recorded networks whose device or uplink it is.
    networks: Vec<String>,
    addresses: Vec<String>,
    /// Routes through it, in every table (hostnet's own included).
    routes: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Rules from it (`iif`) or into a table that has a route through it.
    rules: Vec<serde_json::Map<String, serde_json::Value>>,
    /// Routes and rules of it with attributes hostnet does not manage.
    not_shown: Vec<String>,
}

fn interface_report(state: &crate::netdev::KernelState, name: &str) -> Option<InterfaceReport> {
    use crate::netdev::{TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN};
    let link = state.links.get(name)?;
    let on = |dev: &Option<String>| dev.as_deref() == Some(name);
    let routes: Vec<&crate::netdev::Route> = state.routes.iter().filter(|r| on(&r.dev)).collect();
    // The shared tables have routes through every device; their rules say nothing
    // about this one.
    let tables: std::collections::BTreeSet<u32> = routes
        .iter()
        .map(|r| r.table)
        .filter(|t| ![TABLE_MAIN, TABLE_LOCAL, TABLE_DEFAULT].contains(t))
        .collect();
    let rules = state
        .rules
        .iter()
        .filter(|r| on(&r.iif) || tables.contains(&r.table));
    let mut not_shown: Vec<String> = state
        .opaque_routes
        .iter()
        .filter(|r| on(&r.dev))
        .map(ToString::to_string)
        .collect();
    not_shown.extend(
        state
            .opaque_rules
            .iter()
            .filter(|r| on(&r.iif))
            .map(ToString::to_string),
    );
    let interface = show(state)
        .document
        .interfaces
        .into_iter()
        .find(|i| i.name == name);
    let typed = interface.as_ref().is_some_and(|i| i.iface_type.is_some());
    Some(InterfaceReport {
        interface,
        kind: (!typed).then(|| link.kind.type_name().to_string()),
        controller: link.controller.clone(),
        networks: networks_on(name),
        addresses: state
            .addresses
            .iter()
            .filter(|a| a.ifname == name)
            .map(|a| a.addr.to_string())
            .collect(),
        routes: routes.into_iter().map(route_object).collect(),
        rules: rules.map(rule_object).collect(),
        not_shown,
    })
}

/// The committed networks whose device (a VLAN-aware network's `BRIDGE.ID` too), bridge
/// or uplink is `name`.
fn networks_on(name: &str) -> Vec<String> {
    let Ok(Some(doc)) = crate::engine::committed::load(&crate::engine::committed::lib_dir()) else {
        return Vec::new();
    };
    doc.networks
        .iter()
        .filter(|n| {
            let bridged = n.bridged != Some(false);
            (bridged && n.bridge_name() == name)
                || n.uplink.as_deref() == Some(name)
                || n.device() == name
        })
        .map(|n| n.name.clone())
        .collect()
}

/// `show --graph`: the networks come from the record, as `status` reads them; without a
/// readable record the picture has the devices alone.
fn graph(state: &crate::netdev::KernelState, format: super::graph::GraphFormat) -> i32 {
    let networks = match super::status::collect_with_state() {
        Ok((report, _)) => report.networks,
        Err((headline, _)) => {
            tracing::warn!("{headline}: the picture shows the devices without networks");
            Vec::new()
        }
    };
    match super::graph::render(state, &networks, format) {
        Ok(text) => {
            out!("{text}");
            0
        }
        Err(e) => {
            print_error(&e.to_string(), &[]);
            1
        }
    }
}
