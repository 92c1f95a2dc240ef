//! Host request model → the WIT records a backbone receives. Runs after
//! validation, so every frame is in range and every count fits.

use base64::Engine as _;

use crate::bindings::mmcp::backbone::types as wit;
use crate::request::*;

fn skeleton(s: &Skeleton) -> wit::Skeleton {
    wit::Skeleton {
        joints: s
            .joints
            .iter()
            .map(|j| wit::Joint {
                name: j.name.clone(),
                parent: j.parent.clone(),
                rest_translation: (
                    j.rest_translation[0],
                    j.rest_translation[1],
                    j.rest_translation[2],
                ),
                rest_rotation: (
                    j.rest_rotation[0],
                    j.rest_rotation[1],
                    j.rest_rotation[2],
                    j.rest_rotation[3],
                ),
                display_name: j.display_name.clone(),
            })
            .collect(),
    }
}

fn frames(f: &[i64]) -> Vec<u32> {
    f.iter().map(|&x| x as u32).collect()
}

fn v3(p: &[f64; 3]) -> (f64, f64, f64) {
    (p[0], p[1], p[2])
}

fn q(p: &[f64; 4]) -> (f64, f64, f64, f64) {
    (p[0], p[1], p[2], p[3])
}

fn segment(s: &Segment) -> wit::Segment {
    match s {
        Segment::Text {
            prompt,
            duration_frames,
            language,
            seed,
        } => wit::Segment::Text(wit::TextSegment {
            prompt: prompt.clone(),
            duration_frames: *duration_frames as u32,
            language: language.clone(),
            seed: *seed,
        }),
        Segment::Unconditioned {
            duration_frames,
            seed,
        } => wit::Segment::Unconditioned(wit::UnconditionedSegment {
            duration_frames: *duration_frames as u32,
            seed: *seed,
        }),
        Segment::Pose { prompt, language } => wit::Segment::Pose(wit::PoseSegment {
            prompt: prompt.clone(),
            language: language.clone(),
        }),
        Segment::MotionReference(m) => wit::Segment::MotionReference(wit::MotionReferenceSegment {
            duration_frames: m.duration_frames as u32,
            skeleton: m.skeleton.as_ref().map(skeleton),
            joint_names: m.joint_names.clone(),
            reference_frames: m.rotations.len() as u32,
            rotations: m
                .rotations
                .iter()
                .flatten()
                .flatten()
                .map(|&x| x as f32)
                .collect(),
            root_positions: m
                .root_positions
                .iter()
                .flatten()
                .map(|&x| x as f32)
                .collect(),
            fps: m.fps,
            seed: m.seed,
        }),
        Segment::VideoReference(v) => wit::Segment::VideoReference(wit::VideoReferenceSegment {
            duration_frames: v.duration_frames as u32,
            video: match &v.video {
                Video::Url(url) => wit::VideoSource::Url(url.clone()),
                Video::Data { base64, media_type } => wit::VideoSource::Inline(wit::InlineVideo {
                    // Validated as standard base64 by the schema stage.
                    data: base64::engine::general_purpose::STANDARD
                        .decode(base64)
                        .unwrap_or_default(),
                    media_type: match media_type {
                        MediaType::Mp4 => wit::VideoMediaType::Mp4,
                        MediaType::Quicktime => wit::VideoMediaType::Quicktime,
                        MediaType::Webm => wit::VideoMediaType::Webm,
                    },
                }),
            },
            start_s: v.start_s,
            end_s: v.end_s,
            fps: v.fps,
            seed: v.seed,
        }),
    }
}

fn constraint(c: &Constraint) -> wit::Constraint {
    match c {
        Constraint::RootPath {
            frames: f,
            positions_xz,
            heading_radians,
        } => wit::Constraint::RootPath(wit::RootPath {
            frames: frames(f),
            positions_xz: positions_xz.iter().map(|p| (p[0], p[1])).collect(),
            heading_radians: heading_radians.clone(),
        }),
        Constraint::EffectorTarget {
            joint,
            frames: f,
            positions,
            rotations,
        } => wit::Constraint::EffectorTarget(wit::EffectorTarget {
            joint: joint.clone(),
            frames: frames(f),
            positions: positions.iter().map(v3).collect(),
            rotations: rotations.as_ref().map(|r| r.iter().map(q).collect()),
        }),
        Constraint::PoseKeyframe {
            frame,
            joint_rotations,
            root_position,
            fill_mode,
        } => wit::Constraint::PoseKeyframe(wit::PoseKeyframe {
            frame: *frame as u32,
            joint_rotations: joint_rotations
                .iter()
                .map(|(n, r)| (n.clone(), q(r)))
                .collect(),
            root_position: root_position.as_ref().map(v3),
            fill_mode: match fill_mode {
                FillMode::Rest => wit::FillMode::Rest,
                FillMode::Generate => wit::FillMode::Generate,
            },
        }),
        Constraint::GroundHeight { points } => wit::Constraint::GroundHeight(wit::GroundHeight {
            points: points.iter().map(v3).collect(),
        }),
    }
}

fn options(o: &Options) -> wit::Options {
    wit::Options {
        diffusion_steps: o.diffusion_steps as u32,
        num_samples: o.num_samples as u32,
        seed: o.seed,
        post_processing: o.post_processing,
        transition_frames: o.transition_frames as u32,
        guidance: o.guidance.as_ref().map(|g| wit::Guidance {
            kind: match g.kind {
                GuidanceType::Nocfg => wit::GuidanceType::Nocfg,
                GuidanceType::Regular => wit::GuidanceType::Regular,
                GuidanceType::Separated => wit::GuidanceType::Separated,
            },
            weight: g.weight.clone(),
        }),
        loop_: o.loop_,
        keyframe_budget: o.keyframe_budget,
        model_options: o
            .model_options
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
    }
}

/// The WIT request for a validated request served by a model of `native_fps`.
pub fn request(req: &GenerateRequest, native_fps: f64) -> wit::GenerateRequest {
    wit::GenerateRequest {
        protocol_version: req.protocol_version.clone(),
        model: req.model.clone(),
        skeleton: skeleton(&req.skeleton),
        segments: req.segments.iter().map(segment).collect(),
        constraints: req.constraints.iter().map(constraint).collect(),
        duration_frames: req.duration_frames.map(|d| d as u32),
        timing_fps: req.timing_fps,
        options: options(&req.options_or_default()),
        total_frames: req.total_frames() as u32,
        effective_fps: req.effective_fps(native_fps),
    }
}
