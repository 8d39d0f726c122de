//! `hostnet completions SHELL` and `hostnet man`: generated from the clap definitions,
//! so they cannot fall behind the options. The Debian package runs them at build time
//! (`dist/build-deb.sh`) and installs their output.

use std::path::{Path, PathBuf};

use clap::CommandFactory;

use super::output::print_error;
use super::Cli;

/// `hostnet completions`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `hostnet man`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write hostnet.8 and one hostnet-COMMAND.8 per command into DIR instead of printing
    /// hostnet.8.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

pub fn completions(args: &CompletionsArgs) -> i32 {
    let mut cmd = Cli::command();
    // Into memory first: clap_complete panics when its writer fails (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "hostnet", &mut script);
    super::output::write_stdout_bytes(&script);
    0
}

/// Man pages go in section 8: hostnet administers the system and needs root.
const SECTION: &str = "8";

pub fn man(args: &ManArgs) -> i32 {
    let cmd = Cli::command();
    let result = match &args.out_dir {
        None => render(&cmd).map(|page| super::output::write_stdout_bytes(&page)),
        Some(dir) => write_pages(&cmd, dir),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            print_error("cannot write the man pages", &[e.to_string()]);
            1
        }
    }
}

fn render(cmd: &clap::Command) -> std::io::Result<Vec<u8>> {
    render_titled(cmd, "hostnet")
}

fn render_titled(cmd: &clap::Command, title: &str) -> std::io::Result<Vec<u8>> {
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(title)
        .section(SECTION)
        .source(env!("HOSTNET_VERSION"))
        .render(&mut page)?;
    Ok(page)
}

fn write_pages(cmd: &clap::Command, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("hostnet.{SECTION}")), render(cmd)?)?;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let title = format!("hostnet-{}", sub.get_name());
        // The synopsis names the whole command line.
        let sub = sub
            .clone()
            .name(title.clone())
            .bin_name(format!("hostnet {}", sub.get_name()));
        std::fs::write(
            dir.join(format!("{title}.{SECTION}")),
            render_titled(&sub, &title)?,
        )?;
    }
    Ok(())
}
