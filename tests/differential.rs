//! Differential test: the same requests to our server (null backbone) and to
//! the reference server (motionmcp-sdk 0.13.0 from PyPI, in the test
//! virtualenv, on loopback). Answers must agree on status, error code and
//! details, and glTF structure, with every buffer number within 1e-5.
//! Where decisions.md makes us differ on purpose, the test asserts both
//! sides of the difference, so a change on either side is noticed.

mod support;

use serde_json::{json, Value};
use support::*;

/// Two glTF documents: same structure (buffer aside), buffers within 1e-5.
fn same_gltf(ours: &Value, theirs: &Value, what: &str) {
    let (a, b) = (buffer_floats(ours), buffer_floats(theirs));
    assert_eq!(a.len(), b.len(), "{what}: buffer length");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-5,
            "{what}: buffer float {i}: {x} vs {y}"
        );
    }
    let strip = |doc: &Value| {
        let mut doc = doc.clone();
        doc["buffers"][0].as_object_mut().unwrap().remove("uri");
        doc
    };
    assert_eq!(strip(ours), strip(theirs), "{what}: document");
}

/// Two error envelopes: same code; same details, except that for schema
/// errors (pydantic-shaped) the set of failing locations is compared.
fn same_error(ours: &Value, theirs: &Value, what: &str) {
    let (a, b) = (&ours["error"], &theirs["error"]);
    assert_eq!(a["code"], b["code"], "{what}: ours {ours}\ntheirs {theirs}");
    if a["code"] == "schema_validation" {
        let locs = |e: &Value| {
            let mut locs: Vec<String> = e["details"]["errors"]
                .as_array()
                .map(|errors| errors.iter().map(|x| x["loc"].to_string()).collect())
                .unwrap_or_default();
            locs.sort();
            locs
        };
        assert_eq!(locs(a), locs(b), "{what}: ours {ours}\ntheirs {theirs}");
    } else {
        assert_eq!(a["details"], b["details"], "{what}");
        assert_eq!(a["message"], b["message"], "{what}");
    }
}

fn same_answer(ours: &Answer, theirs: &Answer, what: &str) {
    assert_eq!(
        ours.status,
        theirs.status,
        "{what}: ours {}\ntheirs {}",
        String::from_utf8_lossy(&ours.body),
        String::from_utf8_lossy(&theirs.body)
    );
    let (a, b) = (ours.json(), theirs.json());
    if a.get("error").is_some() {
        same_error(&a, &b, what);
    } else if let Some(results) = a.get("results") {
        let theirs = b["results"].as_array().unwrap();
        assert_eq!(results.as_array().unwrap().len(), theirs.len(), "{what}");
        for (i, (x, y)) in results.as_array().unwrap().iter().zip(theirs).enumerate() {
            let what = format!("{what}, item {i}");
            match (x.get("gltf"), y.get("gltf")) {
                (Some(g), Some(h)) => same_gltf(g, h, &what),
                _ => same_error(x, y, &what),
            }
        }
    } else {
        same_gltf(&a, &b, what);
    }
}

fn constraint(fields: Value) -> Value {
    with(json!({ "constraints": [fields] }))
}

