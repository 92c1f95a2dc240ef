//! The GPU behind the WIT `tensor` interface: one wgpu device shared by
//! every model, WGSL kernels from `shaders/` compiled once each, and per
//! instance [`Session`]s that record ops into one command stream.
//!
//! Guests never reach wgpu: they hold handles to [`Tensor`]s and every op
//! is checked here (shapes, dtypes, sizes, quota) before anything is
//! recorded, so a guest's mistake is a [`TensorError`], never a wgpu
//! validation panic.

mod kernels;
mod ops;
pub mod reference;
mod session;
mod shape;
mod tensor;
pub mod weights;

use std::sync::Arc;

use anyhow::{anyhow, Result};
use serde_json::{json, Value};

pub use kernels::Kernel;
pub use ops::{BinaryOp, ReduceOp, UnaryOp};
pub use session::Session;
pub use tensor::{DType, Quota, Tensor, TensorError};

/// Which adapter `serve --gpu` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GpuChoice {
    /// The best adapter of any enabled backend (`WGPU_BACKEND` narrows it).
    Auto,
    Vulkan,
    Gl,
    /// A software adapter (Mesa's lavapipe or llvmpipe): slow, but always
    /// the same numbers and no driver to trust.
    CpuFallback,
}

/// The device, its queue and compiled kernels.
pub struct Gpu {
    pub(crate) device: wgpu::Device,
    pub(crate) queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    limits: wgpu::Limits,
    kernels: kernels::Kernels,
    /// The last validation error wgpu reported, for the next caller to see.
    error: Arc<std::sync::Mutex<Option<String>>>,
}

impl Gpu {
    /// Opens an adapter as `choice` asks. Blocking: call off async workers.
    pub fn open(choice: GpuChoice) -> Result<Arc<Gpu>> {
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
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("motionmcp"),
            required_features: wgpu::Features::empty(),
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
        let kernels = kernels::Kernels::new(&device);
        Ok(Arc::new(Gpu {
            device,
            queue,
            info,
            limits,
            kernels,
            error,
        }))
    }

    /// What was chosen, for the log and `/health`.
    pub fn describe(&self) -> Value {
        json!({
            "adapter": self.info.name,
            "backend": self.info.backend.to_string(),
            "device_type": format!("{:?}", self.info.device_type),
            "driver": format!("{} {}", self.info.driver, self.info.driver_info).trim().to_string(),
        })
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
    /// software adapter).
    pub fn warm_up(&self) {
        for kernel in Kernel::ALL {
            self.kernels.pipeline(&self.device, *kernel);
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
