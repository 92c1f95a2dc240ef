//! MMCP constraints -> Kimodo's (observed, mask) rows (fact sheet §2.4),
//! translated the way motionmcp-kimodo does it (§7.3) and, where both are
//! silent, the way the NumPy reference `tests/python/kimodo/constraints.py`
//! does it (its README, "Decisions" 11): `from_mmcp` turns one MMCP
//! constraint into one of Kimodo's constraint sets, `build_conditions`
//! writes the sets into un-normalised world-space feature rows plus a 0/1
//! mask.
//!
//! The rows are built once for the whole timeline; a segment takes its own
//! frames (for segments after the first, the smooth root x, z are then
//! translated with the transition, §2.5). That equals the reference's
//! crop-then-build because every entry belongs to one frame and joint
//! positions are stored relative to that frame's smooth root (§1.4), which
//! the translation does not change.

use std::collections::BTreeMap;

use motionmcp_guest::{
    Constraint, EffectorTarget, ErrorCode, FillMode, GenerateRequest, PoseKeyframe, ProtocolError,
    RootPath,
};

use crate::cpu::{self, Group, Mat3, IDENTITY, JOINT_NAMES, MOTION_DIM, NUM_JOINTS};

/// The MMCP constraint types this backbone takes (motionmcp-kimodo's, §7.3).
pub const SUPPORTED: [&str; 3] = ["root_path", "effector_target", "pose_keyframe"];

/// Feature offsets (§1.4).
const HEADING: usize = 3;
const LOCAL_POS: usize = 5;
const ROT: usize = 95;

/// One of Kimodo's constraint sets (§2.4), with the values it writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Set {
    /// `Root2DConstraintSet`: smooth root x, z and optionally the heading
    /// (cos, sin) at each frame.
    Root2d {
        frames: Vec<usize>,
        xz: Vec<[f32; 2]>,
        heading: Option<Vec<[f32; 2]>>,
    },
    /// `FullBodyConstraintSet` (`groups` = None) or `EndEffectorConstraintSet`
    /// on `groups`: a whole pose per frame (global joint positions and
    /// global rotations) and the smooth root x, z of that frame. Both also
    /// pin root y (the pelvis y of the pose) and the pose's heading.
    Pose {
        frames: Vec<usize>,
        positions: Vec<[[f32; 3]; NUM_JOINTS]>,
        rots: Vec<[Mat3; NUM_JOINTS]>,
        xz: Vec<[f32; 2]>,
        groups: Option<Vec<Group>>,
    },
}

fn check_frame(f: u32, total: usize) -> Result<usize, ProtocolError> {
    let f = f as usize;
    if f >= total {
        return Err(ProtocolError::frame_out_of_range(f as i64, total as u64));
    }
    Ok(f)
}

fn check_frames(frames: &[u32], total: usize) -> Result<Vec<usize>, ProtocolError> {
    frames.iter().map(|&f| check_frame(f, total)).collect()
}

/// The host checks lengths before the guest sees a request (422); refused
/// here too rather than indexing past the end.
fn check_len(what: &str, len: usize, frames: usize) -> Result<(), ProtocolError> {
    if len != frames {
        return Err(ProtocolError::invalid_request(format!(
            "{what} has {len} entries for {frames} frames"
        )));
    }
    Ok(())
}

fn skeleton_names() -> Vec<String> {
    JOINT_NAMES.iter().map(|s| s.to_string()).collect()
}

/// `unknown_joint` as the SDK builds it (details: the sorted skeleton
/// joints), with a message that names the field.
fn unknown_joint(field: &str, joint: &str) -> ProtocolError {
    let mut e = ProtocolError::unknown_joint(joint, &skeleton_names(), "model's skeleton");
    e.message = format!("{field}: {}", e.message);
    e
}

/// A quaternion as f32, normalised in f64 first (scaled by its largest
/// component, so no square overflows): the host lets any finite numbers
/// through, and 1e20 squared is infinite in f32. Zero stays zero (the
/// identity, as `quat_to_matrix` reads it).
fn f32x4(q: (f64, f64, f64, f64)) -> [f32; 4] {
    let v = [q.0, q.1, q.2, q.3];
    let m = v.iter().fold(0.0f64, |m, c| m.max(c.abs()));
    if m == 0.0 {
        return [0.0; 4];
    }
    let v = v.map(|c| c / m);
    let n = v.iter().map(|c| c * c).sum::<f64>().sqrt();
    v.map(|c| (c / n) as f32)
}

