//! The viewer page at `/`: a plain MMCP client (HTML, CSS and an ES module
//! drawing the answer with three.js) embedded in the binary. three.js is
//! vendored from npm by `build.rs`; the page loads nothing from anywhere
//! but this server, and works against any MMCP server at its origin.

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
        assert!(asset("/index.html").is_none());
    }
}
