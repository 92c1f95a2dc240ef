//! The wasmtime component host: compiles (or loads from cache) a backbone
//! component, instantiates it with WASI granting nothing, and runs its
//! exports off the HTTP workers under the limits of [`Limits`].
//!
//! Each model keeps a pool of instances: a request borrows one, and an
//! instance that trapped, ran out of time or memory is dropped rather than
//! returned, so a broken instance never serves again. Fresh instances come
//! from an `InstancePre` and the pooling allocator: microseconds, no compile.

mod cache;
pub mod convert;
mod hook;
pub mod limits;
mod stderr;
pub mod tensor;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Map, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use wasmtime::component::{Component, ComponentExportIndex, Linker, ResourceTable};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

pub use cache::{ComponentCache, Origin};
pub use limits::Limits;

use crate::bindings::mmcp::backbone::types as wit;
use crate::bindings::{
    BackboneWorld, BackboneWorldPre, ModelSpec, MotionResult, WitErrorCode, TENSOR_INTERFACE,
};
use crate::error::{ApiError, ErrorCode};
use crate::gpu::weights::WeightStore;
use crate::gpu::{Gpu, GpuChoice, Quota};
use limits::MemoryCap;
use stderr::TailPipe;
use tensor::{GpuDeadline, GpuState, ModelGpu};

/// Where the `--weights` directory appears inside the guest.
pub const WEIGHTS_MOUNT: &str = "/weights";

/// Bytes a result may carry beyond its float arrays (names, contacts, notes).
const RESULT_SLACK: usize = 16 << 20;

/// Most bytes of a guest's stderr kept, to name what a panic said.
const STDERR_TAIL: usize = 16 * 1024;

/// How long a backbone may take to describe itself when `/capabilities` asks
/// again (C31): a spec is a small record, and a slow answer must not stall
/// the endpoint clients discover models with.
const SPEC_DEADLINE: Duration = Duration::from_secs(2);

/// What a guest can reach: WASI with no environment, arguments, sockets or
/// stdin, and no files but the `--weights` directory, read-only, when granted
/// (random and clocks are what WASI must give); stderr goes to a bounded
/// in-memory tail. Plus the store's memory cap.
pub struct GuestState {
    wasi: WasiCtx,
    table: ResourceTable,
    memory: MemoryCap,
    /// The instance's GPU session, for models that import `tensor`.
    gpu: Option<GpuState>,
}

impl WasiView for GuestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// `types` declares only types; its host side is empty.
impl wit::Host for GuestState {}

/// One engine and linker shared by every model.
pub struct Runtime {
    engine: Engine,
    linker: Linker<GuestState>,
    cache: ComponentCache,
    limits: Limits,
    gpu_choice: GpuChoice,
    /// Opened when the first model that imports `tensor` loads.
    gpu: tokio::sync::OnceCell<Arc<Gpu>>,
}

