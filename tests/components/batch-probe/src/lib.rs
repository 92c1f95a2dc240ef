//! A backbone with a batch hook (`Backbone::generate_batch`), on the null
//! model's skeleton, advertising only `nocfg` guidance (C153: other types
//! still pass). Each result carries a note saying how it was made, so
//! a test sees the grouping through the glTF (`MMCP_motion.notes`):
//! `generate` for a single request, `item i of n` for a batch item. The
//! first batch item's text prompt steers the hook:
//!
//! - `no results`: returns an empty list (the wrong number of results)
//! - `panic`: panics (the whole call traps)
//! - `raise` on any item: that item alone fails with `invalid_options`
//! - anything else: the rest pose for every item

use motionmcp_guest::{
    export_backbone, Backbone, GenerateRequest, ModelSpec, MotionResult, ProtocolError, Segment,
    Skeleton,
};

struct BatchProbe;

fn prompt(req: &GenerateRequest) -> &str {
    req.segments
        .iter()
        .find_map(|s| match s {
            Segment::Text(t) => Some(t.prompt.as_str()),
            _ => None,
        })
        .unwrap_or("")
}

fn rest(req: &GenerateRequest, how: &str) -> Result<MotionResult, ProtocolError> {
    let root = req.skeleton.joints[0].rest_translation;
    Ok(
        MotionResult::rest_pose(req.num_samples(), req.total_frames, req.num_joints(), root)?
            .with_note("made_by", "info", how),
    )
}

impl Backbone for BatchProbe {
    fn capabilities(&self) -> ModelSpec {
        let skeleton = Skeleton::from_joints(&[
            ("Hips", None, [0.0, 0.95, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.50, 0.0]),
            ("Head", Some("Spine"), [0.0, 0.30, 0.0]),
            ("LeftFoot", Some("Hips"), [0.10, -0.95, 0.0]),
            ("RightFoot", Some("Hips"), [-0.10, -0.95, 0.0]),
        ]);
        let mut spec = ModelSpec::new("batch-probe", 30.0, skeleton).with_core_constraints();
        spec.supported_guidance_types = vec!["nocfg".into()];
        spec
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        rest(req, "generate")
    }

    fn generate_batch(
        &mut self,
        requests: &[GenerateRequest],
    ) -> Option<Vec<Result<MotionResult, ProtocolError>>> {
        let n = requests.len();
        match requests.first().map(prompt) {
            Some("no results") => return Some(Vec::new()),
            Some("panic") => panic!("the batch probe was asked to panic"),
            _ => {}
        }
        Some(
            requests
                .iter()
                .enumerate()
                .map(|(i, req)| match prompt(req) {
                    "raise" => Err(ProtocolError::invalid_options("raised by the batch probe")),
                    _ => rest(req, &format!("item {i} of {n}")),
                })
                .collect(),
        )
    }
}

export_backbone!(BatchProbe, BatchProbe);
