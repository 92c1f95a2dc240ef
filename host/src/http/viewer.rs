//! The viewer page at `/`: a plain MMCP client (HTML, CSS and an ES module
//! drawing the answer with three.js) embedded in the binary. three.js is
//! vendored from npm by `build.rs`; the page loads nothing from anywhere
//! but this server, and works against any MMCP server at its origin.

use std::sync::LazyLock;

use base64::Engine;
use sha2::{Digest, Sha256};

/// One embedded file: its content type and bytes.
pub struct Asset {
    pub content_type: &'static str,
    pub bytes: &'static [u8],
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// The page's files by URL path.
const ASSETS: [(&str, Asset); 6] = [
    (
        "/",
        Asset {
            content_type: HTML,
            bytes: include_bytes!("../../viewer/index.html"),
        },
    ),
    (
        "/viewer/viewer.js",
        Asset {
            content_type: JS,
            bytes: include_bytes!("../../viewer/viewer.js"),
        },
    ),
    (
        "/viewer/viewer.css",
        Asset {
            content_type: CSS,
            bytes: include_bytes!("../../viewer/viewer.css"),
        },
    ),
    (
        "/viewer/three.module.js",
        Asset {
            content_type: JS,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/three.module.js")),
        },
    ),
    (
        "/viewer/three.core.js",
        Asset {
            content_type: JS,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/three.core.js")),
        },
    ),
    (
        "/viewer/OrbitControls.js",
        Asset {
            content_type: JS,
            bytes: include_bytes!(concat!(env!("OUT_DIR"), "/OrbitControls.js")),
        },
    ),
];

/// The file served at `path`, if the page has one there.
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, a)| a)
}

/// Strong validators of the files, in `ASSETS` order: a browser that has
/// a file revalidates it (`no-cache`) and gets `304` until the binary
/// changes, instead of three.js's 2 MB again.
static ETAGS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|(_, a)| {
            let digest = Sha256::digest(a.bytes);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .collect()
});

/// The file's ETag.
pub fn etag(path: &str) -> Option<&'static str> {
    let i = ASSETS.iter().position(|(p, _)| *p == path)?;
    Some(ETAGS[i].as_str())
}

/// The page's Content-Security-Policy: scripts, styles and connections to
/// this server only (the inline import map allowed by its hash), no
/// framing. Enforces "loads nothing from anywhere else", and keeps a page
/// that may hold a token out of other sites' frames.
pub static CSP: LazyLock<String> = LazyLock::new(|| {
    let page = std::str::from_utf8(ASSETS[0].1.bytes).unwrap_or_default();
    let import_map = page
        .split_once("<script type=\"importmap\">")
        .and_then(|(_, rest)| rest.split_once("</script>"))
        .map_or("", |(map, _)| map);
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(import_map));
    format!(
        "default-src 'self'; script-src 'self' 'sha256-{hash}'; img-src 'self' data:; \
         style-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
         form-action 'none'"
    )
});

/// Whether `path` is one of the page's files (served without a token: they
/// hold no data, and a browser cannot send a bearer token for a page load;
/// the page's own API calls carry one).
pub fn is_page(path: &str) -> bool {
    asset(path).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_modules_are_embedded() {
        let page = std::str::from_utf8(asset("/").unwrap().bytes).unwrap();
        // Every module the page imports is one of ours.
        for url in [
            "/viewer/viewer.js",
            "/viewer/viewer.css",
            "/viewer/three.module.js",
        ] {
            assert!(page.contains(url), "index.html does not load {url}");
        }
        for part in ["/viewer/three.module.js", "/viewer/three.core.js"] {
            assert!(
                asset(part).unwrap().bytes.len() > 100_000,
                "{part} is not three's build"
            );
        }
        let controls =
            std::str::from_utf8(asset("/viewer/OrbitControls.js").unwrap().bytes).unwrap();
        assert!(controls.contains("from 'three'") || controls.contains("from \"three\""));
        assert!(asset("/viewer/../Cargo.toml").is_none());
        assert_ne!(etag("/"), etag("/viewer/viewer.js"));
        assert!(
            CSP.contains("'sha256-") && !CSP.contains("'sha256-47DEQpj8"),
            "{}",
            *CSP
        );
        assert!(asset("/index.html").is_none());
    }
}
