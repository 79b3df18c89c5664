//! `scripts/bench` end to end at its tiny scale: one run per contestant, no warm-up, no
//! installs. Checks the shape of the JSON it writes (machine, versions, every contestant
//! timed or skipped/failed with a reason, chainlink and cp timed, chainlink's phases),
//! never how fast anything was. Likewise `scripts/bench-base-sizes` and
//! `scripts/bench-scaling` at small sizes (and that the latter's verdict fails loudly).

use std::path::Path;
use std::process::Command;

/// Runs `scripts/NAME ARGS --chainlink BIN --out WORK --json FILE` and returns its stdout
/// and the JSON it wrote. The generated workloads are cached in WORK (under the test
/// target's directory) between test runs; results go to a fresh directory.
fn run_script(name: &str, work: &str, args: &[&str]) -> (String, json::Value) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join(work);
    let results = tempfile::tempdir().expect("temporary directory");
    let json_path = results.path().join("results.json");
    let out = Command::new("python3")
        .arg(root.join("scripts").join(name))
        .args(args)
        .arg("--chainlink")
        .arg(env!("CARGO_BIN_EXE_chainlink"))
        .arg("--out")
        .arg(&work)
        .arg("--json")
        .arg(&json_path)
        .output()
        .unwrap_or_else(|e| panic!("run python3 scripts/{name}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "scripts/{name} failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    let text = std::fs::read_to_string(&json_path).expect("results JSON written");
    let doc = json::parse(&text).unwrap_or_else(|e| panic!("results JSON does not parse: {e}\n{text}"));
    (stdout, doc)
}

#[test]
fn bench_script_tiny_writes_complete_results() {
    let args = ["--scale", "tiny", "--runs", "1", "--warmup", "0", "--no-install"];
    let (stdout, doc) = run_script("bench", "bench_script", &args);
    assert!(stdout.contains("contestant") && stdout.contains("chainlink"), "no table on stdout:\n{stdout}");

    let machine = doc.get("machine").expect("machine");
    assert!(machine.get("nproc").and_then(json::Value::num).is_some_and(|n| n >= 1.0), "nproc: {machine:?}");
    assert!(machine.get("mem_total_bytes").and_then(json::Value::num).is_some_and(|n| n > 0.0));
    assert!(machine.get("cpu_model").is_some() && machine.get("kernel").and_then(json::Value::str).is_some());
    assert!(doc.get("date").and_then(json::Value::str).is_some_and(|d| !d.is_empty()));
    let versions = doc.get("versions").expect("versions");
    assert!(versions.get("chainlink").and_then(json::Value::str).is_some_and(|v| v.contains("chainlink")));
    assert!(versions.get("gcc").and_then(json::Value::str).is_some());

    let contestants = doc.get("contestants").and_then(json::Value::arr).expect("contestants array");
    let mut names = Vec::new();
    for c in contestants {
        let name = c.get("name").and_then(json::Value::str).expect("contestant name");
        names.push(name.to_string());
        let status = c.get("status").and_then(json::Value::str).expect("status");
        match status {
            "ok" => {
                let times = c.get("times_s").and_then(json::Value::arr).unwrap_or_else(|| panic!("{name}: no times"));
                assert_eq!(times.len(), 1, "{name}: one timed run asked for");
                let median = c.get("median_s").and_then(json::Value::num).expect("median_s");
                assert!(median > 0.0, "{name}: median {median}");
                assert!(c.get("min_s").and_then(json::Value::num).is_some_and(|m| m > 0.0 && m <= median));
                assert!(c.get("peak_rss_mb").and_then(json::Value::num).is_some_and(|m| m > 0.0), "{name}: rss");
                assert!(c.get("output_bytes").and_then(json::Value::num).is_some_and(|b| b > 0.0), "{name}: size");
                assert!(c.get("check").and_then(json::Value::str).is_some_and(|s| s.contains("ok")), "{name}: check");
            }
            "skipped" | "failed" => {
                let reason = c.get("reason").and_then(json::Value::str).unwrap_or("");
                assert!(!reason.is_empty(), "{name}: {status} without a reason");
            }
            other => panic!("{name}: unknown status {other}"),
        }
    }
    for expected in [
        "hand-ld",
        "hand-gold",
        "hand-lld",
        "hand-mold",
        "hand-wild",
        "link-ld",
        "link-gold",
        "link-lld",
        "link-mold",
        "link-wild",
        "chainlink-1t",
        "chainlink",
        "cp",
    ] {
        assert!(names.iter().any(|n| n == expected), "no {expected} entry in {names:?}");
    }
    for must_time in ["chainlink", "chainlink-1t", "chainlink-warm", "chainlink-null", "chainlink-cached", "cp"] {
        let c = contestants.iter().find(|c| c.get("name").and_then(json::Value::str) == Some(must_time)).unwrap();
        assert_eq!(c.get("status").and_then(json::Value::str), Some("ok"), "{must_time} was not timed: {c:?}");
    }

    // The warm relinks reused the prepared base's region.
    let warm = doc.get("chainlink_warm_stats").and_then(|s| s.get("prepared_base")).expect("warm prepared_base");
    assert_eq!(warm.get("outcome").and_then(json::Value::str), Some("hit"), "{warm:?}");
    assert_eq!(warm.get("region").and_then(json::Value::str), Some("reused"), "{warm:?}");
    let stats = doc.get("chainlink_stats").expect("chainlink_stats");
    let phases = stats.get("phases_ms").expect("chainlink_stats.phases_ms");
    assert!(phases.get("write").and_then(json::Value::num).is_some(), "phases: {phases:?}");
    assert!(doc.get("chainlink_phases").and_then(|p| p.get("total_ms")).and_then(json::Value::num).is_some());
    // whether --threads 1 and --threads N gave the same bytes: recorded, not judged here
    assert!(doc.get("chainlink_threads_identical").and_then(json::Value::bool).is_some());
    let workload = doc.get("workload").expect("workload");
    assert!(workload.get("base_text_bytes").and_then(json::Value::num).is_some_and(|b| b > 0.0));
}

/// `scripts/bench-base-sizes` at the tiny scale on two base sizes: one row per size, every
/// contestant timed.
#[test]
fn base_size_sweep_writes_one_row_per_size() {
    let args = ["--scale", "tiny", "--sizes", "200,400", "--new-functions", "20", "--runs", "1"];
    let (stdout, doc) = run_script("bench-base-sizes", "bench_base_sizes", &args);
    let rows = doc.get("rows").and_then(json::Value::arr).expect("rows");
    assert_eq!(rows.len(), 2, "{stdout}");
    for (row, size) in rows.iter().zip([200.0, 400.0]) {
        assert_eq!(row.get("base_functions").and_then(json::Value::num), Some(size));
        for key in ["cold_s", "warm_s", "null_s", "cp_s", "warm_over_cp"] {
            assert!(row.get(key).and_then(json::Value::num).is_some_and(|v| v > 0.0), "{key} in {row:?}");
        }
    }
}

/// `scripts/bench-scaling` at small sizes of every series, chainlink alone: a point per
/// series and size with chainlink's time and peak RSS per item. (The verdict is the
/// script's: at these sizes fixed costs dominate, so the first run allows any ratio; the
/// second, which allows none, must fail loudly.)
#[test]
fn scaling_bench_writes_a_point_per_series_and_size_and_fails_loudly() {
    let args =
        ["--sizes", "300,600", "--funcsection-sizes", "300", "--header-sizes", "2000", "--runs", "1", "--no-peers"];
    let (stdout, doc) = run_script("bench-scaling", "bench_scaling", &[&args[..], &["--max-ratio", "1000"]].concat());
    assert!(stdout.contains("ok: "), "{stdout}");
    let points = doc.get("points").and_then(json::Value::arr).expect("points");
    let series: Vec<(&str, f64)> = points
        .iter()
        .map(|p| {
            (p.get("series").and_then(json::Value::str).unwrap(), p.get("items").and_then(json::Value::num).unwrap())
        })
        .collect();
    let mut expected = Vec::new();
    for name in ["sections", "symbols", "relocs", "members"] {
        expected.extend([(name, 300.0), (name, 600.0)]);
    }
    expected.extend([("funcsections", 300.0), ("headers", 2000.0)]);
    assert_eq!(series, expected);
    for point in points {
        let chainlink = point.get("linkers").and_then(|l| l.get("chainlink")).expect("chainlink row");
        assert_eq!(chainlink.get("status").and_then(json::Value::str), Some("ok"), "{point:?}");
        for key in ["median_s", "us_per_item", "median_rss_kib", "rss_bytes_per_item"] {
            assert!(chainlink.get(key).and_then(json::Value::num).is_some_and(|v| v > 0.0), "{key}: {point:?}");
        }
    }
    assert!(doc.get("failures").and_then(json::Value::arr).is_some_and(<[json::Value]>::is_empty));

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench_scaling");
    let results = tempfile::tempdir().expect("temporary directory");
    let out = Command::new("python3")
        .arg(root.join("scripts").join("bench-scaling"))
        .args(["--series", "symbols", "--sizes", "300,600", "--runs", "1", "--no-peers", "--max-ratio", "0.001"])
        .arg("--chainlink")
        .arg(env!("CARGO_BIN_EXE_chainlink"))
        .arg("--out")
        .arg(&work)
        .arg("--json")
        .arg(results.path().join("results.json"))
        .output()
        .expect("run scripts/bench-scaling");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("FAIL: symbols: time per symbol"), "{stderr}");
}

