//! One instance's view of the GPU: its command stream, its buffer pool and
//! its quota.
//!
//! Ops are recorded into one command encoder and submitted together, every
//! [`BATCH`] dispatches, every [`CHUNK`] of estimated GPU time, or when data
//! is read back, so a sampling loop costs one GPU-to-CPU synchronisation per
//! `to-list`. At most two chunks are in flight: submitting a third waits
//! (under the deadline) for the oldest, so a guest that records forever
//! cannot queue unbounded work, and what a timed-out request leaves queued
//! is at most two chunks (each dispatch in them capped by
//! [`Session::set_max_dispatch`]) ahead of every other model's work.
//!
//! Recording is cheap: each dispatch's parameters go into a slot of a
//! uniform ring (one `write_buffer` per batch, dynamic offsets), bind
//! groups are made once per set of buffers and reused, and a batch is one
//! compute pass.
//!
//! Freed buffers are kept for reuse, but only once the batch that last used
//! them has been submitted: reuse is then ordered after every earlier use
//! on the one queue. The pool is per session because another session's
//! commands are not ordered with this one's until submitted.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::kernels::Kernel;
use super::poller::{Awaited, Missed};
use super::tensor::{DType, GpuBuffer, Quota, Tensor, TensorError};
use super::Gpu;

/// Dispatches recorded before a batch is submitted.
const BATCH: usize = 256;

/// Batches a session may have submitted and not finished: one runs while
/// the next waits its turn and a third is recorded, so the GPU does not
/// idle between batches, and a timed-out request leaves at most this many
/// queued.
const IN_FLIGHT: usize = 2;

/// Estimated GPU time recorded before a batch is submitted: long enough
/// that submitting costs nothing next to it, short enough that a batch
/// queued for a request that has timed out delays others by little.
pub const CHUNK: Duration = Duration::from_millis(25);

/// Buffer sizes are rounded up to this, so that similar shapes share.
const GRANULE: u64 = 256;

/// Most bind groups a session keeps for reuse. Each holds its buffers
/// alive, so the cache is bounded and emptied after every request.
const BIND_GROUPS: usize = 2048;

/// A bind group's identity: the kernel, the uniform ring it reads its
/// parameters from, and its buffers (inputs, dummies, output) in order.
#[derive(PartialEq, Eq, Hash)]
struct BindKey {
    kernel: Kernel,
    ring: usize,
    buffers: Vec<wgpu::Buffer>,
}

pub struct Session {
    gpu: Arc<Gpu>,
    quota: Arc<Quota>,
    /// The batch's one compute pass, open while dispatches are recorded
    /// (declared before the encoder: a pass must end before its encoder).
    pass: Option<wgpu::ComputePass<'static>>,
    encoder: Option<wgpu::CommandEncoder>,
    /// Uniform buffers of [`BATCH`] parameter slots each, used in turn by
    /// successive batches: with at most [`IN_FLIGHT`] batches in flight, a
    /// ring is rewritten only once the batch that used it last is done.
    rings: [wgpu::Buffer; IN_FLIGHT + 1],
    ring: usize,
    /// The parameters of the batch being recorded, one slot per dispatch,
    /// written to its ring when the batch is submitted.
    staged: Vec<u8>,
    bind_groups: HashMap<BindKey, wgpu::BindGroup>,
    recorded: usize,
    /// Estimated work recorded since the last submit (see [`Gpu::pace`]).
    recorded_work: f64,
    /// Submitted batches not yet known to be done, oldest first.
    in_flight: VecDeque<Awaited<()>>,
    /// Longest estimated time one dispatch may take (`None`: no cap).
    max_dispatch: Option<Duration>,
    free: HashMap<u64, Vec<GpuBuffer>>,
    retired: Vec<GpuBuffer>,
    deadline: Option<Instant>,
    /// Bound where a kernel declares an input the op does not use.
    dummy: wgpu::Buffer,
    /// The matmul kernel `matmul` and `linear` run (`Auto` by default).
    pub(crate) matmul_kernel: crate::MatmulKernel,
}

