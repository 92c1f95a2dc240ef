//! NVIDIA's Kimodo as a component (issue #16, in progress): served from a
//! reduced-size checkpoint folder in the published layout, written with
//! random weights by the NumPy reference's `kimodo.weights` (the same
//! names, shapes of every non-width dimension, config.yaml and stats files
//! as NVIDIA's folder). Numerical agreement with the NumPy reference is
//! checked by hand so far (see the README's "Serving Kimodo"); these tests
//! pin down what a client sees.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::*;

/// A width-64, one-layer, two-head checkpoint folder.
fn checkpoint(tag: &str) -> tempdir::Dir {
    let dir = tempdir::Dir::new(tag);
    let out = Command::new(venv_python())
        .args(["-m", "kimodo.weights"])
        .arg(&dir.0)
        .args([
            "--width", "64", "--layers", "1", "--heads", "2", "--seed", "3",
        ])
        .current_dir(repo_root().join("tests/python"))
        .output()
        .expect("running kimodo.weights");
    assert!(
        out.status.success(),
        "kimodo.weights failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn serve(weights: &Path) -> Server {
    Server::start_paths(
        &[component("kimodo")],
        &["--weights", weights.to_str().unwrap()],
    )
}

fn request(s: &Server, seed: u64) -> Value {
    let caps = s.get("/capabilities").json();
    json!({
        "protocol_version": "1.4",
        "model": "kimodo-soma-rp",
        "skeleton": caps["models"][0]["canonical_skeleton"],
        "segments": [{"type": "text", "prompt": "walk forward", "duration_frames": 24}],
        "options": {"seed": seed, "diffusion_steps": 4, "num_samples": 2},
    })
}

#[test]
fn kimodo_serves_a_checkpoint_folder_and_a_seed_means_a_motion() {
    let weights = checkpoint("kimodo");
    let s = serve(&weights.0);
    let caps = s.get("/capabilities").json();
    let model = &caps["models"][0];
    assert_eq!(model["id"], "kimodo-soma-rp");
    assert_eq!(model["fps"], 30.0);
    assert_eq!(
        model["canonical_skeleton"]["joints"]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    assert_eq!(
        model["predicted_contact_joints"],
        json!(["LeftFoot", "LeftToeBase", "RightFoot", "RightToeBase"])
    );

    let first = s.post(&request(&s, 7));
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let doc = first.json();
    assert_eq!(doc["extensions"]["MMCP_motion"]["model"], "kimodo-soma-rp");
    // Two samples, each an animation of the 30 joints.
    assert_eq!(doc["animations"].as_array().unwrap().len(), 2);
    // The same request and seed: the same bytes; another seed: another motion.
    assert_eq!(s.post(&request(&s, 7)).body, first.body);
    assert_ne!(s.post(&request(&s, 8)).body, first.body);

    // Refusals as motionmcp-kimodo's: Kimodo runs at 30 fps only.
    let mut at_24 = request(&s, 7);
    at_24["timing"] = json!({"fps": 24});
    s.post(&at_24).error(400, "invalid_options");
}

#[test]
fn kimodo_without_a_stats_file_answers_model_unavailable_naming_it() {
    let weights = checkpoint("kimodo-nostats");
    std::fs::remove_file(weights.0.join("stats/motion/body/std.npy")).unwrap();
    let s = serve(&weights.0);
    let error = s.post(&request(&s, 1)).error(503, "model_unavailable");
    assert_mentions(&error, "stats/motion/body/std.npy");
}
