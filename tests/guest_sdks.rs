//! The Python and JavaScript guest SDKs on their own, against the reference
//! SDK from PyPI: the Python SDK's unit tests run on CPython next to the
//! reference package; the JavaScript SDK's run under Node.js, comparing with
//! what the reference printed for the same calls.

mod support;

use std::process::Command;

use support::*;

fn run(command: &mut Command, what: &str) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[test]
fn python_sdk_matches_the_reference_sdk() {
    let python = venv_python();
    run(
        Command::new(python)
            .arg(repo_root().join("tests/python/guest_sdk_parity.py"))
            .env("PYTHONPATH", repo_root().join("guest-sdk/python"))
            .env("PYTHONDONTWRITEBYTECODE", "1"),
        "tests/python/guest_sdk_parity.py",
    );
}

#[test]
fn javascript_sdk_matches_the_reference_sdk() {
    let python = venv_python();
    let vectors = run(
        Command::new(python).arg(repo_root().join("tests/python/reference_vectors.py")),
        "tests/python/reference_vectors.py",
    );
    let file = std::env::temp_dir().join(format!("mmcp-vectors-{}.json", std::process::id()));
    std::fs::write(&file, vectors).unwrap();
    let out = run(
        Command::new("node")
            .args(["--test", "tests/js/"])
            .current_dir(repo_root())
            .env("MMCP_REFERENCE_VECTORS", &file),
        "node --test tests/js/",
    );
    let _ = std::fs::remove_file(&file);
    assert!(out.contains("# fail 0"), "{out}");
    assert!(!out.contains("# pass 0"), "{out}");
}
