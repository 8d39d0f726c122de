//! `hostnet apply` and `hostnet validate`.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use super::output::{count, ms, print_error, print_json_error};
use super::plan_view::{PlanView, JSON_VERSION};
use super::progress::{Progress, ProgressDriver};
use super::{enter_netns, ApplyArgs, ReportFormat};
use crate::engine::{self, applied, checkpoint, committed, lock, ApplyOptions};
use crate::expand::{expand, Intent};
use crate::model::{parse, read_input, validate, Desired};
use crate::netdev::linux::LinuxDriver;

/// A loaded input file.
pub struct Loaded {
    pub text: String,
    pub desired: Desired,
    pub intent: Intent,
}

/// Why a file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file is not there.
    NotFound,
    /// It could not be read (the reason).
    Unreadable(String),
    /// It is not a valid document: one line per problem, naming the field.
    Invalid(Vec<String>),
}

impl LoadError {
    /// The headline for `file`, with `suffix` (`; nothing was changed`) after it.
    pub fn headline(&self, file: &Path, suffix: &str) -> String {
        let f = file.display();
        match self {
            LoadError::NotFound => format!("{f} not found{suffix}"),
            LoadError::Unreadable(_) => format!("cannot read {f}{suffix}"),
            LoadError::Invalid(_) => format!("{f} is not valid{suffix}"),
        }
    }

    pub fn details(&self) -> Vec<String> {
        match self {
            LoadError::NotFound => Vec::new(),
            LoadError::Unreadable(e) => vec![e.clone()],
            LoadError::Invalid(lines) => lines.clone(),
        }
    }
}

/// Reads, parses, validates and expands a file.
pub fn load(file: &Path) -> Result<Intent, LoadError> {
    load_document(file).map(|l| l.intent)
}

/// [`load`], keeping the text and the document too.
pub fn load_document(file: &Path) -> Result<Loaded, LoadError> {
    // At most MAX_INPUT_BYTES is read, whatever the file is (a device, a pipe).
    let text = if file == Path::new("-") {
        read_input(std::io::stdin().lock(), "standard input")
    } else {
        let f = std::fs::File::open(file).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => LoadError::NotFound,
            _ => LoadError::Unreadable(e.to_string()),
        })?;
        read_input(f, &file.display().to_string())
    }
    .map_err(|e| LoadError::Unreadable(e.to_string()))?;
    let invalid = |lines: Vec<String>| LoadError::Invalid(lines);
    // A parse error may hold several problems, one per line.
    let desired =
        parse(&text).map_err(|e| invalid(e.to_string().lines().map(String::from).collect()))?;
    validate(&desired).map_err(|e| invalid(e.0.iter().map(ToString::to_string).collect()))?;
    let intent = expand(&desired).map_err(|e| invalid(vec![e.to_string()]))?;
    Ok(Loaded {
        text,
        desired,
        intent,
    })
}

pub fn validate_only(file: &Path) -> i32 {
    match load(file) {
        Ok(_) => {
            println!("{}: valid", file.display());
            0
        }
        Err(e) => {
            print_error(&e.headline(file, ""), &e.details());
            2
        }
    }
}

fn fail(args: &ApplyArgs, code: i32, headline: &str, details: &[String]) -> i32 {
    match args.output {
        ReportFormat::Text => print_error(headline, details),
        ReportFormat::Json => print_json_error(headline, details, code),
    }
    code
}

