//! Native checks of whole requests: forward kinematics of the answer (as a
//! glTF player computes it) against what was asked.

use crate::math::{v3, Q, V3};
use crate::path::Keys;
use crate::rig::{JointDef, Rig};
use crate::synth::{generate, Effector, Keyframe, Request, Sample};
use crate::timeline::{Segment, SegmentKind};

fn fk(joints: &[JointDef], s: &Sample, t: usize) -> Vec<V3> {
    let n = joints.len();
    let mut rot = vec![Q::ID; n];
    let mut pos = vec![V3::ZERO; n];
    for j in 0..n {
        let q = s.local[t * n + j];
        match joints[j].parent {
            None => {
                rot[j] = q;
                pos[j] = s.root[t];
            }
            Some(p) => {
                let mut o = joints[j].offset;
                if let Some(h) = &s.hips_offset {
                    if Rig::new(joints.to_vec()).unwrap().hips == j {
                        o = h[t];
                    }
                }
                pos[j] = pos[p] + rot[p].rotate(o);
                rot[j] = rot[p] * q;
            }
        }
    }
    pos
}

fn text(prompt: &str, frames: usize) -> Segment {
    Segment {
        kind: SegmentKind::Text(prompt.into()),
        frames,
        seed: None,
    }
}

fn request(segments: Vec<Segment>) -> Request {
    let frames = segments.iter().map(|s| s.frames).sum();
    Request {
        joints: Rig::canonical_joints(),
        segments,
        frames,
        fps: 30.0,
        samples: 1,
        transition_frames: 5,
        ..Default::default()
    }
}

/// (max skate per stance, lowest joint, worst frame-to-frame joint angle).
fn quality(req: &Request, s: &Sample) -> (f64, f64, f64) {
    let t_len = req.frames;
    let poses: Vec<Vec<V3>> = (0..t_len).map(|t| fk(&req.joints, s, t)).collect();
    let mut skate: f64 = 0.0;
    for (j, flags) in &s.contacts {
        let mut anchor: Option<V3> = None;
        for t in 0..t_len {
            if flags[t] {
                let p = poses[t][*j];
                let a = *anchor.get_or_insert(p);
                skate = skate.max(v3(p.x - a.x, 0.0, p.z - a.z).len());
            } else {
                anchor = None;
            }
        }
    }
    let low = poses
        .iter()
        .flatten()
        .map(|p| p.y)
        .fold(f64::INFINITY, f64::min);
    let n = req.joints.len();
    let mut jump: f64 = 0.0;
    for t in 1..t_len {
        for j in 0..n {
            let a = s.local[t * n + j].angle_to(s.local[(t - 1) * n + j]);
            jump = jump.max(a);
        }
    }
    (skate, low, jump)
}

#[test]
fn walking_along_a_curve_meets_the_path_without_skating() {
    let mut req = request(vec![text("walk", 150)]);
    req.keys = Keys {
        keys: vec![
            (0, 0.0, 0.0, None),
            (50, 0.5, 2.0, None),
            (100, 2.0, 3.0, None),
            (149, 3.5, 2.5, None),
        ],
    };
    let out = generate(&req).unwrap();
    let s = &out.samples[0];
    for k in &req.keys.keys {
        let r = s.root[k.0 as usize];
        let err = (r.x - k.1).hypot(r.z - k.2);
        assert!(err < 0.01, "root misses key {k:?} by {err}");
    }
    let (skate, low, jump) = quality(&req, s);
    eprintln!("curve: skate {skate:.4} low {low:.4} jump {jump:.3}");
    assert!(skate < 0.02, "skate {skate}");
    assert!(low > -0.01, "below ground {low}");
    assert!(jump < 0.61, "rotation jump {jump}");
}

