//! The resource journal: before a step creates anything outside the machine (an instance, a
//! key pair, a security group, an image) it appends an *intent* record; after, the *created*
//! record with the id; after deletion, a *deleted* record. Records are JSON lines, fsync'd, in
//! one file per run under the state directory, so `kiln cleanup` can delete what a run that
//! died (even by kill -9) left behind.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// What happened to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// About to be created.
    Intent,
    /// Created.
    Created,
    /// Deleted (or found to be gone).
    Deleted,
    /// Kept on purpose: the build's product (an AMI), no longer temporary.
    Released,
}

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Unix time.
    pub ts: i64,
    /// The run.
    pub run: String,
    /// The build.
    pub build: String,
    /// Resource kind, e.g. `ec2:instance`.
    pub kind: String,
    /// A key that identifies the resource before it has an id (a name or client token).
    pub key: String,
    /// Its id, once known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Where it lives (region, endpoint, …) for the cleaner.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub place: std::collections::BTreeMap<String, String>,
    /// What happened.
    pub event: Event,
}

/// A run's journal (or a disabled one, for validate and tests).
pub struct Journal {
    path: Option<PathBuf>,
    file: Mutex<Option<std::fs::File>>,
    run: String,
}

/// The state directory: `KILN_STATE_DIR`, else `$XDG_STATE_HOME/kiln`, else
/// `~/.local/state/kiln`.
pub fn state_dir() -> PathBuf {
    if let Ok(d) = std::env::var("KILN_STATE_DIR") {
        return PathBuf::from(d);
    }
    if let Ok(d) = std::env::var("XDG_STATE_HOME") {
        return Path::new(&d).join("kiln");
    }
    let home = std::env::var("HOME").unwrap_or_else(|_| "/tmp".into());
    Path::new(&home).join(".local/state/kiln")
}

impl Journal {
    /// A journal that records nothing.
    pub fn disabled() -> Journal {
        Journal {
            path: None,
            file: Mutex::new(None),
            run: String::new(),
        }
    }

    /// The journal for a run. The directory must be writable; the file itself is created with
    /// the first record, so runs that create nothing leave nothing.
    pub fn open(dir: &Path, run: &str) -> std::io::Result<Journal> {
        std::fs::create_dir_all(dir)?;
        tempfile_in(dir)?;
        Ok(Journal {
            path: Some(dir.join(format!("run-{run}.jsonl"))),
            file: Mutex::new(None),
            run: run.to_string(),
        })
    }

    /// The file, if recording.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Appends a record and syncs it to disk before returning.
    pub fn record(
        &self,
        build: &str,
        kind: &str,
        key: &str,
        id: &str,
        place: &[(&str, &str)],
        event: Event,
    ) {
        let Some(path) = &self.path else { return };
        let mut guard = self.file.lock().expect("journal lock");
        if guard.is_none() {
            match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                Ok(f) => {
                    // Held for as long as this run lives (the kernel drops it when the process
                    // dies, even by kill -9): `kiln cleanup` leaves a live run's journal alone.
                    // SAFETY: flock on a file descriptor this function owns.
                    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
                    *guard = Some(f)
                }
                Err(e) => {
                    eprintln!(
                        "kiln: could not open the resource journal {}: {e}",
                        path.display()
                    );
                    return;
                }
            }
        }
        let Some(f) = guard.as_mut() else { return };
        let rec = Record {
            ts: chrono::Utc::now().timestamp(),
            run: self.run.clone(),
            build: build.to_string(),
            kind: kind.to_string(),
            key: key.to_string(),
            id: id.to_string(),
            place: place
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            event,
        };
        let line = serde_json::to_string(&rec).expect("record serializes");
        // A journal that cannot be written must not stop a cleanup; it is reported instead.
        if writeln!(f, "{line}").and_then(|_| f.sync_data()).is_err() {
            eprintln!(
                "kiln: could not write the resource journal {}",
                self.path.as_deref().unwrap_or(Path::new("")).display()
            );
        }
    }

    /// Removes the file when every resource it recorded is deleted; returns what is left.
    pub fn finish(&self) -> Vec<Record> {
        let Some(path) = &self.path else {
            return vec![];
        };
        let left = outstanding(&read(path));
        if left.is_empty() {
            *self.file.lock().expect("journal lock") = None;
            let _ = std::fs::remove_file(path);
        }
        left
    }
}

/// Whether a live run still holds the journal at `path` (so its resources are in use).
pub fn in_use(path: &Path) -> bool {
    let Ok(f) = std::fs::File::open(path) else {
        return false;
    };
    // SAFETY: flock on a file descriptor this function owns; a lock it gets is released when
    // `f` is dropped.
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) != 0 }
}

/// Creates and removes a file in `dir`, to prove it is writable.
fn tempfile_in(dir: &Path) -> std::io::Result<()> {
    let p = dir.join(format!(".probe-{}", std::process::id()));
    std::fs::write(&p, b"")?;
    std::fs::remove_file(&p)
}

/// Reads a journal file (ignoring a torn last line).
pub fn read(path: &Path) -> Vec<Record> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The resources that were intended or created but not deleted, one record each (the latest:
/// with the id when known).
pub fn outstanding(records: &[Record]) -> Vec<Record> {
    let mut by_key: Vec<Record> = Vec::new();
    for r in records {
        let pos = by_key
            .iter()
            .position(|x| x.kind == r.kind && x.key == r.key && x.run == r.run);
        match (pos, r.event) {
            (Some(i), Event::Deleted | Event::Released) => {
                by_key.remove(i);
            }
            (Some(i), _) => {
                let mut merged = r.clone();
                if merged.id.is_empty() {
                    merged.id = by_key[i].id.clone();
                }
                for (k, v) in &by_key[i].place {
                    merged.place.entry(k.clone()).or_insert_with(|| v.clone());
                }
                by_key[i] = merged;
            }
            (None, Event::Deleted | Event::Released) => {}
            (None, _) => by_key.push(r.clone()),
        }
    }
    by_key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_intent_created_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), "r1").unwrap();
        j.record(
            "b",
            "ec2:key-pair",
            "packer_1",
            "",
            &[("region", "us-east-1")],
            Event::Intent,
        );
        j.record(
            "b",
            "ec2:key-pair",
            "packer_1",
            "key-9",
            &[],
            Event::Created,
        );
        j.record("b", "ec2:instance", "tok", "", &[], Event::Intent);
        let left = outstanding(&read(j.path().unwrap()));
        assert_eq!(left.len(), 2);
        assert_eq!(left[0].id, "key-9");
        assert_eq!(left[0].place["region"], "us-east-1");
        j.record(
            "b",
            "ec2:key-pair",
            "packer_1",
            "key-9",
            &[],
            Event::Deleted,
        );
        j.record("b", "ec2:instance", "tok", "i-1", &[], Event::Deleted);
        assert!(j.finish().is_empty());
        assert!(!dir.path().join("run-r1.jsonl").exists());
    }

    #[test]
    fn a_live_journal_is_in_use_until_it_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path(), "live").unwrap();
        j.record("b", "ec2:key-pair", "k", "", &[], Event::Intent);
        let path = j.path().unwrap().to_path_buf();
        assert!(in_use(&path));
        drop(j);
        assert!(!in_use(&path));
    }

    #[test]
    fn torn_lines_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run-x.jsonl");
        std::fs::write(&p, "{\"ts\":1,\"run\":\"x\",\"build\":\"b\",\"kind\":\"k\",\"key\":\"a\",\"event\":\"intent\"}\n{\"ts\":").unwrap();
        assert_eq!(outstanding(&read(&p)).len(), 1);
    }
}
