//! `humanoid`: the default MMCP model. A procedural motion synthesizer for a
//! full humanoid: a foot-planted gait along the requested path, a small
//! vocabulary of actions and gestures read from the prompt, two-bone IK for
//! effector targets, and any humanoid rig whose joint names it can read.
//!
//! The synthesis lives in plain modules (no SDK types) so it can be tested
//! natively; this file only translates the validated request and the result.

pub mod arms;
pub mod gait;
pub mod math;
pub mod overrides;
pub mod path;
pub mod rig;
pub mod solve;
pub mod synth;
pub mod thin;
pub mod timeline;
pub mod vocab;

#[cfg(test)]
mod checks;

use motionmcp_guest::{
    export_backbone, Backbone, Constraint, ErrorCode, FillMode, GenerateRequest, ModelSpec,
    MotionResult, Note, ProtocolError, Segment, Skeleton,
};

use math::{v3, Q, V3};
use rig::{JointDef, Rig};
use synth::{Effector, Keyframe};
use timeline::SegmentKind;

#[derive(Default)]
pub struct Humanoid;

/// The canonical skeleton as the SDK's type.
fn canonical_skeleton() -> Skeleton {
    Skeleton::from_joints(&rig::CANONICAL)
}

impl Backbone for Humanoid {
    fn capabilities(&self) -> ModelSpec {
        let mut spec = ModelSpec::new("humanoid", 30.0, canonical_skeleton());
        spec.supports_retargeting = true;
        spec.supports_joint_translation = true;
        spec.supports_segment_seed = true;
        spec.supports_loop = true;
        spec.supports_keyframe_reduction = true;
        spec.supported_constraints = [
            "root_path",
            "effector_target",
            "pose_keyframe",
            "ground_height",
        ]
        .map(String::from)
        .to_vec();
        spec.supported_segments = ["text", "unconditioned", "pose"].map(String::from).to_vec();
        spec.predicted_contact_joints = ["LeftFoot", "RightFoot", "LeftToeBase", "RightToeBase"]
            .map(String::from)
            .to_vec();
        spec.recommended_max_duration_seconds = 30.0;
        spec
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        let plain = translate(req)?;
        let out = synth::generate(&plain).map_err(|e| match e {
            synth::Error::Skeleton(m) if m.starts_with("cannot map") => {
                ProtocolError::new(ErrorCode::RetargetingUnsupported, m)
            }
            synth::Error::Skeleton(m) => ProtocolError::new(ErrorCode::InvalidSkeleton, m),
            synth::Error::Request(m) => ProtocolError::invalid_request(m),
        })?;
        result(req, &plain, out)
    }
}

fn quat((x, y, z, w): (f64, f64, f64, f64)) -> Q {
    Q::new(x, y, z, w)
}

/// The validated request in the synthesizer's own terms.
fn translate(req: &GenerateRequest) -> Result<synth::Request, ProtocolError> {
    let names = req.skeleton.joint_names();
    let index = |name: &str| names.iter().position(|n| n == name);
    let joints: Vec<JointDef> = req
        .skeleton
        .joints
        .iter()
        .map(|j| {
            let (x, y, z) = j.rest_translation;
            JointDef {
                name: j.name.clone(),
                parent: j.parent.as_deref().and_then(index),
                offset: v3(x, y, z),
            }
        })
        .collect();
    let segments = req
        .segments
        .iter()
        .map(|s| {
            let kind = match s {
                Segment::Text(t) => SegmentKind::Text(t.prompt.clone()),
                Segment::Pose(p) => SegmentKind::Pose(p.prompt.clone()),
                Segment::Unconditioned(_) => SegmentKind::Unconditioned,
                // Not advertised, so the host never delivers them; be neutral.
                Segment::MotionReference(_) | Segment::VideoReference(_) => {
                    SegmentKind::Unconditioned
                }
            };
            timeline::Segment {
                kind,
                frames: s.duration_frames() as usize,
                seed: s.seed(),
            }
        })
        .collect();
    let joint = |name: &str| {
        index(name).ok_or_else(|| ProtocolError::unknown_joint(name, &names, "request skeleton"))
    };
    let mut out = synth::Request {
        joints,
        segments,
        frames: req.total_frames as usize,
        fps: req.effective_fps,
        samples: req.num_samples() as usize,
        seed: req.options.seed,
        transition_frames: req.options.transition_frames as usize,
        looped: req.options.loop_,
        keyframe_budget: req.options.keyframe_budget,
        ..Default::default()
    };
    for c in &req.constraints {
        match c {
            Constraint::RootPath(p) => {
                for (k, (&f, &(x, z))) in p.frames.iter().zip(&p.positions_xz).enumerate() {
                    let h = p.heading_radians.as_ref().and_then(|h| h.get(k).copied());
                    out.keys.keys.retain(|key| key.0 != f);
                    out.keys.keys.push((f, x, z, h));
                }
            }
            Constraint::EffectorTarget(e) => {
                let j = joint(&e.joint)?;
                for (k, (&f, &(x, y, z))) in e.frames.iter().zip(&e.positions).enumerate() {
                    out.effectors.push(Effector {
                        joint: j,
                        frame: f as usize,
                        pos: v3(x, y, z),
                        rot: e
                            .rotations
                            .as_ref()
                            .and_then(|r| r.get(k).copied())
                            .map(quat),
                    });
                }
            }
            Constraint::PoseKeyframe(k) => {
                let mut rotations = Vec::new();
                for (name, q) in &k.joint_rotations {
                    rotations.push((joint(name)?, quat(*q)));
                }
                out.keyframes.push(Keyframe {
                    frame: k.frame as usize,
                    rotations,
                    root: k.root_position.map(|(x, y, z)| v3(x, y, z)),
                    fill_rest: k.fill_mode == FillMode::Rest,
                });
            }
            Constraint::GroundHeight(g) => {
                out.ground
                    .extend(g.points.iter().map(|&(x, z, h)| v3(x, h, z)));
            }
        }
    }
    out.keys.keys.sort_by_key(|k| k.0);
    // Finite and on Earth: anything else would overflow the f32 result.
    let finite = |v: V3| v.is_finite() && v.len() < 1e5;
    if !out.effectors.iter().all(|e| finite(e.pos))
        || !out.ground.iter().all(|&g| finite(g))
        || !out
            .keys
            .keys
            .iter()
            .all(|k| k.1.is_finite() && k.2.is_finite())
    {
        return Err(ProtocolError::invalid_request(
            "constraint positions must be finite numbers",
        ));
    }
    Ok(out)
}

