//! nmstate's `alt-names` (docs/NMSTATE.md, "Interface: base keys"): added and removed one name at a time,
//! another tool's names left alone, a name moved in one apply, refused where it is taken
//! (exit 2, nothing changed), and taken back exactly by a rollback.

use super::*;
use hostnet::netdev::{DriverError, Op};

const LONG: &str = "uplink-rack-a-port-7-to-the-top-of-rack-switch-in-row-12";

/// `ip link show NAME`'s `altname` lines, sorted.
fn alt_names(name: &str) -> Vec<String> {
    let mut v: Vec<String> = ip(&["link", "show", name])
        .lines()
        .filter_map(|l| l.trim().strip_prefix("altname ").map(str::to_string))
        .collect();
    v.sort();
    v
}

/// Another tool (as udev does) gives `dev` the alternative name `alt`.
fn name_it(dev: &str, alt: &str) {
    run_ip(&["link", "property", "add", "dev", dev, "altname", alt]);
}

#[test]
fn alt_names_apply_converge_move_and_remove() {
    if !enter_private_netns("alt_names_apply_converge_move_and_remove") {
        return;
    }
    fixture();
    name_it("eth1", "theirs0");
    name_it("eth2", "old-uplink");
    let predicted = model_of("alt_names.yml", read("alt_names.yml"));
    let first = converges("alt_names.yml", &["eth1", "eth2"]);
    has_all(
        "the plan",
        &first,
        &[
            &format!("link eth1: add altname uplink-rack-a, add altname {LONG}"),
            "link eth2: remove altname old-uplink",
        ],
    );
    assert_eq!(alt_names("eth1"), ["theirs0", "uplink-rack-a", LONG]);
    assert!(alt_names("eth2").is_empty());
    assert_eq!(
        predicted.alt_names,
        query().alt_names,
        "the dry run predicted the kernel"
    );
    // `show` says them in nmstate's keys (another tool's too: applying them back is a
    // no-op, which `converges` checked).
    let shown: Vec<String> = shown_iface("eth1")
        .alt_names
        .unwrap_or_default()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(shown, ["theirs0", "uplink-rack-a", LONG]);

    // A name moves from one interface to another in one apply.
    let mv = "interfaces:
- {name: eth1, alt-names: [{name: uplink-rack-a, state: absent}]}
- {name: eth2, alt-names: [{name: uplink-rack-a}]}
";
    converges_yaml("a name moved", mv, &["eth1", "eth2"]);
    assert_eq!(alt_names("eth2"), ["uplink-rack-a"]);
    assert_eq!(alt_names("eth1"), ["theirs0", LONG]);

    converges("alt_names_absent.yml", &["eth1", "eth2"]);
    assert_eq!(alt_names("eth1"), ["theirs0"]);
    assert_eq!(alt_names("eth2"), ["uplink-rack-a"]);
}

#[test]
fn alt_names_taken_or_bad_are_refused_before_anything_changes() {
    if !enter_private_netns("alt_names_taken_or_bad_are_refused_before_anything_changes") {
        return;
    }
    fixture();
    name_it("eth2", "taken0");
    let before = query();
    let refused = |yaml: &str, want: &[&str]| {
        let o = hostnet(&["apply", "-"], Some(yaml));
        assert_eq!(o.status.code(), Some(2), "{}", text(&o));
        let t = text(&o);
        for w in want {
            assert!(t.contains(w), "{w:?} not in:\n{t}");
        }
        assert_eq!(query(), before, "something changed");
    };
    refused(
        "interfaces:\n- name: eth1\n  alt-names:\n  - name: taken0\n  - name: eth2\n  - name: fine0\n",
        &[
            "interfaces[0].alt-names[0].name: taken0 is an alternative name of eth2",
            "interfaces[0].alt-names[1].name: eth2 is the name of an interface",
        ],
    );
    // nmstate (2.2.58) resolves an interface named by an alternative name; hostnet
    // names interfaces by their kernel name and says which.
    refused(
        "interfaces:\n- name: taken0\n  mtu: 1400\n",
        &["interfaces[0].name: taken0 is an alternative name of eth2; name the interface by its name, eth2"],
    );
    let long = "x".repeat(128);
    refused(
        &format!("interfaces:\n- name: eth1\n  alt-names:\n  - name: fine0\n  - name: {long}\n  - name: 'a b'\n"),
        &[
            "interfaces[0].alt-names[1].name: alternative name is 128 bytes long; Linux allows at most 127",
            "interfaces[0].alt-names[2].name: alternative name \"a b\" contains the invalid character ' '",
        ],
    );
    assert_eq!(alt_names("eth1"), Vec::<String>::new());
}

