//! The engine every model shares: wasmtime configured for sandboxing
//! (epoch interruption, the pooling allocator sized by the limits), the
//! linker (WASI plus the host's own interfaces), the compiled-component
//! cache, and the GPU, opened when the first model that needs it loads.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::cache::{ComponentCache, Origin};
use super::hook;
use super::instance::{GuestState, Live, Outcome};
use super::limits::{self, Limits};
use super::model::{Backbone, Parts};
use super::tensor::ModelGpu;
use crate::bindings::{BackboneWorld, BackboneWorldPre, TENSOR_INTERFACE};
use crate::gpu::weights::WeightStore;
use crate::gpu::{Gpu, GpuChoice, Quota};
use crate::metrics::Metrics;

/// One engine and linker shared by every model.
pub struct Runtime {
    engine: Engine,
    linker: Linker<GuestState>,
    cache: ComponentCache,
    limits: Limits,
    gpu_choice: GpuChoice,
    /// Opened when the first model that imports `tensor` loads.
    gpu: tokio::sync::OnceCell<Arc<Gpu>>,
    /// Where the models record what `/metrics` shows.
    metrics: Arc<Metrics>,
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
            metrics: Arc::new(Metrics::new()),
        })
    }

    /// Which adapter to open for GPU models (`serve --gpu`).
    pub fn with_gpu(mut self, choice: GpuChoice) -> Self {
        self.gpu_choice = choice;
        self
    }

    /// The metrics every model loaded by this runtime records into.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
                    gpu.warm_up();
                    tracing::info!(gpu = %gpu.describe(), pace_gflops = gpu.pace() / 1e9, "GPU opened");
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
        let (component, origin, digest) = self.compile(path).await?;
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
        let (mut live, spec, batch_hook, instantiated, setup) = {
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
                        .map_err(|e| anyhow!("setup of {shown} failed: {e}"))?;
                    let spec = live
                        .capabilities(&limits)
                        .await
                        .map_err(|e| anyhow!("capabilities of {shown} failed: {e}"))?;
                    // Asked once: an SDK component without a hook says `none`.
                    let batch_hook = match live.generate_batch(Vec::new(), &limits).await {
                        Outcome::Done(answer) => answer.is_some(),
                        Outcome::Broken(e) => {
                            return Err(anyhow!("{shown}'s generate-batch failed: {e}"))
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
        // Ids are known once `setup` has run and the spec is read.
        let metrics = self.metrics.model(&spec.id, &digest);
        live.count(metrics.instance_started());
        Ok(Arc::new(Backbone::new(Parts {
            pre,
            batch: batch.filter(|_| batch_hook),
            gpu,
            spec,
            first: live,
            limits,
            metrics,
            digest,
            report: LoadReport {
                origin,
                compile: compiled,
                instantiate: instantiated,
                setup,
            },
        })))
    }

    /// The component's native code, compiled or from the cache. Compilation
    /// takes seconds of CPU: it runs off the async workers.
    async fn compile(&self, path: &Path) -> Result<(Component, Origin, String)> {
        let engine = self.engine.clone();
        let cache = self.cache.clone();
        let owned = path.to_owned();
        tokio::task::spawn_blocking(move || cache.load(&engine, &owned)).await?
    }

    /// What the component at `path` imports and exports, by name, as the
    /// host sees them: for deciding whether to trust a model before serving it.
    pub async fn interface(&self, path: &Path) -> Result<ComponentInterface> {
        let (component, _, _) = self.compile(path).await?;
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
