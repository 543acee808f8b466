//! Property tests for the parsers and the evaluator, over generated inputs (a fixed-seed
//! generator, so failures reproduce): JSON round-trips through our parser exactly as through
//! serde_json; mutated or random input never panics; templates never panic; HCL's layout is
//! a fixed point of fmt.

use kiln_template::interp::{render, Context};
use kiln_template::{json, Source};

/// xorshift64*: small, deterministic.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

fn gen_string(r: &mut Rng) -> String {
    let alphabet = [
        "a", "Z", "0", " ", "\"", "\\", "\n", "\t", "é", "😀", "{", "}", "\u{1}", "/",
    ];
    (0..r.below(8)).map(|_| *r.pick(&alphabet)).collect()
}

fn gen_value(r: &mut Rng, depth: u32) -> serde_json::Value {
    use serde_json::Value as J;
    let leaf = depth >= 4 || r.below(3) == 0;
    match if leaf { r.below(5) } else { 5 + r.below(2) } {
        0 => J::Null,
        1 => J::Bool(r.below(2) == 0),
        2 => J::from(r.next() as i64 >> r.below(60)),
        3 => J::from((r.below(2_000_000) as f64 - 1e6) / 7.0),
        4 => J::String(gen_string(r)),
        5 => J::Array((0..r.below(5)).map(|_| gen_value(r, depth + 1)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..r.below(5) {
                m.insert(gen_string(r), gen_value(r, depth + 1));
            }
            J::Object(m)
        }
    }
}

#[test]
fn json_round_trips_like_serde_json() {
    let mut r = Rng(0x9E3779B97F4A7C15);
    for _ in 0..3000 {
        let v = gen_value(&mut r, 0);
        let text = if r.below(2) == 0 {
            serde_json::to_string(&v).unwrap()
        } else {
            serde_json::to_string_pretty(&v).unwrap()
        };
        let parsed = json::parse(&Source::new("p.json", text.clone()))
            .unwrap_or_else(|e| panic!("rejected valid JSON {text:?}: {e}"));
        assert_eq!(parsed.to_json(), v, "{text}");
    }
}

#[test]
fn mutated_json_never_panics_and_errors_have_positions() {
    let mut r = Rng(42);
    let bytes_pool = [
        b'{', b'}', b'[', b']', b'"', b',', b':', b'\\', b'a', b'1', b' ', b'\n', b'-', b'e', 0xC3,
        0xFF,
    ];
    for _ in 0..5000 {
        let v = gen_value(&mut r, 0);
        let mut bytes = serde_json::to_vec(&v).unwrap();
        for _ in 0..=r.below(3) {
            let at = r.below(bytes.len() as u64 + 1) as usize;
            match r.below(3) {
                0 if at < bytes.len() => {
                    bytes.remove(at);
                }
                1 => bytes.insert(at, *r.pick(&bytes_pool)),
                _ if at < bytes.len() => bytes[at] = *r.pick(&bytes_pool),
                _ => {}
            }
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let src = Source::new("m.json", text.clone());
        if let Err(d) = json::parse(&src) {
            let span = d.span.clone().expect("syntax errors carry a location");
            assert!(span.start <= text.len());
            let _ = d.to_string();
        }
    }
}

#[test]
fn random_templates_never_panic() {
    let mut r = Rng(7);
    let pieces = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        "user `a`",
        "upper",
        "|",
        "(",
        ")",
        " ",
        "\"x\"",
        "`y`",
        ".F",
        ".",
        "if",
        "else",
        "end",
        "range",
        "with",
        "1",
        "-2",
        "3.5",
        "true",
        "nil",
        "split",
        "build `ID`",
        "/*",
        "*/",
        "$x",
        "text",
        "eq",
        "printf \"%s\"",
        "len",
    ];
    let mut cx = Context::new(chrono::Utc::now());
    cx.user_vars = std::sync::Arc::new([("a".to_string(), "A".to_string())].into_iter().collect());
    for _ in 0..20000 {
        let t: String = (0..r.below(12)).map(|_| *r.pick(&pieces)).collect();
        let _ = render(&t, &cx);
    }
}

/// An HCL2 template with most of what the front end reads, for mutation.
const HCL: &str = r#"
variable "a" {
  type    = list(string)
  default = ["x", "y"]
  validation {
    condition     = length(var.a) > 0
    error_message = "empty"
  }
}
locals {
  m = { for i, v in var.a : v => i * 2 if i >= 0 }
  s = "%{ for k, v in local.m ~} ${k}=${v} %{~ endfor } ${upper(join(",", var.a))}"
  h = <<-EOT
    a ${local.s}
      b
    EOT
}
source "null" "x" {
  communicator = "none"
  dynamic "d" {
    for_each = local.m
    content {
      k = d.key
    }
  }
}
build {
  name    = "b"
  sources = ["source.null.x"]
  provisioner "shell-local" {
    inline = [try(local.nope, "f"), "${source.name} ${build.ID}", local.h]
  }
  post-processors {
    post-processor "manifest" {}
  }
}
"#;

fn load_hcl(dir: &std::path::Path, text: &str) -> Result<kiln_template::ir::Template, String> {
    let p = dir.join("m.pkr.hcl");
    std::fs::write(&p, text).unwrap();
    kiln_template::hcl::load(&p, &Default::default(), chrono::Utc::now()).map_err(|e| e.to_string())
}

#[test]
fn mutated_hcl_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        load_hcl(dir.path(), HCL).is_ok(),
        "{:?}",
        load_hcl(dir.path(), HCL)
    );
    let mut r = Rng(1234);
    let pool: [&str; 22] = [
        "{", "}", "[", "]", "\"", ",", "=", "\\", "a", "1", " ", "\n", "${", "%{", "~", "<<-EOT\n",
        "EOT", "(", ")", ".", "*", "é",
    ];
    for _ in 0..3000 {
        let mut chars: Vec<char> = HCL.chars().collect();
        for _ in 0..=r.below(3) {
            let at = r.below(chars.len() as u64 + 1) as usize;
            match r.below(3) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                _ => {
                    for (i, c) in r.pick(&pool).chars().enumerate() {
                        chars.insert((at + i).min(chars.len()), c);
                    }
                }
            }
        }
        let text: String = chars.into_iter().collect();
        let _ = load_hcl(dir.path(), &text);
        // What fmt writes, it leaves as it is.
        if let Ok(once) = kiln_template::hcl::format_file("m.pkr.hcl", &text) {
            let twice = kiln_template::hcl::format_file("m.pkr.hcl", &once)
                .unwrap_or_else(|e| panic!("fmt's own output refused: {e}\nfrom:\n{text}"));
            assert_eq!(twice, once, "from:\n{text}");
        }
    }
}

