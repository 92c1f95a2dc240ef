//! The second implementation of Kimodo (issue #16), written in NumPy from
//! the fact sheet under `tests/python/kimodo/`, checks itself before any
//! port is compared against it: the respaced schedule against the
//! float32/half-even rule for every K in 2..1000, rotation round trips, the
//! published checkpoint layout written and read back bit for bit, stage
//! shapes, determinism, masks of every constraint type and their
//! refusals, and constraint guidance pulling the root onto its path.

mod support;

use std::process::Command;

use support::*;

#[test]
fn the_kimodo_reference_passes_its_self_checks() {
    let out = Command::new(venv_python())
        .args(["-m", "kimodo.selfcheck"])
        .current_dir(repo_root().join("tests/python"))
        .output()
        .expect("running the reference's self-checks");
    assert!(
        out.status.success(),
        "kimodo.selfcheck failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
