//! The GPU behind motionmcp-host's WIT `tensor` interface: one wgpu device
//! shared by every model, WGSL kernels from `shaders/` compiled once each,
//! and per instance [`Session`]s that record ops into one command stream.
//!
//! A crate of its own so that GPU tests and benches build without wasmtime,
//! and so that its API is plain Rust (no CLI or JSON types): the host maps
//! its flags onto [`GpuChoice`] and writes [`AdapterInfo`] as it likes. The
//! CPU reference the kernels are checked against is behind the `reference`
//! feature.
//!
//! Guests never reach wgpu: they hold handles to [`Tensor`]s and every op
//! is checked here (shapes, dtypes, sizes, quota) before anything is
//! recorded, so a guest's mistake is a [`TensorError`], never a wgpu
//! validation panic.

mod kernels;
mod ops;
mod poller;
#[cfg(feature = "reference")]
pub mod reference;
mod session;
mod shape;
mod tensor;
pub mod weights;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Result};

pub use kernels::Kernel;
pub use ops::{Activation, BinaryOp, MatmulKernel, ReduceOp, UnaryOp};
pub use session::Session;
pub use tensor::{DType, Quota, Tensor, TensorError};

/// Which adapter to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GpuChoice {
    /// The best adapter of any enabled backend (`WGPU_BACKEND` narrows it).
    Auto,
    Vulkan,
    Gl,
    /// A software adapter (Mesa's lavapipe or llvmpipe): slow, but always
    /// the same numbers and no driver to trust.
    CpuFallback,
}

/// How to use the adapter once chosen. `Default` uses everything that
/// helps; tests and benches turn features off to check and time the
/// fallbacks on an adapter that has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GpuOptions {
    /// Reduce rows with subgroup operations where the adapter offers them
    /// (`Features::SUBGROUP`); otherwise, or when false, through workgroup
    /// memory alone.
    pub subgroups: bool,
}

impl Default for GpuOptions {
    fn default() -> GpuOptions {
        GpuOptions { subgroups: true }
    }
}

/// The device, its queue and compiled kernels.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    /// The adapter's subgroup sizes (least, most) when the kernels use
    /// subgroup operations.
    subgroups: Option<(u32, u32)>,
    kernels: kernels::Kernels,
    /// The last validation error wgpu reported, for the next caller to see.
    error: Arc<std::sync::Mutex<Option<String>>>,
    /// Callbacks the poller thread has still to see called.
    pending: Arc<poller::Pending>,
    /// Estimated operations per second (f64 bits), see [`Gpu::pace`].
    pace: AtomicU64,
    /// Bytes between two dispatches' parameters in a session's uniform
    /// ring: 256, or the adapter's uniform offset alignment if larger.
    pub(crate) uniform_slot: usize,
}

/// The pace assumed before [`Gpu::calibrate`] has measured one: about
/// what a software adapter reaches, so estimates err on the slow side.
const DEFAULT_PACE: f64 = 1e9;

impl Gpu {
    /// Opens an adapter as `choice` asks, with [`GpuOptions::default`].
    /// Blocking: call off async workers.
    pub fn open(choice: GpuChoice) -> Result<Arc<Gpu>> {
        Gpu::open_with(choice, GpuOptions::default())
    }

