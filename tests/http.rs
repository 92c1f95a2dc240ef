//! The real `motionmcp-host` binary serving real components, over HTTP on a
//! loopback socket: capabilities, generation and every error path of the
//! vertical slice. Checklist ids (C…) refer to conformance-checklist.md.

mod support;

use base64::Engine as _;
use serde_json::{json, Value};
use support::*;

/// A test that needs only the null model runs against each of its builds,
/// Rust, Python and JavaScript (same id, same answers): `name::rust`,
/// `name::python`, `name::javascript`.
macro_rules! null_test {
    ($(#[$meta:meta])* fn $name:ident($s:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            use super::*;

            fn check($s: Server) $body

            #[test]
            fn rust() {
                check(Server::start(&["null"]))
            }

            #[test]
            fn python() {
                check(Server::start(&["null-py"]))
            }

            #[test]
            fn javascript() {
                check(Server::start(&["null-js"]))
            }
        }
    };
}

// ---- routing and transport ------------------------------------------------

null_test! {
    fn c001_capabilities_is_json(s) {
        let a = s.get("/capabilities");
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert!(a.header("x-request-id").is_some());
    }
}

null_test! {
    fn c004_c005_wrong_methods_are_405_with_allow(s) {
        let a = s.get("/generate");
        a.error(405, "method_not_allowed");
        assert_eq!(a.header("allow"), Some("POST"));
        let a = s.request("POST", "/capabilities", b"{}");
        a.error(405, "method_not_allowed");
        assert_eq!(a.header("allow"), Some("GET"));
    }
}

null_test! {
    fn c006_unknown_paths_are_404_envelopes(s) {
        for path in [
            "/nope",
            "/generate/jobs/x",
            "/capabilities/extra",
            "/health/x",
        ] {
            s.get(path).error(404, "not_found");
        }
    }
}

null_test! {
    fn trailing_slashes_redirect_like_the_reference(s) {
        let a = s.get("/capabilities/");
        assert_eq!(a.status, 307);
        assert_eq!(a.header("location"), Some("/capabilities"));
    }
}

#[test]
fn d10_health_lists_the_models() {
    let s = Server::start(&["probe", "null"]);
    let a = s.get("/health");
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"status": "ok", "models": ["probe", "null"]})
    );
    assert_eq!(
        s.request("POST", "/health", b"").header("allow"),
        Some("GET")
    );
}

null_test! {
    fn c007_content_type_is_not_checked(s) {
        let body = valid().to_string();
        let req = format!(
            "POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(s.raw(req.as_bytes()).status, 200);
    }
}

// ---- capabilities ---------------------------------------------------------

null_test! {
    fn c013_c032_null_capabilities_match_the_reference(s) {
        let a = s.get("/capabilities");
        // mmcp.md §3.5, plus the GLB format (D10, C16).
        let expected = r#"{"protocol_version":"1.4","rotation_format":"quaternion_xyzw","coordinate_system":"right_handed_y_up","units":"meters","response_formats":["gltf_2.0_json","gltf_2.0_binary"],"models":[{"id":"null","fps":30.0,"canonical_skeleton":{"joints":[{"name":"Hips","parent":null,"rest_translation":[0.0,0.95,0.0],"rest_rotation":[0.0,0.0,0.0,1.0],"display_name":null},{"name":"Spine","parent":"Hips","rest_translation":[0.0,0.5,0.0],"rest_rotation":[0.0,0.0,0.0,1.0],"display_name":null},{"name":"Head","parent":"Spine","rest_translation":[0.0,0.3,0.0],"rest_rotation":[0.0,0.0,0.0,1.0],"display_name":null},{"name":"LeftFoot","parent":"Hips","rest_translation":[0.1,-0.95,0.0],"rest_rotation":[0.0,0.0,0.0,1.0],"display_name":null},{"name":"RightFoot","parent":"Hips","rest_translation":[-0.1,-0.95,0.0],"rest_rotation":[0.0,0.0,0.0,1.0],"display_name":null}],"coordinate_system":"right_handed_y_up","units":"meters"},"supports_retargeting":false,"supports_joint_translation":false,"supports_async":false,"supports_segment_seed":false,"supports_loop":false,"supports_keyframe_reduction":false,"supports_motion_reference_mixed":false,"supports_batch":true,"supports_trajectory":true,"supported_constraints":["root_path","effector_target","pose_keyframe"],"supported_segments":["text","unconditioned"],"supported_guidance_types":["nocfg","regular","separated"],"predicted_contact_joints":[],"native_clip_seconds":10.0,"chunking":"none","recommended_max_duration_seconds":12.0,"limits":{"max_duration_seconds":30.0,"max_num_samples":16,"max_constraints_per_request":64,"max_prompt_length":1000,"max_request_bytes":1048576,"max_batch_size":16}}]}"#;
        // Byte comparison: it checks key order (C13, C18) and float spelling (C30) too.
        assert_eq!(String::from_utf8(a.body).unwrap(), expected);
    }
}

#[test]
fn c021_c023_derived_flags_ignore_the_backbone() {
    let s = Server::start(&["probe"]);
    let model = s.get("/capabilities").json()["models"][0].clone();
    assert_eq!(model["supports_batch"], true);
    assert_eq!(model["supports_motion_reference_mixed"], false);
    // The host computes trajectories for every model (gltf-output.md §7.2 a);
    // c022 checks a backbone that claims false.
    assert_eq!(model["supports_trajectory"], true);
}

#[test]
fn c017_models_in_registration_order() {
    let s = Server::start(&["probe", "null"]);
    let caps = s.get("/capabilities").json();
    let ids: Vec<&str> = caps["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["probe", "null"]);
}

// ---- generation -------------------------------------------------------------

null_test! {
    fn c002_c264_valid_generation_is_the_rest_pose(s) {
        let a = s.post(&valid());
        assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
        assert_eq!(a.header("content-type"), Some("model/gltf+json"));
        let doc = a.json();
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "asset",
                "nodes",
                "scenes",
                "scene",
                "skins",
                "animations",
                "accessors",
                "bufferViews",
                "buffers",
                "extensionsUsed",
                "extensions"
            ]
        );
        assert_eq!(
            doc["nodes"][0],
            json!({"name": "Hips", "translation": [0.0, 0.95, 0.0], "rotation": [0.0, 0.0, 0.0, 1.0], "children": [1, 3, 4]})
        );
        assert_eq!(
            doc["nodes"][2],
            json!({"name": "Head", "translation": [0.0, 0.3, 0.0], "rotation": [0.0, 0.0, 0.0, 1.0]})
        );
        assert_eq!(doc["scenes"], json!([{"nodes": [0]}]));
        assert_eq!(
            doc["skins"],
            json!([{"name": "skin", "joints": [0, 1, 2, 3, 4]}])
        );
        let anim = &doc["animations"][0];
        assert_eq!(anim["name"], "sample_0");
        assert_eq!(anim["channels"].as_array().unwrap().len(), 6);
        assert_eq!(
            anim["channels"][5],
            json!({"sampler": 5, "target": {"node": 0, "path": "translation"}})
        );
        assert_eq!(accessor_floats(&doc, 0), [0.0, 1.0f32 / 30.0, 2.0f32 / 30.0]);
        for j in 1..=5 {
            assert_eq!(accessor_floats(&doc, j), [0.0, 0.0, 0.0, 1.0].repeat(3));
        }
        assert_eq!(accessor_floats(&doc, 6), [0.0, 0.95, 0.0].repeat(3));
        assert_eq!(
            doc["extensions"]["MMCP_motion"],
            json!({"version": "1.4", "model": "null", "fps": 30.0, "samples": [{"name": "sample_0", "num_frames": 3, "chunk_boundaries": []}]})
        );
    }
}

