//! Foot-planted stepping. A phase oscillator runs at the cadence the speed
//! asks for; each foot's stance is a run of frames where it is planted at one
//! fixed spot (where the body will be part-way through that stance), and a
//! swing carries it from one spot to the next. Late in a stance the heel
//! lifts, pivoting about the toe, which stays put.

use crate::math::{forward, left, smoothstep, wrap, Q, V3};

/// Step timing and shape for a travel speed (m/s), for a leg of length `leg`.
#[derive(Clone, Copy, Debug)]
pub struct Stepping {
    /// Gait cycles (two steps) per second.
    pub cycle_hz: f64,
    /// Fraction of a cycle a foot is planted.
    pub duty: f64,
    pub swing_height: f64,
    pub heel_lift: f64,
}

/// Walking blends into running between these speeds (m/s).
pub const RUN_FROM: f64 = 1.9;
pub const RUN_TO: f64 = 2.6;

pub fn run_blend(speed: f64) -> f64 {
    smoothstep((speed - RUN_FROM) / (RUN_TO - RUN_FROM))
}

pub fn stepping(speed: f64, leg: f64, cadence_scale: f64) -> Stepping {
    let v = speed.max(0.0);
    // Cadence in steps per second grows with speed, faster in a run; scaled
    // by leg length so a small rig takes quicker, shorter steps.
    let size = (leg / 0.84).sqrt().max(0.3);
    let walk_steps = 1.55 + 0.33 * v.min(2.5);
    let run_steps = 2.55 + 0.12 * v;
    let r = run_blend(v);
    let steps = (walk_steps + (run_steps - walk_steps) * r) * cadence_scale / size;
    let cycle_hz = steps / 2.0;
    let mut duty = 0.64 + (0.36 - 0.64) * r;
    // Never ask a foot to stay planted for more ground than the leg covers.
    if v > 0.05 {
        duty = duty.min(0.9 * leg * cycle_hz / v);
    }
    Stepping {
        cycle_hz,
        duty: duty.max(0.2),
        swing_height: leg * (0.1 + 0.16 * r) * (0.4 + 0.6 * (v / 1.3).min(1.0)),
        heel_lift: 0.4 * (v / 1.3).min(1.0) + 0.15 * r,
    }
}

/// The body's path on the extended timeline (frames before and after the clip).
pub struct Track<'a> {
    pub fps: f64,
    pub pos: &'a [V3],
    pub heading: &'a [f64],
    pub speed: &'a [f64],
    /// Frames on which the feet should step (travelling or turning).
    pub moving: &'a [bool],
    pub leg: f64,
    pub cadence_scale: f64,
    /// Half the distance between the feet.
    pub half_width: f64,
    pub ankle_height: [f64; 2],
    /// Toe pivot relative to the ankle in rest (world-aligned).
    pub toe: [Option<V3>; 2],
    pub ground: &'a dyn Fn(f64, f64) -> f64,
    /// A fixed cycle rate (for loops): the whole clip then steps at it.
    pub fixed_hz: Option<f64>,
}

/// Per frame of the extended timeline.
pub struct Steps {
    pub phase: Vec<f64>,
    pub ankle: [Vec<V3>; 2],
    pub yaw: [Vec<f64>; 2],
    /// Foot pitch: positive lifts the heel.
    pub pitch: [Vec<f64>; 2],
    pub ankle_contact: [Vec<bool>; 2],
    pub toe_contact: [Vec<bool>; 2],
}

/// Where a foot's phase is in its own cycle (stance starts at 0).
fn foot_phase(phase: f64, side: usize) -> f64 {
    (phase + 0.5 * side as f64).rem_euclid(1.0)
}

/// Fraction of a stance at which the foot sits under the body.
const PLANT_AT: f64 = 0.42;