fn result(
    req: &GenerateRequest,
    plain: &synth::Request,
    out: synth::Output,
) -> Result<MotionResult, ProtocolError> {
    let (b, t, j) = (out.samples.len(), plain.frames.max(1), plain.joints.len());
    let mut rotations = Vec::with_capacity(b * t * j * 4);
    let mut roots = Vec::with_capacity(b * t * 3);
    for s in &out.samples {
        for q in &s.local {
            rotations.extend([q.x as f32, q.y as f32, q.z as f32, q.w as f32]);
        }
        for r in &s.root {
            roots.extend([r.x as f32, r.y as f32, r.z as f32]);
        }
    }
    let mut result = MotionResult::new(b as u32, t as u32, j as u32, rotations, roots)?;
    // Joint translations only where a joint really leaves its rest offset:
    // the hips under a ground-level root.
    if out.samples.iter().any(|s| s.hips_offset.is_some()) {
        let rig = Rig::new(plain.joints.clone()).map_err(ProtocolError::internal)?;
        let mut tr = Vec::with_capacity(b * t * j * 3);
        for s in &out.samples {
            for f in 0..t {
                for (k, joint) in plain.joints.iter().enumerate() {
                    let o = match &s.hips_offset {
                        Some(h) if k == rig.hips => h[f],
                        _ => joint.offset,
                    };
                    tr.extend([o.x as f32, o.y as f32, o.z as f32]);
                }
            }
        }
        result = result.with_translations(tr)?;
    }
    let names = req.skeleton.joint_names();
    let mut contacts: Vec<(usize, Vec<bool>)> = Vec::new();
    for s in &out.samples {
        for (k, (joint, flags)) in s.contacts.iter().enumerate() {
            match contacts.get_mut(k) {
                Some((_, all)) => all.extend(flags),
                None => contacts.push((*joint, flags.clone())),
            }
        }
    }
    for (joint, flags) in contacts {
        result = result.with_foot_contact(names[joint].clone(), flags)?;
    }
    let canonical: Vec<&str> = rig::CANONICAL.iter().map(|r| r.0).collect();
    if names
        .iter()
        .map(String::as_str)
        .ne(canonical.iter().copied())
    {
        result.canonical_to_request = out.mapping.clone();
    }
    if let Some(keys) = &out.keyframes {
        for (joint, frames) in keys {
            let translation = if *joint == 0 {
                out.root_keys.clone()
            } else {
                None
            };
            result = result.with_keyframes(*joint as u32, Some(frames.clone()), translation);
        }
    }
    result.notes = out
        .notes
        .iter()
        .map(|(understood, message)| Note {
            code: "prompt_interpretation".into(),
            severity: if *understood { "info" } else { "warning" }.into(),
            message: message.clone(),
        })
        .collect();
    Ok(result)
}

export_backbone!(Humanoid);
