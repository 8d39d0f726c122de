//! `hostnet` run as a user runs it, with the test's own state directories, and an apply
//! stopped between two phases by the pause hook (`HOSTNET_TEST_PAUSE_AFTER_PHASE` naming
//! a phase, and a FIFO: no sleeps).

use std::io::{Read, Write};
use std::process::{Child, Command, Output, Stdio};

use super::{text, NO_OVSDB};

/// The hostnet binary with state directories of its own (runtime and persistent).
pub struct Hostnet {
    pub state: tempfile::TempDir,
    pub lib: tempfile::TempDir,
}

impl Hostnet {
    pub fn new() -> Hostnet {
        Hostnet {
            state: tempfile::tempdir().expect("tempdir"),
            lib: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn cmd(&self, args: &[&str], env: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_hostnet"));
        c.args(args)
            .env("HOSTNET_STATE_DIR", self.state.path())
            .env("HOSTNET_LIB_DIR", self.lib.path())
            .env("HOSTNET_OVSDB", NO_OVSDB)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Starts `hostnet ARGS` with `stdin` as its whole input.
    pub fn spawn(&self, args: &[&str], stdin: impl AsRef<[u8]>, env: &[(&str, &str)]) -> Child {
        let mut child = self.cmd(args, env).spawn().expect("spawn");
        let mut input = child.stdin.take().expect("stdin");
        // A child that stops reading (at the input cap) closes the pipe: a short write
        // is its answer, not the test's failure.
        let _ = input.write_all(stdin.as_ref());
        child
    }

    pub fn run(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
        self.run_env(args, stdin, &[])
    }

    pub fn run_env(&self, args: &[&str], stdin: impl AsRef<[u8]>, env: &[(&str, &str)]) -> Output {
        self.spawn(args, stdin, env)
            .wait_with_output()
            .expect("runs")
    }

    /// The network state `show -o json` reports (its `document`: not whether a
    /// checkpoint is pending).
    pub fn show(&self) -> String {
        let o = self.run(&["show", "-o", "json"], "");
        assert!(o.status.success(), "{}", text(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("show's JSON");
        v["document"].to_string()
    }

    /// Starts `apply -` of `yaml` that stops before `phase` (a name of
    /// `hostnet::plan::PHASES`) and waits there; returns once it does.
    pub fn apply_paused(&self, yaml: &str, phase: &str) -> Paused {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("pause");
        let go = dir.path().join("pause.go");
        for f in [&fifo, &go] {
            nix::unistd::mkfifo(f, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
        }
        // Read and write ends at once: opening never waits, and the apply's open of
        // either end does not either. The apply goes on when `go` is closed here.
        let rw = |p: &std::path::Path| {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(p)
                .expect("open fifo")
        };
        let (said, go) = (rw(&fifo), rw(&go));
        let child = self.spawn(
            &["apply", "-"],
            yaml,
            &[
                ("HOSTNET_TEST_PAUSE_AFTER_PHASE", phase),
                ("HOSTNET_TEST_PAUSE_FIFO", fifo.to_str().expect("utf-8")),
            ],
        );
        let mut p = Paused {
            child: Some(child),
            go,
            _dir: dir,
        };
        let line = p.wait_for_pause(said);
        assert!(line.starts_with("paused before"), "{line:?}");
        p
    }
}

/// An apply stopped between two phases.
pub struct Paused {
    child: Option<Child>,
    go: std::fs::File,
    _dir: tempfile::TempDir,
}

impl Paused {
    /// Waits until the apply writes its line into `said`, or ends (a panic with its
    /// output: it never reached the pause).
    fn wait_for_pause(&mut self, mut said: std::fs::File) -> String {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        loop {
            let mut fds = [PollFd::new(
                std::os::fd::AsFd::as_fd(&said),
                PollFlags::POLLIN,
            )];
            if poll(&mut fds, PollTimeout::from(200u16)).expect("poll") > 0 {
                let mut buf = [0u8; 256];
                let n = said.read(&mut buf).expect("read fifo");
                return String::from_utf8_lossy(&buf[..n]).into_owned();
            }
            let child = self.child.as_mut().expect("running");
            if child.try_wait().expect("wait").is_some() {
                let o = self.child.take().expect("running").wait_with_output();
                panic!(
                    "the apply ended before its pause: {}",
                    text(&o.expect("output"))
                );
            }
        }
    }

    /// Lets it go on and waits for it to finish.
    pub fn resume(mut self) -> Output {
        let child = self.child.take().expect("running");
        drop(self.go);
        child.wait_with_output().expect("runs")
    }
}
