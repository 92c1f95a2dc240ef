//! Vendors the viewer's JavaScript dependency (three.js, pinned in
//! `viewer/package-lock.json`) from the npm registry and copies the files
//! the page loads into `OUT_DIR`, where `src/http/viewer.rs` embeds them: the
//! binary serves the whole page itself, and the browser fetches nothing from
//! anywhere else.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files of the `three` package the page loads: (path in the package, name
/// served under /viewer/).
const VENDORED: [(&str, &str); 3] = [
    // The module imports the core by relative URL: both are served.
    ("build/three.module.js", "three.module.js"),
    ("build/three.core.js", "three.core.js"),
    ("examples/jsm/controls/OrbitControls.js", "OrbitControls.js"),
];

fn main() {
    let viewer = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("viewer");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-changed=viewer/package-lock.json");
    println!("cargo:rerun-if-changed=viewer/package.json");
    let three = viewer.join("node_modules/three");
    if !installed(&viewer) {
        install(&viewer);
    }
    for (from, to) in VENDORED {
        let source = three.join(from);
        println!("cargo:rerun-if-changed={}", source.display());
        std::fs::copy(&source, out.join(to)).unwrap_or_else(|e| {
            panic!(
                "cannot copy {} (run `npm ci` in {}): {e}",
                source.display(),
                viewer.display()
            )
        });
    }
}

/// Whether `node_modules` holds the locked version of three.
fn installed(viewer: &Path) -> bool {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let lock = read(viewer.join("package-lock.json"));
    let package = read(viewer.join("node_modules/three/package.json"));
    let version = |text: &str, after: &str| -> Option<String> {
        let rest = &text[text.find(after)? + after.len()..];
        let start = rest.find("\"version\"")?;
        let value = rest[start + 9..].split('"').nth(1)?;
        Some(value.to_owned())
    };
    match (
        version(&lock, "\"node_modules/three\""),
        version(&package, ""),
    ) {
        (Some(locked), Some(present)) => locked == present,
        _ => false,
    }
}

fn install(viewer: &Path) {
    let status = Command::new("npm")
        .args([
            "ci",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--silent",
        ])
        .current_dir(viewer)
        .status()
        .unwrap_or_else(|e| {
            panic!("the viewer's three.js comes from npm, and npm cannot run: {e}")
        });
    assert!(
        status.success(),
        "`npm ci` in {} failed: the viewer's three.js could not be installed",
        viewer.display()
    );
}
