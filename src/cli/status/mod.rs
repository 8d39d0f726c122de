//! `hostnet status`: the networks in force according to the record (the committed state,
//! with a pending checkpoint's change on top), what the host has of each, and the drift:
//! the plan from the host as it is now to that record, shown like a plan.
//!
//! Exit codes, for scripts and monitoring: 0 the host matches the record (or nothing is
//! recorded), 1 drift (an apply that died half-way counts: the host is not what any
//! record says), 2 the record or the host could not be read.

mod text;

use serde::Serialize;
use serde_json::{Map, Value};

use super::output::print_error;
use super::plan_view::{route_object, rule_object, Entry, PlanView, JSON_VERSION};
use super::show::PendingCheckpoint;
use super::{enter_netns, ReportFormat};
use crate::engine::{applied, checkpoint, committed};
use crate::expand::{expand, Intent};
use crate::model::{parse, validate, Desired, NetworkState};
use crate::netdev::linux::LinuxDriver;
use crate::netdev::{Driver, KernelState, HOSTNET_PROTO};

/// Exit code: the host matches the record.
pub const IN_SYNC: i32 = 0;
/// Exit code: the host differs from the record, or an apply died before it finished.
pub const DRIFT: i32 = 1;
/// Exit code: the record or the host could not be read.
pub const ERROR: i32 = 2;

/// `hostnet status`.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// Run inside the named network namespace (/run/netns/NAME).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = ReportFormat::Text)]
    pub output: ReportFormat,
}

/// An apply that died before it verified or rolled back.
#[derive(Debug, Serialize)]
pub struct UnfinishedApply {
    pub pid: u32,
    pub started: u64,
}

/// What the host has of one recorded network.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct NetworkReport {
    pub name: String,
    pub device: DeviceReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uplink: Option<String>,
    /// The device's addresses now.
    pub addresses: Vec<String>,
    /// Gateways from the record (static) or the lease in force (DHCP).
    pub gateways: Vec<String>,
    pub default_route: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<TableReport>,
    /// The network's firewall as read back, `null` when it has none.
    pub firewall: Option<crate::firewall::NetworkStatus>,
    /// Whether the record gives the network a firewall.
    pub firewall_expected: bool,
    pub dhcp_server: Option<crate::netdev::dnsmasq::Status>,
    pub dhcp_server_expected: bool,
    /// How many drift entries are this network's.
    pub drift: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct DeviceReport {
    pub name: String,
    /// `up`, `down` or `missing`.
    pub state: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    pub ports: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TableReport {
    pub id: u32,
    pub derived: bool,
    pub priority: u32,
    /// hostnet's routes in the table now.
    pub routes: Vec<Map<String, Value>>,
    /// hostnet's rules that look the table up now.
    pub rules: Vec<Map<String, Value>>,
}

/// Everything `status` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    pub version: u32,
    pub in_sync: bool,
    /// Where the record comes from: the committed state's file, plus the pending
    /// checkpoint when there is one; empty when nothing is recorded.
    pub record: Vec<String>,
    pub checkpoint: Option<PendingCheckpoint>,
    pub unfinished_apply: Option<UnfinishedApply>,
    /// What the checkpoint watchdog last did here (a rollback at its deadline, or why it
    /// could not), so a fleet controller learns why a change is gone.
    pub last_rollback: Option<String>,
    pub networks: Vec<NetworkReport>,
    /// The plan from the host now to the record.
    pub drift: Vec<Entry>,
    /// Why no plan could be made (an uplink that is gone, a table someone took).
    pub drift_errors: Vec<String>,
    #[serde(skip)]
    view: PlanView,
}

pub fn run(args: &StatusArgs) -> i32 {
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        return fail(args, &e, &[]);
    }
    let report = match collect() {
        Ok(r) => r,
        Err((headline, details)) => return fail(args, &headline, &details),
    };
    match args.output {
        ReportFormat::Text => out!("{report}"),
        ReportFormat::Json => match serde_json::to_string_pretty(&report) {
            Ok(t) => outln!("{t}"),
            Err(e) => return fail(args, "cannot render the status", &[e.to_string()]),
        },
    }
    if report.in_sync {
        IN_SYNC
    } else {
        DRIFT
    }
}

