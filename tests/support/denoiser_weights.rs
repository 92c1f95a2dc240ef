//! The demo denoiser's weights as the tests write them: seeded, in the
//! layout `components/denoiser` (and its Python and JavaScript ports) load.

use std::path::Path;

use motionmcp_gpu::reference as cpu;
use safetensors::tensor::TensorView;
pub use safetensors::Dtype;

/// Widths of the test denoiser: d 32, 4 heads, 2 blocks, 5 joints.
const D: usize = 32;
const HEADS: u32 = 4;
const LAYERS: usize = 2;
const FEATURES: usize = 3 + 3 * 5;

/// Writes `denoiser.safetensors` with seeded weights (uniform, scaled by
/// 1/sqrt(fan-in); norms at 1 and 0) into `dir`, every float tensor stored
/// as `floats` (F32, F16 or BF16).
pub fn write_weights(dir: &Path, seed: u64, floats: Dtype) {
    let mut tensors: Vec<(String, Vec<usize>, Vec<u8>, Dtype)> = Vec::new();
    let mut n = seed;
    let mut dense = |name: &str, out: usize, inp: usize, tensors: &mut Vec<_>| {
        n += 1;
        let bound = 1.0 / (inp as f32).sqrt();
        let w: Vec<f32> = cpu::rand(out * inp, n)
            .iter()
            .map(|u| (2.0 * u - 1.0) * bound)
            .collect();
        n += 1;
        let b: Vec<f32> = cpu::rand(out, n)
            .iter()
            .map(|u| (2.0 * u - 1.0) * bound)
            .collect();
        tensors.push((
            format!("{name}.weight"),
            vec![out, inp],
            bytes(&w, floats),
            floats,
        ));
        tensors.push((format!("{name}.bias"), vec![out], bytes(&b, floats), floats));
    };
    let norm = |name: &str, tensors: &mut Vec<(String, Vec<usize>, Vec<u8>, Dtype)>| {
        tensors.push((
            format!("{name}.weight"),
            vec![D],
            bytes(&[1.0; D], floats),
            floats,
        ));
        tensors.push((
            format!("{name}.bias"),
            vec![D],
            bytes(&[0.0; D], floats),
            floats,
        ));
    };
    dense("in_proj", D, FEATURES, &mut tensors);
    dense("time.0", D, D, &mut tensors);
    dense("time.2", D, D, &mut tensors);
    for i in 0..LAYERS {
        norm(&format!("blocks.{i}.ln1"), &mut tensors);
        dense(&format!("blocks.{i}.qkv"), 3 * D, D, &mut tensors);
        dense(&format!("blocks.{i}.out"), D, D, &mut tensors);
        norm(&format!("blocks.{i}.ln2"), &mut tensors);
        dense(&format!("blocks.{i}.ff1"), 4 * D, D, &mut tensors);
        dense(&format!("blocks.{i}.ff2"), D, 4 * D, &mut tensors);
    }
    norm("ln_f", &mut tensors);
    dense("out_proj", FEATURES, D, &mut tensors);
    let text: Vec<f32> = cpu::randn(256 * D, seed + 1000);
    tensors.push((
        "text.weight".into(),
        vec![256, D],
        bytes(&text, floats),
        floats,
    ));
    tensors.push((
        "config.heads".into(),
        vec![1],
        HEADS.to_le_bytes().to_vec(),
        Dtype::U32,
    ));
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, shape, data, dtype)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, &dir.join("denoiser.safetensors")).unwrap();
}

/// Little-endian bytes of `v` stored as `dtype`.
fn bytes(v: &[f32], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        Dtype::F16 => v
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect(),
        Dtype::BF16 => v
            .iter()
            .flat_map(|&x| half::bf16::from_f32(x).to_le_bytes())
            .collect(),
        other => panic!("no {other:?} weights here"),
    }
}
