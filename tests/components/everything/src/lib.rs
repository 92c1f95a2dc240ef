//! A backbone that opts in to every optional part of MMCP 1.4 a synchronous
//! model can (async has `async-probe`): all segment and constraint types,
//! segment seeds, loop, keyframe reduction, joint translation, one model
//! option of each type, and small limits so the limit checks can be reached:
//! `max_num_samples` 4, `max_reference_frames` 10, `max_video_bytes` 100,
//! `max_video_seconds` 5, and `max_request_bytes` 512 KiB and
//! `max_batch_size` 3 (below the null model's, for the multi-model caps).
//! The null skeleton is canonical.
//!
//! It answers the rest pose, except when the first text prompt says:
//! - `keys`: joint 1's rotation channel keyed at frames [0, 2, 2, 7], and
//!   joint 2's the same, so the encoder thins (and shares) them
//! - `slide`: joint 1 (Spine) moves 10 cm up on the last frame, so it gets a
//!   translation channel; the other joints stay at rest
//! - `fewer`: one sample of one frame fewer than asked (at least one), which
//!   the host encodes as returned

use motionmcp_guest::{
    export_backbone, Backbone, GenerateRequest, Limits, ModelOption, ModelOptionType, ModelSpec,
    MotionResult, ProtocolError, Segment, Skeleton,
};

struct Everything;

fn option(name: &str, kind: ModelOptionType, min: Option<f64>, max: Option<f64>) -> ModelOption {
    let mut o = ModelOption::new(name, kind);
    o.minimum = min;
    o.maximum = max;
    o
}

impl Backbone for Everything {
    fn capabilities(&self) -> ModelSpec {
        let skeleton = Skeleton::from_joints(&[
            ("Hips", None, [0.0, 0.95, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.5, 0.0]),
            ("Head", Some("Spine"), [0.0, 0.3, 0.0]),
            ("LeftFoot", Some("Hips"), [0.1, -0.95, 0.0]),
            ("RightFoot", Some("Hips"), [-0.1, -0.95, 0.0]),
        ]);
        let mut spec = ModelSpec::new("everything", 30.0, skeleton);
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
        spec.supported_segments = [
            "text",
            "unconditioned",
            "pose",
            "motion_reference",
            "video_reference",
        ]
        .map(String::from)
        .to_vec();
        let mut twist = option("twist", ModelOptionType::Number, Some(0.0), Some(1.0));
        twist.title = Some("Twist".into());
        twist.default = Some("0.5".into());
        let mut style = option("style", ModelOptionType::Enum, None, None);
        style.values = Some(vec!["calm".into(), "wild".into()]);
        let mut extras = option("extras", ModelOptionType::Flags, None, None);
        extras.values = Some(vec!["x".into(), "y".into(), "z".into()]);
        spec.model_options = vec![
            twist,
            option("steps", ModelOptionType::Integer, Some(1.0), None),
            option("mirror", ModelOptionType::Boolean, None, None),
            style,
            extras,
        ];
        spec.limits = Limits {
            max_num_samples: 4,
            max_reference_frames: Some(10),
            max_video_bytes: Some(100),
            max_video_seconds: Some(5.0),
            max_request_bytes: 512 * 1024,
            max_batch_size: 3,
            ..Limits::default()
        };
        spec
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        let (b, t, j) = (req.num_samples(), req.total_frames, req.num_joints());
        let root = req.skeleton.joints[0].rest_translation;
        let mut result = MotionResult::rest_pose(b, t, j, root)?;
        let prompt = req.segments.iter().find_map(Segment::prompt).unwrap_or("");
        if prompt == "fewer" {
            return MotionResult::rest_pose(1, t.saturating_sub(1).max(1), j, root);
        }
        match prompt {
            "keys" => {
                result = result
                    .with_keyframes(1, Some(vec![0, 2, 2, 7]), None)
                    .with_keyframes(2, Some(vec![0, 2, 2, 7]), None);
            }
            "slide" if j > 1 => {
                let mut translations = Vec::with_capacity((b * t) as usize * j as usize * 3);
                for _sample in 0..b {
                    for frame in 0..t {
                        for joint in &req.skeleton.joints {
                            let (x, mut y, z) = joint.rest_translation;
                            if joint.name == req.skeleton.joints[1].name && frame == t - 1 {
                                y += 0.1;
                            }
                            translations.extend([x as f32, y as f32, z as f32]);
                        }
                    }
                }
                result = result.with_translations(translations)?;
            }
            _ => {}
        }
        Ok(result)
    }
}

export_backbone!(Everything, Everything);