fn fail(args: &StatusArgs, headline: &str, details: &[String]) -> i32 {
    match args.output {
        ReportFormat::Text => print_error(headline, details),
        ReportFormat::Json => super::output::print_json_error(headline, details, ERROR),
    }
    ERROR
}

type Failure = (String, Vec<String>);

/// The record: the committed document with a pending checkpoint's change on top
/// (`None` when nothing is recorded), where it comes from, and the checkpoint.
struct Record {
    doc: Option<Desired>,
    sources: Vec<String>,
    checkpoint: Option<PendingCheckpoint>,
}

fn record() -> Result<Record, Failure> {
    let lib = committed::lib_dir();
    let state = applied::state_dir();
    let fail = |what: &str, e: String| (format!("cannot read {what}"), vec![e]);
    let committed =
        committed::load(&lib).map_err(|e| fail("the committed state", crate::error_chain(&e)))?;
    let cp = checkpoint::load_checkpoint(&state)
        .map_err(|e| fail("the checkpoint record", crate::error_chain(&e)))?;
    let mut sources = Vec::new();
    if committed.is_some() {
        let path = committed::path(&lib).map_or_else(|_| "?".into(), |p| p.display().to_string());
        sources.push(format!("committed state {path}"));
    }
    let mut doc = committed;
    let pending = match cp {
        Some(cp) => {
            let change = parse(&cp.document)
                .map_err(|e| fail("the pending checkpoint's document", e.to_string()))?;
            committed::merge(doc.get_or_insert_with(Desired::default), &change);
            sources.push("the pending checkpoint's change".into());
            Some(PendingCheckpoint {
                created: cp.created,
                deadline: cp.deadline,
            })
        }
        None => None,
    };
    Ok(Record {
        doc,
        sources,
        checkpoint: pending,
    })
}

fn intent_of(doc: &Desired) -> Result<Intent, Failure> {
    let invalid = |e: String| ("the recorded state is not valid".to_string(), vec![e]);
    validate(doc).map_err(|e| invalid(e.to_string()))?;
    let mut intent = expand(doc).map_err(|e| invalid(e.to_string()))?;
    if let Ok(a) = applied::load(&applied::state_dir()) {
        a.reserve_others(&mut intent);
    }
    Ok(intent)
}

fn collect() -> Result<Report, Failure> {
    collect_with_state().map(|(r, _)| r)
}

/// The report and the host it was made from (for `show --graph`).
pub(crate) fn collect_with_state() -> Result<(Report, KernelState), Failure> {
    let Record {
        doc,
        sources: record,
        checkpoint,
    } = record()?;
    let unfinished_apply = checkpoint::stale_journal(&applied::state_dir())
        .ok()
        .flatten()
        .map(|j| UnfinishedApply {
            pid: j.pid,
            started: j.started,
        });
    let doc = doc.unwrap_or_default();
    let intent = intent_of(&doc)?;
    let mut driver =
        LinuxDriver::new().map_err(|e| ("cannot open netlink".to_string(), vec![e.to_string()]))?;
    // Read what the record involves, as an apply of it would.
    let fw = &intent.firewall;
    driver.consider_firewall(
        !fw.networks.is_empty() || !fw.sysctls.is_empty() || !fw.addresses.is_empty(),
    );
    driver.consider_ovs(!intent.ovs.is_empty());
    let mut state = driver
        .query()
        .map_err(|e| ("cannot read the host".to_string(), vec![e.to_string()]))?;
    // As an apply plans: with the bridges whose MTU hostnet set.
    applied::seed_bridge_mtus(&mut state, &intent.bridge_mtu_set);
    let (view, drift_errors) = match crate::plan::plan(&state, &intent) {
        Ok(p) => (PlanView::new(&p, &state, &intent), Vec::new()),
        Err(errs) => (
            PlanView::default(),
            errs.iter().map(ToString::to_string).collect(),
        ),
    };
    let networks = networks(&doc, &intent, &state, &view);
    let watchdog_said = crate::engine::guard::watchdog_news(
        &applied::state_dir(),
        checkpoint.as_ref().map(|cp| cp.created),
    );
    let report = Report {
        version: JSON_VERSION,
        // An apply that died left the host half-way to a state no record holds, whatever
        // the drift against the record shows (none, when nothing else is recorded).
        in_sync: view.is_empty() && drift_errors.is_empty() && unfinished_apply.is_none(),
        record,
        checkpoint,
        unfinished_apply,
        last_rollback: watchdog_said,
        networks,
        drift: view.entries.clone(),
        drift_errors,
        view,
    };
    Ok((report, state))
}

