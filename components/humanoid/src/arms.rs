//! Where a hand goes, relative to its shoulder in the chest's frame:
//! counter-swinging to the legs, or a gesture (wave, point, clap).

use crate::math::{slerp_dir, v3, Q, V3};

/// How the arm is carried when no gesture takes it.
pub struct Carriage {
    /// Forward swing of the upper arm, radians (negative swings back).
    pub swing: f64,
    /// How far the arm hangs out from the body, radians.
    pub abduct: f64,
    /// Elbow bend, radians.
    pub bend: f64,
}

/// The hand's target for the arm on side `sign` (+1 left, -1 right), with
/// upper and fore arm lengths `len`, its shoulder `shoulder_half` from the
/// body's midline, gesture weights [wave, point, clap] and the clip time.
pub fn hand_target(
    sign: f64,
    len: (f64, f64),
    shoulder_half: f64,
    carriage: Carriage,
    gestures: [f64; 3],
    time: f64,
) -> V3 {
    let (l1, l2) = len;
    let la = l1 + l2;
    let down = v3(sign * carriage.abduct.sin(), -carriage.abduct.cos(), 0.0);
    let u = Q::pitch(-carriage.swing).rotate(down);
    let z = v3(0.0, 0.0, 1.0);
    let perp = (z - u * z.dot(u)).norm();
    let bend = carriage.bend;
    let swing_hand = u * l1 + (u * bend.cos() + perp * bend.sin()) * l2;
    let wave_t = std::f64::consts::TAU * 1.6 * time;
    let gap = 0.03 + 0.12 * (0.5 + 0.5 * (std::f64::consts::TAU * 2.2 * time).cos());
    let poses = [
        // Wave: above the head, side to side.
        v3(
            sign * (0.25 + 0.18 * wave_t.sin()) * la,
            0.82 * la,
            0.12 * la,
        ),
        // Point: straight ahead at shoulder height.
        v3(sign * 0.08 * la, 0.08 * la, 0.93 * la),
        // Clap: hands meeting (and parting) in front of the chest.
        v3(-sign * (shoulder_half - gap).max(0.0), -0.25 * la, 0.6 * la),
    ];
    let total: f64 = gestures.iter().sum();
    let norm = total.max(1.0);
    let keep = (1.0 - total).max(0.0);
    // Blend direction and reach from the shoulder separately: a straight
    // blend between a hanging and a raised hand would pass through the
    // shoulder and fold the arm.
    let mut dir = swing_hand.norm();
    let mut reach = swing_hand.len() * keep;
    let mut acc = keep;
    for (w, p) in gestures.iter().zip(poses) {
        let w = w / norm;
        if w > 0.0 {
            acc += w;
            dir = slerp_dir(dir, p, w / acc);
            reach += p.len() * w;
        }
    }
    dir * reach
}
