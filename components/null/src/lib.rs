//! The null backbone: the rest pose for every request, exactly as the
//! reference SDK's `NullBackbone` (same id, skeleton, fps and output values),
//! so this server and the reference can be compared answer by answer.

use motionmcp_guest::{
    export_backbone, Backbone, GenerateRequest, ModelSpec, MotionResult, ProtocolError, Skeleton,
};

struct Null;

impl Backbone for Null {
    fn capabilities(&self) -> ModelSpec {
        let skeleton = Skeleton::from_joints(&[
            ("Hips", None, [0.0, 0.95, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.50, 0.0]),
            ("Head", Some("Spine"), [0.0, 0.30, 0.0]),
            ("LeftFoot", Some("Hips"), [0.10, -0.95, 0.0]),
            ("RightFoot", Some("Hips"), [-0.10, -0.95, 0.0]),
        ]);
        ModelSpec::new("null", 30.0, skeleton).with_core_constraints()
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        // The root's rest translation held on every frame, identity everywhere.
        let root = req.skeleton.joints[0].rest_translation;
        MotionResult::rest_pose(req.num_samples(), req.total_frames, req.num_joints(), root)
    }
}

export_backbone!(Null, Null);
