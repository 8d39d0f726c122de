//! `hostnet apply` and `hostnet validate`.

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::time::Duration;

use super::output::{count, ms, print_error, print_json_error};
use super::plan_view::{PlanView, JSON_VERSION};
use super::progress::{Progress, ProgressDriver};
use super::{enter_netns, ApplyArgs, ReportFormat};
use crate::engine;
use crate::engine::checkpoint::{self, when};
use crate::engine::session::{ApplyRequest, Outcome, Session, SessionError};
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
            outln!("{}: valid", file.display());
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
    let loaded = match load_document(&args.file) {
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
        return fail(args, super::NETNS_ERROR, &e, &[]);
    }
    let req = ApplyRequest {
        dry_run: args.dry_run,
        discard_stale_journal: args.discard_stale_journal,
        confirm_timeout: args.confirm_timeout,
        lock_timeout: Duration::from_secs(args.lock_timeout),
    };
    let session = match Session::for_apply(&req) {
        Ok(s) => s,
        Err(e) => return session_failed(args, e),
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
    let prepared = match session.prepare(&loaded.desired) {
        Ok(p) => p,
        Err(e) => return session_failed(args, e),
    };
    tracing::info!(
        "{}: {} networks, {} interfaces",
        args.file.display(),
        prepared.intent.networks.len(),
        prepared.intent.links.len()
    );
    let text = args.output == ReportFormat::Text;
    // A dry run executes on the model, not on this driver: nothing to show progress of.
    let progress = Rc::new(RefCell::new(Progress::for_terminal(text && !args.dry_run)));
    let on_plan = |plan: &crate::plan::Plan,
                   before: &crate::netdev::KernelState,
                   intent: &Intent| {
        // The plan goes where the progress line was.
        progress.borrow_mut().finish();
        progress.borrow_mut().planned(plan);
        let fw_networks = intent.firewall.networks.values().any(Option::is_some);
        if let Some(w) = crate::firewall::forward_policy_warning(&before.firewall, fw_networks) {
            tracing::warn!("{w}");
        }
        for note in &plan.notes {
            tracing::warn!("{note}");
        }
        if text && !plan.is_empty() {
            let view = PlanView::new(plan, before, intent);
            outln!("{}", view.summary().line());
            out!("{view}");
        }
    };
    let mut shown = ProgressDriver {
        inner: &mut driver,
        progress: progress.clone(),
    };
    let result = session.apply(
        &mut shown,
        &loaded.desired,
        &loaded.text,
        prepared,
        &req,
        on_plan,
    );
    progress.borrow_mut().finish();
    match result {
        Ok(outcome) => {
            let code = conclude(args, &outcome);
            // The process ends now: freeing the states before and after (about 1 ms at
            // 1,000 networks) is left to the exit.
            std::mem::forget(outcome);
            code
        }
        Err(e) => session_failed(args, e),
    }
}

/// A session that did not apply: its headline, details and exit code.
fn session_failed(args: &ApplyArgs, e: SessionError) -> i32 {
    match &e {
        SessionError::Lock(inner) => fail(args, 1, &e.to_string(), &[inner.to_string()]),
        SessionError::CheckpointPending { created, deadline } => fail(
            args,
            1,
            &e.to_string(),
            &[format!(
                "the change applied {} rolls back at {} unless committed: run `hostnet commit` to keep it or `hostnet rollback` to undo it first",
                when(*created),
                when(*deadline)
            )],
        ),
        SessionError::CheckpointUnreadable(inner) => {
            fail(args, 1, &e.to_string(), &[inner.to_string()])
        }
        SessionError::Invalid(inner) => fail(
            args,
            2,
            &format!("{} is not valid; nothing was changed", args.file.display()),
            &[inner.to_string()],
        ),
        SessionError::Apply {
            error,
            checkpoint_stays,
        } => {
            if let Some(deadline) = checkpoint_stays {
                eprintln!(
                    "The checkpoint stays: its watchdog tries to restore the previous state again at {}.",
                    when(*deadline)
                );
            }
            fail(args, error.exit_code(), &error.to_string(), &error.details())
        }
    }
}

/// After a successful apply (its records written by the session): the report and the
/// checkpoint's word.
fn conclude(args: &ApplyArgs, outcome: &Outcome) -> i32 {
    let report = &outcome.report;
    let armed = outcome.checkpoint.as_ref();
    let view = PlanView::new(&report.plan, &report.before, &outcome.intent);
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
    match args.output {
        ReportFormat::Text => print_report(report, &view),
        ReportFormat::Json => print_report_json(report, &view, armed, args.confirm_timeout),
    }
    // The JSON report carries the checkpoint: stdout stays one JSON document.
    if report.dry_run || args.output == ReportFormat::Json {
        return 0;
    }
    match (armed, args.confirm_timeout) {
        (Some(cp), Some(secs)) => outln!(
            "Checkpoint: this change rolls back by itself at {} (in {secs} s) unless `hostnet commit` runs first; `hostnet rollback` undoes it now.",
            when(cp.deadline)
        ),
        (None, Some(_)) => outln!("Nothing changed, so no checkpoint was taken."),
        (_, None) => {}
    }
    0
}

fn print_report(r: &engine::Report, view: &PlanView) {
    if r.plan.is_empty() {
        outln!("Nothing to change: the kernel already matches.");
        return;
    }
    let t = &r.timings;
    if r.dry_run {
        outln!("Dry run: nothing was changed (the plan ran and verified on a model of this host).");
    } else {
        outln!(
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
        v["predicted-state"] = serde_json::to_value(r.predicted()).unwrap_or_default();
    }
    // Times in seconds since the epoch, as `status -o json` gives them.
    if let (Some(cp), Some(secs)) = (armed, timeout) {
        v["checkpoint"] = serde_json::json!({
            "created": cp.created,
            "deadline": cp.deadline,
            "timeout": secs,
        });
    }
    outln!("{v}");
}
