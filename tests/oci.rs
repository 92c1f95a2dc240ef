//! Components by digest, against a real registry: Debian's `docker-registry`
//! (the CNCF distribution registry) on loopback. `motionmcp-host push`
//! publishes the null component and prints its pinned reference; `serve`
//! pulls it by that reference and answers; a wrong digest and an unpinned
//! reference are refused with one clear line; a cached component changed on
//! disk is noticed and pulled again; with the registry stopped the pinned
//! reference still serves from the cache, and a changed cached file is
//! refused rather than loaded.
//!
//! Every wait has a deadline, and the registry and every host started are
//! killed when the test ends, however it ends.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use support::{component, host_binary, tempdir, valid};

/// How long any one host command or start may take.
const WITHIN: Duration = Duration::from_secs(120);

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A plain HTTP/1.1 exchange with a deadline: the status and the body.
fn http(addr: &str, method: &str, path: &str, headers: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (status, _, body) = exchange(addr, method, path, headers, body);
    (status, body)
}

/// As [`http`], with the answer's header block too.
fn exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).unwrap();
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, head, bytes[split + 4..].to_vec())
}

// ---- the registry -------------------------------------------------------------

/// `docker-registry` serving a scratch directory on a loopback port.
struct Registry {
    child: Option<Child>,
    addr: String,
    dir: tempdir::Dir,
}

