//! A backbone that advertises `supports_async`, so the host answers each of
//! its requests with `202` and a job to poll. The first text prompt says what
//! to do:
//!
//! - `slow <ms>`: busy-waits that long, then the rest pose
//! - `steps <n> <ms>`: n steps of that many milliseconds each, reporting
//!   progress after each, then the rest pose
//! - `raise <code>`: fails with that protocol error (e.g. `invalid_options`)
//! - anything else: the rest pose
//!
//! Canonical skeleton: two joints, `Hips` and `Spine`.

use motionmcp_guest::{
    export_backbone, report_progress, Backbone, ErrorCode, GenerateRequest, ModelSpec,
    MotionResult, ProtocolError, Segment, Skeleton,
};

struct AsyncProbe;

impl Backbone for AsyncProbe {
    fn capabilities(&self) -> ModelSpec {
        let skeleton = Skeleton::from_joints(&[
            ("Hips", None, [0.0, 0.95, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.5, 0.0]),
        ]);
        let mut spec = ModelSpec::new("async-probe", 30.0, skeleton).with_core_constraints();
        spec.supports_async = true;
        spec
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        let prompt = req
            .segments
            .iter()
            .find_map(|s| match s {
                Segment::Text(t) => Some(t.prompt.as_str()),
                _ => None,
            })
            .unwrap_or("");
        match prompt.split_whitespace().collect::<Vec<_>>()[..] {
            ["slow", ms] => busy(ms.parse().unwrap_or(100)),
            ["steps", n, ms] => {
                let n = n.parse().unwrap_or(5);
                for done in 1..=n {
                    busy(ms.parse().unwrap_or(100));
                    report_progress(done, n);
                }
            }
            ["raise", "invalid_options"] => {
                return Err(ProtocolError::invalid_options("raised by the async probe"))
            }
            ["raise", _] => {
                return Err(ProtocolError::new(
                    ErrorCode::ModelUnavailable,
                    "raised by the async probe",
                ))
            }
            _ => {}
        }
        let root = req.skeleton.joints[0].rest_translation;
        MotionResult::rest_pose(req.num_samples(), req.total_frames, req.num_joints(), root)
    }
}

/// Spins for `ms` milliseconds (a guest has nothing to sleep on).
fn busy(ms: u64) {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(ms) {
        std::hint::spin_loop();
    }
}

export_backbone!(AsyncProbe, AsyncProbe);