#[test]
fn random_hcl_expressions_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut r = Rng(99);
    let pieces = [
        "1",
        "-2.5",
        "\"s\"",
        "true",
        "null",
        "var.a",
        "local.x",
        "[",
        "]",
        "{",
        "}",
        "(",
        ")",
        ",",
        "+",
        "-",
        "*",
        "/",
        "%",
        "==",
        "&&",
        "!",
        "?",
        ":",
        "for",
        "in",
        "if",
        "=>",
        "...",
        "[*]",
        ".0",
        "[0]",
        "upper(",
        "range(",
        "format(\"%5d\",",
        "substr(",
        "element(",
        "slice(",
        "split(\"\",",
        "try(",
        "can(",
        "parseint(",
        "indent(",
        "join(\",\",",
        "k",
        "v",
        " ",
    ];
    for _ in 0..4000 {
        let e: String = (0..1 + r.below(10)).map(|_| *r.pick(&pieces)).collect();
        let text = format!(
            "variable \"a\" {{\n  default = [1, 2]\n}}\nlocals {{\n  x = {{ k = 1 }}\n  v = {e}\n}}\nsource \"null\" \"x\" {{}}\nbuild {{ sources = [\"source.null.x\"] }}\n"
        );
        let _ = load_hcl(dir.path(), &text);
    }
}

#[test]
fn upgraded_strings_mean_what_the_legacy_string_meant() {
    use kiln_template::hcl::upgrade::string_expr;
    let dir = tempfile::tempdir().unwrap();
    let mut r = Rng(2024);
    let pieces = [
        "$",
        "%",
        "{",
        "}",
        "\"",
        "\\",
        "a",
        " ",
        "\n",
        "\t",
        "é",
        "~",
        "{{user `a`}}",
        "{{env `KILN_PROPERTY_E`}}",
    ];
    std::env::set_var("KILN_PROPERTY_E", "E$%{");
    let mut checked = 0;
    for _ in 0..3000 {
        let s: String = (0..r.below(10)).map(|_| *r.pick(&pieces)).collect();
        let plain = s
            .replace("{{user `a`}}", "")
            .replace("{{env `KILN_PROPERTY_E`}}", "");
        // Braces right next to an action would read differently in Go; leave those out.
        if plain.contains("{{") || s.contains("{{{") || s.contains("}}}") {
            continue;
        }
        let want = s
            .replace("{{user `a`}}", "A")
            .replace("{{env `KILN_PROPERTY_E`}}", "E$%{");
        let text = format!(
            "variable \"a\" {{\n  default = \"A\"\n}}\nsource \"null\" \"x\" {{\n  probe = {}\n}}\nbuild {{ sources = [\"source.null.x\"] }}\n",
            string_expr(&s)
        );
        let t = load_hcl(dir.path(), &text).unwrap_or_else(|e| panic!("{s:?}\n{text}\n{e}"));
        let got = t.builders[0]
            .config
            .get("probe")
            .unwrap()
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(got, want, "{s:?}\n{text}");
        checked += 1;
    }
    assert!(checked > 1000, "only {checked} strings checked");
}
