//! Tensors as the host holds them: a GPU buffer (shared by reshapes and by
//! the weights cache), a shape and an element type. Always contiguous and
//! row-major; ops that change the layout copy.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Element type. The 32-bit types take a word per element; the 16-bit
/// float types are storage formats packed two to a word (element 2i in the
/// low half), the layout a little-endian `f16`/`bf16` array has on disk, so
/// weights upload unchanged. Kernels widen them to f32 as they load, which
/// needs no adapter feature (`unpack2x16float` is core WGSL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    F32,
    I32,
    U32,
    F16,
    BF16,
}

impl DType {
    /// The code the WGSL kernels use.
    pub(crate) fn code(self) -> u32 {
        match self {
            DType::F32 => 0,
            DType::I32 => 1,
            DType::U32 => 2,
            DType::F16 => 3,
            DType::BF16 => 4,
        }
    }

    /// A 16-bit float storage type.
    pub fn is_half(self) -> bool {
        matches!(self, DType::F16 | DType::BF16)
    }

    /// Bytes `numel` elements take, before any rounding up to a buffer size.
    pub fn storage_bytes(self, numel: u64) -> u64 {
        if self.is_half() {
            numel.div_ceil(2) * 4
        } else {
            numel * 4
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::I32 => "i32",
            DType::U32 => "u32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
        })
    }
}

/// Why an op was refused (the WIT `tensor-error`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TensorError {
    Shape(String),
    DType(String),
    InvalidArgument(String),
    OutOfMemory(String),
    NotFound(String),
    Device(String),
    /// The GPU work did not finish within the request's deadline. Never
    /// shown to a guest: the call traps and the request ends with `504`.
    Deadline(String),
}

impl fmt::Display for TensorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, msg) = match self {
            TensorError::Shape(m) => ("shape", m),
            TensorError::DType(m) => ("dtype", m),
            TensorError::InvalidArgument(m) => ("invalid argument", m),
            TensorError::OutOfMemory(m) => ("out of memory", m),
            TensorError::NotFound(m) => ("not found", m),
            TensorError::Device(m) => ("device", m),
            TensorError::Deadline(m) => ("deadline", m),
        };
        write!(f, "{kind}: {msg}")
    }
}

impl std::error::Error for TensorError {}

/// A model's GPU memory budget, shared by its instances and its weights.
#[derive(Debug)]
pub struct Quota {
    limit: u64,
    used: AtomicU64,
    /// Set when a charge was refused, so a request that then fails in some
    /// other way is still reported as out of memory.
    refused: AtomicBool,
}

impl Quota {
    pub fn new(limit: u64) -> Arc<Quota> {
        Arc::new(Quota {
            limit,
            used: AtomicU64::new(0),
            refused: AtomicBool::new(false),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::SeqCst)
    }

    /// Takes `bytes` from the budget, or says how far over it would go
    /// (and remembers the refusal).
    pub(crate) fn charge(&self, bytes: u64) -> Result<(), TensorError> {
        self.try_charge(bytes).inspect_err(|_| {
            self.refused.store(true, Ordering::SeqCst);
        })
    }

    /// As [`Quota::charge`], without remembering a refusal.
    pub(crate) fn try_charge(&self, bytes: u64) -> Result<(), TensorError> {
        let mut used = self.used.load(Ordering::SeqCst);
        loop {
            let next = used.saturating_add(bytes);
            if next > self.limit {
                return Err(TensorError::OutOfMemory(format!(
                    "{bytes} more bytes would exceed the model's GPU memory quota of {} MiB ({} bytes in use)",
                    self.limit >> 20,
                    used
                )));
            }
            match self
                .used
                .compare_exchange(used, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ok(()),
                Err(now) => used = now,
            }
        }
    }

    fn release(&self, bytes: u64) {
        self.used.fetch_sub(bytes, Ordering::SeqCst);
    }

    /// Whether a charge was refused since the last call.
    pub fn take_refused(&self) -> bool {
        self.refused.swap(false, Ordering::SeqCst)
    }
}

/// A GPU buffer charged to a quota for as long as it lives.
#[derive(Debug)]
pub(crate) struct GpuBuffer {
    pub buffer: wgpu::Buffer,
    pub bytes: u64,
    quota: Arc<Quota>,
}

impl GpuBuffer {
    pub fn new(buffer: wgpu::Buffer, bytes: u64, quota: Arc<Quota>) -> GpuBuffer {
        GpuBuffer {
            buffer,
            bytes,
            quota,
        }
    }
}

impl Drop for GpuBuffer {
    fn drop(&mut self) {
        self.quota.release(self.bytes);
    }
}

/// A tensor in GPU memory.
#[derive(Debug, Clone)]
pub struct Tensor {
    pub(crate) buf: Arc<GpuBuffer>,
    shape: Vec<usize>,
    dtype: DType,
}

impl Tensor {
    pub(crate) fn new(buf: Arc<GpuBuffer>, shape: Vec<usize>, dtype: DType) -> Tensor {
        Tensor { buf, shape, dtype }
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Elements (1 for a scalar, shape []).
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub(crate) fn buffer(&self) -> &wgpu::Buffer {
        &self.buf.buffer
    }

    /// The same data under another shape (same element count).
    pub(crate) fn with_shape(&self, shape: Vec<usize>) -> Tensor {
        Tensor {
            buf: Arc::clone(&self.buf),
            shape,
            dtype: self.dtype,
        }
    }

    pub(crate) fn require(&self, dtype: DType, what: &str) -> Result<(), TensorError> {
        if self.dtype != dtype {
            // Half tensors are storage: arithmetic other than matmul/linear
            // runs in f32, and saying so saves a trip to the docs.
            let hint = if self.dtype.is_half() && dtype == DType::F32 {
                "; cast it to f32 first"
            } else {
                ""
            };
            return Err(TensorError::DType(format!(
                "{what} takes {dtype} tensors, got {} {:?}{hint}",
                self.dtype, self.shape
            )));
        }
        Ok(())
    }

    /// Refuses half storage where an op reads the tensor's words as they
    /// are (conditions, masks, indices).
    pub(crate) fn not_half(&self, what: &str) -> Result<(), TensorError> {
        if self.dtype.is_half() {
            return Err(TensorError::DType(format!(
                "{what} takes f32, i32 or u32 tensors, got {} {:?}; cast it first",
                self.dtype, self.shape
            )));
        }
        Ok(())
    }

    /// Bytes of the tensor's data (without the buffer's rounding up).
    pub(crate) fn data_bytes(&self) -> u64 {
        self.dtype.storage_bytes(self.numel() as u64)
    }
}
