//! NVIDIA's Kimodo (two-stage diffusion transformer on the SOMA-30 skeleton)
//! served on the host's GPU tensor API, from the checkpoint folder exactly as
//! NVIDIA publishes it (granted with `--weights`):
//!
//! ```text
//! model.safetensors                      tensors named denoiser.backbone.*
//! config.yaml                            optional here: num_heads (else width / 128)
//! stats/motion/{global_root,local_root,body}/{mean,std}.npy
//! text_embeddings.safetensors            optional: prompt (sanitised) -> [4096]
//! ```
//!
//! The architecture, schedule, guidance and decoding follow the fact sheet
//! `shared/models/kimodo.md`, and every choice it leaves open follows the
//! NumPy reference `tests/python/kimodo/` (its README, "Decisions"). The
//! initial noise of a request is `randn([num_samples, T, 369], seed)` from
//! the tensor API (seed = `options.seed`, or a fresh random one); the whole
//! sampling loop stays on the GPU and the final motion is read back once.

pub mod constraints;
pub mod cpu;
mod model;

use std::hash::{BuildHasher, Hasher};

use motionmcp_guest::tensor::{Tensor, TensorError};
use motionmcp_guest::{
    export_backbone, report_progress, Backbone, GenerateRequest, GuidanceType, ModelSpec,
    MotionResult, ProtocolError, Segment, Skeleton,
};

use cpu::{LLM_DIM, MOTION_DIM, NUM_JOINTS};
use model::{Guidance, Model, Stats};

/// Where the host mounts the `--weights` folder, read-only.
const MOUNT: &str = "/weights";
const TEXT_FILE: &str = "text_embeddings.safetensors";
const STATS: [&str; 3] = ["global_root", "local_root", "body"];

#[derive(Default)]
struct Kimodo {
    /// The loaded model, or why it could not be loaded.
    model: Option<Result<Loaded, String>>,
}

struct Loaded {
    model: Model,
    /// Tensor names of `text_embeddings.safetensors` (empty without it).
    prompts: Vec<String>,
}

fn read(rel: &str) -> Result<Vec<u8>, String> {
    std::fs::read(format!("{MOUNT}/{rel}"))
        .map_err(|e| format!("cannot read {rel} in the weights folder: {e}"))
}

fn exists(rel: &str) -> bool {
    std::fs::metadata(format!("{MOUNT}/{rel}")).is_ok_and(|m| m.is_file())
}

fn tensor_message(e: TensorError) -> String {
    ProtocolError::from(e).message
}

fn load() -> Result<Loaded, String> {
    let stats_file = |part: &str, what: &str| format!("stats/motion/{part}/{what}.npy");
    let mut needed = vec![model::MODEL_FILE.to_owned()];
    for part in STATS {
        needed.push(stats_file(part, "mean"));
        needed.push(stats_file(part, "std"));
    }
    if let Some(missing) = needed.iter().find(|rel| !exists(rel)) {
        return Err(format!(
            "missing {missing} in the weights folder (serve --weights DIR with the published Kimodo checkpoint folder)"
        ));
    }
    let npy = |part: &str, what: &str, len: usize| -> Result<Vec<f32>, String> {
        let rel = stats_file(part, what);
        let v = cpu::parse_npy(&read(&rel)?).map_err(|e| format!("{rel}: {e}"))?;
        if v.len() != len {
            return Err(format!(
                "{rel} holds {} values; a SOMA-30 Kimodo has {len}",
                v.len()
            ));
        }
        Ok(v)
    };
    let (gm, gs) = (
        npy("global_root", "mean", 5)?,
        npy("global_root", "std", 5)?,
    );
    let (lm, ls) = (npy("local_root", "mean", 4)?, npy("local_root", "std", 4)?);
    let (bm, bs) = (npy("body", "mean", 364)?, npy("body", "std", 364)?);
    let stats = Stats {
        mean: [gm, bm].concat(),
        scale: model::norm_scale(&[gs, bs].concat()),
        local_mean: lm,
        local_scale: model::norm_scale(&ls),
    };
    let heads = if exists("config.yaml") {
        let text = String::from_utf8_lossy(&read("config.yaml")?).into_owned();
        match cpu::yaml_scalar(&text, "num_heads") {
            Some(h) => Some(
                h.parse::<usize>()
                    .map_err(|_| format!("config.yaml: num_heads {h:?} is not a number"))?,
            ),
            None => None,
        }
    } else {
        None
    };
    let model = Model::load(heads, stats)
        .map_err(|e| format!("cannot load {}: {}", model::MODEL_FILE, tensor_message(e)))?;
    let prompts = if exists(TEXT_FILE) {
        Tensor::names_in(TEXT_FILE)
            .map_err(|e| format!("cannot read {TEXT_FILE}: {}", tensor_message(e)))?
    } else {
        Vec::new()
    };
    Ok(Loaded { model, prompts })
}