impl Session {
    pub fn new(gpu: Arc<Gpu>, quota: Arc<Quota>) -> Session {
        let dummy = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("unused input"),
            size: 16,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        let ring = || {
            gpu.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("parameters"),
                size: (BATCH * gpu.uniform_slot) as u64,
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let rings = [ring(), ring(), ring()];
        Session {
            gpu,
            quota,
            pass: None,
            encoder: None,
            rings,
            ring: 0,
            staged: Vec::new(),
            bind_groups: HashMap::new(),
            recorded: 0,
            recorded_work: 0.0,
            in_flight: VecDeque::new(),
            max_dispatch: None,
            free: HashMap::new(),
            retired: Vec::new(),
            deadline: None,
            dummy,
            matmul_kernel: crate::MatmulKernel::Auto,
        }
    }

    pub fn gpu(&self) -> &Arc<Gpu> {
        &self.gpu
    }

    pub fn quota(&self) -> &Arc<Quota> {
        &self.quota
    }

    /// Waits for GPU work give up at `deadline` (`None`: wait for ever), and
    /// an op whose estimated time runs far past it is refused up front.
    pub fn set_deadline(&mut self, deadline: Option<Instant>) {
        self.deadline = deadline;
    }

    /// Refuses a single dispatch estimated to take longer than `most` on
    /// this adapter (`None`: no cap). One dispatch cannot be split or
    /// stopped once queued, so this bounds how long any request's work can
    /// hold the queue that every model shares.
    pub fn set_max_dispatch(&mut self, most: Option<Duration>) {
        self.max_dispatch = most;
    }

    /// Frees the pooled and retired buffers (their GPU memory goes back to
    /// the quota); called after each request, so memory returns once it is
    /// done. Work still recorded is submitted first (a guest may keep
    /// tensors it computed for its next call); wgpu keeps a buffer that
    /// queued work still uses alive until that work is done.
    pub fn trim(&mut self) {
        if self.encoder.is_some() {
            if let Err(e) = self.submit() {
                tracing::debug!(error = %e, "submitting before a trim");
            }
        }
        self.retired.clear();
        self.free.clear();
        // Cached bind groups hold their buffers: freed with them.
        self.bind_groups.clear();
    }

    /// A tensor to be written by a kernel, from the pool when one fits.
    pub(crate) fn alloc(&mut self, shape: Vec<usize>, dtype: DType) -> Result<Tensor, TensorError> {
        let bytes = self.bytes_for(&shape, dtype)?;
        let class = granule(bytes);
        if let Some(buf) = self.free.get_mut(&class).and_then(Vec::pop) {
            return Ok(Tensor::new(Arc::new(buf), shape, dtype));
        }
        self.charge(class)?;
        let buffer = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size: class,
            usage: storage_usage(),
            mapped_at_creation: false,
        });
        let buf = GpuBuffer::new(buffer, class, Arc::clone(&self.quota));
        Ok(Tensor::new(Arc::new(buf), shape, dtype))
    }

    /// A tensor holding `data` (row-major, 4 bytes per element: the guest's
    /// lists; half tensors come from casts and weights).
    pub(crate) fn upload(
        &mut self,
        data: &[u8],
        shape: Vec<usize>,
        dtype: DType,
    ) -> Result<Tensor, TensorError> {
        let bytes = self.bytes_for(&shape, dtype)?;
        if data.len() as u64 != shape.iter().product::<usize>() as u64 * 4 {
            return Err(TensorError::Shape(format!(
                "{} values do not fill shape {shape:?} ({} elements)",
                data.len() / 4,
                shape.iter().product::<usize>()
            )));
        }
        let size = granule(bytes);
        self.charge(size)?;
        let buf = upload_buffer(&self.gpu, &self.quota, data, size)?;
        Ok(Tensor::new(Arc::new(buf), shape, dtype))
    }

    /// Takes `bytes` from the quota; pooled buffers count against it, so
    /// they are given back before refusing.
    fn charge(&mut self, bytes: u64) -> Result<(), TensorError> {
        if self.quota.try_charge(bytes).is_err() {
            self.trim();
            self.quota.charge(bytes)?;
        }
        Ok(())
    }

    /// Hands a tensor back; its buffer is reused once no handle remains.
    pub fn release(&mut self, tensor: Tensor) {
        if let Ok(buf) = Arc::try_unwrap(tensor.buf) {
            self.retired.push(buf);
        }
    }

    /// Bytes a tensor of `shape` takes, or why it cannot exist here.
    fn bytes_for(&self, shape: &[usize], dtype: DType) -> Result<u64, TensorError> {
        let numel = shape
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
            .filter(|&n| n < u32::MAX as u64)
            .ok_or_else(|| {
                TensorError::Shape(format!(
                    "shape {shape:?} has too many elements (2^32 at most)"
                ))
            })?;
        let bytes = dtype.storage_bytes(numel).max(4);
        if bytes > self.gpu.max_tensor_bytes() {
            return Err(TensorError::OutOfMemory(format!(
                "a {shape:?} tensor takes {bytes} bytes; this GPU binds {} at most",
                self.gpu.max_tensor_bytes()
            )));
        }
        Ok(bytes)
    }

    /// Records one kernel launch. `inputs` may be fewer than the kernel
    /// declares (the rest are bound to a dummy); `groups` are workgroups.
    /// Its work is estimated as the words it reads and writes.
    pub(crate) fn dispatch(
        &mut self,
        kernel: Kernel,
        params: &[u8],
        inputs: &[&wgpu::Buffer],
        output: &wgpu::Buffer,
        groups: [u32; 3],
    ) -> Result<(), TensorError> {
        let words = inputs.iter().map(|b| b.size()).sum::<u64>() + output.size();
        self.dispatch_work(kernel, params, inputs, output, groups, words as f64 / 4.0)
    }

    /// [`Session::dispatch`] for a kernel whose work is `work` operations
    /// (a matmul's or attention's multiply-adds, counted twice).
    pub(crate) fn dispatch_work(
        &mut self,
        kernel: Kernel,
        params: &[u8],
        inputs: &[&wgpu::Buffer],
        output: &wgpu::Buffer,
        groups: [u32; 3],
        work: f64,
    ) -> Result<(), TensorError> {
        if groups.contains(&0) {
            return Ok(());
        }
        self.affordable(kernel, work)?;
        let slot = self.gpu.uniform_slot;
        assert!(params.len() <= slot, "{kernel:?} parameters exceed a slot");
        let offset = self.staged.len();
        self.staged.extend_from_slice(params);
        self.staged.resize(offset + slot, 0);
        let bind_group = self.bind_group(kernel, inputs, output);
        // An Arc clone of the GPU keeps the pipeline borrowed apart from self.
        let gpu = Arc::clone(&self.gpu);
        let pipeline = gpu.kernels.pipeline(&gpu.device, kernel);
        let pass = self.pass();
        pass.set_pipeline(&pipeline.pipeline);
        pass.set_bind_group(0, &bind_group, &[offset as u32]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        self.recorded += 1;
        self.recorded_work += work;
        if self.recorded >= BATCH || self.recorded_work >= self.gpu.pace() * CHUNK.as_secs_f64() {
            self.submit()?;
        }
        Ok(())
    }

    /// Refuses a dispatch this adapter would still be running well past the
    /// request's deadline, or longer than the one-dispatch cap, before it
    /// is queued (once queued it cannot be taken back).
    fn affordable(&self, kernel: Kernel, work: f64) -> Result<(), TensorError> {
        let estimate = Duration::from_secs_f64((work / self.gpu.pace()).min(1e9));
        if let Some(most) = self.max_dispatch {
            if estimate > most {
                return Err(TensorError::OutOfMemory(format!(
                    "one {kernel:?} dispatch of {work:.3e} operations would take about {:.1}s on this adapter; one dispatch may take {:.1}s (--gpu-max-dispatch-ms): split the op",
                    estimate.as_secs_f64(),
                    most.as_secs_f64()
                )));
            }
        }
        if let Some(deadline) = self.deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            // Twice the time left: the estimate is rough, and refusing work
            // that would have finished is worse than a late 504.
            if estimate > left * 2 + CHUNK {
                return Err(TensorError::Deadline(format!(
                    "one {kernel:?} dispatch of {work:.3e} operations would take about {:.1}s on this adapter; the request has {:.1}s left",
                    estimate.as_secs_f64(),
                    left.as_secs_f64()
                )));
            }
        }
        Ok(())
    }

    /// The bind group of `kernel` over these buffers and the current ring:
    /// made once, then reused (a sampling loop binds the same pooled
    /// buffers step after step).
    fn bind_group(
        &mut self,
        kernel: Kernel,
        inputs: &[&wgpu::Buffer],
        output: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let declared = kernel.inputs();
        let mut buffers = Vec::with_capacity(declared + 1);
        for i in 0..declared {
            buffers.push(inputs.get(i).copied().unwrap_or(&self.dummy).clone());
        }
        buffers.push(output.clone());
        let key = BindKey {
            kernel,
            ring: self.ring,
            buffers,
        };
        if let Some(group) = self.bind_groups.get(&key) {
            return group.clone();
        }
        let pipeline = self.gpu.kernels.pipeline(&self.gpu.device, kernel);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &self.rings[self.ring],
                offset: 0,
                size: std::num::NonZeroU64::new(self.gpu.uniform_slot as u64),
            }),
        }];
        for (i, buffer) in key.buffers.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry {
                binding: 1 + i as u32,
                resource: buffer.as_entire_binding(),
            });
        }
        let group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.layout,
                entries: &entries,
            });
        if self.bind_groups.len() >= BIND_GROUPS {
            self.bind_groups.clear();
        }
        self.bind_groups.insert(key, group.clone());
        group
    }

    /// The batch's compute pass, begun on first use.
    fn pass(&mut self) -> &mut wgpu::ComputePass<'static> {
        if self.pass.is_none() {
            let pass = self
                .encoder()
                .begin_compute_pass(&wgpu::ComputePassDescriptor::default())
                .forget_lifetime();
            self.pass = Some(pass);
        }
        self.pass.as_mut().expect("just begun")
    }

    /// Records a plain buffer copy (whole tensors or parts, in bytes).
    pub(crate) fn copy(&mut self, from: &wgpu::Buffer, to: &wgpu::Buffer, bytes: u64) {
        if bytes > 0 {
            // Copies are recorded on the encoder, outside any pass.
            self.pass = None;
            self.encoder().copy_buffer_to_buffer(from, 0, to, 0, bytes);
        }
    }

    fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        self.encoder.get_or_insert_with(|| {
            self.gpu
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: None })
        })
    }

    /// Submits what was recorded, once fewer than [`IN_FLIGHT`] earlier
    /// batches are unfinished.
    pub fn submit(&mut self) -> Result<(), TensorError> {
        while self.in_flight.len() >= IN_FLIGHT {
            let oldest = self.in_flight.pop_front().expect("not empty");
            self.wait(&oldest)?;
        }
        self.pass = None;
        if let Some(encoder) = self.encoder.take() {
            if !self.staged.is_empty() {
                // Staged by the queue and copied before this submit's commands.
                self.gpu
                    .queue
                    .write_buffer(&self.rings[self.ring], 0, &self.staged);
                self.staged.clear();
            }
            self.gpu.queue.submit([encoder.finish()]);
            let (done, callback) = Awaited::new(&self.gpu.pending);
            self.gpu.queue.on_submitted_work_done(move || callback(()));
            self.in_flight.push_back(done);
            self.ring = (self.ring + 1) % self.rings.len();
        }
        self.recorded = 0;
        self.recorded_work = 0.0;
        // Everything recorded so far is now ordered before what comes next.
        for buf in self.retired.drain(..) {
            self.free.entry(buf.bytes).or_default().push(buf);
        }
        Ok(())
    }

    /// Waits for a callback until the deadline.
    fn wait<T: Send + 'static>(&self, awaited: &Awaited<T>) -> Result<T, TensorError> {
        let waited = Instant::now();
        awaited.wait(self.deadline).map_err(|missed| match missed {
            Missed::Deadline => TensorError::Deadline(format!(
                "GPU work ran past the deadline (waited {:.3}s)",
                waited.elapsed().as_secs_f64()
            )),
            Missed::Lost => TensorError::Device(match self.gpu.take_error() {
                Some(cause) => format!("the GPU dropped the work: {cause}"),
                None => "the GPU dropped the work (device lost)".into(),
            }),
        })
    }

    /// The tensor's data as raw 32-bit words (half types: two elements a
    /// word): submits and waits.
    pub fn read(&mut self, tensor: &Tensor) -> Result<Vec<u32>, TensorError> {
        let bytes = tensor.data_bytes();
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let staging = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.copy(tensor.buffer(), &staging, bytes);
        self.submit()?;
        // The map completes after the copy (and so after every batch before
        // it): it alone is waited for.
        self.in_flight.clear();
        let (mapped, callback) = Awaited::new(&self.gpu.pending);
        staging.map_async(wgpu::MapMode::Read, .., callback);
        self.wait(&mapped)?
            .map_err(|e| TensorError::Device(format!("readback failed: {e}")))?;
        let view = staging
            .get_mapped_range(..)
            .map_err(|e| TensorError::Device(format!("readback failed: {e}")))?;
        let words = bytemuck::cast_slice::<u8, u32>(&view).to_vec();
        drop(view);
        staging.unmap();
        Ok(words)
    }

    /// Float contents, half types widened (for the guest's `to-list`, tests
    /// and benches).
    pub fn read_f32(&mut self, tensor: &Tensor) -> Result<Vec<f32>, TensorError> {
        let n = tensor.numel();
        Ok(match tensor.dtype() {
            DType::F32 => self.read(tensor)?.into_iter().map(f32::from_bits).collect(),
            DType::F16 => widen(&self.read(tensor)?, n, |h| half::f16::from_bits(h).to_f32()),
            DType::BF16 => widen(&self.read(tensor)?, n, |h| {
                half::bf16::from_bits(h).to_f32()
            }),
            other => {
                return Err(TensorError::DType(format!(
                    "reading floats takes f32, f16 or bf16 tensors; this one is {other}"
                )))
            }
        })
    }

    /// Blocks until every recorded op has run.
    pub fn finish(&mut self) -> Result<(), TensorError> {
        self.submit()?;
        // The newest batch finishes after every earlier one.
        let newest = self.in_flight.pop_back();
        self.in_flight.clear();
        match newest {
            Some(done) => self.wait(&done),
            None => Ok(()),
        }
    }
}

