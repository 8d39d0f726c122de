//! Running the firewall tools. Each runs in the calling thread's network namespace (a
//! child inherits the namespace of the thread that forks it).

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use crate::firewall::FirewallError;

/// Runs `program args` with `input` on stdin; its stderr becomes the error.
pub fn with_input(program: &str, args: &[&str], input: &str) -> Result<(), FirewallError> {
    let spawn = |source| FirewallError::Spawn {
        program: program.to_string(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn)?;
    if let Some(mut stdin) = child.stdin.take() {
        // A write error shows up as the program's failure below.
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(FirewallError::Failed {
            program: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The stdout of `program args`; `None` when the program is not installed.
pub fn output(program: &str, args: &[&str]) -> Result<Option<String>, FirewallError> {
    let out = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FirewallError::Spawn {
                program: program.to_string(),
                source,
            })
        }
    };
    if out.status.success() {
        Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
    } else {
        Err(FirewallError::Failed {
            program: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Deletes the connection-tracking entries a floating IP translated: flows to it
/// (`--orig-dst`, DNAT inbound) and flows that leave as it (`--reply-dst`, SNAT
/// outbound), so that a removed 1:1 NAT does not live on in established flows. The
/// guest's other flows (to its neighbours, through masquerade) are not touched. Best
/// effort: `conntrack` exits 1 when nothing matched, and a missing tool leaves only
/// entries that time out.
pub fn forget_conntrack(external: IpAddr) {
    let family = if external.is_ipv4() { "ipv4" } else { "ipv6" };
    let addr = external.to_string();
    for dir in ["--orig-dst", "--reply-dst"] {
        let _ = Command::new("conntrack")
            .args(["-D", "-f", family, dir, &addr])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