#[test]
fn every_word_plays_cleanly() {
    for word in [
        "idle",
        "walk",
        "jog",
        "run",
        "sprint",
        "sneak",
        "walk backwards",
        "side step left",
        "turn left",
        "turn right",
        "jump",
        "hop",
        "crouch",
        "sit down",
        "stand up",
        "wave",
        "point",
        "clap",
        "kick",
        "happy walk",
        "tired walk",
    ] {
        let req = request(vec![text(word, 90)]);
        let out = generate(&req).unwrap();
        let (skate, low, jump) = quality(&req, &out.samples[0]);
        eprintln!("{word}: skate {skate:.4} low {low:.4} jump {jump:.3}");
        assert!(skate < 0.02, "{word}: skate {skate}");
        assert!(low > -0.01, "{word}: below ground {low}");
        assert!(jump < 0.61, "{word}: rotation jump {jump}");
    }
}

#[test]
fn effectors_and_keyframes_are_met() {
    let mut req = request(vec![text("walk", 60), text("idle", 60)]);
    let rig = Rig::new(req.joints.clone()).unwrap();
    req.keys = Keys {
        keys: vec![(0, 0.0, 0.0, Some(0.0))],
    };
    let hand = rig.arms[1].hand;
    let foot = rig.legs[0].foot;
    // Targets near where the body is at those frames, within reach.
    let free = generate(&req).unwrap();
    let (r90, r100) = (free.samples[0].root[90], free.samples[0].root[100]);
    let hand_at = r90 + v3(-0.35, 0.4, 0.3);
    let foot_at = v3(r100.x + 0.12, 0.3, r100.z + 0.25);
    req.effectors = vec![
        Effector {
            joint: hand,
            frame: 90,
            pos: hand_at,
            rot: None,
        },
        Effector {
            joint: foot,
            frame: 100,
            pos: foot_at,
            rot: None,
        },
    ];
    let head = rig.head;
    req.keyframes = vec![Keyframe {
        frame: 110,
        rotations: vec![(head, Q::yaw(0.6))],
        root: None,
        fill_rest: false,
    }];
    let out = generate(&req).unwrap();
    let s = &out.samples[0];
    let p90 = fk(&req.joints, s, 90);
    let p100 = fk(&req.joints, s, 100);
    let e1 = (p90[hand] - hand_at).len();
    let e2 = (p100[foot] - foot_at).len();
    eprintln!("hand err {e1:.4} foot err {e2:.4}");
    assert!(e1 < 0.01 && e2 < 0.01);
    let n = req.joints.len();
    assert!(s.local[110 * n + head].angle_to(Q::yaw(0.6)) < 1e-6);
}

#[test]
fn segments_cross_fade_without_pops() {
    let mut req = request(vec![
        text("walk", 60),
        text("run", 60),
        text("wave", 60),
        text("sit down", 60),
    ]);
    req.transition_frames = 10;
    req.keys = Keys {
        keys: vec![(0, 0.0, 0.0, None)],
    };
    let out = generate(&req).unwrap();
    let (skate, low, jump) = quality(&req, &out.samples[0]);
    assert!(
        skate < 0.02 && low > -0.01 && jump < 0.61,
        "skate {skate} low {low} jump {jump}"
    );
}

