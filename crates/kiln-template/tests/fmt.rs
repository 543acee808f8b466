//! kiln's HCL formatter against `packer fmt` (Packer 1.6.6), from the cases
//! scripts/gen-fmt-goldens.py recorded: each `NAME.in` must become exactly `NAME.out`, and an
//! input Packer refused (`NAME.err`) must be refused here too, with a line and column.

use std::path::Path;

#[test]
fn formats_as_packer_fmt_does() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fmt/cases");
    let mut inputs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "in"))
        .collect();
    inputs.sort();
    assert!(
        inputs.len() >= 30,
        "the cases are missing: {}",
        inputs.len()
    );
    let (mut formatted, mut refused, mut changed) = (0, 0, 0);
    for input in &inputs {
        let name = input.display().to_string();
        let text = std::fs::read_to_string(input).unwrap();
        let got = kiln_template::hcl::format_file(&name, &text);
        let out = input.with_extension("out");
        if out.exists() {
            let want = std::fs::read_to_string(&out).unwrap();
            let got = got.unwrap_or_else(|e| panic!("{name}: refused: {e}"));
            assert!(
                got == want,
                "{name}: kiln's layout differs from Packer's:\n{got}"
            );
            // Canonical text stays as it is.
            assert_eq!(kiln_template::hcl::format_file(&name, &want).unwrap(), want);
            formatted += 1;
            changed += usize::from(want != text);
        } else {
            assert!(
                input.with_extension("err").exists(),
                "{name}: no .out nor .err"
            );
            let e = got.expect_err(&format!("{name}: Packer refused it, kiln formatted it"));
            let place = format!("{name}:");
            assert!(
                e.to_string().starts_with(&place),
                "{name}: the error has no place: {e}"
            );
            refused += 1;
        }
    }
    // The cases must exercise both outcomes, and most must need formatting.
    assert!(
        formatted >= 25 && refused >= 1 && changed >= 20,
        "{formatted} {refused} {changed}"
    );
}