/// The Linux driver, with a failure injected at the first batch that adds a route (after
/// the names and addresses are in); another tool names eth1 right then.
struct FailAtRoutes {
    inner: LinuxDriver,
    failed: bool,
}

impl Driver for FailAtRoutes {
    fn query(&mut self) -> Result<KernelState, DriverError> {
        self.inner.query()
    }
    fn execute(&mut self, ops: &[Op]) -> Vec<Result<(), DriverError>> {
        if self.failed || !ops.iter().any(|o| matches!(o, Op::AddRoute(_))) {
            return self.inner.execute(ops);
        }
        self.failed = true;
        name_it("eth1", "theirs1");
        ops.iter()
            .map(|o| {
                Err(DriverError::Rejected {
                    op: format!("{} {o}", o.verb()),
                    errno: libc::EIO,
                    message: Some("injected failure".into()),
                })
            })
            .collect()
    }
    fn name(&self) -> &'static str {
        "fail-at-routes"
    }
}

#[test]
fn alt_names_rolled_back_exactly_after_a_failure() {
    if !enter_private_netns("alt_names_rolled_back_exactly_after_a_failure") {
        return;
    }
    fixture();
    name_it("eth1", "theirs0");
    name_it("eth2", "old-uplink");
    let yaml = format!(
        "{}    ipv4:\n      enabled: true\n      address:\n        - ip: 192.0.2.71\n          prefix-length: 24\n{}",
        read("alt_names.yml"),
        "routes:\n  config:\n    - destination: 198.51.100.0/24\n      next-hop-interface: eth2\n"
    );
    let d = hostnet::model::parse(&yaml).expect("parses");
    hostnet::model::validate(&d).expect("valid");
    let intent = hostnet::expand::expand(&d).expect("expands");
    let mut driver = FailAtRoutes {
        inner: LinuxDriver::new().expect("netlink"),
        failed: false,
    };
    let opts = hostnet::engine::ApplyOptions::default();
    let r = hostnet::engine::apply(&mut driver, &intent, opts, |_, _| Ok(()));
    let Err(e) = r else {
        panic!("the injected failure did not fail the apply");
    };
    assert!(driver.failed, "the failure came after the names: {e}");
    // The apply's names are gone, the one it removed is back, and both of another
    // tool's names (one given before the apply, one during it) stay.
    assert_eq!(alt_names("eth1"), ["theirs0", "theirs1"], "{e}");
    assert_eq!(alt_names("eth2"), ["old-uplink"], "{e}");
    assert!(!ip(&["addr", "show", "dev", "eth2"]).contains("192.0.2.71"));
}

#[test]
fn alt_names_rolled_back_after_a_crash() {
    if !enter_private_netns("alt_names_rolled_back_after_a_crash") {
        return;
    }
    fixture();
    name_it("eth1", "theirs0");
    name_it("eth2", "old-uplink");
    let before = query();
    let dir = tempfile::tempdir().expect("tempdir");
    // Killed after each non-empty phase in turn (the apply finishes once k passes the
    // last), then rolled back from the crash journal.
    let mut crashed = 0;
    for k in 0..10 {
        let o = base_keys::journaled(
            dir.path(),
            &["apply", "-"],
            read("alt_names.yml"),
            &[("HOSTNET_TEST_CRASH_AFTER_PHASE", &k.to_string())],
        );
        if o.status.success() {
            break;
        }
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&o.status),
            Some(9),
            "crash point {k}: {}",
            text(&o)
        );
        crashed += 1;
        let o = base_keys::journaled(dir.path(), &["rollback"], "", &[]);
        assert!(o.status.success(), "crash point {k}: {}", text(&o));
        assert_eq!(query().alt_names, before.alt_names, "crash point {k}");
    }
    // Crashes after the removals and after the additions were among them.
    assert!(crashed >= 2, "{crashed} crash points");
    assert_eq!(alt_names("eth1"), ["theirs0", "uplink-rack-a", LONG]);
}
