//! Backbones in Python and JavaScript, through the real binary over HTTP:
//! the null backbone answers exactly as the Rust one in every language, the
//! procedural walks agree with each other, protocol errors raised in a guest
//! language keep their code, an uncaught exception costs one request, and a
//! JavaScript component imports nothing but our interfaces.

mod support;

use std::process::Command;

use base64::Engine as _;
use serde_json::{json, Value};
use support::*;

/// Requests whose answers must be byte-identical across the three nulls:
/// one sample, several samples, timing, constraints, a constraint-only
/// request, a batch, and refusals from each validation stage.
fn parity_requests() -> Vec<Value> {
    vec![
        valid(),
        with(json!({"options": {"num_samples": 3, "seed": 7}})),
        with(json!({"timing": {"fps": 24}})),
        with(json!({
            "segments": [
                {"type": "text", "prompt": "walk", "duration_frames": 30},
                {"type": "unconditioned", "duration_frames": 12}
            ],
            "constraints": [
                {"type": "root_path", "frames": [0, 41], "positions_xz": [[0, 0], [1, 2]]},
                {"type": "effector_target", "joint": "Head", "frames": [3], "positions": [[0, 1.7, 0]]},
                {"type": "pose_keyframe", "frame": 5, "joint_rotations": {"Spine": [0, 0, 0, 1]}}
            ]
        })),
        with(json!({"segments": [], "duration_frames": 20,
            "constraints": [{"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]}]})),
        json!({"protocol_version": "1.4", "requests": [
            {"model": "null", "skeleton": null_skeleton(),
             "segments": [{"type": "text", "prompt": "a", "duration_frames": 2}]},
            {"model": "nope", "skeleton": null_skeleton(),
             "segments": [{"type": "text", "prompt": "b", "duration_frames": 2}]}
        ]}),
        with(json!({"model": "nope"})),
        with(json!({"segments": [{"type": "pose", "prompt": "stand"}]})),
        with(json!({"options": {"loop": true}})),
        with(
            json!({"constraints": [{"type": "effector_target", "joint": "Tail", "frames": [0], "positions": [[0, 0, 0]]}]}),
        ),
    ]
}

/// What must match between two answers: everything but the headers
/// (which carry per-request ids).
fn status_type_body(a: &Answer) -> (u16, Option<String>, Vec<u8>) {
    (
        a.status,
        a.header("content-type").map(str::to_owned),
        a.body.clone(),
    )
}

#[test]
fn every_null_answers_byte_for_byte_like_the_rust_one() {
    let servers: Vec<Server> = NULLS.iter().map(|n| Server::start(&[n])).collect();
    let (rust, others) = servers.split_first().unwrap();
    let expected = rust.get("/capabilities").body;
    for (name, s) in NULLS[1..].iter().zip(others) {
        assert_eq!(
            String::from_utf8_lossy(&s.get("/capabilities").body),
            String::from_utf8_lossy(&expected),
            "{name}: /capabilities"
        );
    }
    for body in parity_requests() {
        let want = rust.post(&body);
        for (name, s) in NULLS[1..].iter().zip(others) {
            assert_eq!(
                status_type_body(&s.post(&body)),
                status_type_body(&want),
                "{name}: {body}"
            );
        }
    }
    // GLB answers too.
    let glb = |s: &Server| {
        let body = valid().to_string();
        let req = format!(
            "POST /generate HTTP/1.1\r\nHost: x\r\nAccept: model/gltf-binary\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.raw(req.as_bytes())
    };
    let want = glb(rust);
    assert_eq!(want.header("content-type"), Some("model/gltf-binary"));
    for (name, s) in NULLS[1..].iter().zip(others) {
        assert_eq!(glb(s).body, want.body, "{name}: GLB");
    }
}

fn probe(lang: &str, prompt: &str) -> Value {
    let mut body = probe_request(prompt);
    body["model"] = json!(format!("probe-{lang}"));
    body
}

/// A protocol error raised in the guest language reaches the client with its
/// code, status, message and details; the typed constructors keep the
/// reference's wording.
fn raised_errors_keep_their_code(lang: &str) {
    let s = Server::start(&[&format!("probe-{lang}")]);
    for (code, status) in [
        ("invalid_options", 400),
        ("invalid_request", 400),
        ("unauthorized", 401),
        ("forbidden", 403),
        ("payload_too_large", 413),
        ("rate_limited", 429),
        ("resource_exhausted", 503),
        ("model_unavailable", 503),
        ("timeout", 504),
    ] {
        let a = s.post(&probe(lang, &format!("raise {code} weights still loading")));
        let error = a.error(status, code);
        assert_eq!(error["message"], "weights still loading");
        assert_eq!(error["details"], json!({"probe": true}));
    }
    let error = s
        .post(&probe(lang, "unknown joint Tail"))
        .error(400, "unknown_joint");
    assert_eq!(
        error["message"],
        "joint 'Tail' is not in the request skeleton"
    );
    assert_eq!(
        error["details"]["skeleton_joints"],
        json!(["Hips", "Spine"])
    );
    assert_eq!(s.post(&probe(lang, "walk")).status, 200);
}

#[test]
fn python_protocol_errors_keep_their_code() {
    raised_errors_keep_their_code("py");
}

#[test]
fn javascript_protocol_errors_keep_their_code() {
    raised_errors_keep_their_code("js");
}

/// Anything else thrown is `500 internal_error` naming it, and the very next
/// request is served.
fn uncaught_exceptions_cost_one_request(lang: &str, thrown: &str) {
    let s = Server::start(&[&format!("probe-{lang}")]);
    let error = s.post(&probe(lang, "throw")).error(500, "internal_error");
    assert_mentions(&error, thrown);
    assert_eq!(s.post(&probe(lang, "walk")).status, 200);
    let error = s
        .post(&probe(lang, "wrong type"))
        .error(500, "internal_error");
    assert_mentions(&error, "must return a MotionResult");
    let error = s
        .post(&probe(lang, "bad shape"))
        .error(500, "internal_error");
    assert_mentions(&error, "rotations must be (B, T, J, 4)");
    // A code outside the closed set is the backbone's bug, not the client's.
    let error = s
        .post(&probe(lang, "raise no_such_code"))
        .error(500, "internal_error");
    assert_mentions(&error, "unknown protocol error code");
    assert_eq!(s.post(&probe(lang, "walk")).status, 200);
}

#[test]
fn python_uncaught_exceptions_cost_one_request() {
    uncaught_exceptions_cost_one_request("py", "KeyError: 'missing'");
}

#[test]
fn javascript_uncaught_exceptions_cost_one_request() {
    uncaught_exceptions_cost_one_request("js", "TypeError");
}

#[test]
fn javascript_components_import_only_our_interfaces() {
    for component in ["null-js", "walk-js", "probe-js"] {
        assert_eq!(
            inspect(component),
            [
                "import mmcp:backbone/progress@0.1.0",
                "import mmcp:backbone/types@0.1.0",
                "export mmcp:backbone/backbone@0.1.0"
            ],
            "{component}"
        );
    }
}

#[test]
fn python_components_import_our_interfaces_and_wasi_only() {
    // componentize-py's CPython needs WASI; the host grants it nothing.
    let lines = inspect("null-py");
    assert!(lines.contains(&"export mmcp:backbone/backbone@0.1.0".to_string()));
    for line in lines.iter().filter(|l| l.starts_with("import ")) {
        assert!(
            line.starts_with("import wasi:") || line.starts_with("import mmcp:backbone/"),
            "{line}"
        );
    }
}

// ---- the procedural walks ----------------------------------------------------

fn walk_request(model: &str, constraints: Value) -> Value {
    json!({
        "protocol_version": "1.4",
        "model": model,
        "skeleton": null_skeleton(),
        "segments": [{"type": "text", "prompt": "walk", "duration_frames": 60}],
        "constraints": constraints,
        "options": {"num_samples": 2},
    })
}

/// The values of accessor `index`, as rows of its component count.
fn accessor(doc: &Value, index: usize) -> Vec<Vec<f32>> {
    let width = match doc["accessors"][index]["type"].as_str().unwrap() {
        "SCALAR" => 1,
        "VEC3" => 3,
        "VEC4" => 4,
        other => panic!("{other}"),
    };
    accessor_floats(doc, index)
        .chunks(width)
        .map(<[f32]>::to_vec)
        .collect()
}

/// The sampler output of `node`'s `path` channel in animation 0.
fn channel(doc: &Value, node: &str, path: &str) -> Vec<Vec<f32>> {
    let nodes = doc["nodes"].as_array().unwrap();
    let index = nodes.iter().position(|n| n["name"] == node).unwrap();
    let animation = &doc["animations"][0];
    let ch = animation["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"]["node"] == index && c["target"]["path"] == path)
        .unwrap_or_else(|| panic!("no {path} channel on {node}"));
    let sampler = &animation["samplers"][ch["sampler"].as_u64().unwrap() as usize];
    accessor(doc, sampler["output"].as_u64().unwrap() as usize)
}

#[test]
fn the_walks_follow_the_root_path_alike_in_python_and_javascript() {
    let s = Server::start(&["walk-py", "walk-js"]);
    let path = json!([{"type": "root_path", "frames": [0, 29, 59],
        "positions_xz": [[0, 0], [1, 1], [2, 0]]}]);
    let py = s.post(&walk_request("walk-py", path.clone())).json();
    let js = s.post(&walk_request("walk-js", path)).json();
    for doc in [&py, &js] {
        assert_eq!(doc["animations"].as_array().unwrap().len(), 2);
        let root = channel(doc, "Hips", "translation");
        // The root passes through every key of the path, at its frame.
        for (frame, x, z) in [(0, 0.0, 0.0), (29, 1.0, 1.0), (59, 2.0, 0.0)] {
            assert!((root[frame][0] - x).abs() < 1e-5, "{:?}", root[frame]);
            assert!((root[frame][2] - z).abs() < 1e-5, "{:?}", root[frame]);
        }
        // The feet step: their translation channels move along the stride.
        let left = channel(doc, "LeftFoot", "translation");
        let reach = left.iter().map(|t| t[2]).fold(f32::MIN, f32::max);
        assert!(reach > 0.2, "left foot never swings forward: {reach}");
        let contacts = &doc["extensions"]["MMCP_motion"]["samples"][0]["foot_contacts"];
        assert_eq!(contacts["LeftFoot"].as_array().unwrap().len(), 60);
    }
    let (a, b) = (buffer_floats(&py), buffer_floats(&js));
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        worst <= 1e-5,
        "Python and JavaScript walks differ by {worst}"
    );
}

#[test]
fn the_walks_refuse_a_path_faster_than_they_can_go() {
    let s = Server::start(&["walk-py", "walk-js"]);
    let sprint = json!([{"type": "root_path", "frames": [0, 1], "positions_xz": [[0, 0], [5, 0]]}]);
    for model in ["walk-py", "walk-js"] {
        let error = s
            .post(&walk_request(model, sprint.clone()))
            .error(400, "invalid_request");
        assert_mentions(&error, "150.00 m/s");
        assert_eq!(error["details"]["frame"], 1);
        assert_eq!(error["details"]["max_speed_mps"].as_f64(), Some(8.0));
        // Without a path they walk straight ahead, and say so.
        let doc = s.post(&walk_request(model, json!([]))).json();
        let notes = &doc["extensions"]["MMCP_motion"]["notes"];
        assert_eq!(notes[0]["code"], "straight_line", "{model}: {notes}");
    }
}

#[test]
fn a_restart_loads_python_and_javascript_components_from_the_cache() {
    assert_restart_hits_the_cache(&component("null-py"));
    assert_restart_hits_the_cache(&component("null-js"));
}

// ---- the README's examples -----------------------------------------------------

/// The first fenced block of `lang` after `heading` in the README.
fn readme_block(heading: &str, lang: &str) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let section = &readme[readme.find(heading).expect(heading)..];
    let fence = format!("```{lang}\n");
    let start = section.find(&fence).expect(&fence) + fence.len();
    section[start..start + section[start..].find("```").unwrap()].to_owned()
}

/// Builds a README example with scripts/componentize.sh. The directory sits
/// two levels below the repository root, as in `components/`, so the
/// JavaScript example's `../../guest-sdk` import resolves.
fn build_example(dir: &str, file: &str, source: &str) -> std::path::PathBuf {
    component("null"); // installs the build tools on a fresh machine
    let dir = repo_root().join("target").join(dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), source).unwrap();
    let out = dir.join("example.wasm");
    let status = Command::new("bash")
        .arg(repo_root().join("scripts/componentize.sh"))
        .arg(&dir)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "building {}", dir.display());
    out
}

#[test]
fn the_readme_examples_build_and_serve() {
    let py = build_example(
        "readme-bob-py",
        "app.py",
        &readme_block("### In Python", "python"),
    );
    let js = build_example(
        "readme-bob-js",
        "backbone.js",
        &readme_block("### In JavaScript", "js"),
    );
    let s = Server::start_paths(&[py, js], &[]);
    let skeleton = json!({"joints": [
        {"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]},
        {"name": "Spine", "parent": "Hips", "rest_translation": [0, 0.5, 0], "rest_rotation": [0, 0, 0, 1]}
    ]});
    let mut docs = Vec::new();
    for model in ["bob-py", "bob-js"] {
        let request = json!({
            "protocol_version": "1.4", "model": model, "skeleton": skeleton,
            "segments": [{"type": "text", "prompt": "bob", "duration_frames": 30}],
        });
        let doc = s.post(&request).json();
        let root = channel(&doc, "Hips", "translation");
        // 2 cm at 1 Hz: up a quarter second in, down three quarters in.
        assert!(
            (root[7][1] - (0.95 + 0.02 * (std::f32::consts::TAU * 7.0 / 30.0).sin())).abs() < 1e-5
        );
        assert!(root[22][1] < 0.95 - 0.019, "{:?}", root[22]);
        docs.push(root);
        let mut slow = request.clone();
        slow["options"] = json!({"diffusion_steps": 300});
        let error = s.post(&slow).error(400, "invalid_options");
        assert_eq!(error["message"], "bob takes at most 200 steps");
    }
    // Same motion; JavaScript rounds to f32 once more (its `+=` on a Float32Array).
    for (a, b) in docs[0].iter().flatten().zip(docs[1].iter().flatten()) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
}

// ---- every request part, as each SDK presents it -----------------------------

/// Numbers as f64, so Python's `1.0` and JavaScript's `1` compare equal.
fn numbers_as_floats(v: &Value) -> Value {
    match v {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => Value::Array(items.iter().map(numbers_as_floats).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), numbers_as_floats(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn every_segment_constraint_and_option_reaches_python_and_javascript_intact() {
    let s = Server::start(&["probe-py", "probe-js"]);
    let video = base64::engine::general_purpose::STANDARD.encode([0u8, 1, 2, 3, 4, 5]);
    let request = |model: &str| {
        let mut body = probe_request("echo");
        body["model"] = json!(model);
        body["segments"] = json!([
            {"type": "text", "prompt": "echo", "duration_frames": 10, "language": "fr", "seed": 11},
            {"type": "unconditioned", "duration_frames": 5},
            {"type": "pose", "prompt": "stand tall"},
            {"type": "motion_reference", "duration_frames": 8, "joint_names": ["Hips", "Spine"],
             "rotations": [[[0, 0, 0, 1], [0, 0, 0, 1]], [[0, 0.5, 0, 0.5], [0.1, 0.2, 0.3, 0.9]]],
             "root_positions": [[0, 0.9, 0], [0.5, 0.9, 0.25]], "fps": 24, "seed": 3},
            {"type": "video_reference", "duration_frames": 6,
             "video": {"data": video, "media_type": "video/mp4"}, "start_s": 1.0, "end_s": 3.5, "fps": 25}
        ]);
        body["constraints"] = json!([
            {"type": "root_path", "frames": [0, 29], "positions_xz": [[0, 0], [1, 2]], "heading_radians": [0, 1.5]},
            {"type": "effector_target", "joint": "Spine", "frames": [3, 3], "positions": [[0, 1, 0], [0, 1.1, 0]]},
            {"type": "pose_keyframe", "frame": 4, "joint_rotations": {"Spine": [0, 0, 0, 1]},
             "root_position": [0, 0.9, 0], "fill_mode": "rest"},
            {"type": "ground_height", "points": [[0, 0, 0.1]]}
        ]);
        body["options"] = json!({
            "diffusion_steps": 50, "num_samples": 2, "seed": 9, "post_processing": false,
            "transition_frames": 3, "guidance": {"type": "separated", "weight": [2.0, 1.5]},
            "loop": false, "keyframe_budget": 0.01, "model_options": {"style": "wild", "energy": 0.5}
        });
        body["timing"] = json!({"fps": 24});
        body
    };
    let expected = numbers_as_floats(&json!({
        "segments": [
            {"type": "text", "duration_frames": 10, "prompt": "echo", "language": "fr", "seed": 11},
            {"type": "unconditioned", "duration_frames": 5, "seed": null},
            {"type": "pose", "duration_frames": 1, "prompt": "stand tall", "language": "en"},
            {"type": "motion_reference", "duration_frames": 8, "joint_names": ["Hips", "Spine"],
             "reference_frames": 2, "last_rotation": [0.1f32, 0.2f32, 0.3f32, 0.9f32],
             "last_root": [0.5, 0.9f32, 0.25], "fps": 24, "skeleton": null, "seed": 3},
            {"type": "video_reference", "duration_frames": 6, "url": null, "media_type": "video/mp4",
             "num_bytes": 6, "head": [0, 1, 2, 3], "trimmed_seconds": 2.5, "fps": 25, "seed": null}
        ],
        "constraints": [
            {"type": "root_path", "frames": [0, 29], "positions_xz": [[0, 0], [1, 2]], "heading_radians": [0, 1.5]},
            {"type": "effector_target", "joint": "Spine", "frames": [3, 3],
             "positions": [[0, 1, 0], [0, 1.1, 0]], "rotations": null},
            {"type": "pose_keyframe", "frame": 4, "joint_rotations": {"Spine": [0, 0, 0, 1]},
             "root_position": [0, 0.9, 0], "fill_mode": "rest"},
            {"type": "ground_height", "points": [[0, 0, 0.1]]}
        ],
        "options": {
            "diffusion_steps": 50, "num_samples": 2, "seed": 9, "post_processing": false,
            "transition_frames": 3, "guidance": {"type": "separated", "weight": [2.0, 1.5]},
            "loop": false, "keyframe_budget": 0.01, "model_options": {"style": "wild", "energy": 0.5}
        },
        "timing_fps": 24, "fps_30": 24, "duration_frames": null, "total_frames": 30,
        "motion_references": 1, "first_motion_reference_frames": 2, "video_references": 1,
        "root": "Hips"
    }));
    for model in ["probe-py", "probe-js"] {
        let doc = s.post(&request(model)).json();
        let note = &doc["extensions"]["MMCP_motion"]["notes"][0];
        assert_eq!(note["code"], "echo", "{model}: {doc}");
        let seen: Value = serde_json::from_str(note["message"].as_str().unwrap()).unwrap();
        assert_eq!(numbers_as_floats(&seen), expected, "{model}");
    }
}

#[test]
fn an_endless_loop_in_python_or_javascript_costs_one_request() {
    let paths = [component("probe-py"), component("probe-js")];
    let s = Server::start_paths(&paths, &["--timeout", "1"]);
    for lang in ["py", "js"] {
        let error = s.post(&probe(lang, "spin")).error(504, "timeout");
        assert_mentions(&error, "deadline");
        // The interrupted instance is replaced; the model serves on.
        assert_eq!(s.post(&probe(lang, "walk")).status, 200);
    }
}
