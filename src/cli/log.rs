//! Diagnostics on standard error through `tracing`: warnings by default, `-q` errors
//! only, `-v`/`-vv`/`-vvv` info, debug, trace; `RUST_LOG` (env-filter syntax, e.g.
//! `RUST_LOG=hostnet=debug`) overrides both. Lines read like the rest of the command's
//! messages (`warning: …`), not like a log file: hostnet is a command, journald adds
//! the time when it runs as a service.

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// The level `-q`/`-v` ask for.
fn level(verbose: u8, quiet: bool) -> Level {
    match (quiet, verbose) {
        (true, _) => Level::ERROR,
        (false, 0) => Level::WARN,
        (false, 1) => Level::INFO,
        (false, 2) => Level::DEBUG,
        (false, _) => Level::TRACE,
    }
}

/// Installs the subscriber; a second call (tests) keeps the first.
pub fn init(verbose: u8, quiet: bool) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.is_empty() => EnvFilter::new(spec),
        _ => EnvFilter::new(level(verbose, quiet).as_str()),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(Plain)
        .try_init();
}

/// `warning: message`; debug and trace lines also name where they come from.
struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let level = *meta.level();
        let word = if level == Level::ERROR {
            "error"
        } else if level == Level::WARN {
            "warning"
        } else if level == Level::INFO {
            "info"
        } else if level == Level::DEBUG {
            "debug"
        } else {
            "trace"
        };
        write!(w, "{word}: ")?;
        if level >= Level::DEBUG {
            write!(w, "{}: ", meta.target())?;
        }
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_wins_and_each_v_says_more() {
        assert_eq!(level(0, false), Level::WARN);
        assert_eq!(level(3, true), Level::ERROR);
        assert_eq!(level(1, false), Level::INFO);
        assert_eq!(level(2, false), Level::DEBUG);
        assert_eq!(level(5, false), Level::TRACE);
    }
}