/// Requests on which both servers must agree.
fn agreed() -> Vec<(&'static str, Value)> {
    let long_prompt = "w".repeat(1001);
    let other_skeleton = json!({"joints": [
        {"name": "Root", "parent": null, "rest_translation": [0, 1, 0], "rest_rotation": [0, 0, 0, 1]}
    ]});
    let two_roots = json!({"joints": [
        {"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]},
        {"name": "Spine", "parent": null, "rest_translation": [0, 0.5, 0], "rest_rotation": [0, 0, 0, 1]}
    ]});
    let many: Vec<Value> = (0..65)
        .map(|i| json!({"type": "root_path", "frames": [0], "positions_xz": [[i, 0]]}))
        .collect();
    let item = |fields: Value| {
        let mut v = valid();
        v.as_object_mut().unwrap().remove("protocol_version");
        for (k, f) in fields.as_object().unwrap() {
            v[k] = f.clone();
        }
        v
    };
    vec![
        ("valid", valid()),
        (
            "samples",
            with(json!({"options": {"num_samples": 3, "seed": 7}})),
        ),
        (
            "timing",
            with(json!({"timing": {"fps": 24},
            "segments": [{"type": "text", "prompt": "walk", "duration_frames": 40}]})),
        ),
        (
            "every option",
            with(
                json!({"options": {"diffusion_steps": 500, "post_processing": false,
            "transition_frames": 60, "guidance": {"type": "regular", "weight": [2.5]}}}),
            ),
        ),
        (
            "two segments",
            with(json!({"segments": [
            {"type": "text", "prompt": "walk", "duration_frames": 20, "language": "de"},
            {"type": "unconditioned", "duration_frames": 10}]})),
        ),
        (
            "non-ASCII",
            with(
                json!({"segments": [{"type": "text", "prompt": "marcher 🚶 vite", "duration_frames": 4}]}),
            ),
        ),
        (
            "core constraints",
            with(json!({"constraints": [
            {"type": "root_path", "frames": [0, 2], "positions_xz": [[0, 0], [1, 0]], "heading_radians": [0, 0.5]},
            {"type": "effector_target", "joint": "Head", "frames": [1, 1], "positions": [[0, 1.7, 0], [0, 1.7, 0.1]]},
            {"type": "pose_keyframe", "frame": 2, "joint_rotations": {"Spine": [0, 0, 0, 1]}, "fill_mode": "rest"}]})),
        ),
        (
            "constraint only",
            with(json!({"segments": [], "duration_frames": 20,
            "constraints": [{"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]}]})),
        ),
        (
            "batch",
            json!({"protocol_version": "1.4", "requests": [
                item(json!({})),
                item(json!({"model": "nope"})),
                item(json!({"segments": [{"type": "text", "duration_frames": 3}]})),
                item(json!({"protocol_version": "1.2", "options": {"num_samples": 2}})),
            ]}),
        ),
        (
            "empty batch",
            json!({"protocol_version": "1.4", "requests": []}),
        ),
        ("major 2", with(json!({"protocol_version": "2.0"}))),
        ("malformed version", with(json!({"protocol_version": "1"}))),
        ("missing skeleton", {
            let mut v = valid();
            v.as_object_mut().unwrap().remove("skeleton");
            v
        }),
        ("unknown field", with(json!({"colour": "blue"}))),
        (
            "no prompt",
            with(json!({"segments": [{"type": "text", "duration_frames": 3}]})),
        ),
        (
            "zero frames",
            with(json!({"segments": [{"type": "text", "prompt": "w", "duration_frames": 0}]})),
        ),
        ("17 samples", with(json!({"options": {"num_samples": 17}}))),
        (
            "bad guidance",
            with(json!({"options": {"guidance": {"type": "strong"}}})),
        ),
        ("unknown model", with(json!({"model": "nope"}))),
        (
            "pose unsupported",
            with(json!({"segments": [{"type": "pose", "prompt": "stand"}]})),
        ),
        ("retargeting", with(json!({"skeleton": other_skeleton}))),
        ("two roots", with(json!({"skeleton": two_roots}))),
        (
            "unknown joint",
            constraint(
                json!({"type": "effector_target", "joint": "Tail", "frames": [0], "positions": [[0, 0, 0]]}),
            ),
        ),
        (
            "frame out of range",
            constraint(
                json!({"type": "root_path", "frames": [0, 99], "positions_xz": [[0, 0], [1, 0]]}),
            ),
        ),
        (
            "ground height unsupported",
            constraint(json!({"type": "ground_height", "points": [[0, 0, 0]]})),
        ),
        ("loop unsupported", with(json!({"options": {"loop": true}}))),
        (
            "keyframes unsupported",
            with(json!({"options": {"keyframe_budget": 0.01}})),
        ),
        (
            "model options unsupported",
            with(json!({"options": {"model_options": {"x": 1}}})),
        ),
        (
            "prompt too long",
            with(
                json!({"segments": [{"type": "text", "prompt": long_prompt, "duration_frames": 3}]}),
            ),
        ),
        (
            "too long",
            with(json!({"segments": [{"type": "text", "prompt": "w", "duration_frames": 901}]})),
        ),
        ("too many constraints", with(json!({"constraints": many}))),
    ]
}

#[test]
fn our_answers_match_the_reference_servers() {
    let ours = Server::start(&["null"]);
    let theirs = Server::reference();
    let mut caps = [
        ours.get("/capabilities").json(),
        theirs.get("/capabilities").json(),
    ];
    for c in &mut caps {
        // Documented: GLB is an extra response format.
        c.as_object_mut().unwrap().remove("response_formats");
    }
    assert_eq!(caps[0], caps[1], "/capabilities");

    for (what, body) in agreed() {
        same_answer(&ours.post(&body), &theirs.post(&body), what);
    }
    // Raw bodies the JSON layer refuses alike.
    for (what, raw) in [("not JSON", &b"{"[..]), ("empty", b""), ("array", b"[]")] {
        let (a, b) = (
            ours.request("POST", "/generate", raw),
            theirs.request("POST", "/generate", raw),
        );
        assert_eq!(a.status, b.status, "{what}");
        assert_eq!(
            a.json()["error"]["code"],
            b.json()["error"]["code"],
            "{what}"
        );
    }
    // Over the 1 MiB cap.
    let mut big = valid();
    big["segments"][0]["prompt"] = json!("w".repeat(1 << 20));
    same_answer(&ours.post(&big), &theirs.post(&big), "over the body cap");
    // Routing: same statuses (our bodies are envelopes, D11).
    for (method, path) in [
        ("GET", "/nope"),
        ("PUT", "/generate"),
        ("POST", "/capabilities"),
    ] {
        assert_eq!(
            ours.request(method, path, b"").status,
            theirs.request(method, path, b"").status,
            "{method} {path}"
        );
    }
}

#[test]
fn deliberate_differences_are_still_differences() {
    let ours = Server::start(&["null"]);
    let theirs = Server::reference();
    // D1: strict types. The reference coerces a numeric string.
    let coerced = with(json!({"options": {"seed": "5"}}));
    ours.post(&coerced).error(422, "schema_validation");
    assert_eq!(theirs.post(&coerced).status, 200);
    // D4: a segment type that is not a string crashes the reference.
    let odd = with(json!({"segments": [{"type": ["text"], "prompt": "w", "duration_frames": 3}]}));
    ours.post(&odd).error(422, "schema_validation");
    assert_ne!(theirs.post(&odd).status, 422);
    // D10: /health and GLB exist here only.
    assert_eq!(ours.get("/health").status, 200);
    assert_eq!(theirs.get("/health").status, 404);
    let glb = |s: &Server| {
        let body = valid().to_string();
        s.raw(format!(
            "POST /generate HTTP/1.1\r\nHost: x\r\nAccept: model/gltf-binary\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ).as_bytes())
    };
    assert_eq!(glb(&ours).header("content-type"), Some("model/gltf-binary"));
    assert_eq!(glb(&theirs).header("content-type"), Some("model/gltf+json"));
}
