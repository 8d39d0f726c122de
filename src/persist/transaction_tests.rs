use super::*;

fn file(s: &str, mode: u32) -> Want {
    Want::File {
        contents: s.as_bytes().to_vec(),
        mode,
    }
}

fn ours(body: &str) -> String {
    format!("{HEADER_MARK}\n{body}")
}

/// Every regular file under the root except the backup sets, with content and mode.
fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir").flatten() {
            let p = e.path();
            if p.starts_with(root.join("var")) {
                continue;
            }
            let m = fs::symlink_metadata(&p).expect("meta");
            if m.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).expect("under root").to_path_buf();
                out.push((
                    rel,
                    fs::read(&p).expect("read"),
                    m.permissions().mode() & 0o7777,
                ));
            }
        }
    }
    out.sort();
    out
}

fn setup() -> (tempfile::TempDir, Vec<(PathBuf, Want)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc/x");
    fs::create_dir_all(&etc).expect("mkdir");
    fs::write(etc.join("a"), ours("old a\n")).expect("write");
    fs::set_permissions(etc.join("a"), Permissions::from_mode(0o640)).expect("chmod");
    fs::write(etc.join("c"), ours("old c\n")).expect("write");
    fs::write(etc.join("same"), ours("same\n")).expect("write");
    fs::set_permissions(etc.join("same"), Permissions::from_mode(0o644)).expect("chmod");
    let wants = vec![
        ("etc/x/a".into(), file(&ours("new a\n"), 0o600)),
        ("etc/x/b".into(), file(&ours("new b\n"), 0o644)),
        ("etc/x/c".into(), Want::Absent),
        ("etc/x/gone".into(), Want::Absent),
        ("etc/x/same".into(), file(&ours("same\n"), 0o644)),
        (
            "etc/y/new".into(),
            file(&ours("in a new directory\n"), 0o644),
        ),
    ];
    (dir, wants)
}

#[test]
fn prepare_leaves_out_what_is_already_right() {
    let (dir, wants) = setup();
    let changes = prepare(dir.path(), &wants, false).expect("prepare");
    let signs: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {}", c.sign(), c.rel.display()))
        .collect();
    assert_eq!(
        signs,
        ["~ etc/x/a", "+ etc/x/b", "- etc/x/c", "+ etc/y/new"]
    );
}

#[test]
fn commit_writes_atomically_with_exact_modes_and_restore_undoes_it() {
    let (dir, wants) = setup();
    let root = dir.path();
    let before = snapshot(root);
    let changes = prepare(root, &wants, false).expect("prepare");
    commit(root, &changes).expect("commit");
    assert_eq!(
        fs::read_to_string(root.join("etc/x/a")).expect("a"),
        ours("new a\n")
    );
    let mode = |p: &str| {
        fs::metadata(root.join(p))
            .expect("meta")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("etc/x/a"), 0o600);
    assert_eq!(mode("etc/x/b"), 0o644);
    assert!(!root.join("etc/x/c").exists());
    // No temporary files are left.
    let names: Vec<String> = fs::read_dir(root.join("etc/x"))
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    // Committing the same again changes nothing.
    assert!(prepare(root, &wants, false).expect("again").is_empty());

    let (_, set) = load_last_set(root).expect("set");
    let changes = prepare_restore(root, &set, false).expect("prepare undo");
    commit(root, &changes).expect("undo");
    assert_eq!(snapshot(root), before);
}

#[test]
fn a_failure_at_any_change_restores_every_file_byte_for_byte() {
    let (dir, wants) = setup();
    let root = dir.path();
    let before = snapshot(root);
    let n = prepare(root, &wants, false).expect("prepare").len();
    for at in 0..n {
        let changes = prepare(root, &wants, false).expect("prepare");
        let err = commit_with(root, &changes, &mut |i| {
            if i == at {
                Err(io::Error::other("injected"))
            } else {
                Ok(())
            }
        })
        .expect_err("fails");
        assert!(matches!(err, TxError::Restored { .. }), "{err}");
        assert_eq!(snapshot(root), before, "failure at change {at}");
    }
}

#[test]
fn a_real_write_failure_restores_too() {
    // A directory where the file should be: the rename fails after earlier changes
    // were made. (read_current refuses directories, so the obstacle is put there
    // between prepare and commit, as a concurrent writer would.)
    let (dir, wants) = setup();
    let root = dir.path();
    let changes = prepare(root, &wants, false).expect("prepare");
    let before = snapshot(root);
    fs::create_dir_all(root.join("etc/y/new/blocker")).expect("obstacle");
    let err = commit(root, &changes).expect_err("fails");
    assert!(
        matches!(err, TxError::Restored { verb: "write", .. }),
        "{err}"
    );
    fs::remove_dir_all(root.join("etc/y/new")).expect("cleanup");
    assert_eq!(snapshot(root), before);
}

#[test]
fn foreign_files_are_refused_without_adopt_and_nothing_is_written() {
    let (dir, mut wants) = setup();
    let root = dir.path();
    fs::write(root.join("etc/x/admin"), "DEVICE=eth0\n").expect("write");
    wants.push(("etc/x/admin".into(), Want::Absent));
    wants.push(("etc/x/b".into(), file(&ours("b\n"), 0o644)));
    let err = prepare(root, &wants, false).expect_err("refused");
    assert!(
        matches!(&err, TxError::Foreign { paths } if paths.len() == 1),
        "{err}"
    );
    assert!(err.to_string().contains("--adopt"));
    let changes = prepare(root, &wants, true).expect("adopted");
    assert!(changes.iter().any(|c| c.rel == Path::new("etc/x/admin")));
}

