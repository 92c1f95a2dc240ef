//! Models on the GPU tensor API, through the real binary over HTTP: the
//! demo denoiser (a transformer stack sampling with DDIM and guidance on
//! weights a test writes), and the tensor probe (typed errors, quotas,
//! numbers computed in the guest).

mod support;

use motionmcp_gpu::reference as cpu;
use motionmcp_gpu::reference::Array;
use motionmcp_gpu::UnaryOp;
use serde_json::{json, Value};
use support::denoiser_weights::{write_weights, Dtype};
use support::tempdir::Dir;
use support::{component, host_binary, null_skeleton, shared_cache, Server};

fn denoiser_request(prompt: &str, seed: i64, guidance: Value) -> Value {
    let mut options = json!({"seed": seed, "diffusion_steps": 6});
    if !guidance.is_null() {
        options["guidance"] = guidance;
    }
    json!({
        "protocol_version": "1.4",
        "model": "tiny-denoiser",
        "skeleton": null_skeleton(),
        "segments": [{"type": "text", "prompt": prompt, "duration_frames": 45}],
        "options": options,
    })
}

fn serve_denoiser(weights: &Dir) -> Server {
    let dir = weights.0.to_str().unwrap();
    Server::start_paths(
        &[component("denoiser")],
        &["--weights", dir, "--timeout", "300"],
    )
}

#[test]
fn the_denoiser_generates_motion_on_the_gpu() {
    let weights = Dir::new("weights");
    write_weights(&weights.0, 1, Dtype::F32);
    let server = serve_denoiser(&weights);

    let first = server.post(&denoiser_request("a person walks forward", 7, Value::Null));
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let doc = first.json();
    let floats = support::buffer_floats(&doc);
    assert!(floats.iter().all(|v| v.is_finite()));
    // Rotations: 45 frames x 5 joints of unit quaternions, not all identity.
    let rotations = support::accessor_floats(&doc, rotation_accessor(&doc, 1));
    assert_eq!(rotations.len(), 45 * 4);
    assert!(rotations
        .chunks(4)
        .all(|q| (q.iter().map(|c| c * c).sum::<f32>() - 1.0).abs() < 1e-4));
    assert!(
        rotations.chunks(4).any(|q| q[3] < 0.9999),
        "the network moved the spine"
    );

    // Seeded: the same request gives the same bytes, another seed or prompt does not.
    let again = server.post(&denoiser_request("a person walks forward", 7, Value::Null));
    assert_eq!(again.body, first.body);
    let other = server.post(&denoiser_request("a person walks forward", 8, Value::Null));
    assert_eq!(other.status, 200);
    assert_ne!(other.body, first.body);
    let prompt = server.post(&denoiser_request("a person jumps", 7, Value::Null));
    assert_ne!(prompt.body, first.body);

    // Every guidance mode runs (batch 1, 2 and 3 through the network).
    for guidance in [
        json!({"type": "nocfg"}),
        json!({"type": "regular", "weight": [3.0]}),
        json!({"type": "separated", "weight": [2.0, 1.0]}),
    ] {
        let answer = server.post(&denoiser_request("wave", 3, guidance.clone()));
        assert_eq!(
            answer.status,
            200,
            "{guidance}: {}",
            String::from_utf8_lossy(&answer.body)
        );
    }

    let health = server.get("/health").json();
    assert!(
        health["gpu"]["adapter"]
            .as_str()
            .is_some_and(|a| !a.is_empty()),
        "{health}"
    );
    let memory = &health["gpu"]["memory"]["tiny-denoiser"];
    assert!(memory["used_bytes"].as_u64().unwrap() > 0, "{health}");
    assert_eq!(memory["limit_bytes"], 4096u64 << 20);
}

#[test]
fn the_denoiser_runs_on_half_precision_weights() {
    // The same seeded network stored three ways; each served on its own.
    let run = |floats: Dtype| {
        let weights = Dir::new("half-weights");
        write_weights(&weights.0, 1, floats);
        let server = serve_denoiser(&weights);
        let health = server.get("/health").json();
        let used = health["gpu"]["memory"]["tiny-denoiser"]["used_bytes"]
            .as_u64()
            .unwrap();
        let answer = server.post(&denoiser_request(
            "a person walks forward",
            7,
            json!({"type": "regular", "weight": [2.0]}),
        ));
        assert_eq!(
            answer.status,
            200,
            "{floats:?}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        (used, support::buffer_floats(&answer.json()))
    };
    let (full_bytes, full) = run(Dtype::F32);
    for floats in [Dtype::F16, Dtype::BF16] {
        let (bytes, motion) = run(floats);
        // The linear layers' weights (70 % of the f32 bytes) stay at half
        // size on the GPU; the norms and the text table are cast to f32 by
        // the model at setup, next to their cached half originals.
        assert!(
            bytes < full_bytes * 4 / 5,
            "{floats:?}: {bytes} bytes vs {full_bytes} in f32"
        );
        assert_eq!(motion.len(), full.len());
        assert_ne!(
            motion, full,
            "{floats:?} weights change the numbers a little"
        );
        let worst = motion
            .iter()
            .zip(&full)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 0.05, "{floats:?}: worst difference {worst}");
    }
}

