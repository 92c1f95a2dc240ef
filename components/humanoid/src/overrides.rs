//! What the request asks for outright, applied over the generated motion:
//! effector and keyframe rotations (exact on their frame, blended around
//! it), keyframe root positions, and a loop's seam.

use crate::math::{Q, V3};
use crate::rig::Rig;
use crate::synth::{Keyframe, Request};

/// Bell-shaped blend weight: 1 at distance 0, 0 from `radius` on.
fn bell(d: f64, radius: f64) -> f64 {
    if radius <= 0.0 {
        return if d == 0.0 { 1.0 } else { 0.0 };
    }
    if d >= radius {
        0.0
    } else {
        0.5 + 0.5 * (std::f64::consts::PI * d / radius).cos()
    }
}

/// Weights of keyed frames for a frame: each key's window stops short of
/// the next key on the same channel, so every key is met exactly.
pub(crate) fn key_weights(frames: &[usize], f: usize, radius: f64) -> Vec<f64> {
    frames
        .iter()
        .enumerate()
        .map(|(k, &kf)| {
            let mut r = radius;
            for (m, &other) in frames.iter().enumerate() {
                if m != k && other != kf {
                    r = r.min((other as f64 - kf as f64).abs());
                }
            }
            bell((f as f64 - kf as f64).abs(), r)
        })
        .collect()
}

/// Sets the rotations the request names on their frames, blending the
/// generated motion into and out of them over `radius` frames. A leg whose
/// joints are overridden is not planted there.
pub fn apply(
    req: &Request,
    rig: &Rig,
    local: &mut [Q],
    root: &mut [V3],
    contacts: [&mut [Vec<bool>; 2]; 2],
    radius: f64,
) {
    let j_len = rig.joints.len();
    let t_len = root.len();
    let [contact, toe_contact] = contacts;
    // Effector rotations, then pose keyframes.
    let mut overrides: Vec<(usize, usize, Q)> = Vec::new();
    for e in &req.effectors {
        if let Some(q) = e.rot {
            overrides.push((e.joint, e.frame, q.normalize()));
        }
    }
    for k in &req.keyframes {
        for &(j, q) in &k.rotations {
            overrides.push((j, k.frame, q.normalize()));
        }
    }
    let rest_fill: Vec<&Keyframe> = req.keyframes.iter().filter(|k| k.fill_rest).collect();
    for j in 0..j_len {
        let keyed: Vec<&(usize, usize, Q)> = overrides.iter().filter(|o| o.0 == j).collect();
        let mut frames: Vec<usize> = keyed.iter().map(|o| o.1).collect();
        // Joints a rest-filled keyframe does not list go to rest there.
        let fills: Vec<usize> = rest_fill
            .iter()
            .filter(|k| !k.rotations.iter().any(|r| r.0 == j))
            .map(|k| k.frame)
            .collect();
        frames.extend(&fills);
        if frames.is_empty() {
            continue;
        }
        let values: Vec<Q> = keyed
            .iter()
            .map(|o| o.2)
            .chain(fills.iter().map(|_| Q::ID))
            .collect();
        for t in 0..t_len {
            let w = key_weights(&frames, t, radius);
            let total: f64 = w.iter().sum();
            if total <= 0.0 {
                continue;
            }
            // The keys' blend (only one is non-zero on a keyed frame), then
            // from the generated pose toward it.
            let mut goal = Q::ID;
            let mut acc = 0.0;
            for (val, wi) in values.iter().zip(&w) {
                if *wi > 0.0 {
                    acc += wi;
                    goal = if acc == *wi {
                        *val
                    } else {
                        goal.slerp(*val, wi / acc)
                    };
                }
            }
            let q = local[t * j_len + j].slerp(goal, total.min(1.0));
            local[t * j_len + j] = q.normalize().canonical();
            if rig
                .legs
                .iter()
                .any(|l| [l.thigh, l.shin, l.foot].contains(&j))
            {
                for s in 0..2 {
                    let l = &rig.legs[s];
                    if [l.thigh, l.shin, l.foot].contains(&j) {
                        contact[s][t] = false;
                        toe_contact[s][t] = false;
                    }
                }
            }
            if j == rig.hips || j == 0 {
                for s in 0..2 {
                    contact[s][t] = false;
                    toe_contact[s][t] = false;
                }
            }
        }
    }
    let root_keys: Vec<(usize, V3)> = req
        .keyframes
        .iter()
        .filter_map(|k| k.root.map(|r| (k.frame, r)))
        .collect();
    if !root_keys.is_empty() {
        let frames: Vec<usize> = root_keys.iter().map(|k| k.0).collect();
        for (t, r) in root.iter_mut().enumerate() {
            let w = key_weights(&frames, t, radius);
            for (k, wi) in w.iter().enumerate() {
                if *wi > 0.0 {
                    *r = r.lerp(root_keys[k].1, *wi);
                }
            }
        }
    }
}

/// A loop ends on its first pose: spreads the (small) remaining difference
/// of every joint and of the root's height over the clip; the root's
/// travel stays.
pub fn close_loop(local: &mut [Q], root: &mut [V3], j_len: usize) {
    let t_len = root.len();
    if t_len <= 2 {
        return;
    }
    let last = t_len - 1;
    for j in 0..j_len {
        let first = local[j];
        let end = local[last * j_len + j];
        let fix = first * end.conj();
        for t in 1..t_len {
            let k = t as f64 / last as f64;
            let q = Q::ID.slerp(fix, k) * local[t * j_len + j];
            local[t * j_len + j] = q.normalize().canonical();
        }
    }
    let dy = root[0].y - root[last].y;
    for (t, r) in root.iter_mut().enumerate() {
        r.y += dy * t as f64 / last as f64;
    }
}
