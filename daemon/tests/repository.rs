//! The repository's docs say what exists, and its scripts work wherever cargo builds: the code
//! map names every module, only executors that exist are described as existing, and no script
//! assumes `target/`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

/// Every `.rs` file under `dir`, as paths relative to it.
fn rust_files(dir: &Path, under: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, under, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            let relative = path.strip_prefix(under).unwrap();
            found.push(relative.to_string_lossy().into_owned());
        }
    }
}

/// The workspace's crates: the directories at the root with a Cargo.toml and a src/.
fn crates() -> Vec<String> {
    let mut crates: Vec<String> = std::fs::read_dir(root())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("Cargo.toml").is_file() && path.join("src").is_dir())
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    crates.sort();
    crates
}

/// The text of a markdown section, from its heading to the next heading of its level or above.
fn section<'a>(text: &'a str, heading: &str) -> &'a str {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no section {heading:?}"));
    let rest = &text[start + heading.len()..];
    let end = [rest.find("\n### "), rest.find("\n## ")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn architecture_names_every_module_file_of_every_crate() {
    let architecture = read("docs/ARCHITECTURE.md");
    let crates = crates();
    assert_eq!(crates, ["api", "daemon", "executors", "sql"]);
    let mut missing = Vec::new();
    for name in crates {
        let text = section(&architecture, &format!("### `{name}/`"));
        let src = root().join(&name).join("src");
        let mut files = Vec::new();
        rust_files(&src, &src, &mut files);
        for file in files {
            if !text.contains(&format!("`src/{file}`")) && !text.contains(&format!("`{file}`")) {
                missing.push(format!("{name}/src/{file}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md's code map does not name {missing:?}; name each in its crate's section"
    );
}

/// The executors that exist: the modules of the executors crate but its root, its registry and
/// `output` (what the engine makes of any executor's outcome).
fn executor_modules() -> BTreeSet<String> {
    let src = root().join("executors/src");
    let mut files = Vec::new();
    rust_files(&src, &src, &mut files);
    files
        .into_iter()
        .map(|file| file.trim_end_matches(".rs").to_string())
        .filter(|module| !["lib", "registry", "output"].contains(&module.as_str()))
        .collect()
}

#[test]
fn the_readme_lists_as_existing_exactly_the_executors_that_exist() {
    let readme = read("README.md");
    let table = section(&readme, "## What exists and what is planned");
    let mut existing = BTreeSet::new();
    let mut planned = BTreeSet::new();
    for row in table.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_string();
        match cells[2] {
            "exists" => existing.insert(name),
            "planned" => planned.insert(name),
            other => panic!("README.md says executor {name} is {other:?}"),
        };
    }
    let modules = executor_modules();
    assert_eq!(existing, modules);
    assert!(
        planned.is_disjoint(&modules),
        "README.md calls {:?} planned, but they exist",
        planned.intersection(&modules).collect::<Vec<_>>()
    );
}

#[test]
fn every_mention_of_a_connector_not_written_says_it_is_planned() {
    let executor_doc: String = read("executors/src/lib.rs")
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(|line| format!("{}\n", line.trim()))
        .collect();
    let mut texts = vec![
        ("README.md".to_string(), read("README.md")),
        ("executors/src/lib.rs".to_string(), executor_doc),
    ];
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // Generated from the schema's comments and the API, not written about connectors.
        if name.ends_with(".md") && name != "schema.md" && name != "api-reference.md" {
            texts.push((
                format!("docs/{name}"),
                std::fs::read_to_string(&path).unwrap(),
            ));
        }
    }
    let mut unmarked = Vec::new();
    for (file, text) in texts {
        for paragraph in text.split("\n\n") {
            let lower = paragraph.to_lowercase();
            let names_one = ["ldap", "webhook", "amie"]
                .iter()
                .any(|connector| lower.contains(connector));
            if names_one && !lower.contains("planned") {
                unmarked.push(format!("{file}: {paragraph}"));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "these paragraphs name a connector that is not written without saying it is planned:\n{}",
        unmarked.join("\n---\n")
    );
}

/// The scripts of deployments/dev and deployments/bench.
fn scripts() -> Vec<(String, String)> {
    let mut scripts = Vec::new();
    for dir in ["deployments/dev", "deployments/bench"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            let name = format!("{dir}/{}", path.file_name().unwrap().to_string_lossy());
            scripts.push((name, std::fs::read_to_string(&path).unwrap()));
        }
    }
    scripts.sort();
    scripts
}

#[test]
fn no_script_assumes_cargo_builds_into_target() {
    let scripts = scripts();
    assert!(scripts.len() >= 4);
    let assuming: Vec<String> = scripts
        .iter()
        .flat_map(|(name, text)| {
            text.lines()
                .filter(|line| !line.trim_start().starts_with('#') && line.contains("target/"))
                .map(move |line| format!("{name}: {line}"))
        })
        .collect();
    assert!(
        assuming.is_empty(),
        "these lines assume target/; ask lib.sh's target_dir instead:\n{}",
        assuming.join("\n")
    );
}

/// What lib.sh's `target_dir` says, run from the repository with `CARGO_TARGET_DIR` as given.
fn target_dir(cargo_target_dir: Option<&str>) -> String {
    let mut command = std::process::Command::new("bash");
    command
        .args(["-c", ". deployments/dev/lib.sh && target_dir"])
        .current_dir(root())
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR");
    if let Some(dir) = cargo_target_dir {
        command.env("CARGO_TARGET_DIR", dir);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

#[test]
fn the_scripts_build_into_cargo_target_dir_when_it_is_set() {
    let elsewhere = std::env::temp_dir().join("purser-elsewhere");
    assert_eq!(
        target_dir(Some(elsewhere.to_str().unwrap())),
        elsewhere.to_str().unwrap()
    );
    assert_eq!(
        PathBuf::from(target_dir(None)),
        std::fs::canonicalize(root()).unwrap().join("target")
    );
}