impl Runtime {
    /// An engine sized for `models` models under `limits`.
    pub fn new(cache: ComponentCache, limits: Limits, models: usize) -> Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        // Room for every model's instances, plus one replacement each.
        let slots = (models * (limits.instances + 1)).max(1) as u32;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            .total_core_instances(slots * 16)
            .total_memories(slots * 4)
            .total_tables(slots * 16)
            .total_stacks(slots)
            .max_memory_size(limits.memory_bytes);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&config)?;
        let ticker = engine.weak();
        std::thread::Builder::new()
            .name("epoch-ticker".into())
            .spawn(move || {
                while let Some(engine) = ticker.upgrade() {
                    engine.increment_epoch();
                    drop(engine);
                    std::thread::sleep(limits::EPOCH_TICK);
                }
            })?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        BackboneWorld::add_to_linker::<_, wasmtime::component::HasSelf<GuestState>>(
            &mut linker,
            |s| s,
        )?;
        Ok(Runtime {
            engine,
            linker,
            cache,
            limits,
            gpu_choice: GpuChoice::Auto,
            gpu: tokio::sync::OnceCell::new(),
        })
    }

    /// Which adapter to open for GPU models (`serve --gpu`).
    pub fn with_gpu(mut self, choice: GpuChoice) -> Self {
        self.gpu_choice = choice;
        self
    }

    /// The GPU, if a model needed one.
    pub fn gpu(&self) -> Option<&Arc<Gpu>> {
        self.gpu.get()
    }

    /// Opens the GPU once, off the async workers, and compiles its kernels.
    async fn open_gpu(&self) -> Result<Arc<Gpu>> {
        let choice = self.gpu_choice;
        let gpu = self
            .gpu
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    let gpu = Gpu::open(choice)?;
                    tracing::info!(gpu = %gpu.describe(), "GPU opened");
                    gpu.warm_up();
                    Ok::<_, anyhow::Error>(gpu)
                })
                .await?
            })
            .await?;
        Ok(Arc::clone(gpu))
    }

    /// Compiles (or loads) the component at `path`, instantiates it, runs
    /// `setup` and reads and checks its capabilities.
    pub async fn load(&self, path: &Path) -> Result<Arc<Backbone>> {
        let started = Instant::now();
        let (component, origin) = self.compile(path).await?;
        let compiled = started.elapsed();
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!(
                "{} imports something this host does not provide (backbones may import only WASI)",
                path.display()
            )
            })?;
        let pre = BackboneWorldPre::new(pre)
            .map_err(anyhow::Error::from)
            .with_context(|| {
                format!("{} does not export the mmcp:backbone world", path.display())
            })?;
        let limits = self.limits.clone();
        let batch = hook::find(&component);
        let uses_gpu = component
            .component_type()
            .imports(&self.engine)
            .any(|(name, _)| name == TENSOR_INTERFACE);
        let gpu = match uses_gpu {
            true => Some(Arc::new(ModelGpu {
                gpu: self
                    .open_gpu()
                    .await
                    .with_context(|| format!("{} uses the GPU", path.display()))?,
                quota: Quota::new(limits.gpu_memory_bytes),
                weights: WeightStore::new(limits.weights.clone()),
            })),
            false => None,
        };
        // The first instance starts and runs `setup` on the blocking pool,
        // as replacements do: a GPU model's `setup` may wait on the device.
        let (live, spec, batch_hook, instantiated, setup) = {
            let (pre, limits, gpu) = (pre.clone(), limits.clone(), gpu.clone());
            let shown = path.display().to_string();
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                handle.block_on(async move {
                    let started = Instant::now();
                    let mut live = Live::start(&pre, batch.as_ref(), &limits, gpu.as_ref())
                        .await
                        .with_context(|| format!("cannot instantiate {shown}"))?;
                    let instantiated = started.elapsed();
                    let started = Instant::now();
                    live.setup(&limits)
                        .await
                        .map_err(|e| anyhow!("setup of {shown} failed: {}", e.message))?;
                    let spec = live
                        .capabilities(&limits)
                        .await
                        .map_err(|e| anyhow!("capabilities of {shown} failed: {}", e.message))?;
                    // Asked once: an SDK component without a hook says `none`.
                    let batch_hook = match live.generate_batch(Vec::new(), &limits).await {
                        Outcome::Done(answer) => answer.is_some(),
                        Outcome::Broken(e) => {
                            return Err(anyhow!("{shown}'s generate-batch failed: {}", e.message))
                        }
                    };
                    Ok::<_, anyhow::Error>((
                        live,
                        spec,
                        batch_hook,
                        instantiated,
                        started.elapsed(),
                    ))
                })
            })
            .await??
        };
        crate::capabilities::check_spec(&spec)
            .map_err(|e| anyhow!("{} describes an invalid model: {e}", path.display()))?;
        let spec_limits = Limits {
            deadline: SPEC_DEADLINE.min(limits.deadline),
            result_bytes: 0,
            ..limits.clone()
        };
        Ok(Arc::new(Backbone {
            pre,
            batch: batch.filter(|_| batch_hook),
            gpu,
            id: spec.id.clone(),
            spec: Mutex::new(Arc::new(spec)),
            spec_limits,
            permits: Arc::new(Semaphore::new(limits.instances)),
            waiting: AtomicUsize::new(0),
            idle: Mutex::new(vec![live]),
            limits,
            report: LoadReport {
                origin,
                compile: compiled,
                instantiate: instantiated,
                setup,
            },
        }))
    }

    /// The component's native code, compiled or from the cache. Compilation
    /// takes seconds of CPU: it runs off the async workers.
    async fn compile(&self, path: &Path) -> Result<(Component, Origin)> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || cache.load(&engine, &owned)).await?
    }

    /// What the component at `path` imports and exports, by name, as the
    /// host sees them: for deciding whether to trust a model before serving it.
    pub async fn interface(&self, path: &Path) -> Result<ComponentInterface> {
        let (component, _) = self.compile(path).await?;
        let ty = component.component_type();
        let mut imports: Vec<String> = ty
            .imports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        let mut exports: Vec<String> = ty
            .exports(&self.engine)
            .map(|(n, _)| n.to_owned())
            .collect();
        imports.sort();
        exports.sort();
        Ok(ComponentInterface { imports, exports })
    }
}