impl Registry {
    fn start() -> Registry {
        let binary =
            std::env::var("DOCKER_REGISTRY").unwrap_or_else(|_| "/usr/bin/docker-registry".into());
        assert!(
            Path::new(&binary).exists(),
            "no {binary}: install Debian's `docker-registry` package (scripts/setup.sh does when \
             run as root), or point DOCKER_REGISTRY at a distribution registry binary"
        );
        let dir = tempdir::Dir::new("registry");
        let addr = format!("127.0.0.1:{}", free_port());
        let config = dir.0.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {addr}\n",
                dir.0.join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.0.join("registry.log")).unwrap();
        let child = Command::new(&binary)
            .arg("serve")
            .arg(&config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let mut registry = Registry {
            child: Some(child),
            addr,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if TcpStream::connect(&registry.addr).is_ok()
                && http(&registry.addr, "GET", "/v2/", "", b"").0 == 200
            {
                return registry;
            }
            if let Some(status) = registry.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("the registry exited ({status}):\n{}", registry.log());
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not answer /v2/ within 30 s:\n{}",
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("registry.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---- the host -----------------------------------------------------------------

/// The host binary with no proxy or registry credentials from the
/// environment the tests run in.
fn host() -> Command {
    let mut command = Command::new(host_binary());
    for var in [
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "MOTIONMCP_REGISTRY_USER",
        "MOTIONMCP_REGISTRY_PASSWORD",
        "MOTIONMCP_CACHE_DIR",
    ] {
        command.env_remove(var);
    }
    command
}

struct Finished {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Runs a one-shot host command to its end, killed past [`WITHIN`].
fn run(args: &[&str]) -> Finished {
    let logs = tempdir::Dir::new("oci-run");
    let (out, err) = (logs.0.join("stdout"), logs.0.join("stderr"));
    let mut child = host()
        .args(args)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WITHIN;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "motionmcp-host {args:?} ran past {WITHIN:?}:\n{}",
                std::fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Finished {
        status,
        stdout: std::fs::read_to_string(&out).unwrap(),
        stderr: std::fs::read_to_string(&err).unwrap(),
    }
}

/// A running `serve`, killed on drop.
struct Served {
    child: Child,
    addr: String,
    stderr_log: PathBuf,
    _logs: tempdir::Dir,
}

impl Served {
    /// Serves `model` with `cache` as the cache directory; returns once the
    /// host says it is listening (and so ready), within [`WITHIN`].
    fn start(model: &str, cache: &Path) -> Served {
        let logs = tempdir::Dir::new("oci-serve");
        let stderr_log = logs.0.join("stderr");
        let mut child = host()
            .args([
                "serve",
                model,
                "--addr",
                "127.0.0.1:0",
                "--registry-timeout",
                "60",
            ])
            .arg("--cache-dir")
            .arg(cache)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tell, line) = mpsc::channel();
        // The first line, read on a thread so the wait has a deadline (the
        // thread ends at EOF, when the child is killed or exits).
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = BufReader::new(stdout).read_line(&mut first);
            let _ = tell.send(first);
        });
        let first = line.recv_timeout(WITHIN).unwrap_or_default();
        let mut served = Served {
            child,
            addr: String::new(),
            stderr_log,
            _logs: logs,
        };
        match first
            .trim()
            .strip_prefix("motionmcp-host listening on http://")
        {
            Some(addr) => served.addr = addr.to_owned(),
            None => panic!(
                "serve {model} did not start: {first:?}\n{}",
                served.stderr()
            ),
        }
        served
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// One real generation through the null model, and its capabilities.
    fn answers(&self) {
        let (status, body) = http(&self.addr, "GET", "/capabilities", "", b"");
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let caps: Value = serde_json::from_slice(&body).unwrap();
        assert!(
            caps.to_string().contains("\"null\""),
            "the null model is not listed: {caps}"
        );
        let (status, body) = http(
            &self.addr,
            "POST",
            "/generate",
            "Content-Type: application/json\r\n",
            valid().to_string().as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one `error:` line a refused command printed.
fn error_line(finished: &Finished) -> String {
    assert!(
        !finished.status.success(),
        "it succeeded:\n{}",
        finished.stderr
    );
    assert!(
        !finished.stderr.contains("panicked"),
        "it panicked:\n{}",
        finished.stderr
    );
    let errors: Vec<&str> = finished
        .stderr
        .lines()
        .filter(|l| l.starts_with("error: "))
        .collect();
    assert_eq!(errors.len(), 1, "not one error line:\n{}", finished.stderr);
    errors[0].to_owned()
}

/// Puts a (tiny) container image's manifest and blobs into the registry
/// over its HTTP API; returns its pinned reference.
fn push_container_image(addr: &str) -> String {
    let blob = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        // Start an upload, then send the whole blob to where it says.
        let (status, head, _) = exchange(addr, "POST", "/v2/models/image/blobs/uploads/", "", b"");
        assert_eq!(status, 202, "{head}");
        let location = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("location")
                    .then(|| value.trim().to_owned())
            })
            .expect("a Location header");
        // Absolute or not, the path and query are what is asked for.
        let path = match location.find("/v2/") {
            Some(i) => &location[i..],
            None => &location,
        };
        let sep = if path.contains('?') { '&' } else { '?' };
        let (status, body) = http(
            addr,
            "PUT",
            &format!("{path}{sep}digest=sha256:{hex}"),
            "Content-Type: application/octet-stream\r\n",
            bytes,
        );
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        serde_json::json!({"digest": format!("sha256:{hex}"), "size": bytes.len()})
    };
    let config =
        blob(br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#);
    let layer = blob(b"not a tarball, and not wasm either");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config["digest"], "size": config["size"]},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer["digest"], "size": layer["size"]}],
    }))
    .unwrap();
    let (status, body) = http(
        addr,
        "PUT",
        "/v2/models/image/manifests/latest",
        "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
        &manifest,
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    format!(
        "oci://{addr}/models/image:latest@sha256:{}",
        sha256_hex(&manifest)
    )
}

// ---- the test -----------------------------------------------------------------

