//! Wire compatibility, proven by the reference's own clients: the PyPI
//! packages `motionmcp-client-sdk` and `motionmcp-sdk`, installed unchanged
//! into a virtualenv, fetch capabilities and generate motions from the real
//! `motionmcp-host`, and parse the glTF with their own parsers.

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::*;

/// Pinned so a new upload cannot change what "compatible" means.
const PACKAGES: [&str; 3] = [
    "motionmcp-sdk[server]==0.13.0",
    "motionmcp-client-sdk==0.1.0",
    // The SDK's own client and glTF parser import numpy.
    "numpy<2",
];

/// `target/reference-venv`, created and filled on first use.
fn venv_python() -> PathBuf {
    let venv = repo_root().join("target/reference-venv");
    let python = venv.join("bin/python");
    let stamp = venv.join(".installed");
    if stamp.exists() {
        return python;
    }
    let ok = Command::new("python3")
        .arg("-m")
        .arg("venv")
        .arg(&venv)
        .status()
        .unwrap()
        .success();
    assert!(ok, "python3 -m venv failed");
    let ok = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
        ])
        .args(PACKAGES)
        .status()
        .unwrap()
        .success();
    assert!(ok, "pip install of the reference packages failed");
    std::fs::write(&stamp, PACKAGES.join("\n")).unwrap();
    python
}

#[test]
fn reference_clients_talk_to_our_server_unchanged() {
    let python = venv_python();
    let server = Server::start(&["null"]);
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
        "reference client failed\nstdout:\n{stdout}\nstderr:\n{stderr}\nserver:\n{}",
        server.stderr()
    );
    assert!(
        stdout.contains("reference clients: all checks passed"),
        "{stdout}"
    );
}