/// A component's imported and exported interface names, sorted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInterface {
    pub imports: Vec<String>,
    pub exports: Vec<String>,
}

/// How long a model took to become ready, by phase.
#[derive(Debug, Clone, Copy)]
pub struct LoadReport {
    /// Whether the native code was compiled now or read from the cache.
    pub origin: Origin,
    /// Compiling, or reading the cached native code.
    pub compile: Duration,
    /// Instantiating the first instance.
    pub instantiate: Duration,
    /// Running `setup` and reading the capabilities.
    pub setup: Duration,
}

/// An instantiated component and its store.
struct Live {
    store: Store<GuestState>,
    world: BackboneWorld,
    /// `generate-batch`, when the component exports it.
    batch: Option<hook::BatchFunc>,
    stderr: TailPipe,
}

impl Live {
    async fn start(
        pre: &BackboneWorldPre<GuestState>,
        batch: Option<&ComponentExportIndex>,
        limits: &Limits,
        gpu: Option<&Arc<ModelGpu>>,
    ) -> Result<Live> {
        let stderr = TailPipe::new(STDERR_TAIL);
        let mut wasi = WasiCtxBuilder::new();
        wasi.stderr(stderr.clone());
        if let Some(dir) = &limits.weights {
            wasi.preopened_dir(dir, WEIGHTS_MOUNT, FsPerms::ReadOnly)
                .map_err(anyhow::Error::from)
                .with_context(|| format!("cannot grant {}", dir.display()))?;
        }
        let wasi = wasi.build();
        let state = GuestState {
            wasi,
            table: ResourceTable::new(),
            memory: MemoryCap {
                cap: limits.memory_bytes,
                exceeded: false,
            },
            gpu: gpu.map(|g| GpuState::new(Arc::clone(g))),
        };
        let mut store = Store::new(pre.engine(), state);
        store.limiter(|s| &mut s.memory);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(limits::deadline_ticks(limits.deadline));
        let instance = pre.instance_pre().instantiate_async(&mut store).await?;
        let world = BackboneWorld::new(&mut store, &instance)?;
        let batch = batch
            .map(|index| hook::load(&mut store, &instance, index))
            .transpose()?;
        Ok(Live {
            store,
            world,
            batch,
            stderr,
        })
    }

