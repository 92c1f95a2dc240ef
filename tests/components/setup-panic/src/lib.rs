//! A backbone whose `setup` panics.

use motionmcp_guest::{
    export_backbone, Backbone, GenerateRequest, ModelSpec, MotionResult, ProtocolError, Skeleton,
};

#[derive(Default)]
struct SetupPanic;

impl Backbone for SetupPanic {
    fn setup(&mut self) -> Result<(), String> {
        panic!("weights.bin is corrupt");
    }

    fn capabilities(&self) -> ModelSpec {
        ModelSpec::new(
            "setup-panic",
            30.0,
            Skeleton::from_joints(&[("Hips", None, [0.0, 1.0, 0.0])]),
        )
    }

    fn generate(&mut self, _: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        Err(ProtocolError::internal("unreachable: setup never succeeds"))
    }
}

export_backbone!(SetupPanic);
