//! `kiln fmt` as `packer fmt` behaves: which files it reads, what it prints, what it writes,
//! its exit codes (0, 3 with -check when a file would change, 1 on an error), and that a file
//! it cannot read is left as it is while the others are formatted.

mod common;

use common::*;
use std::path::Path;

const MESSY: &str = "source \"null\" \"a\" {\ncommunicator=\"none\"\n}\n\nbuild {\nsources = [\"source.null.a\"]\n}\n";
const TIDY: &str = "source \"null\" \"a\" {\n  communicator = \"none\"\n}\n\nbuild {\n  sources = [\"source.null.a\"]\n}\n";

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn fmt_rewrites_a_directory_and_check_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("b.pkr.hcl"), MESSY).unwrap();
    std::fs::write(d.join("a.pkr.hcl"), TIDY).unwrap();
    std::fs::write(d.join("v.pkrvars.hcl"), "region   =\"x\"\n").unwrap();
    std::fs::write(d.join("c.json"), "{ \"builders\":[] }").unwrap();
    std::fs::create_dir(d.join("sub")).unwrap();
    std::fs::write(d.join("sub/s.pkr.hcl"), MESSY).unwrap();

    // -check: the names of the files that would change, exit 3, nothing written.
    let out = run_in(d, &["fmt", "-check", "."], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "b.pkr.hcl\nv.pkrvars.hcl\n");
    assert_eq!(read(&d.join("b.pkr.hcl")), MESSY);

    // -diff -write=false: the unified diff Packer prints, nothing written, exit 0.
    let out = run_in(d, &["fmt", "-diff", "-write=false", "b.pkr.hcl"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.starts_with("b.pkr.hcl\n--- old/b.pkr.hcl\n+++ new/b.pkr.hcl\n@@ -1,7 +1,7 @@\n"),
        "{text}"
    );
    assert_says(
        &text,
        &["-communicator=\"none\"\n", "+  communicator = \"none\"\n"],
    );
    assert_eq!(read(&d.join("b.pkr.hcl")), MESSY);

    // Then for real: formatted in place; JSON and subdirectories untouched; a second run has
    // nothing to do.
    let out = run_in(d, &["fmt", "."], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "b.pkr.hcl\nv.pkrvars.hcl\n");
    assert_eq!(read(&d.join("b.pkr.hcl")), TIDY);
    assert_eq!(read(&d.join("v.pkrvars.hcl")), "region = \"x\"\n");
    assert_eq!(read(&d.join("c.json")), "{ \"builders\":[] }");
    assert_eq!(read(&d.join("sub/s.pkr.hcl")), MESSY);
    let out = run_in(d, &["fmt", "-check", "."], &[]);
    assert_eq!((out.status.code(), stdout(&out)), (Some(0), String::new()));

    // -recursive (Packer 1.7's flag) walks into subdirectories; names are printed clean.
    let out = run_in(d, &["fmt", "-check", "-recursive", "./sub/"], &[]);
    assert_eq!(
        (out.status.code(), stdout(&out)),
        (Some(3), "sub/s.pkr.hcl\n".to_string())
    );
    let out = run_in(d, &["fmt", "-recursive", "."], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "sub/s.pkr.hcl\n");
    assert_eq!(read(&d.join("sub/s.pkr.hcl")), TIDY);

    // The result is still the same template.
    let out = run_in(d, &["validate", "-syntax-only", "b.pkr.hcl"], &[]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn fmt_refuses_what_it_cannot_read_and_formats_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let broken = "a = {\n  b = 1\n";
    std::fs::write(d.join("a.pkr.hcl"), broken).unwrap();
    std::fs::write(d.join("b.pkr.hcl"), MESSY).unwrap();
    // HCL reads a comment after a heredoc's closing marker as text of the heredoc.
    let heredoc = "x = <<EOT\nhello\nEOT # the end\n";
    std::fs::write(d.join("c.pkr.hcl"), heredoc).unwrap();

    let out = run_in(d, &["fmt", "."], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stdout(&out), "b.pkr.hcl\n");
    let err = stderr(&out);
    assert_says(
        &err,
        &[
            "Error: a.pkr.hcl was not formatted: a.pkr.hcl:1:5: invalid HCL: this { is never \
             closed: a } is missing",
            "Error: c.pkr.hcl was not formatted: c.pkr.hcl:3:1: invalid HCL: a heredoc's \
             closing marker must be alone on its line",
        ],
    );
    assert_eq!(read(&d.join("a.pkr.hcl")), broken);
    assert_eq!(read(&d.join("c.pkr.hcl")), heredoc);
    assert_eq!(read(&d.join("b.pkr.hcl")), TIDY);

    // The build refuses that heredoc too, as Packer does, instead of ending it early.
    let out = run_in(d, &["validate", "-syntax-only", "c.pkr.hcl"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_says(
        &stdout(&out),
        &["c.pkr.hcl:3:1: invalid HCL: a heredoc's closing marker"],
    );

    for (args, says) in [
        (
            vec!["fmt", "c.json"],
            "Cannot tell whether c.json contains HCL2 configuration data",
        ),
        (
            vec!["fmt", "missing.pkr.hcl"],
            "could not read missing.pkr.hcl",
        ),
        (vec!["fmt"], "Usage: kiln fmt [options] [TEMPLATE]"),
        (
            vec!["fmt", "-nope", "."],
            "flag provided but not defined: -nope",
        ),
    ] {
        std::fs::write(d.join("c.json"), "{}").unwrap();
        let out = run_in(d, &args, &[]);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_says(&stderr(&out), &[says]);
    }
}