/// Just enough JSON to read the bench's results (the root package has no JSON crate).
mod json {
    #[derive(Debug)]
    pub enum Value {
        Null,
        Bool(bool),
        Num(f64),
        Str(String),
        Arr(Vec<Value>),
        Obj(Vec<(String, Value)>),
    }

    impl Value {
        pub fn get(&self, key: &str) -> Option<&Value> {
            match self {
                Value::Obj(fields) => fields.iter().find(|(k, _)| k == key).map(|(_, v)| v),
                _ => None,
            }
        }
        pub fn bool(&self) -> Option<bool> {
            match self {
                Value::Bool(b) => Some(*b),
                _ => None,
            }
        }
        pub fn num(&self) -> Option<f64> {
            match self {
                Value::Num(n) => Some(*n),
                _ => None,
            }
        }
        pub fn str(&self) -> Option<&str> {
            match self {
                Value::Str(s) => Some(s),
                _ => None,
            }
        }
        pub fn arr(&self) -> Option<&[Value]> {
            match self {
                Value::Arr(a) => Some(a),
                _ => None,
            }
        }
    }

    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser { s: text.as_bytes(), i: 0 };
        let v = p.value()?;
        p.ws();
        if p.i != p.s.len() {
            return Err(format!("trailing data at byte {}", p.i));
        }
        Ok(v)
    }

    struct Parser<'a> {
        s: &'a [u8],
        i: usize,
    }

    impl Parser<'_> {
        fn ws(&mut self) {
            while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn eat(&mut self, c: u8) -> Result<(), String> {
            self.ws();
            if self.s.get(self.i) == Some(&c) {
                self.i += 1;
                Ok(())
            } else {
                Err(format!("expected '{}' at byte {}", c as char, self.i))
            }
        }
        fn lit(&mut self, word: &str, v: Value) -> Result<Value, String> {
            if self.s[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                Ok(v)
            } else {
                Err(format!("bad literal at byte {}", self.i))
            }
        }
        fn value(&mut self) -> Result<Value, String> {
            self.ws();
            match self.s.get(self.i).copied() {
                Some(b'{') => {
                    self.i += 1;
                    let mut fields = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b'}') {
                        self.i += 1;
                        return Ok(Value::Obj(fields));
                    }
                    loop {
                        self.ws();
                        let k = self.string()?;
                        self.eat(b':')?;
                        fields.push((k, self.value()?));
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                return Ok(Value::Obj(fields));
                            }
                            _ => return Err(format!("expected ',' or '}}' at byte {}", self.i)),
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut items = Vec::new();
                    self.ws();
                    if self.s.get(self.i) == Some(&b']') {
                        self.i += 1;
                        return Ok(Value::Arr(items));
                    }
                    loop {
                        items.push(self.value()?);
                        self.ws();
                        match self.s.get(self.i) {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                return Ok(Value::Arr(items));
                            }
                            _ => return Err(format!("expected ',' or ']' at byte {}", self.i)),
                        }
                    }
                }
                Some(b'"') => Ok(Value::Str(self.string()?)),
                Some(b't') => self.lit("true", Value::Bool(true)),
                Some(b'f') => self.lit("false", Value::Bool(false)),
                Some(b'n') => self.lit("null", Value::Null),
                Some(_) => {
                    let start = self.i;
                    while self.i < self.s.len()
                        && matches!(self.s[self.i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                    {
                        self.i += 1;
                    }
                    let t = std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?;
                    t.parse().map(Value::Num).map_err(|_| format!("bad number {t:?} at byte {start}"))
                }
                None => Err("unexpected end".to_string()),
            }
        }
        fn string(&mut self) -> Result<String, String> {
            self.eat(b'"')?;
            let mut out = String::new();
            loop {
                let c = *self.s.get(self.i).ok_or("unterminated string")?;
                self.i += 1;
                match c {
                    b'"' => return Ok(out),
                    b'\\' => {
                        let e = *self.s.get(self.i).ok_or("unterminated escape")?;
                        self.i += 1;
                        match e {
                            b'n' => out.push('\n'),
                            b't' => out.push('\t'),
                            b'r' => out.push('\r'),
                            b'b' => out.push('\u{8}'),
                            b'f' => out.push('\u{c}'),
                            b'u' => {
                                let hex = std::str::from_utf8(self.s.get(self.i..self.i + 4).ok_or("short \\u")?)
                                    .map_err(|e| e.to_string())?;
                                let cp = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                                self.i += 4;
                                out.push(char::from_u32(cp).unwrap_or('\u{fffd}'));
                            }
                            other => out.push(other as char),
                        }
                    }
                    _ => {
                        // copy a run of plain bytes (UTF-8 passes through unchanged)
                        let start = self.i - 1;
                        while self.i < self.s.len() && !matches!(self.s[self.i], b'"' | b'\\') {
                            self.i += 1;
                        }
                        out.push_str(std::str::from_utf8(&self.s[start..self.i]).map_err(|e| e.to_string())?);
                    }
                }
            }
        }
    }
}
