//! The flags every command that runs a model shares (`serve`, `generate`,
//! `capabilities`), and loading models under them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use motionmcp_host::capabilities::check_spec;
use motionmcp_host::gpu::GpuChoice;
use motionmcp_host::runtime::{Backbone, ComponentCache, Limits, Origin, Runtime};

use super::oci::{self, OciArgs};

/// What running a model needs, whether served or run once.
#[derive(clap::Args)]
pub struct RunArgs {
    /// Directory for compiled components [default: $XDG_CACHE_HOME/motionmcp-host]
    #[arg(long, value_name = "DIR", env = "MOTIONMCP_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Compile every component afresh and keep nothing on disk.
    #[arg(long, conflicts_with = "cache_dir")]
    pub no_cache: bool,

    /// Wall-clock limit of one generate call, in seconds; past it the client gets 504 timeout
    #[arg(long, value_name = "SECONDS", default_value_t = 120.0, value_parser = positive_seconds)]
    pub timeout: f64,

    /// Linear-memory limit of one instance, in MiB; past it the client gets 503 resource_exhausted
    #[arg(long, value_name = "MIB", default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub memory_mb: u64,

    /// Grant every backbone read-only access to DIR, mounted at /weights (the only
    /// filesystem grant; nothing else on the host is visible)
    #[arg(long, value_name = "DIR")]
    pub weights: Option<PathBuf>,

    /// GPU adapter for models that import the tensor interface (`WGPU_BACKEND`
    /// narrows `auto`); the choice is logged and shown in /health
    #[arg(long, value_enum, default_value = "auto")]
    pub gpu: GpuArg,

    /// GPU memory one model may hold (tensors, pooled buffers and weights of all its
    /// instances), in MiB; past it the request gets 503 resource_exhausted
    #[arg(long, value_name = "MIB", default_value_t = 4096, value_parser = clap::value_parser!(u64).range(1..))]
    pub gpu_memory_mb: u64,

    /// Longest estimated GPU time of one dispatch, in milliseconds (a single op cannot
    /// be stopped once queued; this bounds how long one request can hold the GPU
    /// every model shares); a longer op is refused and the request gets 503
    #[arg(long, value_name = "MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub gpu_max_dispatch_ms: u64,

    /// Largest motion result a backbone may return, in MiB; larger is 500 internal_error
    #[arg(long, value_name = "MIB", default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_result_mb: u64,

    /// How `oci://` models are pulled.
    #[command(flatten)]
    pub oci: OciArgs,
}

/// `--gpu`: which adapter GPU models get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GpuArg {
    /// The best adapter of any enabled backend (`WGPU_BACKEND` narrows it).
    Auto,
    Vulkan,
    Gl,
    /// A software adapter (Mesa's lavapipe or llvmpipe): slow, but always
    /// the same numbers and no driver to trust.
    CpuFallback,
}

impl From<GpuArg> for GpuChoice {
    fn from(arg: GpuArg) -> GpuChoice {
        match arg {
            GpuArg::Auto => GpuChoice::Auto,
            GpuArg::Vulkan => GpuChoice::Vulkan,
            GpuArg::Gl => GpuChoice::Gl,
            GpuArg::CpuFallback => GpuChoice::CpuFallback,
        }
    }
}

pub fn positive_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{s:?} is not a positive number of seconds")),
    }
}

impl RunArgs {
    /// The limits one call runs under; `instances` and `queue` are the
    /// server's (one each for a single run).
    pub fn limits(&self, instances: usize, queue: usize) -> Limits {
        Limits {
            memory_bytes: (self.memory_mb << 20) as usize,
            deadline: Duration::from_secs_f64(self.timeout),
            result_bytes: (self.max_result_mb << 20) as usize,
            instances,
            queue,
            weights: self.weights.clone(),
            gpu_memory_bytes: self.gpu_memory_mb << 20,
            gpu_max_dispatch: Duration::from_millis(self.gpu_max_dispatch_ms),
        }
    }

    /// The engine for `models` models under `limits`, with the chosen
    /// cache and adapter.
    pub fn runtime(&self, limits: Limits, models: usize) -> Result<Runtime> {
        Ok(
            Runtime::new(ComponentCache::new(self.cache()), limits, models)?
                .with_gpu(self.gpu.into()),
        )
    }

    /// The cache directory in force: compiled components, and pulled
    /// `oci://` components by digest.
    fn cache(&self) -> Option<PathBuf> {
        if self.no_cache {
            None
        } else {
            self.cache_dir.clone().or_else(ComponentCache::default_dir)
        }
    }
}

/// Loads the model `model` names (a file, or an `oci://` reference pulled
/// first), setup included, and checks its spec, logging how long each phase
/// took.
pub async fn load(run: &RunArgs, runtime: &Runtime, model: &Path) -> Result<Arc<Backbone>> {
    let file = oci::resolve(model, &run.oci, run.cache().as_deref()).await?;
    let path = model;
    let model = runtime
        .load(file.path())
        .await
        .with_context(|| format!("cannot load {}", path.display()))?;
    check_spec(&model.spec())
        .map_err(|e| anyhow::anyhow!("{} describes an invalid model: {e}", path.display()))?;
    let report = model.load_report();
    tracing::info!(
        model = %model.id(),
        component = %path.display(),
        from_cache = report.origin == Origin::Cache,
        compile_ms = report.compile.as_millis() as u64,
        instantiate_ms = report.instantiate.as_millis() as u64,
        setup_ms = report.setup.as_millis() as u64,
        "model ready"
    );
    Ok(model)
}