/// The first `numel` halves of `words`, low half first.
fn widen(words: &[u32], numel: usize, to_f32: fn(u16) -> f32) -> Vec<f32> {
    words
        .iter()
        .flat_map(|&w| [w as u16, (w >> 16) as u16])
        .take(numel)
        .map(to_f32)
        .collect()
}

pub(crate) fn storage_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

/// Bytes a buffer for `bytes` of data takes.
pub(crate) fn granule(bytes: u64) -> u64 {
    bytes.max(4).div_ceil(GRANULE) * GRANULE
}

/// A new `size`-byte buffer (already charged to `quota`) initialised with
/// `data` at creation, so no queue write can overtake recorded commands.
pub(crate) fn upload_buffer(
    gpu: &Gpu,
    quota: &Arc<Quota>,
    data: &[u8],
    size: u64,
) -> Result<GpuBuffer, TensorError> {
    let buffer = gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size,
        usage: storage_usage(),
        mapped_at_creation: true,
    });
    // Charged from here on: dropping it on an error below gives the bytes back.
    let buf = GpuBuffer::new(buffer, size, Arc::clone(quota));
    {
        let mut view = buf
            .buffer
            .get_mapped_range_mut(..)
            .map_err(|e| TensorError::Device(format!("cannot map an upload buffer: {e}")))?;
        view.slice(..data.len()).copy_from_slice(data);
    }
    buf.buffer.unmap();
    Ok(buf)
}
