//! Imports `evil:net/socket`, which no MMCP host provides.

wit_bindgen::generate!({ world: "bad-import", path: "wit" });

struct BadImport;

impl Guest for BadImport {
    fn run() -> bool {
        evil::net::socket::connect("169.254.169.254")
    }
}

export!(BadImport);
