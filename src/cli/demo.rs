//! `hostnet demo` (being written).

/// `hostnet demo` arguments.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Leave the namespaces in place afterwards.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(_args: &DemoArgs) -> i32 {
    eprintln!("demo: not built yet");
    1
}