/// The accessor of joint `joint`'s rotation channel.
fn rotation_accessor(doc: &Value, joint: usize) -> usize {
    let node = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .position(|n| n["name"] == ["Hips", "Spine", "Head", "LeftFoot", "RightFoot"][joint])
        .unwrap();
    let anim = &doc["animations"][0];
    let channel = anim["channels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["target"]["node"] == node && c["target"]["path"] == "rotation")
        .unwrap();
    anim["samplers"][channel["sampler"].as_u64().unwrap() as usize]["output"]
        .as_u64()
        .unwrap() as usize
}

#[test]
fn without_its_weights_the_denoiser_does_not_start() {
    let stderr = support::refused(&[component("denoiser")]);
    assert!(
        stderr.contains("no weights directory was granted"),
        "{stderr}"
    );
    let empty = Dir::new("no-weights");
    let out = std::process::Command::new(support::host_binary())
        .args(["serve", "--addr", "127.0.0.1:0", "--weights"])
        .arg(&empty.0)
        .arg(component("denoiser"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("denoiser.safetensors"));
}

fn probe(prompt: &str) -> Value {
    json!({
        "protocol_version": "1.4",
        "model": "tensor-probe",
        "skeleton": {"joints": [{"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]}]},
        "segments": [{"type": "text", "prompt": prompt, "duration_frames": 3}],
    })
}

#[test]
fn tensor_misuse_reaches_the_guest_as_typed_errors() {
    let weights = Dir::new("probe-weights");
    let server = Server::start_paths(
        &[component("tensor-probe")],
        &["--weights", weights.0.to_str().unwrap()],
    );
    for (case, kind) in [
        ("shape", "TensorError::Shape("),
        ("broadcast", "TensorError::Shape("),
        ("dtype", "TensorError::Dtype("),
        ("argument", "TensorError::InvalidArgument("),
        ("count", "TensorError::Shape("),
        ("missing", "TensorError::NotFound("),
        ("escape", "TensorError::NotFound("),
    ] {
        let answer = server.post(&probe(case));
        let error = answer.error(400, "invalid_request");
        let message = error["message"].as_str().unwrap();
        assert!(message.starts_with(kind), "{case}: {message}");
    }
    // Nothing above broke the instance.
    assert_eq!(server.post(&probe("rest")).status, 200);
}

#[test]
fn numbers_computed_in_the_guest_match_the_reference() {
    let server = Server::start(&["tensor-probe"]);
    let answer = server.post(&probe("values"));
    let error = answer.error(400, "invalid_request");
    let got: Vec<f32> = error["details"]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let a = Array::new(cpu::randn(21, 1), &[3, 7]);
    let b = Array::new(cpu::randn(35, 2), &[7, 5]);
    let want = cpu::softmax(&cpu::unary(&cpu::matmul(&a, &b), UnaryOp::Gelu));
    assert_eq!(got.len(), want.data.len());
    for (g, w) in got.iter().zip(&want.data) {
        assert!((g - w).abs() <= 1e-4 * w.abs() + 1e-5, "{g} vs {w}");
    }
}

#[test]
fn past_the_gpu_quota_a_request_is_503_and_the_model_serves_on() {
    let server = Server::start_paths(&[component("tensor-probe")], &["--gpu-memory-mb", "64"]);
    let answer = server.post(&probe("oom"));
    let error = answer.error(503, "resource_exhausted");
    support::assert_mentions(&error, "GPU memory quota");
    // Unwrapped in the guest: a trap, still reported as the quota.
    let answer = server.post(&probe("oom-panic"));
    let error = answer.error(503, "resource_exhausted");
    assert_eq!(error["details"]["gpu_memory_limit_bytes"], 64u64 << 20);
    assert_eq!(server.post(&probe("rest")).status, 200);
    let health = server.get("/health").json();
    assert_eq!(
        health["gpu"]["memory"]["tensor-probe"]["limit_bytes"],
        64u64 << 20
    );
}

#[test]
fn the_denoiser_reports_every_step_of_every_sample() {
    let weights = Dir::new("weights-progress");
    write_weights(&weights.0, 3, Dtype::F32);
    let mut request = denoiser_request("walk", 5, Value::Null);
    request["options"]["num_samples"] = json!(2);
    let file = weights.0.join("request.json");
    std::fs::write(&file, request.to_string()).unwrap();
    let out = std::process::Command::new(host_binary())
        .args(["generate", component("denoiser").to_str().unwrap()])
        .args(["--weights", weights.0.to_str().unwrap()])
        .args([
            "--request",
            file.to_str().unwrap(),
            "-o",
            "-",
            "--cache-dir",
        ])
        .arg(shared_cache())
        .env("WGPU_BACKEND", "vulkan")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["animations"].as_array().unwrap().len(), 2);
    // 6 diffusion steps for each of the 2 samples: the bar ends at 12 of 12.
    let last = stderr.lines().rfind(|l| l.starts_with("progress "));
    assert_eq!(last, Some("progress 12/12"), "{stderr}");
}
