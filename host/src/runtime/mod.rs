//! The wasmtime component host: compiles (or loads from cache) a backbone
//! component, instantiates it with WASI granting nothing, and runs its
//! exports off the HTTP workers.

mod cache;
pub mod convert;

use std::path::Path;
use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use serde_json::{Map, Value};
use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use cache::ComponentCache;

use crate::bindings::mmcp::backbone::types as wit;
use crate::bindings::{BackboneWorld, BackboneWorldPre, ModelSpec, MotionResult, WitErrorCode};
use crate::error::{ApiError, ErrorCode};

/// Most bytes of a guest's stderr kept, to name what a panic said.
const STDERR_CAPACITY: usize = 64 * 1024;

/// What a guest can reach: WASI with no preopens, environment, arguments,
/// sockets or stdin; stderr goes to a bounded in-memory pipe.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// One engine and linker shared by every model.
pub struct Runtime {
    engine: Engine,
    linker: Linker<GuestState>,
    cache: ComponentCache,
}

impl Runtime {
    pub fn new(cache: ComponentCache) -> Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        let engine = Engine::new(&config).map_err(|e| anyhow!(e))?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(|e| anyhow!(e))?;
        Ok(Runtime {
            engine,
            linker,
            cache,
        })
    }

    /// Compiles (or loads) the component at `path`, instantiates it, runs
    /// `setup` and reads and checks its capabilities.
    pub async fn load(&self, path: &Path) -> Result<Arc<Backbone>> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let owned = path.to_owned();
        // Compilation takes seconds of CPU: keep it off the async workers.
        let component = tokio::task::spawn_blocking(move || cache.load(&engine, &owned)).await??;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| anyhow!(e))
            .with_context(|| {
                format!(
                    "{} imports something this host does not provide (backbones may import only WASI)",
                    path.display()
                )
            })?;
        let pre = BackboneWorldPre::new(pre)
            .map_err(|e| anyhow!(e))
            .with_context(|| {
                format!("{} does not export the mmcp:backbone world", path.display())
            })?;
        let engine = self.engine.clone();
        let mut live = Live::start(&engine, &pre).await?;
        live.setup()
            .await
            .with_context(|| format!("setup of {} failed", path.display()))?;
        let spec = live.capabilities().await?;
        crate::capabilities::check_spec(&spec)
            .map_err(|e| anyhow!("{} describes an invalid model: {e}", path.display()))?;
        Ok(Arc::new(Backbone {
            engine,
            pre,
            spec,
            live: tokio::sync::Mutex::new(Some(live)),
        }))
    }
}

/// An instantiated component and its store.
struct Live {
    store: Store<GuestState>,
    world: BackboneWorld,
    stderr: MemoryOutputPipe,
}

impl Live {
    async fn start(engine: &Engine, pre: &BackboneWorldPre<GuestState>) -> Result<Live> {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        let mut store = Store::new(
            engine,
            GuestState {
                wasi,
                table: ResourceTable::new(),
            },
        );
        let world = pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| anyhow!(e))?;
        Ok(Live {
            store,
            world,
            stderr,
        })
    }

    async fn setup(&mut self) -> Result<()> {
        let api = self.world.mmcp_backbone_backbone();
        match api.call_setup(&mut self.store).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(anyhow!("{msg}")),
            Err(trap) => Err(anyhow!("{}", self.describe_trap(&trap))),
        }
    }

    async fn capabilities(&mut self) -> Result<ModelSpec> {
        let api = self.world.mmcp_backbone_backbone();
        api.call_capabilities(&mut self.store)
            .await
            .map_err(|trap| anyhow!("capabilities: {}", self.describe_trap(&trap)))
    }

    /// A one-line account of a trap, with the guest's last stderr line (a
    /// Rust panic message lands there).
    fn describe_trap(&self, trap: &wasmtime::Error) -> String {
        let cause = match trap.downcast_ref::<wasmtime::Trap>() {
            Some(t) => t.to_string(),
            None => trap.to_string(),
        };
        let stderr = self.stderr.contents();
        match last_words(&String::from_utf8_lossy(&stderr)) {
            Some(said) => format!("{cause}; the backbone said: {said}"),
            None => cause,
        }
    }
}

/// The message of the guest's last panic (the lines after "panicked at",
/// without the backtrace hint), else its last line of stderr.
fn last_words(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("note: run with"))
        .collect();
    let start = lines.iter().rposition(|l| l.contains("panicked at"));
    let words = match start {
        Some(i) if i + 1 < lines.len() => lines[i + 1..].join(" "),
        _ => lines.last()?.to_string(),
    };
    Some(words.chars().take(500).collect())
}

