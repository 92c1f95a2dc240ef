//! Fuzzing of request decoding and validation (no backbone involved).
//!
//! A structure-aware mutation fuzzer: it starts from valid requests, mutates
//! the JSON tree (replaces, deletes, inserts and retypes nodes, swaps tags)
//! and the raw bytes (flips, truncations, insertions), and feeds each result
//! through the same decode + validate pipeline `POST /generate` uses. Each
//! input must yield a request or a well-formed protocol error, never a panic.
//!
//! Budget: `MMCP_FUZZ_EXECS` executions or `MMCP_FUZZ_SECONDS` seconds,
//! whichever comes first (CI: 200 000 or 20 s). `MMCP_FUZZ_SEED` replays a
//! run. A failing input is printed so it can become a regression test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use motionmcp_host::bindings::mmcp::backbone::types as wit;
use motionmcp_host::bindings::ModelSpec;
use motionmcp_host::error::ErrorCode;
use motionmcp_host::validate::{self, Models};
use serde_json::{json, Map, Value};

/// xorshift64*: fast, seedable, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn joint(name: &str, parent: Option<&str>, t: (f64, f64, f64)) -> wit::Joint {
    wit::Joint {
        name: name.into(),
        parent: parent.map(Into::into),
        rest_translation: t,
        rest_rotation: (0.0, 0.0, 0.0, 1.0),
        display_name: None,
    }
}

/// A model that opts in to every segment and constraint type, with dials and
/// reference limits, so every validation path is reachable.
fn spec() -> ModelSpec {
    let all = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    ModelSpec {
        id: "null".into(),
        fps: 30.0,
        canonical_skeleton: wit::Skeleton {
            joints: vec![
                joint("Hips", None, (0.0, 0.95, 0.0)),
                joint("Spine", Some("Hips"), (0.0, 0.5, 0.0)),
                joint("Head", Some("Spine"), (0.0, 0.3, 0.0)),
            ],
        },
        supports_retargeting: false,
        supports_joint_translation: true,
        supports_async: false,
        supports_segment_seed: true,
        supports_loop: true,
        supports_keyframe_reduction: true,
        model_options: vec![
            wit::ModelOption {
                name: "twist".into(),
                kind: wit::ModelOptionType::Number,
                title: None,
                description: None,
                default: Some("0.5".into()),
                minimum: Some(0.0),
                maximum: Some(1.0),
                values: None,
            },
            wit::ModelOption {
                name: "style".into(),
                kind: wit::ModelOptionType::Flags,
                title: None,
                description: None,
                default: None,
                minimum: None,
                maximum: None,
                values: Some(all(&["a", "b"])),
            },
        ],
        supports_motion_reference_mixed: true,
        supports_batch: true,
        supports_trajectory: false,
        supported_constraints: all(&[
            "root_path",
            "effector_target",
            "pose_keyframe",
            "ground_height",
        ]),
        supported_segments: all(&[
            "text",
            "unconditioned",
            "pose",
            "motion_reference",
            "video_reference",
        ]),
        supported_guidance_types: all(&["nocfg", "regular", "separated"]),
        predicted_contact_joints: vec![],
        native_clip_seconds: 10.0,
        chunking: wit::Chunking::None,
        recommended_max_duration_seconds: 12.0,
        limits: wit::Limits {
            max_duration_seconds: 30.0,
            max_num_samples: 16,
            max_constraints_per_request: 64,
            max_prompt_length: 1000,
            max_request_bytes: 1 << 20,
            max_batch_size: 16,
            max_reference_frames: Some(10),
            max_video_bytes: Some(100),
            max_video_seconds: Some(5.0),
        },
    }
}

struct One(Arc<ModelSpec>);

impl Models for One {
    type Model = ();

    fn spec(&self, id: &str) -> Option<Arc<ModelSpec>> {
        (id == self.0.id).then(|| Arc::clone(&self.0))
    }

    fn model(&self, id: &str) -> Option<((), Arc<ModelSpec>)> {
        self.spec(id).map(|spec| ((), spec))
    }
    fn ids(&self) -> Vec<String> {
        vec![self.0.id.clone()]
    }
}

