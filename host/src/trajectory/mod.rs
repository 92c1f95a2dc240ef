//! Travel trajectories (gltf-output.md §7): per sample, the path the motion
//! travels along without the body's own sway, surge, height or twist, fitted
//! with the simplest shape a game can re-apply, so a client can play the
//! sample in place. A port of the reference's `motionmcp/trajectory.py`
//! (numeric parity is tested against fixtures the reference recorded,
//! `tests/fixtures/trajectories.json`).
//!
//! Best effort, as in the reference: a failure anywhere means no trajectory
//! for any sample of the answer, never a failed request.

mod body;
mod fit;
mod heading;
mod num;
mod roles;

use serde_json::{json, Map, Value};

use body::{Body, Bone, Parts};
use fit::Model;
use heading::How;
use num::P2;

use crate::motion::Motion;
use crate::request::Skeleton;

/// Why a trajectory could not be computed (only ever logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failed(pub &'static str);

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// What a motion's trajectories are computed from: a motion result in the
/// layout of `MotionResult` (rotations `(B, T, J, 4)` as x, y, z, w; root
/// translations `(B, T, 3)`), with the request's skeleton and timing.
pub struct Input<'a> {
    pub skeleton: &'a Skeleton,
    pub num_samples: usize,
    pub num_frames: usize,
    pub rotations: &'a [f32],
    pub root_translations: &'a [f32],
    pub canonical_to_request: &'a [(String, String)],
    pub fps: f64,
    pub looped: bool,
}

impl<'a> Input<'a> {
    pub fn new(motion: &'a Motion, skeleton: &'a Skeleton, fps: f64, looped: bool) -> Input<'a> {
        Input {
            skeleton,
            num_samples: motion.num_samples,
            num_frames: motion.num_frames,
            rotations: motion.rotations(),
            root_translations: motion.root_translations(),
            canonical_to_request: &motion.canonical_to_request,
            fps,
            looped,
        }
    }
}

/// Frames (samples × frames) above which an answer gets no computed
/// trajectory: the analysis is linear in frames but not cheap (each frame is
/// matched against 720 points of an arc), and runs on the request's thread.
/// 20,000 frames is over 11 minutes at 30 fps.
pub const MAX_FRAMES: usize = 20_000;

/// How far from the origin (m) a joint may be for its motion to be read.
const MAX_REACH: f64 = 1e6;

/// The trajectories an answer carries when its backbone sent none: computed
/// per sample, or none at all when that fails (logged; never fails the
/// request) or the answer is over [`MAX_FRAMES`].
pub fn for_answer(input: &Input) -> Option<Vec<Option<Value>>> {
    let frames = input.num_samples.saturating_mul(input.num_frames);
    if frames > MAX_FRAMES {
        tracing::debug!(frames, "trajectory: not computed, over {MAX_FRAMES} frames");
        return None;
    }
    match compute(input) {
        Ok(list) => Some(list),
        Err(why) => {
            tracing::info!(
                frames = input.num_frames,
                "trajectory: could not compute: {why}"
            );
            None
        }
    }
}

/// Per sample, the wire `trajectory` (glTF frame), or None where the body
/// could not be read; Err when the computation failed (then no sample gets one).
pub fn compute(input: &Input) -> Result<Vec<Option<Value>>, Failed> {
    let skeleton = input.skeleton;
    let index = |name: &str| skeleton.joints.iter().position(|j| j.name == name);
    let bones: Vec<Bone> = skeleton
        .joints
        .iter()
        .map(|j| Bone {
            parent: j.parent.as_deref().and_then(index),
            rest_translation: j.rest_translation,
        })
        .collect();
    let names: Vec<&str> = skeleton.names().collect();
    let parents: Vec<Option<usize>> = bones.iter().map(|b| b.parent).collect();
    let roles = roles::resolve(&names, &parents, input.canonical_to_request);
    if !roles.contains_key("hips") {
        return Ok(vec![None; input.num_samples]);
    }
    let root = parents
        .iter()
        .position(Option::is_none)
        .ok_or(Failed("no root joint"))?;
    let order = body::order(&bones);
    let (t_len, j_len) = (input.num_frames, bones.len());
    if input.rotations.len() != input.num_samples * t_len * j_len * 4
        || input.root_translations.len() != input.num_samples * t_len * 3
    {
        return Err(Failed("arrays do not match (B, T, J)"));
    }
    let mut out = Vec::with_capacity(input.num_samples);
    for b in 0..input.num_samples {
        let mut positions = Vec::with_capacity(t_len);
        let mut root_rotations = Vec::with_capacity(t_len);
        for t in 0..t_len {
            let frame = (b * t_len + t) * j_len * 4;
            let rotations: Vec<[f32; 4]> = input.rotations[frame..frame + j_len * 4]
                .chunks_exact(4)
                .map(|q| [q[0], q[1], q[2], q[3]])
                .collect();
            let r = &input.root_translations[(b * t_len + t) * 3..][..3];
            let (pos, rot) = body::pose(&bones, &order, &rotations, [r[0], r[1], r[2]]);
            // A body a thousand kilometres out is not a motion to read, and
            // far larger values would overflow into NaN on the way.
            if pos
                .iter()
                .flatten()
                .any(|v| v.is_nan() || v.abs() > MAX_REACH)
            {
                return Err(Failed("joint positions beyond 1000 km"));
            }
            root_rotations.push(rot[root]);
            positions.push(pos);
        }
        let closing = (input.looped && t_len > 0).then(|| {
            let (p0, p1) = (positions[0][root], positions[t_len - 1][root]);
            (
                [p1[0] - p0[0], -(p1[2] - p0[2])],
                root_turn(&root_rotations[0], &root_rotations[t_len - 1]),
            )
        });
        let parts = body::parts(&positions, &roles);
        out.push(from_parts(&parts, input.fps, input.looped, closing).map(Some)?);
    }
    Ok(out)
}

