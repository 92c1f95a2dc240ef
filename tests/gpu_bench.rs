//! `scripts/gpu-bench.sh` (issue #15) in its smoke mode on this machine's
//! adapter, with the debug builds `cargo test` made: every part runs to
//! its end (the tensor API's rows, its Kimodo-shaped generation, whose
//! sample must come out finite, and Kimodo through the real server), so
//! the script cannot rot between the GPU runs it is written for.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

/// `target/debug/examples/gpu-bench`, beside this test's own binary
/// (`target/debug/deps/`): `cargo test --workspace` builds examples.
fn gpu_bench_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples/gpu-bench");
    assert!(
        path.exists(),
        "{} missing: run `cargo test --workspace` (it builds the example)",
        path.display()
    );
    path
}

#[test]
fn the_benchmark_script_runs_every_part_in_smoke_mode() {
    let wasm = component("kimodo");
    let output = Command::new("timeout")
        .arg("600")
        .arg("bash")
        .arg(repo_root().join("scripts/gpu-bench.sh"))
        .arg("--smoke")
        // gpu_ops is a test binary of its own in this run.
        .arg("--skip-kernel-tests")
        .arg("--gpu-bench")
        .arg(gpu_bench_example())
        .args(["--host", host_binary()])
        .arg("--wasm")
        .arg(&wasm)
        .arg("--python")
        .arg(venv_python())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "gpu-bench.sh failed ({}):\n{out}\n{err}",
        output.status
    );
    for needle in [
        "adapter: ",
        "sizes: smoke",
        "host cost per recorded op",
        "64x64x64",
        "attention km",
        "layer_norm",
        "| one forward (both stages) |",
        "| generation, 2 DDIM steps |",
        "== PyTorch eager, the same architecture",
        "Kimodo component through the server (HTTP, wasm guest, glTF out)",
    ] {
        assert!(out.contains(needle), "no {needle:?} in:\n{out}\n{err}");
    }
    // PyTorch is not in the tests' virtualenv: its part says it skipped.
    assert!(
        out.contains("PyTorch is not installed here") || out.contains("in PyTorch"),
        "{out}"
    );
    // The component's row: set-up, generation, steps (2), ...
    let row = out
        .lines()
        .skip_while(|l| !l.starts_with("Kimodo component through the server"))
        .nth(3)
        .unwrap_or_default();
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells.get(3), Some(&"2"), "component row {row:?} in:\n{out}");
    let seconds: f64 = cells[2].parse().unwrap();
    assert!(seconds > 0.0, "{row}");
}
