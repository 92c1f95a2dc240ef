//! `motionmcp-host generate` and `motionmcp-host capabilities`: one model
//! run without a server, through the same validation, backbone call and
//! glTF encoding as `POST /generate`, and a component's spec printed without
//! serving it.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use motionmcp_host::capabilities;
use motionmcp_host::error::ApiError;
use motionmcp_host::registry::Registry;
use motionmcp_host::runtime::Progress;
use serde_json::{json, Map, Value};

use super::run::{self, RunArgs};

/// Seconds of each segment when `--seconds` is not given.
const DEFAULT_SECONDS: f64 = 4.0;

/// How often the progress bar reads the backbone's latest report.
const PROGRESS_TICK: Duration = Duration::from_millis(100);

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// The backbone component: a .wasm file, or oci://REGISTRY/REPO[:TAG]@sha256:DIGEST.
    #[arg(value_name = "MODEL.wasm")]
    model: PathBuf,

    /// A text segment's prompt; repeat for a timeline of several segments, in order
    #[arg(long, value_name = "TEXT", conflicts_with = "request")]
    prompt: Vec<String>,

    /// Seconds of each segment: once for all of them, or once per --prompt [default: 4]
    #[arg(long, value_name = "SECONDS", value_parser = run::positive_seconds, requires = "prompt")]
    seconds: Vec<f64>,

    /// A whole MMCP request body (JSON; `-` reads standard input); --seed and
    /// --samples override its options
    #[arg(long, value_name = "FILE")]
    request: Option<PathBuf>,

    /// `options.seed`: the same seed gives the same motion
    #[arg(long)]
    seed: Option<i64>,

    /// `options.num_samples`: independent motions in one answer
    #[arg(long, value_name = "N")]
    samples: Option<u32>,

    /// Where the answer goes: `*.glb` is binary glTF, any other name glTF JSON,
    /// `-` glTF JSON on standard output
    #[arg(short, long, value_name = "out.glb|out.gltf|-")]
    output: PathBuf,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args)]
pub struct CapabilitiesArgs {
    /// The backbone component: a .wasm file, or oci://REGISTRY/REPO[:TAG]@sha256:DIGEST.
    #[arg(value_name = "MODEL.wasm")]
    model: PathBuf,

    #[command(flatten)]
    run: RunArgs,
}

/// Why a run failed: the protocol's refusal (printed as the server would
/// answer it), or anything else (the component, a file, the flags).
pub enum Failure {
    Refused(ApiError),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::Other(e)
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        Failure::Refused(e)
    }
}

impl Failure {
    /// Prints the failure on stderr: a refusal as its status, code, message
    /// and details, like the envelope the server would send.
    pub fn report(&self) {
        match self {
            Failure::Refused(e) => {
                let status = motionmcp_host::http::status::of(e.code);
                eprintln!(
                    "error: {} {}: {}",
                    status.as_u16(),
                    e.code.as_str(),
                    e.message
                );
                if !e.details.is_empty() {
                    eprintln!("details: {}", Value::Object(e.details.clone()));
                }
            }
            Failure::Other(e) => eprintln!("error: {e:#}"),
        }
    }
}

/// One model, loaded alone, as a registry (so validation is the server's).
async fn load_one(run: &RunArgs, path: &Path) -> Result<Registry> {
    let runtime = run.runtime(run.limits(1, 1), 1)?;
    let model = run::load(run, &runtime, path).await?;
    Registry::new(vec![model])
}

pub async fn capabilities(args: CapabilitiesArgs) -> Result<()> {
    let registry = load_one(&args.run, &args.model).await?;
    let specs: Vec<_> = registry.iter().map(|m| m.spec()).collect();
    let document = capabilities::document(specs.iter().map(|s| s.as_ref()));
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}

pub async fn generate(args: GenerateArgs) -> Result<(), Failure> {
    let registry = load_one(&args.run, &args.model).await?;
    // A request file is decoded and measured as the server would its body
    // (strict JSON, a BOM allowed, the model's byte cap on the bytes sent).
    let (mut value, body_len) = match &args.request {
        Some(path) => {
            let bytes = read_bytes(path)?;
            (motionmcp_host::http::decode_body(&bytes)?, bytes.len())
        }
        None => {
            let body = prompts_body(&args, &registry)?;
            let len = serde_json::to_vec(&body)
                .map_err(anyhow::Error::from)?
                .len();
            (body, len)
        }
    };
    if motionmcp_host::batch::is_batch(&value) {
        return Err(Failure::Other(anyhow::anyhow!(
            "generate runs one request; send batch bodies to a server"
        )));
    }
    set_options(&mut value, &args);
    let mut valid = motionmcp_host::validate::single(&value, body_len, &registry)?;
    let progress = Progress::new();
    valid.progress = Some(Arc::clone(&progress));
    let doc = {
        let mut bar = Bar::new();
        let run = motionmcp_host::generate::run(&valid);
        tokio::pin!(run);
        let mut tick = tokio::time::interval(PROGRESS_TICK);
        loop {
            tokio::select! {
                doc = &mut run => {
                    bar.show(progress.get());
                    bar.finish(doc.is_ok());
                    break doc?;
                }
                _ = tick.tick() => bar.show(progress.get()),
            }
        }
    };
    write_answer(doc, &args.output)?;
    Ok(())
}

