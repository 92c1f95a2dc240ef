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
//! - `loop`: never returns
//! - `membomb`: allocates until something gives
//! - `stack`: recurses until the stack overflows
//! - `huge <MiB>`: a valid result of about that many MiB
//! - `slow <ms>`: busy-waits that long, then the rest pose
//! - `read <path>`: reads a file; its first line, or the error, comes back as
//!   a note with code `read` (a probe of what the sandbox grants)
//! - `env`: a note listing the environment variables it can see
//! - `limit <seconds>`: the rest pose; from then on this instance's spec
//!   says `max_duration_seconds` is that many seconds
//! - `spec-loop`, `spec-invalid`, `spec-rename`: the rest pose; from then on
//!   this instance's `capabilities` never returns, says `fps` is 0, or names
//!   the model `probe-renamed`
//! - anything else: the rest pose, as the null backbone
//!
//! The spec's `native_clip_seconds` counts the `capabilities` calls this
//! instance has answered, so a test can see whether the host asked again.
//!
//! `setup` fails while a file `/weights/fail-setup` exists (only visible with
//! `serve --weights DIR`), so tests can make a fresh instance's setup fail.
//!
//! Canonical skeleton: two joints, `Hips` and `Spine`.

use std::cell::Cell;

use motionmcp_guest::{
    export_backbone, Backbone, ErrorCode, GenerateRequest, ModelSpec, MotionResult, ProtocolError,
    Segment, Skeleton,
};
use serde_json::json;

#[derive(Default)]
struct Probe {
    calls: u32,
    /// What `limit <seconds>` set.
    max_seconds: Option<f64>,
    /// What a `spec-…` prompt asked `capabilities` to do.
    spec_fault: Option<SpecFault>,
    /// `capabilities` calls answered (it takes `&self`).
    described: Cell<u32>,
}

#[derive(Clone, Copy)]
enum SpecFault {
    Loop,
    Invalid,
    Rename,
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
    fn setup(&mut self) -> Result<(), String> {
        if std::fs::metadata("/weights/fail-setup").is_ok() {
            return Err("setup refused: /weights/fail-setup exists".into());
        }
        Ok(())
    }

    fn capabilities(&self) -> ModelSpec {
        let skeleton = Skeleton::from_joints(&[
            ("Hips", None, [0.0, 0.95, 0.0]),
            ("Spine", Some("Hips"), [0.0, 0.5, 0.0]),
        ]);
        let mut spec = ModelSpec::new("probe", 30.0, skeleton).with_core_constraints();
        // Claims the host must override on the wire (C21–C23).
        spec.supports_batch = false;
        spec.supports_trajectory = true;
        spec.supports_motion_reference_mixed = true;
        // C31: a spec that changes with the instance's state.
        self.described.set(self.described.get() + 1);
        spec.native_clip_seconds = self.described.get() as f64;
        if let Some(seconds) = self.max_seconds {
            spec.limits.max_duration_seconds = seconds;
        }
        match self.spec_fault {
            Some(SpecFault::Loop) => loop {
                std::hint::spin_loop();
            },
            Some(SpecFault::Invalid) => spec.fps = 0.0,
            Some(SpecFault::Rename) => spec.id = "probe-renamed".into(),
            None => {}
        }
        spec
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
            ["loop"] => loop {
                std::hint::spin_loop();
            },
            ["membomb"] => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 16 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            ["stack"] => {
                std::hint::black_box(recurse(1));
            }
            ["huge", mib] => {
                let mib: usize = mib.parse().unwrap_or(300);
                // T frames of J rotations: 16 bytes per key.
                let frames = (mib << 20) / (16 * j as usize);
                return MotionResult::rest_pose(1, frames as u32, j, root);
            }
            ["slow", ms] => {
                let ms: u64 = ms.parse().unwrap_or(100);
                let start = std::time::Instant::now();
                while start.elapsed() < std::time::Duration::from_millis(ms) {
                    std::hint::spin_loop();
                }
            }
            ["read", path] => {
                let said = match std::fs::read_to_string(path) {
                    Ok(text) => format!("ok: {}", text.lines().next().unwrap_or("")),
                    Err(e) => format!("error: {e}"),
                };
                result = result.with_note("read", "info", &said);
            }
            ["env"] => {
                let names: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
                result = result.with_note("env", "info", &names.join(","));
            }
            ["limit", seconds] => {
                self.max_seconds = Some(
                    seconds
                        .parse()
                        .map_err(|_| ProtocolError::invalid_request("limit takes seconds"))?,
                );
            }
            ["spec-loop"] => self.spec_fault = Some(SpecFault::Loop),
            ["spec-invalid"] => self.spec_fault = Some(SpecFault::Invalid),
            ["spec-rename"] => self.spec_fault = Some(SpecFault::Rename),
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

/// Recursion that overflows the wasm call stack (not Rust's shadow stack in
/// linear memory: no locals live in memory). The addition after the call
/// keeps it from becoming a loop.
#[allow(unconditional_recursion)] // overflowing is the point
fn recurse(depth: u64) -> u64 {
    std::hint::black_box(depth) + recurse(depth + 1)
}

export_backbone!(Probe);