pub fn run(args: &ApplyArgs) -> i32 {
    let mut loaded = match load_document(&args.file) {
        Ok(l) => l,
        Err(e) => {
            return fail(
                args,
                2,
                &e.headline(&args.file, "; nothing was changed"),
                &e.details(),
            )
        }
    };
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        return fail(args, 1, &e, &[]);
    }
    let state = applied::state_dir();
    let _lock = match preflight(args, &state) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let mut driver = match LinuxDriver::new() {
        Ok(d) => d,
        Err(e) => {
            return fail(
                args,
                1,
                "cannot open netlink; nothing was changed",
                &[e.to_string()],
            )
        }
    };
    let opts = ApplyOptions {
        dry_run: args.dry_run,
        journal: (!args.dry_run).then(|| state.clone()),
        discard_stale_journal: args.discard_stale_journal,
    };
    let text = args.output == ReportFormat::Text;
    let applied_before = applied::load(&state).unwrap_or_default();
    // What the file does not repeat about networks applied here before comes from the
    // record; tables of those it does not mention are theirs.
    loaded.intent = match applied_before.intent_for(&loaded.desired) {
        Ok(i) => i,
        Err(e) => {
            return fail(
                args,
                2,
                &format!("{} is not valid; nothing was changed", args.file.display()),
                &[e.to_string()],
            )
        }
    };
    let mut armed: Option<checkpoint::Checkpoint> = None;
    let fw_networks = loaded
        .intent
        .firewall
        .networks
        .values()
        .any(Option::is_some);
    // A dry run executes on the model, not on this driver: nothing to show progress of.
    let progress = Rc::new(RefCell::new(Progress::for_terminal(text && !args.dry_run)));
    let on_plan = |plan: &crate::plan::Plan, before: &crate::netdev::KernelState| {
        // The plan goes where the progress line was.
        progress.borrow_mut().finish();
        progress.borrow_mut().planned(plan);
        if let Some(w) = crate::firewall::forward_policy_warning(&before.firewall, fw_networks) {
            tracing::warn!("{w}");
        }
        for note in &plan.notes {
            tracing::warn!("{note}");
        }
        if text && !plan.is_empty() {
            let view = PlanView::new(plan, before, &loaded.intent);
            println!("{}", view.summary().line());
            print!("{view}");
        }
        // The guard is armed before the first change: if this process dies midway (the
        // SSH session it ran in cut by the change), the watchdog still rolls back.
        if let (Some(secs), false, false) = (args.confirm_timeout, args.dry_run, plan.is_empty()) {
            let cp = super::safety::arm_checkpoint(
                &state,
                secs,
                &loaded.text,
                before.clone(),
                plan,
                applied_before.clone(),
            )?;
            armed = Some(cp);
        }
        Ok(())
    };
    tracing::info!(
        "{}: {} networks, {} interfaces",
        args.file.display(),
        loaded.intent.networks.len(),
        loaded.intent.links.len()
    );
    let mut shown = ProgressDriver {
        inner: &mut driver,
        progress: progress.clone(),
    };
    let result = engine::apply(&mut shown, &loaded.intent, opts, on_plan);
    progress.borrow_mut().finish();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(cp) = &mut armed {
                // Rolled back (or nothing changed): nothing is left to confirm. An incomplete
                // rollback keeps the checkpoint, so the watchdog tries again at the deadline.
                if let engine::ApplyError::RollbackIncomplete { done, .. } = &e {
                    super::safety::checkpoint_done(&state, cp, done.clone(), None);
                    eprintln!(
                        "The checkpoint stays: its watchdog tries to restore the previous state again at {}.",
                        super::safety::when(cp.deadline)
                    );
                } else {
                    super::safety::disarm(&state, cp);
                }
            }
            return fail(args, e.exit_code(), &e.to_string(), &e.details());
        }
    };
    if let (Some(cp), true) = (&mut armed, report.changed) {
        // Every op of the plan ran; the rollback compares with the state that verified.
        let done = report.plan.ops().cloned().collect();
        super::safety::checkpoint_done(&state, cp, done, report.after.clone());
    }
    conclude(args, &loaded, &state, &report, armed.as_ref())
}

/// Before anything is read: the namespace's lock (not for a dry run, which changes
/// nothing and so neither waits for nor blocks others), no pending checkpoint, and a
/// word about an apply that died. `Err` is the exit code.
fn preflight(args: &ApplyArgs, state: &Path) -> Result<Option<lock::NetnsLock>, i32> {
    if args.dry_run {
        return Ok(None);
    }
    let held = lock::lock_current_netns(&lock::lock_dir(), Duration::from_secs(args.lock_timeout))
        .map_err(|e| {
            fail(
                args,
                1,
                "cannot take the hostnet lock; nothing was changed",
                &[e.to_string()],
            )
        })?;
    match checkpoint::load_checkpoint(state) {
        Ok(Some(cp)) => {
            return Err(fail(
                args,
                1,
                "a checkpoint is pending; nothing was changed",
                &[format!(
                    "the change applied {} rolls back at {} unless committed: run `hostnet commit` to keep it or `hostnet rollback` to undo it first",
                    super::safety::when(cp.created),
                    super::safety::when(cp.deadline)
                )],
            ))
        }
        Ok(None) => {}
        Err(e) => {
            return Err(fail(
                args,
                1,
                "cannot read the checkpoint record; nothing was changed",
                &[e.to_string()],
            ))
        }
    }
    super::safety::clean_records();
    if args.discard_stale_journal {
        super::safety::report_stale_journal(state, "its journal is discarded");
    }
    Ok(Some(held))
}

