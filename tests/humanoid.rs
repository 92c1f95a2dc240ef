//! The default model, `humanoid`, through the real host over HTTP. Every
//! check runs forward kinematics on the decoded glTF answer (as a player
//! would), not on anything the component says about itself. Requests are
//! grouped so that each test starts one server.

mod support;

use serde_json::{json, Value};
use support::*;

const FPS: f64 = 30.0;
/// Bounds every answer must meet.
const ROOT_ERR: f64 = 0.01;
const IK_ERR: f64 = 0.01;
const SKATE: f64 = 0.02;
const BELOW_GROUND: f64 = 0.01;
/// Largest change of one joint's local rotation between frames: 35°, more
/// than a sprinting knee at 30 fps, far less than a pop.
const MAX_STEP_RAD: f64 = 0.61;

type V = [f64; 3];
type Q4 = [f64; 4];

fn sub(a: V, b: V) -> V {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
fn len(a: V) -> f64 {
    (a[0] * a[0] + a[1] * a[1] + a[2] * a[2]).sqrt()
}
fn qmul(a: Q4, b: Q4) -> Q4 {
    [
        a[3] * b[0] + a[0] * b[3] + a[1] * b[2] - a[2] * b[1],
        a[3] * b[1] - a[0] * b[2] + a[1] * b[3] + a[2] * b[0],
        a[3] * b[2] + a[0] * b[1] - a[1] * b[0] + a[2] * b[3],
        a[3] * b[3] - a[0] * b[0] - a[1] * b[1] - a[2] * b[2],
    ]
}
fn rotate(q: Q4, v: V) -> V {
    let p = qmul(
        qmul(q, [v[0], v[1], v[2], 0.0]),
        [-q[0], -q[1], -q[2], q[3]],
    );
    [p[0], p[1], p[2]]
}
fn angle(a: Q4, b: Q4) -> f64 {
    let d = (a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]).abs();
    2.0 * d.min(1.0).acos()
}
fn normalize(q: Q4) -> Q4 {
    let l = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]).sqrt();
    [q[0] / l, q[1] / l, q[2] / l, q[3] / l]
}

/// One decoded sample: per frame, per joint local rotation, translation,
/// and the world positions forward kinematics gives.
struct Motion {
    fps: f64,
    names: Vec<String>,
    local: Vec<Vec<Q4>>,
    world: Vec<Vec<V>>,
    world_rot: Vec<Vec<Q4>>,
    contacts: Vec<(String, Vec<bool>)>,
}

impl Motion {
    fn frames(&self) -> usize {
        self.world.len()
    }
    fn j(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no joint {name}"))
    }
    fn at(&self, t: usize, name: &str) -> V {
        self.world[t][self.j(name)]
    }
    /// Facing of the first joint named like `hips` (its rotated +Z).
    fn facing(&self, t: usize, hips: &str) -> V {
        rotate(self.world_rot[t][self.j(hips)], [0.0, 0.0, 1.0])
    }
    fn lowest(&self) -> f64 {
        self.world
            .iter()
            .flatten()
            .map(|p| p[1])
            .fold(f64::INFINITY, f64::min)
    }
    /// The worst horizontal drift of a contact joint within one run of
    /// contact frames.
    fn skate(&self) -> f64 {
        let mut worst: f64 = 0.0;
        for (name, flags) in &self.contacts {
            let j = self.j(name);
            let mut anchor: Option<V> = None;
            for (t, &on) in flags.iter().enumerate() {
                if !on {
                    anchor = None;
                    continue;
                }
                let p = self.world[t][j];
                let a = *anchor.get_or_insert(p);
                worst = worst.max((p[0] - a[0]).hypot(p[2] - a[2]));
            }
        }
        worst
    }
    /// The largest frame-to-frame turn of a joint: (radians, frame, joint).
    fn max_step(&self) -> (f64, usize, &str) {
        let mut worst = (0.0, 0, "");
        for t in 1..self.frames() {
            for j in 0..self.names.len() {
                let a = angle(self.local[t][j], self.local[t - 1][j]);
                if a > worst.0 {
                    worst = (a, t, self.names[j].as_str());
                }
            }
        }
        worst
    }
    fn contact(&self, name: &str, t: usize) -> bool {
        self.contacts
            .iter()
            .find(|c| c.0 == name)
            .map(|c| c.1[t])
            .unwrap_or(false)
    }
}

/// Reads a channel's keys and spreads them over every frame (thinned
/// channels are interpolated as a player would).
fn channel(
    doc: &Value,
    anim: &Value,
    k: usize,
    width: usize,
    frames: usize,
    fps: f64,
) -> Vec<Vec<f64>> {
    let sampler = &anim["samplers"][k];
    let times = accessor_floats(doc, sampler["input"].as_u64().unwrap() as usize);
    let values = accessor_floats(doc, sampler["output"].as_u64().unwrap() as usize);
    if width == 4 {
        for q in values.chunks(4) {
            let n = q.iter().map(|&v| (v as f64).powi(2)).sum::<f64>().sqrt();
            assert!((n - 1.0).abs() < 1e-3, "a quaternion of length {n}");
        }
    }
    let keys: Vec<(f64, Vec<f64>)> = times
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            (
                t as f64 * fps,
                values[i * width..(i + 1) * width]
                    .iter()
                    .map(|&v| v as f64)
                    .collect(),
            )
        })
        .collect();
    (0..frames)
        .map(|f| {
            let f = f as f64;
            let b = keys
                .iter()
                .position(|k| k.0 >= f - 1e-3)
                .unwrap_or(keys.len() - 1);
            if b == 0 || (keys[b].0 - f).abs() < 1e-3 {
                return keys[b].1.clone();
            }
            let a = b - 1;
            let u = (f - keys[a].0) / (keys[b].0 - keys[a].0);
            let (x, mut y) = (&keys[a].1, keys[b].1.clone());
            if width == 4 && x.iter().zip(&y).map(|(p, q)| p * q).sum::<f64>() < 0.0 {
                y.iter_mut().for_each(|v| *v = -*v);
            }
            x.iter().zip(&y).map(|(p, q)| p + (q - p) * u).collect()
        })
        .collect()
}

