//! The WGSL kernels and their pipelines. Each shader file in `shaders/` is
//! one op family; each kernel is one entry point of it. Pipelines are built
//! on first use (or by [`super::Gpu::warm_up`]) and then shared.
//!
//! Every kernel has the same binding shape: 0 is a uniform block of
//! parameters, 1..=n the read-only inputs, n + 1 the output. Layouts are
//! explicit so that a kernel may leave an input unused (an absent bias).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// One WGSL entry point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Unary,
    Binary,
    Where,
    Full,
    Arange,
    Random,
    Cast,
    Matmul,
    /// matmul_vec4.wgsl with 128x128 output tiles.
    Matmul128,
    /// matmul_vec4.wgsl with 64x128 output tiles (64 rows).
    Matmul64x128,
    Reduce,
    Softmax,
    LayerNorm,
    RmsNorm,
    Copy,
    IndexSelect,
    Attention,
}

impl Kernel {
    pub const ALL: &'static [Kernel] = &[
        Kernel::Unary,
        Kernel::Binary,
        Kernel::Where,
        Kernel::Full,
        Kernel::Arange,
        Kernel::Random,
        Kernel::Cast,
        Kernel::Matmul,
        Kernel::Matmul128,
        Kernel::Matmul64x128,
        Kernel::Reduce,
        Kernel::Softmax,
        Kernel::LayerNorm,
        Kernel::RmsNorm,
        Kernel::Copy,
        Kernel::IndexSelect,
        Kernel::Attention,
    ];

    /// (shader file, entry point, inputs)
    fn source(self) -> (Shader, &'static str, usize) {
        match self {
            Kernel::Unary => (Shader::Elementwise, "unary", 3),
            Kernel::Binary => (Shader::Elementwise, "binary", 3),
            Kernel::Where => (Shader::Elementwise, "where_", 3),
            Kernel::Full => (Shader::Fill, "full", 0),
            Kernel::Arange => (Shader::Fill, "arange", 0),
            Kernel::Random => (Shader::Random, "generate", 0),
            Kernel::Cast => (Shader::Convert, "convert", 1),
            Kernel::Matmul => (Shader::Matmul, "matmul", 4),
            Kernel::Matmul128 => (Shader::Matmul128, "matmul_vec4", 4),
            Kernel::Matmul64x128 => (Shader::Matmul64x128, "matmul_vec4", 4),
            Kernel::Reduce => (Shader::Reduce, "reduce", 1),
            Kernel::Softmax => (Shader::Softmax, "softmax", 1),
            Kernel::LayerNorm => (Shader::Norm, "layer_norm", 3),
            Kernel::RmsNorm => (Shader::Norm, "rms_norm", 3),
            Kernel::Copy => (Shader::Layout, "copy", 2),
            Kernel::IndexSelect => (Shader::Layout, "index_select", 2),
            Kernel::Attention => (Shader::Attention, "attention", 4),
        }
    }

    /// The kernel's place in [`Kernel::ALL`].
    fn index(self) -> usize {
        Kernel::ALL
            .iter()
            .position(|&k| k == self)
            .expect("every kernel is in ALL")
    }

    /// How many input bindings the kernel declares.
    pub fn inputs(self) -> usize {
        self.source().2
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shader {
    Elementwise,
    Fill,
    Random,
    Convert,
    Matmul,
    Matmul128,
    Matmul64x128,
    Reduce,
    Softmax,
    Norm,
    Layout,
    Attention,
}

/// A row kernel's source after the reductions it calls: rows.wgsl's
/// (workgroup memory alone) or rows_subgroup.wgsl's (subgroup operations),
/// which define the same names.
macro_rules! with_rows {
    ($subgroups:expr, $file:literal) => {
        if $subgroups {
            concat!(
                include_str!("../shaders/rows_subgroup.wgsl"),
                include_str!($file)
            )
        } else {
            concat!(include_str!("../shaders/rows.wgsl"), include_str!($file))
        }
    };
}

impl Shader {
    /// (label, WGSL). `subgroups`: the device has `Features::SUBGROUP` and
    /// the row kernels may use it.
    fn wgsl(self, subgroups: bool) -> (&'static str, &'static str) {
        match self {
            Shader::Elementwise => ("elementwise", include_str!("../shaders/elementwise.wgsl")),
            Shader::Fill => ("fill", include_str!("../shaders/fill.wgsl")),
            Shader::Random => ("random", include_str!("../shaders/random.wgsl")),
            Shader::Convert => (
                "convert",
                concat!(
                    include_str!("../shaders/halves.wgsl"),
                    include_str!("../shaders/convert.wgsl")
                ),
            ),
            Shader::Matmul => (
                "matmul",
                concat!(
                    include_str!("../shaders/halves.wgsl"),
                    include_str!("../shaders/matmul_common.wgsl"),
                    include_str!("../shaders/matmul.wgsl")
                ),
            ),
            Shader::Matmul128 => (
                "matmul 128x128",
                concat!(
                    "const BM: u32 = 128u;\nconst BN: u32 = 128u;\n",
                    include_str!("../shaders/halves.wgsl"),
                    include_str!("../shaders/matmul_common.wgsl"),
                    include_str!("../shaders/matmul_vec4.wgsl")
                ),
            ),
            Shader::Matmul64x128 => (
                "matmul 64x128",
                concat!(
                    "const BM: u32 = 64u;\nconst BN: u32 = 128u;\n",
                    include_str!("../shaders/halves.wgsl"),
                    include_str!("../shaders/matmul_common.wgsl"),
                    include_str!("../shaders/matmul_vec4.wgsl")
                ),
            ),
            Shader::Reduce => ("reduce", with_rows!(subgroups, "../shaders/reduce.wgsl")),
            Shader::Softmax => ("softmax", with_rows!(subgroups, "../shaders/softmax.wgsl")),
            Shader::Norm => ("norm", with_rows!(subgroups, "../shaders/norm.wgsl")),
            Shader::Layout => ("layout", include_str!("../shaders/layout.wgsl")),
            Shader::Attention => ("attention", include_str!("../shaders/attention.wgsl")),
        }
    }
}

impl Shader {
    /// Built without wgpu's runtime checks (no index clamping, no loop
    /// counters, workgroup memory not zeroed). Only for kernels whose every
    /// global index is guarded by the shape parameters and whose
    /// parameters the host checks against the bound buffers before each
    /// dispatch (`Session::gemm`), with workgroup and private arrays
    /// indexed by constants and the invocation id alone, and loops bounded
    /// by those parameters.
    fn trusted(self) -> bool {
        matches!(self, Shader::Matmul128 | Shader::Matmul64x128)
    }
}

/// A compiled kernel and the layout its bind groups follow.
#[derive(Clone)]
pub struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

pub struct Kernels {
    layouts: Vec<wgpu::BindGroupLayout>,
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    /// One per kernel, in [`Kernel::ALL`]'s order: read without a lock on
    /// every dispatch once built.
    pipelines: Vec<OnceLock<Pipeline>>,
    /// Serialises building, so each pipeline is compiled once.
    building: Mutex<()>,
    /// Whether the row kernels are built with subgroup operations.
    subgroups: bool,
}

impl Kernels {
    /// `subgroups`: build the row kernels with subgroup operations (the
    /// device must have been opened with `Features::SUBGROUP`).
    pub fn new(device: &wgpu::Device, subgroups: bool) -> Kernels {
        let layouts = (0..=4).map(|inputs| layout(device, inputs)).collect();
        Kernels {
            layouts,
            modules: Mutex::new(HashMap::new()),
            pipelines: Kernel::ALL.iter().map(|_| OnceLock::new()).collect(),
            building: Mutex::new(()),
            subgroups,
        }
    }

    /// The kernel's pipeline, compiled on first use.
    pub fn pipeline(&self, device: &wgpu::Device, kernel: Kernel) -> &Pipeline {
        let cell = &self.pipelines[kernel.index()];
        if let Some(p) = cell.get() {
            return p;
        }
        let _building = self.building.lock().unwrap_or_else(|e| e.into_inner());
        cell.get_or_init(|| self.build(device, kernel))
    }

    fn build(&self, device: &wgpu::Device, kernel: Kernel) -> Pipeline {
        let (shader, entry, inputs) = kernel.source();
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|e| e.into_inner());
            modules
                .entry(shader)
                .or_insert_with(|| {
                    let (name, source) = shader.wgsl(self.subgroups);
                    let desc = wgpu::ShaderModuleDescriptor {
                        label: Some(name),
                        source: wgpu::ShaderSource::Wgsl(source.into()),
                    };
                    if shader.trusted() {
                        // SAFETY: see `Shader::trusted`: every index these
                        // kernels form is in range for what the host binds.
                        unsafe {
                            device.create_shader_module_trusted(
                                desc,
                                wgpu::ShaderRuntimeChecks::unchecked(),
                            )
                        }
                    } else {
                        device.create_shader_module(desc)
                    }
                })
                .clone()
        };
        let layout = self.layouts[inputs].clone();
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                // Trusted kernels write each workgroup-memory element they
                // read before reading it; zeroing it first is wasted work.
                zero_initialize_workgroup_memory: !shader.trusted(),
                ..Default::default()
            },
            cache: None,
        });
        Pipeline { pipeline, layout }
    }
}

/// Uniform parameters, `inputs` read-only buffers, one read-write output.
fn layout(device: &wgpu::Device, inputs: usize) -> wgpu::BindGroupLayout {
    let storage = |binding: u32, read_only: bool| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let mut entries = vec![wgpu::BindGroupLayoutEntry {
        binding: 0,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            // Each dispatch's parameters are one slot of the session's ring.
            has_dynamic_offset: true,
            min_binding_size: None,
        },
        count: None,
    }];
    for i in 0..inputs {
        entries.push(storage(1 + i as u32, true));
    }
    entries.push(storage(1 + inputs as u32, false));
    device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("kernel"),
        entries: &entries,
    })
}
