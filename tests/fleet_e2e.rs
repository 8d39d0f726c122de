//! hostnet through Ansible, for a fleet: the collection in `ansible/` is built, checked
//! with `ansible-test sanity`, installed, and run by real `ansible-playbook` against ≥ 20
//! hosts, each a network namespace with its own sshd (see `tests/fleet/lab.rs`).
//!
//! Needs root and `tests/fleet/setup.sh` (openssh-server, a venv with the pinned
//! ansible-core). `HOSTNET_FLEET_HOSTS` (default 20) and `HOSTNET_FLEET_FORKS` (default 10)
//! size the run; `HOSTNET_FLEET_SHARED_STATE=1` gives all hosts one set of state
//! directories, as hosts sharing a filesystem would have.

mod fleet;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Mutex;

use fleet::ansible::{collection_src, Controller, Run};
use fleet::lab::{Host, Lab};

/// The fleet tests take both cores for a while: one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The host whose variables cut its own management network in the bad rollout. With five
/// hosts per batch it is in the second batch.
const BAD_HOST: &str = "hv07";
const BATCH: usize = 5;

/// The hostnet the hosts run: this build, or `HOSTNET_FLEET_HOSTNET` (another build, to
/// check the collection against it).
fn hostnet() -> String {
    std::env::var("HOSTNET_FLEET_HOSTNET")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_hostnet").to_string())
}

fn extra_vars(lab: &Lab) -> String {
    let path = lab.path().join("extra.yml");
    fs::write(
        &path,
        format!(
            "---\nhostnet_executable: {}\nhostnet_confirm_timeout: 20\nhostnet_probe_timeout: 8\n",
            hostnet()
        ),
    )
    .expect("extra.yml");
    format!("@{}", path.display())
}

/// Whether the diff printed by `--diff` adds a line holding all of `words` (either plan
/// format: `+linux-bridge vmnet …` or `+[vmnet] interface vmnet: {…"linux-bridge"…}`).
fn diff_adds(out: &str, words: &[&str]) -> bool {
    out.lines()
        .any(|l| l.starts_with('+') && !l.starts_with("+++") && words.iter().all(|w| l.contains(w)))
}

fn assert_every_host(
    run: &Run,
    hosts: &[Host],
    what: &str,
    ok: impl Fn(&fleet::ansible::Recap) -> bool,
) {
    for h in hosts {
        let r = run.recap_of(&h.name);
        assert!(ok(&r), "{what}: {} has {r:?}\n{}", h.name, run.out);
    }
}

/// `FLEET-VERIFY host drifted=… pending=…` lines of tests/fleet/verify.yml, for the hosts
/// `limit` selects.
fn verify(ctl: &Controller, extra: &str, limit: &str) -> BTreeMap<String, (String, String)> {
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/verify.yml");
    let run = ctl.run(
        "ansible-playbook",
        &[
            &playbook.display().to_string(),
            "-e",
            extra,
            "--limit",
            limit,
        ],
        &[],
    );
    assert_eq!(run.code, 0, "verify.yml failed:\n{}", run.out);
    let mut seen = BTreeMap::new();
    for line in run.out.lines() {
        let Some(rest) = line.split("FLEET-VERIFY ").nth(1) else {
            continue;
        };
        let mut words = rest.trim_end_matches('"').split_whitespace();
        let host = words.next().unwrap_or_default().to_string();
        let field = |w: Option<&str>, k: &str| {
            w.and_then(|w| w.strip_prefix(k))
                .unwrap_or_default()
                .to_string()
        };
        let drifted = field(words.next(), "drifted=");
        let pending = field(words.next(), "pending=");
        seen.insert(host, (drifted, pending));
    }
    seen
}

fn has_link(lab: &Lab, h: &Host, name: &str) -> bool {
    lab.links(h).iter().any(|l| l == name)
}

