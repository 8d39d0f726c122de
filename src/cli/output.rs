//! Printing for people and for programs.
//!
//! Everything the commands print on stdout goes through [`write_stdout`] (the `out!` and
//! `outln!` macros): `hostnet apply ... | head -1` closes the pipe while apply still has
//! lines to print, and `println!` would panic there (exit 101) after the kernel changed.
//! A write that fails ends the printing, never the command: its exit code stays the one
//! its outcome documents.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::ValueEnum;

/// Set once a write to stdout failed: nothing more is written there.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to stdout unless an earlier write failed. A closed pipe (EPIPE) is what a
/// reader that stops early (`head`, a pager quit) looks like, and is not worth a word;
/// any other error is said once on stderr.
pub fn write_stdout(args: fmt::Arguments) {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args) {
        STDOUT_GONE.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("warning: cannot write to standard output: {e}; output stops here");
        }
    }
}

/// [`write_stdout`] for bytes (a rendered man page, completions).
pub fn write_stdout_bytes(bytes: &[u8]) {
    write_stdout(format_args!("{}", String::from_utf8_lossy(bytes)));
}

/// Output formats of `show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// Prints an error headline and its details to stderr.
pub fn print_error(headline: &str, details: &[String]) {
    eprintln!("error: {headline}");
    for d in details {
        eprintln!("  {d}");
    }
}

/// Prints an error as one JSON object on stdout.
pub fn print_json_error(headline: &str, details: &[String], exit_code: i32) {
    let v = serde_json::json!({
        "error": headline,
        "details": details,
        "exit-code": exit_code,
    });
    outln!("{v}");
}

/// Milliseconds with one decimal, for timings.
pub fn ms(d: std::time::Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `1 change`, `2 changes`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