null_test! {
    fn c145_c263_samples_become_animations(s) {
        let doc = s.post(&with(json!({"options": {"num_samples": 3}}))).json();
        let names: Vec<&str> = doc["animations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["sample_0", "sample_1", "sample_2"]);
        // Dense channels of every sample share the clock (accessor 0).
        assert_eq!(doc["animations"][2]["samplers"][0]["input"], 0);
        assert_eq!(doc["animations"][2]["samplers"][0]["output"], 13);
        assert_eq!(
            doc["extensions"]["MMCP_motion"]["samples"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}

null_test! {
    fn c163_timing_sets_the_clock(s) {
        let doc = s.post(&with(json!({"timing": {"fps": 24}}))).json();
        assert_eq!(doc["extensions"]["MMCP_motion"]["fps"], json!(24.0));
        assert_eq!(doc["accessors"][0]["max"], json!([(2.0f32 / 24.0) as f64]));
    }
}

fn post_accepting(s: &Server, accept: &str, body: &Value) -> Answer {
    let body = body.to_string();
    let req = format!(
        "POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAccept: {accept}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.raw(req.as_bytes())
}

null_test! {
    fn d10_glb_on_accept_model_gltf_binary(s) {
        let body = with(json!({"options": {"num_samples": 2}}));
        let json_doc = s.post(&body).json();
        let a = post_accepting(&s, "model/gltf-binary", &body);
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-type"), Some("model/gltf-binary"));
        let glb = &a.body;
        let word = |at: usize| u32::from_le_bytes(glb[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(&glb[0..4], b"glTF");
        assert_eq!(word(4), 2);
        assert_eq!(word(8), glb.len());
        let json_len = word(12);
        assert_eq!(&glb[16..20], b"JSON");
        assert_eq!(json_len % 4, 0);
        let chunk: Value = serde_json::from_slice(&glb[20..20 + json_len]).unwrap();
        let bin_at = 20 + json_len;
        let bin_len = word(bin_at);
        assert_eq!(&glb[bin_at + 4..bin_at + 8], b"BIN\0");
        assert_eq!(bin_at + 8 + bin_len, glb.len());
        // The same document, with the buffer in the BIN chunk instead of a data URI.
        let mut expected = json_doc.clone();
        expected["buffers"][0]
            .as_object_mut()
            .unwrap()
            .remove("uri");
        assert_eq!(chunk, expected);
        let uri = json_doc["buffers"][0]["uri"].as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(uri.split_once(',').unwrap().1)
            .unwrap();
        assert_eq!(&glb[bin_at + 8..bin_at + 8 + bytes.len()], &bytes[..]);
        // JSON stays the default, q=0 refuses GLB, and errors are JSON envelopes.
        let a = post_accepting(&s, "model/gltf+json, application/json", &body);
        assert_eq!(a.header("content-type"), Some("model/gltf+json"));
        let a = post_accepting(&s, "model/gltf-binary;q=0, model/gltf+json", &body);
        assert_eq!(a.header("content-type"), Some("model/gltf+json"));
        post_accepting(&s, "model/gltf-binary", &with(json!({"model": "nope"})))
            .error(400, "unknown_model");
    }
}

null_test! {
    fn c134_constraint_only_request(s) {
        let body = with(json!({"segments": [], "duration_frames": 10,
            "constraints": [{"type": "root_path", "frames": [0, 9], "positions_xz": [[0, 0], [1, 1]]}]}));
        let doc = s.post(&body).json();
        assert_eq!(
            doc["extensions"]["MMCP_motion"]["samples"][0]["num_frames"],
            10
        );
    }
}

null_test! {
    fn c050_c058_minor_versions_are_accepted_and_1_4_is_served(s) {
        for v in ["1.0", "1.99", "01.4"] {
            let a = s.post(&with(json!({"protocol_version": v})));
            assert_eq!(a.status, 200, "{v}");
            assert_eq!(a.json()["extensions"]["MMCP_motion"]["version"], "1.4");
        }
    }
}

null_test! {
    fn c010_non_ascii_is_raw_utf8(s) {
        let a = s.post(&with(json!({"model": "modèle"})));
        a.error(400, "unknown_model");
        assert!(String::from_utf8(a.body).unwrap().contains("modèle"));
    }
}

// ---- body size and JSON decoding ------------------------------------------

null_test! {
    fn c033_c034_declared_oversize_is_413_before_reading(s) {
        let req = "POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 1048577\r\n\r\n{}";
        let e = s.raw(req.as_bytes()).error(413, "payload_too_large");
        assert_eq!(
            e["details"],
            json!({"max_request_bytes": 1048576, "request_bytes": 1048577})
        );
        assert_eq!(
            e["message"],
            "request body is 1048577 bytes; max_request_bytes is 1048576"
        );
    }
}

null_test! {
    fn c035_chunked_oversize_stops_at_the_cap(s) {
        let mut req = b"POST /generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..17 {
            req.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            req.extend_from_slice(&chunk);
            req.extend_from_slice(b"\r\n");
        }
        req.extend_from_slice(b"0\r\n\r\n");
        let e = s.raw(&req).error(413, "payload_too_large");
        assert_eq!(e["details"], json!({"max_request_bytes": 1048576}));
    }
}

null_test! {
    fn c036_exactly_the_cap_passes_the_size_check(s) {
        let body = valid().to_string();
        let padded = format!("{body}{}", " ".repeat(1_048_576 - body.len()));
        assert_eq!(
            s.request("POST", "/generate", padded.as_bytes()).status,
            200
        );
        let over = format!("{padded} ");
        s.request("POST", "/generate", over.as_bytes())
            .error(413, "payload_too_large");
    }
}

null_test! {
    fn c038_c042_undecodable_bodies_are_422(s) {
        let deep = "[".repeat(50_000);
        for body in [
            &b""[..],
            b"{nope",
            b"\xff\xfe",
            deep.as_bytes(),
            b"{\"a\": NaN}",
            b"[1e400]",
        ] {
            let e = s
                .request("POST", "/generate", body)
                .error(422, "schema_validation");
            assert!(e["message"]
                .as_str()
                .unwrap()
                .starts_with("request body is not valid JSON: "));
            assert!(e["message"].as_str().unwrap().chars().count() <= 500);
            assert_eq!(e["details"], json!({}));
        }
        for body in ["[1]", "\"x\"", "5", "null"] {
            let e = s
                .request("POST", "/generate", body.as_bytes())
                .error(422, "schema_validation");
            assert_eq!(e["details"]["errors"][0]["type"], "model_type");
            assert_eq!(e["details"]["errors"][0]["loc"], json!([]));
        }
    }
}

null_test! {
    fn c043_duplicate_keys_last_wins(s) {
        let body = valid().to_string().replacen('{', "{\"model\":\"nope\",", 1);
        let body = body.replacen(
            "\"model\":\"null\"",
            "\"model\":\"null\",\"model\":\"nope\"",
            1,
        );
        s.request("POST", "/generate", body.as_bytes())
            .error(400, "unknown_model");
    }
}

// ---- versions -------------------------------------------------------------

null_test! {
    fn c051_c053_other_majors_are_refused_first(s) {
        let e = s
            .post(&with(json!({"protocol_version": "2.0"})))
            .error(400, "version_unsupported");
        assert_eq!(
            e["message"],
            "protocol_version '2.0' is not supported by this server"
        );
        assert_eq!(e["details"], json!({"supported_majors": ["1"]}));
        s.post(&json!({"protocol_version": "0.9", "model": 5}))
            .error(400, "version_unsupported");
    }
}

null_test! {
    fn c055_c057_malformed_versions_are_422(s) {
        for v in [
            json!("1"),
            json!("1.4.0"),
            json!("v1.0"),
            json!(" 1.0"),
            json!(1.4),
        ] {
            s.post(&with(json!({"protocol_version": v})))
                .error(422, "schema_validation");
        }
        let mut body = valid();
        body.as_object_mut().unwrap().remove("protocol_version");
        let e = s.post(&body).error(422, "schema_validation");
        assert_eq!(
            e["details"]["errors"][0],
            json!({"type": "missing", "loc": ["protocol_version"], "msg": "Field required"})
        );
    }
}

// ---- schema ---------------------------------------------------------------

null_test! {
    fn c062_schema_errors_carry_type_loc_msg_ctx(s) {
        let e = s
            .post(&with(
                json!({"segments": [{"type": "text", "prompt": "walk", "duration_frames": 0}]}),
            ))
            .error(422, "schema_validation");
        assert_eq!(e["message"], "request fails schema validation");
        assert_eq!(
            e["details"]["errors"],
            json!([{"type": "greater_than", "loc": ["segments", 0, "text", "duration_frames"], "msg": "Input should be greater than 0", "ctx": {"gt": 0}}])
        );
    }
}

null_test! {
    fn c044_c073_c074_c075_c076_segment_shapes(s) {
        let cases = [
            (json!({"extra": 1}), "extra_forbidden"),
            (
                json!({"segments": [{"type": "text", "prompt": "w", "duration_frames": 3, "mood": 1}]}),
                "extra_forbidden",
            ),
            (
                json!({"segments": [{"type": "audio"}]}),
                "union_tag_invalid",
            ),
            (
                json!({"segments": [{"type": ["text"]}]}),
                "union_tag_invalid",
            ),
            (
                json!({"segments": [{"prompt": "x"}]}),
                "union_tag_not_found",
            ),
            (json!({"segments": [5]}), "model_attributes_type"),
            (json!({"segments": 5}), "list_type"),
            (
                json!({"segments": [{"type": "text", "prompt": "", "duration_frames": 3}]}),
                "string_too_short",
            ),
            (
                json!({"segments": [{"type": "text", "prompt": 5, "duration_frames": 3}]}),
                "string_type",
            ),
            (
                json!({"segments": [{"type": "text", "prompt": "w", "duration_frames": 2.5}]}),
                "int_from_float",
            ),
        ];
        for (fields, kind) in cases {
            let e = s
                .post(&with(fields.clone()))
                .error(422, "schema_validation");
            assert_eq!(e["details"]["errors"][0]["type"], kind, "{fields}");
        }
        // D1: an integral float is an integer.
        assert_eq!(
            s.post(&with(
                json!({"segments": [{"type": "text", "prompt": "w", "duration_frames": 2.0}]})
            ))
            .status,
            200
        );
    }
}

#[test]
fn d1_strict_types_refuse_strings_for_numbers() {
    // decisions.md D1: the reference's lenient coercions (C64, C147, C148, C295) are refused.
    let s = Server::start(&["null"]);
    for fields in [
        json!({"segments": [{"type": "text", "prompt": "w", "duration_frames": "3"}]}),
        json!({"options": {"seed": "5"}}),
        json!({"options": {"post_processing": "yes"}}),
    ] {
        s.post(&with(fields)).error(422, "schema_validation");
    }
}

null_test! {
    fn d2_seeds_outside_i64_are_422(s) {
        assert_eq!(
            s.post(&with(json!({"options": {"seed": -9223372036854775808i64}})))
                .status,
            200
        );
        let body = valid().to_string().replacen(
            "\"segments\"",
            "\"options\":{\"seed\":1180591620717411303424},\"segments\"",
            1,
        );
        s.request("POST", "/generate", body.as_bytes())
            .error(422, "schema_validation");
    }
}

null_test! {
    fn c135_c138_cross_field_rules(s) {
        let cases = [
            (
                json!({"segments": []}),
                "at least one of `segments` or `constraints` must be non-empty",
            ),
            (
                json!({"duration_frames": 3}),
                "`duration_frames` is forbidden when `segments` is non-empty",
            ),
            (
                json!({"segments": [], "constraints": [{"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]}]}),
                "`duration_frames` is required when `segments` is empty",
            ),
        ];
        for (fields, msg) in cases {
            let e = s.post(&with(fields)).error(422, "schema_validation");
            assert_eq!(e["details"]["errors"][0]["loc"], json!([]));
            assert_eq!(e["details"]["errors"][0]["ctx"]["error"], msg);
        }
    }
}

null_test! {
    fn c144_c146_c149_option_ranges_are_422(s) {
        for options in [
            json!({"diffusion_steps": 0}),
            json!({"diffusion_steps": 501}),
            json!({"num_samples": 17}),
            json!({"transition_frames": 61}),
            json!({"guidance": {"type": "nocfg", "weight": [1]}}),
            json!({"guidance": {"type": "separated", "weight": [1]}}),
            json!({"guidance": {"type": "other"}}),
            json!({"keyframe_budget": 0}),
            json!({"bogus": 1}),
        ] {
            s.post(&with(json!({"options": options.clone()})))
                .error(422, "schema_validation");
        }
        for options in [
            json!({}),
            json!(null),
            json!({"diffusion_steps": 500, "guidance": {"type": "regular", "weight": [2.5]}}),
        ] {
            assert_eq!(s.post(&with(json!({"options": options}))).status, 200);
        }
    }
}

null_test! {
    fn c164_timing_must_be_positive(s) {
        for timing in [
            json!({"fps": 0}),
            json!({"fps": -1}),
            json!({}),
            json!({"fps": 24, "x": 1}),
        ] {
            s.post(&with(json!({"timing": timing})))
                .error(422, "schema_validation");
        }
        assert_eq!(s.post(&with(json!({"timing": null}))).status, 200);
    }
}

null_test! {
    fn c110_c112_c122_constraint_shapes(s) {
        let cases = [
            json!({"type": "root_path", "frames": [0, 1], "positions_xz": [[0, 0]]}),
            json!({"type": "root_path", "frames": [1, 1], "positions_xz": [[0, 0], [0, 0]]}),
            json!({"type": "root_path", "frames": [0], "positions_xz": [[0, 0, 0]]}),
            json!({"type": "pose_keyframe", "frame": -1, "joint_rotations": {"Hips": [0, 0, 0, 1]}}),
            json!({"type": "pose_keyframe", "frame": 0, "joint_rotations": {}}),
            json!({"type": "pose_keyframe", "frame": 0, "joint_rotations": {"Hips": [0, 0, 0, 1]}, "fill_mode": "x"}),
            json!({"type": "effector_target", "frames": [0], "positions": [[0, 0, 0]]}),
            json!({"type": "teleport"}),
        ];
        for c in cases {
            s.post(&with(json!({"constraints": [c.clone()]})))
                .error(422, "schema_validation");
        }
    }
}

null_test! {
    fn c093_c099_topology_errors_are_400_invalid_skeleton(s) {
        let joint = |n: &str, p: Value| json!({"name": n, "parent": p, "rest_translation": [0, 0, 0], "rest_rotation": [0, 0, 0, 1]});
        let cases = [
            (vec![joint("A", Value::Null), joint("B", Value::Null)], "exactly one joint must have parent=null; got 2"),
            (vec![joint("A", json!("B")), joint("B", json!("A"))], "exactly one joint must have parent=null; got 0"),
            (vec![joint("A", Value::Null), joint("A", json!("A"))], "joint names must be unique within the skeleton"),
            (
                vec![joint("A", Value::Null), joint("B", json!("C")), joint("C", json!("A"))],
                "joint 'B' references parent 'C' that is not defined or appears later in the joints list",
            ),
        ];
        for (joints, msg) in cases {
            // C99: an unrelated schema error elsewhere does not hide the topology error.
            let e = s
                .post(&with(
                    json!({"skeleton": {"joints": joints}, "options": {"num_samples": 99}}),
                ))
                .error(400, "invalid_skeleton");
            assert_eq!(e["message"], msg);
            assert_eq!(
                e["details"],
                json!({"errors": [{"type": "invalid_skeleton", "loc": ["skeleton"], "msg": msg}]})
            );
        }
        // C100: a malformed joint means topology is not evaluated.
        let bad = json!({"joints": [joint("A", Value::Null), {"name": "B", "parent": null, "rest_translation": [0, 0, 0], "rest_rotation": [0, 0, 1]}]});
        s.post(&with(json!({"skeleton": bad})))
            .error(422, "schema_validation");
    }
}

// ---- model stage ----------------------------------------------------------

#[test]
fn c141_unknown_model_lists_hosted_ids() {
    let s = Server::start(&["probe", "null"]);
    let e = s
        .post(&with(json!({"model": "nope"})))
        .error(400, "unknown_model");
    assert_eq!(
        e["message"],
        "model 'nope' is not registered with this server"
    );
    assert_eq!(e["details"], json!({"available_models": ["null", "probe"]}));
    // C142: schema errors come first.
    s.post(&with(json!({"model": "nope", "extra": 1})))
        .error(422, "schema_validation");
}

null_test! {
    fn c091_c092_only_joint_names_are_compared(s) {
        let mut skeleton = null_skeleton();
        skeleton["joints"][1]["rest_translation"] = json!([0.1, 0.4, 0.0]);
        assert_eq!(s.post(&with(json!({"skeleton": skeleton}))).status, 200);
        let mut renamed = null_skeleton();
        renamed["joints"][2]["name"] = json!("Skull");
        let e = s
            .post(&with(json!({"skeleton": renamed})))
            .error(400, "retargeting_unsupported");
        assert_eq!(e["details"], json!({}));
    }
}

null_test! {
    fn c080_c082_segment_gate_precedes_the_schema(s) {
        let pose = json!({"type": "pose"});
        for body in [
            with(json!({"segments": [{"type": "pose", "prompt": "t"}]})),
            with(json!({"segments": [pose.clone()], "skeleton": 5})),
            with(json!({"segments": [{"type": "text", "prompt": "w", "duration_frames": 4}, pose]})),
        ] {
            let e = s.post(&body).error(400, "unsupported_segment");
            assert_eq!(
                e["details"],
                json!({"supported_segments": ["text", "unconditioned"]})
            );
        }
    }
}

null_test! {
    fn c116_c127_c118_constraint_checks(s) {
        let rp = |f: i64| json!({"type": "root_path", "frames": [f], "positions_xz": [[0, 0]]});
        let e = s
            .post(&with(json!({"constraints": [rp(3)]})))
            .error(400, "frame_out_of_range");
        assert_eq!(e["message"], "frame 3 is outside [0, 2]");
        assert_eq!(e["details"], json!({"frame": 3, "total_frames": 3}));
        let e = s
            .post(&with(json!({"constraints": [rp(-1)]})))
            .error(400, "frame_out_of_range");
        assert_eq!(e["details"]["frame"], -1);
        let e = s
            .post(&with(
                json!({"constraints": [{"type": "ground_height", "points": [[0, 0, 0]]}]}),
            ))
            .error(400, "unsupported_constraint");
        assert_eq!(
            e["details"],
            json!({"supported_constraints": ["root_path", "effector_target", "pose_keyframe"]})
        );
        let e = s
            .post(&with(json!({"constraints": [{"type": "effector_target", "joint": "Hand", "frames": [9], "positions": [[0, 0, 0]]}]})))
            .error(400, "unknown_joint");
        assert_eq!(e["message"], "joint 'Hand' is not in the request skeleton");
        assert_eq!(
            e["details"],
            json!({"skeleton_joints": ["Head", "Hips", "LeftFoot", "RightFoot", "Spine"]})
        );
    }
}

null_test! {
    fn c132_c133_constraint_count(s) {
        let rp = json!({"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]});
        assert_eq!(
            s.post(&with(json!({"constraints": vec![rp.clone(); 64]})))
                .status,
            200
        );
        let e = s
            .post(&with(json!({"constraints": vec![rp.clone(); 65]})))
            .error(400, "invalid_options");
        assert_eq!(e["message"], "too many constraints: 65 > 64");
        let mut many = vec![rp; 65];
        many[10]["frames"] = json!([7]);
        s.post(&with(json!({"constraints": many})))
            .error(400, "frame_out_of_range");
    }
}

null_test! {
    fn c155_c158_c162_unadvertised_options_are_refused(s) {
        let e = s
            .post(&with(json!({"options": {"loop": true}})))
            .error(400, "invalid_options");
        assert_eq!(e["message"], "this model does not support options.loop");
        assert_eq!(e["details"], json!({"model": "null"}));
        let e = s
            .post(&with(json!({"options": {"keyframe_budget": 0.01}})))
            .error(400, "invalid_options");
        assert_eq!(e["details"], json!({"model": "null"}));
        let e = s
            .post(&with(
                json!({"options": {"model_options": {"b": 2, "a": 1}}}),
            ))
            .error(400, "invalid_options");
        assert_eq!(e["message"], "this model declares no model_options");
        assert_eq!(e["details"], json!({"model": "null", "sent": ["a", "b"]}));
        assert_eq!(
            s.post(&with(
                json!({"options": {"model_options": {}, "loop": false}})
            ))
            .status,
            200
        );
    }
}

null_test! {
    fn c068_c069_prompt_length_in_code_points(s) {
        let seg =
            |p: String| json!({"segments": [{"type": "text", "prompt": p, "duration_frames": 3}]});
        assert_eq!(s.post(&with(seg("😀".repeat(1000)))).status, 200);
        let e = s
            .post(&with(seg("a".repeat(1001))))
            .error(400, "invalid_options");
        assert_eq!(
            e["message"],
            "prompt length 1001 exceeds max_prompt_length 1000"
        );
        assert_eq!(e["details"], json!({}));
    }
}

null_test! {
    fn c166_c168_duration_limit_uses_the_effective_fps(s) {
        let seg = |n: u32| json!([{"type": "text", "prompt": "w", "duration_frames": n}]);
        assert_eq!(s.post(&with(json!({"segments": seg(900)}))).status, 200);
        let e = s
            .post(&with(json!({"segments": seg(901)})))
            .error(400, "invalid_options");
        assert_eq!(
            e["message"],
            "total duration 30.03s exceeds max_duration_seconds 30.0"
        );
        assert_eq!(
            s.post(&with(json!({"segments": seg(901), "timing": {"fps": 31}})))
                .status,
            200
        );
        s.post(&with(json!({"segments": seg(31), "timing": {"fps": 1}})))
            .error(400, "invalid_options");
    }
}

null_test! {
    fn c172_model_checks_run_in_order(s) {
        let rp = json!({"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]});
        // prompt too long + duration too long → the prompt error (C173)
        let body = with(
            json!({"segments": [{"type": "text", "prompt": "a".repeat(1001), "duration_frames": 901}]}),
        );
        let e = s.post(&body).error(400, "invalid_options");
        assert!(e["message"].as_str().unwrap().starts_with("prompt length"));
        // retargeting before loop (C169)
        let mut renamed = null_skeleton();
        renamed["joints"][0]["name"] = json!("Root");
        renamed["joints"][1]["parent"] = json!("Root");
        renamed["joints"][3]["parent"] = json!("Root");
        renamed["joints"][4]["parent"] = json!("Root");
        s.post(&with(
            json!({"skeleton": renamed, "options": {"loop": true}}),
        ))
        .error(400, "retargeting_unsupported");
        // loop before constraints (C171)
        let gh = json!({"type": "ground_height", "points": [[0, 0, 0]]});
        let e = s
            .post(&with(
                json!({"constraints": [gh], "options": {"loop": true}}),
            ))
            .error(400, "invalid_options");
        assert_mentions(&e, "loop");
        // constraint count before num_samples is moot here (16 allowed); count before prompt:
        let body = with(
            json!({"constraints": vec![rp; 65], "segments": [{"type": "text", "prompt": "a".repeat(1001), "duration_frames": 3}]}),
        );
        let e = s.post(&body).error(400, "invalid_options");
        assert!(e["message"]
            .as_str()
            .unwrap()
            .starts_with("too many constraints"));
    }
}

// ---- backbone failures (the probe component) ------------------------------

#[test]
fn c238_c279_backbone_protocol_errors_keep_their_code() {
    let s = Server::start(&["probe"]);
    let table = [
        ("invalid_options", 400),
        ("invalid_request", 400),
        ("unauthorized", 401),
        ("forbidden", 403),
        ("payload_too_large", 413),
        ("rate_limited", 429),
        ("internal_error", 500),
        ("resource_exhausted", 503),
        ("model_unavailable", 503),
        ("timeout", 504),
    ];
    for (code, status) in table {
        let a = s.post(&probe_request(&format!("raise {code}")));
        let e = a.error(status, code);
        assert_eq!(e["details"], json!({"q": 3}));
        assert_eq!(e["message"], format!("probe raised {code}"));
        let retry = matches!(status, 429 | 503 | 504);
        assert_eq!(a.header("retry-after").is_some(), retry, "{code}");
    }
}

#[test]
fn d9_a_panicking_backbone_costs_one_request() {
    let s = Server::start(&["probe", "null"]);
    // Accessor 3 is the root track (clock, two rotation tracks, root).
    let doc = s.post(&probe_request("count")).json();
    assert_eq!(accessor_floats(&doc, 3)[0], 1.0);
    let e = s.post(&probe_request("panic")).error(500, "internal_error");
    assert_mentions(&e, "probe was asked to panic");
    // The server lives on; other models are untouched...
    assert_eq!(s.post(&valid()).status, 200);
    // ...and the probe answers again from a fresh instance (its call count restarted).
    let doc = s.post(&probe_request("count")).json();
    assert_eq!(accessor_floats(&doc, 3)[0], 1.0);
}

#[test]
fn d3_d9_malformed_results_are_500_naming_the_problem() {
    let s = Server::start(&["probe"]);
    for (prompt, needle) in [
        ("short", "rotations"),
        ("nan", "root_translations"),
        ("rename", "joint_names"),
    ] {
        let e = s.post(&probe_request(prompt)).error(500, "internal_error");
        assert_mentions(&e, needle);
    }
    assert_eq!(s.post(&probe_request("fine")).status, 200);
}

#[test]
fn c266_c269_backbone_extras_reach_the_extension() {
    let s = Server::start(&["probe"]);
    let mut body = probe_request("extras");
    body["options"] = json!({"num_samples": 2});
    let doc = s.post(&body).json();
    let ext = &doc["extensions"]["MMCP_motion"];
    assert_eq!(
        ext["samples"][1],
        json!({"name": "sample_1", "num_frames": 3, "chunk_boundaries": [1],
               "foot_contacts": {"Hips": [false, true, false]}, "trajectory": {"model": "custom"}})
    );
    assert_eq!(ext["canonical_to_request"], json!({"Hips": "Hips"}));
    assert_eq!(
        ext["notes"],
        json!([{"code": "slow", "severity": "info", "message": "probe note"}])
    );
    let keys: Vec<&String> = ext.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "version",
            "model",
            "fps",
            "samples",
            "canonical_to_request",
            "notes"
        ]
    );
}

// ---- start-up, CLI, cache --------------------------------------------------

#[test]
fn c292_duplicate_ids_refuse_to_start() {
    let null = component("null");
    assert!(refused(&[null.clone(), null]).contains("duplicate model id \"null\""));
}

#[test]
fn a_component_without_the_world_is_refused_at_load() {
    let dir = std::env::temp_dir().join(format!("mmcp-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.wasm");
    std::fs::write(&bad, b"\0asm\x0d\0\x01\0").unwrap();
    let stderr = refused(&[bad]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(stderr.contains("cannot serve"));
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["inspect", "--help"],
    ] {
        let out = std::process::Command::new(host_binary())
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
    let out = std::process::Command::new(host_binary())
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).to_string();
    for flag in ["--addr", "--cache-dir", "--no-cache"] {
        assert!(help.contains(flag), "{flag}");
    }
}

#[test]
fn a_restart_loads_the_compiled_component_from_cache() {
    assert_restart_hits_the_cache(&component("null"));
}

null_test! {
    fn sigterm_stops_the_server_cleanly(s) {
        assert_eq!(s.post(&valid()).status, 200);
        let status = s.terminate();
        assert!(status.success(), "{status:?}");
    }
}

// ---- batches (mmcp.md §5) ----------------------------------------------------

/// A batch item: `valid()` without its version, then `fields` on top.
fn item(fields: Value) -> Value {
    let mut v = valid();
    v.as_object_mut().unwrap().remove("protocol_version");
    for (k, f) in fields.as_object().unwrap() {
        v[k] = f.clone();
    }
    v
}

fn batch(items: Vec<Value>) -> Value {
    json!({"protocol_version": "1.4", "requests": items})
}

null_test! {
    fn c210_c227_c229_batch_results_in_item_order(s) {
        let a = s.post(&batch(vec![
            item(json!({})),
            item(json!({"options": {"num_samples": 3}})),
        ]));
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-type"), Some("application/json"));
        let results = a.json()["results"].as_array().unwrap().clone();
        assert_eq!(results.len(), 2);
        // C229: each item's document is the single answer.
        assert_eq!(results[0]["gltf"], s.post(&valid()).json());
        assert_eq!(
            results[1]["gltf"]["animations"].as_array().unwrap().len(),
            3
        );
        for r in &results {
            assert_eq!(r.as_object().unwrap().len(), 1);
        }
    }
}

null_test! {
    fn c212_c218_batch_envelope_errors(s) {
        let e = s
            .post(&json!({"requests": [item(json!({}))]}))
            .error(422, "schema_validation");
        assert_eq!(e["message"], "a batch needs a protocol_version");
        assert_eq!(e["details"], json!({}));
        s.post(&json!({"protocol_version": 1.4, "requests": []}))
            .error(422, "schema_validation");
        s.post(&json!({"protocol_version": "2.0", "requests": 5}))
            .error(400, "version_unsupported");
        s.post(&json!({"protocol_version": "abc", "requests": [item(json!({}))]}))
            .error(400, "version_unsupported");
        for requests in [json!([]), json!({}), json!(null), json!("x")] {
            let e = s
                .post(&json!({"protocol_version": "1.4", "requests": requests}))
                .error(422, "schema_validation");
            assert_eq!(e["message"], "requests must be a non-empty list");
        }
        let e = s
            .post(&batch(vec![item(json!({})); 17]))
            .error(400, "invalid_options");
        assert_eq!(e["message"], "a batch holds at most 16 requests; got 17");
        assert_eq!(e["details"], json!({"max_batch_size": 16, "requests": 17}));
        // C218: a missing version beats too many items.
        let e = s
            .post(&json!({"requests": vec![item(json!({})); 17]}))
            .error(422, "schema_validation");
        assert_eq!(e["message"], "a batch needs a protocol_version");
        assert_eq!(s.post(&batch(vec![item(json!({})); 16])).status, 200);
    }
}

null_test! {
    fn c211_c215_items_inherit_or_override_the_version(s) {
        let body = json!({"protocol_version": "1", "requests": [item(json!({})), item(json!({"protocol_version": "1.2"}))]});
        let results = s.post(&body).json()["results"].clone();
        assert_eq!(results[0]["error"]["code"], "schema_validation");
        assert_eq!(
            results[0]["error"]["details"]["errors"][0]["type"],
            "string_pattern_mismatch"
        );
        assert!(results[1]["gltf"].is_object());
    }
}

null_test! {
    fn c219_c226_item_failures_stay_with_their_item(s) {
        let body = json!({"protocol_version": "1.4", "ignored": true, "requests": [
            item(json!({})),
            5,
            item(json!({"model": "nope"})),
            item(json!({"segments": [{"type": "pose", "prompt": "x"}]})),
            item(json!({"protocol_version": "2.0"})),
            {"requests": []},
            item(json!({"bogus": 1})),
            item(json!({"skeleton": {"joints": [
                {"name": "A", "parent": null, "rest_translation": [0, 0, 0], "rest_rotation": [0, 0, 0, 1]},
                {"name": "B", "parent": null, "rest_translation": [0, 0, 0], "rest_rotation": [0, 0, 0, 1]}]}})),
            item(json!({})),
        ]});
        let a = s.post(&body);
        assert_eq!(a.status, 200);
        let results = a.json()["results"].clone();
        let codes: Vec<Value> = results
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["error"]["code"].clone())
            .collect();
        assert_eq!(
            codes,
            [
                Value::Null,
                json!("schema_validation"),
                json!("unknown_model"),
                json!("unsupported_segment"),
                json!("version_unsupported"),
                json!("schema_validation"),
                json!("schema_validation"),
                json!("invalid_skeleton"),
                Value::Null
            ]
        );
        assert_eq!(
            results[1]["error"]["message"],
            "each request must be an object"
        );
        assert_eq!(results[1]["error"]["details"], json!({}));
        assert!(results[0]["gltf"].is_object() && results[8]["gltf"].is_object());
    }
}

#[test]
fn c230_c231_backbone_failures_in_a_batch_are_item_errors() {
    let s = Server::start(&["probe", "null"]);
    let probe_item = |prompt: &str| {
        let mut v = probe_request(prompt);
        v.as_object_mut().unwrap().remove("protocol_version");
        v
    };
    let body = batch(vec![
        probe_item("raise resource_exhausted"),
        item(json!({})),
        probe_item("panic"),
        probe_item("fine"),
    ]);
    let a = s.post(&body);
    assert_eq!(a.status, 200);
    let results = a.json()["results"].clone();
    assert_eq!(
        results[0]["error"],
        json!({"code": "resource_exhausted", "message": "probe raised resource_exhausted", "details": {"q": 3}})
    );
    assert!(results[1]["gltf"].is_object());
    assert_eq!(results[2]["error"]["code"], "internal_error");
    assert!(results[3]["gltf"].is_object());
}

#[test]
fn c290_items_are_measured_ascii_escaped() {
    // With the probe's default 1 MiB cap nothing is refused; the size rule's
    // arithmetic is covered by batch::item_size's unit tests, and here an
    // item just under the cap in raw bytes passes.
    let s = Server::start(&["null"]);
    let long = "é".repeat(900);
    let body = batch(vec![item(
        json!({"segments": [{"type": "text", "prompt": long, "duration_frames": 3}]}),
    )]);
    assert!(s.post(&body).json()["results"][0]["gltf"].is_object());
}
