//! A real `motionmcp-host serve` for a bench, on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The server process (killed on drop) and the address it listens on.
pub struct Served(pub Child, pub String);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Serves `wasm` with the bench build of the host, compiled components in
/// `cache`; returns once the server has printed its address (it is ready).
pub fn serve_with(wasm: &Path, cache: &Path, extra: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_motionmcp-host"))
        .arg("serve")
        .arg(wasm)
        .args(["--addr", "127.0.0.1:0", "--cache-dir"])
        .arg(cache)
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit('/').next().unwrap().to_owned();
    assert!(!addr.is_empty(), "the server exited before serving");
    Served(child, addr)
}
