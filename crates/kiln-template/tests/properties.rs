//! Property tests for the parsers and the evaluator, over generated inputs (a fixed-seed
//! generator, so failures reproduce): JSON round-trips through our parser exactly as through
//! serde_json; mutated or random input never panics; templates never panic.

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