/// The change rolled out in the bad rollout: a new network for every host.
const BACKUP_NETWORK: &str = "  - name: backup                # rolled out by the fleet test
    ipv4: {address: [\"198.18.0.{{ host_index }}/24\"]}
hostnet_networks_group: []";

/// The mistake in one host's variables: its management network lets "guests" (anything on
/// the management subnet) reach only DHCP, so no new SSH connection gets in.
const LOCKOUT: &str = "hostnet_networks_common:
  - name: mgmt
    uplink: eth0
    bridged: false
    ipv4: {address: [\"{{ mgmt_address }}\"], gateway: 192.0.2.254}
    default-route: true
    firewall:
      allow-from-guests: [{proto: udp, port: 67}]
  - name: vmnet
    uplink: eth1
    ipv4: {address: [\"{{ vmnet_address }}\"], gateway: 198.51.100.254}
  - name: backup
    ipv4: {address: [\"198.18.0.{{ host_index }}/24\"]}
";

#[test]
fn fleet_converges_checks_and_stops_a_bad_rollout() {
    let test = "fleet_converges_checks_and_stops_a_bad_rollout";
    if !fleet::can_run(test, true) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let n = fleet::env_u32("HOSTNET_FLEET_HOSTS", 20).max(2 * BATCH as u32 + 2);
    let forks = fleet::env_u32("HOSTNET_FLEET_FORKS", 10);
    let shared = std::env::var("HOSTNET_FLEET_SHARED_STATE").as_deref() == Ok("1");
    let lab = Lab::build(n);
    let ctl = Controller::new(&lab, &fleet::venv(), forks, shared);
    let extra = extra_vars(&lab);
    let rollout = ["hostnet.hostnet.rollout", "-e", extra.as_str()];
    let mut timings = Vec::new();

    // Ansible alone, for scale: one module on every host, over the same connections.
    let ping = ctl.run(
        "ansible",
        &["hypervisors", "-m", "ansible.builtin.ping"],
        &[],
    );
    assert_eq!(ping.code, 0, "the hosts do not answer:\n{}", ping.out);
    timings.push(("ansible -m ping (Ansible alone)", ping.secs));

    // Check mode on the new fleet: every host would change, the diff shows the objects,
    // and nothing changes.
    let check = ctl.run(
        "ansible-playbook",
        &[&rollout[..], &["--check", "--diff"]].concat(),
        &[],
    );
    assert_eq!(check.code, 0, "check mode failed:\n{}", check.out);
    assert_every_host(&check, &lab.hosts, "check mode", |r| {
        r.changed == 1 && r.failed == 0
    });
    assert!(
        diff_adds(&check.out, &["vmnet", "linux-bridge"]),
        "no diff in:\n{}",
        check.out
    );
    assert!(
        diff_adds(
            &check.out,
            &["rule ipv4 priority 3200 from 198.51.100.0/24"]
        ),
        "{}",
        check.out
    );
    for h in &lab.hosts {
        assert!(!has_link(&lab, h, "vmnet"), "check mode changed {}", h.name);
    }
    timings.push(("check mode (--check --diff)", check.secs));

    // Converge: every host changes once, guarded, and is committed.
    let first = ctl.run("ansible-playbook", &rollout, &[]);
    assert_eq!(first.code, 0, "converge failed:\n{}", first.out);
    assert_every_host(&first, &lab.hosts, "converge", |r| {
        r.changed == 1 && r.failed == 0 && r.unreachable == 0
    });
    let half = lab.hosts.len().div_ceil(2);
    for (i, h) in lab.hosts.iter().enumerate() {
        assert!(has_link(&lab, h, "vmnet"), "{} has no vmnet", h.name);
        assert!(
            lab.rules(h).contains("from 198.51.100.0/24 lookup"),
            "{}: {}",
            h.name,
            lab.rules(h)
        );
        assert_eq!(
            has_link(&lab, h, "storage"),
            i >= half,
            "{}: rack2 only",
            h.name
        );
    }
    timings.push(("first run (converge)", first.secs));
    for (host, (drifted, pending)) in verify(&ctl, &extra, "all") {
        assert_eq!(
            (drifted.as_str(), pending.as_str()),
            ("False", "False"),
            "{host} after converge"
        );
    }

    // The same again: nothing to do anywhere.
    let second = ctl.run("ansible-playbook", &rollout, &[]);
    assert_eq!(second.code, 0, "second run failed:\n{}", second.out);
    assert_every_host(&second, &lab.hosts, "second run", |r| {
        r.changed == 0 && r.failed == 0
    });
    timings.push(("second run (no change)", second.secs));

    // Invalid input is refused by hostnet (exit 2) with the field named, as a task failure.
    let bad_args = format!(
        "{{\"executable\": \"{}\", \"desired_state\": {{\"networks\": [{{\"name\": \"mgmt\", \"uplink\": \"eth0\", \
         \"ipv4\": {{\"address\": [\"192.0.2.1/24\"], \"gateway\": \"203.0.113.1\"}}}}]}}}}",
        hostnet()
    );
    let invalid = ctl.run(
        "ansible",
        &["hv01", "-m", "hostnet.hostnet.apply", "-a", &bad_args],
        &[],
    );
    assert_ne!(invalid.code, 0, "{}", invalid.out);
    assert!(
        invalid
            .out
            .contains("the desired state is invalid; nothing was changed"),
        "{}",
        invalid.out
    );
    assert!(
        invalid.out.contains("networks[0].ipv4.gateway"),
        "{}",
        invalid.out
    );

    bad_rollout(&lab, &ctl, &extra, &mut timings);

    // A probe that fails after the change rolls it back at once (hv01 keeps `backup`).
    let playbook = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/probe.yml");
    let probe = ctl.run(
        "ansible-playbook",
        &[&playbook.display().to_string(), "-e", &extra],
        &[],
    );
    assert_ne!(probe.code, 0, "{}", probe.out);
    assert_eq!(probe.recap_of("hv01").failed, 1, "{}", probe.out);
    assert!(
        probe
            .out
            .contains("probe ping 198.18.0.1 failed after the change"),
        "{}",
        probe.out
    );
    assert!(
        probe.out.contains("the change was rolled back"),
        "{}",
        probe.out
    );
    assert!(
        has_link(&lab, &lab.hosts[0], "backup"),
        "the failed probe did not roll back"
    );
    let pending = verify(&ctl, &extra, "hv01");
    assert_eq!(
        pending.get("hv01").map(|p| p.1.as_str()),
        Some("False"),
        "{pending:?}"
    );

    eprintln!("fleet of {n} namespace hosts, forks {forks}, pipelining, ControlPersist:");
    for (what, secs) in &timings {
        eprintln!("  {what:<40} {secs:>6.1} s");
    }
}

/// A rollout of a new network, five hosts a batch, with `max_fail_percentage: 0`; one host
/// of the second batch locks itself out. Its watchdog rolls it back, the rollout stops after
/// that batch, and the later batches stay as they were.
fn bad_rollout(lab: &Lab, ctl: &Controller, extra: &str, timings: &mut Vec<(&'static str, f64)>) {
    ctl.edit(
        "group_vars/hypervisors.yml",
        "hostnet_networks_group: []",
        BACKUP_NETWORK,
    );
    ctl.append(&format!("host_vars/{BAD_HOST}.yml"), LOCKOUT);
    // No keepalives in ssh_args here: the action plugin adds them itself.
    let env = [("ANSIBLE_SSH_ARGS", ctl.ssh_args(false))];
    let run = ctl.run(
        "ansible-playbook",
        &[
            "hostnet.hostnet.rollout",
            "-e",
            extra,
            "-e",
            "rollout_serial=5",
            "-e",
            "rollout_max_fail_percentage=0",
        ],
        &env,
    );
    timings.push(("rollout stopped by a locked-out host", run.secs));
    assert_ne!(run.code, 0, "the rollout did not fail:\n{}", run.out);
    let bad = run.recap_of(BAD_HOST);
    assert_eq!(
        (bad.failed, bad.unreachable),
        (1, 0),
        "{BAD_HOST}: {bad:?}\n{}",
        run.out
    );
    assert!(
        run.out
            .contains("could not be reached over its management connection"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .contains("It did: the host answers again and nothing is pending"),
        "{}",
        run.out
    );

    let reached = 2 * BATCH;
    let verified = verify(ctl, extra, "all");
    for (i, h) in lab.hosts.iter().enumerate() {
        let (drifted, pending) = verified.get(&h.name).cloned().unwrap_or_default();
        assert_eq!(pending, "False", "{} has a change pending", h.name);
        assert!(
            lab.mgmt_addresses(h).contains(&format!("{}/24", h.addr)),
            "{}",
            h.name
        );
        assert!(has_link(lab, h, "vmnet"), "{} lost vmnet", h.name);
        if h.name == BAD_HOST {
            assert!(!has_link(lab, h, "backup"), "{BAD_HOST} kept the change");
            assert_eq!(drifted, "True", "{BAD_HOST}");
        } else if i < reached {
            let r = run.recap_of(&h.name);
            assert_eq!(
                (r.changed, r.failed),
                (1, 0),
                "{}: {r:?}\n{}",
                h.name,
                run.out
            );
            assert!(
                has_link(lab, h, "backup"),
                "{} did not get the change",
                h.name
            );
            assert_eq!(drifted, "False", "{}", h.name);
        } else {
            let r = run.recap.get(&h.name).copied().unwrap_or_default();
            assert_eq!(r.changed, 0, "{} is in a later batch: {r:?}", h.name);
            assert!(
                !has_link(lab, h, "backup"),
                "{} is in a later batch",
                h.name
            );
            assert_eq!(drifted, "True", "{}", h.name);
        }
    }
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for e in fs::read_dir(from).expect("read_dir") {
        let e = e.expect("entry");
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if e.file_type().expect("type").is_dir() {
            if e.file_name() != "output" {
                copy_dir(&src, &dst);
            }
        } else {
            fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// `ansible-test sanity` wants the collection at `ansible_collections/hostnet/hostnet/`.
/// It makes a virtual environment per test (cached in `target/fleet-ansible-test`, its HOME
/// here) and bootstraps pip in it with a script it downloads from a host outside the
/// package registries; `tests/fleet/pip-bootstrap.py` stands in for that script.
#[test]
fn collection_passes_ansible_test_sanity() {
    let test = "collection_passes_ansible_test_sanity";
    if !fleet::can_run(test, false) {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path().join("ansible_collections/hostnet/hostnet");
    copy_dir(&collection_src(), &root);
    let home = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fleet-ansible-test");
    let cache = home.join(".ansible/test/cache");
    fs::create_dir_all(&cache).expect("cache");
    // The pip version ansible-core 2.19's ansible-test bootstraps.
    fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fleet/pip-bootstrap.py"),
        cache.join("get_pip_24_2.py"),
    )
    .expect("pip bootstrap");
    let out = std::process::Command::new(fleet::venv().join("bin/ansible-test"))
        .args(["sanity", "--local", "--python", "3.11", "--color", "no"])
        .current_dir(&root)
        .env("HOME", &home)
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("ansible-test");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "ansible-test sanity failed:\n{text}");
    assert!(
        text.contains("Running sanity test \"validate-modules\""),
        "{text}"
    );
    assert!(
        text.contains("Running sanity test \"ansible-doc\""),
        "{text}"
    );
}

/// The example inventory renders each host's desired state from group and host variables
/// (rack2's hosts get the storage network); no connection is made.
#[test]
fn example_inventory_renders_the_desired_state() {
    if !fleet::can_run("example_inventory_renders_the_desired_state", false) {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(fleet::venv().join("bin/ansible"))
        .args([
            "-i",
            "examples/inventory",
            "hv03",
            "-m",
            "ansible.builtin.debug",
        ])
        .args(["-a", "var=hostnet_desired_state"])
        .current_dir(collection_src())
        .env("ANSIBLE_HOME", tmp.path())
        .env("ANSIBLE_LOCAL_TEMP", tmp.path())
        .env("ANSIBLE_NOCOLOR", "1")
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("ansible");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for want in [
        "192.0.2.3/24",
        "198.51.100.3/24",
        "\"storage\"",
        "203.0.113.3/24",
    ] {
        assert!(text.contains(want), "{want} missing:\n{text}");
    }
}

/// The collection's adapter to hostnet's output, against both shapes hostnet prints
/// (tests/fleet/test_adapter.py, standard-library unittest in the fleet venv's Python).
#[test]
fn adapter_reads_both_output_shapes() {
    if !fleet::can_run("adapter_reads_both_output_shapes", false) {
        return;
    }
    let out = std::process::Command::new(fleet::venv().join("bin/python"))
        .args(["-m", "unittest", "-v", "tests/fleet/test_adapter.py"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("python");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("OK"), "{text}");
}