/// `--seed` and `--samples` into the request's options (a body that is not
/// an object is left for validation to refuse, as the server would).
fn set_options(body: &mut Value, args: &GenerateArgs) {
    let Some(object) = body.as_object_mut() else {
        return;
    };
    if args.seed.is_some() || args.samples.is_some() {
        let options = object
            .entry("options")
            .or_insert_with(|| Value::Object(Map::new()));
        if options.is_null() {
            *options = Value::Object(Map::new());
        }
        if let Some(options) = options.as_object_mut() {
            if let Some(seed) = args.seed {
                options.insert("seed".into(), seed.into());
            }
            if let Some(samples) = args.samples {
                options.insert("num_samples".into(), samples.into());
            }
        }
    }
}

/// The request file's bytes (`-`: standard input).
fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut bytes)?;
        Ok(bytes)
    } else {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    }
}

/// Text segments on the model's canonical skeleton; `--seconds` rounds to
/// whole frames, at least one.
fn prompts_body(args: &GenerateArgs, registry: &Registry) -> Result<Value> {
    if args.prompt.is_empty() {
        bail!("say what to generate: --prompt TEXT (repeatable) or --request FILE");
    }
    let seconds = match args.seconds.len() {
        0 => vec![DEFAULT_SECONDS; args.prompt.len()],
        1 => vec![args.seconds[0]; args.prompt.len()],
        n if n == args.prompt.len() => args.seconds.clone(),
        n => bail!(
            "{n} --seconds for {} --prompt: give one for all, or one per prompt",
            args.prompt.len()
        ),
    };
    let model = registry.iter().next().context("no model")?;
    let spec = model.spec();
    let entry = serde_json::to_value(capabilities::model_entry(&spec))?;
    let segments: Vec<Value> = args
        .prompt
        .iter()
        .zip(&seconds)
        .map(|(prompt, s)| {
            let frames = (s * spec.fps).round().max(1.0) as i64;
            json!({"type": "text", "prompt": prompt, "duration_frames": frames})
        })
        .collect();
    Ok(json!({
        "protocol_version": "1.4",
        "model": model.id(),
        "skeleton": request_skeleton(&entry["canonical_skeleton"]),
        "segments": segments,
    }))
}

/// The canonical skeleton as a request sends it: each joint's name, parent
/// and rest pose (display names are optional in a request and change
/// nothing).
fn request_skeleton(canonical: &Value) -> Value {
    let joints: Vec<Value> = canonical["joints"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|j| {
            json!({
                "name": j["name"],
                "parent": j["parent"],
                "rest_translation": j["rest_translation"],
                "rest_rotation": j["rest_rotation"],
            })
        })
        .collect();
    json!({"joints": joints})
}

fn write_answer(doc: motionmcp_host::gltf::Document, output: &Path) -> Result<()> {
    let binary = output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("glb"));
    let bytes = if binary {
        doc.into_glb()
    } else {
        serde_json::to_vec(&doc.into_json())?
    };
    if output == Path::new("-") {
        let mut out = std::io::stdout().lock();
        out.write_all(&bytes)?;
        out.flush()?;
    } else {
        std::fs::write(output, &bytes)
            .with_context(|| format!("cannot write {}", output.display()))?;
        eprintln!("wrote {} ({} bytes)", output.display(), bytes.len());
    }
    Ok(())
}

/// The backbone's progress on stderr: a bar on a terminal, else one line
/// per change (for logs and scripts). Nothing until the first report.
struct Bar {
    bar: Option<indicatif::ProgressBar>,
    terminal: bool,
    last: Option<(u32, u32)>,
}

impl Bar {
    fn new() -> Bar {
        Bar {
            bar: None,
            terminal: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    fn show(&mut self, report: Option<(u32, u32)>) {
        let Some((done, total)) = report else { return };
        if self.last == Some((done, total)) {
            return;
        }
        self.last = Some((done, total));
        if !self.terminal {
            eprintln!("progress {done}/{total}");
            return;
        }
        let bar = self.bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(u64::from(total));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} steps, {eta} left",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_length(u64::from(total));
        bar.set_position(u64::from(done));
    }

    /// Leaves a full bar on success, stops where it was on failure.
    fn finish(&mut self, done: bool) {
        if let Some(bar) = self.bar.take() {
            if done {
                bar.finish();
            } else {
                bar.abandon();
            }
        }
    }
}
