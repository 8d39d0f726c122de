//! `hostnet apply` and `hostnet validate`.

use std::path::Path;
use std::time::Duration;

use super::output::{ms, print_error, print_json_error};
use super::{enter_netns, ApplyArgs, ApplyFormat};
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

/// Reads, parses, validates and expands a file; errors are lines naming the field.
pub fn load(file: &Path) -> Result<Intent, Vec<String>> {
    load_document(file).map(|l| l.intent)
}

/// [`load`], keeping the text and the document too.
pub fn load_document(file: &Path) -> Result<Loaded, Vec<String>> {
    // At most MAX_INPUT_BYTES is read, whatever the file is (a device, a pipe).
    let text = if file == Path::new("-") {
        read_input(std::io::stdin().lock(), "standard input")
    } else {
        let f = std::fs::File::open(file)
            .map_err(|e| vec![format!("cannot read {}: {e}", file.display())])?;
        read_input(f, &file.display().to_string())
    }
    .map_err(|e| vec![e.to_string()])?;
    // One line per problem (every refused nmstate key is reported).
    let desired =
        parse(&text).map_err(|e| e.to_string().lines().map(String::from).collect::<Vec<_>>())?;
    validate(&desired).map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    let intent = expand(&desired).map_err(|e| vec![e.to_string()])?;
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
        Err(errs) => {
            print_error(
                &format!("{} is not valid; nothing was changed", file.display()),
                &errs,
            );
            2
        }
    }
}

fn fail(args: &ApplyArgs, code: i32, headline: &str, details: &[String]) -> i32 {
    match args.output {
        ApplyFormat::Text => print_error(headline, details),
        ApplyFormat::Json => print_json_error(headline, details, code),
    }
    code
}

pub fn run(args: &ApplyArgs) -> i32 {
    let mut loaded = match load_document(&args.file) {
        Ok(l) => l,
        Err(errs) => {
            return fail(
                args,
                2,
                &format!("{} is not valid; nothing was changed", args.file.display()),
                &errs,
            )
        }
    };
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        return fail(args, 1, &e, &[]);
    }
    let state = applied::state_dir();
    // A dry run changes nothing, so it neither waits for nor blocks others.
    let _lock = if args.dry_run {
        None
    } else {
        match lock::lock_current_netns(
            Path::new(lock::LOCK_DIR),
            Duration::from_secs(args.lock_timeout),
        ) {
            Ok(l) => Some(l),
            Err(e) => {
                return fail(
                    args,
                    1,
                    "cannot take the hostnet lock; nothing was changed",
                    &[e.to_string()],
                )
            }
        }
    };
    if !args.dry_run {
        super::safety::clean_records();
        match checkpoint::load_checkpoint(&state) {
            Ok(Some(cp)) => {
                return fail(
                    args,
                    1,
                    "a checkpoint is pending; nothing was changed",
                    &[format!(
                        "the change applied {} rolls back at {} unless committed: run `hostnet commit` to keep it or `hostnet rollback` to undo it first",
                        super::safety::when(cp.created),
                        super::safety::when(cp.deadline)
                    )],
                )
            }
            Ok(None) => {}
            Err(e) => return fail(args, 1, "cannot read the checkpoint record; nothing was changed", &[e.to_string()]),
        }
        if args.discard_stale_journal {
            super::safety::report_stale_journal(&state, "its journal is discarded");
        }
    }
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
    let text = args.output == ApplyFormat::Text;
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
    let on_plan = |plan: &crate::plan::Plan, before: &crate::netdev::KernelState| {
        if let Some(w) = crate::firewall::forward_policy_warning(&before.firewall, fw_networks) {
            eprintln!("warning: {w}");
        }
        for note in &plan.notes {
            eprintln!("warning: {note}");
        }
        if text && !plan.is_empty() {
            let (add, change, remove) = plan.summary();
            println!("Plan: {add} to create, {change} to change, {remove} to remove");
            print!("{plan}");
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
    let result = engine::apply(&mut driver, &loaded.intent, opts, on_plan);
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
    if !report.dry_run {
        // DHCP events and the monitor act on what was applied here last.
        if let Err(e) = applied::record(&state, &loaded.intent) {
            eprintln!(
                "warning: applied, but could not record the DHCP networks for dhcp-event and monitor: {}",
                crate::error_chain(&e)
            );
        }
    }
    match args.output {
        ApplyFormat::Text => print_report(&report),
        ApplyFormat::Json => print_report_json(&report),
    }
    if report.dry_run {
        return 0;
    }
    match (&armed, args.confirm_timeout) {
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
                eprintln!("warning: applied, but could not record the committed state for `hostnet restore`: {}", crate::error_chain(&e));
            }
            0
        }
    }
}

fn print_report(r: &engine::Report) {
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
            "Applied and verified {} changes (query {}, plan {}, execute {}, verify {}).",
            r.plan.len(),
            ms(t.query),
            ms(t.plan),
            ms(t.execute),
            ms(t.verify)
        );
    }
}

fn print_report_json(r: &engine::Report) {
    let ops: Vec<serde_json::Value> = r
        .plan
        .ops()
        .map(|op| serde_json::json!({"change": op.sign().to_string(), "object": op.to_string()}))
        .collect();
    let t = &r.timings;
    let v = serde_json::json!({
        "changed": r.changed,
        "dry_run": r.dry_run,
        "plan": ops,
        "timings_ms": {
            "query": t.query.as_secs_f64() * 1000.0,
            "plan": t.plan.as_secs_f64() * 1000.0,
            "execute": t.execute.as_secs_f64() * 1000.0,
            "verify": t.verify.as_secs_f64() * 1000.0,
        },
    });
    println!("{v}");
}