fn seeds() -> Vec<Value> {
    let skeleton = json!({"joints": [
        {"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]},
        {"name": "Spine", "parent": "Hips", "rest_translation": [0, 0.5, 0], "rest_rotation": [0, 0, 0, 1]},
        {"name": "Head", "parent": "Spine", "rest_translation": [0, 0.3, 0], "rest_rotation": [0, 0, 0, 1], "display_name": "head"}
    ]});
    let q = json!([0, 0, 0, 1]);
    vec![
        json!({"protocol_version": "1.4", "model": "null", "skeleton": skeleton,
               "segments": [{"type": "text", "prompt": "walk", "duration_frames": 30, "language": "en", "seed": 3},
                            {"type": "unconditioned", "duration_frames": 10},
                            {"type": "pose", "prompt": "t-pose"}],
               "constraints": [{"type": "root_path", "frames": [0, 10], "positions_xz": [[0, 0], [1, 1]], "heading_radians": [0, 1]},
                               {"type": "effector_target", "joint": "Head", "frames": [3], "positions": [[0, 1, 0]], "rotations": [q]},
                               {"type": "pose_keyframe", "frame": 5, "joint_rotations": {"Spine": q}, "root_position": [0, 1, 0], "fill_mode": "rest"},
                               {"type": "ground_height", "points": [[0, 0, 0.1]]}],
               "timing": {"fps": 24},
               "options": {"diffusion_steps": 50, "num_samples": 2, "seed": 7, "post_processing": false, "transition_frames": 3,
                           "guidance": {"type": "separated", "weight": [1.5, 2.0]}, "keyframe_budget": 0.01,
                           "model_options": {"twist": 0.3, "style": ["a"]}}}),
        json!({"protocol_version": "1.0", "model": "null", "skeleton": skeleton,
               "segments": [{"type": "motion_reference", "duration_frames": 20, "joint_names": ["Hips", "Spine"],
                             "rotations": [[q, q], [q, q]], "root_positions": [[0, 1, 0], [0, 1, 0.1]], "fps": 30},
                            {"type": "video_reference", "duration_frames": 20, "video": {"url": "https://cdn.example.com/a.mp4"}, "start_s": 0, "end_s": 2},
                            {"type": "video_reference", "duration_frames": 5, "video": {"data": "QUJD", "media_type": "video/mp4"}}],
               "options": {"loop": false}}),
        json!({"protocol_version": "1.4", "model": "null", "skeleton": skeleton, "segments": [], "duration_frames": 10,
               "constraints": [{"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]}]}),
    ]
}

fn random_scalar(rng: &mut Rng) -> Value {
    const STRINGS: [&str; 16] = [
        "",
        " ",
        "text",
        "pose",
        "unconditioned",
        "motion_reference",
        "video_reference",
        "root_path",
        "ground_height",
        "Hips",
        "1.4",
        "2.0",
        "nan",
        "https://[::1]:0/x",
        "😀é\u{0}",
        "QUJ=",
    ];
    match rng.below(10) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.next() as i64),
        3 => json!([0i64, 1, -1, 16, 17, 500, 501, i64::MAX, i64::MIN][rng.below(9)]),
        4 => json!(f64::from_bits(rng.next()).clamp(-1e300, 1e300))
            .as_f64()
            .map_or(json!(0.5), |f| {
                if f.is_finite() {
                    json!(f)
                } else {
                    json!(0.5)
                }
            }),
        5 => json!(
            [
                0.0,
                -0.0,
                0.5,
                1e-300,
                3.0,
                2.5,
                1e30,
                18446744073709551616.0
            ][rng.below(8)]
        ),
        6 => json!(STRINGS[rng.below(STRINGS.len())]),
        7 => json!("x".repeat(rng.below(1100))),
        8 => json!([]),
        _ => json!({}),
    }
}

/// Applies one structural mutation somewhere in `v`.
fn mutate(v: &mut Value, rng: &mut Rng, depth: usize) {
    let descend = depth < 12 && rng.chance(70);
    match v {
        Value::Object(map) if descend && !map.is_empty() => {
            let key = map.keys().nth(rng.below(map.len())).unwrap().clone();
            mutate(map.get_mut(&key).unwrap(), rng, depth + 1);
        }
        Value::Array(items) if descend && !items.is_empty() => {
            let i = rng.below(items.len());
            mutate(&mut items[i], rng, depth + 1);
        }
        Value::Object(map) => match rng.below(4) {
            0 if !map.is_empty() => {
                let key = map.keys().nth(rng.below(map.len())).unwrap().clone();
                map.remove(&key);
            }
            1 => {
                let keys = [
                    "type", "frames", "fps", "extra", "requests", "seed", "joints", "video", "data",
                ];
                map.insert(keys[rng.below(keys.len())].into(), random_scalar(rng));
            }
            2 => *v = random_scalar(rng),
            _ => {
                let copy = v.clone();
                *v = json!([copy]);
            }
        },
        Value::Array(items) => match rng.below(4) {
            0 if !items.is_empty() => {
                items.remove(rng.below(items.len()));
            }
            1 if !items.is_empty() => {
                let dup = items[rng.below(items.len())].clone();
                for _ in 0..rng.below(70) {
                    items.push(dup.clone());
                }
            }
            2 => items.push(random_scalar(rng)),
            _ => *v = random_scalar(rng),
        },
        _ => {
            if rng.chance(20) {
                let mut m = Map::new();
                m.insert("type".into(), random_scalar(rng));
                *v = Value::Object(m);
            } else {
                *v = random_scalar(rng);
            }
        }
    }
}

/// Byte-level damage to the serialised request.
fn mutate_bytes(bytes: &mut Vec<u8>, rng: &mut Rng) {
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            return;
        }
        let i = rng.below(bytes.len());
        match rng.below(5) {
            0 => bytes[i] = rng.next() as u8,
            1 => bytes.truncate(i),
            2 => bytes.insert(i, b"[{\"}]:,0-eE.\\\xff"[rng.below(14)]),
            3 => {
                bytes.remove(i);
            }
            _ => bytes.splice(i..i, b"NaN".iter().copied()).for_each(drop),
        }
    }
}

const CODES: [ErrorCode; 19] = [
    ErrorCode::SchemaValidation,
    ErrorCode::UnknownModel,
    ErrorCode::RetargetingUnsupported,
    ErrorCode::UnsupportedConstraint,
    ErrorCode::UnsupportedSegment,
    ErrorCode::UnknownJoint,
    ErrorCode::InvalidSkeleton,
    ErrorCode::FrameOutOfRange,
    ErrorCode::InvalidOptions,
    ErrorCode::InvalidRequest,
    ErrorCode::VersionUnsupported,
    ErrorCode::Unauthorized,
    ErrorCode::Forbidden,
    ErrorCode::PayloadTooLarge,
    ErrorCode::RateLimited,
    ErrorCode::InternalError,
    ErrorCode::ResourceExhausted,
    ErrorCode::ModelUnavailable,
    ErrorCode::Timeout,
];

/// Runs one input through decode + validate and checks the invariants;
/// returns whether it was accepted.
fn check(bytes: &[u8], models: &One) -> bool {
    let outcome = motionmcp_host::http::decode_body(bytes)
        .and_then(|value| validate::single(&value, bytes.len(), models));
    match outcome {
        Ok(valid) => {
            let req = valid.request;
            assert!(req.total_frames() > 0);
            assert!(req
                .skeleton
                .joints
                .first()
                .is_some_and(|j| j.parent.is_none()));
            true
        }
        Err(e) => {
            assert!(CODES.contains(&e.code), "{:?}", e.code);
            assert!(
                motionmcp_host::http::status::of(e.code).is_client_error(),
                "validation answered {:?}",
                e.code
            );
            assert!(!e.message.is_empty());
            if let Some(errors) = e.details.get("errors") {
                for entry in errors.as_array().unwrap() {
                    assert!(
                        entry["type"].is_string()
                            && entry["loc"].is_array()
                            && entry["msg"].is_string(),
                        "{entry}"
                    );
                    assert!(entry.get("input").is_none());
                }
            }
            // The envelope always serialises (no non-finite numbers).
            serde_json::to_vec(&e.envelope()).unwrap();
            false
        }
    }
}

#[test]
fn decoding_and_validation_never_panic() {
    let env = |k: &str, d: u64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let budget = env("MMCP_FUZZ_EXECS", 200_000);
    let seconds = Duration::from_secs(env("MMCP_FUZZ_SECONDS", 20));
    let seed = env("MMCP_FUZZ_SEED", 0x5EED_F00D_D00D_F00D) | 1;
    let mut rng = Rng(seed);
    let models = One(Arc::new(spec()));
    let seeds = seeds();
    for s in &seeds {
        let bytes = serde_json::to_vec(s).unwrap();
        assert!(
            validate::single(s, bytes.len(), &models).is_ok(),
            "seed must be valid: {s}"
        );
    }
    let started = Instant::now();
    let (mut execs, mut accepted) = (0u64, 0u64);
    while execs < budget && started.elapsed() < seconds {
        let mut value = seeds[rng.below(seeds.len())].clone();
        for _ in 0..=rng.below(5) {
            mutate(&mut value, &mut rng, 0);
        }
        let mut bytes = serde_json::to_vec(&value).unwrap();
        if rng.chance(15) {
            mutate_bytes(&mut bytes, &mut rng);
        }
        match std::panic::catch_unwind(|| check(&bytes, &models)) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => panic!(
                "crash after {execs} executions (seed {seed:#x}); input:\n{}",
                String::from_utf8_lossy(&bytes)
            ),
        }
        execs += 1;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "fuzz: {execs} executions in {secs:.1}s ({:.0}/s), {accepted} valid after mutation, seed {seed:#x}, no crash",
        execs as f64 / secs
    );
    assert!(execs > 1000);
}
