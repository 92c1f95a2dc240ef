//! Test backbone that uses the GPU as a hostile or careless model would.
//! The first text prompt picks the abuse; each must cost its own request
//! only (tests/hardening.rs):
//! - `chain N`: N dependent 512x512 matmuls recorded back to back, then one
//!   read back (far more work than the request's deadline allows);
//! - `huge-matmul`: one 4096x4096x4096 matmul (a single dispatch that
//!   cannot be split once queued);
//! - `attention`: one attention over 16,384 queries and keys;
//! - `handles`: views of one tensor created and held until the host says no;
//! - `concat N`: one tensor concatenated N times (default 200,000);
//! - anything else: a small matmul read back, then the rest pose.

use motionmcp_guest::tensor::{Tensor, TensorError};
use motionmcp_guest::{
    export_backbone, Backbone, GenerateRequest, ModelSpec, MotionResult, ProtocolError, Skeleton,
};

#[derive(Default)]
struct Hog;

fn abuse(prompt: &str) -> Result<(), TensorError> {
    let mut words = prompt.split_whitespace();
    match words.next().unwrap_or("") {
        "chain" => {
            let n: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(1000);
            let w = Tensor::full(&[512, 512], 0.001)?;
            let mut x = Tensor::ones(&[512, 512])?;
            for _ in 0..n {
                x = x.matmul(&w)?;
            }
            x.to_vec()?;
        }
        "huge-matmul" => {
            let a = Tensor::ones(&[4096, 4096])?;
            a.matmul(&a)?.to_vec()?;
        }
        "attention" => {
            let q = Tensor::ones(&[1, 1, 16384, 64])?;
            Tensor::attention(&q, &q, &q, None, None)?.to_vec()?;
        }
        "handles" => {
            // Views cost no GPU memory, so only the handle cap stops this.
            let one = Tensor::ones(&[1])?;
            let mut held = Vec::new();
            loop {
                held.push(one.reshape(&[1])?);
            }
        }
        "concat" => {
            let n: usize = words.next().and_then(|w| w.parse().ok()).unwrap_or(200_000);
            let one = Tensor::ones(&[1])?;
            let parts: Vec<&Tensor> = std::iter::repeat_n(&one, n).collect();
            Tensor::concat(&parts, 0)?;
        }
        _ => {
            let a = Tensor::ones(&[16, 16])?;
            a.matmul(&a)?.to_vec()?;
        }
    }
    Ok(())
}

impl Backbone for Hog {
    fn capabilities(&self) -> ModelSpec {
        ModelSpec::new(
            "gpu-hog",
            30.0,
            Skeleton::from_joints(&[("Hips", None, [0.0, 0.95, 0.0])]),
        )
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        let prompt = req.segments.iter().find_map(|s| s.prompt()).unwrap_or("");
        abuse(prompt)?;
        let root = req.skeleton.joints[0].rest_translation;
        MotionResult::rest_pose(req.num_samples(), req.total_frames, req.num_joints(), root)
    }
}

export_backbone!(Hog);
