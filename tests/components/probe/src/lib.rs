//! A test backbone (model id `probe`) for the host's failure paths. The first
//! text segment's prompt picks the behaviour:
//!
//! - `raise <code>`: a protocol error with that code and details `{"q": 3}`
//! - `panic`: a Rust panic (a trap in the host)
//! - `short`: a rotation array one value short
//! - `nan`: a NaN in the root translations
//! - `rename`: joint_names that differ from the request's
//! - `extras`: foot contacts, chunk boundaries, a note and a trajectory
//! - `count`: the root's x is the number of `generate` calls this instance saw
//! - anything else: the rest pose, as the null backbone
//!
//! Canonical skeleton: two joints, `Hips` and `Spine`.

use motionmcp_guest::{
    export_backbone, Backbone, ErrorCode, GenerateRequest, ModelSpec, MotionResult, ProtocolError,
    Segment, Skeleton,
};
use serde_json::json;

#[derive(Default)]
struct Probe {
    calls: u32,
}

fn code(name: &str) -> Option<ErrorCode> {
    Some(match name {
        "invalid_options" => ErrorCode::InvalidOptions,
        "invalid_request" => ErrorCode::InvalidRequest,
        "unauthorized" => ErrorCode::Unauthorized,
        "forbidden" => ErrorCode::Forbidden,
        "payload_too_large" => ErrorCode::PayloadTooLarge,
        "rate_limited" => ErrorCode::RateLimited,
        "internal_error" => ErrorCode::InternalError,
        "resource_exhausted" => ErrorCode::ResourceExhausted,
        "model_unavailable" => ErrorCode::ModelUnavailable,
        "timeout" => ErrorCode::Timeout,
        _ => return None,
    })
}

impl Backbone for Probe {
    fn capabilities(&self) -> ModelSpec {
        let skeleton = Skeleton::from_joints(&[
            ("Hips", None, [0.0, 0.95, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.5, 0.0]),
        ]);
        ModelSpec::new("probe", 30.0, skeleton).with_core_constraints()
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        self.calls += 1;
        let prompt = req.segments.iter().find_map(Segment::prompt).unwrap_or("");
        let (b, t, j) = (req.num_samples(), req.total_frames, req.num_joints());
        let root = req.skeleton.joints[0].rest_translation;
        let mut result = MotionResult::rest_pose(b, t, j, root)?;
        match prompt.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["raise", name] => {
                let code =
                    code(name).ok_or_else(|| ProtocolError::invalid_request("unknown code"))?;
                return Err(ProtocolError::new(code, format!("probe raised {name}"))
                    .with_details(json!({"q": 3})));
            }
            ["panic"] => panic!("probe was asked to panic"),
            ["short"] => {
                result.rotations.pop();
            }
            ["nan"] => result.root_translations[0] = f32::NAN,
            ["rename"] => result.joint_names = Some(vec!["Spine".into(), "Hips".into()]),
            ["extras"] => {
                let frames = (b * t) as usize;
                result = result
                    .with_foot_contact("Hips", (0..frames).map(|i| i % 2 == 0).collect())?
                    .with_chunk_boundaries(vec![vec![1]; b as usize])?
                    .with_note("slow", "info", "probe note");
                result.trajectories = Some(vec![
                    Some(json!({"model": "custom"}).to_string());
                    b as usize
                ]);
                result.canonical_to_request = vec![("Hips".into(), "Hips".into())];
            }
            ["count"] => {
                for k in 0..(b * t) as usize {
                    result.root_translations[k * 3] = self.calls as f32;
                }
            }
            _ => {}
        }
        Ok(result)
    }
}

export_backbone!(Probe);