fn decode(doc: &Value, sample: usize) -> Motion {
    let nodes = doc["nodes"].as_array().unwrap();
    let names: Vec<String> = nodes
        .iter()
        .map(|n| n["name"].as_str().unwrap().to_string())
        .collect();
    let mut parent = vec![None; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        for c in n["children"].as_array().into_iter().flatten() {
            parent[c.as_u64().unwrap() as usize] = Some(i);
        }
    }
    let ext = &doc["extensions"]["MMCP_motion"]["samples"][sample];
    let frames = ext["num_frames"].as_u64().unwrap() as usize;
    let fps = doc["extensions"]["MMCP_motion"]["fps"].as_f64().unwrap();
    let anim = &doc["animations"][sample];
    let j_len = nodes.len();
    let mut rot = vec![vec![[0.0, 0.0, 0.0, 1.0]; j_len]; frames];
    let mut tr: Vec<Vec<V>> = vec![
        nodes
            .iter()
            .map(|n| {
                let t = n["translation"].as_array().unwrap();
                [
                    t[0].as_f64().unwrap(),
                    t[1].as_f64().unwrap(),
                    t[2].as_f64().unwrap(),
                ]
            })
            .collect();
        frames
    ];
    for (k, ch) in anim["channels"].as_array().unwrap().iter().enumerate() {
        let node = ch["target"]["node"].as_u64().unwrap() as usize;
        match ch["target"]["path"].as_str().unwrap() {
            "rotation" => {
                for (f, v) in channel(doc, anim, k, 4, frames, fps)
                    .into_iter()
                    .enumerate()
                {
                    rot[f][node] = normalize([v[0], v[1], v[2], v[3]]);
                }
            }
            _ => {
                for (f, v) in channel(doc, anim, k, 3, frames, fps)
                    .into_iter()
                    .enumerate()
                {
                    tr[f][node] = [v[0], v[1], v[2]];
                }
            }
        }
    }
    let mut world = Vec::new();
    let mut world_rot = Vec::new();
    for f in 0..frames {
        let mut p = vec![[0.0; 3]; j_len];
        let mut r = vec![[0.0, 0.0, 0.0, 1.0]; j_len];
        for j in 0..j_len {
            match parent[j] {
                None => {
                    p[j] = tr[f][j];
                    r[j] = rot[f][j];
                }
                Some(q) => {
                    let o = rotate(r[q], tr[f][j]);
                    p[j] = [p[q][0] + o[0], p[q][1] + o[1], p[q][2] + o[2]];
                    r[j] = qmul(r[q], rot[f][j]);
                }
            }
        }
        world.push(p);
        world_rot.push(r);
    }
    let contacts = ext["foot_contacts"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_array()
                            .unwrap()
                            .iter()
                            .map(|b| b.as_bool().unwrap())
                            .collect(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    Motion {
        fps,
        names,
        local: rot,
        world,
        world_rot,
        contacts,
    }
}

// ---- requests ------------------------------------------------------------

fn canonical(s: &Server) -> Value {
    let caps = s.get("/capabilities").json();
    caps["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "humanoid")
        .unwrap()["canonical_skeleton"]
        .clone()
}

fn body(skeleton: &Value, segments: Value, constraints: Value, options: Value) -> Value {
    json!({
        "protocol_version": "1.4",
        "model": "humanoid",
        "skeleton": skeleton,
        "segments": segments,
        "constraints": constraints,
        "options": options,
    })
}

fn text(prompt: &str, frames: u32) -> Value {
    json!({"type": "text", "prompt": prompt, "duration_frames": frames})
}

fn generate(s: &Server, body: &Value) -> Value {
    let a = s.post(body);
    assert_eq!(
        a.status,
        200,
        "{}",
        String::from_utf8_lossy(&a.body)
            .chars()
            .take(800)
            .collect::<String>()
    );
    a.json()
}

fn root_path(keys: &[(u32, f64, f64)]) -> Value {
    json!({"type": "root_path",
        "frames": keys.iter().map(|k| k.0).collect::<Vec<_>>(),
        "positions_xz": keys.iter().map(|k| [k.1, k.2]).collect::<Vec<_>>()})
}

/// Root-path error: the root joint's ground position against every key.
fn root_error(m: &Motion, keys: &[(u32, f64, f64)]) -> f64 {
    keys.iter()
        .map(|&(f, x, z)| {
            let p = m.world[f as usize][0];
            (p[0] - x).hypot(p[2] - z)
        })
        .fold(0.0, f64::max)
}

/// The checks every answer must pass, with `ground` the floor height.
fn assert_clean(what: &str, m: &Motion, ground: f64) -> (f64, f64) {
    let skate = m.skate();
    let low = m.lowest() - ground;
    let (step, frame, joint) = m.max_step();
    assert!(skate < SKATE, "{what}: a planted foot slides {skate:.4} m");
    assert!(
        low > -BELOW_GROUND,
        "{what}: a joint is {:.4} m below the ground",
        -low
    );
    assert!(
        step < MAX_STEP_RAD,
        "{what}: {joint} turns {step:.3} rad at frame {frame}"
    );
    (skate, low)
}

fn speed(m: &Motion, from: usize, to: usize) -> f64 {
    let (a, b) = (m.world[from][0], m.world[to][0]);
    (b[0] - a[0]).hypot(b[2] - a[2]) / ((to - from) as f64 / m.fps)
}

// ---- tests -----------------------------------------------------------------

#[test]
fn paths_are_followed_with_planted_feet() {
    let s = Server::start(&["humanoid"]);
    let sk = canonical(&s);
    let circle: Vec<(u32, f64, f64)> = (0..=6)
        .map(|k| {
            let a = k as f64 * 0.5;
            (k * 30, 3.0 * a.sin(), 3.0 - 3.0 * a.cos())
        })
        .collect();
    // (name, prompt, keyed root positions (frame, x, z), frames)
    type Case<'a> = (&'a str, &'a str, Vec<(u32, f64, f64)>, u32);
    let cases: Vec<Case> = vec![
        (
            "straight",
            "walk",
            vec![(0, 0.0, 0.0), (149, 0.0, 6.0)],
            150,
        ),
        ("curved", "walk", circle, 181),
        (
            "s-curve",
            "walk",
            vec![
                (0, 0.0, 0.0),
                (45, 1.0, 2.0),
                (90, -1.0, 4.0),
                (135, 0.0, 6.0),
            ],
            136,
        ),
        (
            "stop-and-go",
            "walk",
            vec![
                (0, 0.0, 0.0),
                (45, 0.0, 2.0),
                (90, 0.0, 2.0),
                (135, 1.5, 3.5),
            ],
            136,
        ),
        ("run", "run", vec![(0, 0.0, 0.0), (89, 0.0, 12.0)], 90),
    ];
    for (what, prompt, keys, frames) in &cases {
        let doc = generate(
            &s,
            &body(
                &sk,
                json!([text(prompt, *frames)]),
                json!([root_path(keys)]),
                json!({}),
            ),
        );
        let m = decode(&doc, 0);
        let err = root_error(&m, keys);
        let (skate, _) = assert_clean(what, &m, 0.0);
        eprintln!("{what}: root-path error {err:.5} m, skate {skate:.5} m");
        assert!(err < ROOT_ERR, "{what}: root misses a key by {err:.4} m");
        // Feet carry the body: a foot is planted on most frames of a walk.
        let planted = (0..m.frames())
            .filter(|&t| m.contact("LeftToeBase", t) || m.contact("RightToeBase", t))
            .count();
        if *prompt == "walk" {
            assert!(
                planted as f64 > 0.9 * m.frames() as f64,
                "{what}: feet planted on {planted} frames"
            );
        }
    }
    // Keyed headings are the facing: here the body turns to face +X while
    // the path goes on along +Z (a side-step), then back.
    let headed = json!({"type": "root_path", "frames": [0, 60, 119],
        "positions_xz": [[0.0, 0.0], [0.0, 2.0], [0.0, 4.0]],
        "heading_radians": [0.0, std::f64::consts::FRAC_PI_2, 0.0]});
    let m = decode(
        &generate(
            &s,
            &body(&sk, json!([text("walk", 120)]), json!([headed]), json!({})),
        ),
        0,
    );
    let (skate, _) = assert_clean("headings", &m, 0.0);
    for (frame, want) in [(0, 0.0), (60, std::f64::consts::FRAC_PI_2), (119, 0.0)] {
        let f = m.facing(frame, "Hips");
        let yaw = f[0].atan2(f[2]);
        // The pelvis twists with the stride around the heading.
        assert!(
            (yaw - want).abs() < 0.15,
            "frame {frame}: facing {yaw}, keyed {want}"
        );
    }
    eprintln!(
        "headings: root-path error {:.5} m, skate {skate:.5} m",
        root_error(&m, &[(0, 0.0, 0.0), (60, 0.0, 2.0), (119, 0.0, 4.0)])
    );

    // Walking always has a foot down; running has flight.
    let gait = |speed_ms: f64| {
        let keys = [(0, 0.0, 0.0), (119, 0.0, speed_ms * 119.0 / FPS)];
        let m = decode(
            &generate(
                &s,
                &body(
                    &sk,
                    json!([text("move", 120)]),
                    json!([root_path(&keys)]),
                    json!({}),
                ),
            ),
            0,
        );
        let flight = (20..100)
            .filter(|&t| {
                !["LeftToeBase", "RightToeBase"]
                    .iter()
                    .any(|n| m.contact(n, t))
            })
            .count();
        let steps = (21..100)
            .filter(|&t| m.contact("LeftToeBase", t) && !m.contact("LeftToeBase", t - 1))
            .count();
        (flight, steps)
    };
    let (walk_flight, walk_steps) = gait(1.2);
    let (run_flight, run_steps) = gait(4.5);
    eprintln!("1.2 m/s: {walk_flight} flight frames, {walk_steps} left steps; 4.5 m/s: {run_flight}, {run_steps}");
    assert_eq!(walk_flight, 0);
    assert!(run_flight >= 10, "a run has flight phases");
    assert!(run_steps > walk_steps, "cadence grows with speed");

    // Every constraint type at once, on raised ground.
    let keys = [(0, 0.0, 0.0), (60, 0.0, 2.4), (119, 0.0, 2.4)];
    let free = decode(
        &generate(
            &s,
            &body(
                &sk,
                json!([text("walk", 60), text("idle", 60)]),
                json!([root_path(&keys)]),
                json!({}),
            ),
        ),
        0,
    );
    let shoulder = free.at(95, "RightArm");
    let hand_at = [
        shoulder[0] - 0.1,
        shoulder[1] + 0.05 + 0.2,
        shoulder[2] + 0.35,
    ];
    let foot_at = [0.15, 0.2 + 0.25, 2.65];
    let head_q = [0.0, 0.258819, 0.0, 0.9659258];
    let all = json!([
        root_path(&keys),
        {"type": "effector_target", "joint": "RightHand", "frames": [95], "positions": [[hand_at[0], hand_at[1], hand_at[2]]]},
        {"type": "effector_target", "joint": "LeftFoot", "frames": [108], "positions": [foot_at]},
        {"type": "pose_keyframe", "frame": 80, "joint_rotations": {"Head": head_q}},
        {"type": "ground_height", "points": [[0.0, 0.0, 0.2], [0.0, 5.0, 0.2]]},
    ]);
    let m = decode(
        &generate(
            &s,
            &body(
                &sk,
                json!([text("walk", 60), text("idle", 60)]),
                all,
                json!({}),
            ),
        ),
        0,
    );
    let err = root_error(&m, &keys);
    let hand_err = len(sub(m.at(95, "RightHand"), hand_at));
    let foot_err = len(sub(m.at(108, "LeftFoot"), foot_at));
    let key_err = angle(m.local[80][m.j("Head")], head_q);
    let (skate, _) = assert_clean("all constraints", &m, 0.2);
    eprintln!(
        "all constraints: root {err:.5} m, hand {hand_err:.5} m, foot {foot_err:.5} m, keyframe {key_err:.5} rad, skate {skate:.5} m"
    );
    assert!(
        err < ROOT_ERR && hand_err < IK_ERR && foot_err < IK_ERR,
        "constraints missed"
    );
    assert!(key_err < 1e-3, "keyframe missed by {key_err} rad");
    // The feet stand on the raised ground.
    let sole = (0..40)
        .map(|t| m.at(t, "LeftToeBase")[1])
        .fold(f64::INFINITY, f64::min);
    assert!((sole - 0.2).abs() < 0.05, "toes at {sole} on ground 0.2");

    // fill_mode "rest": the listed joint takes its rotation, every other
    // joint its rest rotation, on that frame.
    let rest_key = json!([root_path(&[(0, 0.0, 0.0)]),
        {"type": "pose_keyframe", "frame": 30, "joint_rotations": {"Head": head_q}, "fill_mode": "rest"}]);
    let m = decode(
        &generate(
            &s,
            &body(&sk, json!([text("walk", 60)]), rest_key, json!({})),
        ),
        0,
    );
    let head = m.j("Head");
    let off_rest = (0..m.names.len())
        .filter(|&j| j != head)
        .map(|j| angle(m.local[30][j], [0.0, 0.0, 0.0, 1.0]))
        .fold(0.0, f64::max);
    assert!(
        off_rest < 1e-3 && angle(m.local[30][head], head_q) < 1e-3,
        "rest fill: {off_rest}"
    );
    assert!(
        angle(m.local[20][m.j("LeftUpLeg")], [0.0, 0.0, 0.0, 1.0]) > 0.05,
        "free away from the key"
    );

    // A path nobody can run is refused, saying why.
    let e = s
        .post(&body(
            &sk,
            json!([text("run", 30)]),
            json!([root_path(&[(0, 0.0, 0.0), (29, 0.0, 30.0)])]),
            json!({}),
        ))
        .error(400, "invalid_request");
    assert_mentions(&e, "m/s");
}

/// Oscillation: how many times a coordinate's direction of travel reverses
/// (ignoring wiggles under 1 cm).
fn reversals(values: &[f64]) -> usize {
    let mut count = 0;
    let mut dir = 0.0;
    let mut anchor = values[0];
    for &v in values {
        let d = v - anchor;
        if d.abs() > 0.01 {
            if dir != 0.0 && d.signum() != dir {
                count += 1;
            }
            dir = d.signum();
            anchor = v;
        } else if (dir > 0.0 && v > anchor) || (dir < 0.0 && v < anchor) {
            anchor = v;
        }
    }
    count
}

#[test]
fn every_word_does_what_it_names() {
    let s = Server::start(&["humanoid"]);
    let sk = canonical(&s);
    let start = json!([root_path(&[(0, 0.0, 0.0)])]);
    let run = |prompt: &str, frames: u32| -> (Motion, Value) {
        let doc = generate(
            &s,
            &body(&sk, json!([text(prompt, frames)]), start.clone(), json!({})),
        );
        let m = decode(&doc, 0);
        assert_clean(prompt, &m, 0.0);
        let err = root_error(&m, &[(0, 0.0, 0.0)]);
        assert!(
            err < ROOT_ERR,
            "{prompt}: root misses the frame-0 key by {err}"
        );
        let notes = doc["extensions"]["MMCP_motion"]["notes"].clone();
        (m, notes)
    };
    let hips_rest = 0.98;
    let last = |m: &Motion| m.frames() - 1;
    let travel = |m: &Motion| sub(m.world[last(m)][0], m.world[0][0]);

    let (idle, _) = run("stand idle", 90);
    assert!(len(travel(&idle)) < 0.05, "idle stays put");
    assert!(
        (0..90).all(|t| idle.contact("LeftFoot", t) && idle.contact("RightFoot", t)),
        "idle feet planted"
    );

    let (walk, notes) = run("walk", 120);
    let v_walk = speed(&walk, 30, 119);
    assert!((0.9..1.8).contains(&v_walk), "walk at {v_walk} m/s");
    assert!(travel(&walk)[2] > 1.0, "walks forward (+Z)");
    assert!(
        notes.to_string().contains("walk"),
        "the note names what was understood: {notes}"
    );
    // Arms counter-swing: the left hand is ahead when the right foot is.
    let swing: Vec<(f64, f64)> = (30..119)
        .map(|t| {
            let hand = walk.at(t, "LeftHand")[2] - walk.at(t, "RightHand")[2];
            let feet = walk.at(t, "RightFoot")[2] - walk.at(t, "LeftFoot")[2];
            (hand, feet)
        })
        .collect();
    let agree = swing.iter().filter(|(h, f)| h * f > 0.0).count();
    assert!(
        agree as f64 > 0.7 * swing.len() as f64,
        "arms swing against the legs ({agree}/{})",
        swing.len()
    );
    // Knees bend forward, never backward.
    for t in 0..120 {
        let (hip, knee, ankle) = (
            walk.at(t, "LeftUpLeg"),
            walk.at(t, "LeftLeg"),
            walk.at(t, "LeftFoot"),
        );
        let mid = [(hip[0] + ankle[0]) / 2.0, 0.0, (hip[2] + ankle[2]) / 2.0];
        let f = walk.facing(t, "Hips");
        let ahead = (knee[0] - mid[0]) * f[0] + (knee[2] - mid[2]) * f[2];
        assert!(
            ahead > -0.01,
            "frame {t}: the knee is {ahead} m behind the leg's line"
        );
    }
    // The pelvis bobs.
    let ys: Vec<f64> = (30..119).map(|t| walk.at(t, "Hips")[1]).collect();
    let bob =
        ys.iter().cloned().fold(f64::MIN, f64::max) - ys.iter().cloned().fold(f64::MAX, f64::min);
    assert!(bob > 0.01 && bob < 0.12, "pelvis bob {bob}");

    let (jog, _) = run("jog", 120);
    let (runm, _) = run("run", 120);
    let (v_jog, v_run) = (speed(&jog, 30, 119), speed(&runm, 30, 119));
    assert!(
        v_walk < v_jog && v_jog < v_run && v_run > 3.0,
        "walk {v_walk} < jog {v_jog} < run {v_run}"
    );
    let (slow, _) = run("walk slowly", 120);
    let (fast, _) = run("walk fast", 120);
    assert!(
        speed(&slow, 30, 119) < v_walk && speed(&fast, 30, 119) > v_walk,
        "slow < walk < fast"
    );
    let (tired, _) = run("tired walk", 120);
    let (happy, _) = run("happy walk", 120);
    let head = |m: &Motion| (30..119).map(|t| m.at(t, "Head")[1]).sum::<f64>() / 89.0;
    assert!(
        speed(&tired, 30, 119) < v_walk && head(&tired) < head(&happy),
        "tired is slower and lower than happy"
    );

    let (sneak, _) = run("sneak", 120);
    let hips = |m: &Motion| (30..119).map(|t| m.at(t, "Hips")[1]).sum::<f64>() / 89.0;
    assert!(
        speed(&sneak, 30, 119) < 1.0 && hips(&sneak) < hips(&walk) - 0.05,
        "sneaking is slow and low"
    );

    let (back, _) = run("walk backwards", 120);
    let facing = back.facing(60, "Hips");
    let moved = travel(&back);
    assert!(
        moved[0] * facing[0] + moved[2] * facing[2] < -1.0,
        "backwards moves against the facing"
    );

    let (side, _) = run("side step left", 120);
    let moved = travel(&side);
    let facing = side.facing(60, "Hips");
    let left_axis = [facing[2], 0.0, -facing[0]];
    let lateral = moved[0] * left_axis[0] + moved[2] * left_axis[2];
    assert!(
        lateral > 0.5 && lateral.abs() > 3.0 * (moved[0] * facing[0] + moved[2] * facing[2]).abs(),
        "side-steps to its left"
    );

    for (prompt, sign) in [("turn left", 1.0), ("turn right", -1.0)] {
        let (m, _) = run(prompt, 90);
        let f = m.facing(89, "Hips");
        let yaw = f[0].atan2(f[2]);
        assert!(sign * yaw > 1.1, "{prompt}: ends facing {yaw} rad");
        assert!(len(travel(&m)) < 0.3, "{prompt}: turns in place");
    }

    let (jump, _) = run("jump", 45);
    let airborne = (0..45)
        .filter(|&t| {
            ["LeftToe_End", "RightToe_End", "LeftFoot", "RightFoot"]
                .iter()
                .all(|n| jump.at(t, n)[1] > 0.12)
        })
        .count();
    assert!(
        airborne >= 5,
        "jump: both feet off the ground on {airborne} frames"
    );
    assert!((0..45).any(|t| !jump.contact("LeftFoot", t) && !jump.contact("RightFoot", t)));

    let (hop, _) = run("hop", 60);
    let left_up = (0..60).filter(|&t| hop.at(t, "LeftFoot")[1] > 0.2).count();
    let right_up = (0..60)
        .filter(|&t| hop.at(t, "RightToe_End")[1] > 0.05)
        .count();
    assert!(
        left_up > 40 && right_up >= 5,
        "hop: one foot held up ({left_up}), the other hopping ({right_up})"
    );

    let (crouch, _) = run("crouch", 60);
    assert!(
        crouch.at(59, "Hips")[1] < hips_rest - 0.2,
        "crouch lowers the pelvis"
    );
    let (sit, _) = run("sit down", 60);
    assert!(
        sit.at(59, "Hips")[1] < hips_rest - 0.3,
        "sitting lowers the pelvis"
    );
    let (stand, _) = run("stand up", 60);
    assert!(
        stand.at(0, "Hips")[1] < hips_rest - 0.3 && stand.at(59, "Hips")[1] > hips_rest - 0.05,
        "standing up rises"
    );

    let (wave, _) = run("wave", 90);
    let above = (20..90)
        .filter(|&t| wave.at(t, "RightHand")[1] > wave.at(t, "HeadTop_End")[1])
        .count();
    let xs: Vec<f64> = (20..90).map(|t| wave.at(t, "RightHand")[0]).collect();
    assert!(
        above > 60 && reversals(&xs) >= 3,
        "wave: hand above the head ({above}), oscillating ({})",
        reversals(&xs)
    );

    let (point, _) = run("point", 60);
    let (hand, sh) = (point.at(50, "RightHand"), point.at(50, "RightArm"));
    assert!(
        hand[2] - sh[2] > 0.4 && (hand[1] - sh[1]).abs() < 0.15,
        "point: arm out in front"
    );

    let (clap, _) = run("clap", 90);
    let gaps: Vec<f64> = (20..90)
        .map(|t| len(sub(clap.at(t, "LeftHand"), clap.at(t, "RightHand"))))
        .collect();
    let (near, far) = (
        gaps.iter().filter(|&&g| g < 0.1).count(),
        gaps.iter().filter(|&&g| g > 0.15).count(),
    );
    assert!(
        near >= 5 && far >= 5 && reversals(&gaps) >= 3,
        "clap: hands meet and part repeatedly"
    );

    let (kick, _) = run("kick", 60);
    let high = (0..60)
        .map(|t| kick.at(t, "RightFoot")[1])
        .fold(0.0, f64::max);
    let ahead = (0..60)
        .map(|t| kick.at(t, "RightFoot")[2] - kick.at(t, "Hips")[2])
        .fold(0.0, f64::max);
    assert!(
        high > 0.35 && ahead > 0.3,
        "kick: foot up {high} and ahead {ahead}"
    );

    // A pose segment is one frame of the pose its words describe.
    let doc = generate(
        &s,
        &body(
            &sk,
            json!([{"type": "pose", "prompt": "crouch"}]),
            json!([]),
            json!({}),
        ),
    );
    let m = decode(&doc, 0);
    assert!(
        m.frames() == 1 && m.at(0, "Hips")[1] < hips_rest - 0.2,
        "pose segment"
    );

    // Unknown words: a neutral motion and a note saying so.
    let (m, notes) = run("contemplate the meaning of life", 60);
    assert!(len(travel(&m)) < 0.05);
    assert!(
        notes[0]["severity"] == "warning" && notes.to_string().contains("contemplate"),
        "{notes}"
    );

    // Unconditioned: idle, with variation.
    let doc = generate(
        &s,
        &body(
            &sk,
            json!([{"type": "unconditioned", "duration_frames": 90}]),
            json!([]),
            json!({}),
        ),
    );
    let m = decode(&doc, 0);
    assert_clean("unconditioned", &m, 0.0);
    let head_j = m.j("Head");
    let turned = (0..90)
        .map(|t| angle(m.local[t][head_j], m.local[0][head_j]))
        .fold(0.0, f64::max);
    assert!(
        len(travel(&m)) < 0.05 && turned > 0.02,
        "idle variation {turned}"
    );

    // Segments in sequence, with transitions.
    let doc = generate(
        &s,
        &body(
            &sk,
            json!([
                text("walk", 60),
                text("run", 60),
                text("wave", 60),
                text("sit down", 60)
            ]),
            start.clone(),
            json!({"transition_frames": 10}),
        ),
    );
    let m = decode(&doc, 0);
    assert_clean("sequence", &m, 0.0);
    assert!(
        speed(&m, 70, 115) > speed(&m, 10, 55) && speed(&m, 140, 175) < 0.3,
        "segments play in order"
    );
    assert!(m.at(239, "Hips")[1] < hips_rest - 0.3);
}

fn joint(name: &str, parent: Option<&str>, t: V) -> Value {
    json!({"name": name, "parent": parent, "rest_translation": t, "rest_rotation": [0, 0, 0, 1]})
}

/// A Mixamo-exported rig: prefixed names, taller with longer legs, arms in
/// an A-pose, and finger joints the model does not drive.
fn mixamo_rig() -> Value {
    let p = |n: &str| format!("mixamorig:{n}");
    let mut joints = vec![
        joint(&p("Hips"), None, [0.0, 1.08, 0.0]),
        joint(&p("Spine"), Some(&p("Hips")), [0.0, 0.11, 0.0]),
        joint(&p("Spine1"), Some(&p("Spine")), [0.0, 0.13, 0.0]),
        joint(&p("Spine2"), Some(&p("Spine1")), [0.0, 0.14, 0.0]),
        joint(&p("Neck"), Some(&p("Spine2")), [0.0, 0.16, 0.0]),
        joint(&p("Head"), Some(&p("Neck")), [0.0, 0.11, 0.0]),
        joint(&p("HeadTop_End"), Some(&p("Head")), [0.0, 0.19, 0.0]),
    ];
    for (side, x) in [("Left", 1.0), ("Right", -1.0)] {
        let n = |b: &str| p(&format!("{side}{b}"));
        let a = std::f64::consts::FRAC_1_SQRT_2;
        joints.extend([
            joint(&n("Shoulder"), Some(&p("Spine2")), [x * 0.07, 0.11, 0.0]),
            joint(&n("Arm"), Some(&n("Shoulder")), [x * 0.13, 0.0, 0.0]),
            joint(&n("ForeArm"), Some(&n("Arm")), [x * 0.3 * a, -0.3 * a, 0.0]),
            joint(
                &n("Hand"),
                Some(&n("ForeArm")),
                [x * 0.27 * a, -0.27 * a, 0.0],
            ),
            joint(
                &n("HandIndex1"),
                Some(&n("Hand")),
                [x * 0.07 * a, -0.07 * a, 0.02],
            ),
            joint(&n("UpLeg"), Some(&p("Hips")), [x * 0.1, -0.07, 0.0]),
            joint(&n("Leg"), Some(&n("UpLeg")), [0.0, -0.49, 0.0]),
            joint(&n("Foot"), Some(&n("Leg")), [0.0, -0.46, 0.0]),
            joint(&n("ToeBase"), Some(&n("Foot")), [0.0, -0.05, 0.15]),
            joint(&n("Toe_End"), Some(&n("ToeBase")), [0.0, 0.0, 0.08]),
        ]);
    }
    json!({ "joints": joints })
}

/// An Unreal-style rig: a root on the ground, the pelvis under it, `_l`/`_r`
/// names, a twist bone, smaller than the canonical adult.
fn unreal_rig() -> Value {
    let mut joints = vec![
        joint("root", None, [0.0, 0.0, 0.0]),
        joint("pelvis", Some("root"), [0.0, 0.85, 0.0]),
        joint("spine_01", Some("pelvis"), [0.0, 0.09, 0.0]),
        joint("spine_02", Some("spine_01"), [0.0, 0.11, 0.0]),
        joint("spine_03", Some("spine_02"), [0.0, 0.12, 0.0]),
        joint("neck_01", Some("spine_03"), [0.0, 0.13, 0.0]),
        joint("head", Some("neck_01"), [0.0, 0.09, 0.0]),
    ];
    for (s, x) in [("l", 1.0), ("r", -1.0)] {
        let n = |b: &str| format!("{b}_{s}");
        joints.extend([
            joint(&n("clavicle"), Some("spine_03"), [x * 0.05, 0.09, 0.0]),
            joint(&n("upperarm"), Some(&n("clavicle")), [x * 0.1, 0.0, 0.0]),
            joint(
                &n("upperarm_twist_01"),
                Some(&n("upperarm")),
                [x * 0.12, 0.0, 0.0],
            ),
            joint(&n("lowerarm"), Some(&n("upperarm")), [x * 0.24, 0.0, 0.0]),
            joint(&n("hand"), Some(&n("lowerarm")), [x * 0.22, 0.0, 0.0]),
            joint(&n("thigh"), Some("pelvis"), [x * 0.08, -0.05, 0.0]),
            joint(&n("calf"), Some(&n("thigh")), [0.0, -0.37, 0.0]),
            joint(&n("foot"), Some(&n("calf")), [0.0, -0.36, 0.0]),
            joint(&n("ball"), Some(&n("foot")), [0.0, -0.05, 0.11]),
        ]);
    }
    json!({ "joints": joints })
}

/// An SMPL-named rig: `L_Hip` is the thigh, `L_Foot` the toe, `L_Shoulder`
/// the upper arm under `L_Collar`.
fn smpl_rig() -> Value {
    let mut joints = vec![
        joint("Pelvis", None, [0.0, 0.93, 0.0]),
        joint("Spine1", Some("Pelvis"), [0.0, 0.11, 0.0]),
        joint("Spine2", Some("Spine1"), [0.0, 0.13, 0.0]),
        joint("Spine3", Some("Spine2"), [0.0, 0.06, 0.0]),
        joint("Neck", Some("Spine3"), [0.0, 0.21, 0.0]),
        joint("Head", Some("Neck"), [0.0, 0.09, 0.0]),
    ];
    for (s, x) in [("L", 1.0), ("R", -1.0)] {
        let n = |b: &str| format!("{s}_{b}");
        joints.extend([
            joint(&n("Hip"), Some("Pelvis"), [x * 0.06, -0.09, 0.0]),
            joint(&n("Knee"), Some(&n("Hip")), [x * 0.04, -0.38, 0.0]),
            joint(&n("Ankle"), Some(&n("Knee")), [x * -0.01, -0.4, -0.04]),
            joint(&n("Foot"), Some(&n("Ankle")), [0.0, -0.05, 0.12]),
            joint(&n("Collar"), Some("Spine3"), [x * 0.07, 0.11, 0.0]),
            joint(&n("Shoulder"), Some(&n("Collar")), [x * 0.12, 0.02, 0.0]),
            joint(&n("Elbow"), Some(&n("Shoulder")), [x * 0.26, 0.0, 0.0]),
            joint(&n("Wrist"), Some(&n("Elbow")), [x * 0.25, 0.0, 0.0]),
        ]);
    }
    json!({ "joints": joints })
}

#[test]
fn other_rigs_are_answered_on_their_own_skeleton() {
    let s = Server::start(&["humanoid"]);
    let keys = [
        (0, 0.0, 0.0),
        (45, 0.8, 1.6),
        (90, 2.2, 2.4),
        (119, 3.2, 2.6),
    ];
    for (what, rig, hand, arm, foot, toe, thigh) in [
        (
            "mixamo",
            mixamo_rig(),
            "mixamorig:LeftHand",
            "mixamorig:LeftArm",
            "mixamorig:LeftFoot",
            "mixamorig:LeftToeBase",
            "mixamorig:LeftUpLeg",
        ),
        (
            "unreal",
            unreal_rig(),
            "hand_l",
            "upperarm_l",
            "foot_l",
            "ball_l",
            "thigh_l",
        ),
        (
            "smpl",
            smpl_rig(),
            "L_Wrist",
            "L_Shoulder",
            "L_Ankle",
            "L_Foot",
            "L_Hip",
        ),
    ] {
        let free = decode(
            &generate(
                &s,
                &body(
                    &rig,
                    json!([text("walk", 120)]),
                    json!([root_path(&keys)]),
                    json!({}),
                ),
            ),
            0,
        );
        let sh = free.at(100, arm);
        let hand_at = [sh[0] + 0.15, sh[1] + 0.25, sh[2] + 0.2];
        let constraints = json!([
            root_path(&keys),
            {"type": "effector_target", "joint": hand, "frames": [100], "positions": [hand_at]},
        ]);
        let doc = generate(
            &s,
            &body(&rig, json!([text("walk", 120)]), constraints, json!({})),
        );
        let m = decode(&doc, 0);
        let err = root_error(&m, &keys);
        let ik = len(sub(m.at(100, hand), hand_at));
        let (skate, low) = assert_clean(what, &m, 0.0);
        eprintln!("{what}: root-path error {err:.5} m, hand {ik:.5} m, skate {skate:.5} m, lowest joint {low:.4} m");
        assert!(
            err < ROOT_ERR && ik < IK_ERR,
            "{what}: root {err}, hand {ik}"
        );
        // Contacts are reported on the rig's own joints, and they walk.
        assert!(
            (0..120).any(|t| m.contact(foot, t)) && (0..120).any(|t| m.contact(toe, t)),
            "{what}: contacts"
        );
        assert!(speed(&m, 0, 119) > 0.9);
        let map = &doc["extensions"]["MMCP_motion"]["canonical_to_request"];
        assert_eq!(map["LeftUpLeg"], thigh, "{what}: {map}");
    }
    // A rig without legs and arms cannot be driven: the protocol's error.
    let null_rig = null_skeleton();
    let e = s
        .post(&body(
            &null_rig,
            json!([text("walk", 30)]),
            json!([]),
            json!({}),
        ))
        .error(400, "retargeting_unsupported");
    assert_mentions(&e, "LeftUpLeg");
}

#[test]
fn samples_seeds_loops_and_thinning() {
    let s = Server::start(&["humanoid"]);
    let caps = s.get("/capabilities").json();
    let spec = caps["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == "humanoid")
        .unwrap()
        .clone();
    assert!(
        spec["canonical_skeleton"]["joints"]
            .as_array()
            .unwrap()
            .len()
            >= 22
    );
    for flag in [
        "supports_retargeting",
        "supports_loop",
        "supports_segment_seed",
        "supports_keyframe_reduction",
    ] {
        assert_eq!(spec[flag], true, "{flag}");
    }
    for c in [
        "root_path",
        "effector_target",
        "pose_keyframe",
        "ground_height",
    ] {
        assert!(
            spec["supported_constraints"]
                .as_array()
                .unwrap()
                .contains(&json!(c)),
            "{c}"
        );
    }
    let sk = canonical(&s);
    let start = json!([root_path(&[(0, 0.0, 0.0)])]);

    // Samples differ visibly; a seed repeats exactly.
    let req = body(
        &sk,
        json!([text("walk", 90)]),
        start.clone(),
        json!({"num_samples": 3, "seed": 7}),
    );
    let doc = generate(&s, &req);
    let ms: Vec<Motion> = (0..3).map(|b| decode(&doc, b)).collect();
    for m in &ms {
        assert_clean("sample", m, 0.0);
    }
    for (a, b) in [(0, 1), (1, 2), (0, 2)] {
        let diff = (0..90)
            .map(|t| len(sub(ms[a].at(t, "LeftHand"), ms[b].at(t, "LeftHand"))))
            .fold(0.0, f64::max);
        assert!(diff > 0.05, "samples {a} and {b} differ by {diff} m");
    }
    assert_eq!(
        generate(&s, &req)["buffers"],
        doc["buffers"],
        "same seed, same motion"
    );
    let other = body(
        &sk,
        json!([text("walk", 90)]),
        start.clone(),
        json!({"num_samples": 3, "seed": 8}),
    );
    assert_ne!(generate(&s, &other)["buffers"], doc["buffers"]);

    // A segment's own seed changes that segment, not the one before it.
    let seeded = |seed: i64| {
        let segs = json!([text("idle", 60), {"type": "text", "prompt": "walk", "duration_frames": 60, "seed": seed}]);
        decode(
            &generate(&s, &body(&sk, segs, start.clone(), json!({"seed": 1}))),
            0,
        )
    };
    let (a, b) = (seeded(1), seeded(2));
    let early = (0..30)
        .map(|t| len(sub(a.at(t, "LeftHand"), b.at(t, "LeftHand"))))
        .fold(0.0, f64::max);
    let late = (60..120)
        .map(|t| len(sub(a.at(t, "LeftHand"), b.at(t, "LeftHand"))))
        .fold(0.0, f64::max);
    assert!(
        early < 1e-4 && late > 0.02,
        "segment seed: before {early}, after {late}"
    );

    // Another frame rate: the same speed in metres per second, feet still planted.
    let mut at60 = body(&sk, json!([text("walk", 180)]), start.clone(), json!({}));
    at60["timing"] = json!({"fps": 60.0});
    let m = decode(&generate(&s, &at60), 0);
    assert_clean("60 fps", &m, 0.0);
    let v = speed(&m, 60, 179);
    assert!((0.9..1.8).contains(&v), "walk at {v} m/s at 60 fps");

    // A loop ends on its first pose, the root carried forward.
    let doc = generate(
        &s,
        &body(
            &sk,
            json!([text("walk", 61)]),
            start.clone(),
            json!({"loop": true}),
        ),
    );
    let m = decode(&doc, 0);
    assert_clean("loop", &m, 0.0);
    let seam = (0..m.names.len())
        .map(|j| angle(m.local[0][j], m.local[60][j]))
        .fold(0.0, f64::max);
    let (r0, r1) = (m.world[0][0], m.world[60][0]);
    eprintln!("loop seam: {seam:.5} rad");
    assert!(
        seam < 2e-3 && (r0[1] - r1[1]).abs() < 1e-3 && r1[2] - r0[2] > 1.0,
        "loop seam {seam}"
    );

    // Thinning keeps fewer keys and stays close to the dense motion.
    let dense = decode(
        &generate(
            &s,
            &body(&sk, json!([text("walk", 90)]), start.clone(), json!({})),
        ),
        0,
    );
    let doc = generate(
        &s,
        &body(
            &sk,
            json!([text("walk", 90)]),
            start.clone(),
            json!({"keyframe_budget": 0.01}),
        ),
    );
    let thin = decode(&doc, 0);
    let keys: usize = doc["animations"][0]["samplers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sm| {
            doc["accessors"][sm["input"].as_u64().unwrap() as usize]["count"]
                .as_u64()
                .unwrap() as usize
        })
        .sum();
    let channels = doc["animations"][0]["channels"].as_array().unwrap().len();
    let drift = (0..90)
        .flat_map(|t| (0..dense.names.len()).map(move |j| (t, j)))
        .map(|(t, j)| len(sub(dense.world[t][j], thin.world[t][j])))
        .fold(0.0, f64::max);
    eprintln!("thinning: {keys} keys for {channels} channels x 90 frames, drift {drift:.4} m");
    assert!(
        keys < channels * 90 / 2 && drift < 0.05,
        "{keys} keys, drift {drift}"
    );
}
