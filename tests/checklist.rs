//! One test per line of conformance-checklist.md that the null model can
//! show, named with the line's id, driving the real binary over HTTP.
//! Lines tagged [lenient] assert decisions.md D1 (strict types) instead of
//! the reference's coercion, and say so; [quirk] lines assert what a
//! conforming server MUST do. Lines with several parts check every part.

mod support;

use serde_json::{json, Value};
use support::*;

/// Each row: a test against a fresh server hosting `$model`s (the null
/// model, or `everything`, which opts in to every optional part, ...).
macro_rules! checklist {
    ($($model:literal),+; $($rows:tt)*) => {
        checklist!(@ [$($model),+]; $($rows)*);
    };
    (@ $models:expr; $($(#[doc = $doc:literal])* $name:ident: |$s:ident| $body:block)*) => {
        $(
            $(#[doc = $doc])*
            #[test]
            fn $name() {
                let $s = Server::start(&$models);
                $body
            }
        )*
    };
}

/// Asserts a glTF answer; returns the document.
fn ok(a: &Answer) -> Value {
    assert_eq!(
        a.status,
        200,
        "{}",
        String::from_utf8_lossy(&a.body)
            .chars()
            .take(600)
            .collect::<String>()
    );
    assert_eq!(a.header("content-type"), Some("model/gltf+json"));
    a.json()
}

fn segment(fields: Value) -> Value {
    with(json!({ "segments": [fields] }))
}

fn text(duration: Value) -> Value {
    segment(json!({"type": "text", "prompt": "walk", "duration_frames": duration}))
}

fn constraint(fields: Value) -> Value {
    with(json!({ "constraints": [fields] }))
}

fn options(fields: Value) -> Value {
    with(json!({ "options": fields }))
}

/// The null skeleton with `f` applied to its joints array.
fn skeleton(f: impl FnOnce(&mut Vec<Value>)) -> Value {
    let mut s = null_skeleton();
    f(s["joints"].as_array_mut().unwrap());
    with(json!({ "skeleton": s }))
}

/// The first schema error's type.
fn schema_type(error: &Value) -> &str {
    error["details"]["errors"][0]["type"].as_str().unwrap_or("")
}

checklist! { "null";
    // ---- A. routing and transport ----------------------------------------------
    c003_a_batch_answers_application_json: |s| {
        let a = s.post(&json!({"protocol_version": "1.4", "requests": [valid()]}));
        assert_eq!(a.status, 200);
        assert_eq!(a.header("content-type"), Some("application/json"));
    }
    /// C8 with GLB implemented and advertised (D10): a GLB Accept gets GLB.
    c008_accept_glb_answers_glb_because_it_is_advertised: |s| {
        let body = valid().to_string();
        let a = s.raw(format!("POST /generate HTTP/1.1\r\nHost: x\r\nAccept: model/gltf-binary\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes());
        assert_eq!(a.header("content-type"), Some("model/gltf-binary"));
        let caps = s.get("/capabilities").json();
        assert_eq!(caps["response_formats"], json!(["gltf_2.0_json", "gltf_2.0_binary"]));
    }
    c009_no_202_for_a_model_without_async: |s| {
        assert_eq!(s.post(&valid()).status, 200);
        assert_eq!(s.get("/capabilities").json()["models"][0]["supports_async"], false);
    }
    c011_answers_never_contain_nan: |s| {
        let body = String::from_utf8(s.post(&options(json!({"num_samples": 4}))).body).unwrap();
        assert!(!body.contains("NaN") && !body.contains("Infinity"));
    }
    c012_every_error_is_a_json_envelope: |s| {
        for a in [s.post(&with(json!({"model": "nope"}))), s.request("POST", "/generate", b"{"), s.get("/nope")] {
            assert_eq!(a.header("content-type"), Some("application/json"));
            let body = a.json();
            assert!(body["error"]["details"].is_object(), "{body}");
            assert!(body["error"]["code"].is_string() && body["error"]["message"].is_string());
        }
    }

    // ---- B. capabilities ----------------------------------------------------------
    c016_response_formats: |s| {
        assert_eq!(s.get("/capabilities").json()["response_formats"], json!(["gltf_2.0_json", "gltf_2.0_binary"]));
    }
    c014_c015_protocol_constants: |s| {
        let caps = s.get("/capabilities").json();
        assert_eq!(caps["protocol_version"], "1.4");
        assert_eq!(caps["rotation_format"], "quaternion_xyzw");
        assert_eq!(caps["coordinate_system"], "right_handed_y_up");
        assert_eq!(caps["units"], "meters");
    }
    c018_model_entry_keys_in_order: |s| {
        let caps = s.get("/capabilities").json();
        let keys: Vec<&str> = caps["models"][0].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, [
            "id", "fps", "canonical_skeleton", "supports_retargeting", "supports_joint_translation",
            "supports_async", "supports_segment_seed", "supports_loop", "supports_keyframe_reduction",
            "supports_motion_reference_mixed", "supports_batch", "supports_trajectory",
            "supported_constraints", "supported_segments", "supported_guidance_types",
            "predicted_contact_joints", "native_clip_seconds", "chunking",
            "recommended_max_duration_seconds", "limits",
        ]);
    }
    c019_no_model_options_key_without_dials: |s| {
        assert!(s.get("/capabilities").json()["models"][0].get("model_options").is_none());
    }
    c024_null_flags_are_all_false: |s| {
        let m = &s.get("/capabilities").json()["models"][0];
        for flag in ["supports_retargeting", "supports_joint_translation", "supports_async",
                     "supports_segment_seed", "supports_loop", "supports_keyframe_reduction"] {
            assert_eq!(m[flag], false, "{flag}");
        }
    }
    c025_null_lists: |s| {
        let m = &s.get("/capabilities").json()["models"][0];
        assert_eq!(m["supported_constraints"], json!(["root_path", "effector_target", "pose_keyframe"]));
        assert_eq!(m["supported_segments"], json!(["text", "unconditioned"]));
        assert_eq!(m["supported_guidance_types"], json!(["nocfg", "regular", "separated"]));
        assert_eq!(m["predicted_contact_joints"], json!([]));
    }
    c026_c030_null_numbers_are_floats: |s| {
        let body = String::from_utf8(s.get("/capabilities").body).unwrap();
        for needle in ["\"native_clip_seconds\":10.0", "\"chunking\":\"none\"",
                       "\"recommended_max_duration_seconds\":12.0", "\"fps\":30.0",
                       "\"rest_translation\":[0.0,0.95,0.0]"] {
            assert!(body.contains(needle), "{needle}");
        }
    }
    c027_c028_null_limits_are_exactly_six: |s| {
        let m = &s.get("/capabilities").json()["models"][0];
        assert_eq!(serde_json::to_string(&m["limits"]).unwrap(),
            r#"{"max_duration_seconds":30.0,"max_num_samples":16,"max_constraints_per_request":64,"max_prompt_length":1000,"max_request_bytes":1048576,"max_batch_size":16}"#);
    }
    c029_skeleton_keys: |s| {
        let sk = &s.get("/capabilities").json()["models"][0]["canonical_skeleton"];
        assert_eq!(sk["coordinate_system"], "right_handed_y_up");
        assert_eq!(sk["units"], "meters");
        let keys: Vec<&str> = sk["joints"][0].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["name", "parent", "rest_translation", "rest_rotation", "display_name"]);
        assert_eq!(sk["joints"][0]["display_name"], Value::Null);
    }

    // ---- C. body size and decoding -------------------------------------------------
    c037_a_non_integer_content_length_is_refused: |s| {
        let a = s.raw(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}");
        assert!(a.status == 400 || a.status == 422, "{}", a.status);
    }
    c039_malformed_json_is_422: |s| {
        let e = s.request("POST", "/generate", b"{nope").error(422, "schema_validation");
        assert_eq!(e["details"], json!({}));
    }
    c040_invalid_utf8_is_422: |s| {
        s.request("POST", "/generate", b"{\"model\": \"\xff\"}").error(422, "schema_validation");
    }
    c041_deep_nesting_is_422_single_and_in_a_batch: |s| {
        let deep = "[".repeat(50_000);
        s.request("POST", "/generate", deep.as_bytes()).error(422, "schema_validation");
        let batch = format!("{{\"protocol_version\":\"1.4\",\"requests\":[{deep}]}}");
        s.request("POST", "/generate", batch.as_bytes()).error(422, "schema_validation");
        assert_eq!(s.post(&valid()).status, 200);
    }
    c045_json_error_messages_are_short: |s| {
        let junk = format!("{{\"a\": {}", "x".repeat(5000));
        let e = s.request("POST", "/generate", junk.as_bytes()).error(422, "schema_validation");
        assert!(e["message"].as_str().unwrap().chars().count() <= 500);
    }
    /// C46/C48 (D3): non-finite tokens are refused everywhere.
    c046_c048_non_finite_literals_are_422: |s| {
        for body in [
            valid().to_string().replacen("0.95", "NaN", 1),
            constraint(json!({"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]})).to_string().replace("[[0,0]]", "[[Infinity,0]]"),
            with(json!({"timing": {"fps": 24}})).to_string().replace("24", "Infinity"),
        ] {
            s.request("POST", "/generate", body.as_bytes()).error(422, "schema_validation");
        }
    }
    c047_numbers_beyond_double_range_are_422: |s| {
        let body = text(json!(3)).to_string().replace("\"duration_frames\":3", "\"duration_frames\":1e400");
        s.request("POST", "/generate", body.as_bytes()).error(422, "schema_validation");
    }
    /// C49: a UTF-8 BOM is accepted; UTF-16 is refused (both conforming).
    c049_bom_accepted_utf16_refused: |s| {
        let mut bom = b"\xef\xbb\xbf".to_vec();
        bom.extend(valid().to_string().into_bytes());
        assert_eq!(s.request("POST", "/generate", &bom).status, 200);
        let utf16: Vec<u8> = valid().to_string().encode_utf16().flat_map(u16::to_le_bytes).collect();
        s.request("POST", "/generate", &utf16).error(422, "schema_validation");
    }

    // ---- D. versioning ---------------------------------------------------------------
    c052_version_0_9_is_unsupported: |s| {
        s.post(&with(json!({"protocol_version": "0.9"}))).error(400, "version_unsupported");
    }
    c054_major_before_the_segment_gate: |s| {
        let body = with(json!({"protocol_version": "2.0", "segments": [{"type": "pose", "prompt": "x"}]}));
        s.post(&body).error(400, "version_unsupported");
    }
    c056_numeric_version_is_422: |s| {
        let e = s.post(&with(json!({"protocol_version": 1.4}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "string_type");
    }
    c057_missing_version_is_422: |s| {
        let mut body = valid();
        body.as_object_mut().unwrap().remove("protocol_version");
        let e = s.post(&body).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "missing");
    }
    c059_a_1_0_request_may_use_1_4_fields: |s| {
        ok(&s.post(&with(json!({"protocol_version": "1.0", "options": {"model_options": {}}}))));
    }
    /// C60: non-ASCII digits are refused (conforming).
    c060_non_ascii_digits_are_422: |s| {
        s.post(&with(json!({"protocol_version": "١.٤"}))).error(422, "schema_validation");
    }

    // ---- E. segments ----------------------------------------------------------------
    c061_a_text_segment_generates: |s| {
        ok(&s.post(&valid()));
    }
    c063_fractional_frames_are_422: |s| {
        let e = s.post(&text(json!(2.5))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "int_from_float");
    }
    /// [lenient] C64 under D1: `2.0` is accepted, strings and booleans are not.
    c064_lenient_frame_coercions_are_refused_d1: |s| {
        ok(&s.post(&text(json!(2.0))));
        for v in [json!("3"), json!(" 3 "), json!("3.0"), json!(true)] {
            s.post(&text(v)).error(422, "schema_validation");
        }
    }
    c065_false_frames_are_422: |s| {
        s.post(&text(json!(false))).error(422, "schema_validation");
    }
    c066_empty_prompt_is_422_whitespace_is_fine: |s| {
        let e = s.post(&segment(json!({"type": "text", "prompt": "", "duration_frames": 3}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "string_too_short");
        ok(&s.post(&segment(json!({"type": "text", "prompt": "   ", "duration_frames": 3}))));
    }
    c067_numeric_prompt_is_422: |s| {
        let e = s.post(&segment(json!({"type": "text", "prompt": 5, "duration_frames": 3}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "string_type");
    }
    c070_language_null_or_any_string: |s| {
        for lang in [Value::Null, json!(""), json!("pt-BR")] {
            ok(&s.post(&segment(json!({"type": "text", "prompt": "w", "duration_frames": 3, "language": lang}))));
        }
        s.post(&segment(json!({"type": "text", "prompt": "w", "duration_frames": 3, "language": 5}))).error(422, "schema_validation");
    }
    c071_segment_seeds_accepted_without_supports_segment_seed: |s| {
        ok(&s.post(&with(json!({"segments": [
            {"type": "text", "prompt": "w", "duration_frames": 3, "seed": 1},
            {"type": "unconditioned", "duration_frames": 3, "seed": 2}]}))));
    }
    /// C72 under D2: seeds beyond signed 64 bits are refused; negatives are fine.
    c072_seeds_negative_ok_fractional_and_huge_refused_d2: |s| {
        ok(&s.post(&options(json!({"seed": -5}))));
        s.post(&options(json!({"seed": 1.5}))).error(422, "schema_validation");
        let huge = options(json!({"seed": 1})).to_string().replace("\"seed\":1", "\"seed\":1180591620717411303424");
        s.request("POST", "/generate", huge.as_bytes()).error(422, "schema_validation");
    }
    c077_segments_not_a_list_is_422: |s| {
        let e = s.post(&with(json!({"segments": {"type": "text"}}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "list_type");
    }
    /// [quirk] C78: a non-string segment type is 422 (the reference crashes).
    c078_array_or_object_segment_type_is_422: |s| {
        for t in [json!(["text"]), json!({"t": 1})] {
            s.post(&segment(json!({"type": t, "prompt": "w", "duration_frames": 3}))).error(422, "schema_validation");
        }
    }
    c079_unconditioned_takes_no_prompt: |s| {
        ok(&s.post(&segment(json!({"type": "unconditioned", "duration_frames": 3}))));
        s.post(&segment(json!({"type": "unconditioned", "duration_frames": 3, "prompt": "w"}))).error(422, "schema_validation");
    }
    c081_a_malformed_pose_is_still_unsupported: |s| {
        s.post(&segment(json!({"type": "pose"}))).error(400, "unsupported_segment");
    }
    c083_reference_segments_are_unsupported: |s| {
        for t in ["motion_reference", "video_reference"] {
            let e = s.post(&segment(json!({"type": t, "anything": 1}))).error(400, "unsupported_segment");
            assert_eq!(e["details"], json!({"supported_segments": ["text", "unconditioned"]}));
        }
    }
    c084_the_gate_needs_a_hosted_model: |s| {
        let a = s.post(&with(json!({"model": "nope", "segments": [{"type": "pose", "prompt": "x"}]})));
        assert!(a.status == 422 || a.json()["error"]["code"] == "unknown_model", "{}", a.json());
        assert_ne!(a.json()["error"]["code"], "unsupported_segment");
    }
    c085_an_unsupported_segment_after_a_valid_one: |s| {
        s.post(&with(json!({"segments": [
            {"type": "text", "prompt": "w", "duration_frames": 3},
            {"type": "pose", "prompt": "x"}]}))).error(400, "unsupported_segment");
    }

    // ---- F. skeleton ----------------------------------------------------------------------
    c094_no_root_is_invalid: |s| {
        let body = with(json!({"skeleton": {"joints": [
            {"name": "A", "parent": "B", "rest_translation": [0, 0, 0], "rest_rotation": [0, 0, 0, 1]},
            {"name": "B", "parent": "A", "rest_translation": [0, 0, 0], "rest_rotation": [0, 0, 0, 1]}]}}));
        let e = s.post(&body).error(400, "invalid_skeleton");
        assert_mentions(&e, "got 0");
    }
    c095_parent_after_child_is_invalid: |s| {
        let e = s.post(&skeleton(|j| j.swap(1, 2))).error(400, "invalid_skeleton");
        assert_mentions(&e, "appears later in the joints list");
    }
    c096_missing_parent_is_invalid: |s| {
        s.post(&skeleton(|j| j[2]["parent"] = json!("Neck"))).error(400, "invalid_skeleton");
    }
    c097_own_parent_is_invalid: |s| {
        s.post(&skeleton(|j| j[2]["parent"] = json!("Head"))).error(400, "invalid_skeleton");
    }
    c098_duplicate_names_are_checked_first: |s| {
        let e = s.post(&skeleton(|j| { j[4]["name"] = json!("Head"); j[1]["parent"] = Value::Null; })).error(400, "invalid_skeleton");
        assert_eq!(e["message"], "joint names must be unique within the skeleton");
    }
    c100_a_malformed_joint_hides_topology: |s| {
        s.post(&skeleton(|j| { j[1]["parent"] = Value::Null; j[2]["rest_rotation"] = json!([0, 0, 1]); })).error(422, "schema_validation");
    }
    c101_no_joints_is_422: |s| {
        let e = s.post(&with(json!({"skeleton": {"joints": []}}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "too_short");
    }
    c102_joint_name_lengths: |s| {
        s.post(&skeleton(|j| j[4]["name"] = json!(""))).error(422, "schema_validation");
        s.post(&skeleton(|j| j[4]["name"] = json!("n".repeat(129)))).error(422, "schema_validation");
        // 128 passes the schema (then the non-retargeting name check speaks).
        s.post(&skeleton(|j| j[4]["name"] = json!("n".repeat(128)))).error(400, "retargeting_unsupported");
    }
    c103_display_name_length: |s| {
        s.post(&skeleton(|j| j[0]["display_name"] = json!("d".repeat(257)))).error(422, "schema_validation");
        ok(&s.post(&skeleton(|j| j[0]["display_name"] = json!("d".repeat(256)))));
    }
    c104_vector_lengths: |s| {
        s.post(&skeleton(|j| j[0]["rest_rotation"] = json!([0, 0, 1]))).error(422, "schema_validation");
        s.post(&skeleton(|j| j[0]["rest_translation"] = json!([0, 0, 1, 2]))).error(422, "schema_validation");
    }
    c105_coordinate_system_and_units_are_literals: |s| {
        let mut sk = null_skeleton();
        sk["coordinate_system"] = json!("left_handed_y_up");
        let e = s.post(&with(json!({"skeleton": sk}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "literal_error");
        let mut sk = null_skeleton();
        sk["units"] = json!("centimeters");
        s.post(&with(json!({"skeleton": sk}))).error(422, "schema_validation");
    }
    c106_unknown_joint_key_is_422: |s| {
        s.post(&skeleton(|j| j[0]["mass"] = json!(3))).error(422, "schema_validation");
    }
    c107_a_joint_without_parent_is_a_root: |s| {
        ok(&s.post(&skeleton(|j| { j[0].as_object_mut().unwrap().remove("parent"); })));
    }
    c108_names_are_case_sensitive: |s| {
        s.post(&skeleton(|j| j[2]["name"] = json!("head"))).error(400, "retargeting_unsupported");
    }

    // ---- G. constraints ---------------------------------------------------------------------
    c109_valid_root_paths: |s| {
        ok(&s.post(&constraint(json!({"type": "root_path", "frames": [0, 2], "positions_xz": [[0, 0], [1, 1]]}))));
        ok(&s.post(&constraint(json!({"type": "root_path", "frames": [0, 2], "positions_xz": [[0, 0], [1, 1]], "heading_radians": [0, 1]}))));
    }
    c111_heading_length_mismatch_is_422: |s| {
        s.post(&constraint(json!({"type": "root_path", "frames": [0, 2], "positions_xz": [[0, 0], [1, 1]], "heading_radians": [0]}))).error(422, "schema_validation");
    }
    c113_length_problem_reported_before_ordering: |s| {
        let e = s.post(&constraint(json!({"type": "root_path", "frames": [2, 1], "positions_xz": [[0, 0]]}))).error(422, "schema_validation");
        assert!(e["details"]["errors"][0]["msg"].as_str().unwrap().contains("length"), "{e}");
    }
    c114_empty_frames_is_422: |s| {
        let e = s.post(&constraint(json!({"type": "root_path", "frames": [], "positions_xz": []}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "too_short");
    }
    c115_three_component_ground_position_is_422: |s| {
        let e = s.post(&constraint(json!({"type": "root_path", "frames": [0], "positions_xz": [[0, 0, 0]]}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "too_long");
    }
    c117_negative_frames_are_out_of_range: |s| {
        for c in [json!({"type": "root_path", "frames": [-1], "positions_xz": [[0, 0]]}),
                  json!({"type": "effector_target", "joint": "Head", "frames": [-1], "positions": [[0, 0, 0]]})] {
            let e = s.post(&constraint(c)).error(400, "frame_out_of_range");
            assert_eq!(e["details"]["frame"], -1);
        }
    }
    c119_effector_frames_may_repeat_or_be_unsorted: |s| {
        ok(&s.post(&constraint(json!({"type": "effector_target", "joint": "Head", "frames": [2, 0, 2], "positions": [[0, 1, 0], [0, 1, 0], [0, 1, 0]]}))));
    }
    c120_effector_shapes: |s| {
        s.post(&constraint(json!({"type": "effector_target", "joint": "Head", "frames": [0], "positions": [[0, 1, 0]], "rotations": [[0, 0, 0, 1], [0, 0, 0, 1]]}))).error(422, "schema_validation");
        s.post(&constraint(json!({"type": "effector_target", "frames": [0], "positions": [[0, 1, 0]]}))).error(422, "schema_validation");
    }
    c121_pose_keyframe_fill_modes: |s| {
        for mode in ["rest", "generate"] {
            ok(&s.post(&constraint(json!({"type": "pose_keyframe", "frame": 1, "joint_rotations": {"Spine": [0, 0, 0, 1]}, "fill_mode": mode}))));
        }
        s.post(&constraint(json!({"type": "pose_keyframe", "frame": 1, "joint_rotations": {"Spine": [0, 0, 0, 1]}, "fill_mode": "free"}))).error(422, "schema_validation");
    }
    c123_pose_keyframe_past_the_end: |s| {
        s.post(&constraint(json!({"type": "pose_keyframe", "frame": 3, "joint_rotations": {"Spine": [0, 0, 0, 1]}}))).error(400, "frame_out_of_range");
    }
    c124_pose_keyframe_joint_rotations: |s| {
        s.post(&constraint(json!({"type": "pose_keyframe", "frame": 1, "joint_rotations": {}}))).error(422, "schema_validation");
        s.post(&constraint(json!({"type": "pose_keyframe", "frame": 1, "joint_rotations": {"Tail": [0, 0, 0, 1]}}))).error(400, "unknown_joint");
    }
    c125_non_unit_quaternions_pass: |s| {
        ok(&s.post(&constraint(json!({"type": "pose_keyframe", "frame": 1, "joint_rotations": {"Spine": [0, 0, 0, 7]}}))));
    }
    c126_unknown_constraint_type_or_key: |s| {
        let e = s.post(&constraint(json!({"type": "gravity"}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "union_tag_invalid");
        s.post(&constraint(json!({"type": "root_path", "frames": [0], "positions_xz": [[0, 0]], "speed": 1}))).error(422, "schema_validation");
    }
    c130_per_constraint_checks_in_order: |s| {
        s.post(&constraint(json!({"type": "effector_target", "joint": "Tail", "frames": [99], "positions": [[0, 0, 0]]}))).error(400, "unknown_joint");
    }
    c131_the_first_constraint_decides: |s| {
        let range = json!({"type": "root_path", "frames": [99], "positions_xz": [[0, 0]]});
        let ground = json!({"type": "ground_height", "points": [[0, 0, 0]]});
        s.post(&with(json!({"constraints": [range, ground]}))).error(400, "frame_out_of_range");
        s.post(&with(json!({"constraints": [ground, range]}))).error(400, "unsupported_constraint");
    }

    // ---- H. top-level shape, options, guidance, timing ------------------------------------------
    c136_duration_frames_alone_is_not_enough: |s| {
        let e = s.post(&with(json!({"segments": [], "duration_frames": 5}))).error(422, "schema_validation");
        assert!(e["details"]["errors"][0]["msg"].as_str().unwrap().contains("at least one of `segments` or `constraints` must be non-empty"), "{e}");
    }
    c137_duration_frames_with_segments_is_forbidden: |s| {
        let e = s.post(&with(json!({"duration_frames": 5}))).error(422, "schema_validation");
        assert!(e["details"]["errors"][0]["msg"].as_str().unwrap().contains("forbidden when `segments` is non-empty"), "{e}");
    }
    c139_zero_duration_frames_is_422: |s| {
        s.post(&with(json!({"segments": [], "duration_frames": 0,
            "constraints": [{"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]}]}))).error(422, "schema_validation");
    }
    c140_model_and_skeleton_are_required: |s| {
        for key in ["model", "skeleton"] {
            let mut body = valid();
            body.as_object_mut().unwrap().remove(key);
            let e = s.post(&body).error(422, "schema_validation");
            assert_eq!(schema_type(&e), "missing");
        }
        s.post(&with(json!({"model": 5}))).error(422, "schema_validation");
    }
    c142_schema_errors_before_the_model_lookup: |s| {
        s.post(&with(json!({"model": "nope", "options": {"num_samples": 0}}))).error(422, "schema_validation");
    }
    c143_empty_or_null_options: |s| {
        ok(&s.post(&options(json!({}))));
        ok(&s.post(&options(Value::Null)));
    }
    /// [lenient] C147 under D1: `seed: null` passes, a numeric string does not.
    c147_null_seed_ok_string_seed_refused_d1: |s| {
        ok(&s.post(&options(json!({"seed": null}))));
        s.post(&options(json!({"seed": "5"}))).error(422, "schema_validation");
    }
    /// [lenient] C148 under D1: only JSON booleans are booleans.
    c148_post_processing_takes_booleans_only_d1: |s| {
        ok(&s.post(&options(json!({"post_processing": false}))));
        for v in [json!("yes"), json!(0), json!("maybe"), json!(2)] {
            s.post(&options(json!({"post_processing": v}))).error(422, "schema_validation");
        }
    }
    c150_regular_guidance_needs_one_weight: |s| {
        s.post(&options(json!({"guidance": {"type": "regular"}}))).error(422, "schema_validation");
        ok(&s.post(&options(json!({"guidance": {"type": "regular", "weight": [3.0]}}))));
    }
    c151_separated_guidance_needs_two_weights: |s| {
        s.post(&options(json!({"guidance": {"type": "separated", "weight": [1.0]}}))).error(422, "schema_validation");
        ok(&s.post(&options(json!({"guidance": {"type": "separated", "weight": [1.0, 2.0]}}))));
    }
    c152_unknown_guidance_type_is_422: |s| {
        let e = s.post(&options(json!({"guidance": {"type": "cfg++"}}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "literal_error");
    }
    c154_unknown_option_is_422: |s| {
        s.post(&options(json!({"temperature": 0.7}))).error(422, "schema_validation");
    }
    c156_loop_false_is_fine: |s| {
        ok(&s.post(&options(json!({"loop": false}))));
    }
    c159_keyframe_budget_range: |s| {
        let e = s.post(&options(json!({"keyframe_budget": 0}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "greater_than");
        ok(&s.post(&options(json!({"keyframe_budget": null}))));
    }
    c161_empty_model_options_on_a_model_without_dials: |s| {
        ok(&s.post(&options(json!({"model_options": {}}))));
        ok(&s.post(&options(json!({"model_options": null}))));
    }
    /// [quirk] C165: an infinite fps is 422 (the reference answers a bare 500).
    c165_infinite_fps_is_422: |s| {
        let body = with(json!({"timing": {"fps": 24}})).to_string().replace("24", "Infinity");
        s.request("POST", "/generate", body.as_bytes()).error(422, "schema_validation");
    }
    c167_duration_uses_the_effective_fps: |s| {
        ok(&s.post(&with(json!({"timing": {"fps": 31},
            "segments": [{"type": "text", "prompt": "w", "duration_frames": 901}]}))));
    }

    // ---- I. model-level check order -------------------------------------------------------------
    c169_retargeting_is_checked_first: |s| {
        let body = with(json!({"skeleton": {"joints": [{"name": "Root", "parent": null, "rest_translation": [0, 1, 0], "rest_rotation": [0, 0, 0, 1]}]},
            "options": {"loop": true}}));
        s.post(&body).error(400, "retargeting_unsupported");
    }
    c170_model_options_then_keyframe_budget_then_loop: |s| {
        let e = s.post(&options(json!({"loop": true, "keyframe_budget": 0.1, "model_options": {"a": 1}}))).error(400, "invalid_options");
        assert_mentions(&e, "model_options");
        let e = s.post(&options(json!({"loop": true, "keyframe_budget": 0.1}))).error(400, "invalid_options");
        assert_mentions(&e, "keyframe_budget");
    }
    c171_loop_before_constraints: |s| {
        let body = with(json!({"options": {"loop": true}, "constraints": [{"type": "ground_height", "points": [[0, 0, 0]]}]}));
        let e = s.post(&body).error(400, "invalid_options");
        assert_mentions(&e, "loop");
    }
    c173_prompt_length_before_duration: |s| {
        let e = s.post(&segment(json!({"type": "text", "prompt": "w".repeat(1001), "duration_frames": 901}))).error(400, "invalid_options");
        assert_mentions(&e, "prompt length");
    }
    c174_schema_limits_first: |s| {
        let many: Vec<Value> = (0..65).map(|_| json!({"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]})).collect();
        s.post(&with(json!({"options": {"num_samples": 17}, "constraints": many}))).error(422, "schema_validation");
    }

    // ---- K. batches --------------------------------------------------------------------------------
    c213_c214_batch_major_decides_first: |s| {
        for v in ["2.0", "abc"] {
            s.post(&json!({"protocol_version": v, "requests": "not a list"})).error(400, "version_unsupported");
        }
    }
    c216_requests_must_be_a_non_empty_list: |s| {
        for r in [json!([]), json!({}), Value::Null, json!("x")] {
            let e = s.post(&json!({"protocol_version": "1.4", "requests": r})).error(422, "schema_validation");
            assert_mentions(&e, "requests must be a non-empty list");
        }
    }
    c217_at_most_sixteen_items: |s| {
        let item = || { let mut v = valid(); v.as_object_mut().unwrap().remove("protocol_version"); v };
        let e = s.post(&json!({"protocol_version": "1.4", "requests": vec![item(); 17]})).error(400, "invalid_options");
        assert_eq!(e["details"], json!({"max_batch_size": 16, "requests": 17}));
        assert_eq!(s.post(&json!({"protocol_version": "1.4", "requests": vec![item(); 16]})).json()["results"].as_array().unwrap().len(), 16);
    }
    c220_c221_c222_c223_c224_item_errors: |s| {
        let item = |fields: Value| { let mut v = valid(); v.as_object_mut().unwrap().remove("protocol_version"); for (k, f) in fields.as_object().unwrap() { v[k] = f.clone(); } v };
        let two_roots = {
            let mut sk = null_skeleton();
            sk["joints"][1]["parent"] = Value::Null;
            sk
        };
        let results = s.post(&json!({"protocol_version": "1.4", "requests": [
            item(json!({"model": "nope"})),
            item(json!({"segments": [{"type": "text", "duration_frames": 3}]})),
            item(json!({"skeleton": two_roots})),
            item(json!({"segments": [{"type": "pose", "prompt": "x"}]})),
            item(json!({"protocol_version": "2.0"})),
            item(json!({})),
        ]})).json()["results"].clone();
        let codes: Vec<&str> = results.as_array().unwrap().iter().map(|r| r["error"]["code"].as_str().unwrap_or("ok")).collect();
        assert_eq!(codes, ["unknown_model", "schema_validation", "invalid_skeleton", "unsupported_segment", "version_unsupported", "ok"]);
        assert!(results[1]["error"]["details"]["errors"].is_array());
    }
    c225_a_nested_batch_item_is_a_schema_error: |s| {
        let results = s.post(&json!({"protocol_version": "1.4", "requests": [{"requests": [valid()]}]})).json();
        assert_eq!(results["results"][0]["error"]["code"], "schema_validation");
    }
    c228_each_result_has_one_key: |s| {
        let results = s.post(&json!({"protocol_version": "1.4", "requests": [{"model": "nope"}, valid()]})).json();
        for r in results["results"].as_array().unwrap() {
            assert_eq!(r.as_object().unwrap().len(), 1, "{r}");
        }
    }

    // ---- L. error envelope ---------------------------------------------------------------------------
    c236_details_is_always_an_object: |s| {
        let e = s.post(&options(json!({"loop": true}))).error(400, "invalid_options");
        assert!(e["details"].is_object());
        let e = s.request("POST", "/generate", b"").error(422, "schema_validation");
        assert_eq!(e["details"], json!({}));
    }
    c239_schema_errors_never_echo_input: |s| {
        let e = s.post(&text(json!(-4))).error(422, "schema_validation");
        for err in e["details"]["errors"].as_array().unwrap() {
            assert!(err.get("input").is_none() && err.get("url").is_none(), "{err}");
            assert!(err["type"].is_string() && err["loc"].is_array() && err["msg"].is_string());
        }
    }
    c240_union_locations_carry_the_tag: |s| {
        let e = s.post(&segment(json!({"type": "text", "prompt": 7, "duration_frames": 3}))).error(422, "schema_validation");
        assert_eq!(e["details"]["errors"][0]["loc"], json!(["segments", 0, "text", "prompt"]));
    }
    c241_cross_field_errors_have_empty_loc: |s| {
        let e = s.post(&with(json!({"segments": [], "constraints": []}))).error(422, "schema_validation");
        assert_eq!(e["details"]["errors"][0]["loc"], json!([]));
    }
    c242_invalid_skeleton_message_is_the_first_topology_error: |s| {
        let e = s.post(&skeleton(|j| j[1]["parent"] = Value::Null)).error(400, "invalid_skeleton");
        assert_eq!(e["details"]["errors"][0]["type"], "invalid_skeleton");
        assert_eq!(e["message"], e["details"]["errors"][0]["msg"]);
    }

    // ---- M. response glTF ------------------------------------------------------------------------------
    c243_top_level_keys_in_order: |s| {
        let doc = ok(&s.post(&valid()));
        let keys: Vec<&str> = doc.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["asset", "nodes", "scenes", "scene", "skins", "animations", "accessors", "bufferViews", "buffers", "extensionsUsed", "extensions"]);
    }
    c244_c246_c247_asset_scene_and_skin: |s| {
        let doc = ok(&s.post(&valid()));
        assert_eq!(doc["asset"]["version"], "2.0");
        assert_eq!(doc["scenes"], json!([{"nodes": [0]}]));
        assert_eq!(doc["scene"], 0);
        assert_eq!(doc["skins"], json!([{"name": "skin", "joints": [0, 1, 2, 3, 4]}]));
    }
    c245_nodes_follow_the_request_skeleton: |s| {
        let doc = ok(&s.post(&valid()));
        assert_eq!(doc["nodes"][0]["name"], "Hips");
        assert_eq!(doc["nodes"][0]["children"], json!([1, 3, 4]));
        assert!(doc["nodes"][2].get("children").is_none());
        assert_eq!(doc["nodes"][3]["translation"], json!([0.1, -0.95, 0.0]));
    }
    c248_c249_one_animation_per_sample_with_rotation_channels_then_root_translation: |s| {
        let doc = ok(&s.post(&options(json!({"num_samples": 2}))));
        let animations = doc["animations"].as_array().unwrap();
        assert_eq!(animations[1]["name"], "sample_1");
        let paths: Vec<&str> = animations[0]["channels"].as_array().unwrap().iter().map(|c| c["target"]["path"].as_str().unwrap()).collect();
        assert_eq!(paths, ["rotation", "rotation", "rotation", "rotation", "rotation", "translation"]);
        for (k, c) in animations[0]["channels"].as_array().unwrap().iter().enumerate() {
            assert_eq!(c["sampler"], k);
        }
        assert!(animations[0]["samplers"].as_array().unwrap().iter().all(|s| s["interpolation"] == "LINEAR"));
    }
    c251_c252_accessors: |s| {
        let doc = ok(&s.post(&valid()));
        let acc = doc["accessors"].as_array().unwrap();
        assert_eq!(acc[0]["min"], json!([0.0]));
        assert!(acc[0]["max"].is_array());
        for a in &acc[1..] {
            assert!(a.get("min").is_none() && a.get("max").is_none());
            assert_eq!(a["componentType"], 5126);
        }
    }
    c253_c254_views_and_buffer: |s| {
        let doc = ok(&s.post(&valid()));
        let mut offset = 0;
        for (i, v) in doc["bufferViews"].as_array().unwrap().iter().enumerate() {
            assert_eq!(doc["accessors"][i]["bufferView"], i);
            assert_eq!(v["byteOffset"], offset);
            assert!(v.get("byteStride").is_none() && v.get("target").is_none());
            offset += v["byteLength"].as_u64().unwrap();
        }
        assert_eq!(doc["buffers"][0]["byteLength"], offset);
        assert!(doc["buffers"][0]["uri"].as_str().unwrap().starts_with("data:application/octet-stream;base64,"));
    }
    c250_dense_channels_share_time_accessor_0: |s| {
        let doc = ok(&s.post(&with(json!({"options": {"num_samples": 2}, "timing": {"fps": 24},
            "segments": [{"type": "text", "prompt": "w", "duration_frames": 5}]}))));
        for anim in doc["animations"].as_array().unwrap() {
            assert!(anim["samplers"].as_array().unwrap().iter().all(|s| s["input"] == 0));
        }
        let times = accessor_floats(&doc, 0);
        let expected: Vec<f32> = (0..5).map(|i| i as f32 / 24.0_f32).collect();
        assert_eq!(times, expected);
    }
    c256_values_are_the_backbones: |s| {
        let doc = ok(&s.post(&valid()));
        assert_eq!(accessor_floats(&doc, 1), [0.0, 0.0, 0.0, 1.0].repeat(3));
        let root = accessor_floats(&doc, 6);
        assert_eq!(root, [0.0, 0.95_f32, 0.0].repeat(3));
    }
    c257_extensions_used: |s| {
        let doc = ok(&s.post(&valid()));
        assert_eq!(doc["extensionsUsed"], json!(["MMCP_motion"]));
        assert!(doc.get("extensionsRequired").is_none());
    }
    c258_the_answer_animates_the_request_skeleton: |s| {
        let doc = ok(&s.post(&skeleton(|j| j[0]["rest_translation"] = json!([0, 2, 0]))));
        assert_eq!(doc["nodes"][0]["translation"], json!([0.0, 2.0, 0.0]));
    }
    c262_no_translation_channels_without_joint_translation: |s| {
        let doc = ok(&s.post(&valid()));
        let translations = doc["animations"][0]["channels"].as_array().unwrap().iter().filter(|c| c["target"]["path"] == "translation").count();
        assert_eq!(translations, 1);
    }

    // ---- N. the extension ------------------------------------------------------------------------------
    c267_c268_model_fps_and_samples: |s| {
        let doc = ok(&s.post(&with(json!({"timing": {"fps": 25}}))));
        let ext = &doc["extensions"]["MMCP_motion"];
        assert_eq!(ext["model"], "null");
        assert_eq!(ext["fps"], json!(25.0));
        assert_eq!(ext["samples"][0], json!({"name": "sample_0", "num_frames": 3, "chunk_boundaries": []}));
    }
}

// ---- [opt-in] lines, against tests/components/everything ------------------------

fn ev(fields: Value) -> Value {
    let mut body = with(fields);
    body["model"] = json!("everything");
    body
}

fn dial(name: &str, value: Value) -> Value {
    ev(json!({"options": {"model_options": {name: value}}}))
}

/// Asserts a refused dial value: the C183 message prefix and details.
fn refused_dial(s: &Server, name: &str, value: Value, says: &str) {
    let e = s
        .post(&dial(name, value.clone()))
        .error(400, "invalid_options");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("options.model_options.{name}: ")),
        "{message}"
    );
    assert!(message.contains(says), "{says:?} not in {message}");
    assert_eq!(
        e["details"],
        json!({"model": "everything", "option": name, "value": value})
    );
}

fn mref(frames: usize, names: &[&str]) -> Value {
    json!({"type": "motion_reference", "duration_frames": 4, "joint_names": names,
        "rotations": vec![vec![json!([0, 0, 0, 1]); names.len()]; frames],
        "root_positions": vec![json!([0, 0.95, 0]); frames], "fps": 30})
}

const NAMES: [&str; 5] = ["Hips", "Spine", "Head", "LeftFoot", "RightFoot"];

fn video(fields: Value) -> Value {
    let mut seg = json!({"type": "video_reference", "duration_frames": 4});
    for (k, v) in fields.as_object().unwrap() {
        seg[k] = v.clone();
    }
    ev(json!({"segments": [seg]}))
}

fn inline(bytes: usize) -> Value {
    use base64::Engine as _;
    json!({"data": base64::engine::general_purpose::STANDARD.encode(vec![b'x'; bytes]), "media_type": "video/mp4"})
}

checklist! { "everything";
    c020_declared_dials_are_published_with_all_eight_keys: |s| {
        let caps = s.get("/capabilities").json();
        let twist = &caps["models"][0]["model_options"][0];
        let keys: Vec<&str> = twist.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["name", "type", "title", "description", "default", "minimum", "maximum", "values"]);
        assert_eq!(twist["description"], Value::Null);
        let body = String::from_utf8(s.get("/capabilities").body).unwrap();
        assert!(body.contains("\"minimum\":0.0,\"maximum\":1.0"), "{body}");
    }
    c028_reference_limits_appear_when_set: |s| {
        let caps = s.get("/capabilities").json();
        let keys: Vec<&str> = caps["models"][0]["limits"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(&keys[6..], ["max_reference_frames", "max_video_bytes", "max_video_seconds"]);
    }
    c086_a_pose_is_one_frame: |s| {
        let doc = ok(&s.post(&ev(json!({"segments": [{"type": "pose", "prompt": "stand"}]}))));
        assert_eq!(doc["extensions"]["MMCP_motion"]["samples"][0]["num_frames"], 1);
        assert_eq!(doc["accessors"][0]["min"], json!([0.0]));
        assert_eq!(doc["accessors"][0]["max"], json!([0.0]));
    }
    c087_pose_takes_no_frames_or_seed: |s| {
        for extra in [json!({"duration_frames": 2}), json!({"seed": 1})] {
            let mut seg = json!({"type": "pose", "prompt": "stand"});
            seg.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            let e = s.post(&ev(json!({"segments": [seg]}))).error(422, "schema_validation");
            assert_eq!(schema_type(&e), "extra_forbidden");
        }
    }
    c088_pose_prompt_length_is_limited: |s| {
        s.post(&ev(json!({"segments": [{"type": "pose", "prompt": "p".repeat(1001)}]}))).error(400, "invalid_options");
    }
    c089_a_pose_counts_one_frame_among_others: |s| {
        let doc = ok(&s.post(&ev(json!({"segments": [{"type": "pose", "prompt": "stand"}, {"type": "text", "prompt": "w", "duration_frames": 4}]}))));
        assert_eq!(doc["extensions"]["MMCP_motion"]["samples"][0]["num_frames"], 5);
    }
    c090_only_a_pose_means_one_frame_for_constraints: |s| {
        let e = s.post(&ev(json!({"segments": [{"type": "pose", "prompt": "stand"}],
            "constraints": [{"type": "root_path", "frames": [1], "positions_xz": [[0, 0]]}]}))).error(400, "frame_out_of_range");
        assert_eq!(e["message"], "frame 1 is outside [0, 0]");
    }
    c128_ground_height_has_no_range_check: |s| {
        ok(&s.post(&ev(json!({"constraints": [{"type": "ground_height", "points": [[1000, -1000, 5]]}]}))));
    }
    c129_ground_height_shapes: |s| {
        for c in [json!({"type": "ground_height", "points": []}),
                  json!({"type": "ground_height", "points": [[0, 0]]}),
                  json!({"type": "ground_height", "points": [[0, 0, 0]], "frames": [0]})] {
            s.post(&ev(json!({"constraints": [c]}))).error(422, "schema_validation");
        }
        let nan = ev(json!({"constraints": [{"type": "ground_height", "points": [[0, 0, 7]]}]})).to_string().replace("[[0,0,7]]", "[[0,0,NaN]]");
        s.request("POST", "/generate", nan.as_bytes()).error(422, "schema_validation");
    }
    c157_loop_needs_exactly_one_segment: |s| {
        ok(&s.post(&ev(json!({"options": {"loop": true}}))));
        let two = ev(json!({"options": {"loop": true}, "segments": [
            {"type": "text", "prompt": "w", "duration_frames": 3}, {"type": "text", "prompt": "w", "duration_frames": 3}]}));
        assert_eq!(s.post(&two).error(400, "invalid_options")["details"], json!({"segments": 2}));
        let none = ev(json!({"options": {"loop": true}, "segments": [], "duration_frames": 5,
            "constraints": [{"type": "root_path", "frames": [0], "positions_xz": [[0, 0]]}]}));
        assert_eq!(s.post(&none).error(400, "invalid_options")["details"], json!({"segments": 0}));
    }
    c160_keyframe_budget_is_accepted: |s| {
        ok(&s.post(&ev(json!({"options": {"keyframe_budget": 0.01}}))));
    }
    c175_max_num_samples_is_the_models: |s| {
        let e = s.post(&ev(json!({"options": {"num_samples": 5}}))).error(400, "invalid_options");
        assert_eq!(e["message"], "num_samples 5 exceeds max_num_samples 4");
        assert_eq!(e["details"], json!({}));
    }
    c176_an_undeclared_dial: |s| {
        let e = s.post(&dial("nope", json!(1))).error(400, "invalid_options");
        assert_eq!(e["message"], "this model has no option 'nope'");
        assert_eq!(e["details"], json!({"model": "everything", "options": ["extras", "mirror", "steps", "style", "twist"]}));
    }
    c177_dials_are_checked_in_request_order: |s| {
        let first = ev(json!({"options": {"model_options": {"twist": 5, "nope": 1}}}));
        assert_mentions(&s.post(&first).error(400, "invalid_options"), "above the maximum");
        let second = ev(json!({"options": {"model_options": {"nope": 1, "twist": 5}}}));
        assert_mentions(&s.post(&second).error(400, "invalid_options"), "has no option 'nope'");
    }
    /// C178: NaN cannot be sent at all here (D3 refuses the token: 422).
    c178_number_dials: |s| {
        ok(&s.post(&dial("twist", json!(0.5))));
        ok(&s.post(&dial("twist", json!(1))));
        refused_dial(&s, "twist", json!(1.01), "above the maximum");
        refused_dial(&s, "twist", json!(-0.1), "below the minimum");
        refused_dial(&s, "twist", json!(true), "expected a number, got bool");
        refused_dial(&s, "twist", json!("0.5"), "expected a number, got str");
        refused_dial(&s, "twist", Value::Null, "expected a number");
        let nan = dial("twist", json!(0.25)).to_string().replace("0.25", "NaN");
        s.request("POST", "/generate", nan.as_bytes()).error(422, "schema_validation");
    }
    c179_integer_dials: |s| {
        ok(&s.post(&dial("steps", json!(3.0))));
        refused_dial(&s, "steps", json!(3.5), "expected an integer");
        refused_dial(&s, "steps", json!(0), "below the minimum");
        let huge = dial("steps", json!(7)).to_string().replace(":7", ":1000000000000000000000000000000");
        ok(&s.request("POST", "/generate", huge.as_bytes()));
    }
    c180_boolean_dials: |s| {
        ok(&s.post(&dial("mirror", json!(true))));
        refused_dial(&s, "mirror", json!(1), "expected a boolean, got int");
    }
    c181_enum_dials: |s| {
        ok(&s.post(&dial("style", json!("calm"))));
        // Values shown as the reference shows them: Python reprs.
        refused_dial(&s, "style", json!("loud"), "'loud' is not one of ['calm', 'wild']");
        refused_dial(&s, "style", json!(["calm"]), "['calm'] is not one of ['calm', 'wild']");
        refused_dial(&s, "style", json!(true), "True is not one of");
    }
    c182_flags_dials: |s| {
        ok(&s.post(&dial("extras", json!(["x", "y"]))));
        ok(&s.post(&dial("extras", json!([]))));
        refused_dial(&s, "extras", json!("x"), "expected a list of flags");
        refused_dial(&s, "extras", json!(["x", "x"]), "the same flag is listed twice");
        refused_dial(&s, "extras", json!(["q", "x", 1]), "['q', 1] not among ['x', 'y', 'z']");
    }
    c183_refused_dials_share_one_shape: |s| {
        refused_dial(&s, "twist", json!(2), "above the maximum 1.0");
    }
    c184_a_valid_motion_reference: |s| {
        ok(&s.post(&ev(json!({"segments": [mref(2, &NAMES)]}))));
    }
    c185_a_one_frame_clip_is_too_short: |s| {
        let e = s.post(&ev(json!({"segments": [mref(1, &NAMES)]}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "too_short");
    }
    c186_max_reference_frames: |s| {
        let e = s.post(&ev(json!({"segments": [mref(11, &NAMES)]}))).error(400, "invalid_options");
        assert_eq!(e["details"], json!({"max_reference_frames": 10, "reference_frames": 11, "segment": 0}));
        ok(&s.post(&ev(json!({"segments": [mref(10, &NAMES)]}))));
    }
    c187_the_clip_needs_the_root: |s| {
        let e = s.post(&ev(json!({"segments": [mref(2, &["Spine", "Head"])]}))).error(400, "invalid_request");
        assert_eq!(e["details"], json!({"root_joint": "Hips", "segment": 0}));
        assert_eq!(e["message"], "motion_reference must include the request skeleton's root joint 'Hips'");
    }
    c188_an_unknown_clip_joint: |s| {
        let e = s.post(&ev(json!({"segments": [mref(2, &["Hips", "Tail"])]}))).error(400, "unknown_joint");
        assert_mentions(&e, "not in the request skeleton");
    }
    c189_clip_names_are_unique: |s| {
        let e = s.post(&ev(json!({"segments": [mref(2, &["Hips", "Hips"])]}))).error(422, "schema_validation");
        assert!(e["details"]["errors"][0]["msg"].as_str().unwrap().contains("joint_names must be unique"));
    }
    c190_clip_shapes: |s| {
        let mut seg = mref(2, &NAMES);
        seg["rotations"][1] = json!([[0, 0, 0, 1]]);
        s.post(&ev(json!({"segments": [seg]}))).error(422, "schema_validation");
        let mut seg = mref(2, &NAMES);
        seg["root_positions"] = json!([[0, 0.95, 0]]);
        s.post(&ev(json!({"segments": [seg]}))).error(422, "schema_validation");
    }
    c191_clip_numbers: |s| {
        for (k, v) in [("fps", json!(0)), ("duration_frames", json!(0)), ("joint_names", json!([]))] {
            let mut seg = mref(2, &NAMES);
            seg[k] = v;
            s.post(&ev(json!({"segments": [seg]}))).error(422, "schema_validation");
        }
        let nan = ev(json!({"segments": [mref(2, &NAMES)]})).to_string().replace("\"fps\":30", "\"fps\":NaN");
        s.request("POST", "/generate", nan.as_bytes()).error(422, "schema_validation");
    }
    c192_fidelity_is_gone: |s| {
        let mut seg = mref(2, &NAMES);
        seg["fidelity"] = json!(0.5);
        s.post(&ev(json!({"segments": [seg]}))).error(422, "schema_validation");
    }
    c193_a_clip_skeleton_must_be_canonical: |s| {
        let mut seg = mref(2, &NAMES);
        seg["skeleton"] = null_skeleton();
        ok(&s.post(&ev(json!({"segments": [seg]}))));
        let mut seg = mref(2, &["Root"]);
        seg["skeleton"] = json!({"joints": [{"name": "Root", "parent": null, "rest_translation": [0, 1, 0], "rest_rotation": [0, 0, 0, 1]}]});
        s.post(&ev(json!({"segments": [seg]}))).error(400, "retargeting_unsupported");
    }
    c194_a_clip_skeleton_topology_error: |s| {
        let mut sk = null_skeleton();
        sk["joints"][1]["parent"] = Value::Null;
        let mut seg = mref(2, &NAMES);
        seg["skeleton"] = sk;
        let e = s.post(&ev(json!({"segments": [seg]}))).error(400, "invalid_skeleton");
        assert_eq!(e["details"]["errors"][0]["loc"], json!(["segments", 0, "motion_reference", "skeleton"]));
    }
    c196_segments_are_checked_in_order: |s| {
        let e = s.post(&ev(json!({"segments": [mref(2, &NAMES), mref(11, &NAMES)]}))).error(400, "invalid_options");
        assert_eq!(e["details"]["segment"], 1);
        let e = s.post(&ev(json!({"segments": [mref(11, &["Hips", "Tail"])]}))).error(400, "unknown_joint");
        assert_mentions(&e, "Tail");
    }
    c197_motion_references_are_checked_before_videos: |s| {
        let mut vid = json!({"type": "video_reference", "duration_frames": 4});
        vid["video"] = inline(101);
        let e = s.post(&ev(json!({"segments": [vid, mref(11, &NAMES)]}))).error(400, "invalid_options");
        assert_eq!(e["details"]["segment"], 1);
    }
    c198_https_urls_pass: |s| {
        ok(&s.post(&video(json!({"video": {"url": "https://cdn.example.com/a.mp4"}}))));
        ok(&s.post(&video(json!({"video": {"url": "HTTPS://cdn.example.com/a.mp4"}}))));
    }
    c199_http_urls_are_refused: |s| {
        let e = s.post(&video(json!({"video": {"url": "http://cdn.example.com/a.mp4"}}))).error(422, "schema_validation");
        assert!(e["details"]["errors"][0]["msg"].as_str().unwrap().contains("must be an https URL"));
    }
    c200_url_rules: |s| {
        let long = format!("https://h/{}", "a".repeat(4100));
        for url in ["https://u:pw@cdn.example.com/a", "https:///a", "https://h:99999/a", "https://h:0/a", "https://h/a b", long.as_str()] {
            s.post(&video(json!({"video": {"url": url}}))).error(422, "schema_validation");
        }
    }
    c201_exactly_one_source: |s| {
        for v in [json!({"url": "https://h/a", "media_type": "video/mp4"}), json!({"url": "https://h/a", "data": "QUJD"}), json!({})] {
            s.post(&video(json!({"video": v}))).error(422, "schema_validation");
        }
    }
    c202_inline_media_types: |s| {
        s.post(&video(json!({"video": {"data": "QUJD"}}))).error(422, "schema_validation");
        let e = s.post(&video(json!({"video": {"data": "QUJD", "media_type": "video/avi"}}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "literal_error");
    }
    c203_standard_base64_only: |s| {
        for data in ["QUJ", "====", "QU-_", "QU\nJD", "QU JD", "QU=JD"] {
            s.post(&video(json!({"video": {"data": data, "media_type": "video/mp4"}}))).error(422, "schema_validation");
        }
    }
    c204_max_video_bytes: |s| {
        let e = s.post(&video(json!({"video": inline(101)}))).error(413, "payload_too_large");
        assert_eq!(e["details"], json!({"max_video_bytes": 100, "video_bytes": 101, "segment": 0}));
        ok(&s.post(&video(json!({"video": inline(100)}))));
    }
    c205_video_trim_and_fps: |s| {
        let url = json!({"url": "https://h/a"});
        for extra in [json!({"start_s": 2, "end_s": 2}), json!({"start_s": -1}), json!({"end_s": 0}), json!({"fps": 0})] {
            let mut fields = json!({"video": url});
            fields.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            s.post(&video(fields)).error(422, "schema_validation");
        }
        s.post(&video(json!({"video": {"url": "https://h/a", "x": 1}}))).error(422, "schema_validation");
    }
    c206_max_video_seconds: |s| {
        let e = s.post(&video(json!({"video": {"url": "https://h/a"}, "start_s": 1, "end_s": 7}))).error(400, "invalid_options");
        assert_eq!(e["message"], "video_reference reads 6s of video; max_video_seconds is 5");
        assert_eq!(e["details"], json!({"max_video_seconds": 5.0, "video_seconds": 6.0, "segment": 0}));
        ok(&s.post(&video(json!({"video": {"url": "https://h/a"}, "end_s": 5}))));
        ok(&s.post(&video(json!({"video": {"url": "https://h/a"}, "start_s": 100}))));
    }
    c207_bytes_before_seconds: |s| {
        s.post(&video(json!({"video": inline(101), "end_s": 9}))).error(413, "payload_too_large");
    }
    c208_video_bytes_before_model_options: |s| {
        let mut body = video(json!({"video": inline(101)}));
        body["options"] = json!({"model_options": {"nope": 1}});
        s.post(&body).error(413, "payload_too_large");
    }
    c209_a_huge_invalid_video_gets_a_small_answer: |s| {
        // Under this model's 512 KiB cap, so it reaches validation.
        let a = s.post(&video(json!({"video": {"data": "!".repeat(400_000), "media_type": "video/mp4"}})));
        a.error(422, "schema_validation");
        assert!(a.body.len() < 4096, "{} bytes", a.body.len());
    }
    c265_c284_frames_and_samples_are_what_the_backbone_returned: |s| {
        let doc = ok(&s.post(&ev(json!({"segments": [{"type": "text", "prompt": "fewer", "duration_frames": 6}], "options": {"num_samples": 3}}))));
        assert_eq!(doc["animations"].as_array().unwrap().len(), 1);
        assert_eq!(doc["extensions"]["MMCP_motion"]["samples"][0]["num_frames"], 5);
        assert_eq!(doc["accessors"][0]["count"], 5);
    }
    c259_backbone_keyframes_thin_a_channel: |s| {
        let doc = ok(&s.post(&ev(json!({"segments": [{"type": "text", "prompt": "keys", "duration_frames": 5}]}))));
        let anim = &doc["animations"][0];
        let sampler = &anim["samplers"][anim["channels"][1]["sampler"].as_u64().unwrap() as usize];
        let times = &doc["accessors"][sampler["input"].as_u64().unwrap() as usize];
        assert_eq!(times["count"], 3);
        assert_eq!(times["max"], json!([4.0 / 30.0_f32]));
    }
    c260_identical_key_sets_share_a_time_accessor: |s| {
        let doc = ok(&s.post(&ev(json!({"segments": [{"type": "text", "prompt": "keys", "duration_frames": 5}], "options": {"num_samples": 2}}))));
        let input = |a: usize, ch: usize| {
            let anim = &doc["animations"][a];
            anim["samplers"][anim["channels"][ch]["sampler"].as_u64().unwrap() as usize]["input"].clone()
        };
        assert_eq!(input(0, 1), input(0, 2));
        assert_eq!(input(0, 1), input(1, 2));
        assert_ne!(input(0, 1), input(0, 0));
    }
    c261_moved_joints_get_translation_channels: |s| {
        let doc = ok(&s.post(&ev(json!({"segments": [{"type": "text", "prompt": "slide", "duration_frames": 4}]}))));
        let targets: Vec<(u64, &str)> = doc["animations"][0]["channels"].as_array().unwrap().iter()
            .map(|c| (c["target"]["node"].as_u64().unwrap(), c["target"]["path"].as_str().unwrap())).collect();
        assert_eq!(&targets[5..], [(0, "translation"), (1, "translation")]);
    }
}

// ---- backbone failures, against the probes -----------------------------------------

checklist! { "probe";
    /// C237: every protocol error a backbone may raise maps to its status.
    c237_status_mapping: |s| {
        for (code, status) in [("invalid_options", 400), ("invalid_request", 400), ("unauthorized", 401),
            ("forbidden", 403), ("payload_too_large", 413), ("rate_limited", 429), ("internal_error", 500),
            ("resource_exhausted", 503), ("model_unavailable", 503), ("timeout", 504)] {
            s.post(&probe_request(&format!("raise {code}"))).error(status, code);
        }
    }
    c232_an_unencodable_item_is_an_item_internal_error: |s| {
        let item = |prompt: &str| { let mut v = probe_request(prompt); v.as_object_mut().unwrap().remove("protocol_version"); v };
        let results = s.post(&json!({"protocol_version": "1.4", "requests": [item("rename"), item("walk")]})).json();
        assert_eq!(results["results"][0]["error"]["code"], "internal_error");
        assert!(results["results"][1]["gltf"].is_object());
    }
    /// C255: G§10.1's worked example, byte for byte (the probe has its
    /// two-joint skeleton; only the model id differs).
    c255_the_worked_example_byte_for_byte: |s| {
        let body = r#"{"protocol_version":"1.4","model":"probe","skeleton":{"joints":[{"name":"Hips","parent":null,"rest_translation":[0,0.95,0],"rest_rotation":[0,0,0,1]},{"name":"Spine","parent":"Hips","rest_translation":[0,0.5,0],"rest_rotation":[0,0,0,1]}]},"segments":[{"type":"text","prompt":"stand still","duration_frames":3}]}"#;
        let a = s.request("POST", "/generate", body.as_bytes());
        let expected = concat!(
            r#"{"asset":{"version":"2.0","generator":"motionmcp"},"#,
            r#""nodes":[{"name":"Hips","translation":[0.0,0.95,0.0],"rotation":[0.0,0.0,0.0,1.0],"children":[1]},{"name":"Spine","translation":[0.0,0.5,0.0],"rotation":[0.0,0.0,0.0,1.0]}],"#,
            r#""scenes":[{"nodes":[0]}],"scene":0,"skins":[{"name":"skin","joints":[0,1]}],"#,
            r#""animations":[{"name":"sample_0","channels":[{"sampler":0,"target":{"node":0,"path":"rotation"}},{"sampler":1,"target":{"node":1,"path":"rotation"}},{"sampler":2,"target":{"node":0,"path":"translation"}}],"samplers":[{"input":0,"output":1,"interpolation":"LINEAR"},{"input":0,"output":2,"interpolation":"LINEAR"},{"input":0,"output":3,"interpolation":"LINEAR"}]}],"#,
            r#""accessors":[{"bufferView":0,"componentType":5126,"count":3,"type":"SCALAR","min":[0.0],"max":[0.06666667014360428]},{"bufferView":1,"componentType":5126,"count":3,"type":"VEC4"},{"bufferView":2,"componentType":5126,"count":3,"type":"VEC4"},{"bufferView":3,"componentType":5126,"count":3,"type":"VEC3"}],"#,
            r#""bufferViews":[{"buffer":0,"byteOffset":0,"byteLength":12},{"buffer":0,"byteOffset":12,"byteLength":48},{"buffer":0,"byteOffset":60,"byteLength":48},{"buffer":0,"byteOffset":108,"byteLength":36}],"#,
            r#""buffers":[{"byteLength":144,"uri":"data:application/octet-stream;base64,AAAAAImICD2JiIg9AAAAAAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAAAAgD8AAAAAAAAAAAAAAAAAAIA/AAAAAAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAAAAgD8AAAAAAAAAAAAAAAAAAIA/AAAAADMzcz8AAAAAAAAAADMzcz8AAAAAAAAAADMzcz8AAAAA"}],"#,
            r#""extensionsUsed":["MMCP_motion"],"#,
            r#""extensions":{"MMCP_motion":{"version":"1.4","model":"probe","fps":30.0,"samples":[{"name":"sample_0","num_frames":3,"chunk_boundaries":[]}]}}}"#,
        );
        assert_eq!(String::from_utf8(a.body).unwrap(), expected);
        assert_eq!(expected.len(), 1608 + 1, "the spec's 1608 bytes, plus one for 'probe' vs 'null'");
    }
    c270_a_backbone_trajectory_is_written_as_given: |s| {
        let doc = ok(&s.post(&probe_request("extras")));
        assert_eq!(doc["extensions"]["MMCP_motion"]["samples"][0]["trajectory"], json!({"model": "custom"}));
    }
    /// [quirk] C281 (D9): a generic backbone failure is the 500 envelope.
    c281_a_backbone_failure_is_a_500_envelope: |s| {
        let e = s.post(&probe_request("panic")).error(500, "internal_error");
        assert_mentions(&e, "probe was asked to panic");
    }
    /// [quirk] C282 (D9): result joints that differ from the request's.
    c282_mismatched_result_joints_are_a_500_envelope: |s| {
        s.post(&probe_request("rename")).error(500, "internal_error");
    }
    /// C283 under D3: a NaN in a result is refused (the reference answers 200).
    c283_non_finite_results_are_refused_d3: |s| {
        let e = s.post(&probe_request("nan")).error(500, "internal_error");
        assert_mentions(&e, "root_translations");
    }
}

/// C31: every `/capabilities` asks the backbone again, and a spec the
/// backbone changed (here through its state, on one instance) is the one
/// advertised. Requests are validated against the spec last advertised, not
/// by a call into the guest per request (README: deliberate differences).
#[test]
fn c031_capabilities_reflect_the_backbones_current_spec() {
    let s = Server::start_paths(&[component("probe")], &["--instances", "1"]);
    let model = |s: &Server| s.get("/capabilities").json()["models"][0].clone();
    let asked = |m: &Value| m["native_clip_seconds"].as_f64().unwrap();
    let (first, second) = (asked(&model(&s)), asked(&model(&s)));
    assert!(second > first, "not asked again: {first} then {second}");
    let seconds = |n: u32| {
        let mut r = probe_request("walk");
        r["segments"][0]["duration_frames"] = json!(n * 30);
        r
    };
    assert_eq!(model(&s)["limits"]["max_duration_seconds"], 30.0);
    let e = s.post(&seconds(40)).error(400, "invalid_options");
    assert_mentions(&e, "max_duration_seconds 30.0");
    ok(&s.post(&probe_request("limit 60")));
    // Not advertised yet: still judged by the 30 s the server last showed.
    s.post(&seconds(40)).error(400, "invalid_options");
    assert_eq!(model(&s)["limits"]["max_duration_seconds"], 60.0);
    ok(&s.post(&seconds(40)));
    ok(&s.post(&probe_request("limit 1")));
    assert_eq!(model(&s)["limits"]["max_duration_seconds"], 1.0);
    let e = s.post(&seconds(2)).error(400, "invalid_options");
    assert_mentions(&e, "max_duration_seconds 1.0");
}

checklist! { "probe-py";
    c280_a_non_motion_result_is_a_500: |s| {
        let mut body = probe_request("wrong type");
        body["model"] = json!("probe-py");
        let e = s.post(&body).error(500, "internal_error");
        assert_eq!(e["message"], "backbone.generate must return a MotionResult; got list");
    }
    /// C195 (probe-py retargets and takes motion references): a clip with a
    /// skeleton of its own is checked against that skeleton's root, `Root`,
    /// not the request skeleton's `Hips`.
    c195_a_clip_skeleton_brings_its_own_root: |s| {
        let clip_skeleton = json!({"joints": [
            {"name": "Root", "parent": null, "rest_translation": [0, 1, 0], "rest_rotation": [0, 0, 0, 1]},
            {"name": "Hips", "parent": "Root", "rest_translation": [0, 0, 0], "rest_rotation": [0, 0, 0, 1]},
        ]});
        let body = |names: &[&str]| {
            let mut seg = mref(2, names);
            seg["skeleton"] = clip_skeleton.clone();
            let mut body = probe_request("walk");
            body["model"] = json!("probe-py");
            body["segments"] = json!([seg]);
            body
        };
        let e = s.post(&body(&["Hips"])).error(400, "invalid_request");
        assert_eq!(e["details"], json!({"root_joint": "Root", "segment": 0}));
        assert_eq!(e["message"], "motion_reference must include the motion_reference skeleton's root joint 'Root'");
        ok(&s.post(&body(&["Root"])));
        ok(&s.post(&body(&["Root", "Hips"])));
    }
}

// ---- P. several models ----------------------------------------------------------------

fn two_models() -> Server {
    Server::start(&["null", "everything"])
}

#[test]
fn c286_the_global_cap_is_the_largest() {
    let s = two_models();
    let mut big = valid();
    big["segments"][0]["prompt"] = json!("w".repeat(1 << 20));
    let e = s.post(&big).error(413, "payload_too_large");
    assert_eq!(e["details"]["max_request_bytes"], 1048576);
}

#[test]
fn c287_a_models_own_smaller_cap() {
    let s = two_models();
    // `language` has no length limit, so only the byte cap can refuse it.
    let mut body = ev(json!({}));
    body["segments"][0]["language"] = json!("w".repeat(600 * 1024));
    let e = s.post(&body).error(413, "payload_too_large");
    assert_eq!(e["details"]["max_request_bytes"], 524288);
    assert!(e["details"]["request_bytes"].as_u64().unwrap() > 600 * 1024);
    // The same body passes the null model's larger cap.
    let mut null = valid();
    null["segments"][0]["language"] = json!("w".repeat(600 * 1024));
    ok(&s.post(&null));
}

#[test]
fn c288_the_model_cap_is_checked_after_validation() {
    let s = two_models();
    let mut body = ev(json!({}));
    body["segments"][0]["prompt"] = json!("w".repeat(600 * 1024));
    body["segments"][0]["duration_frames"] = json!(0);
    s.post(&body).error(422, "schema_validation");
}

#[test]
fn c289_the_batch_cap_is_the_smallest() {
    let s = two_models();
    let item = || {
        let mut v = valid();
        v.as_object_mut().unwrap().remove("protocol_version");
        v
    };
    let e = s
        .post(&json!({"protocol_version": "1.4", "requests": vec![item(); 4]}))
        .error(400, "invalid_options");
    assert_eq!(e["details"], json!({"max_batch_size": 3, "requests": 4}));
}

#[test]
fn c291_unknown_model_lists_every_id_sorted() {
    let s = Server::start(&["null", "everything", "async-probe"]);
    let e = s
        .post(&with(json!({"model": "nope"})))
        .error(400, "unknown_model");
    assert_eq!(
        e["details"]["available_models"],
        json!(["async-probe", "everything", "null"])
    );
}

// ---- Q. coercions: decisions.md D1 (strict types) ------------------------------------

checklist! { "null";
    /// [lenient] C293 under D1: integer fields take integers (and integral floats) only.
    c293_integer_coercions_are_refused_d1: |s| {
        ok(&s.post(&text(json!(3.0))));
        for v in [json!("3"), json!(" 3 "), json!("+3"), json!("3_000"), json!("3.0"), json!(true), json!(false)] {
            s.post(&text(v)).error(422, "schema_validation");
        }
    }
    c294_bad_integers_are_refused: |s| {
        for v in [json!("3.5"), json!("1e3"), json!("0x10"), json!(""), json!(3.5)] {
            s.post(&text(v)).error(422, "schema_validation");
        }
    }
    /// [lenient] C295 under D1: number fields take numbers only.
    c295_number_coercions_are_refused_d1: |s| {
        s.post(&skeleton(|j| j[0]["rest_translation"] = json!(["0", "0.95", "0"]))).error(422, "schema_validation");
        s.post(&skeleton(|j| j[0]["rest_translation"] = json!([false, 0.95, 0]))).error(422, "schema_validation");
    }
    c296_bad_numbers_are_refused: |s| {
        for v in [Value::Null, json!(""), json!("0x10")] {
            s.post(&skeleton(|j| j[0]["rest_translation"] = json!([v, 0.95, 0]))).error(422, "schema_validation");
        }
    }
    /// [quirk] C297: the string "nan" is not a number.
    c297_the_string_nan_is_refused: |s| {
        s.post(&with(json!({"timing": {"fps": "nan"}}))).error(422, "schema_validation");
    }
    /// [lenient] C298 under D1: booleans are JSON booleans only.
    c298_boolean_coercions_are_refused_d1: |s| {
        for v in [json!(0), json!(1.0), json!("off"), json!("yes"), json!("T")] {
            s.post(&options(json!({"loop": v}))).error(422, "schema_validation");
        }
    }
    c299_bad_booleans_are_refused: |s| {
        for v in [json!(2), json!(1.5), json!("maybe"), json!("")] {
            s.post(&options(json!({"post_processing": v}))).error(422, "schema_validation");
        }
    }
    c300_strings_are_never_numbers_or_booleans: |s| {
        for v in [json!(5), json!(true)] {
            let e = s.post(&with(json!({"model": v}))).error(422, "schema_validation");
            assert_eq!(schema_type(&e), "string_type");
        }
    }
    c301_tuples_need_arrays_of_the_right_length: |s| {
        let e = s.post(&skeleton(|j| j[0]["rest_rotation"] = json!({"x": 0, "y": 0, "z": 0, "w": 1}))).error(422, "schema_validation");
        assert_eq!(schema_type(&e), "tuple_type");
    }
    /// [lenient] C302 under D1: frames are integers, not strings.
    c302_string_frames_are_refused_d1: |s| {
        s.post(&constraint(json!({"type": "root_path", "frames": ["0"], "positions_xz": [[0, 0]]}))).error(422, "schema_validation");
    }
}

checklist! { "everything";
    c303_dial_values_are_never_coerced: |s| {
        // The reference's wording, "a integer" included.
        refused_dial(&s, "steps", json!("3"), "expected a integer, got str");
        refused_dial(&s, "mirror", json!("true"), "expected a boolean, got str");
        refused_dial(&s, "twist", json!("0.5"), "expected a number, got str");
    }
}

/// C285: `setup` runs for every model in registration order before the
/// server is ready (its port opens earlier, for the probes, but every MMCP
/// endpoint answers 503 until then, so no request reaches a model before),
/// and `teardown` at shutdown in the same order. Read from the server's
/// log: "model ready" follows each model's `setup`, "model torn down" its
/// `teardown` calls, and " ready addr=" is the server becoming ready.
#[test]
fn c285_setup_and_teardown_run_in_registration_order() {
    let order = ["probe", "null", "batch-probe"];
    let s = Server::start(&order);
    assert_eq!(s.post(&valid()).status, 200);
    let log = s.stderr_log.clone();
    assert!(s.terminate().success());
    let log = std::fs::read_to_string(log).unwrap();
    let position = |needle: &str| {
        log.find(needle)
            .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"))
    };
    let ready: Vec<usize> = order
        .iter()
        .map(|m| position(&format!("model ready model={m} ")))
        .collect();
    let down: Vec<usize> = order
        .iter()
        .map(|m| position(&format!("model torn down model={m} ")))
        .collect();
    assert!(ready.is_sorted(), "setup out of order:\n{log}");
    assert!(down.is_sorted(), "teardown out of order:\n{log}");
    assert!(ready[2] < position(" ready addr="));
    assert!(position(" ready addr=") < down[0]);
}

// ---- a backbone batch hook (C233-C235), next to the null model ---------------------

/// A batch item for `model` with a text prompt (the batch carries the version).
fn batch_item(model: &str, prompt: &str) -> Value {
    json!({
        "model": model,
        "skeleton": null_skeleton(),
        "segments": [{"type": "text", "prompt": prompt, "duration_frames": 3}],
    })
}

/// What made each item's motion, by the batch probe's notes; the item's
/// error code where it failed.
fn made_by(results: &Value) -> Vec<String> {
    results["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(
            |r| match r["gltf"]["extensions"]["MMCP_motion"]["notes"][0]["message"].as_str() {
                Some(note) => note.to_string(),
                None if r["gltf"].is_object() => "no note".to_string(),
                None => format!("error {}", r["error"]["code"].as_str().unwrap()),
            },
        )
        .collect()
}

checklist! { "batch-probe", "null";
    /// C233: the hook gets all valid items of its model in one call (2 of 3
    /// here; the third names the null model, which has no hook; an invalid
    /// item of the model is not passed on).
    c233_a_batch_hook_gets_its_models_items_in_one_call: |s| { c233(&s) }
    /// C234: the wrong number of results fails every item of the group, and
    /// only that group.
    c234_a_wrong_result_count_fails_the_group: |s| { c234(&s) }
    /// [quirk] C235: a hook that traps fails every item of its group with
    /// `internal_error` (the SHOULD; the reference answers a bare 500 for
    /// the whole batch); other groups and later requests are unaffected.
    c235_a_failing_hook_fails_its_group_only: |s| { c235(&s) }
    /// C153: a guidance type the model does not list is not gated (the
    /// batch probe lists only `nocfg`).
    c153_guidance_outside_the_models_types_still_passes: |s| {
        let caps = s.get("/capabilities").json();
        let probe = caps["models"].as_array().unwrap().iter().find(|m| m["id"] == "batch-probe").unwrap();
        assert_eq!(probe["supported_guidance_types"], json!(["nocfg"]));
        for guidance in [json!({"type": "regular", "weight": [2.0]}), json!({"type": "separated", "weight": [2.0, 1.0]})] {
            let mut body = batch_item("batch-probe", "walk");
            body["protocol_version"] = json!("1.4");
            body["options"] = json!({"guidance": guidance});
            assert_eq!(s.post(&body).status, 200, "{guidance}");
        }
    }
}

// C233-C235 again, through the Python SDK's `generate_batch` (an `async
// def` that returns exceptions for failed items, as the reference's does).
checklist! { "batch-probe-py", "null";
    c233_c235_the_python_sdks_batch_hook: |s| {
        c233(&s);
        c234(&s);
        c235(&s);
    }
}

// And through the JavaScript SDK's `exportBatch` (a module that exports
// `batch` is built for the world with the hook; a thrown Error fails the group).
checklist! { "batch-probe-js", "null";
    c233_c235_the_javascript_sdks_batch_hook: |s| {
        c233(&s);
        c234(&s);
        c235(&s);
    }
}

fn c233(s: &Server) {
    let mut invalid = batch_item("batch-probe", "walk");
    invalid["segments"][0]["duration_frames"] = json!(0);
    let body = json!({"protocol_version": "1.4", "requests": [
        batch_item("batch-probe", "walk"), batch_item("null", "walk"),
        invalid, batch_item("batch-probe", "run"),
    ]});
    let results = s.post(&body).json();
    assert_eq!(
        made_by(&results),
        [
            "item 0 of 2",
            "no note",
            "error schema_validation",
            "item 1 of 2"
        ]
    );
    // A single request still goes through `generate`.
    let mut single = batch_item("batch-probe", "walk");
    single["protocol_version"] = json!("1.4");
    let doc = s.post(&single).json();
    assert_eq!(
        doc["extensions"]["MMCP_motion"]["notes"][0]["message"],
        "generate"
    );
    // An error for one item stays with that item.
    let body = json!({"protocol_version": "1.4", "requests": [
        batch_item("batch-probe", "walk"), batch_item("batch-probe", "raise"),
    ]});
    assert_eq!(
        made_by(&s.post(&body).json()),
        ["item 0 of 2", "error invalid_options"]
    );
}

fn c234(s: &Server) {
    let body = json!({"protocol_version": "1.4", "requests": [
        batch_item("batch-probe", "no results"), batch_item("null", "walk"),
        batch_item("batch-probe", "walk"),
    ]});
    let results = s.post(&body).json();
    assert_eq!(
        made_by(&results),
        ["error internal_error", "no note", "error internal_error"]
    );
    for i in [0, 2] {
        assert_eq!(
            results["results"][i]["error"]["message"],
            "generate_batch returned 0 results for 2 requests"
        );
    }
}

fn c235(s: &Server) {
    let body = json!({"protocol_version": "1.4", "requests": [
        batch_item("batch-probe", "panic"), batch_item("batch-probe", "walk"),
        batch_item("null", "walk"),
    ]});
    let a = s.post(&body);
    assert_eq!(a.status, 200);
    let results = a.json();
    assert_eq!(
        made_by(&results),
        ["error internal_error", "error internal_error", "no note"]
    );
    assert_mentions(
        &results["results"][1]["error"],
        "the batch probe was asked to panic",
    );
    let body = json!({"protocol_version": "1.4", "requests": [batch_item("batch-probe", "walk")]});
    assert_eq!(made_by(&s.post(&body).json()), ["item 0 of 1"]);
}

// ---- trajectories (gltf-output.md §7): computed by the host ----------------
// Numeric parity with the reference is tested on recorded motions in
// host/src/trajectory/parity.rs; these lines drive the served path.

/// A legged rig for `walk-py` (which retargets to any skeleton): the hip
/// line gives the facing, the feet give the floor.
fn legged_skeleton() -> Value {
    let joint = |name: &str, parent: Value, t: [f64; 3]| json!({"name": name, "parent": parent, "rest_translation": t, "rest_rotation": [0, 0, 0, 1]});
    json!({"joints": [
        joint("Hips", Value::Null, [0.0, 0.95, 0.0]),
        joint("Spine", json!("Hips"), [0.0, 0.25, 0.0]),
        joint("Neck", json!("Spine"), [0.0, 0.3, 0.0]),
        joint("Head", json!("Neck"), [0.0, 0.15, 0.0]),
        joint("LeftUpLeg", json!("Hips"), [0.1, -0.05, 0.0]),
        joint("LeftLeg", json!("LeftUpLeg"), [0.0, -0.42, 0.0]),
        joint("LeftFoot", json!("LeftLeg"), [0.0, -0.42, 0.0]),
        joint("RightUpLeg", json!("Hips"), [-0.1, -0.05, 0.0]),
        joint("RightLeg", json!("RightUpLeg"), [0.0, -0.42, 0.0]),
        joint("RightFoot", json!("RightLeg"), [0.0, -0.42, 0.0]),
    ]})
}

/// A 60-frame walk-py request on the legged rig (straight ahead along +Z at
/// 1.2 m/s without constraints).
fn walk_py(constraints: Value) -> Value {
    json!({
        "protocol_version": "1.4",
        "model": "walk-py",
        "skeleton": legged_skeleton(),
        "segments": [{"type": "text", "prompt": "walk", "duration_frames": 60}],
        "constraints": constraints,
    })
}

fn trajectory_of(doc: &Value, sample: usize) -> &Value {
    &doc["extensions"]["MMCP_motion"]["samples"][sample]["trajectory"]
}

fn null_frames(frames: u32) -> Value {
    text(json!(frames))
}

checklist! { "walk-py";
    c271_computed_trajectories_have_every_key_and_a_value_per_frame: |s| {
        let doc = ok(&s.post(&walk_py(json!([]))));
        let t = trajectory_of(&doc, 0);
        let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["model", "loop", "params", "heading", "markers", "position", "yaw"]);
        assert_eq!(t["position"].as_array().unwrap().len(), 60);
        assert_eq!(t["yaw"].as_array().unwrap().len(), 60);
        assert!(t["position"].as_array().unwrap().iter().all(|p| p.as_array().unwrap().len() == 2));
        let markers: Vec<&str> = t["markers"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(markers, ["LeftFootDown", "RightFootDown"]);
    }
    c273_a_forward_walk_is_a_line_at_its_speed: |s| {
        let doc = ok(&s.post(&walk_py(json!([]))));
        let t = trajectory_of(&doc, 0);
        assert_eq!(t["model"], "line");
        assert_eq!(t["heading"], "fixed");
        let params = &t["params"];
        let keys: Vec<&str> = params.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["heading_deg", "off_cm", "speed", "speed_range"]);
        assert!(params["heading_deg"].as_f64().unwrap().abs() <= 0.5, "{params}");
        assert_eq!(params["speed"], 1.2);
        // the walk starts at the rest pose's root (x 0, z 0) and ends 59 frames on
        let last = &t["position"][59];
        assert!((last[1].as_f64().unwrap() - 1.2 * 59.0 / 30.0).abs() < 1e-3, "{last}");
        assert!(t["yaw"].as_array().unwrap().iter().all(|y| y == 0.0));
    }
    c274_travel_toward_plus_x_is_90_degrees_and_minus_x_is_minus_90: |s| {
        for (x, heading) in [(2.36, 90.0), (-2.36, -90.0)] {
            let path = json!([{"type": "root_path", "frames": [0, 59], "positions_xz": [[0, 0], [x, 0]]}]);
            let doc = ok(&s.post(&walk_py(path)));
            let t = trajectory_of(&doc, 0);
            assert_eq!(t["model"], "line");
            assert_eq!(t["params"]["heading_deg"], heading, "{t}");
            assert_eq!(t["params"]["speed"], 1.2);
        }
    }
    c275_hips_turning_one_radian_is_a_steady_heading: |s| {
        let turn = json!([{"type": "root_path", "frames": [0, 59], "positions_xz": [[0, 0], [0, 0]],
                           "heading_radians": [0.0, 1.0]}]);
        let doc = ok(&s.post(&walk_py(turn)));
        let t = trajectory_of(&doc, 0);
        assert_eq!(t["heading"], "steady", "{t}");
        assert_eq!(t["yaw"][59], 1.0);
        assert_eq!(t["yaw"][0], 0.0);
        // on the spot: the path stays put
        assert_eq!(t["model"], "still");
    }
}

checklist! { "null", "everything", "probe";
    /// C22 option (a): the host computes trajectories for every model,
    /// whatever the backbone claims (`probe` claims true, the others false).
    c022_every_model_advertises_trajectories: |s| {
        let caps = s.get("/capabilities").json();
        let models = caps["models"].as_array().unwrap();
        assert_eq!(models.len(), 3);
        for m in models {
            assert_eq!(m["supports_trajectory"], true, "{}", m["id"]);
        }
    }
    c272_trajectory_loop_is_the_requests_loop: |s| {
        for looped in [true, false] {
            let mut body = with(json!({"model": "everything", "options": {"loop": looped}}));
            body["segments"][0]["duration_frames"] = json!(30);
            let doc = ok(&s.post(&body));
            assert_eq!(trajectory_of(&doc, 0)["loop"], looped);
        }
        let doc = ok(&s.post(&null_frames(30)));
        assert_eq!(trajectory_of(&doc, 0)["loop"], false, "no options: not a loop");
    }
    c276_the_null_backbone_stands_still: |s| {
        for frames in [6, 30, 90] {
            let mut body = null_frames(frames);
            body["options"] = json!({"num_samples": 2});
            let doc = ok(&s.post(&body));
            for b in 0..2 {
                let t = trajectory_of(&doc, b);
                assert_eq!(t["model"], "still", "{frames} frames: {t}");
                assert_eq!(t["params"], json!({"off_cm": 0.0}));
                assert_eq!(t["heading"], "path");
                assert_eq!(t["position"].as_array().unwrap().len(), frames as usize);
                assert!(t["position"].as_array().unwrap().iter().all(|p| p == &json!([0.0, 0.0])), "{t}");
            }
        }
    }
    /// C277: a clip the analysis fails on (3 frames: under 0.15 s) is
    /// answered, with no `trajectory` on any sample.
    c277_a_failed_trajectory_does_not_fail_the_request: |s| {
        let mut body = null_frames(3);
        body["options"] = json!({"num_samples": 2});
        let doc = ok(&s.post(&body));
        for b in 0..2 {
            let sample = doc["extensions"]["MMCP_motion"]["samples"][b].as_object().unwrap();
            assert!(!sample.contains_key("trajectory"), "{sample:?}");
        }
    }
    /// [quirk] C278: matched, not just documented.
    c278_very_short_clips_as_the_reference: |s| {
        let has = |frames: u32| {
            let doc = ok(&s.post(&null_frames(frames)));
            doc["extensions"]["MMCP_motion"]["samples"][0].get("trajectory").cloned()
        };
        assert_eq!(has(1), None, "T = 1");
        let two = has(2).expect("T = 2");
        assert_eq!((&two["model"], &two["params"], &two["heading"]), (&json!("still"), &json!({}), &json!("path")));
        for frames in [3, 4, 5] {
            assert_eq!(has(frames), None, "T = {frames}: {} s", (frames - 1) as f64 / 30.0);
        }
        assert_eq!(has(6).expect("T = 6: 0.167 s")["model"], "still");
    }
}
