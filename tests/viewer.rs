//! The viewer page at `/` in a real browser: Debian's Chromium, headless,
//! driven by `tests/browser/viewer.mjs` (playwright-core, pinned in
//! `tests/browser/package-lock.json`; it uses the installed browser and
//! downloads none), against the real server with the default model. The
//! script checks the page end to end (models listed, a clip generated with a
//! drawn path, playback and the scrubber move the skeleton, refusals shown
//! at their field, downloads valid, progress of an async job); screenshots
//! land in `target/artefacts/viewer/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// The browser: `$CHROMIUM`, else Debian's.
fn chromium() -> PathBuf {
    let path = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.exists(),
        "{} is missing: install Debian's chromium (scripts/setup.sh does, as root) or set CHROMIUM",
        path.display()
    );
    path
}

/// `tests/browser/node_modules`, installed from the lock file when missing
/// (once per test binary: its tests run in parallel).
fn browser_tools() -> PathBuf {
    static READY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    READY
        .get_or_init(|| {
            let dir = repo_root().join("tests/browser");
            if !dir
                .join("node_modules/playwright-core/package.json")
                .exists()
            {
                let ok = Command::new("timeout")
                    .args(["300", "npm", "ci", "--no-audit", "--no-fund"])
                    .args(["--ignore-scripts", "--silent"])
                    .current_dir(&dir)
                    .status()
                    .expect("running npm")
                    .success();
                assert!(ok, "npm ci in {} failed", dir.display());
            }
            dir
        })
        .clone()
}

/// Runs the browser script against `server`; panics with its output when a
/// check fails.
fn run_viewer_checks(server: &Server, artefacts: &Path, token: Option<&str>) {
    let dir = browser_tools();
    let _ = std::fs::remove_dir_all(artefacts);
    let mut command = Command::new("timeout");
    // The script bounds itself at 90 s; this is the backstop.
    command
        .args(["-k", "5", "150", "node"])
        .arg(dir.join("viewer.mjs"))
        .arg(server.url())
        .arg(artefacts)
        .env("CHROMIUM", chromium());
    if let Some(token) = token {
        command.env("VIEWER_TOKEN", token);
    }
    let out = command.output().expect("running node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success(),
        "the viewer checks failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
        out.status,
        server.stderr()
    );
    assert!(stdout.contains("all viewer checks passed"), "{stdout}");
    assert!(artefacts.join("03-generated.png").exists());
}

#[test]
fn the_viewer_generates_and_plays_the_default_model_in_chromium() {
    // The default models of `make serve`, and an async model for the
    // progress bar.
    let server = Server::start(&["humanoid", "null", "async-probe"]);
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    run_viewer_checks(
        &server,
        &repo_root().join("target/artefacts/viewer/open"),
        None,
    );
}

#[test]
fn the_viewer_asks_for_a_token_when_the_server_requires_one() {
    let dir = tempdir::Dir::new("viewer-tokens");
    let file = dir.0.join("tokens");
    std::fs::write(&file, "artist:viewer-test-token-0123456789\n").unwrap();
    let server = Server::start_paths(
        &[component("humanoid"), component("null")],
        &["--auth-tokens", file.to_str().unwrap()],
    );
    // The page's files are public; its API is not.
    assert_eq!(server.get("/").status, 200);
    assert_eq!(server.get("/viewer/viewer.js").status, 200);
    server.get("/capabilities").error(401, "unauthorized");
    run_viewer_checks(
        &server,
        &repo_root().join("target/artefacts/viewer/token"),
        Some("viewer-test-token-0123456789"),
    );
}