/// Whether every value a set writes is finite: a coordinate past f32's
/// range (the host accepts any finite JSON number) would otherwise become
/// infinity here and NaN in the generated motion.
fn finite(set: &Set) -> bool {
    let ok = |v: &[f32]| v.iter().all(|x| x.is_finite());
    match set {
        Set::Root2d { xz, heading, .. } => {
            xz.iter().all(|p| ok(p)) && heading.iter().flatten().all(|h| ok(h))
        }
        Set::Pose {
            positions,
            rots,
            xz,
            ..
        } => {
            xz.iter().all(|p| ok(p))
                && positions.iter().flatten().all(|p| ok(p))
                && rots.iter().flatten().flatten().all(|r| ok(r))
        }
    }
}

fn root_path(p: &RootPath, total: usize) -> Result<Set, ProtocolError> {
    let frames = check_frames(&p.frames, total)?;
    check_len("root_path.positions_xz", p.positions_xz.len(), frames.len())?;
    // cos/sin in double, stored f32 (reference "Decisions" 11).
    let heading = match &p.heading_radians {
        None => None,
        Some(h) => {
            check_len("root_path.heading_radians", h.len(), frames.len())?;
            Some(h.iter().map(|a| [a.cos() as f32, a.sin() as f32]).collect())
        }
    };
    Ok(Set::Root2d {
        frames,
        xz: p
            .positions_xz
            .iter()
            .map(|&(x, z)| [x as f32, z as f32])
            .collect(),
        heading,
    })
}

/// motionmcp-kimodo's effector target (§7.3): the standing rest pose with the
/// target joint moved onto the target and its chain rotated rigidly about
/// it, as an end-effector set on the joint's chain. The chain's rotation
/// (`pin`) is the given quaternion, used as the joint's *global* rotation
/// as motionmcp-kimodo does (although MMCP calls it local), else the
/// rotation that turns the standing reach direction (anchor -> joint) onto
/// the reach to the target. The smooth root x, z are the target's x, z (the
/// root follows the target, §7.3 quirk (c)); root y and heading come from
/// the standing pose (§2.4).
fn effector_target(e: &EffectorTarget, total: usize) -> Result<Set, ProtocolError> {
    let j = cpu::joint_index(&e.joint)
        .ok_or_else(|| unknown_joint("effector_target.joint", &e.joint))?;
    let group = Group::of_joint(j).filter(|g| *g != Group::Hips);
    let Some(group) = group else {
        let chains: Vec<&str> = [
            Group::LeftHand,
            Group::RightHand,
            Group::LeftFoot,
            Group::RightFoot,
        ]
        .iter()
        .flat_map(|g| g.chain().iter().map(|&c| JOINT_NAMES[c]))
        .collect();
        // The joint is one of JOINT_NAMES here, so it needs no escaping.
        // Details as for any unknown joint (spec M7), listing the ones
        // Kimodo can pin.
        return Err(ProtocolError::new(
            ErrorCode::UnknownJoint,
            format!(
                "effector_target.joint '{}' is not in a hand or foot chain; Kimodo pins only {}",
                e.joint,
                chains.join(", ")
            ),
        )
        .with_details(serde_json::json!({ "constrainable_joints": chains })));
    };
    let frames = check_frames(&e.frames, total)?;
    let n = frames.len();
    check_len("effector_target.positions", e.positions.len(), n)?;
    let targets: Vec<[f32; 3]> = e
        .positions
        .iter()
        .map(|&(x, y, z)| [x as f32, y as f32, z as f32])
        .collect();
    let neutral = cpu::standing_neutral();
    let pins: Vec<Mat3> = match &e.rotations {
        Some(r) => {
            check_len("effector_target.rotations", r.len(), n)?;
            r.iter().map(|&q| cpu::quat_to_matrix(f32x4(q))).collect()
        }
        None => {
            let anchor = neutral[group.anchor().expect("hand and foot groups have an anchor")];
            let rest_reach = cpu::sub(neutral[j], anchor);
            let rest_len = cpu::norm(rest_reach);
            targets
                .iter()
                .map(|&t| {
                    let reach = cpu::sub(t, anchor);
                    let len = cpu::norm(reach);
                    if rest_len > 1e-6 && len >= 1e-6 {
                        cpu::rotation_between(
                            rest_reach.map(|c| c / rest_len),
                            reach.map(|c| c / len),
                        )
                    } else {
                        IDENTITY
                    }
                })
                .collect()
        }
    };
    let mut positions = vec![neutral; n];
    for (k, pose) in positions.iter_mut().enumerate() {
        for &c in group.chain() {
            let rel = cpu::sub(neutral[c], neutral[j]);
            pose[c] = cpu::add(targets[k], cpu::mat_vec(&pins[k], rel));
        }
    }
    // Only the target joint carries the pin; the set writes the chain base's
    // rotation, so a target on HandMiddleEnd / ToeBase pins the base to the
    // identity (the reference's choice).
    let rots = pins
        .iter()
        .map(|pin| {
            let mut r = [IDENTITY; NUM_JOINTS];
            r[j] = *pin;
            r
        })
        .collect();
    Ok(Set::Pose {
        frames,
        positions,
        rots,
        xz: targets.iter().map(|t| [t[0], t[2]]).collect(),
        groups: Some(vec![group]),
    })
}

