//! The whole synthesis for one request, in plain types (no SDK): timeline,
//! path, steps, body goals, solving, then constraints that override poses.

use crate::gait::{self, run_blend, Track};
use crate::math::{forward, smoothstep, v3, wrap, Rng, Q, V3};
use crate::overrides::key_weights;
use crate::path::{self, Drive, Keys};
use crate::rig::{JointDef, Rig};
use crate::solve::{solve, Goals};
use crate::timeline::{self, Ctl, Segment};
use crate::{arms, overrides, thin};

/// An effector target on one frame.
#[derive(Clone, Debug)]
pub struct Effector {
    pub joint: usize,
    pub frame: usize,
    pub pos: V3,
    pub rot: Option<Q>,
}

#[derive(Clone, Debug)]
pub struct Keyframe {
    pub frame: usize,
    pub rotations: Vec<(usize, Q)>,
    pub root: Option<V3>,
    pub fill_rest: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Request {
    pub joints: Vec<JointDef>,
    pub segments: Vec<Segment>,
    pub frames: usize,
    pub fps: f64,
    pub samples: usize,
    pub seed: Option<i64>,
    pub transition_frames: usize,
    pub looped: bool,
    pub keyframe_budget: Option<f64>,
    pub keys: Keys,
    pub effectors: Vec<Effector>,
    pub keyframes: Vec<Keyframe>,
    /// Ground points as (x, height, z).
    pub ground: Vec<V3>,
}

#[derive(Debug, PartialEq)]
pub enum Error {
    /// The skeleton is not a humanoid this model can drive.
    Skeleton(String),
    /// The request asks for something no person can do.
    Request(String),
}

pub struct Sample {
    /// T x J local rotations.
    pub local: Vec<Q>,
    pub root: Vec<V3>,
    /// T hips offsets from their parent, when the hips are not the root.
    pub hips_offset: Option<Vec<V3>>,
    /// (joint, per-frame contact).
    pub contacts: Vec<(usize, Vec<bool>)>,
}

pub struct Output {
    pub samples: Vec<Sample>,
    /// (understood, message) per text segment, then other remarks.
    pub notes: Vec<(bool, String)>,
    pub mapping: Vec<(String, String)>,
    /// Per joint: frames to key its rotation channel (when thinning).
    pub keyframes: Option<Vec<(usize, Vec<i32>)>>,
    pub root_keys: Option<Vec<i32>>,
}

/// Whole-sample variation, drawn from the seed and the sample index.
#[derive(Clone, Copy, Debug)]
struct Style {
    cadence: f64,
    arm: f64,
    elbow: f64,
    lean: f64,
    width: f64,
    phases: [f64; 4],
    freqs: [f64; 4],
}

fn style(seed: u64) -> Style {
    let mut r = Rng::new(seed);
    Style {
        cadence: r.range(0.93, 1.08),
        arm: r.range(0.7, 1.35),
        elbow: r.range(-0.05, 0.35),
        lean: r.range(-0.02, 0.06),
        width: r.range(0.85, 1.2),
        phases: [0.0; 4].map(|_| r.range(0.0, std::f64::consts::TAU)),
        freqs: [
            r.range(0.18, 0.3),
            r.range(0.07, 0.14),
            r.range(0.25, 0.35),
            r.range(0.4, 0.6),
        ],
    }
}

/// Ground height under (x, z): inverse-distance weighting of the points,
/// near ones dominating; flat Y = 0 without any.
pub fn ground_at(points: &[V3], x: f64, z: f64) -> f64 {
    if points.is_empty() {
        return 0.0;
    }
    let (mut sw, mut sh) = (0.0, 0.0);
    for p in points {
        let d2 = (p.x - x).powi(2) + (p.z - z).powi(2);
        let w = 1.0 / (d2 + 0.01).powi(2);
        sw += w;
        sh += w * p.y;
    }
    sh / sw
}

/// Smooth minimum: never above either argument.
fn softmin(a: f64, b: f64, k: f64) -> f64 {
    let h = (0.5 + 0.5 * (b - a) / k).clamp(0.0, 1.0);
    b + (a - b) * h - k * h * (1.0 - h)
}

fn seed_of(s: Option<i64>) -> u64 {
    s.map(|v| v as u64).unwrap_or(0x5EED)
}

pub fn generate(req: &Request) -> Result<Output, Error> {
    let rig = Rig::new(req.joints.clone()).map_err(Error::Skeleton)?;
    req.keys.check_speed(req.fps).map_err(Error::Request)?;
    let t_len = req.frames.max(1);
    let mut notes = Vec::new();
    let mut samples = Vec::new();
    for b in 0..req.samples.max(1) {
        let base = seed_of(req.seed).wrapping_add((b as u64).wrapping_mul(0x9E37_79B9));
        let seg_seeds: Vec<u64> = req
            .segments
            .iter()
            .map(|s| {
                seed_of(s.seed.or(req.seed))
                    .wrapping_mul(31)
                    .wrapping_add(b as u64)
            })
            .collect();
        let (ctl, seg_notes) = timeline::controls(
            &req.segments,
            t_len,
            req.fps,
            req.transition_frames,
            &seg_seeds,
        );
        if b == 0 {
            notes = seg_notes;
        }
        samples.push(sample(req, &rig, &ctl, style(base), t_len));
    }
    for e in &req.effectors {
        let j = e.joint;
        let limb = (0..2).any(|s| rig.arms[s].hand == j || rig.legs[s].foot == j)
            || j == rig.hips
            || j == 0;
        if !limb {
            notes.push((
                false,
                format!(
                    "effector_target on '{}' is met by its rotation only; positions are reached for hands, feet and hips",
                    rig.joints[j].name
                ),
            ));
            break;
        }
    }
    let (keyframes, root_keys) = match req.keyframe_budget {
        Some(budget) => {
            let (k, r) = thin::thin(&samples, rig.joints.len(), t_len, budget);
            (Some(k), Some(r))
        }
        None => (None, None),
    };
    Ok(Output {
        samples,
        notes,
        mapping: rig.mapping.clone(),
        keyframes,
        root_keys,
    })
}

fn sample(req: &Request, rig: &Rig, ctl: &[Ctl], st: Style, t_len: usize) -> Sample {
    let fps = req.fps;
    let dt = 1.0 / fps;
    let scale = rig.scale();
    let leg = {
        let (a, b) = rig.leg_length(0);
        let (c, d) = rig.leg_length(1);
        (a + b).min(c + d)
    };
    let ground = |x: f64, z: f64| ground_at(&req.ground, x, z);

    // The root's path.
    let speed: Vec<f64> = ctl.iter().map(|c| c.speed * scale.sqrt()).collect();
    let travel_dir: Vec<f64> = ctl.iter().map(|c| c.dir_x.atan2(c.dir_z)).collect();
    let turn_rate: Vec<f64> = ctl.iter().map(|c| c.turn_rate).collect();
    let start = rig.rest[0];
    let p = path::build(
        t_len,
        fps,
        start,
        &req.keys,
        &Drive {
            speed: &speed,
            travel_dir: &travel_dir,
            turn_rate: &turn_rate,
        },
    );

    // The extended timeline: two seconds either side, so steps in progress
    // at the clip's ends have somewhere to come from and go to.
    // (At most 2000 frames: an absurd frame rate must not exhaust memory.)
    let ext = ((2.0 * fps).ceil() as usize).min(2000);
    let n = t_len + 2 * ext;
    // Sitting moves the pelvis back over the seat while the feet stay: the
    // root follows the pelvis, the feet follow a reference point in front of
    // it. With one anchor (or none) the anchor holds the root and sitting
    // moves it; with a keyed path the root keeps to the path.
    let sit_shift: Vec<f64> = ctl
        .iter()
        .map(|c| -0.32 * leg * smoothstep(c.sit.clamp(0.0, 1.0)))
        .collect();
    let anchored = req.keys.keys.len() <= 1;
    let k0 = req
        .keys
        .keys
        .first()
        .map_or(0, |k| (k.0 as usize).min(t_len - 1));
    let root_xz: Vec<V3> = (0..t_len)
        .map(|t| {
            if anchored {
                p.pos[t] + forward(p.heading[t]) * (sit_shift[t] - sit_shift[k0])
            } else {
                p.pos[t]
            }
        })
        .collect();
    let feet_xz: Vec<V3> = (0..t_len)
        .map(|t| root_xz[t] - forward(p.heading[t]) * sit_shift[t])
        .collect();
    let v_start = if t_len > 1 {
        (feet_xz[1] - feet_xz[0]) * fps
    } else {
        V3::ZERO
    };
    let v_end = if t_len > 1 {
        (feet_xz[t_len - 1] - feet_xz[t_len - 2]) * fps
    } else {
        V3::ZERO
    };
    let mut pos = Vec::with_capacity(n);
    let mut heading = Vec::with_capacity(n);
    for i in 0..n {
        let f = i as i64 - ext as i64;
        if f < 0 {
            pos.push(feet_xz[0] + v_start * (f as f64 * dt));
            heading.push(p.heading[0]);
        } else if f as usize >= t_len {
            pos.push(feet_xz[t_len - 1] + v_end * ((f as usize - (t_len - 1)) as f64 * dt));
            heading.push(p.heading[t_len - 1]);
        } else {
            pos.push(feet_xz[f as usize]);
            heading.push(p.heading[f as usize]);
        }
    }
    let body_speed: Vec<f64> = (0..n)
        .map(|i| {
            let (a, c) = (i.saturating_sub(1), (i + 1).min(n - 1));
            (pos[c] - pos[a]).len_xz() / ((c - a).max(1) as f64 * dt)
        })
        .collect();
    // Gait style (walk or run, arm carriage) follows the speed smoothed over
    // half a second, so a sudden change of pace is not a pop.
    let half = (0.25 * fps).round() as usize;
    let style_speed: Vec<f64> = (0..n)
        .map(|i| {
            let (a, c) = (i.saturating_sub(half), (i + half).min(n - 1));
            body_speed[a..=c].iter().sum::<f64>() / (c - a + 1) as f64
        })
        .collect();
    let turn: Vec<f64> = (0..n)
        .map(|i| {
            let (a, c) = (i.saturating_sub(1), (i + 1).min(n - 1));
            wrap(heading[c] - heading[a]).abs() / ((c - a).max(1) as f64 * dt)
        })
        .collect();
    let (back, ahead) = ((0.15 * fps) as usize, (0.3 * fps) as usize);
    let moving: Vec<bool> = (0..n)
        .map(|i| {
            let (a, c) = (i.saturating_sub(back), (i + ahead).min(n - 1));
            (a..=c).any(|k| body_speed[k] > 0.12 || turn[k] > 0.35)
        })
        .collect();
    let fixed_hz = if req.looped && t_len > 2 {
        let span = (t_len - 1) as f64 / fps;
        let mean = (ext..ext + t_len)
            .map(|i| gait::stepping(body_speed[i], leg, st.cadence).cycle_hz)
            .sum::<f64>()
            / t_len as f64;
        let any_move = moving[ext..ext + t_len].iter().any(|&m| m);
        if any_move {
            Some((mean * span).round().max(1.0) / span)
        } else {
            None
        }
    } else {
        None
    };
    let half_width = (rig.rest[rig.legs[0].thigh].x - rig.rest[rig.legs[1].thigh].x).abs() / 2.0;
    let toe = [rig.toe_offset(0), rig.toe_offset(1)];
    let steps = gait::plan(&Track {
        fps,
        pos: &pos,
        heading: &heading,
        speed: &style_speed,
        moving: &moving,
        leg,
        cadence_scale: st.cadence,
        half_width: half_width * st.width.min(1.1) * 0.95,
        ankle_height: [rig.ankle_height(0), rig.ankle_height(1)],
        toe,
        ground: &ground,
        fixed_hz,
    });

    // Effector targets, grouped per joint.
    // Constraints blend in and out over at least 0.6 s either side: limbs
    // and poses cannot jump.
    let radius = (req.transition_frames as f64 * 2.0).max(0.6 * fps);
    let mut effectors: Vec<(usize, Vec<&Effector>)> = Vec::new();
    for e in &req.effectors {
        match effectors.iter_mut().find(|(j, _)| *j == e.joint) {
            Some((_, list)) => list.push(e),
            None => effectors.push((e.joint, vec![e])),
        }
    }
    // Joint `j`'s keyed targets blended for frame `f` (near a key, that key)
    // and how much they weigh against the generated motion.
    let keyed = |j: usize, f: usize| -> Option<(V3, f64)> {
        let (_, list) = effectors.iter().find(|(k, _)| *k == j)?;
        let frames: Vec<usize> = list.iter().map(|e| e.frame).collect();
        let w = key_weights(&frames, f, radius);
        let total: f64 = w.iter().sum();
        if total <= 0.0 {
            return None;
        }
        let sum = list
            .iter()
            .zip(&w)
            .fold(V3::ZERO, |acc, (e, wi)| acc + e.pos * *wi);
        Some((sum * (1.0 / total), total.min(1.0)))
    };
    // The generated position `free` pulled toward the keyed targets.
    let target = |j: usize, f: usize, free: V3| keyed(j, f).map(|(p, w)| (free.lerp(p, w), w));

    let j_len = rig.joints.len();
    let mut local = Vec::with_capacity(t_len * j_len);
    let mut root = Vec::with_capacity(t_len);
    let mut hips_offset = Vec::with_capacity(t_len);
    let mut contact = [vec![false; t_len], vec![false; t_len]];
    let mut toe_contact = [vec![false; t_len], vec![false; t_len]];
    let hip_off = [0, 1].map(|s| rig.rest[rig.legs[s].thigh] - rig.rest[rig.hips]);
    let shoulder_half =
        [0, 1].map(|s| (rig.rest[rig.arms[s].upper].x - rig.rest[rig.hips].x).abs());
    let arm_len = [0, 1].map(|s| {
        let (a, b) = rig.arm_length(s);
        (a, b)
    });
    let hips_h = rig.hips_height();
    let periodic = |k: usize, t: f64| -> f64 {
        let f = st.freqs[k];
        let f = if req.looped && t_len > 2 {
            let span = (t_len - 1) as f64 / fps;
            (f * span).round().max(1.0) / span
        } else {
            f
        };
        (std::f64::consts::TAU * f * t + st.phases[k]).sin()
    };
    for t in 0..t_len {
        let i = t + ext;
        let c = &ctl[t];
        let time = t as f64 * dt;
        let h = heading[i];
        let v = style_speed[i];
        let r = run_blend(v);
        let go = smoothstep(v / 0.6);
        let phase = steps.phase[i];
        let g0 = ground(root_xz[t].x, root_xz[t].z);
        let fwd = forward(h);

        // Feet: the planned steps, then lifts (kicks, hops) and effector targets.
        let mut ankle = [steps.ankle[0][i], steps.ankle[1][i]];
        let foot_yaw = [steps.yaw[0][i], steps.yaw[1][i]];
        let mut pitch = [steps.pitch[0][i], steps.pitch[1][i]];
        let mut free = [false; 2];
        for s in 0..2 {
            let (lf, lu) = c.lift[s];
            if lf != 0.0 || lu != 0.0 {
                ankle[s] = ankle[s] + fwd * (lf * leg) + V3::Y * (lu * leg);
                pitch[s] = -0.4 * lu;
            }
            if c.free[s] > 0.01 {
                free[s] = true;
            }
            if let Some((p, _)) = target(rig.legs[s].foot, t, ankle[s]) {
                ankle[s] = p;
                free[s] = true;
            }
        }

        // Pelvis height: the stance height for the gait, lowered by crouching
        // and sitting, and never so high that a foot is out of reach.
        let sit = c.sit.clamp(0.0, 1.0);
        let drop = leg * (0.025 * go * (1.0 - r) + 0.07 * r + c.crouch * 0.9 + 0.45 * sit);
        let bounce =
            leg * 0.012 * c.energy.max(0.0) * (std::f64::consts::TAU * 2.0 * phase).cos() * go;
        let mut pelvis_y = g0 + hips_h - drop + bounce;
        let pelvis_xz = root_xz[t];
        for s in 0..2 {
            let hip = pelvis_xz + Q::yaw(h).rotate(hip_off[s]);
            let d = (ankle[s] - hip).len_xz();
            let reach = 0.985 * leg;
            let room = (reach * reach - d * d).max(0.0).sqrt();
            let cap = ankle[s].y + room - hip_off[s].y;
            pelvis_y = softmin(pelvis_y, cap, 0.02 * leg);
        }
        let air = c.air * leg;
        pelvis_y += air;
        for a in ankle.iter_mut() {
            a.y += air;
        }
        let mut pelvis = v3(pelvis_xz.x, pelvis_y, pelvis_xz.z);
        if let Some((p, _)) = target(rig.hips, t, pelvis) {
            pelvis = p;
        }

        // Trunk: lean with speed, crouch and mood; pelvis twists with the
        // stride and the chest counters it.
        let cyc = (std::f64::consts::TAU * phase).cos();
        let twist = -(0.07 + 0.05 * r) * cyc * go;
        let idle = c.idle * (1.0 - go);
        let sway = 0.025 * idle * periodic(0, time);
        let lean = st.lean + 0.04 * go + 0.12 * r + 0.35 * c.crouch + 0.35 * sit
            - 0.05 * c.energy.max(0.0)
            + 0.12 * (-c.energy).max(0.0);
        let pelvis_rot = Q::yaw(h + twist) * Q::pitch(0.5 * lean) * Q::roll(sway);
        let breathe = 0.02 * periodic(2, time);
        let chest_rot = Q::yaw(h - 0.8 * twist + 0.1 * idle * periodic(3, time) * 0.3)
            * Q::pitch(lean + breathe);
        let look = 0.35 * idle * periodic(1, time);
        let head_pitch = -0.3 * lean + 0.3 * (-c.energy).max(0.0) - 0.08 * c.energy.max(0.0);
        let head_rot = Q::yaw(h + look) * Q::pitch(head_pitch);

        // Arms: counter-swing to the legs, or gestures.
        let mut hand = [V3::ZERO; 2];
        for s in 0..2 {
            let sign = if s == 0 { 1.0 } else { -1.0 };
            let amp = c.arm_swing * st.arm * (0.3 * go + 0.25 * r) + 0.04 * idle;
            let swing = -sign * amp * cyc + 0.03 * idle * periodic(3, time + s as f64);
            let abduct = 0.12 + 0.1 * r;
            let bend = (0.2 + st.elbow + 1.2 * r + 0.15 * c.energy.max(0.0)).min(2.0);
            let point = if s == 1 { c.point } else { 0.0 };
            hand[s] = arms::hand_target(
                sign,
                arm_len[s],
                shoulder_half[s],
                arms::Carriage {
                    swing,
                    abduct,
                    bend,
                },
                [c.wave[s], point, c.clap],
                time,
            );
        }
        let hand_world = [0, 1].map(|s| keyed(rig.arms[s].hand, t));

        let knee_hint = [0, 1].map(|s| {
            let dir = forward(h + 0.5 * wrap(foot_yaw[s] - h));
            // Ahead and above the hips: never near the line to the foot,
            // even in a kick, so the knee cannot flip.
            pelvis + dir * leg + V3::Y * (0.3 * leg)
        });
        let goals = Goals {
            root_pos: v3(
                root_xz[t].x,
                g0 + rig.rest[0].y - rig.floor + rig.sole,
                root_xz[t].z,
            ),
            root_rot: Q::yaw(h),
            pelvis,
            pelvis_rot,
            chest_rot,
            head_rot,
            ankle,
            foot_rot: [0, 1].map(|s| Q::yaw(foot_yaw[s]) * Q::pitch(pitch[s])),
            toe_bend: [-pitch[0], -pitch[1]],
            knee_hint,
            hand,
            hand_world,
        };
        let solved = solve(rig, &goals);
        local.extend_from_slice(&solved.local);
        root.push(if rig.hips == 0 {
            pelvis
        } else {
            goals.root_pos
        });
        if let Some(o) = solved.hips_offset {
            hips_offset.push(o);
        }
        for s in 0..2 {
            let down = air < 0.003 * leg && !free[s];
            contact[s][t] = down && steps.ankle_contact[s][i];
            toe_contact[s][t] = down && steps.toe_contact[s][i];
        }
    }

    overrides::apply(
        req,
        rig,
        &mut local,
        &mut root,
        [&mut contact, &mut toe_contact],
        radius,
    );
    if req.looped {
        overrides::close_loop(&mut local, &mut root, j_len);
    }

    let mut contacts = Vec::new();
    for s in 0..2 {
        contacts.push((rig.legs[s].foot, contact[s].clone()));
        if let Some(toe) = rig.legs[s].toe {
            contacts.push((toe, toe_contact[s].clone()));
        }
    }
    Sample {
        local,
        root,
        hips_offset: if rig.hips == 0 {
            None
        } else {
            Some(hips_offset)
        },
        contacts,
    }
}