/// After a successful apply: the records, the report, the checkpoint's word.
fn conclude(
    args: &ApplyArgs,
    loaded: &Loaded,
    state: &Path,
    report: &engine::Report,
    armed: Option<&checkpoint::Checkpoint>,
) -> i32 {
    if !report.dry_run {
        // DHCP events and the monitor act on what was applied here last.
        if let Err(e) = applied::record(state, &loaded.intent) {
            tracing::warn!(
                "applied, but could not record the DHCP networks for dhcp-event and monitor: {}",
                crate::error_chain(&e)
            );
        }
    }
    let view = PlanView::new(&report.plan, &report.before, &loaded.intent);
    let t = &report.timings;
    tracing::info!(
        "{} in {}; query {}, plan {}, execute {}, verify {}",
        count(report.plan.len(), "op", "ops"),
        count(
            report.plan.phases.iter().filter(|p| !p.is_empty()).count(),
            "phase",
            "phases"
        ),
        ms(t.query),
        ms(t.plan),
        ms(t.execute),
        ms(t.verify)
    );
    for op in report.plan.ops() {
        tracing::debug!("{} {op}", op.verb());
    }
    let json = args.output == ReportFormat::Json;
    match args.output {
        ReportFormat::Text => print_report(report, &view),
        ReportFormat::Json => print_report_json(report, &view, armed, args.confirm_timeout),
    }
    if report.dry_run {
        return 0;
    }
    match (armed, args.confirm_timeout) {
        // The JSON report carries the checkpoint: stdout stays one JSON document.
        (Some(_), Some(_)) | (None, Some(_)) if json => 0,
        (Some(cp), Some(secs)) => {
            println!(
                "Checkpoint: this change rolls back by itself at {} (in {secs} s) unless `hostnet commit` runs first; `hostnet rollback` undoes it now.",
                super::safety::when(cp.deadline)
            );
            0
        }
        (_, Some(_)) => {
            println!("Nothing changed, so no checkpoint was taken.");
            0
        }
        (_, None) => {
            if let Err(e) = committed::record(&committed::lib_dir(), &loaded.desired) {
                tracing::warn!(
                    "applied, but could not record the committed state for `hostnet restore`: {}",
                    crate::error_chain(&e)
                );
            }
            0
        }
    }
}

fn print_report(r: &engine::Report, view: &PlanView) {
    if r.plan.is_empty() {
        println!("Nothing to change: the kernel already matches.");
        return;
    }
    let t = &r.timings;
    if r.dry_run {
        println!(
            "Dry run: nothing was changed (the plan ran and verified on a model of this host)."
        );
    } else {
        println!(
            "Applied and verified {} (query {}, plan {}, execute {}, verify {}).",
            count(view.len(), "change", "changes"),
            ms(t.query),
            ms(t.plan),
            ms(t.execute),
            ms(t.verify)
        );
    }
}

/// `apply -o json`: the documented shape (README "Plans as JSON").
fn print_report_json(
    r: &engine::Report,
    view: &PlanView,
    armed: Option<&checkpoint::Checkpoint>,
    timeout: Option<u64>,
) {
    let t = &r.timings;
    let mut v = serde_json::json!({
        "version": JSON_VERSION,
        "changed": r.changed,
        "dry-run": r.dry_run,
        "summary": view.summary(),
        "plan": view.to_json(),
        "timings-ms": {
            "query": t.query.as_secs_f64() * 1000.0,
            "plan": t.plan.as_secs_f64() * 1000.0,
            "execute": t.execute.as_secs_f64() * 1000.0,
            "verify": t.verify.as_secs_f64() * 1000.0,
        },
    });
    if r.dry_run {
        // What the kernel should hold after the real apply, for programs that check the
        // model against the kernel (tests/fuzz.rs).
        v["predicted-state"] = serde_json::to_value(predicted(r)).unwrap_or_default();
    }
    // Times in seconds since the epoch, as `status -o json` gives them.
    if let (Some(cp), Some(secs)) = (armed, timeout) {
        v["checkpoint"] = serde_json::json!({
            "created": cp.created,
            "deadline": cp.deadline,
            "timeout": secs,
        });
    }
    println!("{v}");
}

/// The state the dry run's plan ends in on the model of this host (`None` if an op
/// fails there, which the dry run itself has then reported).
fn predicted(r: &engine::Report) -> Option<crate::netdev::KernelState> {
    use crate::netdev::{model::ModelDriver, Driver};
    let mut model = ModelDriver::new(r.before.clone());
    for phase in r.plan.phases.iter().filter(|p| !p.is_empty()) {
        if model.execute(phase).iter().any(Result::is_err) {
            return None;
        }
    }
    model.query().ok()
}