/// The root's turn over a cycle about the vertical, read from whichever of
/// its own axes lies flattest (a pelvis's up axis says nothing of turning).
fn root_turn(r0: &[[f64; 3]; 3], r1: &[[f64; 3]; 3]) -> f64 {
    let axes = body::transpose(r0);
    let ax = axes[num::argmin(&axes.iter().map(|a| a[1].abs()).collect::<Vec<_>>())];
    let local = body::mat_vec(&axes, ax);
    let (a0, a1) = (body::mat_vec(r0, local), body::mat_vec(r1, local));
    let (f0, f1) = ([a0[0], -a0[2]], [a1[0], -a1[2]]);
    (f0[0] * f1[1] - f0[1] * f1[0]).atan2(f0[0] * f1[0] + f0[1] * f1[1])
}

/// One sample's trajectory from its body parts (+Z up), as the wire object.
fn from_parts(
    parts: &Parts,
    fps: f64,
    looped: bool,
    closing: Option<(P2, f64)>,
) -> Result<Value, Failed> {
    let body = Body::new(parts, fps, looped)?;
    let n = body.n;
    let (path, labels) = body.travel_path();
    let tk = if n >= 3 {
        Some(fit::key_times(&labels, &fit::times(n, fps))?)
    } else {
        None
    };
    let fit::Fit {
        mut xy,
        model,
        mut params,
        guide,
    } = fit::select(&body, &path, tk.as_deref())?;
    if model != Model::Still {
        if let Some(timed) = guide.and_then(|g| fit::retime(&g, &body.com, fps, looped)) {
            xy = timed;
        }
    }
    let (mut yaw, how, raw) = match heading::heading(&body, model == Model::Still, tk.as_deref())? {
        Some(h) => (h.yaw, h.how, Some(h.raw)),
        // no hips or shoulders to read a facing from: the path's own direction
        None => (heading::tangent_yaw(&xy, fps)?, How::Path, None),
    };
    if looped && n > 1 {
        let u = num::linspace(0.0, 1.0, n);
        let (root_xy, root_turn) = closing.ok_or(Failed("a loop without its root's travel"))?;
        let gap = num::sub(root_xy, num::sub(xy[n - 1], xy[0]));
        xy = xy
            .iter()
            .zip(&u)
            .map(|(p, u)| num::add(*p, num::scale(gap, *u)))
            .collect();
        // a cycle closes facing the way it began, plus its turn
        let turn = raw.as_ref().map_or(root_turn, |r| r[n - 1] - r[0]);
        if raw.is_some() || model == Model::Arc {
            let bend = turn - yaw[n - 1];
            yaw = yaw.iter().zip(&u).map(|(y, u)| y + bend * u).collect();
        }
    }
    if model != Model::Still && n > 1 {
        let v = num::speeds(&xy, fps)?;
        params.insert("speed".into(), json!(num::round(num::mean(&v), 3)));
        params.insert(
            "speed_range".into(),
            json!([num::round(num::min(&v), 3), num::round(num::max(&v), 3)]),
        );
        if model == Model::Arc {
            // the path's own turn, not the body's facing
            let turned = heading::tangent_yaw(&xy, fps)?[n - 1] / (std::f64::consts::PI / 180.0);
            params.insert("turned_deg".into(), json!(num::round(turned, 1)));
            let seconds = ((n - 1) as f64 / fps).max(1e-6);
            params.insert("turn_deg_s".into(), json!(num::round(turned / seconds, 2)));
        }
    }
    let mut markers = Map::new();
    for (name, frames) in body.touchdowns() {
        markers.insert(name.into(), json!(frames));
    }
    Ok(json!({
        "model": model.name(),
        "loop": looped,
        "params": params,
        "heading": how.name(),
        "markers": markers,
        // back to the glTF frame: (x, z) = (x, -y)
        "position": xy.iter().map(|p| json!([num::round(p[0], 4), num::round(-p[1], 4)])).collect::<Vec<_>>(),
        "yaw": yaw.iter().map(|v| num::round(*v, 5)).collect::<Vec<_>>(),
    }))
}

#[cfg(test)]
mod parity;
