//! `ModelSpec`, `Limits` and `Skeleton` with the reference SDK's defaults.

use crate::{Chunking, Joint, Limits, ModelOption, ModelOptionType, ModelSpec, Skeleton};

/// Segment types every model accepts unless it says otherwise.
pub const DEFAULT_SEGMENTS: [&str; 2] = ["text", "unconditioned"];
/// The core constraint types (a model must list them to accept them).
pub const CORE_CONSTRAINTS: [&str; 3] = ["root_path", "effector_target", "pose_keyframe"];
/// Every guidance mode of the protocol.
pub const GUIDANCE_TYPES: [&str; 3] = ["nocfg", "regular", "separated"];

impl ModelSpec {
    /// A spec with the three required fields and every other field at the
    /// reference's default: no retargeting, joint translation, async, segment
    /// seeds, loops, keyframe reduction or model options; no constraints;
    /// `text` and `unconditioned` segments; all guidance types; 10 s native
    /// clips; no chunking; 12 s recommended maximum; default [`Limits`].
    pub fn new(id: impl Into<String>, fps: f64, canonical_skeleton: Skeleton) -> Self {
        ModelSpec {
            id: id.into(),
            fps,
            canonical_skeleton,
            supports_retargeting: false,
            supports_joint_translation: false,
            supports_async: false,
            supports_segment_seed: false,
            supports_loop: false,
            supports_keyframe_reduction: false,
            model_options: Vec::new(),
            supports_motion_reference_mixed: false,
            supports_batch: false,
            supports_trajectory: false,
            supported_constraints: Vec::new(),
            supported_segments: strings(&DEFAULT_SEGMENTS),
            supported_guidance_types: strings(&GUIDANCE_TYPES),
            predicted_contact_joints: Vec::new(),
            native_clip_seconds: 10.0,
            chunking: Chunking::None,
            recommended_max_duration_seconds: 12.0,
            limits: Limits::default(),
        }
    }

    /// Accept the three core constraint types.
    pub fn with_core_constraints(mut self) -> Self {
        self.supported_constraints = strings(&CORE_CONSTRAINTS);
        self
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_duration_seconds: 30.0,
            max_num_samples: 16,
            max_constraints_per_request: 64,
            max_prompt_length: 1000,
            max_request_bytes: 1_048_576,
            max_batch_size: 16,
            max_reference_frames: None,
            max_video_bytes: None,
            max_video_seconds: None,
        }
    }
}

impl Joint {
    /// A joint with identity rest rotation and no display name.
    pub fn new(name: impl Into<String>, parent: Option<&str>, rest_translation: [f64; 3]) -> Self {
        let [x, y, z] = rest_translation;
        Joint {
            name: name.into(),
            parent: parent.map(str::to_owned),
            rest_translation: (x, y, z),
            rest_rotation: (0.0, 0.0, 0.0, 1.0),
            display_name: None,
        }
    }
}

impl Skeleton {
    /// Builds a skeleton from `(name, parent, rest translation)` rows, parents
    /// first, identity rest rotations.
    pub fn from_joints(rows: &[(&str, Option<&str>, [f64; 3])]) -> Self {
        Skeleton {
            joints: rows
                .iter()
                .map(|&(name, parent, t)| Joint::new(name, parent, t))
                .collect(),
        }
    }

    /// The root joint (parent `none`), which is always first in a valid skeleton.
    pub fn root(&self) -> Option<&Joint> {
        self.joints.iter().find(|j| j.parent.is_none())
    }

    /// Joint names in order.
    pub fn joint_names(&self) -> Vec<String> {
        self.joints.iter().map(|j| j.name.clone()).collect()
    }

    /// Index of the joint with this name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.joints.iter().position(|j| j.name == name)
    }
}

impl ModelOption {
    /// A dial of this type with every optional field unset.
    pub fn new(name: impl Into<String>, kind: ModelOptionType) -> Self {
        ModelOption {
            name: name.into(),
            kind,
            title: None,
            description: None,
            default: None,
            minimum: None,
            maximum: None,
            values: None,
        }
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ModelSpec {
        ModelSpec::new(
            "m",
            30.0,
            Skeleton::from_joints(&[("Hips", None, [0.0, 0.95, 0.0])]),
        )
    }

    // Each default below is the reference SDK's (backbone-contract.md §2, §2.1).
    #[test]
    fn model_spec_defaults_match_the_reference() {
        let s = spec();
        assert!(!s.supports_retargeting);
        assert!(!s.supports_joint_translation);
        assert!(!s.supports_async);
        assert!(!s.supports_segment_seed);
        assert!(!s.supports_loop);
        assert!(!s.supports_keyframe_reduction);
        assert!(s.model_options.is_empty());
        assert!(!s.supports_motion_reference_mixed);
        assert!(!s.supports_batch);
        assert!(!s.supports_trajectory);
        assert!(s.supported_constraints.is_empty());
        assert_eq!(s.supported_segments, ["text", "unconditioned"]);
        assert_eq!(
            s.supported_guidance_types,
            ["nocfg", "regular", "separated"]
        );
        assert!(s.predicted_contact_joints.is_empty());
        assert_eq!(s.native_clip_seconds, 10.0);
        assert_eq!(s.chunking, Chunking::None);
        assert_eq!(s.recommended_max_duration_seconds, 12.0);
        assert_eq!(s.limits, Limits::default());
    }

    #[test]
    fn limits_defaults_match_the_reference() {
        let l = Limits::default();
        assert_eq!(l.max_duration_seconds, 30.0);
        assert_eq!(l.max_num_samples, 16);
        assert_eq!(l.max_constraints_per_request, 64);
        assert_eq!(l.max_prompt_length, 1000);
        assert_eq!(l.max_request_bytes, 1_048_576);
        assert_eq!(l.max_batch_size, 16);
        assert_eq!(l.max_reference_frames, None);
        assert_eq!(l.max_video_bytes, None);
        assert_eq!(l.max_video_seconds, None);
    }

    #[test]
    fn core_constraints_are_opt_in() {
        assert_eq!(
            spec().with_core_constraints().supported_constraints,
            ["root_path", "effector_target", "pose_keyframe"]
        );
    }

    #[test]
    fn skeleton_helpers() {
        let s = Skeleton::from_joints(&[
            ("Hips", None, [0.0, 1.0, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.5, 0.0]),
        ]);
        assert_eq!(s.root().unwrap().name, "Hips");
        assert_eq!(s.index_of("Spine"), Some(1));
        assert_eq!(s.joints[1].rest_rotation, (0.0, 0.0, 0.0, 1.0));
        assert_eq!(s.joint_names(), ["Hips", "Spine"]);
    }
}