    /// Arms the deadline and the result budget, and clears the failure
    /// state before a call.
    fn arm(&mut self, limits: &Limits) {
        self.store
            .set_epoch_deadline(limits::deadline_ticks(limits.deadline));
        // Bounds what the host allocates while lifting a result, so an
        // oversized one is refused before it is copied (slack for the
        // smaller fields next to the float arrays).
        self.store
            .set_hostcall_fuel(limits.result_bytes.saturating_add(RESULT_SLACK));
        self.store.data_mut().memory.exceeded = false;
        if let Some(gpu) = &mut self.store.data_mut().gpu {
            gpu.set_deadline(Instant::now() + limits.deadline);
            gpu.quota().take_refused();
        }
        self.stderr.clear();
    }

    async fn setup(&mut self, limits: &Limits) -> Result<(), ApiError> {
        self.arm(limits);
        let api = self.world.mmcp_backbone_backbone();
        match api.call_setup(&mut self.store).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(ApiError::new(ErrorCode::ModelUnavailable, msg)),
            Err(trap) => Err(self.failure(&trap, limits)),
        }
    }

    /// `capabilities` under `limits` (the spec's strings and lists count
    /// against the result slack, so a huge spec is refused while lifted).
    async fn capabilities(&mut self, limits: &Limits) -> Result<ModelSpec, ApiError> {
        self.arm(limits);
        let api = self.world.mmcp_backbone_backbone();
        match api.call_capabilities(&mut self.store).await {
            Ok(spec) => Ok(spec),
            Err(trap) => Err(self.failure(&trap, limits)),
        }
    }

    async fn generate(
        &mut self,
        request: &wit::GenerateRequest,
        limits: &Limits,
    ) -> Outcome<Result<MotionResult, ApiError>> {
        self.arm(limits);
        let api = self.world.mmcp_backbone_backbone();
        match api.call_generate(&mut self.store, request).await {
            Ok(answer) => Outcome::Done(checked(answer, limits)),
            Err(trap) => Outcome::Broken(self.failure(&trap, limits)),
        }
    }

    /// `generate-batch` with `requests` (`None`: no hook). The call gets
    /// the time and result bytes of as many single calls.
    async fn generate_batch(
        &mut self,
        requests: Vec<wit::GenerateRequest>,
        limits: &Limits,
    ) -> Outcome<Option<Vec<Result<MotionResult, ApiError>>>> {
        let Some(func) = self.batch else {
            return Outcome::Done(None);
        };
        let n = requests.len().max(1);
        let group = Limits {
            deadline: limits.deadline.saturating_mul(n as u32),
            result_bytes: limits.result_bytes.saturating_mul(n),
            ..limits.clone()
        };
        self.arm(&group);
        match func.call_async(&mut self.store, (requests,)).await {
            Ok((answer,)) => Outcome::Done(
                answer.map(|results| results.into_iter().map(|r| checked(r, limits)).collect()),
            ),
            Err(trap) => Outcome::Broken(self.failure(&trap, &group)),
        }
    }

    /// The envelope for a trap: out of time → 504, out of memory → 503,
    /// anything else → 500 naming the cause (D9).
    fn failure(&self, trap: &wasmtime::Error, limits: &Limits) -> ApiError {
        if trap.downcast_ref::<Trap>() == Some(&Trap::Interrupt)
            || trap.downcast_ref::<GpuDeadline>().is_some()
        {
            return ApiError::new(
                ErrorCode::Timeout,
                format!(
                    "the backbone ran past its {:.3}s deadline",
                    limits.deadline.as_secs_f64()
                ),
            )
            .with_details(json!({"deadline_seconds": limits.deadline.as_secs_f64()}));
        }
        if self.store.data().memory.exceeded {
            return ApiError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "the backbone needed more than its {} MiB memory limit",
                    limits.memory_bytes >> 20
                ),
            )
            .with_details(json!({"memory_limit_bytes": limits.memory_bytes}));
        }
        if let Some(gpu) = &self.store.data().gpu {
            if gpu.quota().take_refused() {
                return ApiError::new(
                    ErrorCode::ResourceExhausted,
                    format!(
                        "the backbone needed more than its {} MiB GPU memory quota",
                        gpu.quota().limit() >> 20
                    ),
                )
                .with_details(json!({"gpu_memory_limit_bytes": gpu.quota().limit()}));
            }
        }
        if format!("{trap:#}").contains("fuel allocated for hostcalls") {
            return ApiError::internal(format!(
                "backbone returned a result larger than the {} MiB limit",
                limits.result_bytes >> 20
            ));
        }
        ApiError::internal(format!("backbone failed: {}", self.describe(trap)))
    }

    /// A one-line account of a trap, with what the guest last said on stderr
    /// (a Rust panic message lands there).
    fn describe(&self, trap: &wasmtime::Error) -> String {
        let cause = match trap.downcast_ref::<Trap>() {
            Some(Trap::StackOverflow) => "stack overflow".to_string(),
            Some(t) => t.to_string(),
            None => trap.to_string(),
        };
        match last_words(&self.stderr.contents()) {
            Some(said) => format!("{cause}; the backbone said: {said}"),
            None => cause,
        }
    }

    async fn teardown(&mut self, limits: &Limits) {
        self.arm(limits);
        let api = self.world.mmcp_backbone_backbone();
        if let Err(trap) = api.call_teardown(&mut self.store).await {
            tracing::warn!(error = %self.describe(&trap), "teardown trapped");
        }
    }
}