/// motionmcp-kimodo's pose keyframe (§7.3): FK of the listed local rotations
/// (every other joint identity) at `root_position`, else at the standing
/// root (0, 0.98871, 0); a full-body set when `fill_mode` is rest or no
/// listed joint lies in a chain, else an end-effector set on the chains of
/// the listed joints (the pelvis counts as the `Hips` group). The smooth
/// root x, z are the root's.
fn pose_keyframe(p: &PoseKeyframe, total: usize) -> Result<Set, ProtocolError> {
    let frame = check_frame(p.frame, total)?;
    let mut local = [IDENTITY; NUM_JOINTS];
    let mut groups: Vec<Group> = Vec::new();
    for (name, q) in &p.joint_rotations {
        let j = cpu::joint_index(name)
            .ok_or_else(|| unknown_joint("pose_keyframe.joint_rotations", name))?;
        local[j] = cpu::quat_to_matrix(f32x4(*q));
        if let Some(g) = Group::of_joint(j) {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    let root = match p.root_position {
        Some((x, y, z)) => [x as f32, y as f32, z as f32],
        None => [0.0, cpu::standing_root_height() as f32, 0.0],
    };
    let pose = cpu::fk(&local, root);
    let mut rots = [IDENTITY; NUM_JOINTS];
    rots.copy_from_slice(&pose.global);
    let full = p.fill_mode == FillMode::Rest || groups.is_empty();
    Ok(Set::Pose {
        frames: vec![frame],
        positions: vec![pose.posed],
        rots: vec![rots],
        xz: vec![[root[0], root[2]]],
        groups: (!full).then_some(groups),
    })
}

/// One MMCP constraint -> one constraint set, or the refusal
/// motionmcp-kimodo gives (§7.3): `frame_out_of_range`, `unknown_joint`,
/// `unsupported_constraint` (ground_height).
pub fn from_mmcp(c: &Constraint, total: usize) -> Result<Set, ProtocolError> {
    match c {
        Constraint::RootPath(p) => root_path(p, total),
        Constraint::EffectorTarget(e) => effector_target(e, total),
        Constraint::PoseKeyframe(p) => pose_keyframe(p, total),
        Constraint::GroundHeight(_) => Err(ProtocolError::unsupported_constraint(
            "ground_height",
            &SUPPORTED.map(String::from),
        )),
    }
}

/// Kimodo's collected constraint values per feature key (its
/// `update_constraints`); a (frame[, joint]) given again keeps the first
/// (§2.4).
#[derive(Default)]
struct Entries {
    root_xz: BTreeMap<usize, [f32; 2]>,
    root_y: BTreeMap<usize, f32>,
    heading: BTreeMap<usize, [f32; 2]>,
    rots: BTreeMap<(usize, usize), Mat3>,
    positions: BTreeMap<(usize, usize), [f32; 3]>,
}

fn entries(sets: &[Set]) -> Entries {
    let mut e = Entries::default();
    for set in sets {
        match set {
            Set::Root2d {
                frames,
                xz,
                heading,
            } => {
                for (i, &f) in frames.iter().enumerate() {
                    e.root_xz.entry(f).or_insert(xz[i]);
                    if let Some(h) = heading {
                        e.heading.entry(f).or_insert(h[i]);
                    }
                }
            }
            Set::Pose {
                frames,
                positions,
                rots,
                xz,
                groups,
            } => {
                // Full body: every joint's position, no rotation (§2.4);
                // effectors: the chains' positions and the bases' rotations.
                let (pos_j, rot_j): (Vec<usize>, Vec<usize>) = match groups {
                    None => ((0..NUM_JOINTS).collect(), Vec::new()),
                    Some(gs) => (
                        gs.iter().flat_map(|g| g.chain().iter().copied()).collect(),
                        gs.iter().map(|g| g.base()).collect(),
                    ),
                };
                for (i, &f) in frames.iter().enumerate() {
                    for &j in &pos_j {
                        e.positions.entry((f, j)).or_insert(positions[i][j]);
                    }
                    for &j in &rot_j {
                        e.rots.entry((f, j)).or_insert(rots[i][j]);
                    }
                }
                for (i, &f) in frames.iter().enumerate() {
                    e.root_xz.entry(f).or_insert(xz[i]);
                    e.root_y.entry(f).or_insert(positions[i][0][1]);
                    let h = cpu::heading_from_joints(&positions[i]);
                    e.heading.entry(f).or_insert([h.cos(), h.sin()]);
                }
            }
        }
    }
    e
}

/// (observed, mask) [length, 369] of the sets: un-normalised world-space
/// values, mask 0/1 (§2.4). Joint positions are stored relative to the
/// frame's smooth root (x, 0, z) — the constrained one, so a frame whose
/// smooth root is not constrained cannot take positions (never the case
/// for sets from `from_mmcp`, which all carry their x, z).
pub fn build_conditions(
    sets: &[Set],
    length: usize,
) -> Result<(Vec<f32>, Vec<f32>), ProtocolError> {
    let mut obs = vec![0.0f32; length * MOTION_DIM];
    let mut mask = vec![0.0f32; length * MOTION_DIM];
    let e = entries(sets);
    let mut put = |f: usize, dim: usize, vals: &[f32]| {
        let at = f * MOTION_DIM + dim;
        obs[at..at + vals.len()].copy_from_slice(vals);
        mask[at..at + vals.len()].fill(1.0);
    };
    for (&f, v) in &e.root_xz {
        put(f, 0, &[v[0]]);
        put(f, 2, &[v[1]]);
    }
    for (&f, &y) in &e.root_y {
        put(f, 1, &[y]);
    }
    for (&f, v) in &e.heading {
        put(f, HEADING, v);
    }
    for (&(f, j), r) in &e.rots {
        put(f, ROT + 6 * j, &cpu::matrix_to_cont6d(r));
    }
    for (&(f, j), p) in &e.positions {
        let Some(&[x, z]) = e.root_xz.get(&f) else {
            return Err(ProtocolError::internal(format!(
                "frame {f}: constraining joint positions needs the smooth root x, z of that frame"
            )));
        };
        put(f, LOCAL_POS + 3 * j, &[p[0] - x, p[1] - 0.0, p[2] - z]);
    }
    Ok((obs, mask))
}

/// (observed, mask) [frames, 369] of the request's constraints over the
/// whole timeline; `None` without constraints.
#[allow(clippy::type_complexity)]
pub fn conditions(
    req: &GenerateRequest,
    frames: usize,
) -> Result<Option<(Vec<f32>, Vec<f32>)>, ProtocolError> {
    if req.constraints.is_empty() {
        return Ok(None);
    }
    let mut sets = Vec::with_capacity(req.constraints.len());
    for (i, c) in req.constraints.iter().enumerate() {
        let set = from_mmcp(c, frames)?;
        if !finite(&set) {
            return Err(ProtocolError::invalid_request(format!(
                "constraints[{i}] holds a coordinate too large for float32 (|x| < 3.4e38)"
            )));
        }
        sets.push(set);
    }
    build_conditions(&sets, frames).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn effector(joint: &str, frames: &[u32], positions: &[[f64; 3]]) -> EffectorTarget {
        EffectorTarget {
            joint: joint.into(),
            frames: frames.to_vec(),
            positions: positions.iter().map(|p| (p[0], p[1], p[2])).collect(),
            rotations: None,
        }
    }

    fn constrained(mask: &[f32], f: usize) -> Vec<usize> {
        (0..MOTION_DIM)
            .filter(|&d| mask[f * MOTION_DIM + d] == 1.0)
            .collect()
    }

    fn dims(ranges: &[(usize, usize)]) -> Vec<usize> {
        let mut v: Vec<usize> = ranges.iter().flat_map(|&(a, n)| a..a + n).collect();
        v.sort();
        v
    }

    #[test]
    fn values_past_f32_are_caught_and_huge_quaternions_keep_their_direction() {
        let far = from_mmcp(
            &Constraint::EffectorTarget(effector("LeftHand", &[0], &[[1e39, 1.0, 0.0]])),
            10,
        )
        .unwrap();
        assert!(!finite(&far));
        let near = from_mmcp(
            &Constraint::EffectorTarget(effector("LeftHand", &[0], &[[0.3, 1.0, 0.2]])),
            10,
        )
        .unwrap();
        assert!(finite(&near));
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let q = f32x4((0.0, 0.0, 1e30, 1e30));
        assert!(
            q.iter()
                .zip([0.0, 0.0, h, h])
                .all(|(a, b)| (a - b).abs() < 1e-7),
            "{q:?}"
        );
        assert_eq!(f32x4((0.0, 0.0, 0.0, 0.0)), [0.0; 4]);
    }

    #[test]
    fn an_effector_pins_its_chain_base_rotation_root_and_heading() {
        let c = Constraint::EffectorTarget(effector("LeftHand", &[3], &[[0.6, 1.3, 0.4]]));
        let set = from_mmcp(&c, 10).unwrap();
        let (o, m) = build_conditions(&[set], 10).unwrap();
        // LeftHand (13) + LeftHandMiddleEnd (15) positions, LeftHand's 6D,
        // root x, y, z and the heading; nothing at other frames.
        let want = dims(&[(0, 5), (5 + 3 * 13, 3), (5 + 3 * 15, 3), (95 + 6 * 13, 6)]);
        assert_eq!(constrained(&m, 3), want);
        assert!(m[..3 * MOTION_DIM].iter().all(|&v| v == 0.0));
        assert!(m[4 * MOTION_DIM..].iter().all(|&v| v == 0.0));
        let row = &o[3 * MOTION_DIM..4 * MOTION_DIM];
        // The root follows the target's x, z; the hand sits on the target.
        assert_eq!((row[0], row[2]), (0.6, 0.4));
        assert!((row[1] - 0.98871).abs() < 1e-6);
        assert_eq!(&row[5 + 39..5 + 42], &[0.0, 1.3, 0.0]);
        // Heading of the standing pose: atan2(0.00024, 0.2009), about 0.
        assert!((row[3] - 1.0).abs() < 1e-5 && row[4].abs() < 2e-3);
        // The reach rotation keeps the chain's length and points it away
        // from the shoulder.
        let neutral = cpu::standing_neutral();
        let mid = [row[5 + 45] + 0.6, row[5 + 46], row[5 + 47] + 0.4];
        let len = cpu::norm(cpu::sub(mid, [0.6, 1.3, 0.4]));
        let rest_len = cpu::norm(cpu::sub(neutral[15], neutral[13]));
        assert!((len - rest_len).abs() < 1e-5);
    }

    #[test]
    fn a_foot_target_with_a_rotation_pins_it_globally() {
        let mut e = effector("RightFoot", &[0, 1], &[[0.1, 0.2, 0.3], [0.0, 0.1, 0.0]]);
        let h = std::f64::consts::FRAC_1_SQRT_2;
        e.rotations = Some(vec![(0.0, h, 0.0, h), (0.0, 0.0, 0.0, 1.0)]);
        let set = from_mmcp(&Constraint::EffectorTarget(e), 2).unwrap();
        let (o, m) = build_conditions(&[set], 2).unwrap();
        let want = dims(&[(0, 5), (5 + 3 * 28, 3), (5 + 3 * 29, 3), (95 + 6 * 28, 6)]);
        assert_eq!(constrained(&m, 0), want);
        // 90° about +Y: x -> -z, y stays.
        let six = &o[95 + 6 * 28..101 + 6 * 28];
        for (a, b) in six.iter().zip([0.0, 0.0, -1.0, 0.0, 1.0, 0.0]) {
            assert!((a - b).abs() < 1e-6, "{six:?}");
        }
        // The toe is the rest foot->toe offset turned by the pin.
        let neutral = cpu::standing_neutral();
        let rel = cpu::sub(neutral[29], neutral[28]);
        let toe = &o[5 + 3 * 29..8 + 3 * 29];
        let want = [0.1 + rel[2] - 0.1, 0.2 + rel[1], 0.3 - rel[0] - 0.3];
        for (a, b) in toe.iter().zip(want) {
            assert!((a - b).abs() < 1e-6, "{toe:?} {want:?}");
        }
    }

    #[test]
    fn a_target_on_the_chain_end_leaves_the_base_at_identity() {
        let set = from_mmcp(
            &Constraint::EffectorTarget(effector("LeftToeBase", &[0], &[[0.3, 0.0, 0.5]])),
            1,
        )
        .unwrap();
        let (o, m) = build_conditions(&[set], 1).unwrap();
        assert_eq!(&m[95 + 6 * 24..101 + 6 * 24], &[1.0; 6]);
        assert_eq!(
            &o[95 + 6 * 24..101 + 6 * 24],
            &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        );
        assert_eq!(&o[5 + 3 * 25..8 + 3 * 25], &[0.0, 0.0, 0.0]);
    }

    #[test]
    fn duplicate_frame_and_joint_keeps_the_first() {
        let a = effector("LeftHand", &[2, 2], &[[1.0, 1.0, 1.0], [5.0, 5.0, 5.0]]);
        let b = Constraint::RootPath(RootPath {
            frames: vec![2],
            positions_xz: vec![(9.0, 9.0)],
            heading_radians: Some(vec![1.0]),
        });
        let sets = vec![
            from_mmcp(&Constraint::EffectorTarget(a), 4).unwrap(),
            from_mmcp(&b, 4).unwrap(),
        ];
        let (o, _) = build_conditions(&sets, 4).unwrap();
        let row = &o[2 * MOTION_DIM..3 * MOTION_DIM];
        assert_eq!((row[0], row[2]), (1.0, 1.0));
        assert_eq!(&row[5 + 39..5 + 42], &[0.0, 1.0, 0.0]);
        assert!((row[3] - 1.0).abs() < 1e-5);
        // The other order: positions are relative to the root path's x, z.
        let sets = [sets[1].clone(), sets[0].clone()];
        let (o, _) = build_conditions(&sets, 4).unwrap();
        let row = &o[2 * MOTION_DIM..3 * MOTION_DIM];
        assert_eq!((row[0], row[2]), (9.0, 9.0));
        assert_eq!(&row[5 + 39..5 + 42], &[-8.0, 1.0, -8.0]);
        assert_eq!((row[3], row[4]), (1f64.cos() as f32, 1f64.sin() as f32));
    }

    #[test]
    fn joints_outside_the_chains_are_refused() {
        for joint in ["Hips", "Head", "LeftHandThumbEnd", "Spine1"] {
            let c = Constraint::EffectorTarget(effector(joint, &[0], &[[0.0, 1.0, 0.0]]));
            let e = from_mmcp(&c, 5).unwrap_err();
            assert_eq!(e.code, ErrorCode::UnknownJoint, "{joint}");
            assert!(e.message.contains(joint) && e.message.contains("chain"));
        }
        let c = Constraint::EffectorTarget(effector("Tail", &[0], &[[0.0, 1.0, 0.0]]));
        let e = from_mmcp(&c, 5).unwrap_err();
        assert_eq!(e.code, ErrorCode::UnknownJoint);
        assert!(e.message.contains("'Tail'"));
        let p = Constraint::PoseKeyframe(PoseKeyframe {
            frame: 0,
            joint_rotations: vec![("Tail".into(), (0.0, 0.0, 0.0, 1.0))],
            root_position: None,
            fill_mode: FillMode::Generate,
        });
        assert_eq!(from_mmcp(&p, 5).unwrap_err().code, ErrorCode::UnknownJoint);
        let c = Constraint::EffectorTarget(effector("LeftFoot", &[5], &[[0.0, 0.0, 0.0]]));
        let e = from_mmcp(&c, 5).unwrap_err();
        assert_eq!(e.code, ErrorCode::FrameOutOfRange);
        let g = Constraint::GroundHeight(motionmcp_guest::GroundHeight {
            points: vec![(0.0, 0.0, 0.0)],
        });
        assert_eq!(
            from_mmcp(&g, 5).unwrap_err().code,
            ErrorCode::UnsupportedConstraint
        );
    }

    #[test]
    fn pose_keyframes_are_full_body_or_effector_sets() {
        // fill_mode rest: all 30 positions, root x, y, z, heading, no rotation.
        let rest = PoseKeyframe {
            frame: 1,
            joint_rotations: vec![("LeftArm".into(), (0.0, 0.0, 0.3, 0.95))],
            root_position: Some((1.0, 0.9, 2.0)),
            fill_mode: FillMode::Rest,
        };
        let (o, m) = build_conditions(
            &[from_mmcp(&Constraint::PoseKeyframe(rest.clone()), 3).unwrap()],
            3,
        )
        .unwrap();
        assert_eq!(constrained(&m, 1), dims(&[(0, 95)]));
        assert_eq!(&o[MOTION_DIM..MOTION_DIM + 3], &[1.0, 0.9, 2.0]);
        assert_eq!(&o[MOTION_DIM + 5..MOTION_DIM + 8], &[0.0, 0.9, 0.0]);
        // No chain joint listed: full body even with fill_mode generate.
        let generate = PoseKeyframe {
            fill_mode: FillMode::Generate,
            ..rest.clone()
        };
        let (_, m2) = build_conditions(
            &[from_mmcp(&Constraint::PoseKeyframe(generate.clone()), 3).unwrap()],
            3,
        )
        .unwrap();
        assert_eq!(m2, m);
        // A hand and the pelvis listed: those chains, their bases' rotations.
        let ee = PoseKeyframe {
            joint_rotations: vec![
                ("RightHandMiddleEnd".into(), (0.0, 0.0, 0.0, 1.0)),
                ("Hips".into(), (0.0, 0.2, 0.0, 1.0)),
            ],
            root_position: None,
            ..generate
        };
        let (o, m) =
            build_conditions(&[from_mmcp(&Constraint::PoseKeyframe(ee), 3).unwrap()], 3).unwrap();
        let want = dims(&[
            (0, 5),
            (5 + 3 * 19, 3),
            (5 + 3 * 21, 3),
            (5, 3),
            (95 + 6 * 19, 6),
            (95, 6),
        ]);
        assert_eq!(constrained(&m, 1), want);
        // Standing root at the origin; the pelvis turned about +Y.
        let row = &o[MOTION_DIM..2 * MOTION_DIM];
        assert_eq!((row[0], row[2]), (0.0, 0.0));
        assert!((row[1] - 0.98871).abs() < 1e-6);
        let want_heading = 2.0 * (0.2f32).atan2(1.0);
        assert!((row[4].atan2(row[3]) - want_heading).abs() < 3e-3);
    }

    #[test]
    fn constraints_of_a_request_cover_the_timeline() {
        let sets = vec![from_mmcp(
            &Constraint::RootPath(RootPath {
                frames: vec![0, 4],
                positions_xz: vec![(0.5, 1.5), (1.0, 2.0)],
                heading_radians: None,
            }),
            5,
        )
        .unwrap()];
        let (o, m) = build_conditions(&sets, 5).unwrap();
        assert_eq!(constrained(&m, 0), vec![0, 2]);
        assert_eq!(constrained(&m, 4), vec![0, 2]);
        assert_eq!((o[4 * MOTION_DIM], o[4 * MOTION_DIM + 2]), (1.0, 2.0));
        assert!(constrained(&m, 2).is_empty());
    }
}