pub fn plan(t: &Track) -> Steps {
    let n = t.pos.len();
    let dt = 1.0 / t.fps;
    let params: Vec<Stepping> = t
        .speed
        .iter()
        .map(|&v| stepping(v, t.leg, t.cadence_scale))
        .collect();
    // The oscillator: runs while moving; when asked to stop it runs on to
    // the next moment both feet are down, and holds there.
    let mut phase = vec![0.0; n];
    let stand_duty = params[0].duty;
    let mut p = if t.fixed_hz.is_some() {
        0.0
    } else {
        0.5 + 0.5 * (stand_duty - 0.5).max(0.0)
    };
    for i in 0..n {
        if i > 0 {
            let st = params[i];
            let both_down = (0..2).all(|s| foot_phase(p, s) < st.duty);
            if let Some(hz) = t.fixed_hz {
                p += hz * dt;
            } else if t.moving[i] {
                p += st.cycle_hz.max(0.7) * dt;
            } else if !both_down {
                p += st.cycle_hz.max(0.9) * dt;
            }
        }
        phase[i] = p;
    }
    let mut out = Steps {
        phase: phase.clone(),
        ankle: [vec![V3::ZERO; n], vec![V3::ZERO; n]],
        yaw: [vec![0.0; n], vec![0.0; n]],
        pitch: [vec![0.0; n], vec![0.0; n]],
        ankle_contact: [vec![false; n], vec![false; n]],
        toe_contact: [vec![false; n], vec![false; n]],
    };
    for side in 0..2 {
        let sign = if side == 0 { 1.0 } else { -1.0 };
        let stance: Vec<bool> = (0..n)
            .map(|i| foot_phase(phase[i], side) < params[i].duty)
            .collect();
        // Runs of stance frames.
        let mut runs = Vec::new();
        let mut i = 0;
        while i < n {
            if stance[i] {
                let a = i;
                while i < n && stance[i] {
                    i += 1;
                }
                runs.push((a, i - 1));
            } else {
                i += 1;
            }
        }
        let spot = |i: usize| -> (V3, f64) {
            let h = t.heading[i];
            let mut p = t.pos[i] + left(h) * (sign * t.half_width);
            p.y = (t.ground)(p.x, p.z) + t.ankle_height[side];
            (p, h + sign * 0.06)
        };
        // Each stance's plant: the body's spot part-way through it.
        let plants: Vec<(usize, usize, V3, f64)> = runs
            .iter()
            .map(|&(a, b)| {
                // The foot goes down under where the body will be part-way
                // through the stance, or where it stops if it stops first.
                let target = |i: usize| foot_phase(phase[i], side) >= PLANT_AT * params[i].duty;
                let halted = |i: usize| i > 0 && phase[i] == phase[i - 1];
                let m = (a..=b).find(|&i| target(i) || halted(i)).unwrap_or(b);
                let (p, yaw) = spot(m);
                (a, b, p, yaw)
            })
            .collect();
        let toe = t.toe[side];
        // Ankle for a foot planted at `plant` with heel lift `pitch`: the
        // toe stays where the flat foot put it.
        let lifted = |plant: V3, yaw: f64, pitch: f64| -> V3 {
            match toe {
                Some(o) => {
                    let toe_at = plant + Q::yaw(yaw).rotate(o);
                    toe_at - (Q::yaw(yaw) * Q::pitch(pitch)).rotate(o)
                }
                None => plant,
            }
        };
        for &(a, b, plant, yaw) in &plants {
            for i in a..=b {
                let u = foot_phase(phase[i], side) / params[i].duty;
                let pitch = if toe.is_some() {
                    params[i].heel_lift * smoothstep((u - 0.6) / 0.4)
                } else {
                    0.0
                };
                out.ankle[side][i] = lifted(plant, yaw, pitch);
                out.yaw[side][i] = yaw;
                out.pitch[side][i] = pitch;
                out.toe_contact[side][i] = true;
                out.ankle_contact[side][i] = pitch <= 1e-12;
            }
        }
        // Swings between plants; before the first and after the last the
        // foot is where the body would put it.
        let mut prev: Option<(usize, V3, f64, f64)> = None;
        let mut k = 0;
        for i in 0..n {
            if k < plants.len() && i == plants[k].0 {
                let (_, b, _, _) = plants[k];
                prev = Some((b, out.ankle[side][b], out.yaw[side][b], out.pitch[side][b]));
                k += 1;
                continue;
            }
            if stance[i] {
                continue;
            }
            let next = plants.get(k).map(|&(a, _, p, y)| (a, p, y));
            let (from_i, from, from_yaw, from_pitch) = prev.unwrap_or_else(|| {
                let (p, y) = spot(i);
                (i.saturating_sub(1), p, y, 0.0)
            });
            let (to_i, to, to_yaw) = next.unwrap_or_else(|| {
                let (p, y) = spot(i);
                (i + 1, p, y)
            });
            let span = (to_i as f64 - from_i as f64).max(1.0);
            let s = ((i as f64 - from_i as f64) / span).clamp(0.0, 1.0);
            let e = smoothstep(s);
            let mut p = from.lerp(to, e);
            let h = params[i].swing_height.max(0.015);
            p.y += h * (std::f64::consts::PI * s).sin();
            out.ankle[side][i] = p;
            out.yaw[side][i] = from_yaw + wrap(to_yaw - from_yaw) * e;
            out.pitch[side][i] = from_pitch * (1.0 - smoothstep(s * 2.0));
        }
    }
    out
}

/// Forward direction of a foot.
pub fn foot_forward(yaw: f64) -> V3 {
    forward(yaw)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::v3;

    #[test]
    fn planted_feet_do_not_slide_and_steps_cover_the_ground() {
        let n = 200;
        let fps = 30.0;
        let pos: Vec<V3> = (0..n).map(|i| v3(0.0, 0.0, 1.3 * i as f64 / fps)).collect();
        let heading = vec![0.0; n];
        let speed = vec![1.3; n];
        let moving = vec![true; n];
        let ground = |_: f64, _: f64| 0.0;
        let steps = plan(&Track {
            fps,
            pos: &pos,
            heading: &heading,
            speed: &speed,
            moving: &moving,
            leg: 0.84,
            cadence_scale: 1.0,
            half_width: 0.09,
            ankle_height: [0.08, 0.08],
            toe: [Some(v3(0.0, -0.06, 0.13)); 2],
            ground: &ground,
            fixed_hz: None,
        });
        for s in 0..2 {
            for i in 1..n {
                if steps.ankle_contact[s][i] && steps.ankle_contact[s][i - 1] {
                    assert!((steps.ankle[s][i] - steps.ankle[s][i - 1]).len() < 1e-9);
                }
                assert!(steps.ankle[s][i].y >= 0.08 - 1e-9);
            }
            // The foot keeps up with the body.
            assert!((steps.ankle[s][n - 40].z - pos[n - 40].z).abs() < 0.6);
        }
    }
}
