//! From body goals (where the pelvis, feet and hands should be, how the
//! trunk and head turn) to the local rotations of a request skeleton.
//!
//! Rotations are local-to-parent and replace the rest rotation; rest
//! rotations are taken as identity (gltf-output.md §5), so a joint's world
//! rotation is the rotation of its rest-pose bone in world-aligned axes.
//! Aiming a bone therefore means rotating its rest direction onto the wanted
//! one, whatever rest pose (T, A) the rig was built in.

use crate::math::{Q, V3};
use crate::rig::Rig;

/// Everything the solver needs for one frame, in world space unless noted.
#[derive(Clone, Debug)]
pub struct Goals {
    /// World position of the root joint when it is not the hips (a ground
    /// root as in Unreal rigs); it turns with `root_rot`.
    pub root_pos: V3,
    pub root_rot: Q,
    /// World position and rotation of the hips joint.
    pub pelvis: V3,
    pub pelvis_rot: Q,
    /// World rotation of the top of the spine and of the head.
    pub chest_rot: Q,
    pub head_rot: Q,
    /// Ankle target, foot world rotation, toe bend (local, about X) and a
    /// point the knee should bend toward, per side (0 left, 1 right).
    pub ankle: [V3; 2],
    pub foot_rot: [Q; 2],
    pub toe_bend: [f64; 2],
    pub knee_hint: [V3; 2],
    /// Hand target relative to the shoulder, in the chest's frame; then a
    /// world-space target and its weight (effector targets).
    pub hand: [V3; 2],
    pub hand_world: [Option<(V3, f64)>; 2],
}

/// One frame on the request skeleton.
pub struct Solved {
    pub local: Vec<Q>,
    /// World positions (for the hips' translation and for checks).
    pub world: Vec<V3>,
    /// The hips' offset from its parent when the hips are not the root.
    pub hips_offset: Option<V3>,
}

/// The middle joint of a two-bone chain from `a` reaching for `target`,
/// bending toward `hint`. The chain stretches no further than it can.
pub fn two_bone(a: V3, target: V3, l1: f64, l2: f64, hint: V3) -> V3 {
    let to = target - a;
    let mut d = to.len();
    let u = if d > 1e-9 {
        to * (1.0 / d)
    } else {
        V3::Y * -1.0
    };
    d = d.clamp((l1 - l2).abs() + 1e-6, l1 + l2 - 1e-6);
    let along = (l1 * l1 - l2 * l2 + d * d) / (2.0 * d);
    let h = (l1 * l1 - along * along).max(0.0).sqrt();
    let hv = hint - a;
    let mut w = (hv - u * hv.dot(u)).norm();
    if w.len() < 0.5 {
        // No usable hint: bend toward any perpendicular.
        w = u.cross(crate::math::v3(1.0, 0.0, 0.0)).norm();
        if w.len() < 0.5 {
            w = u.cross(crate::math::v3(0.0, 0.0, 1.0)).norm();
        }
    }
    a + u * along + w * h
}

/// Where an elbow points, in the chest's frame, for a hand `to` (relative
/// to the shoulder): back while the hand is low, down and out as it rises.
/// Never near the line to the hand, so the elbow cannot flip sides.
fn elbow_direction(to: V3, sign: f64) -> V3 {
    let low = crate::math::smoothstep(-to.norm().y / 0.5);
    let raised = crate::math::v3(sign * 0.6, -1.0, -0.3);
    let hanging = crate::math::v3(sign * 0.35, -0.5, -1.0);
    raised.lerp(hanging, low)
}

