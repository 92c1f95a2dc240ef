//! Shared by the integration tests: build the components, start the real
//! `motionmcp-host` binary on an ephemeral loopback port, speak HTTP/1.1 to it
//! over a plain socket (so tests can also send what no client library would).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

pub mod denoiser_weights;
pub mod services;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds every component once per test binary; returns `target/components/<name>.wasm`.
pub fn component(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/build-components.sh"))
            .current_dir(repo_root())
            .stdout(Stdio::null())
            .status()
            .expect("running scripts/build-components.sh");
        assert!(status.success(), "building the components failed");
    });
    let path = repo_root()
        .join("target/components")
        .join(format!("{name}.wasm"));
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The null backbone in each guest language: same id, same answers.
pub const NULLS: [&str; 3] = ["null", "null-py", "null-js"];

/// A compiled-component cache shared by every test server, so a Python or
/// JavaScript component is compiled once per run rather than per test.
/// Entries are keyed by content and engine, and written atomically.
pub fn shared_cache() -> PathBuf {
    repo_root().join("target/test-cache")
}

pub struct Server {
    child: Child,
    pub addr: String,
    pub stderr_log: PathBuf,
    _logs: tempdir::Dir,
}

pub mod tempdir {
    use std::path::PathBuf;

    /// A directory removed on drop.
    pub struct Dir(pub PathBuf);

