//! `hostnet apply` and `hostnet validate`.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use super::output::{ms, print_error, print_json_error};
use super::{enter_netns, ApplyArgs, ApplyFormat};
use crate::engine::{self, lock, ApplyOptions};
use crate::expand::{expand, Intent};
use crate::model::{parse, validate};
use crate::netdev::linux::LinuxDriver;

/// Reads, parses, validates and expands a file; errors are lines naming the field.
pub fn load(file: &Path) -> Result<Intent, Vec<String>> {
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| vec![format!("cannot read standard input: {e}")])?;
        s
    } else {
        std::fs::read_to_string(file)
            .map_err(|e| vec![format!("cannot read {}: {e}", file.display())])?
    };
    let desired = parse(&text).map_err(|e| vec![e.to_string()])?;
    validate(&desired).map_err(|e| e.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    expand(&desired).map_err(|e| vec![e.to_string()])
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
    let intent = match load(&args.file) {
        Ok(i) => i,
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
    };
    let text = args.output == ApplyFormat::Text;
    let on_plan = |plan: &crate::plan::Plan| {
        if text && !plan.is_empty() {
            let (add, change, remove) = plan.summary();
            println!("Plan: {add} to create, {change} to change, {remove} to remove");
            print!("{plan}");
        }
    };
    match engine::apply(&mut driver, &intent, opts, on_plan) {
        Ok(report) => {
            if !report.dry_run {
                // DHCP events and the monitor act on what was applied here last.
                if let Err(e) =
                    crate::engine::applied::record(&crate::engine::applied::state_dir(), &intent)
                {
                    eprintln!(
                        "warning: applied, but could not record the DHCP networks for dhcp-event and monitor: {}",
                        crate::dhcp::monitor::describe(&crate::dhcp::monitor::ConvergeError::Applied(e))
                    );
                }
            }
            match args.output {
                ApplyFormat::Text => print_report(&report),
                ApplyFormat::Json => print_report_json(&report),
            }
            0
        }
        Err(e) => {
            let code = e.exit_code();
            fail(args, code, &e.to_string(), &e.details())
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
