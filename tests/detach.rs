//! `chainlink link` forks: a child links and the command exits as soon as the output and
//! the reports are complete, leaving the child's teardown behind (src/detach.rs). Checked
//! here: the command's output, reports and exit codes are the child's, complete when it
//! returns, and the same bytes as an unforked (`--no-fork`) link; a child whose parent is
//! killed dies with it; a parent whose child is killed dies of the same signal.

mod common;

use common::*;
use std::os::unix::process::ExitStatusExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn forked_link_reports_before_exit_and_matches_unforked() {
    let s = Scratch::new();
    let main = s.compile("calls_main.c", &["-O2"]);
    let util = s.compile("calls_util.c", &["-O2"]);
    let forked = s.path("forked.so");
    let stats = s.path("stats.json");
    let output = run(&mut chainlink_command(s.dir(), &forked, &args![main, util, "--time", "--stats-json", stats]));
    assert!(output.status.success(), "{}", describe(&output));
    // Everything the caller can observe is there the moment the command has exited.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("total") && stderr.contains("cpu"), "no --time report: {stderr}");
    let json = std::fs::read_to_string(&stats).expect("--stats-json written before exit");
    assert!(json.contains("\"phases_cpu_ms\""), "{json}");
    assert!(run_loader(&forked).contains("greeting: hello from util\n"), "the forked link's output does not run");
    let unforked = s.path("unforked.so");
    link_chainlink(&unforked, &args![main, util, "--no-fork"]);
    assert!(std::fs::read(&forked).unwrap() == std::fs::read(&unforked).unwrap(), "--no-fork changes the output");
    // Errors and their exit codes come through the parent too.
    assert_link_fails(&s, &args![main, util, s.path("missing.o")], 1, &["missing.o"], None);
}

/// A link stopped after reading its inputs (see `CHAINLINK_TEST_PAUSE` in timing.rs).
fn blocked_link(s: &Scratch) -> (Child, i32) {
    let util = s.compile("calls_util.c", &["-O2"]);
    let parent = chainlink_command(s.dir(), &s.path("never.so"), &args![util, "-nostdlib"])
        .env("CHAINLINK_TEST_PAUSE", "inputs")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chainlink");
    let child = wait_until(|| children_of(parent.id() as i32).first().copied()).expect("no linking child appeared");
    (parent, child)
}

fn children_of(parent: i32) -> Vec<i32> {
    let mut children = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // pid (comm) state ppid ...: the command name may hold spaces, so split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else { continue };
        if rest.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) == Some(parent) {
            children.push(pid);
        }
    }
    children
}

fn is_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat.rsplit_once(')').is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')))
}

fn wait_until<T>(mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(found) = probe() {
            return Some(found);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

fn kill(pid: i32, signal: &str) {
    let status = Command::new("kill").args([format!("-{signal}"), pid.to_string()]).status().expect("kill");
    assert!(status.success(), "kill -{signal} {pid}");
}

#[test]
fn child_dies_with_its_parent() {
    let s = Scratch::new();
    let (mut parent, child) = blocked_link(&s);
    kill(parent.id() as i32, "KILL");
    parent.wait().unwrap();
    assert!(wait_until(|| (!is_alive(child)).then_some(())).is_some(), "the linking child {child} outlived its parent");
    assert!(!Path::new(&s.path("never.so")).exists(), "a killed link left an output");
}

#[test]
fn parent_dies_of_its_childs_signal() {
    let s = Scratch::new();
    let (mut parent, child) = blocked_link(&s);
    kill(child, "TERM");
    let status = parent.wait().unwrap();
    const SIGTERM: i32 = 15;
    assert_eq!(status.signal(), Some(SIGTERM), "the command should die of the child's signal: {status}");
}
