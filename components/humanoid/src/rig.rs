//! The skeleton a request is answered on: which joint plays which part of
//! the body, read from common naming schemes (Mixamo, Unreal, SMPL, SOMA,
//! Rigify), and the rest-pose measurements the synthesis needs.

use crate::math::{v3, V3};

/// One joint of a request skeleton, parents before children.
#[derive(Clone, Debug)]
pub struct JointDef {
    pub name: String,
    pub parent: Option<usize>,
    pub offset: V3,
}

/// The canonical skeleton: Mixamo names, a 1.75 m adult in a T-pose facing
/// +Z (its left is +X), identity rest rotations, feet on Y = 0.
pub const CANONICAL: [(&str, Option<&str>, [f64; 3]); 25] = [
    ("Hips", None, [0.0, 0.98, 0.0]),
    ("Spine", Some("Hips"), [0.0, 0.10, 0.0]),
    ("Spine1", Some("Spine"), [0.0, 0.12, 0.0]),
    ("Spine2", Some("Spine1"), [0.0, 0.13, 0.0]),
    ("Neck", Some("Spine2"), [0.0, 0.15, 0.0]),
    ("Head", Some("Neck"), [0.0, 0.10, 0.02]),
    ("HeadTop_End", Some("Head"), [0.0, 0.17, 0.0]),
    ("LeftShoulder", Some("Spine2"), [0.06, 0.10, 0.0]),
    ("LeftArm", Some("LeftShoulder"), [0.12, 0.0, 0.0]),
    ("LeftForeArm", Some("LeftArm"), [0.28, 0.0, 0.0]),
    ("LeftHand", Some("LeftForeArm"), [0.25, 0.0, 0.0]),
    ("RightShoulder", Some("Spine2"), [-0.06, 0.10, 0.0]),
    ("RightArm", Some("RightShoulder"), [-0.12, 0.0, 0.0]),
    ("RightForeArm", Some("RightArm"), [-0.28, 0.0, 0.0]),
    ("RightHand", Some("RightForeArm"), [-0.25, 0.0, 0.0]),
    ("LeftUpLeg", Some("Hips"), [0.09, -0.06, 0.0]),
    ("LeftLeg", Some("LeftUpLeg"), [0.0, -0.43, 0.0]),
    ("LeftFoot", Some("LeftLeg"), [0.0, -0.41, 0.0]),
    ("LeftToeBase", Some("LeftFoot"), [0.0, -0.06, 0.13]),
    ("LeftToe_End", Some("LeftToeBase"), [0.0, 0.0, 0.07]),
    ("RightUpLeg", Some("Hips"), [-0.09, -0.06, 0.0]),
    ("RightLeg", Some("RightUpLeg"), [0.0, -0.43, 0.0]),
    ("RightFoot", Some("RightLeg"), [0.0, -0.41, 0.0]),
    ("RightToeBase", Some("RightFoot"), [0.0, -0.06, 0.13]),
    ("RightToe_End", Some("RightToeBase"), [0.0, 0.0, 0.07]),
];

#[derive(Clone, Debug)]
pub struct Leg {
    pub thigh: usize,
    pub shin: usize,
    pub foot: usize,
    pub toe: Option<usize>,
}

#[derive(Clone, Debug)]
pub struct Arm {
    pub clavicle: Option<usize>,
    pub upper: usize,
    pub fore: usize,
    pub hand: usize,
}

/// A request skeleton with its body parts found and measured.
#[derive(Clone, Debug)]
pub struct Rig {
    pub joints: Vec<JointDef>,
    /// Rest-pose world positions (rest rotations are taken as identity).
    pub rest: Vec<V3>,
    pub hips: usize,
    /// Joints from the hips (exclusive) up to the neck (exclusive).
    pub spine: Vec<usize>,
    pub neck: Option<usize>,
    pub head: usize,
    /// Index 0 is the left side, 1 the right.
    pub legs: [Leg; 2],
    pub arms: [Arm; 2],
    /// Canonical joint name -> request joint name, for every role found.
    pub mapping: Vec<(String, String)>,
    /// Lowest rest height of the feet (ankle, toe and below).
    pub floor: f64,
    /// How far the lowest foot joint sits above the ground when standing.
    pub sole: f64,
}