/// The integration test's Mixamo-style rig: A-pose arms, longer legs.
fn mixamo() -> Vec<JointDef> {
    let mut rows: Vec<(String, Option<String>, V3)> = vec![
        ("Hips".into(), None, v3(0.0, 1.08, 0.0)),
        ("Spine".into(), Some("Hips".into()), v3(0.0, 0.11, 0.0)),
        ("Spine1".into(), Some("Spine".into()), v3(0.0, 0.13, 0.0)),
        ("Spine2".into(), Some("Spine1".into()), v3(0.0, 0.14, 0.0)),
        ("Neck".into(), Some("Spine2".into()), v3(0.0, 0.16, 0.0)),
        ("Head".into(), Some("Neck".into()), v3(0.0, 0.11, 0.0)),
    ];
    let a = std::f64::consts::FRAC_1_SQRT_2;
    for (side, x) in [("Left", 1.0), ("Right", -1.0)] {
        let n = |b: &str| format!("{side}{b}");
        rows.extend([
            (
                n("Shoulder"),
                Some("Spine2".into()),
                v3(x * 0.07, 0.11, 0.0),
            ),
            (n("Arm"), Some(n("Shoulder")), v3(x * 0.13, 0.0, 0.0)),
            (n("ForeArm"), Some(n("Arm")), v3(x * 0.3 * a, -0.3 * a, 0.0)),
            (
                n("Hand"),
                Some(n("ForeArm")),
                v3(x * 0.27 * a, -0.27 * a, 0.0),
            ),
            (n("UpLeg"), Some("Hips".into()), v3(x * 0.1, -0.07, 0.0)),
            (n("Leg"), Some(n("UpLeg")), v3(0.0, -0.49, 0.0)),
            (n("Foot"), Some(n("Leg")), v3(0.0, -0.46, 0.0)),
            (n("ToeBase"), Some(n("Foot")), v3(0.0, -0.05, 0.15)),
        ]);
    }
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    rows.into_iter()
        .map(|(name, parent, offset)| JointDef {
            name,
            parent: parent.map(|p| names.iter().position(|n| *n == p).unwrap()),
            offset,
        })
        .collect()
}

#[test]
fn an_a_pose_rig_reaches_a_raised_target_without_flipping() {
    let mut req = request(vec![text("walk", 120)]);
    req.joints = mixamo();
    req.keys = Keys {
        keys: vec![
            (0, 0.0, 0.0, None),
            (45, 0.8, 1.6, None),
            (90, 2.2, 2.4, None),
            (119, 3.2, 2.6, None),
        ],
    };
    let rig = Rig::new(req.joints.clone()).unwrap();
    let free = generate(&req).unwrap();
    let at = fk(&req.joints, &free.samples[0], 100)[rig.arms[0].upper] + v3(0.15, 0.25, 0.2);
    req.effectors = vec![Effector {
        joint: rig.arms[0].hand,
        frame: 100,
        pos: at,
        rot: None,
    }];
    let out = generate(&req).unwrap();
    let s = &out.samples[0];
    assert!((fk(&req.joints, s, 100)[rig.arms[0].hand] - at).len() < 1e-6);
    let (skate, low, jump) = quality(&req, s);
    assert!(
        skate < 0.02 && low > -0.01 && jump < 0.61,
        "skate {skate} low {low} jump {jump}"
    );
}

#[test]
fn rigs_without_limbs_and_impossible_paths_are_refused() {
    let mut req = request(vec![text("walk", 30)]);
    req.joints.truncate(7);
    assert!(
        matches!(generate(&req), Err(crate::synth::Error::Skeleton(m)) if m.contains("LeftUpLeg"))
    );
    let mut req = request(vec![text("run", 30)]);
    req.keys = Keys {
        keys: vec![(0, 0.0, 0.0, None), (29, 0.0, 20.0, None)],
    };
    assert!(matches!(generate(&req), Err(crate::synth::Error::Request(m)) if m.contains("m/s")));
}

/// A 10 s, 30 fps clip with every part of the synthesis in play is quick:
/// a few milliseconds in a release build (printed with --nocapture), and
/// far under a second even unoptimised.
#[test]
fn a_ten_second_clip_is_quick() {
    let mut req = request(vec![text("walk", 150), text("run and wave", 150)]);
    req.keys = Keys {
        keys: vec![
            (0, 0.0, 0.0, None),
            (100, 1.0, 3.0, None),
            (200, 3.0, 5.0, None),
            (299, 8.0, 9.0, None),
        ],
    };
    let t = std::time::Instant::now();
    let out = generate(&req).unwrap();
    let took = t.elapsed();
    eprintln!("10 s at 30 fps: {took:?}");
    assert_eq!(out.samples[0].root.len(), 300);
    assert!(took.as_secs_f64() < 1.0, "{took:?}");
}