fn networks(
    doc: &Desired,
    intent: &Intent,
    state: &KernelState,
    view: &PlanView,
) -> Vec<NetworkReport> {
    let firewall = crate::firewall::status(&state.firewall);
    let servers = crate::netdev::dnsmasq::Supervisor::new()
        .status()
        .unwrap_or_default();
    let leases = applied::load(&applied::state_dir())
        .map(|a| crate::show::dhcp_status(state, &a))
        .unwrap_or_default();
    doc.networks
        .iter()
        .filter(|n| n.state != Some(NetworkState::Absent))
        .filter_map(|spec| {
            let n = intent.networks.iter().find(|n| n.name == spec.name)?;
            let mut gateways: Vec<String> = [&spec.ipv4, &spec.ipv6]
                .into_iter()
                .flatten()
                .filter_map(|ip| ip.gateway.map(|g| g.to_string()))
                .collect();
            for l in leases.iter().filter(|l| l.network == n.name) {
                for f in [&l.ipv4, &l.ipv6].into_iter().flatten() {
                    gateways.extend(f.router.map(|r| format!("{r} (lease)")));
                }
            }
            Some(NetworkReport {
                name: n.name.clone(),
                device: device(state, &n.device),
                uplink: spec.uplink.clone(),
                addresses: state
                    .addresses
                    .iter()
                    .filter(|a| a.ifname == n.device)
                    .map(|a| a.addr.to_string())
                    .collect(),
                gateways,
                default_route: spec.default_route == Some(true),
                table: n.table.map(|t| TableReport {
                    id: t,
                    derived: n.table_derived,
                    priority: n.priority,
                    routes: state
                        .routes
                        .iter()
                        .filter(|r| r.protocol == HOSTNET_PROTO && r.table == t)
                        .map(route_object)
                        .collect(),
                    rules: state
                        .rules
                        .iter()
                        .filter(|r| r.protocol == HOSTNET_PROTO && r.table == t)
                        .map(rule_object)
                        .collect(),
                }),
                firewall: firewall.iter().find(|f| f.network == n.name).cloned(),
                firewall_expected: matches!(intent.firewall.networks.get(&n.name), Some(Some(_))),
                dhcp_server: servers.iter().find(|s| s.network == n.name).cloned(),
                dhcp_server_expected: matches!(intent.dhcp_servers.get(&n.name), Some(Some(_))),
                drift: view
                    .entries
                    .iter()
                    .filter(|e| e.network.as_deref() == Some(&n.name))
                    .count(),
            })
        })
        .collect()
}

fn device(state: &KernelState, name: &str) -> DeviceReport {
    let link = state.links.get(name);
    DeviceReport {
        name: name.to_string(),
        state: match link {
            None => "missing",
            Some(l) if l.up => "up",
            Some(_) => "down",
        }
        .into(),
        kind: link.map(|l| l.kind.type_name().to_string()),
        mtu: link.map(|l| l.mtu),
        ports: state
            .links
            .values()
            .filter(|l| l.controller.as_deref() == Some(name))
            .map(|l| l.name.clone())
            .collect(),
    }
}