/// One loaded model: its cached spec and its instance.
pub struct Backbone {
    engine: Engine,
    pre: BackboneWorldPre<GuestState>,
    spec: ModelSpec,
    /// `None` after a trap, until a fresh instance is set up.
    live: tokio::sync::Mutex<Option<Live>>,
}

impl Backbone {
    /// The spec read after `setup`.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Runs `generate` on a blocking thread. A trap costs this request only:
    /// the instance is dropped and a fresh one is set up for the next.
    pub async fn generate(
        self: &Arc<Self>,
        request: wit::GenerateRequest,
    ) -> Result<MotionResult, ApiError> {
        let this = Arc::clone(self);
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || handle.block_on(this.generate_here(request)))
            .await
            .map_err(|e| ApiError::internal(format!("backbone call did not complete: {e}")))?
    }

    async fn generate_here(&self, request: wit::GenerateRequest) -> Result<MotionResult, ApiError> {
        let mut slot = self.live.lock().await;
        if slot.is_none() {
            let mut live = Live::start(&self.engine, &self.pre)
                .await
                .map_err(|e| unavailable(&self.spec.id, &e))?;
            live.setup()
                .await
                .map_err(|e| unavailable(&self.spec.id, &e))?;
            *slot = Some(live);
        }
        let live = slot.as_mut().expect("instance set above");
        let api = live.world.mmcp_backbone_backbone();
        match api.call_generate(&mut live.store, &request).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(error)) => Err(protocol_error(error)),
            Err(trap) => {
                let why = live.describe_trap(&trap);
                tracing::error!(model = %self.spec.id, error = %why, "backbone trapped; replacing its instance");
                *slot = None;
                Err(ApiError::internal(format!("backbone failed: {why}")))
            }
        }
    }

    /// Calls `teardown`; failures are logged, never fatal.
    pub async fn teardown(&self) {
        let mut slot = self.live.lock().await;
        if let Some(live) = slot.as_mut() {
            let api = live.world.mmcp_backbone_backbone();
            if let Err(trap) = api.call_teardown(&mut live.store).await {
                tracing::warn!(model = %self.spec.id, error = %live.describe_trap(&trap), "teardown trapped");
            }
        }
        *slot = None;
    }
}

fn unavailable(model: &str, e: &anyhow::Error) -> ApiError {
    ApiError::new(
        ErrorCode::ModelUnavailable,
        format!("model {model} could not be restarted after a failure: {e:#}"),
    )
}

/// A backbone's protocol error, as the envelope it asked for.
fn protocol_error(e: wit::ProtocolError) -> ApiError {
    let code = match e.code {
        WitErrorCode::SchemaValidation => ErrorCode::SchemaValidation,
        WitErrorCode::UnknownModel => ErrorCode::UnknownModel,
        WitErrorCode::RetargetingUnsupported => ErrorCode::RetargetingUnsupported,
        WitErrorCode::UnsupportedConstraint => ErrorCode::UnsupportedConstraint,
        WitErrorCode::UnsupportedSegment => ErrorCode::UnsupportedSegment,
        WitErrorCode::UnknownJoint => ErrorCode::UnknownJoint,
        WitErrorCode::InvalidSkeleton => ErrorCode::InvalidSkeleton,
        WitErrorCode::FrameOutOfRange => ErrorCode::FrameOutOfRange,
        WitErrorCode::InvalidOptions => ErrorCode::InvalidOptions,
        WitErrorCode::InvalidRequest => ErrorCode::InvalidRequest,
        WitErrorCode::VersionUnsupported => ErrorCode::VersionUnsupported,
        WitErrorCode::Unauthorized => ErrorCode::Unauthorized,
        WitErrorCode::Forbidden => ErrorCode::Forbidden,
        WitErrorCode::PayloadTooLarge => ErrorCode::PayloadTooLarge,
        WitErrorCode::RateLimited => ErrorCode::RateLimited,
        WitErrorCode::InternalError => ErrorCode::InternalError,
        WitErrorCode::ResourceExhausted => ErrorCode::ResourceExhausted,
        WitErrorCode::ModelUnavailable => ErrorCode::ModelUnavailable,
        WitErrorCode::Timeout => ErrorCode::Timeout,
    };
    let details = match serde_json::from_str::<Value>(&e.details) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    ApiError {
        code,
        message: e.message,
        details,
    }
}