enum Outcome<T> {
    /// The call returned; the instance can serve again.
    Done(T),
    /// The call trapped; the instance must be dropped.
    Broken(ApiError),
}

/// A returned result under the size cap, or the backbone's own error.
fn checked(
    answer: Result<MotionResult, wit::ProtocolError>,
    limits: &Limits,
) -> Result<MotionResult, ApiError> {
    let result = answer.map_err(protocol_error)?;
    result_size(&result, limits)?;
    Ok(result)
}

/// Refuses results over the size cap (their float arrays, in bytes).
fn result_size(result: &MotionResult, limits: &Limits) -> Result<(), ApiError> {
    let floats = result.rotations.len()
        + result.root_translations.len()
        + result.translations.as_ref().map_or(0, Vec::len);
    let bytes = floats * 4;
    if bytes > limits.result_bytes {
        return Err(ApiError::internal(format!(
            "backbone returned a result larger than the {} MiB limit ({} MiB)",
            limits.result_bytes >> 20,
            bytes >> 20
        )));
    }
    Ok(())
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

/// One loaded model: its spec as last read and its pool of instances.
pub struct Backbone {
    pre: BackboneWorldPre<GuestState>,
    /// `generate-batch`, when the component has a real batch hook.
    batch: Option<ComponentExportIndex>,
    /// Shared by the instances of a model that imports `tensor`.
    gpu: Option<Arc<ModelGpu>>,
    /// The id read after `setup`: the model's key for as long as it is
    /// served, whatever later specs say.
    id: String,
    /// The spec last read (C31): after `setup`, then on every
    /// `/capabilities`. Requests are validated against it, never by a call
    /// into the guest (which would hold an instance per request); readers
    /// take the `Arc`, so a request sees one spec from validation to encoding.
    spec: Mutex<Arc<ModelSpec>>,
    /// `limits` with the short deadline and no result bytes, for re-reading
    /// the spec.
    spec_limits: Limits,
    limits: Limits,
    /// One permit per instance that may run at once.
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit.
    waiting: AtomicUsize,
    /// Instances ready to serve.
    idle: Mutex<Vec<Live>>,
    report: LoadReport,
}

/// Counts a request as waiting until dropped (also when the client leaves).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Backbone {
    /// The model's id, fixed at load.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The spec the server last advertised (or read after `setup`).
    pub fn spec(&self) -> Arc<ModelSpec> {
        Arc::clone(&self.spec.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The backbone's spec as it stands now (C31): asked of an idle
    /// instance when one is free at once, else the spec last read. Never
    /// waits for an instance and never starts one, so `/capabilities` stays
    /// quick under load and while a model restarts.
    pub async fn current_spec(self: &Arc<Self>) -> Arc<ModelSpec> {
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return self.spec();
        };
        let Some(mut live) = self.pool().pop() else {
            return self.spec();
        };
        let asked = self
            .on_blocking_thread(permit, move |this| async move {
                if this.reread_spec(&mut live).await {
                    this.pool().push(live);
                }
                Ok(())
            })
            .await;
        if let Err(e) = asked {
            tracing::error!(model = %self.id, error = %e.message, "re-reading the spec did not complete");
        }
        self.spec()
    }

    /// Asks `live` for its spec and keeps the answer when it is a valid spec
    /// for this model. False when the instance failed answering (a trap, the
    /// deadline) and must be dropped.
    async fn reread_spec(&self, live: &mut Live) -> bool {
        match live.capabilities(&self.spec_limits).await {
            Ok(spec) => {
                self.adopt(spec);
                true
            }
            Err(e) => {
                tracing::error!(model = %self.id, error = %e.message, "capabilities failed; dropping the instance, keeping the last spec");
                false
            }
        }
    }

    /// Keeps `spec` as the model's, unless it renames the model (ids route
    /// requests and are fixed at load) or breaks the rules a spec must keep
    /// at load: then the last spec stays, and the log says why.
    fn adopt(&self, spec: ModelSpec) {
        if spec.id != self.id {
            tracing::warn!(model = %self.id, new_id = %spec.id, "the backbone renamed itself; ids are fixed at load: keeping the last spec");
            return;
        }
        if let Err(why) = crate::capabilities::check_spec(&spec) {
            tracing::warn!(model = %self.id, error = %why, "the backbone described an invalid model; keeping the last spec");
            return;
        }
        *self.spec.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(spec);
    }

    /// How long loading took, by phase.
    pub fn load_report(&self) -> LoadReport {
        self.report
    }

    /// For a GPU model: the adapter, and its GPU memory in use and quota.
    pub fn gpu_status(&self) -> Option<(Value, u64, u64)> {
        self.gpu
            .as_ref()
            .map(|g| (g.gpu.describe(), g.quota.used(), g.quota.limit()))
    }

    /// Waits for a free instance, or refuses when the queue is full.
    async fn admit(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        if let Ok(permit) = self.permits.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let queued = self.waiting.fetch_add(1, Ordering::SeqCst);
        let _waiting = Waiting(&self.waiting);
        if queued >= self.limits.queue {
            return Err(ApiError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "model {} is busy: {} requests running and {} waiting",
                    self.id, self.limits.instances, self.limits.queue
                ),
            )
            .with_details(
                json!({"instances": self.limits.instances, "queue": self.limits.queue}),
            ));
        }
        self.permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ApiError::new(ErrorCode::ModelUnavailable, "the model is shutting down"))
    }

    /// Runs `generate` on a blocking thread under the model's limits. A trap
    /// costs this request only: its instance is dropped, and a fresh one is
    /// set up when next needed.
    pub async fn generate(
        self: &Arc<Self>,
        request: wit::GenerateRequest,
    ) -> Result<MotionResult, ApiError> {
        self.off_workers(move |this| async move { this.generate_here(request).await })
            .await
    }

    /// Admits a call, then runs it on a blocking thread.
    async fn off_workers<T, F>(
        self: &Arc<Self>,
        call: impl FnOnce(Arc<Self>) -> F + Send + 'static,
    ) -> Result<T, ApiError>
    where
        F: std::future::Future<Output = Result<T, ApiError>>,
        T: Send + 'static,
    {
        let permit = self.admit().await?;
        self.on_blocking_thread(permit, call).await
    }

    /// Runs an admitted call on a blocking thread. The permit moves into the
    /// call: it is released when the guest is done, even if the client has
    /// gone away meanwhile.
    async fn on_blocking_thread<T, F>(
        self: &Arc<Self>,
        permit: OwnedSemaphorePermit,
        call: impl FnOnce(Arc<Self>) -> F + Send + 'static,
    ) -> Result<T, ApiError>
    where
        F: std::future::Future<Output = Result<T, ApiError>>,
        T: Send + 'static,
    {
        let this = Arc::clone(self);
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            handle.block_on(call(this))
        })
        .await
        .map_err(|e| ApiError::internal(format!("backbone call did not complete: {e}")))?
    }

    async fn generate_here(&self, request: wit::GenerateRequest) -> Result<MotionResult, ApiError> {
        let mut live = self.borrow().await?;
        let outcome = live.generate(&request, &self.limits).await;
        self.give_back(live, outcome)?
    }

    /// Whether the backbone runs a batch body's items for it in one call.
    pub fn has_batch_hook(&self) -> bool {
        self.batch.is_some()
    }

    /// Runs `requests` (one batch body's valid items for this model) through
    /// the backbone's batch hook on one instance, under one admission: one
    /// answer per request, or the error every item of the group gets (the
    /// call trapped, or returned the wrong number of results).
    pub async fn generate_batch(
        self: &Arc<Self>,
        requests: Vec<wit::GenerateRequest>,
    ) -> Result<Vec<Result<MotionResult, ApiError>>, ApiError> {
        self.off_workers(move |this| async move {
            let asked = requests.len();
            let mut live = this.borrow().await?;
            let outcome = live.generate_batch(requests, &this.limits).await;
            match this.give_back(live, outcome)? {
                Some(results) if results.len() == asked => Ok(results),
                answer => Err(ApiError::internal(format!(
                    "generate_batch returned {} results for {asked} requests",
                    answer.map_or(0, |r| r.len())
                ))),
            }
        })
        .await
    }

    /// The instances ready to serve. A poisoned lock is taken anyway: a
    /// push or pop never leaves the list half-changed.
    fn pool(&self) -> std::sync::MutexGuard<'_, Vec<Live>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An idle instance, or a fresh one.
    async fn borrow(&self) -> Result<Live, ApiError> {
        let idle = self.pool().pop();
        match idle {
            Some(live) => Ok(live),
            None => self.fresh().await,
        }
    }

    /// Returns an instance whose call returned to the pool; one that
    /// trapped is dropped.
    fn give_back<T>(&self, live: Live, outcome: Outcome<T>) -> Result<T, ApiError> {
        match outcome {
            Outcome::Done(answer) => {
                self.pool().push(live);
                Ok(answer)
            }
            Outcome::Broken(error) => {
                tracing::error!(model = %self.id, error = %error.message, "backbone instance failed; dropping it");
                Err(error)
            }
        }
    }

    /// A new instance with `setup` run; the model is unavailable while that fails.
    async fn fresh(&self) -> Result<Live, ApiError> {
        let mut live = Live::start(
            &self.pre,
            self.batch.as_ref(),
            &self.limits,
            self.gpu.as_ref(),
        )
        .await
        .map_err(|e| unavailable(&self.id, &e))?;
        live.setup(&self.limits)
            .await
            .map_err(|e| unavailable(&self.id, &e.message))?;
        Ok(live)
    }

    /// Calls `teardown` on every idle instance; failures are logged, never fatal.
    pub async fn teardown(&self) {
        let instances = std::mem::take(&mut *self.pool());
        let count = instances.len();
        for mut live in instances {
            live.teardown(&self.limits).await;
        }
        // With "model ready" at load, the log shows the lifecycle order.
        tracing::info!(model = %self.id, instances = count, "model torn down");
    }
}

fn unavailable(model: &str, why: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(
        ErrorCode::ModelUnavailable,
        format!("model {model} could not be restarted after a failure: {why:#}"),
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
