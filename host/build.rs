//! Vendors the viewer's JavaScript dependency (three.js, pinned in
//! `viewer/package-lock.json`) from the npm registry and copies the files
//! the page loads into `OUT_DIR`, where `src/http/viewer.rs` embeds them: the
//! binary serves the whole page itself, and the browser fetches nothing from
//! anywhere else.
//!
//! npm installs into `OUT_DIR` (not the source tree): concurrent builds of
//! other profiles never delete each other's files, and a read-only checkout
//! builds. `MOTIONMCP_THREE_DIR` names an installed `three` package instead
//! (a machine without the registry).

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
    println!("cargo:rerun-if-env-changed=MOTIONMCP_THREE_DIR");
    let three = match std::env::var_os("MOTIONMCP_THREE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let npm = out.join("npm");
            std::fs::create_dir_all(&npm).unwrap();
            for file in ["package.json", "package-lock.json"] {
                std::fs::copy(viewer.join(file), npm.join(file)).unwrap();
            }
            if !installed(&npm) {
                install(&npm);
            }
            npm.join("node_modules/three")
        }
    };
    for (from, to) in VENDORED {
        let source = three.join(from);
        std::fs::copy(&source, out.join(to))
            .unwrap_or_else(|e| panic!("cannot copy {}: {e}", source.display()));
    }
}

/// Whether `node_modules` holds the locked version of three.
fn installed(npm: &Path) -> bool {
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
    let lock = read(npm.join("package-lock.json"));
    let package = read(npm.join("node_modules/three/package.json"));
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

fn install(npm: &Path) {
    let status = Command::new("npm")
        .args([
            "ci",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--silent",
        ])
        .current_dir(npm)
        .status()
        .unwrap_or_else(|e| {
            panic!("the viewer's three.js comes from npm, and npm cannot run: {e} (or set MOTIONMCP_THREE_DIR)")
        });
    assert!(
        status.success(),
        "`npm ci` for the viewer's three.js failed in {} (no registry? set MOTIONMCP_THREE_DIR to an installed `three` package)",
        npm.display()
    );
}
