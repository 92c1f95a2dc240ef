//! Wire compatibility, proven by the reference's own clients: the PyPI
//! packages `motionmcp-client-sdk` and `motionmcp-sdk`, installed unchanged
//! into a virtualenv, fetch capabilities and generate motions from the real
//! `motionmcp-host`, and parse the glTF with their own parsers.

mod support;

use std::process::Command;

use support::*;

/// The script's checks against the null backbone built from `component`.
fn reference_clients_talk_to(component: &str) {
    let python = venv_python();
    let server = Server::start(&[component]);
    let script = repo_root().join("tests/python/reference_client.py");
    let out = Command::new(python)
        .arg(script)
        .arg(server.url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "reference client failed against {component}\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        server.stderr()
    );
    assert!(
        stdout.contains("reference clients: all checks passed"),
        "{stdout}"
    );
}

#[test]
fn reference_clients_talk_to_the_rust_null_unchanged() {
    reference_clients_talk_to("null");
}

#[test]
fn reference_clients_talk_to_the_python_null_unchanged() {
    reference_clients_talk_to("null-py");
}

#[test]
fn reference_clients_talk_to_the_javascript_null_unchanged() {
    reference_clients_talk_to("null-js");
}

#[test]
fn reference_clients_poll_async_jobs_to_completion() {
    let python = venv_python();
    let server = Server::start(&["async-probe"]);
    let out = Command::new(python)
        .arg(repo_root().join("tests/python/reference_async.py"))
        .arg(server.url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "reference async clients failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        server.stderr()
    );
    assert!(
        stdout.contains("reference async clients: all checks passed"),
        "{stdout}"
    );
}
