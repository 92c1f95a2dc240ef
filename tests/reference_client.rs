//! Wire compatibility, proven by the reference's own clients: the PyPI
//! packages `motionmcp-client-sdk` and `motionmcp-sdk`, installed unchanged
//! into a virtualenv, fetch capabilities and generate motions from the real
//! `motionmcp-host`, and parse the glTF with their own parsers.

mod support;

use std::process::Command;

use support::*;

/// Runs `tests/python/<script>` against a server hosting `component`; the
/// script prints `<marker>: all checks passed` when every check held.
fn run_script(script: &str, component: &str, marker: &str) {
    let python = venv_python();
    let server = Server::start(&[component]);
    let out = Command::new(python)
        .arg(repo_root().join("tests/python").join(script))
        .arg(server.url())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{script} failed against {component}\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        server.stderr()
    );
    assert!(
        stdout.contains(&format!("{marker}: all checks passed")),
        "{stdout}"
    );
}

#[test]
fn reference_clients_talk_to_the_rust_null_unchanged() {
    run_script("reference_client.py", "null", "reference clients");
}

#[test]
fn reference_clients_talk_to_the_python_null_unchanged() {
    run_script("reference_client.py", "null-py", "reference clients");
}

#[test]
fn reference_clients_talk_to_the_javascript_null_unchanged() {
    run_script("reference_client.py", "null-js", "reference clients");
}

/// Every constraint type in one request, and a batch body with a refused
/// item, through both reference clients (the `everything` model lists all
/// four constraint types).
#[test]
fn reference_clients_send_every_constraint_type_and_a_batch() {
    run_script(
        "reference_everything.py",
        "everything",
        "reference everything",
    );
}

#[test]
fn reference_clients_poll_async_jobs_to_completion() {
    run_script(
        "reference_async.py",
        "async-probe",
        "reference async clients",
    );
}

/// The default model the way Proscenium drives it, with every constraint
/// type, parsed by both reference clients.
#[test]
fn reference_clients_drive_the_humanoid_model() {
    run_script("reference_humanoid.py", "humanoid", "reference humanoid");
}