    impl Dir {
        pub fn new(tag: &str) -> Dir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir =
                std::env::temp_dir().join(format!("mmcp-test-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub fn host_binary() -> &'static str {
    env!("CARGO_BIN_EXE_motionmcp-host")
}

impl Server {
    /// Serves the named components (built on demand).
    pub fn start(models: &[&str]) -> Server {
        let paths: Vec<PathBuf> = models.iter().map(|m| component(m)).collect();
        Server::start_paths(&paths, &[])
    }

    pub fn start_paths(paths: &[PathBuf], extra: &[&str]) -> Server {
        Server::start_wrapped(&[], paths, extra)
    }

    /// As [`Server::start_paths`], with the host run through `wrapper` (a
    /// command that ends by exec-ing its arguments, e.g. a shell that first
    /// lowers a limit), so the child's pid is still the server's.
    pub fn start_wrapped(wrapper: &[&str], paths: &[PathBuf], extra: &[&str]) -> Server {
        let logs = tempdir::Dir::new("logs");
        let stderr_log = logs.0.join("stderr.log");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(host_binary());
                c
            }
            None => Command::new(host_binary()),
        };
        command
            .arg("serve")
            .args(paths)
            .args(["--addr", "127.0.0.1:0"]);
        if !extra.contains(&"--cache-dir") && !extra.contains(&"--no-cache") {
            command.arg("--cache-dir").arg(shared_cache());
        }
        let mut child = command
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .expect("starting motionmcp-host");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("motionmcp-host listening on http://")
            .or_else(|| {
                line.trim()
                    .strip_prefix("motionmcp-host listening on https://")
            })
            .unwrap_or_else(|| {
                let log = std::fs::read_to_string(&stderr_log).unwrap_or_default();
                panic!("server did not start: {line:?}\n{log}")
            })
            .to_string();
        Server {
            child,
            addr,
            stderr_log,
            _logs: logs,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends raw bytes; returns the parsed answer.
    pub fn raw(&self, request: &[u8]) -> Answer {
        let mut stream = TcpStream::connect(&self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream.write_all(request).unwrap();
        let mut bytes = Vec::new();
        let _ = stream.read_to_end(&mut bytes);
        Answer::parse(&bytes)
    }

    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> Answer {
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        self.raw(&req)
    }

    pub fn get(&self, path: &str) -> Answer {
        self.request("GET", path, b"")
    }

    pub fn post(&self, body: &Value) -> Answer {
        self.request("POST", "/generate", body.to_string().as_bytes())
    }

    /// A generate request to a model that may answer `202`: its job is
    /// polled until it is no longer running, for up to `within`; returns the
    /// final answer (or the synchronous one).
    pub fn generate(&self, body: &Value, within: Duration) -> Answer {
        let first = self.post(body);
        if first.status != 202 {
            return first;
        }
        let location = first.header("location").expect("Location").to_owned();
        self.wait_job(&location, within)
    }

    /// Polls the job at `location` until it is no longer running.
    pub fn wait_job(&self, location: &str, within: Duration) -> Answer {
        let deadline = std::time::Instant::now() + within;
        loop {
            let a = self.get(location);
            if a.status != 202 {
                return a;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "job {location} still running after {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_log).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        sigterm(self.child.id());
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Server {
    /// Serves `paths` on a free loopback port picked here, and returns as
    /// soon as the port accepts connections: before the models are ready
    /// (the `listening` line on stdout, which [`Server::start_paths`] waits
    /// for, comes once they are).
    pub fn start_unready(paths: &[PathBuf], extra: &[&str]) -> Server {
        Server::start_unready_on(free_port(), paths, extra)
    }

    /// As [`Server::start_unready`], on `port` (a replica restarted where a
    /// balancer expects it).
    pub fn start_unready_on(port: u16, paths: &[PathBuf], extra: &[&str]) -> Server {
        let logs = tempdir::Dir::new("logs");
        let stderr_log = logs.0.join("stderr.log");
        let child = Command::new(host_binary())
            .arg("serve")
            .args(paths)
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .arg("--cache-dir")
            .arg(shared_cache())
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .expect("starting motionmcp-host");
        let mut server = Server {
            child,
            addr: format!("127.0.0.1:{port}"),
            stderr_log,
            _logs: logs,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&server.addr).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("the server exited ({status}):\n{}", server.stderr());
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the port did not open:\n{}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// Waits (at most `within`) until `/readyz` answers 200.
    pub fn wait_ready(&self, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let answer = self.get("/readyz");
            if answer.status == 200 {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not ready after {within:?}: {}\n{}",
                String::from_utf8_lossy(&answer.body),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends SIGTERM and returns at once.
    pub fn sigterm(&self) {
        sigterm(self.child.id());
    }

    /// Waits (at most `within`) for the process to exit.
    pub fn wait_exit(mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + within;
        loop {
            // Dropping `self` then kills nothing: the child is reaped.
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running after {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Writes a `--auth-tokens` file (`name:token` lines) into `dir`; its path.
pub fn write_tokens(dir: &Path, lines: &str) -> String {
    let file = dir.join("tokens");
    std::fs::write(&file, lines).unwrap();
    file.to_str().unwrap().to_owned()
}

/// A request with an optional bearer token.
pub fn call(s: &Server, method: &str, path: &str, token: Option<&str>, body: &str) -> Answer {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    s.raw(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
}

/// A loopback port free now (for servers that cannot pick their own).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One request to `addr` on a fresh connection; an error instead of a panic
/// when the connection fails or the answer is not HTTP (for load tests
/// that count such failures).
pub fn try_request(addr: &str, method: &str, path: &str, body: &[u8]) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    stream.write_all(&req)?;
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes)?;
    if !bytes.starts_with(b"HTTP/1.1 ") || !bytes.windows(4).any(|w| w == b"\r\n\r\n") {
        return Err(std::io::Error::other(format!(
            "not an HTTP answer: {:?}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        )));
    }
    Ok(Answer::parse(&bytes))
}

fn sigterm(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    fn parse(bytes: &[u8]) -> Answer {
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(bytes)));
        let head = String::from_utf8_lossy(&bytes[..split]).to_string();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let mut body = bytes[split + 4..].to_vec();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts a `200` (the body in the message otherwise); returns its JSON.
    pub fn ok(&self) -> Value {
        assert_eq!(self.status, 200, "{}", String::from_utf8_lossy(&self.body));
        self.json()
    }

    /// Asserts an MMCP error envelope with this status and code; returns it.
    pub fn error(&self, status: u16, code: &str) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "body: {body}");
        assert_eq!(self.header("content-type"), Some("application/json"));
        let error = &body["error"];
        assert_eq!(error["code"], code, "body: {body}");
        assert!(error["message"].is_string(), "body: {body}");
        assert!(error["details"].is_object(), "body: {body}");
        assert_eq!(body.as_object().unwrap().len(), 1);
        error.clone()
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
}

/// The null model's canonical skeleton.
pub fn null_skeleton() -> Value {
    let joint = |name: &str, parent: Value, t: [f64; 3]| json!({"name": name, "parent": parent, "rest_translation": t, "rest_rotation": [0, 0, 0, 1]});
    json!({"joints": [
        joint("Hips", Value::Null, [0.0, 0.95, 0.0]),
        joint("Spine", json!("Hips"), [0.0, 0.5, 0.0]),
        joint("Head", json!("Spine"), [0.0, 0.3, 0.0]),
        joint("LeftFoot", json!("Hips"), [0.1, -0.95, 0.0]),
        joint("RightFoot", json!("Hips"), [-0.1, -0.95, 0.0]),
    ]})
}

/// The checklist's "valid request": null model, canonical skeleton, one
/// 3-frame text segment.
pub fn valid() -> Value {
    json!({
        "protocol_version": "1.4",
        "model": "null",
        "skeleton": null_skeleton(),
        "segments": [{"type": "text", "prompt": "walk", "duration_frames": 3}],
    })
}

/// `valid()` with top-level fields replaced.
pub fn with(fields: Value) -> Value {
    let mut body = valid();
    for (k, v) in fields.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

/// A request for the `probe` test component (two joints) with this prompt.
pub fn probe_request(prompt: &str) -> Value {
    json!({
        "protocol_version": "1.4",
        "model": "probe",
        "skeleton": {"joints": [
            {"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]},
            {"name": "Spine", "parent": "Hips", "rest_translation": [0, 0.5, 0], "rest_rotation": [0, 0, 0, 1]}
        ]},
        "segments": [{"type": "text", "prompt": prompt, "duration_frames": 3}],
    })
}

/// `motionmcp-host inspect` of a built component: its `import ...` and
/// `export ...` lines.
pub fn inspect(name: &str) -> Vec<String> {
    let out = Command::new(host_binary())
        .args(["inspect", "--cache-dir"])
        .arg(shared_cache())
        .arg(component(name))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Runs `serve` on these components, expecting it to refuse to start;
/// returns what it printed on stderr.
pub fn refused(components: &[PathBuf]) -> String {
    let out = Command::new(host_binary())
        .args(["serve", "--addr", "127.0.0.1:0", "--no-cache"])
        .args(components)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts that an error object's message contains `needle`.
pub fn assert_mentions(error: &Value, needle: &str) {
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains(needle), "{needle:?} not in {error}");
}

// ---- the reference SDK, from PyPI ------------------------------------------

/// Pinned so a new upload cannot change what "compatible" means.
pub const PACKAGES: [&str; 3] = [
    "motionmcp-sdk[server]==0.13.0",
    "motionmcp-client-sdk==0.1.0",
    // The SDK's own client and glTF parser import numpy.
    "numpy<2",
];

/// `target/reference-venv`, created and filled on first use.
pub fn venv_python() -> PathBuf {
    // Tests of one binary run in parallel: one of them creates the venv.
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY.get_or_init(create_venv).clone()
}

fn create_venv() -> PathBuf {
    python_venv("reference-venv", &PACKAGES)
}

/// `target/<name>/bin/python`, a virtualenv holding `packages` from PyPI:
/// created, or filled again when the packages changed, on first use.
pub fn python_venv(name: &str, packages: &[&str]) -> PathBuf {
    let venv = repo_root().join("target").join(name);
    let python = venv.join("bin/python");
    let stamp = venv.join(".installed");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == wanted) {
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
        .args(packages)
        .status()
        .unwrap()
        .success();
    assert!(ok, "pip install of {packages:?} failed");
    std::fs::write(&stamp, wanted).unwrap();
    python
}

impl Server {
    /// The reference server (motionmcp-sdk 0.13.0's null backbone, from the
    /// test virtualenv) on a free loopback port, ready to answer.
    pub fn reference() -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let logs = tempdir::Dir::new("reference");
        let stderr_log = logs.0.join("stderr.log");
        let child = Command::new(venv_python())
            .args([
                "-m",
                "motionmcp.null_backbone",
                "--host",
                "127.0.0.1",
                "--port",
            ])
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_log).unwrap())
            .spawn()
            .expect("starting the reference server");
        let server = Server {
            child,
            addr: format!("127.0.0.1:{port}"),
            stderr_log,
            _logs: logs,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(&server.addr).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the reference server did not start:\n{}",
                server.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }
}

// ---- reading answers ----------------------------------------------------------

/// The float32 values of a JSON glTF answer's embedded buffer.
pub fn buffer_floats(doc: &Value) -> Vec<f32> {
    use base64::Engine as _;
    let uri = doc["buffers"][0]["uri"].as_str().unwrap();
    let b64 = uri
        .strip_prefix("data:application/octet-stream;base64,")
        .unwrap();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// The float32 values of accessor `index` (its whole buffer view).
pub fn accessor_floats(doc: &Value, index: usize) -> Vec<f32> {
    let view =
        &doc["bufferViews"][doc["accessors"][index]["bufferView"].as_u64().unwrap() as usize];
    let start = view["byteOffset"].as_u64().unwrap() as usize / 4;
    let len = view["byteLength"].as_u64().unwrap() as usize / 4;
    buffer_floats(doc)[start..start + len].to_vec()
}

/// Starts `component` twice over a fresh cache directory: the first start
/// compiles it, the second loads the compiled code from the cache and serves.
pub fn assert_restart_hits_the_cache(component: &Path) {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let cache = std::env::temp_dir().join(format!("mmcp-cache-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache);
    let args = ["--cache-dir", cache.to_str().unwrap()];
    let first = Server::start_paths(&[component.to_owned()], &args);
    assert!(first.stderr().contains("compiled component"));
    drop(first);
    let second = Server::start_paths(&[component.to_owned()], &args);
    assert!(
        second
            .stderr()
            .contains("loaded compiled component from cache"),
        "{}",
        second.stderr()
    );
    assert_eq!(second.post(&valid()).status, 200);
    drop(second);
    let _ = std::fs::remove_dir_all(&cache);
}
