//! Printing for people and for programs.

use clap::ValueEnum;

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
    println!("{v}");
}

/// Milliseconds with one decimal, for timings.
pub fn ms(d: std::time::Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// `1 change`, `2 changes`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