fn skeleton() -> Skeleton {
    Skeleton::from_joints(&cpu::canonical_rows())
}

/// A fresh seed from WASI's random source (through std's hasher keys).
fn random_seed() -> u64 {
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

impl Backbone for Kimodo {
    fn setup(&mut self) -> Result<(), String> {
        // A folder that does not load is not a start-up failure: every
        // request then answers 503 model_unavailable naming what is missing.
        self.model = Some(load());
        Ok(())
    }

    fn capabilities(&self) -> ModelSpec {
        let mut spec = ModelSpec::new("kimodo-soma-rp", cpu::FPS, skeleton());
        spec.predicted_contact_joints = cpu::CONTACT_JOINTS.iter().map(|s| s.to_string()).collect();
        spec.supported_constraints = constraints::SUPPORTED.map(String::from).to_vec();
        spec.supports_segment_seed = true;
        // A generation takes seconds on a GPU and far longer on a CPU
        // rasteriser: answer 202 and let clients poll, with the progress
        // reported after every DDIM step (the host's async jobs, §10.1).
        spec.supports_async = true;
        spec.native_clip_seconds = 10.0;
        spec.recommended_max_duration_seconds = 12.0;
        spec
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        let loaded = match &self.model {
            Some(Ok(l)) => l,
            Some(Err(why)) => return Err(ProtocolError::model_unavailable(why.clone())),
            None => return Err(ProtocolError::model_unavailable("the model is not set up")),
        };
        generate(loaded, req)
    }
}

/// The request as Kimodo's sampler sees it.
struct Plan {
    segments: Vec<(String, usize)>,
    guidance: Guidance,
    steps: usize,
    samples: usize,
}

fn plan(req: &GenerateRequest) -> Result<Plan, ProtocolError> {
    if let Some(fps) = req.timing_fps {
        if (fps - cpu::FPS).abs() > 1e-3 {
            return Err(ProtocolError::invalid_options(format!(
                "timing.fps={fps} does not match model fps={}",
                cpu::FPS
            )));
        }
    }
    let mut segments = Vec::new();
    for s in &req.segments {
        match s {
            Segment::Text(t) => segments.push((t.prompt.clone(), t.duration_frames as usize)),
            Segment::Unconditioned(u) => segments.push((String::new(), u.duration_frames as usize)),
            _ => {
                return Err(ProtocolError::invalid_request(
                    "only text and unconditioned segments are supported",
                ))
            }
        }
    }
    if segments.is_empty() {
        segments.push((String::new(), req.total_frames as usize));
    }
    if let Some((_, frames)) = segments.iter().find(|s| s.1 == 0 || s.1 + 52 + 50 > 5000) {
        return Err(ProtocolError::invalid_request(format!(
            "a segment of {frames} frames: Kimodo generates 1 to 4898 frames per segment"
        )));
    }
    let guidance = match &req.options.guidance {
        None => Guidance::Separated(2.0, 2.0),
        Some(g) => {
            let w = |i: usize| g.weight.get(i).copied().unwrap_or(2.0) as f32;
            match g.kind {
                GuidanceType::Nocfg => Guidance::Nocfg,
                GuidanceType::Regular => Guidance::Regular(w(0)),
                GuidanceType::Separated => Guidance::Separated(w(0), w(1)),
            }
        }
    };
    Ok(Plan {
        segments,
        guidance,
        steps: req.options.diffusion_steps.max(1) as usize,
        samples: req.num_samples().max(1) as usize,
    })
}

/// [B, 1, 4096]: the stored embedding of the sanitised prompt, else zeros
/// (what motionmcp-kimodo's default encoder gives), with a note.
fn text_embedding(
    loaded: &Loaded,
    prompt: &str,
    samples: usize,
    notes: &mut Vec<String>,
) -> Result<Tensor, TensorError> {
    let key = cpu::sanitize(prompt);
    if !key.is_empty() && loaded.prompts.contains(&key) {
        let v = Tensor::load(TEXT_FILE, &key)?
            .cast(motionmcp_guest::tensor::Dtype::F32)?
            .reshape(&[1, 1, LLM_DIM as i32])?;
        return Tensor::concat(&vec![&v; samples], 0);
    }
    if !key.is_empty() {
        notes.push(format!(
            "prompt {key:?} encoded as a zero vector (no stored embedding in {TEXT_FILE}): unconditional + constraint guidance"
        ));
    }
    Tensor::zeros(&[samples, 1, LLM_DIM])
}

fn generate(loaded: &Loaded, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
    let plan = plan(req)?;
    let model = &loaded.model;
    let st = &model.stats;
    let mut notes = Vec::new();
    let b = plan.samples;
    let total: usize = plan.segments.iter().map(|s| s.1).sum();
    let n_tr = req.options.transition_frames as usize;
    if plan.segments.len() > 1 {
        if n_tr < 1 {
            return Err(ProtocolError::invalid_options(
                "transition_frames must be at least 1 between segments",
            ));
        }
        if let Some((_, n)) = plan.segments[..plan.segments.len() - 1]
            .iter()
            .find(|s| s.1 < n_tr)
        {
            return Err(ProtocolError::invalid_options(format!(
                "a segment followed by another needs at least transition_frames={n_tr} frames; one has {n}"
            )));
        }
    }
    // User constraints over the whole timeline (§2.4); each segment takes
    // its own rows below.
    let user = constraints::conditions(req, total)?;
    let base_seed = match req.options.seed {
        Some(s) => s as u64,
        None => {
            let s = random_seed();
            notes.push(format!("seed {s} drawn at random"));
            s
        }
    };
    let progress_total = (plan.steps * plan.segments.len()) as u32;
    let mut done = 0u32;
    let mut on_step = || {
        done += 1;
        report_progress(done, progress_total);
    };
    // Un-normalised features of each sample, segment after segment.
    let mut generated: Vec<Vec<f32>> = vec![Vec::new(); b];
    let mut current = 0;
    for (idx, (prompt, n)) in plan.segments.iter().enumerate() {
        let n = *n;
        let text = text_embedding(loaded, prompt, b, &mut notes)?;
        let user_rows = |v: &Vec<f32>| v[current * MOTION_DIM..(current + n) * MOTION_DIM].to_vec();
        let length = if idx == 0 { n } else { n + n_tr };
        let mut headings = vec![0.0f32; b];
        let mut shifts = vec![(0.0f32, 0.0f32); b];
        let mut latest: Vec<Vec<f32>> = Vec::new();
        // (observed, mask) [B, length, 369], un-normalised; None: no constraint.
        let cond: Option<(Vec<f32>, Vec<f32>)> = if idx == 0 {
            user.as_ref()
                .map(|(o, m)| (user_rows(o).repeat(b), user_rows(m).repeat(b)))
        } else {
            let mut obs = Vec::with_capacity(b * length * MOTION_DIM);
            let mut mask = Vec::with_capacity(b * length * MOTION_DIM);
            for (s, motion) in generated.iter_mut().enumerate() {
                let tail = motion.split_off(motion.len() - n_tr * MOTION_DIM);
                let rows: Vec<&[f32]> = tail.chunks_exact(MOTION_DIM).collect();
                let mut o = vec![0.0f32; length * MOTION_DIM];
                let mut m = vec![0.0f32; length * MOTION_DIM];
                let cut = n_tr * MOTION_DIM;
                cpu::transition_conditions(&rows, &mut o[..cut], &mut m[..cut]);
                if let Some((uo, um)) = &user {
                    o[cut..].copy_from_slice(&user_rows(uo));
                    m[cut..].copy_from_slice(&user_rows(um));
                }
                // Translate so the transition starts at the origin (§2.5).
                // Only the smooth root x, z move, for the user's rows too:
                // their joint positions are stored relative to their own
                // frame's smooth root (§1.4) and root y, heading and
                // rotations do not depend on x, z (the reference's
                // crop_move + shift of observed dims 0 and 2).
                let shift = (rows[0][0], rows[0][2]);
                for (row, mrow) in o
                    .chunks_exact_mut(MOTION_DIM)
                    .zip(m.chunks_exact(MOTION_DIM))
                {
                    row[0] -= shift.0;
                    row[2] -= shift.1;
                    for (v, k) in row.iter_mut().zip(mrow) {
                        *v *= k;
                    }
                }
                headings[s] = cpu::heading_from_joints(&cpu::decode_pose(rows[0]).posed);
                shifts[s] = shift;
                obs.extend(o);
                mask.extend(m);
                latest.push(tail);
            }
            Some((obs, mask))
        };
        let cond = match cond {
            None => None,
            Some((observed, mask)) => {
                // Normalised observations everywhere (masked where unconstrained).
                let z: Vec<f32> = observed
                    .chunks_exact(MOTION_DIM)
                    .flat_map(|row| {
                        (0..MOTION_DIM).map(move |i| (row[i] - st.mean[i]) / st.scale[i])
                    })
                    .collect();
                let shape = [b, length, MOTION_DIM];
                Some((
                    Tensor::from_vec(&z, &shape)?,
                    Tensor::from_vec(&mask, &shape)?,
                ))
            }
        };
        let c = model.condition(
            &text,
            &headings,
            length,
            plan.guidance,
            cond.as_ref().map(|(o, m)| (o, m)),
        )?;
        let seed = req
            .segments
            .get(idx)
            .and_then(Segment::seed)
            .map(|s| s as u64)
            .unwrap_or(base_seed.wrapping_add(idx as u64));
        let noise = Tensor::randn(&[b, length, MOTION_DIM], seed)?;
        let x = model.sample(&c, noise, plan.steps, plan.guidance, &mut on_step)?;
        let z = x.to_vec()?;
        for (s, motion) in generated.iter_mut().enumerate() {
            let mut m: Vec<f32> = z[s * length * MOTION_DIM..(s + 1) * length * MOTION_DIM]
                .iter()
                .enumerate()
                .map(|(i, v)| v * st.scale[i % MOTION_DIM] + st.mean[i % MOTION_DIM])
                .collect();
            if idx > 0 {
                let (dx, dz) = shifts[s];
                for row in m.chunks_exact_mut(MOTION_DIM) {
                    row[0] += dx;
                    row[2] += dz;
                }
                let alpha = cpu::blend_weights(n_tr);
                for (f, &a) in alpha.iter().enumerate() {
                    for i in 0..MOTION_DIM {
                        let k = f * MOTION_DIM + i;
                        m[k] = latest[s][k] * a + (1.0f32 - a) * m[k];
                    }
                }
            }
            motion.extend(m);
        }
        current += n;
    }
    if req.options.post_processing {
        notes.push(
            "post_processing not applied (Kimodo's MotionCorrection is not part of this backbone)"
                .into(),
        );
    }
    decode(generated, b, total, notes)
}

/// Un-normalised features [B][T x 369] -> the MMCP result.
fn decode(
    features: Vec<Vec<f32>>,
    b: usize,
    t: usize,
    notes: Vec<String>,
) -> Result<MotionResult, ProtocolError> {
    let mut rotations = Vec::with_capacity(b * t * NUM_JOINTS * 4);
    let mut roots = Vec::with_capacity(b * t * 3);
    let mut contacts: Vec<Vec<bool>> = (0..4).map(|_| Vec::with_capacity(b * t)).collect();
    for row in features.iter().flat_map(|m| m.chunks_exact(MOTION_DIM)) {
        let f = cpu::decode_frame(row);
        rotations.extend(f.rotations.iter().flatten());
        roots.extend(f.root);
        for (c, flag) in contacts.iter_mut().zip(f.contacts) {
            c.push(flag);
        }
    }
    let mut result = MotionResult::new(b as u32, t as u32, NUM_JOINTS as u32, rotations, roots)?;
    for (joint, flags) in cpu::CONTACT_JOINTS.iter().zip(contacts) {
        result = result.with_foot_contact(*joint, flags)?;
    }
    for n in notes {
        result = result.with_note("kimodo", "info", &n);
    }
    Ok(result)
}

export_backbone!(Kimodo);
