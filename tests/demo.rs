//! The README's first command, `scripts/demo`, end to end: it generates a three-generation
//! Julia-shaped image, links it, runs every function of every generation, and relinks the
//! newest generation warm through a cache (checking that the bytes equal the cold link's).

use std::path::Path;
use std::process::Command;

#[test]
fn the_readme_demo_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().expect("temporary directory");
    let result = Command::new("bash")
        .arg(root.join("scripts/demo"))
        .arg("--out")
        .arg(out.path().join("demo"))
        .env("CHAINLINK", env!("CARGO_BIN_EXE_chainlink"))
        // Only the demo's own --cache-dir, never the user's cache.
        .env("CHAINLINK_NO_CACHE", "1")
        .output()
        .expect("run scripts/demo");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "scripts/demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.trim_end().ends_with("demo: ok"), "{stdout}");
    assert_eq!(stdout.matches("jl_loader: ok:").count(), 2, "both images checked: {stdout}");
    assert!(stderr.contains("prepared base: hit"), "the relink reused the prepared base: {stderr}");
}
