//! A transformer motion denoiser run entirely through the host's GPU tensor
//! API: the shape of a Kimodo-class model (pre-norm transformer blocks over
//! frame tokens, sinusoidal timestep embedding, text conditioning, DDIM
//! sampling with classifier-free guidance), small enough for a software
//! adapter. Weights come from `denoiser.safetensors` in the operator's
//! weights directory (`serve --weights DIR`); `scripts/denoiser-weights.py`
//! or the tests write a seeded file.
//!
//! Each frame is a token of `3 + 3 * joints` features: root offset and one
//! axis-angle per joint. The whole sampling loop stays on the GPU; the one
//! readback is the final sample.

mod model;

use motionmcp_guest::{
    export_backbone, report_progress, Backbone, GenerateRequest, GuidanceType, Limits, ModelSpec,
    MotionResult, ProtocolError, Skeleton,
};

use model::Denoiser;

/// The weights file, relative to the granted directory.
const WEIGHTS: &str = "denoiser.safetensors";

#[derive(Default)]
struct Demo {
    model: Option<Denoiser>,
}

fn skeleton() -> Skeleton {
    Skeleton::from_joints(&[
        ("Hips", None, [0.0, 0.95, 0.0]),
        ("Spine", Some("Hips"), [0.0, 0.50, 0.0]),
        ("Head", Some("Spine"), [0.0, 0.30, 0.0]),
        ("LeftFoot", Some("Hips"), [0.10, -0.95, 0.0]),
        ("RightFoot", Some("Hips"), [-0.10, -0.95, 0.0]),
    ])
}

impl Backbone for Demo {
    fn setup(&mut self) -> Result<(), String> {
        let joints = skeleton().joints.len();
        let model = Denoiser::load(WEIGHTS, 3 + 3 * joints)
            .map_err(|e| format!("cannot load {WEIGHTS}: {}", ProtocolError::from(e).message))?;
        self.model = Some(model);
        Ok(())
    }

    fn capabilities(&self) -> ModelSpec {
        let mut spec = ModelSpec::new("tiny-denoiser", 30.0, skeleton());
        // A software adapter runs a 20-second sample in seconds, not minutes.
        spec.limits = Limits {
            max_duration_seconds: 20.0,
            max_num_samples: 4,
            ..spec.limits
        };
        spec
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        let model = self.model.as_ref().ok_or_else(|| {
            ProtocolError::model_unavailable("the model's weights are not loaded")
        })?;
        let frames = req.total_frames as usize;
        let joints = req.num_joints() as usize;
        let prompt: String = req
            .segments
            .iter()
            .filter_map(|s| s.prompt())
            .collect::<Vec<_>>()
            .join(" ");
        let (kind, weights) = match &req.options.guidance {
            Some(g) => (g.kind, g.weight.iter().map(|&w| w as f32).collect()),
            None => (GuidanceType::Regular, vec![2.5]),
        };
        let steps = req.options.diffusion_steps.max(1) as usize;
        let seed = req.options.seed.unwrap_or(0) as u64;
        let mut rotations = Vec::new();
        let mut roots = Vec::new();
        // Progress counts every step of every sample.
        let total = (steps as u32).saturating_mul(req.num_samples());
        let mut done = 0u32;
        let mut on_step = || {
            done += 1;
            report_progress(done, total);
        };
        for sample in 0..req.num_samples() as u64 {
            let x0 = model.sample(
                frames,
                &prompt,
                (kind, &weights),
                steps,
                seed.wrapping_add(sample),
                &mut on_step,
            )?;
            let features = x0.to_vec()?;
            decode(&features, frames, joints, &mut rotations, &mut roots);
        }
        Ok(MotionResult::new(
            req.num_samples(),
            req.total_frames,
            req.num_joints(),
            rotations,
            roots,
        )?)
    }
}

/// Features to motion: a bounded root offset around the rest height and a
/// bounded axis-angle per joint, as quaternions.
fn decode(
    features: &[f32],
    frames: usize,
    joints: usize,
    rotations: &mut Vec<f32>,
    roots: &mut Vec<f32>,
) {
    let width = 3 + 3 * joints;
    for f in 0..frames {
        let row = &features[f * width..(f + 1) * width];
        roots.extend([
            0.3 * row[0].tanh(),
            0.95 + 0.05 * row[1].tanh(),
            0.3 * row[2].tanh(),
        ]);
        for j in 0..joints {
            let v = &row[3 + 3 * j..6 + 3 * j];
            let axis = [0.4 * v[0].tanh(), 0.4 * v[1].tanh(), 0.4 * v[2].tanh()];
            let angle = (axis[0] * axis[0] + axis[1] * axis[1] + axis[2] * axis[2]).sqrt();
            if angle < 1e-8 {
                rotations.extend([0.0, 0.0, 0.0, 1.0]);
            } else {
                let s = (angle / 2.0).sin() / angle;
                rotations.extend([axis[0] * s, axis[1] * s, axis[2] * s, (angle / 2.0).cos()]);
            }
        }
    }
}

export_backbone!(Demo);
