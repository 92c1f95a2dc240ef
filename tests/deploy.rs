//! Packaging: the Kubernetes manifests under `deploy/` and the `Dockerfile`.
//!
//! Manifests: every kustomization (the base and each overlay) is rendered
//! with `kubectl kustomize`; the built-in kinds are validated offline and
//! strictly (unknown fields refused) by PyPI's `kubernetes-validate`, in a
//! virtualenv under `target/deploy-venv`; the custom resources it has no
//! schema for (ServiceMonitor) are checked field by field here. Then what the
//! objects mean: probes on /livez and /readyz, the container's effective flags
//! (its `$(VAR)`s resolved from the ConfigMap) all known to `serve --help`,
//! a termination grace period that covers preStop and the drain, a drain that
//! covers the longest generation, a non-root pod matching the image's user,
//! and what each component adds (GPU, Redis job store, autoscaler, scrape).
//!
//! Image: built with Debian's `buildah` (no daemon) from the Dockerfile's
//! runtime stage only, on a Debian base this test makes with `debootstrap`
//! (no registry is needed: both are cached under `target/deploy`), with the
//! `builder` stage replaced by a folder holding this build's binary and the
//! default components. The image's configuration is checked, and the server
//! is started inside it and answers /readyz with both models.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{component, host_binary, python_venv, repo_root};

/// Pinned, so a new upload cannot change what "valid" means.
const KUBERNETES_VALIDATE: &str = "kubernetes-validate==1.37.0";
/// The oldest and the newest Kubernetes the built-in kinds must be valid for.
const KUBERNETES_VERSIONS: [&str; 2] = ["1.30", "1.37"];

/// What one kustomization must render.
struct Expect {
    dir: &'static str,
    gpu: bool,
    job_store: bool,
    autoscaled: bool,
    monitored: bool,
    /// The Deployment's replica count (none when an autoscaler owns it).
    replicas: Option<i64>,
}

const KUSTOMIZATIONS: [Expect; 3] = [
    Expect {
        dir: "deploy/base",
        gpu: false,
        job_store: false,
        autoscaled: false,
        monitored: false,
        replicas: Some(2),
    },
    Expect {
        dir: "deploy/overlays/cpu",
        gpu: false,
        job_store: false,
        autoscaled: false,
        monitored: true,
        replicas: Some(3),
    },
    Expect {
        dir: "deploy/overlays/gpu-redis",
        gpu: true,
        job_store: true,
        autoscaled: true,
        monitored: true,
        replicas: None,
    },
];

/// The gauge the autoscaler follows (host/src/metrics.rs, README "Metrics
/// and probes").
const WAITING_METRIC: &str = "motionmcp_requests_waiting";

// ---- tools -------------------------------------------------------------------------

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(command: &mut Command) -> String {
    String::from_utf8(run(command).stdout).unwrap()
}

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `target/deploy-venv/bin/python` with kubernetes-validate (and its PyYAML),
/// created and filled on first use.
fn venv_python() -> PathBuf {
    static READY: OnceLock<PathBuf> = OnceLock::new();
    READY
        .get_or_init(|| python_venv("deploy-venv", &[KUBERNETES_VALIDATE]))
        .clone()
}