/// Solves one frame: walks the joints parents-first, giving each body part
/// its world rotation and every other joint its rest (identity) local one.
pub fn solve(rig: &Rig, g: &Goals) -> Solved {
    let n = rig.joints.len();
    let mut rot = vec![Q::ID; n];
    let mut pos = vec![V3::ZERO; n];
    let mut local = vec![Q::ID; n];
    let mut hips_offset = None;
    let spine_len = rig.spine.len();
    // Each hand's target, fixed when its upper arm is placed, for the forearm.
    let mut hand_target = [V3::ZERO; 2];
    for j in 0..n {
        let parent = rig.joints[j].parent;
        let (prot, ppos) = match parent {
            Some(p) => (rot[p], pos[p]),
            None => (Q::ID, V3::ZERO),
        };
        pos[j] = match parent {
            Some(_) => ppos + prot.rotate(rig.joints[j].offset),
            None => g.root_pos,
        };
        // Rest direction of the bone from `j` to a descendant, carried by
        // the parent's rotation (joints in between stay at rest).
        let bone = |child: usize| prot.rotate(rig.rest[child] - rig.rest[j]);
        let world = if j == rig.hips {
            if parent.is_some() {
                hips_offset = Some(prot.conj().rotate(g.pelvis - ppos));
            }
            pos[j] = g.pelvis;
            g.pelvis_rot
        } else if parent.is_none() {
            g.root_rot
        } else if let Some(k) = rig.spine.iter().position(|&s| s == j) {
            g.pelvis_rot
                .slerp(g.chest_rot, (k + 1) as f64 / spine_len as f64)
        } else if Some(j) == rig.neck {
            g.chest_rot.slerp(g.head_rot, 0.5)
        } else if j == rig.head {
            g.head_rot
        } else if let Some(s) = (0..2).find(|&s| rig.legs[s].thigh == j) {
            let (l1, l2) = rig.leg_length(s);
            let knee = two_bone(pos[j], g.ankle[s], l1, l2, g.knee_hint[s]);
            Q::from_to(bone(rig.legs[s].shin), knee - pos[j]) * prot
        } else if let Some(s) = (0..2).find(|&s| rig.legs[s].shin == j) {
            Q::from_to(bone(rig.legs[s].foot), g.ankle[s] - pos[j]) * prot
        } else if let Some(s) = (0..2).find(|&s| rig.legs[s].foot == j) {
            g.foot_rot[s]
        } else if let Some(s) = (0..2).find(|&s| rig.legs[s].toe == Some(j)) {
            prot * Q::pitch(g.toe_bend[s])
        } else if let Some(s) = (0..2).find(|&s| rig.arms[s].upper == j) {
            let (l1, l2) = rig.arm_length(s);
            let mut target = pos[j] + prot.rotate(g.hand[s]);
            if let Some((w, wt)) = g.hand_world[s] {
                // Around the shoulder, not straight across: a straight line
                // from a low hand to a high target passes the shoulder.
                let (from, to) = (target - pos[j], w - pos[j]);
                let dir = crate::math::slerp_dir(from, to, wt);
                let reach = from.len() + (to.len() - from.len()) * wt;
                target = if wt >= 1.0 { w } else { pos[j] + dir * reach };
            }
            hand_target[s] = target;
            let sign = if s == 0 { 1.0 } else { -1.0 };
            let hint =
                pos[j] + prot.rotate(elbow_direction(prot.conj().rotate(target - pos[j]), sign));
            let elbow = two_bone(pos[j], target, l1, l2, hint);
            // Swing the arm first to a reference pointing down, out and
            // forward, then to the elbow: one shortest swing from the rest
            // pose would flip for elbows pointing opposite the rest arm
            // (up and inward for an A-pose rig).
            let reference = prot.rotate(crate::math::v3(sign * 0.35, -0.75, 0.55));
            Q::from_to(reference, elbow - pos[j])
                * Q::from_to(bone(rig.arms[s].fore), reference)
                * prot
        } else if let Some(s) = (0..2).find(|&s| rig.arms[s].fore == j) {
            Q::from_to(bone(rig.arms[s].hand), hand_target[s] - pos[j]) * prot
        } else {
            prot
        };
        rot[j] = world.normalize();
        local[j] = (prot.conj() * rot[j]).normalize().canonical();
    }
    Solved {
        local,
        world: pos,
        hips_offset,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::math::v3;

    #[test]
    fn two_bone_reaches_reachable_targets() {
        let a = v3(0.0, 1.0, 0.0);
        let t = v3(0.2, 0.3, 0.3);
        let m = two_bone(a, t, 0.45, 0.45, v3(0.0, 0.6, 1.0));
        assert!(((m - a).len() - 0.45).abs() < 1e-9);
        assert!(((t - m).len() - 0.45).abs() < 1e-9);
        assert!(m.z > 0.1, "bends toward the hint");
    }
}
