//! `kiln cleanup`: deletes what runs that died (killed, crashed, interrupted twice) left in the
//! cloud, from their resource journals in the state directory.

use crate::args::{self, Kind};
use crate::plan;
use kiln_core::journal::{outstanding, read, state_dir, Event, Record};

const USAGE: &str = "Usage: kiln cleanup [-dry-run] [-state-dir DIR] [-expired [-region R1,R2]]

  Deletes the temporary resources (instances, images, security groups, key pairs) that
  earlier runs recorded in their journals but did not delete, because they were killed or
  interrupted. Journals live in $KILN_STATE_DIR (default ~/.local/state/kiln).

  With -expired, also finds in the cloud the temporary resources kiln tagged (kiln:expires)
  whose expiry has passed, journal or not: those of runs whose machine is gone. A build's
  product (its AMI and snapshots) carries no expiry and is never touched.

Options:
  -dry-run          List what would be deleted.
  -state-dir=DIR    Read journals from DIR.
  -expired          Also delete expired tagged resources, found in the cloud.
  -region=R1,R2     The regions -expired looks in (default: the AWS default region).
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
    let flags = match args::parse(
        argv,
        &[
            ("dry-run", Kind::Bool),
            ("state-dir", Kind::Value),
            ("expired", Kind::Bool),
            ("region", Kind::Value),
        ],
    ) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}\n\n{USAGE}");
            return 1;
        }
    };
    if flags.value("region").is_some() && !flags.bool("expired", false) {
        eprintln!("-region is for -expired\n\n{USAGE}");
        return 1;
    }
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
    let mut cleanup = Cleanup {
        registry: plan::registry(),
        rt,
        dry_run: flags.bool("dry-run", false),
        deleted: 0,
        failed: 0,
    };
    // The runs still going here: what they made is theirs, expired or not.
    let mut live = Vec::new();
    for path in journals {
        if kiln_core::journal::in_use(&path) {
            println!(
                "skipping {}: its run is still going",
                path.file_name().unwrap_or_default().to_string_lossy()
            );
            live.push(run_of(&path));
            continue;
        }
        let remaining = cleanup.delete(outstanding(&read(&path)), |r| append(&path, r));
        if remaining.is_empty() {
            let _ = std::fs::remove_file(&path);
        }
    }
    if flags.bool("expired", false) {
        let regions: Vec<String> = flags
            .value("region")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        let reapers: Vec<_> = cleanup.registry.reapers().collect();
        for (cloud, reap) in reapers {
            match cleanup.rt.block_on(reap(regions.clone())) {
                Ok(found) => {
                    let found = found
                        .into_iter()
                        .filter(|r| !live.contains(&r.run))
                        .collect();
                    cleanup.delete(found, |_| {});
                }
                Err(e) => {
                    println!("could not look for expired resources in {cloud}: {e}");
                    cleanup.failed += 1;
                }
            }
        }
    }
    // The credentials this cleanup read (a Vault role's new IAM user) go too.
    for warning in cleanup.rt.block_on(cleanup.registry.end_run()) {
        println!("warning: {warning}");
    }
    println!(
        "kiln cleanup: {} deleted, {} failed",
        cleanup.deleted, cleanup.failed
    );
    if cleanup.failed > 0 {
        1
    } else {
        0
    }
}

/// The run a journal file belongs to (`run-UUID.jsonl`).
fn run_of(path: &std::path::Path) -> String {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    name.trim_start_matches("run-")
        .trim_end_matches(".jsonl")
        .to_string()
}

/// Deletes resources with the registry's cleaners, counting.
struct Cleanup {
    registry: kiln_core::plugin::Registry,
    rt: tokio::runtime::Runtime,
    dry_run: bool,
    deleted: usize,
    failed: usize,
}

impl Cleanup {
    /// Deletes each of `left` (what holds others first), saying so; `done` records each
    /// deletion. Returns what is still there.
    fn delete(&mut self, mut left: Vec<Record>, mut done: impl FnMut(&Record)) -> Vec<Record> {
        left.sort_by_key(|r| rank(&r.kind));
        let mut remaining = Vec::new();
        for r in left {
            let label = format!(
                "{} {} (run {}, build {})",
                r.kind,
                if r.id.is_empty() { &r.key } else { &r.id },
                r.run,
                r.build
            );
            if self.dry_run {
                println!("would delete {label}");
                remaining.push(r);
                continue;
            }
            let Some(clean) = self.registry.get_cleaner(&r.kind) else {
                println!("cannot delete {label}: no cleaner for this kind");
                self.failed += 1;
                remaining.push(r);
                continue;
            };
            match self.rt.block_on(clean(r.clone())) {
                Ok(()) => {
                    println!("deleted {label}");
                    self.deleted += 1;
                    done(&r);
                }
                Err(e) => {
                    println!("could not delete {label}: {e}");
                    self.failed += 1;
                    remaining.push(r);
                }
            }
        }
        remaining
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
