//! `kiln fmt [-check] [-diff] [-write=false] [-recursive] TEMPLATE`: rewrites HCL2 templates
//! (`*.pkr.hcl`) and variable files (`*.pkrvars.hcl`) in HCL's canonical layout, as
//! `packer fmt` does: a file's name is printed when it changes, `-check` changes nothing and
//! exits 3 when a file would change, a file that does not parse is an error (exit code 1) and
//! is left as it is. `-recursive` (Packer 1.7's flag) also walks subdirectories.

use crate::args::{self, Kind};
use std::path::{Path, PathBuf};

const USAGE: &str = "Usage: kiln fmt [options] [TEMPLATE]

  Rewrites all Packer configuration files to a canonical format. Both
  configuration files (.pkr.hcl) and variable files (.pkrvars.hcl) are updated.
  JSON files (.json) are not modified.

  If TEMPLATE is \".\" the current directory will be used. The given content must
  be in Packer's HCL2 configuration language; JSON is not supported.

Options:
  -check        Check if the input is formatted. Exit status will be 0 if all
                 input is properly formatted and 3 otherwise.

  -diff         Display diffs of formatting change

  -write=false  Don't write to source files
                (always disabled if using -check)

  -recursive    Also process files in subdirectories. By default, only the
                given directory (or current directory) is processed.
";

/// Runs the command; returns the exit code.
pub fn run(argv: &[String]) -> u8 {
    let table = [
        ("check", Kind::Bool),
        ("diff", Kind::Bool),
        ("write", Kind::Bool),
        ("recursive", Kind::Bool),
    ];
    let (flags, path) = match args::parse_one(argv, &table, USAGE) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let path = &path;
    let check = flags.bool("check", false);
    let opts = Opts {
        write: flags.bool("write", true) && !check,
        diff: flags.bool("diff", false),
    };
    let files = match files_of(Path::new(path), flags.bool("recursive", false)) {
        Ok(f) if f.is_empty() => {
            eprintln!("Error: Cannot tell whether {path} contains HCL2 configuration data");
            return 1;
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("Error: {e}");
            return 1;
        }
    };
    let mut changed = false;
    let mut errors = vec![];
    for f in &files {
        match one(f, opts) {
            Ok(c) => changed |= c,
            Err(e) => errors.push(e),
        }
    }
    for e in &errors {
        eprintln!("Error: {e}");
    }
    if !errors.is_empty() {
        1
    } else if check && changed {
        3
    } else {
        0
    }
}

#[derive(Clone, Copy)]
struct Opts {
    write: bool,
    diff: bool,
}

/// The files `path` stands for: itself if it is a template or variable file, else the
/// directory's templates then its variable files (each sorted by name), then, with
/// `recursive`, its subdirectories' in turn.
fn files_of(path: &Path, recursive: bool) -> Result<Vec<PathBuf>, String> {
    let name_ok = |p: &Path, ext: &str| p.to_string_lossy().ends_with(ext);
    let meta =
        std::fs::metadata(path).map_err(|e| format!("could not read {}: {e}", path.display()))?;
    if !meta.is_dir() {
        return Ok(
            if name_ok(path, ".pkr.hcl") || name_ok(path, ".pkrvars.hcl") {
                vec![path.to_path_buf()]
            } else {
                vec![]
            },
        );
    }
    let mut entries: Vec<(PathBuf, bool)> = std::fs::read_dir(path)
        .map_err(|e| format!("could not read {}: {e}", path.display()))?
        .flatten()
        .map(|e| {
            let dir = e.file_type().is_ok_and(|t| t.is_dir())
                || (e.file_type().is_ok_and(|t| t.is_symlink()) && e.path().is_dir());
            (relative(path, &e.file_name()), dir)
        })
        .collect();
    entries.sort();
    let mut out: Vec<PathBuf> = entries
        .iter()
        .filter(|(p, dir)| !dir && name_ok(p, ".pkr.hcl"))
        .map(|(p, _)| p.clone())
        .collect();
    out.extend(
        entries
            .iter()
            .filter(|(p, dir)| !dir && name_ok(p, ".pkrvars.hcl"))
            .map(|(p, _)| p.clone()),
    );
    if recursive {
        for (p, dir) in &entries {
            if *dir {
                out.extend(files_of(p, true)?);
            }
        }
    }
    Ok(out)
}

/// `dir/name` without `.` parts (`./dir/a.pkr.hcl` is `dir/a.pkr.hcl`), as Go's
/// `filepath.Join` makes the names Packer prints.
fn relative(dir: &Path, name: &std::ffi::OsStr) -> PathBuf {
    dir.join(name)
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Formats one file; whether it changed (or would).
fn one(path: &Path, opts: Opts) -> Result<bool, String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("could not read {shown}: {e}"))?;
    let out = kiln_template::hcl::format_file(&shown.to_string(), &text)
        .map_err(|d| format!("{shown} was not formatted: {d}"))?;
    if out == text {
        return Ok(false);
    }
    println!("{shown}");
    if opts.write {
        std::fs::write(path, &out).map_err(|e| format!("could not write {shown}: {e}"))?;
    }
    if opts.diff {
        print!("{}", diff(&text, &out, &shown.to_string())?);
    }
    Ok(true)
}

/// A unified diff of the two texts, from `diff -u` as Packer makes it.
fn diff(old: &str, new: &str, name: &str) -> Result<String, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("could not make a directory: {e}"))?;
    let (a, b) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::write(&a, old)
        .and_then(|()| std::fs::write(&b, new))
        .map_err(|e| format!("could not write the diff's files: {e}"))?;
    let out = std::process::Command::new("diff")
        .arg(format!("--label=old/{name}"))
        .arg(format!("--label=new/{name}"))
        .arg("-u")
        .arg(&a)
        .arg(&b)
        .output()
        .map_err(|e| format!("could not run diff for {name}: {e}"))?;
    // diff exits 1 when the files differ; 2 is its own trouble.
    if out.status.code() == Some(2) || out.stdout.is_empty() {
        return Err(format!(
            "diff failed for {name}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
