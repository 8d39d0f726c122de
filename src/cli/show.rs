//! `hostnet show`.

use super::output::{print_error, Format};
use super::{enter_netns, ShowArgs};
use crate::netdev::linux::LinuxDriver;
use crate::netdev::Driver;
use crate::show::show;

pub fn run(args: &ShowArgs) -> i32 {
    if let Err(e) = enter_netns(args.netns.as_deref()) {
        print_error(&e, &[]);
        return 1;
    }
    let state = match LinuxDriver::new().and_then(|mut d| d.query()) {
        Ok(s) => s,
        Err(e) => {
            print_error("cannot read the current state", &[e.to_string()]);
            return 1;
        }
    };
    let shown = show(&state);
    let text = match args.output {
        Format::Yaml => serde_yaml_ng::to_string(&shown.document).map_err(|e| e.to_string()),
        Format::Json => serde_json::to_string_pretty(&shown.document).map_err(|e| e.to_string()),
    };
    match text {
        Ok(t) => {
            if args.output == Format::Yaml && !shown.skipped.is_empty() {
                println!("# not shown (hostnet does not manage them):");
                for line in &shown.skipped {
                    println!("#   {line}");
                }
            }
            println!("{}", t.trim_end());
            0
        }
        Err(e) => {
            print_error("cannot render the state", &[e]);
            1
        }
    }
}