const PREFIXES: [&str; 8] = [
    "mixamorig:",
    "mixamorig1:",
    "mixamorig_",
    "def-",
    "org-",
    "bip01 ",
    "bip001 ",
    "b_",
];

/// (side, base name): `LeftUpLeg` -> (Some(0), "upleg"), `thigh_r` -> (Some(1), "thigh"),
/// `L_Knee` -> (Some(0), "knee").
pub fn side_base(name: &str) -> (Option<usize>, String) {
    let mut n = name.to_lowercase();
    for p in PREFIXES {
        if let Some(rest) = n.strip_prefix(p) {
            n = rest.to_string();
        }
    }
    let trim = |s: &str| s.trim_matches(|c| "_.- :".contains(c)).to_string();
    for (side, word) in [(0, "left"), (1, "right")] {
        if let Some(rest) = n.strip_prefix(word) {
            return (Some(side), trim(rest));
        }
        if let Some(rest) = n.strip_suffix(word) {
            return (Some(side), trim(rest));
        }
    }
    for (side, c) in [(0, 'l'), (1, 'r')] {
        for sep in ['_', '.', ' ', '-'] {
            if let Some(rest) = n.strip_suffix(&format!("{sep}{c}")) {
                return (Some(side), trim(rest));
            }
            if let Some(rest) = n.strip_prefix(&format!("{c}{sep}")) {
                return (Some(side), trim(rest));
            }
        }
    }
    (None, trim(&n))
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Part {
    Clavicle,
    Upper,
    Fore,
    Hand,
    Thigh,
    Shin,
    Foot,
    Toe,
}

/// The limb part a base name stands for, given the other names on that side
/// (`Leg` is Mixamo's shin but SOMA's thigh; SMPL's `Foot` is a toe and its
/// `Shoulder` an upper arm).
fn part(base: &str, side_bases: &[String]) -> Option<Part> {
    let has = |names: &[&str]| side_bases.iter().any(|b| names.contains(&b.as_str()));
    Some(match base {
        "shoulder" if has(&["arm", "upperarm", "uparm"]) => Part::Clavicle,
        "shoulder" => Part::Upper,
        "clavicle" | "collar" | "collarbone" => Part::Clavicle,
        "arm" | "upperarm" | "uparm" => Part::Upper,
        "forearm" | "lowerarm" | "elbow" => Part::Fore,
        "hand" | "wrist" => Part::Hand,
        "upleg" | "upperleg" | "thigh" | "hip" => Part::Thigh,
        "leg" if has(&["upleg", "upperleg", "thigh", "hip"]) => Part::Shin,
        "leg" => Part::Thigh,
        "shin" | "calf" | "lowerleg" | "knee" => Part::Shin,
        "foot" if has(&["ankle"]) => Part::Toe,
        "foot" | "ankle" => Part::Foot,
        "toebase" | "toe" | "toes" | "ball" => Part::Toe,
        _ => return None,
    })
}

fn canonical_name(side: usize, p: Part) -> String {
    let s = ["Left", "Right"][side];
    let base = match p {
        Part::Clavicle => "Shoulder",
        Part::Upper => "Arm",
        Part::Fore => "ForeArm",
        Part::Hand => "Hand",
        Part::Thigh => "UpLeg",
        Part::Shin => "Leg",
        Part::Foot => "Foot",
        Part::Toe => "ToeBase",
    };
    format!("{s}{base}")
}

impl Rig {
    /// The canonical skeleton as joint definitions.
    pub fn canonical_joints() -> Vec<JointDef> {
        let names: Vec<&str> = CANONICAL.iter().map(|r| r.0).collect();
        CANONICAL
            .iter()
            .map(|&(name, parent, [x, y, z])| JointDef {
                name: name.to_string(),
                parent: parent.and_then(|p| names.iter().position(|n| *n == p)),
                offset: v3(x, y, z),
            })
            .collect()
    }

    /// Finds the body parts of a skeleton. The error says which parts are
    /// missing or malformed (the caller turns it into a protocol error).
    pub fn new(joints: Vec<JointDef>) -> Result<Rig, String> {
        if joints.is_empty() || joints[0].parent.is_some() {
            return Err("the skeleton needs its root first".into());
        }
        let mut rest = Vec::with_capacity(joints.len());
        for (i, j) in joints.iter().enumerate() {
            if !j.offset.is_finite() || j.offset.len() > 100.0 {
                return Err(format!(
                    "joint '{}' has a rest_translation that is not a finite offset in metres",
                    j.name
                ));
            }
            let p = match j.parent {
                Some(p) if p < i => rest[p] + j.offset,
                Some(_) => return Err(format!("joint '{}' comes before its parent", j.name)),
                None => j.offset,
            };
            rest.push(p);
        }
        let read: Vec<(Option<usize>, String)> =
            joints.iter().map(|j| side_base(&j.name)).collect();
        let mut parts: [[Option<usize>; 8]; 2] = [[None; 8]; 2];
        for (side, found) in parts.iter_mut().enumerate() {
            let bases: Vec<String> = read
                .iter()
                .filter(|(s, _)| *s == Some(side))
                .map(|(_, b)| b.clone())
                .collect();
            for (i, (s, base)) in read.iter().enumerate() {
                if *s != Some(side) {
                    continue;
                }
                if let Some(p) = part(base, &bases) {
                    found[p as usize].get_or_insert(i);
                }
            }
        }
        let trunk = |names: &[&str]| {
            read.iter()
                .position(|(s, b)| s.is_none() && names.contains(&b.as_str()))
        };
        let hips = trunk(&["hips", "hip", "pelvis"]).unwrap_or(0);
        let head = trunk(&["head", "head_01"]);
        let mut missing = Vec::new();
        let mut need = |side: usize, p: Part| -> usize {
            parts[side][p as usize].unwrap_or_else(|| {
                missing.push(canonical_name(side, p));
                0
            })
        };
        let mut legs = Vec::new();
        let mut arms = Vec::new();
        for (side, found) in parts.iter().enumerate() {
            legs.push(Leg {
                thigh: need(side, Part::Thigh),
                shin: need(side, Part::Shin),
                foot: need(side, Part::Foot),
                toe: found[Part::Toe as usize],
            });
            arms.push(Arm {
                clavicle: found[Part::Clavicle as usize],
                upper: need(side, Part::Upper),
                fore: need(side, Part::Fore),
                hand: need(side, Part::Hand),
            });
        }
        let Some(head) = head else {
            missing.push("Head".into());
            return Err(missing_message(&missing));
        };
        if !missing.is_empty() {
            return Err(missing_message(&missing));
        }
        let ancestors = |mut j: usize| {
            let mut out = Vec::new();
            while let Some(p) = joints[j].parent {
                out.push(p);
                j = p;
            }
            out
        };
        // The trunk: hips .. neck .. head must be one chain.
        let head_chain = ancestors(head);
        let Some(hips_at) = head_chain.iter().position(|&j| j == hips) else {
            return Err(format!(
                "the head '{}' does not hang from the hips '{}'",
                joints[head].name, joints[hips].name
            ));
        };
        let mut between: Vec<usize> = head_chain[..hips_at].iter().rev().copied().collect();
        let neck_at = between
            .iter()
            .position(|&j| read[j].1.starts_with("neck"))
            .or(if between.len() >= 2 {
                Some(between.len() - 1)
            } else {
                None
            });
        let neck = neck_at.map(|k| between[k]);
        if let Some(k) = neck_at {
            between.truncate(k);
        }
        let spine = between;
        // Each limb must be a chain, and long enough to bend.
        let chain = |upper: usize, lower: usize, end: usize, what: &str| -> Result<(), String> {
            if !ancestors(end).contains(&lower) || !ancestors(lower).contains(&upper) {
                return Err(format!(
                    "the {what} '{}', '{}', '{}' are not one chain",
                    joints[upper].name, joints[lower].name, joints[end].name
                ));
            }
            if (rest[lower] - rest[upper]).len() < 0.02 || (rest[end] - rest[lower]).len() < 0.02 {
                return Err(format!(
                    "the {what} of '{}' have no length",
                    joints[upper].name
                ));
            }
            Ok(())
        };
        for side in 0..2 {
            chain(
                legs[side].thigh,
                legs[side].shin,
                legs[side].foot,
                "leg joints",
            )?;
            chain(
                arms[side].upper,
                arms[side].fore,
                arms[side].hand,
                "arm joints",
            )?;
        }
        let legs: [Leg; 2] = [legs[0].clone(), legs[1].clone()];
        let arms: [Arm; 2] = [arms[0].clone(), arms[1].clone()];
        let mut floor = f64::INFINITY;
        for leg in &legs {
            for (j, p) in rest.iter().enumerate() {
                if j == leg.foot || ancestors(j).contains(&leg.foot) {
                    floor = floor.min(p.y);
                }
            }
        }
        if rest[hips].y - floor < 0.2 {
            return Err("the hips are not above the feet in the rest pose".into());
        }
        // A rig standing on Y = 0 keeps its feet's joints that far above the
        // ground; anything else stands them on it.
        let sole = floor.clamp(0.0, 0.05);
        let mut mapping = vec![("Hips".to_string(), joints[hips].name.clone())];
        let trunk_names = ["Spine", "Spine1", "Spine2"];
        for (k, &j) in spine.iter().enumerate().take(3) {
            mapping.push((trunk_names[k].to_string(), joints[j].name.clone()));
        }
        if let Some(n) = neck {
            mapping.push(("Neck".into(), joints[n].name.clone()));
        }
        mapping.push(("Head".into(), joints[head].name.clone()));
        for side in 0..2 {
            let l = &legs[side];
            let a = &arms[side];
            let mut add = |p: Part, j: Option<usize>| {
                if let Some(j) = j {
                    mapping.push((canonical_name(side, p), joints[j].name.clone()));
                }
            };
            add(Part::Clavicle, a.clavicle);
            add(Part::Upper, Some(a.upper));
            add(Part::Fore, Some(a.fore));
            add(Part::Hand, Some(a.hand));
            add(Part::Thigh, Some(l.thigh));
            add(Part::Shin, Some(l.shin));
            add(Part::Foot, Some(l.foot));
            add(Part::Toe, l.toe);
        }
        Ok(Rig {
            joints,
            rest,
            hips,
            spine,
            neck,
            head,
            legs,
            arms,
            mapping,
            floor,
            sole,
        })
    }

    pub fn root(&self) -> usize {
        0
    }

    pub fn leg_length(&self, side: usize) -> (f64, f64) {
        let l = &self.legs[side];
        (
            (self.rest[l.shin] - self.rest[l.thigh]).len(),
            (self.rest[l.foot] - self.rest[l.shin]).len(),
        )
    }

    pub fn arm_length(&self, side: usize) -> (f64, f64) {
        let a = &self.arms[side];
        (
            (self.rest[a.fore] - self.rest[a.upper]).len(),
            (self.rest[a.hand] - self.rest[a.fore]).len(),
        )
    }

    /// Height of the ankle above the ground with the foot flat.
    pub fn ankle_height(&self, side: usize) -> f64 {
        self.rest[self.legs[side].foot].y - self.floor + self.sole
    }

    /// Height of the hips joint above the ground standing at rest.
    pub fn hips_height(&self) -> f64 {
        self.rest[self.hips].y - self.floor + self.sole
    }

    /// The toe pivot relative to the ankle at rest (world-aligned), if any.
    pub fn toe_offset(&self, side: usize) -> Option<V3> {
        let l = &self.legs[side];
        l.toe.map(|t| self.rest[t] - self.rest[l.foot])
    }

    /// Scale of this rig relative to the canonical adult (by hips height).
    pub fn scale(&self) -> f64 {
        (self.hips_height() / 0.98).clamp(0.2, 5.0)
    }
}

fn missing_message(missing: &[String]) -> String {
    format!(
        "cannot map the skeleton to a humanoid: no joint found for {}",
        missing.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rig(rows: &[(&str, Option<usize>, [f64; 3])]) -> Result<Rig, String> {
        Rig::new(
            rows.iter()
                .map(|&(n, p, [x, y, z])| JointDef {
                    name: n.into(),
                    parent: p,
                    offset: v3(x, y, z),
                })
                .collect(),
        )
    }

    #[test]
    fn the_canonical_skeleton_maps_to_itself() {
        let r = Rig::new(Rig::canonical_joints()).unwrap();
        assert_eq!(r.spine.len(), 3);
        assert_eq!(r.joints[r.neck.unwrap()].name, "Neck");
        assert_eq!(r.joints[r.legs[0].shin].name, "LeftLeg");
        assert_eq!(r.joints[r.arms[1].clavicle.unwrap()].name, "RightShoulder");
        assert!(r.mapping.iter().all(|(c, q)| c == q));
        assert!((r.ankle_height(0) - 0.08).abs() < 1e-9);
    }

    #[test]
    fn unreal_and_smpl_names() {
        assert_eq!(side_base("thigh_l"), (Some(0), "thigh".into()));
        assert_eq!(side_base("L_Knee"), (Some(0), "knee".into()));
        assert_eq!(side_base("mixamorig:RightHand"), (Some(1), "hand".into()));
        let smpl = rig(&[
            ("Pelvis", None, [0.0, 0.9, 0.0]),
            ("L_Hip", Some(0), [0.1, -0.05, 0.0]),
            ("L_Knee", Some(1), [0.0, -0.4, 0.0]),
            ("L_Ankle", Some(2), [0.0, -0.4, 0.0]),
            ("L_Foot", Some(3), [0.0, -0.05, 0.12]),
            ("R_Hip", Some(0), [-0.1, -0.05, 0.0]),
            ("R_Knee", Some(5), [0.0, -0.4, 0.0]),
            ("R_Ankle", Some(6), [0.0, -0.4, 0.0]),
            ("R_Foot", Some(7), [0.0, -0.05, 0.12]),
            ("Spine1", Some(0), [0.0, 0.1, 0.0]),
            ("Spine2", Some(9), [0.0, 0.15, 0.0]),
            ("Neck", Some(10), [0.0, 0.2, 0.0]),
            ("Head", Some(11), [0.0, 0.1, 0.0]),
            ("L_Collar", Some(10), [0.05, 0.15, 0.0]),
            ("L_Shoulder", Some(13), [0.1, 0.0, 0.0]),
            ("L_Elbow", Some(14), [0.25, 0.0, 0.0]),
            ("L_Wrist", Some(15), [0.25, 0.0, 0.0]),
            ("R_Collar", Some(10), [-0.05, 0.15, 0.0]),
            ("R_Shoulder", Some(17), [-0.1, 0.0, 0.0]),
            ("R_Elbow", Some(18), [-0.25, 0.0, 0.0]),
            ("R_Wrist", Some(19), [-0.25, 0.0, 0.0]),
        ])
        .unwrap();
        assert_eq!(smpl.legs[0].toe, Some(4));
        assert_eq!(smpl.legs[0].foot, 3);
        assert_eq!(smpl.arms[0].upper, 14);
        assert_eq!(smpl.arms[0].clavicle, Some(13));
    }

    #[test]
    fn rigs_without_limbs_are_refused_by_name() {
        let e = rig(&[
            ("Hips", None, [0.0, 1.0, 0.0]),
            ("Head", Some(0), [0.0, 0.6, 0.0]),
        ])
        .unwrap_err();
        assert!(e.contains("LeftUpLeg") && e.contains("RightHand"), "{e}");
    }
}