/// The kustomization in `dir` rendered: every object, as JSON.
fn render(dir: &str) -> Vec<Value> {
    let kubectl = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let yaml = match Command::new(&kubectl)
        .arg("kustomize")
        .arg(repo_root().join(dir))
        .output()
    {
        Ok(out) if out.status.success() => out.stdout,
        Ok(out) => panic!(
            "kubectl kustomize {dir} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run {kubectl} ({e}): install kubectl 1.21 or newer (Debian's is too old for \
             Kustomize components), or point KUBECTL at one"
        ),
    };
    let mut python = Command::new(venv_python())
        .args([
            "-c",
            "import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    python.stdin.take().unwrap().write_all(&yaml).unwrap();
    let out = python.wait_with_output().unwrap();
    assert!(out.status.success(), "cannot read the YAML of {dir}");
    let Value::Array(objects) = serde_json::from_slice(&out.stdout).unwrap() else {
        panic!("{dir}: not a list of objects");
    };
    objects
}

/// Validates built-in objects with kubernetes-validate, strictly, against
/// each version of [`KUBERNETES_VERSIONS`].
fn validate_builtin(dir: &str, objects: &[&Value]) {
    let scratch = support::tempdir::Dir::new("deploy");
    let file = scratch.0.join("objects.yaml");
    let text: Vec<String> = objects.iter().map(|o| o.to_string()).collect();
    std::fs::write(&file, text.join("\n---\n")).unwrap();
    let validator = venv_python().with_file_name("kubernetes-validate");
    for version in KUBERNETES_VERSIONS {
        let out = Command::new(&validator)
            .args(["--strict", "-k", version])
            .arg(&file)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let passed = text.lines().filter(|l| l.contains(" passed ")).count();
        assert!(
            out.status.success()
                && !text.contains("ERROR")
                && !text.contains("WARN")
                && passed == objects.len(),
            "{dir}: kubernetes-validate --strict -k {version}: {passed} of {} objects passed:\n{text}",
            objects.len()
        );
    }
}

// ---- reading objects ---------------------------------------------------------------

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {v:#}"))
}

fn kind_of(o: &Value) -> (&str, &str) {
    (str_at(o, "/apiVersion"), str_at(o, "/kind"))
}

fn find<'a>(objects: &'a [Value], kind: &str, name: &str) -> Option<&'a Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

fn get<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    find(objects, kind, name).unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Whether every label of `selector` is on `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let selector = selector.as_object().expect("a label map");
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `$(NAME)` replaced by the container's environment as the kubelet does
/// (envFrom first, then env); a secret's value stays unknown.
fn environment(container: &Value, objects: &[Value]) -> BTreeMap<String, Option<String>> {
    let mut env = BTreeMap::new();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let name = str_at(from, "/configMapRef/name");
        let map = get(objects, "ConfigMap", name);
        for (k, v) in map["data"].as_object().unwrap() {
            env.insert(k.clone(), Some(v.as_str().unwrap().to_owned()));
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let name = str_at(var, "/name").to_owned();
        let value = if let Some(v) = var["value"].as_str() {
            Some(v.to_owned())
        } else if let Some(r) = var.pointer("/valueFrom/configMapKeyRef") {
            let map = get(objects, "ConfigMap", str_at(r, "/name"));
            Some(str_at(map, &format!("/data/{}", str_at(r, "/key"))).to_owned())
        } else {
            None
        };
        env.insert(name, value);
    }
    env
}

fn expand(arg: &str, env: &BTreeMap<String, Option<String>>) -> String {
    let mut out = String::new();
    let mut rest = arg;
    while let Some(start) = rest.find("$(") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find(')')
            .unwrap_or_else(|| panic!("unclosed $( in {arg}"));
        let name = &rest[start + 2..start + end];
        let value = env
            .get(name)
            .unwrap_or_else(|| panic!("{arg}: no variable {name} in the container"))
            .as_deref()
            .unwrap_or_else(|| panic!("{arg}: {name} comes from a secret"));
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// The server's command line as the kubelet runs it: the subcommand, its
/// flags (name, value) and its models.
struct ServeLine {
    flags: Vec<(String, Option<String>)>,
    models: Vec<String>,
}

impl ServeLine {
    fn of(container: &Value, objects: &[Value]) -> ServeLine {
        let env = environment(container, objects);
        let args: Vec<String> = container["args"]
            .as_array()
            .expect("the server's args")
            .iter()
            .map(|a| expand(a.as_str().unwrap(), &env))
            .collect();
        assert_eq!(args[0], "serve", "the container runs `serve`: {args:?}");
        let mut flags = Vec::new();
        let mut models = Vec::new();
        for arg in &args[1..] {
            match arg.strip_prefix("--") {
                Some(flag) => {
                    let (name, value) = match flag.split_once('=') {
                        Some((n, v)) => (n, Some(v.to_owned())),
                        None => (flag, None),
                    };
                    flags.push((format!("--{name}"), value));
                }
                None => {
                    // Values always as --flag=value: a bare word is a model.
                    assert!(
                        arg.ends_with(".wasm"),
                        "{arg:?}: not a model; write --flag=value"
                    );
                    models.push(arg.clone());
                }
            }
        }
        ServeLine { flags, models }
    }

    fn value(&self, flag: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n == flag)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    fn seconds(&self, flag: &str) -> f64 {
        let v = self
            .value(flag)
            .unwrap_or_else(|| panic!("the server is given no {flag}"));
        v.parse()
            .unwrap_or_else(|_| panic!("{flag}={v}: not seconds"))
    }
}

/// Every `--flag` that `motionmcp-host serve --help` lists.
fn serve_flags() -> Vec<String> {
    let help = stdout(Command::new(host_binary()).args(["serve", "--help"]));
    help.split(|c: char| c.is_whitespace() || c == ',' || c == '[' || c == '=' || c == '<')
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_owned()
        })
        .collect()
}

// ---- the Dockerfile, as the manifests rely on it ----------------------------------

struct Dockerfile {
    user: String,
    expose: String,
    entrypoint: Vec<String>,
    cmd: Vec<String>,
    env: BTreeMap<String, String>,
    /// What the runtime stage adds to its base (RUNTIME_PACKAGES).
    packages: Vec<String>,
}

impl Dockerfile {
    fn read() -> Dockerfile {
        let text = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
        // Continuation lines joined: one instruction a line.
        let joined = text.replace("\\\n", " ");
        let runtime = joined.split("\nFROM ").last().expect("a runtime stage");
        let instruction = |name: &str| -> String {
            runtime
                .lines()
                .rev()
                .find_map(|l| l.strip_prefix(name).map(|r| r.trim().to_owned()))
                .unwrap_or_else(|| panic!("no {name} in the runtime stage"))
        };
        let list = |name: &str| -> Vec<String> {
            serde_json::from_str(&instruction(name))
                .unwrap_or_else(|e| panic!("{name}: not the exec form ({e})"))
        };
        let env = runtime
            .lines()
            .filter_map(|l| l.strip_prefix("ENV "))
            .flat_map(|l| l.split_whitespace())
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let packages = instruction("ARG RUNTIME_PACKAGES=")
            .trim_matches('"')
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        Dockerfile {
            packages,
            user: instruction("USER "),
            expose: instruction("EXPOSE "),
            entrypoint: list("ENTRYPOINT "),
            cmd: list("CMD "),
            env,
        }
    }

    fn uid(&self) -> i64 {
        let uid = self.user.split(':').next().unwrap();
        uid.parse().unwrap_or_else(|_| {
            panic!(
                "USER {}: not numeric (runAsNonRoot cannot check a name)",
                self.user
            )
        })
    }

    /// The models the default command serves.
    fn models(&self) -> Vec<String> {
        self.cmd
            .iter()
            .filter(|a| a.ends_with(".wasm"))
            .cloned()
            .collect()
    }
}

// ---- the manifests -------------------------------------------------------------------

/// Checks one kustomization's objects against what it must contain.
fn check(expect: &Expect, objects: &[Value], known_flags: &[String], image: &Dockerfile) {
    let dir = expect.dir;
    // Built-in kinds through kubernetes-validate, custom resources here.
    let (custom, builtin): (Vec<&Value>, Vec<&Value>) = objects
        .iter()
        .partition(|o| kind_of(o).0.starts_with("monitoring.coreos.com/"));
    validate_builtin(dir, &builtin);
    for o in &custom {
        assert_eq!(
            kind_of(o),
            ("monitoring.coreos.com/v1", "ServiceMonitor"),
            "{dir}: unexpected custom resource"
        );
    }

    let deployment = get(objects, "Deployment", "motionmcp-host");
    let pod = &deployment["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert!(selects(
        &deployment["spec"]["selector"]["matchLabels"],
        labels
    ));
    let spec = &pod["spec"];
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1, "{dir}: one container a pod");
    let c = &containers[0];
    assert!(
        str_at(c, "/image").contains("motionmcp-host") && !str_at(c, "/image").ends_with(":latest"),
        "{dir}: the image is named and pinned: {}",
        c["image"]
    );

    // The Service reaches the pods on the port the server listens on.
    let line = ServeLine::of(c, objects);
    let service = get(objects, "Service", "motionmcp-host");
    assert!(
        selects(&service["spec"]["selector"], labels),
        "{dir}: Service selects the pods"
    );
    let port = &c["ports"].as_array().unwrap()[0];
    assert_eq!(port["name"], "http");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    let listen = line.value("--addr").expect("--addr");
    assert_eq!(
        listen,
        format!("0.0.0.0:{}", port["containerPort"]),
        "{dir}"
    );
    assert_eq!(
        port["containerPort"].to_string(),
        image.expose,
        "{dir}: EXPOSE"
    );

    // Probes.
    for (probe, path) in [("livenessProbe", "/livez"), ("readinessProbe", "/readyz")] {
        assert_eq!(c[probe]["httpGet"]["path"], path, "{dir}: {probe}");
        assert_eq!(c[probe]["httpGet"]["port"], "http", "{dir}: {probe}");
    }

    // Flags the binary knows, the image's models.
    for (flag, _) in &line.flags {
        assert!(
            known_flags.contains(flag),
            "{dir}: {flag} is not a flag of `motionmcp-host serve` (see serve --help)"
        );
    }
    assert_eq!(line.models, image.models(), "{dir}: the image's models");

    // Termination: preStop, then SIGTERM and the drain, within the grace
    // period; and the drain outlasts the longest generation.
    let timeout = line.seconds("--timeout");
    let drain = line.seconds("--shutdown-grace");
    let pre_stop = c["lifecycle"]["preStop"]["exec"]["command"]
        .as_array()
        .unwrap_or_else(|| panic!("{dir}: a preStop exec hook"));
    assert!(
        pre_stop[0].as_str().unwrap().ends_with("sleep"),
        "{dir}: preStop sleeps: {pre_stop:?}"
    );
    let sleep: f64 = pre_stop[1].as_str().unwrap().parse().unwrap();
    let grace = spec["terminationGracePeriodSeconds"].as_f64().unwrap();
    assert!(
        drain >= timeout,
        "{dir}: --shutdown-grace {drain} < --timeout {timeout}: a generation can be cut off"
    );
    assert!(
        grace > sleep + drain,
        "{dir}: terminationGracePeriodSeconds {grace} <= preStop {sleep} + --shutdown-grace {drain}"
    );

    // Non-root, as the image's numeric user; nothing to escalate to; a
    // read-only root with the component cache and /tmp writable.
    let security = &spec["securityContext"];
    assert_eq!(security["runAsNonRoot"], true, "{dir}");
    assert_eq!(security["runAsUser"].as_i64(), Some(image.uid()), "{dir}");
    assert_ne!(image.uid(), 0);
    assert_eq!(
        c["securityContext"]["allowPrivilegeEscalation"], false,
        "{dir}"
    );
    assert_eq!(
        c["securityContext"]["readOnlyRootFilesystem"], true,
        "{dir}"
    );
    assert_eq!(
        c["securityContext"]["capabilities"]["drop"],
        json!(["ALL"]),
        "{dir}"
    );
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| str_at(m, "/mountPath"))
        .collect();
    let cache = &image.env["MOTIONMCP_CACHE_DIR"];
    assert!(
        mounts.contains(&cache.as_str()) && mounts.contains(&"/tmp"),
        "{dir}: {cache} and /tmp writable: {mounts:?}"
    );
    for key in ["cpu", "memory"] {
        assert!(
            c["resources"]["requests"][key].is_string(),
            "{dir}: requests.{key}"
        );
    }
    assert!(
        c["resources"]["limits"]["memory"].is_string(),
        "{dir}: limits.memory"
    );

    // A disruption budget over the same pods.
    let pdb = get(objects, "PodDisruptionBudget", "motionmcp-host");
    assert!(
        selects(&pdb["spec"]["selector"]["matchLabels"], labels),
        "{dir}: PDB"
    );

    assert_eq!(
        deployment["spec"]["replicas"].as_i64(),
        expect.replicas,
        "{dir}: replicas"
    );

    // GPU.
    let gpus = &c["resources"]["limits"]["nvidia.com/gpu"];
    let capabilities = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "NVIDIA_DRIVER_CAPABILITIES");
    if expect.gpu {
        assert_eq!(gpus.as_i64(), Some(1), "{dir}: one GPU a replica");
        assert_eq!(spec["runtimeClassName"], "nvidia", "{dir}");
        let capabilities = str_at(capabilities.expect("NVIDIA_DRIVER_CAPABILITIES"), "/value");
        assert!(
            capabilities
                .split(',')
                .any(|c| c == "graphics" || c == "all"),
            "{dir}: the Vulkan ICD is mounted only with `graphics`: {capabilities}"
        );
        assert_eq!(line.value("--gpu"), Some("vulkan"), "{dir}");
    } else {
        assert!(
            gpus.is_null() && spec["runtimeClassName"].is_null(),
            "{dir}: no GPU"
        );
        assert!(capabilities.is_none());
    }

    // Jobs in Redis.
    match line.value("--job-store") {
        Some(store) => {
            assert!(expect.job_store, "{dir}: --job-store={store} unexpected");
            assert_eq!(store, "redis://redis:6379", "{dir}");
            let redis = get(objects, "Service", "redis");
            assert_eq!(redis["spec"]["ports"][0]["port"], 6379);
            let server = get(objects, "Deployment", "redis");
            assert!(selects(
                &redis["spec"]["selector"],
                &server["spec"]["template"]["metadata"]["labels"]
            ));
            assert!(
                !selects(
                    &service["spec"]["selector"],
                    &server["spec"]["template"]["metadata"]["labels"]
                ),
                "{dir}: the motionmcp-host Service must not reach Redis"
            );
            let rs = &server["spec"]["template"]["spec"];
            assert_eq!(
                rs["securityContext"]["runAsNonRoot"], true,
                "{dir}: redis non-root"
            );
        }
        None => assert!(!expect.job_store, "{dir}: no --job-store"),
    }

    // Autoscaling on the waiting gauge.
    match find(objects, "HorizontalPodAutoscaler", "motionmcp-host") {
        Some(hpa) => {
            assert!(expect.autoscaled, "{dir}: unexpected HPA");
            assert_eq!(hpa["apiVersion"], "autoscaling/v2");
            assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
            assert_eq!(hpa["spec"]["scaleTargetRef"]["name"], "motionmcp-host");
            let metric = &hpa["spec"]["metrics"][0];
            assert_eq!(metric["type"], "Pods");
            assert_eq!(metric["pods"]["metric"]["name"], WAITING_METRIC);
            assert!(
                hpa["spec"]["minReplicas"].as_i64().unwrap() >= 2,
                "{dir}: min 2 replicas"
            );
        }
        None => assert!(!expect.autoscaled, "{dir}: no HPA"),
    }

    // Scraping: the ServiceMonitor finds the Service and its port, and
    // /metrics answers it without a token.
    match custom.first() {
        Some(monitor) => {
            assert!(expect.monitored, "{dir}: unexpected ServiceMonitor");
            assert_eq!(monitor["metadata"]["name"], "motionmcp-host");
            assert!(
                selects(
                    &monitor["spec"]["selector"]["matchLabels"],
                    &service["metadata"]["labels"]
                ),
                "{dir}: the ServiceMonitor selects the Service"
            );
            assert_eq!(
                monitor["metadata"]["namespace"], service["metadata"]["namespace"],
                "{dir}: the ServiceMonitor sits with the Service"
            );
            let endpoints = monitor["spec"]["endpoints"].as_array().unwrap();
            assert_eq!(endpoints.len(), 1);
            assert_eq!(endpoints[0]["port"], service["spec"]["ports"][0]["name"]);
            assert_eq!(endpoints[0]["path"], "/metrics");
            assert!(
                line.value("--metrics-public").is_some()
                    || endpoints[0]["authorization"]["credentials"].is_object(),
                "{dir}: /metrics needs a token once tokens are on: --metrics-public or credentials"
            );
        }
        None => assert!(!expect.monitored, "{dir}: no ServiceMonitor"),
    }
}

#[test]
fn every_kustomization_renders_valid_objects_that_run_the_server_as_intended() {
    // Every overlay and component is in the table above, so each is rendered.
    let listed = |sub: &str| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(repo_root().join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    for overlay in listed("deploy/overlays") {
        let dir = format!("deploy/overlays/{overlay}");
        assert!(
            KUSTOMIZATIONS.iter().any(|e| e.dir == dir),
            "{dir} is not tested: add it to KUSTOMIZATIONS"
        );
    }
    for name in listed("deploy/components") {
        let used = KUSTOMIZATIONS.iter().any(|e| {
            std::fs::read_to_string(repo_root().join(e.dir).join("kustomization.yaml"))
                .unwrap()
                .contains(&format!("components/{name}"))
        });
        assert!(used, "deploy/components/{name} is in no tested overlay");
    }
    // The gauge the autoscaler follows is one the host exports.
    // (its registry's prefix, then the gauge's name).
    let metrics = std::fs::read_to_string(repo_root().join("host/src/metrics.rs")).unwrap();
    let (prefix, name) = WAITING_METRIC.split_once('_').unwrap();
    assert!(
        metrics.contains(&format!("with_prefix(\"{prefix}\")"))
            && metrics.contains(&format!("\"{name}\",")),
        "host/src/metrics.rs exports no {WAITING_METRIC}"
    );

    let image = Dockerfile::read();
    assert_eq!(image.entrypoint, ["/usr/local/bin/motionmcp-host"]);
    let flags = serve_flags();
    assert!(flags.iter().any(|f| f == "--shutdown-grace"), "{flags:?}");
    let started = Instant::now();
    for expect in &KUSTOMIZATIONS {
        let objects = render(expect.dir);
        check(expect, &objects, &flags, &image);
    }
    eprintln!(
        "manifests rendered and checked in {:.1?}",
        started.elapsed()
    );
}

// ---- the image -----------------------------------------------------------------------

/// Debian release and mirror of this machine: the test's binary links
/// against its glibc, so the base must be the same release.
fn debian() -> Option<(String, String)> {
    let release = std::fs::read_to_string("/etc/os-release").ok()?;
    let field = |name: &str| {
        release
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .map(|v| v.trim_matches('"').to_owned())
    };
    if field("ID")? != "debian" {
        return None;
    }
    let suite = field("VERSION_CODENAME")?;
    let mut mirror = None;
    for file in std::fs::read_dir("/etc/apt/sources.list.d")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .chain([PathBuf::from("/etc/apt/sources.list")])
    {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        if file.extension().is_some_and(|e| e == "sources") {
            // deb822: the URIs of the stanza whose Suites has ours.
            for stanza in text.split("\n\n") {
                let value = |key: &str| {
                    stanza
                        .lines()
                        .find_map(|l| l.strip_prefix(key))
                        .map(str::trim)
                };
                if value("Suites:").is_some_and(|s| s.split_whitespace().any(|s| s == suite)) {
                    mirror = mirror.or(value("URIs:")
                        .and_then(|u| u.split_whitespace().next())
                        .map(str::to_owned));
                }
            }
        } else if file.extension().is_some_and(|e| e == "list") || file.ends_with("sources.list") {
            for words in text
                .lines()
                .map(|l| l.split_whitespace().collect::<Vec<_>>())
            {
                if words.first() == Some(&"deb") && words.iter().any(|w| *w == suite) {
                    let url = words.iter().find(|w| w.starts_with("http"));
                    mirror = mirror.or(url.map(|u| u.to_string()));
                }
            }
        }
    }
    let mirror = mirror.unwrap_or_else(|| "http://deb.debian.org/debian".into());
    Some((suite, mirror))
}

/// `buildah` with this test's own storage under `target/deploy/containers`.
fn buildah(args: &[&str]) -> Command {
    let root = repo_root().join("target/deploy/containers");
    let mut c = Command::new("buildah");
    c.arg("--root")
        .arg(root.join("storage"))
        .arg("--runroot")
        .arg(root.join("run"))
        .args(["--storage-driver", "overlay"])
        .args(args);
    c
}

/// A working container, removed on drop.
struct Working(String);

impl Working {
    fn from(image: &str) -> Working {
        Working(
            stdout(&mut buildah(&["from", "--pull=never", image]))
                .trim()
                .to_owned(),
        )
    }

    fn run(&self, args: &[&str]) -> Command {
        let mut c = buildah(&["run", "--isolation", "chroot", "--network", "host"]);
        c.arg(&self.0).arg("--").args(args);
        c
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        let _ = buildah(&["rm", &self.0]).output();
    }
}

/// A minimal Debian `suite` with `packages`, from `mirror`, as the image
/// `localhost/motionmcp-test-base:<suite>-<packages>` (made once, then cached).
fn base_image(suite: &str, mirror: &str, packages: &[String]) -> String {
    let tag = format!(
        "localhost/motionmcp-test-base:{suite}-{}",
        packages.join("-")
    );
    if buildah(&["inspect", "--type", "image", &tag])
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return tag;
    }
    let started = Instant::now();
    let work = repo_root().join("target/deploy");
    let rootfs = work.join(format!("rootfs-{suite}"));
    let _ = std::fs::remove_dir_all(&rootfs);
    std::fs::create_dir_all(&work).unwrap();
    run(Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={}", packages.join(",")),
            suite,
        ])
        .arg(&rootfs)
        .arg(mirror));
    // What a slim image leaves out: the package cache and lists.
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        run(Command::new("find").arg(rootfs.join(dir)).args([
            "-maxdepth",
            "1",
            "-type",
            "f",
            "-delete",
        ]));
    }
    let tar = work.join(format!("rootfs-{suite}.tar"));
    run(Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .args([
            "--numeric-owner",
            "--exclude=./dev/*",
            "--exclude=./proc/*",
            "--exclude=./sys/*",
        ])
        .arg("-cf")
        .arg(&tar)
        .arg("."));
    let base = Working(stdout(&mut buildah(&["from", "scratch"])).trim().to_owned());
    run(&mut buildah(&["add", &base.0, tar.to_str().unwrap(), "/"]));
    run(&mut buildah(&["config", "--cmd", "/bin/bash", &base.0]));
    run(&mut buildah(&["commit", "--quiet", &base.0, &tag]));
    drop(base);
    // Bases of other releases or package lists are not used again.
    let images = stdout(&mut buildah(&["images", "--format", "{{.Name}}:{{.Tag}}"]));
    for old in images
        .lines()
        .filter(|l| l.starts_with("localhost/motionmcp-test-base:") && *l != tag)
    {
        let _ = buildah(&["rmi", old]).output();
    }
    let _ = std::fs::remove_file(&tar);
    let _ = std::fs::remove_dir_all(&rootfs);
    eprintln!(
        "debootstrapped {tag} from {mirror} in {:.1?}",
        started.elapsed()
    );
    tag
}

/// Whether the image test can run here; `None` (with the reason printed)
/// when it cannot, a panic when it could but a tool is missing.
fn image_test_runs() -> Option<(String, String)> {
    let uid = String::from_utf8(Command::new("id").arg("-u").output().ok()?.stdout).ok()?;
    if uid.trim() != "0" {
        eprintln!(
            "skipping the image test: debootstrap and buildah's chroot isolation need root \
             (run the tests as root, e.g. in CI)"
        );
        return None;
    }
    let Some(debian) = debian() else {
        eprintln!(
            "skipping the image test: it builds a Debian base matching this machine's glibc, \
             and this machine is not Debian"
        );
        return None;
    };
    for tool in ["buildah", "debootstrap"] {
        assert!(
            on_path(tool),
            "{tool} is missing: install Debian's buildah and debootstrap (scripts/setup.sh does as root)"
        );
    }
    Some(debian)
}

/// One HTTP GET: status and body.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

/// The server inside a container, stopped on drop.
struct Serving(Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn image_builds_from_the_runtime_stage_and_serves_as_non_root() {
    let Some((suite, mirror)) = image_test_runs() else {
        return;
    };
    let started = Instant::now();
    let image = Dockerfile::read();
    let base = base_image(&suite, &mirror, &image.packages);
    let after_base = started.elapsed();

    // The `builder` stage's results, from this build: its layout is
    // /dist/motionmcp-host and /dist/models/*.wasm.
    let context = repo_root().join("target/deploy/builder");
    let _ = std::fs::remove_dir_all(&context);
    let dist = context.join("dist");
    std::fs::create_dir_all(dist.join("models")).unwrap();
    // The test build carries debug info (hundreds of MiB): not into the image.
    let binary = dist.join("motionmcp-host");
    let stripped = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&binary)
        .arg(host_binary())
        .status()
        .is_ok_and(|s| s.success());
    if !stripped {
        std::fs::copy(host_binary(), &binary).unwrap();
    }
    for model in image.models() {
        let name = Path::new(&model).file_stem().unwrap().to_str().unwrap();
        std::fs::copy(
            component(name),
            dist.join("models").join(format!("{name}.wasm")),
        )
        .unwrap();
    }

    let tag = "localhost/motionmcp-host:deploy-test";
    let _ = buildah(&["rmi", "--force", tag]).output();
    let built = run(buildah(&[
        "bud",
        "--isolation",
        "chroot",
        "--pull=never",
        "--target",
        "runtime",
        "--build-arg",
        &format!("RUNTIME_IMAGE={base}"),
        "--build-context",
        &format!("builder={}", context.display()),
        "-f",
        repo_root().join("Dockerfile").to_str().unwrap(),
        "-t",
        tag,
    ])
    .arg(repo_root()));
    let log = String::from_utf8_lossy(&built.stdout);
    assert!(
        !log.contains("cargo build") && log.contains("COPY --from=builder"),
        "only the runtime stage was to be built:\n{log}"
    );
    assert!(
        !log.contains("Reading package lists"),
        "the base has the runtime packages: nothing to download\n{log}"
    );
    let after_build = started.elapsed();

    // Its configuration: non-root, the entrypoint and the default command.
    let inspected: Value =
        serde_json::from_str(&stdout(&mut buildah(&["inspect", "--type", "image", tag]))).unwrap();
    let config = &inspected["OCIv1"]["config"];
    let user = str_at(config, "/User");
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric user");
    assert_ne!(uid, 0, "the image runs as root");
    assert_eq!(config["Entrypoint"], json!(image.entrypoint));
    assert_eq!(config["Cmd"], json!(image.cmd));
    let cmd = &image.cmd;
    assert_eq!(cmd[..3], ["serve", "--addr", "0.0.0.0:8000"]);
    assert!(config["ExposedPorts"]["8000/tcp"].is_object(), "{config:#}");

    // Inside it: the binary runs, as that user, with the Vulkan loader.
    let container = Working::from(tag);
    let version = stdout(&mut container.run(&[&image.entrypoint[0], "--version"]));
    assert_eq!(
        version.trim(),
        format!("motionmcp-host {}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(
        stdout(&mut container.run(&["id", "-u"])).trim(),
        uid.to_string()
    );
    for package in &image.packages {
        let status = stdout(&mut container.run(&["dpkg-query", "-W", "-f", "${Status}", package]));
        assert_eq!(status, "install ok installed", "{package}");
    }

    // The default command, on a free loopback port instead of 0.0.0.0:8000:
    // both models load, /readyz says so, compiled code lands in the cache.
    let mut serve: Vec<&str> = vec![&image.entrypoint[0], "serve", "--addr", "127.0.0.1:0"];
    let models = image.models();
    serve.extend(models.iter().map(String::as_str));
    let mut child = container
        .run(&serve)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let server = Serving(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(180))
        .unwrap_or_default();
    let Some(addr) = line
        .trim()
        .strip_prefix("motionmcp-host listening on http://")
    else {
        drop(server);
        let mut log = String::new();
        let _ = err.read_to_string(&mut log);
        panic!("the server in the image did not start: {line:?}\n{log}");
    };
    let (status, body) = http_get(addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["models"], json!(["humanoid", "null"]));
    assert_eq!(http_get(addr, "/livez").0, 200);
    drop(server);
    let cache = &image.env["MOTIONMCP_CACHE_DIR"];
    let cached = stdout(&mut container.run(&["find", cache, "-type", "f"]));
    assert!(!cached.trim().is_empty(), "nothing compiled into {cache}");
    drop(container);
    let _ = buildah(&["rmi", "--force", tag]).output();
    eprintln!(
        "image test: base {:.1?}, build {:.1?}, total {:.1?}",
        after_base,
        after_build - after_base,
        started.elapsed()
    );
}