#[test]
fn a_component_is_pushed_pulled_by_digest_verified_and_served_from_the_cache() {
    let wasm = component("null");
    let bytes = std::fs::read(&wasm).unwrap();
    let layer_hex = sha256_hex(&bytes);
    let mut registry = Registry::start();
    let cache = tempdir::Dir::new("oci-cache");
    let cache_dir = cache.0.to_str().unwrap();
    let target = format!("oci://{}/models/null:v1", registry.addr);

    // Push: the pinned reference on stdout, the same for the same file.
    let pushed = run(&["push", wasm.to_str().unwrap(), &target]);
    assert!(pushed.status.success(), "push failed:\n{}", pushed.stderr);
    let pinned = pushed.stdout.trim().to_owned();
    let manifest_hex = pinned
        .strip_prefix(&format!("{target}@sha256:"))
        .unwrap_or_else(|| panic!("not a pinned reference: {pinned:?}"))
        .to_owned();
    assert_eq!(manifest_hex.len(), 64, "{pinned}");
    let again = run(&["push", wasm.to_str().unwrap(), &target]);
    assert_eq!(again.stdout.trim(), pinned, "{}", again.stderr);

    // What the registry holds is the Wasm artifact layout, under that digest.
    let (status, manifest) = http(
        &registry.addr,
        "GET",
        "/v2/models/null/manifests/v1",
        "Accept: application/vnd.oci.image.manifest.v1+json\r\n",
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&manifest));
    assert_eq!(sha256_hex(&manifest), manifest_hex);
    let doc: Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        doc["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(doc["layers"].as_array().unwrap().len(), 1, "{doc}");
    assert_eq!(doc["layers"][0]["mediaType"], "application/wasm");
    assert_eq!(doc["layers"][0]["digest"], format!("sha256:{layer_hex}"));

    // Served by the pinned reference: pulled, verified, stored by digest.
    let served = Served::start(&pinned, &cache.0);
    served.answers();
    assert!(
        served.stderr().contains("pulled and verified"),
        "{}",
        served.stderr()
    );
    drop(served);
    let stored = cache.0.join(format!("oci/sha256/{layer_hex}.wasm"));
    assert_eq!(std::fs::read(&stored).unwrap(), bytes, "the stored layer");
    assert!(cache
        .0
        .join(format!("oci/sha256/{manifest_hex}.json"))
        .exists());

    // `repo@sha256:...` without the tag names the same thing.
    let by_digest = format!("oci://{}/models/null@sha256:{manifest_hex}", registry.addr);
    let inspected = run(&["inspect", "--cache-dir", cache_dir, &by_digest]);
    assert!(inspected.status.success(), "{}", inspected.stderr);
    assert!(
        inspected.stdout.contains("export mmcp:backbone"),
        "{}",
        inspected.stdout
    );

    // A digest the registry does not have: refused, saying so, in one line.
    let wrong_hex = sha256_hex(b"not the manifest");
    let wrong = format!("{target}@sha256:{wrong_hex}");
    let refused = run(&[
        "serve",
        &wrong,
        "--addr",
        "127.0.0.1:0",
        "--cache-dir",
        cache_dir,
    ]);
    let line = error_line(&refused);
    assert!(
        line.contains(&format!("no manifest sha256:{wrong_hex}")) && line.contains("wrong digest"),
        "{line}"
    );

    // A container image's manifest, pinned correctly, is still no component.
    let image = push_container_image(&registry.addr);
    let refused = run(&[
        "serve",
        &image,
        "--addr",
        "127.0.0.1:0",
        "--cache-dir",
        cache_dir,
    ]);
    let line = error_line(&refused);
    assert!(line.contains("not a Wasm artifact"), "{line}");

    // A tag alone is not served: pinning is the point.
    let refused = run(&[
        "serve",
        &target,
        "--addr",
        "127.0.0.1:0",
        "--cache-dir",
        cache_dir,
    ]);
    let line = error_line(&refused);
    assert!(line.contains("is not pinned"), "{line}");

    // A stored component changed on disk is noticed, removed and pulled again.
    std::fs::write(&stored, b"\0asm\x0d\x00\x01\x00 something else").unwrap();
    let served = Served::start(&pinned, &cache.0);
    served.answers();
    let log = served.stderr();
    assert!(log.contains("does not match its digest"), "{log}");
    assert!(log.contains("pulled and verified"), "{log}");
    drop(served);
    assert_eq!(std::fs::read(&stored).unwrap(), bytes, "pulled again");

    // The registry gone, the pinned reference still serves, from the cache.
    registry.stop();
    assert!(
        TcpStream::connect(&registry.addr).is_err(),
        "the registry still answers"
    );
    let served = Served::start(&pinned, &cache.0);
    served.answers();
    let log = served.stderr();
    assert!(log.contains("component from the digest cache"), "{log}");
    assert!(!log.contains("pulling"), "{log}");
    drop(served);

    // ...and a changed cached file is refused, not loaded.
    let mut changed = bytes.clone();
    let last = changed.len() - 1;
    changed[last] ^= 0xff;
    std::fs::write(&stored, &changed).unwrap();
    let refused = run(&[
        "serve",
        &pinned,
        "--addr",
        "127.0.0.1:0",
        "--cache-dir",
        cache_dir,
    ]);
    let line = error_line(&refused);
    assert!(
        line.contains("did not match its digest") && line.contains("unreachable"),
        "{line}"
    );
    assert!(!stored.exists(), "the changed file was kept");
}