#[test]
fn symlinks_are_refused() {
    let (dir, _) = setup();
    let root = dir.path();
    std::os::unix::fs::symlink("/dev/null", root.join("etc/x/link")).expect("symlink");
    let err = prepare(root, &[("etc/x/link".into(), Want::Absent)], true).expect_err("no");
    assert!(matches!(err, TxError::NotRegular { .. }));
}

#[test]
fn backup_sets_are_pruned_and_a_damaged_set_is_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    assert!(matches!(load_last_set(root), Err(TxError::NoBackup { .. })));
    for i in 0..(KEEP_SETS + 3) {
        let w = [("etc/f".into(), file(&ours(&format!("{i}\n")), 0o644))];
        let changes = prepare(root, &w, false).expect("prepare");
        commit(root, &changes).expect("commit");
    }
    let sets = fs::read_dir(root.join(BACKUP_DIR))
        .expect("dir")
        .flatten()
        .filter(|e| e.path().is_dir())
        .count();
    assert_eq!(sets, KEEP_SETS);
    let (set, _) = load_last_set(root).expect("last");
    fs::write(set.join(MANIFEST), "garbage\n").expect("damage");
    assert!(matches!(
        load_last_set(root),
        Err(TxError::BadBackup { .. })
    ));
}

/// A file someone wrote since the transaction, without the header, at a path the set
/// names: restore refuses it (all such files at once, nothing written) unless adopted; a
/// file the transaction left, or one with the header, is restored over.
#[test]
fn restore_leaves_files_written_since_without_the_header_alone() {
    let (dir, wants) = setup();
    let root = dir.path();
    commit(root, &prepare(root, &wants, false).expect("prepare")).expect("commit");
    // etc/x/b was created, etc/x/c removed: both now hold someone else's file.
    fs::write(root.join("etc/x/b"), "# mine\n").expect("write");
    fs::write(root.join("etc/x/c"), "# mine too\n").expect("write");
    // etc/x/a was changed and edited since, header kept: hostnet's, restored over.
    fs::write(root.join("etc/x/a"), ours("edited\n")).expect("write");
    let after = snapshot(root);
    let (_, set) = load_last_set(root).expect("set");
    let err = prepare_restore(root, &set, false).expect_err("refused");
    let TxError::ForeignSince { paths } = &err else {
        panic!("{err}");
    };
    assert_eq!(paths, &[root.join("etc/x/b"), root.join("etc/x/c")]);
    assert!(err.to_string().contains("--adopt"), "{err}");
    assert_eq!(snapshot(root), after, "nothing written");

    // The user's files gone again: the rest is restored.
    fs::remove_file(root.join("etc/x/b")).expect("rm");
    fs::remove_file(root.join("etc/x/c")).expect("rm");
    let changes = prepare_restore(root, &set, false).expect("restore");
    commit(root, &changes).expect("commit");
    assert_eq!(
        fs::read_to_string(root.join("etc/x/a")).expect("a"),
        ours("old a\n")
    );
    assert_eq!(
        fs::read_to_string(root.join("etc/x/c")).expect("c"),
        ours("old c\n")
    );
    // --adopt restores over a foreign file.
    fs::write(root.join("etc/x/c"), "# mine\n").expect("write");
    let c = prepare_restore(root, &set, true).expect("adopted");
    assert!(c.iter().any(|c| c.rel == Path::new("etc/x/c")), "{c:?}");
}

/// Restoring puts a foreign pre-image back (the user's file persist adopted); restoring
/// the restore must then take it away again: it is what that restore left.
#[test]
fn restore_of_a_restore_takes_back_the_foreign_file_it_put_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::create_dir_all(root.join("etc")).expect("mkdir");
    fs::write(root.join("etc/f"), "admin's\n").expect("write");
    let w = [("etc/f".into(), file(&ours("ours\n"), 0o644))];
    commit(root, &prepare(root, &w, true).expect("adopt")).expect("commit");
    let (_, set) = load_last_set(root).expect("set");
    commit(root, &prepare_restore(root, &set, false).expect("undo")).expect("commit");
    assert_eq!(
        fs::read_to_string(root.join("etc/f")).expect("f"),
        "admin's\n"
    );
    let (_, set) = load_last_set(root).expect("set");
    commit(root, &prepare_restore(root, &set, false).expect("redo")).expect("commit");
    assert_eq!(
        fs::read_to_string(root.join("etc/f")).expect("f"),
        ours("ours\n")
    );
}

/// Sets written before after-images were kept still load; their files are restored over
/// hostnet's files and missing ones, never over a foreign one.
#[test]
fn v1_sets_still_restore_by_the_header() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let w = [("etc/f".into(), file(&ours("ours\n"), 0o644))];
    let (set_dir, _) = {
        commit(root, &prepare(root, &w, false).expect("prepare")).expect("commit");
        load_last_set(root).expect("set")
    };
    fs::write(
        set_dir.join(MANIFEST),
        format!("{MANIFEST_MAGIC_V1}\n0\tmissing\t-\tetc/f\n"),
    )
    .expect("v1");
    let (_, set) = load_last_set(root).expect("v1 loads");
    assert_eq!(set[0].after, None);
    assert_eq!(prepare_restore(root, &set, false).expect("ours").len(), 1);
    fs::write(root.join("etc/f"), "mine\n").expect("write");
    assert!(matches!(
        prepare_restore(root, &set, false),
        Err(TxError::ForeignSince { .. })
    ));
}
