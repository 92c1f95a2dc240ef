//! A backbone (model id `slow-setup`) whose `setup` takes two seconds, as a
//! model that loads large weights would: the server's port is open
//! meanwhile, `/readyz` answers 503 and requests `503 model_unavailable`.
//! Components get no environment or arguments, so the time is fixed.
//! Otherwise the null backbone: the rest pose on a one-joint skeleton.

use std::time::Duration;

use motionmcp_guest::{
    export_backbone, Backbone, GenerateRequest, ModelSpec, MotionResult, ProtocolError, Skeleton,
};

/// How long `setup` takes.
const SETUP: Duration = Duration::from_secs(2);

#[derive(Default)]
struct SlowSetup;

impl Backbone for SlowSetup {
    fn setup(&mut self) -> Result<(), String> {
        // A WASI sleep: the host waits on a timer, no CPU is burnt.
        std::thread::sleep(SETUP);
        Ok(())
    }

    fn capabilities(&self) -> ModelSpec {
        ModelSpec::new(
            "slow-setup",
            30.0,
            Skeleton::from_joints(&[("Hips", None, [0.0, 1.0, 0.0])]),
        )
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        let root = req.skeleton.joints[0].rest_translation;
        MotionResult::rest_pose(req.num_samples(), req.total_frames, req.num_joints(), root)
    }
}

export_backbone!(SlowSetup);
