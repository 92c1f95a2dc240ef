//! NVIDIA's Kimodo as a component (issue #16): served from reduced-size
//! checkpoint folders in the published layout, written with random weights
//! by the NumPy reference's `kimodo.weights` (the same names, shapes of
//! every non-width dimension, config.yaml and stats files as NVIDIA's
//! folder), and compared over HTTP with the NumPy second implementation
//! (`tests/python/kimodo`, written from the fact sheet) given the same
//! initial noise.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};
use support::*;

/// A width-64, one-layer, two-head checkpoint folder.
fn checkpoint(tag: &str) -> tempdir::Dir {
    checkpoint_with(tag, &["--width", "64", "--layers", "1", "--heads", "2"])
}

/// A checkpoint folder written by `kimodo.weights` with `args`.
fn checkpoint_with(tag: &str, args: &[&str]) -> tempdir::Dir {
    let dir = tempdir::Dir::new(tag);
    python(
        numpy_reference()
            .args(["-m", "kimodo.weights"])
            .arg(&dir.0)
            .args(args)
            .args(["--seed", "3"]),
    );
    dir
}

/// The reference venv's Python under a deadline (each run takes seconds).
fn numpy_reference() -> Command {
    let mut cmd = Command::new("timeout");
    cmd.arg("300").arg(venv_python());
    cmd
}