    /// Opens an adapter as `choice` asks, using what `wanted` allows of
    /// it. Blocking: call off async workers.
    pub fn open_with(choice: GpuChoice, wanted: GpuOptions) -> Result<Arc<Gpu>> {
        let backends = match choice {
            GpuChoice::Auto => {
                wgpu::Backends::from_env().unwrap_or(wgpu::Backends::VULKAN | wgpu::Backends::GL)
            }
            GpuChoice::Vulkan => wgpu::Backends::VULKAN,
            GpuChoice::Gl => wgpu::Backends::GL,
            GpuChoice::CpuFallback => wgpu::Backends::VULKAN | wgpu::Backends::GL,
        };
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let options = wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            force_fallback_adapter: choice == GpuChoice::CpuFallback,
            compatible_surface: None,
            apply_limit_buckets: false,
        };
        let adapter = block_on(instance.request_adapter(&options))
            .map_err(|e| anyhow!("no GPU adapter for --gpu {choice:?} ({backends:?}): {e}"))?;
        let info = adapter.get_info();
        // Everything the adapter offers: large weight matrices need more than
        // WebGPU's default 128 MiB bindings.
        let mut limits = adapter.limits();
        limits.max_storage_buffers_per_shader_stage =
            limits.max_storage_buffers_per_shader_stage.max(6);
        // The subgroup kernels hold one partial per subgroup in an array of
        // 256 (one per invocation), so any subgroup size fits; the sizes are
        // kept only to be reported.
        let subgroups = (wanted.subgroups && adapter.features().contains(wgpu::Features::SUBGROUP))
            .then_some((info.subgroup_min_size, info.subgroup_max_size));
        let required_features = match subgroups {
            Some(_) => wgpu::Features::SUBGROUP,
            None => wgpu::Features::empty(),
        };
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("motionmcp"),
            required_features,
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| anyhow!("cannot open {}: {e}", info.name))?;
        // Every op is checked before it is recorded; if wgpu still objects,
        // that is our bug, and it must not take the server down.
        let error = Arc::new(std::sync::Mutex::new(None));
        let sink = Arc::clone(&error);
        device.on_uncaptured_error(Arc::new(move |e| {
            tracing::error!(error = %e, "GPU validation error");
            *sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
        }));
        let kernels = kernels::Kernels::new(&device, subgroups.is_some());
        let pending = poller::start(&device)?;
        let uniform_slot = (limits.min_uniform_buffer_offset_alignment as usize).max(256);
        Ok(Arc::new(Gpu {
            device,
            queue,
            info,
            limits,
            subgroups,
            kernels,
            error,
            pending,
            pace: AtomicU64::new(DEFAULT_PACE.to_bits()),
            uniform_slot,
        }))
    }

    /// What was chosen, for the log and `/health`.
    pub fn describe(&self) -> AdapterInfo {
        AdapterInfo {
            adapter: self.info.name.clone(),
            backend: self.info.backend.to_string(),
            device_type: format!("{:?}", self.info.device_type),
            driver: format!("{} {}", self.info.driver, self.info.driver_info)
                .trim()
                .to_string(),
            subgroups: self.subgroups,
        }
    }

    /// Largest tensor, in bytes, one binding can hold on this device.
    pub fn max_tensor_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// The validation error wgpu reported since the last call, if any.
    pub fn take_error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Compiles every kernel now rather than on first use (seconds on a
    /// software adapter), then measures the adapter's pace.
    pub fn warm_up(self: &Arc<Self>) {
        for kernel in Kernel::ALL {
            self.kernels.pipeline(&self.device, *kernel);
        }
        self.calibrate();
    }

    /// Operations per second this adapter was measured to reach on a
    /// matmul: what the session's work estimates are divided by to size its
    /// submissions and to refuse a dispatch that would outlast its deadline.
    /// Measured on 256³ matmuls, which a fast GPU runs below its peak: the
    /// pace errs low, so time estimates err long (a cap refuses a little
    /// early, and chunks hold a little less work than they could).
    pub fn pace(&self) -> f64 {
        f64::from_bits(self.pace.load(Ordering::Relaxed))
    }

    /// Times rounds of 256x256 matmuls, more of them per round until a
    /// round takes long enough (20 ms) that the submit and wait around it
    /// do not count; keeps the best of the last size's three rounds. Bounded
    /// by a deadline, so a hung adapter cannot hold the start.
    fn calibrate(self: &Arc<Self>) {
        const N: usize = 256;
        const LONG_ENOUGH: f64 = 0.02;
        const MOST: usize = 4096;
        let mut session = Session::new(Arc::clone(self), Quota::new(16 << 20));
        session.set_deadline(Some(Instant::now() + std::time::Duration::from_secs(60)));
        let measured = (|| -> Result<f64, TensorError> {
            let a = session.full(&[N, N], 0.5)?;
            let mut count = 1;
            loop {
                let mut best = f64::MAX;
                for _ in 0..3 {
                    let started = Instant::now();
                    for _ in 0..count {
                        let c = session.matmul(&a, &a)?;
                        session.release(c);
                    }
                    session.finish()?;
                    best = best.min(started.elapsed().as_secs_f64());
                }
                if best >= LONG_ENOUGH || count >= MOST {
                    return Ok(2.0 * (N * N * N * count) as f64 / best.max(1e-6));
                }
                count *= 8;
            }
        })();
        match measured {
            Ok(pace) => {
                self.pace.store(pace.to_bits(), Ordering::Relaxed);
                tracing::info!(gflops = pace / 1e9, "GPU pace measured");
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot measure the GPU's pace; assuming a slow one")
            }
        }
    }
}

/// The adapter a [`Gpu`] runs on, in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterInfo {
    /// The adapter's name ("NVIDIA H200", "llvmpipe (LLVM 19.1.7, 256 bits)").
    pub adapter: String,
    /// "vulkan", "gl", ...
    pub backend: String,
    /// "DiscreteGpu", "Cpu", ...
    pub device_type: String,
    /// Driver name and version.
    pub driver: String,
    /// The adapter's subgroup sizes (least, most) when the row kernels
    /// reduce with subgroup operations; `None` when they reduce through
    /// workgroup memory alone (no `Features::SUBGROUP`, or turned off in
    /// [`GpuOptions`]).
    pub subgroups: Option<(u32, u32)>,
}

impl AdapterInfo {
    /// A software adapter (lavapipe, llvmpipe): correct, not fast.
    pub fn is_software(&self) -> bool {
        self.device_type == "Cpu"
    }
}

impl std::fmt::Display for AdapterInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({}, {}, {}; ",
            self.adapter, self.backend, self.device_type, self.driver
        )?;
        match self.subgroups {
            Some((least, most)) if least == most => write!(f, "subgroups of {least})"),
            Some((least, most)) => write!(f, "subgroups of {least}-{most})"),
            None => write!(f, "no subgroups)"),
        }
    }
}

/// wgpu's native futures resolve without an executor driving I/O; this
/// polls one to completion on the calling (blocking) thread.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}
