//! `kiln cleanup`: deletes what runs that died (killed, crashed, interrupted twice) left in the
//! cloud, from their resource journals in the state directory.

use crate::args::{self, Kind};
use crate::plan;
use kiln_core::journal::{outstanding, read, state_dir, Event, Record};

const USAGE: &str = "Usage: kiln cleanup [-dry-run] [-state-dir DIR]

  Deletes the temporary resources (instances, images, security groups, key pairs) that
  earlier runs recorded in their journals but did not delete, because they were killed or
  interrupted. Journals live in $KILN_STATE_DIR (default ~/.local/state/kiln).

Options:
  -dry-run          List what would be deleted.
  -state-dir=DIR    Read journals from DIR.
";

/// Deletion order: what holds others first.
fn rank(kind: &str) -> u8 {
    match kind {
        "ec2:instance" => 0,
        "ec2:image" => 1,
        "ec2:security-group" => 2,
        // Last: what the others' deletion may still need.
        "vault:lease" => 4,
        _ => 3,
    }
}

/// Runs the command; returns the exit code.
pub fn run(argv: &[String]) -> u8 {
    let flags = match args::parse(argv, &[("dry-run", Kind::Bool), ("state-dir", Kind::Value)]) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return 1;
        }
    };
    let dir = flags
        .value("state-dir")
        .map(Into::into)
        .unwrap_or_else(state_dir);
    let mut journals: Vec<std::path::PathBuf> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("run-") && n.ends_with(".jsonl"))
            })
            .collect(),
        Err(_) => vec![],
    };
    journals.sort();
    let registry = plan::registry();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("starting the runtime: {e}");
            return 1;
        }
    };
    let mut failed = 0;
    let mut deleted = 0;
    for path in journals {
        if kiln_core::journal::in_use(&path) {
            println!(
                "skipping {}: its run is still going",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            continue;
        }
        let mut left = outstanding(&read(&path));
        left.sort_by_key(|r| rank(&r.kind));
        let mut remaining: Vec<Record> = Vec::new();
        for r in left {
            let label = format!(
                "{} {} (run {}, build {})",
                r.kind,
                if r.id.is_empty() { &r.key } else { &r.id },
                r.run,
                r.build
            );
            if flags.bool("dry-run", false) {
                println!("would delete {label}");
                remaining.push(r);
                continue;
            }
            let Some(clean) = registry.get_cleaner(&r.kind) else {
                println!("cannot delete {label}: no cleaner for this kind");
                failed += 1;
                remaining.push(r);
                continue;
            };
            match rt.block_on(clean(r.clone())) {
                Ok(()) => {
                    println!("deleted {label}");
                    deleted += 1;
                    append(&path, &r);
                }
                Err(e) => {
                    println!("could not delete {label}: {e}");
                    failed += 1;
                    remaining.push(r);
                }
            }
        }
        if remaining.is_empty() {
            let _ = std::fs::remove_file(&path);
        }
    }
    // The credentials this cleanup read (a Vault role's new IAM user) go too.
    for warning in rt.block_on(registry.end_run()) {
        println!("warning: {warning}");
    }
    println!("kiln cleanup: {deleted} deleted, {failed} failed");
    if failed > 0 {
        1
    } else {
        0
    }
}

/// Records the deletion in the run's journal.
fn append(path: &std::path::Path, r: &Record) {
    let mut done = r.clone();
    done.event = Event::Deleted;
    done.ts = chrono::Utc::now().timestamp();
    if let Ok(line) = serde_json::to_string(&done) {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).open(path) {
            let _ = writeln!(f, "{line}").and_then(|_| f.sync_data());
        }
    }
}