/// Runs a `tests/python` module, which must succeed.
fn python(cmd: &mut Command) {
    let out = cmd
        .current_dir(repo_root().join("tests/python"))
        .output()
        .expect("running the NumPy reference");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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

    // An async model: the request is a job, its polls carry the progress
    // of the DDIM steps (4 steps of one segment).
    assert_eq!(model["supports_async"], true);
    let accepted = s.post(&request(&s, 7));
    assert_eq!(
        accepted.status,
        202,
        "{}",
        String::from_utf8_lossy(&accepted.body)
    );
    let location = accepted.header("location").expect("Location").to_owned();
    let mut done = 0;
    let deadline = std::time::Instant::now() + SLOW;
    let first = loop {
        let poll = s.get(&location);
        if poll.status != 202 {
            break poll;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never finished"
        );
        if let Some(p) = poll.json().get("progress") {
            assert_eq!(p["total"], 4, "{p}");
            let now = p["done"].as_u64().unwrap();
            assert!(done <= now && now <= 4, "progress went {done} -> {now}");
            done = now;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let doc = first.ok();
    assert_eq!(doc["extensions"]["MMCP_motion"]["model"], "kimodo-soma-rp");
    // Two samples, each an animation of the 30 joints.
    assert_eq!(doc["animations"].as_array().unwrap().len(), 2);
    // The same request and seed: the same bytes; another seed: another motion.
    assert_eq!(s.generate(&request(&s, 7), SLOW).body, first.body);
    assert_ne!(s.generate(&request(&s, 8), SLOW).body, first.body);

    // Refusals as motionmcp-kimodo's: Kimodo runs at 30 fps only.
    let mut at_24 = request(&s, 7);
    at_24["timing"] = json!({"fps": 24});
    s.generate(&at_24, SLOW).error(400, "invalid_options");
    // Effectors only on the hand and foot chains (the model's own refusal:
    // Head is a skeleton joint, so the host lets it through).
    let mut head = request(&s, 7);
    head["constraints"] = json!([{"type": "effector_target", "joint": "Head",
        "frames": [3], "positions": [[0.0, 1.7, 0.2]]}]);
    let error = s.generate(&head, SLOW).error(400, "unknown_joint");
    assert_mentions(&error, "Head");
    assert_eq!(
        error["details"]["constrainable_joints"][0], "LeftHand",
        "{error}"
    );
    // ground_height is not one of Kimodo's constraints.
    assert_eq!(
        model["supported_constraints"],
        json!(["root_path", "effector_target", "pose_keyframe"])
    );
    let mut ground = request(&s, 7);
    ground["constraints"] = json!([{"type": "ground_height", "points": [[0.0, 0.0, 0.0]]}]);
    s.generate(&ground, SLOW)
        .error(400, "unsupported_constraint");
    // A frame past the clip.
    let mut late = request(&s, 7);
    late["constraints"] = json!([{"type": "pose_keyframe", "frame": 24,
        "joint_rotations": {"LeftArm": [0.0, 0.0, 0.0, 1.0]}}]);
    s.generate(&late, SLOW).error(400, "frame_out_of_range");
}

#[test]
fn kimodo_without_a_stats_file_answers_model_unavailable_naming_it() {
    let weights = checkpoint("kimodo-nostats");
    std::fs::remove_file(weights.0.join("stats/motion/body/std.npy")).unwrap();
    let s = serve(&weights.0);
    let error = s
        .generate(&request(&s, 1), SLOW)
        .error(503, "model_unavailable");
    assert_mentions(&error, "stats/motion/body/std.npy");
}

// ---- Agreement with the NumPy reference ------------------------------------
//
// The host's answer is compared with the reference evaluated in float64
// (`kimodo.run --float64`: the float32 model, whose checkpoint, schedule
// and sinusoid table are float32 by definition, evaluated with float64
// arithmetic): two float32 implementations that sum in different orders
// land on either side of that answer, so neither is the other's truth. The
// float32 reference's own distance is printed next to the host's.
//
// Rotations are compared as the features they were decoded from. With
// random weights a joint's two 6D columns are nearly parallel in places,
// and there decoding turns one float32 rounding of the features into a
// 1e-3 change of a quaternion, for the float32 reference as much as for the
// host; each quaternion difference is divided by the decoding gain of its
// frame and joint (`decoding_gain`), which gives the smallest error of the
// normalised features the network predicts that explains the difference.
// The raw largest difference is printed too.

/// Tolerance, as issue #16 states it: 1e-4 relative, for the rotations on
/// the normalised features (whose scale is 1) and for the root translations
/// relative to the largest |root| coordinate.
const TOLERANCE: f64 = 1e-4;

/// How long one generation may take: the comparison's about 20 s each on
/// an idle 2-core lavapipe, several times that while other tests share the
/// cores. (Kimodo is an async model: each request is a job, polled.)
const SLOW: std::time::Duration = std::time::Duration::from_secs(500);

/// Where a contact feature is this close to Kimodo's 0.5 threshold the two
/// answers may fall on different sides of it.
const CONTACT_MARGIN: f64 = 1e-3;

/// One sample of a motion: rotations [T][30][4] (x, y, z, w, local),
/// root translations [T][3], the four contact channels [4][T].
struct Sample {
    rotations: Vec<f64>,
    roots: Vec<f64>,
    contacts: Vec<Vec<bool>>,
}

const CONTACT_JOINTS: [&str; 4] = ["LeftFoot", "LeftToeBase", "RightFoot", "RightToeBase"];

/// The samples of a host answer (a glTF document), joints in `joints`' order.
fn host_samples(doc: &Value, joints: &[String]) -> Vec<Sample> {
    let names: Vec<&str> = doc["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["name"].as_str().unwrap_or(""))
        .collect();
    let motion = &doc["extensions"]["MMCP_motion"]["samples"];
    let mut out = Vec::new();
    for (i, anim) in doc["animations"].as_array().unwrap().iter().enumerate() {
        let mut rotations = std::collections::HashMap::new();
        let mut roots = Vec::new();
        for ch in anim["channels"].as_array().unwrap() {
            let sampler = &anim["samplers"][ch["sampler"].as_u64().unwrap() as usize];
            let values = accessor_floats(doc, sampler["output"].as_u64().unwrap() as usize);
            let node = names[ch["target"]["node"].as_u64().unwrap() as usize];
            match ch["target"]["path"].as_str().unwrap() {
                "rotation" => {
                    rotations.insert(node, values);
                }
                "translation" => roots = values,
                other => panic!("unexpected channel path {other}"),
            }
        }
        let frames = roots.len() / 3;
        // A joint without a channel keeps its identity rest rotation.
        let identity: Vec<f32> = [0.0, 0.0, 0.0, 1.0].repeat(frames);
        let mut flat = Vec::with_capacity(frames * joints.len() * 4);
        for t in 0..frames {
            for j in joints {
                let q = rotations.get(j.as_str()).unwrap_or(&identity);
                flat.extend(q[t * 4..t * 4 + 4].iter().map(|&v| v as f64));
            }
        }
        let contacts = CONTACT_JOINTS
            .iter()
            .map(|j| {
                motion[i]["foot_contacts"][j]
                    .as_array()
                    .unwrap_or_else(|| panic!("no {j} contacts in sample {i}"))
                    .iter()
                    .map(|b| b.as_bool().unwrap())
                    .collect()
            })
            .collect();
        out.push(Sample {
            rotations: flat,
            roots: roots.iter().map(|&v| v as f64).collect(),
            contacts,
        });
    }
    out
}

/// The samples of a reference answer (`kimodo.run --out`), and its
/// un-normalised features [B][T][369].
fn reference_samples(answer: &Value) -> (Vec<Sample>, Vec<Vec<Vec<f64>>>) {
    let floats = |v: &Value| -> Vec<f64> {
        let mut out = Vec::new();
        let mut stack = vec![v];
        // Depth-first, in order: nested lists flatten row-major.
        while let Some(v) = stack.pop() {
            match v {
                Value::Array(a) => stack.extend(a.iter().rev()),
                other => out.push(other.as_f64().unwrap()),
            }
        }
        out
    };
    let samples = answer["samples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| Sample {
            rotations: floats(&s["rotations"]),
            roots: floats(&s["root_translations"]),
            contacts: CONTACT_JOINTS
                .iter()
                .map(|j| {
                    s["foot_contacts"][j]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| b.as_bool().unwrap())
                        .collect()
                })
                .collect(),
        })
        .collect();
    let features = answer["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sample| sample.as_array().unwrap().iter().map(floats).collect())
        .collect();
    (samples, features)
}

/// The normalisation scale of the body features, sqrt(std² + 1e-5)
/// (§1.4), from the folder's `stats/motion/body/std.npy` (float32, as
/// `kimodo.weights` writes it): feature 5 + i has scale[i].
fn body_scale(weights: &Path) -> Vec<f64> {
    let bytes = std::fs::read(weights.join("stats/motion/body/std.npy")).unwrap();
    assert!(bytes.starts_with(b"\x93NUMPY\x01\x00"), "a version 1 .npy");
    let header = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let dict = String::from_utf8_lossy(&bytes[10..10 + header]).to_string();
    assert!(
        dict.contains("'<f4'") && dict.contains("'fortran_order': False"),
        "{dict}"
    );
    let scale: Vec<f64> = bytes[10 + header..]
        .chunks_exact(4)
        .map(|c| {
            let std = f32::from_le_bytes(c.try_into().unwrap()) as f64;
            (std * std + 1e-5).sqrt()
        })
        .collect();
    assert_eq!(scale.len(), 364, "body stats");
    scale
}

type Mat = [[f64; 3]; 3];

/// 6D features (a, b) -> rotation matrix (§2.7): columns x = a/|a|,
/// z = x × b/|x × b|, y = z × x.
fn rotation_6d(d: &[f64]) -> Mat {
    let unit = |v: [f64; 3]| {
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        v.map(|c| c / n)
    };
    let cross = |u: [f64; 3], v: [f64; 3]| {
        [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ]
    };
    let x = unit([d[0], d[1], d[2]]);
    let z = unit(cross(x, [d[3], d[4], d[5]]));
    let y = cross(z, x);
    std::array::from_fn(|r| [x[r], y[r], z[r]])
}

/// A rotation matrix's quaternion (x, y, z, w), with w ≥ 0.
fn quaternion(m: &Mat) -> [f64; 4] {
    let t = m[0][0] + m[1][1] + m[2][2];
    let q = if t > 0.0 {
        let s = 2.0 * (1.0 + t).sqrt();
        [
            (m[2][1] - m[1][2]) / s,
            (m[0][2] - m[2][0]) / s,
            (m[1][0] - m[0][1]) / s,
            s / 4.0,
        ]
    } else if m[0][0] > m[1][1] && m[0][0] > m[2][2] {
        let s = 2.0 * (1.0 + m[0][0] - m[1][1] - m[2][2]).sqrt();
        [
            s / 4.0,
            (m[0][1] + m[1][0]) / s,
            (m[0][2] + m[2][0]) / s,
            (m[2][1] - m[1][2]) / s,
        ]
    } else if m[1][1] > m[2][2] {
        let s = 2.0 * (1.0 + m[1][1] - m[0][0] - m[2][2]).sqrt();
        [
            (m[0][1] + m[1][0]) / s,
            s / 4.0,
            (m[1][2] + m[2][1]) / s,
            (m[0][2] - m[2][0]) / s,
        ]
    } else {
        let s = 2.0 * (1.0 + m[2][2] - m[0][0] - m[1][1]).sqrt();
        [
            (m[0][2] + m[2][0]) / s,
            (m[1][2] + m[2][1]) / s,
            s / 4.0,
            (m[1][0] - m[0][1]) / s,
        ]
    };
    if q[3] < 0.0 {
        q.map(|c| -c)
    } else {
        q
    }
}

/// A joint's local quaternion from its 6D features and its parent's:
/// R_parent^T R_joint.
fn local_quaternion(own: &[f64], parent: Option<&[f64]>) -> [f64; 4] {
    let r = rotation_6d(own);
    let local = match parent {
        None => r,
        Some(p) => {
            let rp = rotation_6d(p);
            std::array::from_fn(|i| {
                std::array::from_fn(|j| (0..3).map(|k| rp[k][i] * r[k][j]).sum())
            })
        }
    };
    quaternion(&local)
}

/// How much decoding magnifies an error of the normalised features the
/// network predicts, per frame and joint [T][30]: the sum, over the 12
/// features a local rotation depends on (its joint's 6D and its parent's),
/// of the largest change of a quaternion component per unit of that
/// feature, by finite differences on the exact features. A feature error
/// of at most ε then moves a quaternion component by at most gain·ε, so
/// |dq| / gain is the smallest feature error that explains a difference.
///
/// Random weights put a joint's 6D columns nearly parallel in places, and
/// there one float32 rounding moves a quaternion by 1e-3.
fn decoding_gain(features: &[Vec<f64>], parents: &[Option<usize>], scale: &[f64]) -> Vec<Vec<f64>> {
    features
        .iter()
        .map(|row| {
            (0..parents.len())
                .map(|j| joint_gain(row, j, parents[j], scale))
                .collect()
        })
        .collect()
}

/// `decoding_gain` of joint `j` in one frame's features `row`.
fn joint_gain(row: &[f64], j: usize, parent: Option<usize>, scale: &[f64]) -> f64 {
    const H: f64 = 1e-6;
    let own = 95 + 6 * j;
    let parent = parent.map(|p| 95 + 6 * p);
    let q = |r: &[f64]| local_quaternion(&r[own..own + 6], parent.map(|p| &r[p..p + 6]));
    let base = q(row);
    let inputs = (own..own + 6).chain(parent.into_iter().flat_map(|p| p..p + 6));
    let gain: f64 = inputs
        .map(|i| {
            let mut moved = row.to_vec();
            moved[i] += H * scale[i - 5];
            let m = q(&moved);
            // q and -q are the same rotation: compare like with like.
            let dot: f64 = (0..4).map(|c| m[c] * base[c]).sum();
            let sign = if dot < 0.0 { -1.0 } else { 1.0 };
            (0..4).fold(0.0f64, |g, c| g.max((sign * m[c] - base[c]).abs() / H))
        })
        .sum();
    assert!(gain.is_finite() && gain > 0.0, "decoding gain {gain}");
    gain
}

/// Differences of `a` from the exact answer `b`.
struct Distance {
    /// Largest |dq| of a quaternion component, as decoded.
    rotation: f64,
    /// Largest |dq| divided by the decoding gain of its frame and joint: the
    /// smallest error of the normalised features the rotations were decoded
    /// from that explains it.
    rotation_features: f64,
    /// Largest |d root| relative to b's largest |root| coordinate.
    root: f64,
    /// Contact flags that differ where b's feature is not within
    /// CONTACT_MARGIN of Kimodo's 0.5 threshold.
    contact_flips: usize,
}

fn distance(
    a: &[Sample],
    b: &[Sample],
    features: &[Vec<Vec<f64>>],
    parents: &[Option<usize>],
    scale: &[f64],
) -> Distance {
    assert_eq!(a.len(), b.len(), "sample counts differ");
    let joints = parents.len();
    let mut d = Distance {
        rotation: 0.0,
        rotation_features: 0.0,
        root: 0.0,
        contact_flips: 0,
    };
    for ((x, y), f) in a.iter().zip(b).zip(features) {
        assert_eq!(x.rotations.len(), y.rotations.len(), "frame counts differ");
        let gain = decoding_gain(f, parents, scale);
        for (i, (p, q)) in x.rotations.iter().zip(&y.rotations).enumerate() {
            let (t, j) = (i / 4 / joints, i / 4 % joints);
            d.rotation = d.rotation.max((p - q).abs());
            d.rotation_features = d.rotation_features.max((p - q).abs() / gain[t][j]);
        }
        let scale = y.roots.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-3);
        for (p, q) in x.roots.iter().zip(&y.roots) {
            d.root = d.root.max((p - q).abs() / scale);
        }
        for (c, (fx, fy)) in x.contacts.iter().zip(&y.contacts).enumerate() {
            for (t, (p, q)) in fx.iter().zip(fy).enumerate() {
                if p != q && (f[t][365 + c] - 0.5).abs() > CONTACT_MARGIN {
                    d.contact_flips += 1;
                }
            }
        }
    }
    d
}

/// A float32 array as a NumPy `.npy` file (version 1.0, C order).
fn write_npy(path: &Path, values: &[f32], shape: &[usize]) {
    let dims: Vec<String> = shape.iter().map(|d| format!("{d}, ")).collect();
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
        dims.concat().trim_end_matches(' ')
    );
    // Magic (6) + version (2) + length (2) + header, padded to 64 bytes with
    // a final newline, as the format asks.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    for v in values {
        bytes.extend(v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

/// The initial noise of each segment as the component draws it (README,
/// "Seeds"): `randn([B, frames (+ transition_frames after the first), 369],
/// seed + i)` of the tensor API, from its CPU reference.
fn segment_noises(request: &Value, dir: &Path) -> String {
    let samples = request["options"]["num_samples"].as_u64().unwrap_or(1) as usize;
    let seed = request["options"]["seed"].as_u64().unwrap();
    let transition = request["options"]["transition_frames"]
        .as_u64()
        .unwrap_or(5) as usize;
    let mut files = Vec::new();
    for (i, segment) in request["segments"].as_array().unwrap().iter().enumerate() {
        let frames = segment["duration_frames"].as_u64().unwrap() as usize;
        let length = frames + if i > 0 { transition } else { 0 };
        let shape = [samples, length, 369];
        let noise =
            motionmcp_gpu::reference::randn(shape.iter().product(), seed.wrapping_add(i as u64));
        let path = dir.join(format!("noise_{i}.npy"));
        write_npy(&path, &noise, &shape);
        files.push(path.to_str().unwrap().to_owned());
    }
    files.join(",")
}

/// The reference's answer to `request` (float64 arithmetic or float32).
fn reference(weights: &Path, request: &Value, float64: bool) -> Value {
    let dir = tempdir::Dir::new("kimodo-ref");
    let request_file = dir.0.join("request.json");
    std::fs::write(&request_file, request.to_string()).unwrap();
    let out = dir.0.join("answer.json");
    let mut cmd = numpy_reference();
    cmd.args(["-m", "kimodo.run", "--weights"])
        .arg(weights)
        .arg("--request")
        .arg(&request_file)
        .args(["--noise", &segment_noises(request, &dir.0)])
        .arg("--out")
        .arg(&out);
    if float64 {
        cmd.arg("--float64");
    }
    python(&mut cmd);
    serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap()
}

/// A request for the comparison checkpoint (T = 40 unless segments say).
fn comparison_request(caps: &Value, options: Value, extra: Value) -> Value {
    let mut r = json!({
        "protocol_version": "1.4",
        "model": "kimodo-soma-rp",
        "skeleton": caps["models"][0]["canonical_skeleton"],
        "segments": [{"type": "text", "prompt": "walk forward", "duration_frames": 40}],
        "options": options,
    });
    for (k, v) in extra.as_object().unwrap() {
        r[k] = v.clone();
    }
    r
}

#[test]
fn kimodo_matches_the_numpy_reference_given_the_same_noise() {
    let weights = checkpoint_with(
        "kimodo-compare",
        &["--width", "128", "--layers", "2", "--heads", "2"],
    );
    let s = Server::start_paths(
        &[component("kimodo")],
        &["--weights", weights.0.to_str().unwrap(), "--timeout", "600"],
    );
    let caps = s.get("/capabilities").json();
    let nocfg = json!({"type": "nocfg", "weight": []});
    let path = json!([{"type": "root_path", "frames": [0, 20, 39],
        "positions_xz": [[0.0, 0.0], [0.5, 1.0], [1.0, 2.0]],
        "heading_radians": [0.0, 0.3, 0.6]}]);
    let cases = [
        // One step from t = 999 is x0 itself: one forward of both stages
        // (root stage -> the root translation, body stage -> the rotations).
        (
            "one denoiser forward (1 step, nocfg)",
            json!({"seed": 11, "diffusion_steps": 1, "guidance": nocfg}),
            json!({}),
        ),
        (
            "10 steps nocfg, pose_keyframe (fill_mode rest)",
            json!({"seed": 12, "diffusion_steps": 10, "guidance": nocfg}),
            json!({"constraints": [{"type": "pose_keyframe", "frame": 20,
                "joint_rotations": {"LeftArm": [0.0, 0.0, 0.4, 0.9], "Spine1": [0.1, 0.0, 0.0, 1.0]},
                "root_position": [0.3, 0.9, 0.8], "fill_mode": "rest"}]}),
        ),
        (
            "10 steps regular 2.5, 2 samples, root_path",
            json!({"seed": 13, "diffusion_steps": 10, "num_samples": 2,
                   "guidance": {"type": "regular", "weight": [2.5]}}),
            json!({"constraints": path}),
        ),
        (
            "10 steps separated [2, 2], 2 samples",
            json!({"seed": 14, "diffusion_steps": 10, "num_samples": 2}),
            json!({}),
        ),
        (
            "10 steps separated [2, 3], effector_target (hand; foot with rotations), pose_keyframe (a hand listed)",
            json!({"seed": 16, "diffusion_steps": 10,
                   "guidance": {"type": "separated", "weight": [2.0, 3.0]}}),
            json!({"constraints": [
                {"type": "effector_target", "joint": "LeftHand", "frames": [10, 30],
                 "positions": [[0.5, 1.3, 0.4], [0.2, 1.6, 0.6]]},
                {"type": "effector_target", "joint": "RightFoot", "frames": [5, 35],
                 "positions": [[-0.1, 0.05, 0.3], [-0.2, 0.05, 1.5]],
                 "rotations": [[0.0, 0.6, 0.0, 0.8], [0.0, 0.0, 0.0, 1.0]]},
                {"type": "pose_keyframe", "frame": 25, "joint_rotations": {
                    "RightForeArm": [0.0, 0.3, 0.0, 0.95], "RightHand": [0.2, 0.0, 0.0, 1.0]}}]}),
        ),
        (
            "two segments (24 + 20), separated, root_path across both, pose_keyframe in the second",
            json!({"seed": 15, "diffusion_steps": 6, "transition_frames": 5}),
            json!({
                "segments": [
                    {"type": "text", "prompt": "walk forward", "duration_frames": 24},
                    {"type": "unconditioned", "duration_frames": 20}],
                "constraints": [
                    {"type": "root_path", "frames": [0, 30, 43],
                     "positions_xz": [[0.0, 0.0], [0.4, 0.8], [0.6, 1.5]]},
                    {"type": "pose_keyframe", "frame": 36, "root_position": [0.5, 0.85, 1.1],
                     "joint_rotations": {"LeftLeg": [0.3, 0.0, 0.0, 0.95]}}],
            }),
        ),
    ];
    let joints = caps["models"][0]["canonical_skeleton"]["joints"]
        .as_array()
        .unwrap();
    let parents: Vec<Option<usize>> = joints
        .iter()
        .map(|j| {
            j["parent"]
                .as_str()
                .map(|p| joints.iter().position(|k| k["name"] == p).unwrap())
        })
        .collect();
    let names: Vec<String> = joints
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_owned())
        .collect();
    let scale = body_scale(&weights.0);
    let mut table = String::from(
        "| case | host: max abs dq | host: feature error (dq / gain) | host: root | contact flips | float32 NumPy: max abs dq | float32 NumPy: dq / gain | float32 NumPy: root |\n|---|---|---|---|---|---|---|---|\n",
    );
    let mut failures = Vec::new();
    for (name, options, extra) in cases {
        let request = comparison_request(&caps, options, extra);
        let answer = s.generate(&request, SLOW);
        assert_eq!(
            answer.status,
            200,
            "{name}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        let exact = reference(&weights.0, &request, true);
        assert_eq!(
            exact["joint_names"],
            json!(names),
            "the reference's joint order"
        );
        let (exact_samples, features) = reference_samples(&exact);
        let host = host_samples(&answer.json(), &names);
        let (single, _) = reference_samples(&reference(&weights.0, &request, false));
        let h = distance(&host, &exact_samples, &features, &parents, &scale);
        let r = distance(&single, &exact_samples, &features, &parents, &scale);
        table += &format!(
            "| {name} | {:.2e} | {:.2e} | {:.2e} | {} | {:.2e} | {:.2e} | {:.2e} |\n",
            h.rotation,
            h.rotation_features,
            h.root,
            h.contact_flips,
            r.rotation,
            r.rotation_features,
            r.root
        );
        if h.rotation_features > TOLERANCE || h.root > TOLERANCE || h.contact_flips > 0 {
            failures.push(name);
        }
    }
    eprintln!("{table}");
    assert!(
        failures.is_empty(),
        "over the tolerance {TOLERANCE}: {failures:?}\n{table}"
    );
}

/// Largest x, z distance (m) of the root translation from the path's
/// points at the path's frames, over the samples.
fn path_error(samples: &[Sample], frames: &[usize], points: &[[f64; 2]]) -> f64 {
    let mut worst = 0.0f64;
    for s in samples {
        for (&f, p) in frames.iter().zip(points) {
            let (x, z) = (s.roots[3 * f], s.roots[3 * f + 2]);
            worst = worst.max(((x - p[0]).powi(2) + (z - p[1]).powi(2)).sqrt());
        }
    }
    worst
}

/// Constraint guidance on a network that can follow it: the reference's
/// `--root-identity` checkpoint (its root stage returns its own overwritten
/// noisy root, its pelvis sits on the smooth root), where random weights
/// would give guidance nothing to follow. The host must put the root on the
/// path as closely as the reference does; both must do far better with
/// constraint guidance than without.
#[test]
fn kimodo_follows_a_root_path_as_closely_as_the_reference() {
    let reference_run = reference;
    let weights = checkpoint_with(
        "kimodo-root-path",
        &[
            "--width",
            "128",
            "--layers",
            "2",
            "--heads",
            "2",
            "--root-identity",
        ],
    );
    let s = Server::start_paths(
        &[component("kimodo")],
        &["--weights", weights.0.to_str().unwrap(), "--timeout", "600"],
    );
    let caps = s.get("/capabilities").json();
    let names: Vec<String> = caps["models"][0]["canonical_skeleton"]["joints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap().to_owned())
        .collect();
    let frames = [0usize, 13, 26, 39];
    let points = [[0.0, 0.0], [0.3, 0.5], [0.7, 0.9], [1.2, 1.4]];
    let mut errors = Vec::new();
    for weight in [0.0, 5.0] {
        let request = comparison_request(
            &caps,
            json!({"seed": 21, "diffusion_steps": 10,
                   "guidance": {"type": "separated", "weight": [0.0, weight]}}),
            json!({"constraints": [{"type": "root_path", "frames": frames,
                "positions_xz": points, "heading_radians": [0.0, 0.2, 0.4, 0.6]}]}),
        );
        let answer = s.generate(&request, SLOW).ok();
        let host = path_error(&host_samples(&answer, &names), &frames, &points);
        let (exact, _) = reference_samples(&reference_run(&weights.0, &request, true));
        let reference = path_error(&exact, &frames, &points);
        let (single, _) = reference_samples(&reference_run(&weights.0, &request, false));
        let single = path_error(&single, &frames, &points);
        eprintln!("constraint weight {weight}: root_path error host {host:.2e} m, reference {reference:.2e} m, float32 reference {single:.2e} m");
        errors.push((host, reference, single));
    }
    let [(host_free, ref_free, _), (host, reference, single)] = errors[..] else {
        unreachable!()
    };
    // The scaffold's root stage works through LayerNorms dominated by a
    // 1e5 bias, so float32 rounding moves its answer by a fraction of a
    // millimetre: the float32 reference lands 0.25 mm from the float64 one.
    // The host may be as far from the float64 answer as twice that (two
    // float32 implementations, see above), plus the root tolerance
    // relative to the path's 1.4 m extent.
    let allowed = reference + 2.0 * (single - reference).abs() + TOLERANCE * 1.4;
    assert!(
        host <= allowed,
        "host {host} m from the path, the reference {reference} m (float32: {single} m)"
    );
    assert!(
        host < 0.1 * host_free && reference < 0.1 * ref_free,
        "{errors:?}"
    );
}

#[test]
fn kimodo_past_its_gpu_memory_answers_resource_exhausted() {
    let weights = checkpoint("kimodo-quota");
    // The width-64 weights take about 2.5 MiB; three passes of four
    // 600-frame samples need over 10 MiB for their inputs alone.
    let s = Server::start_paths(
        &[component("kimodo")],
        &[
            "--weights",
            weights.0.to_str().unwrap(),
            "--gpu-memory-mb",
            "8",
        ],
    );
    let mut big = request(&s, 1);
    big["segments"][0]["duration_frames"] = json!(600);
    big["options"]["num_samples"] = json!(4);
    let error = s.generate(&big, SLOW).error(503, "resource_exhausted");
    assert_mentions(&error, "MiB");
    // The model is still there for a request that fits.
    assert_eq!(s.generate(&request(&s, 1), SLOW).status, 200);
}
