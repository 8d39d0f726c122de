//! Every YAML example in `README.md` and `docs/*.md` is valid input: `hostnet validate`
//! accepts it. A block that is not hostnet input, or only part of a file, says so on the
//! line before its fence: `<!-- not hostnet input: WHY -->`.

use std::path::{Path, PathBuf};
use std::process::Command;

const SKIP_MARK: &str = "<!-- not hostnet input";

/// A YAML block of a document: where it starts (1-based line of the fence) and its text.
struct Block {
    line: usize,
    text: String,
}

/// The ```yaml blocks of `text` not marked as something else than input.
fn yaml_blocks(text: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    let mut previous = "";
    for (k, line) in text.lines().enumerate() {
        match current.as_mut() {
            Some(b) if line.trim_start().starts_with("```") => {
                out.push(std::mem::replace(
                    b,
                    Block {
                        line: 0,
                        text: String::new(),
                    },
                ));
                current = None;
            }
            Some(b) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            None if line.trim_start().starts_with("```yaml") => {
                // A marked block is read through but not kept (line 0).
                let skipped = previous.trim_start().starts_with(SKIP_MARK);
                current = Some(Block {
                    line: if skipped { 0 } else { k + 1 },
                    text: String::new(),
                });
            }
            None => {}
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    out.retain(|b| b.line != 0);
    out
}

fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut docs = vec![root.join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

#[test]
fn the_marks_and_fences_are_read_as_meant() {
    let text = "a\n```yaml\nnetworks: []\n```\n<!-- not hostnet input: a play -->\n```yaml\n- hosts: x\n```\n```sh\nls\n```\n";
    let blocks = yaml_blocks(text);
    assert_eq!(blocks.len(), 1);
    assert_eq!(
        (blocks[0].line, blocks[0].text.as_str()),
        (2, "networks: []\n")
    );
}

#[test]
fn every_yaml_example_in_the_docs_validates() {
    let dir = std::env::temp_dir().join(format!("hostnet-doc-examples-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let mut failures = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("readable");
        let name = doc.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = name.unwrap_or_default();
        for b in yaml_blocks(&text) {
            let file = dir.join(format!("{name}-{}.yaml", b.line));
            std::fs::write(&file, &b.text).expect("write the example");
            let o = Command::new(env!("CARGO_BIN_EXE_hostnet"))
                .arg("validate")
                .arg(&file)
                .output()
                .expect("hostnet runs");
            checked += 1;
            if !o.status.success() {
                failures.push(format!(
                    "{name}:{}: {}{}",
                    b.line,
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    // README alone has several: finding none means the reader is broken.
    assert!(checked >= 5, "only {checked} YAML examples found");
    assert!(
        failures.is_empty(),
        "examples that do not validate (mark a block that is not input with `{SKIP_MARK}: why -->` on the line before it):\n{}",
        failures.join("\n")
    );
}
