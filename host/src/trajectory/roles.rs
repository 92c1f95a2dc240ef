//! Which joint plays which part of a body (gltf-output.md §7.3 step 1), read
//! from the rig's own names and structure: SOMA (`LeftLeg` thigh,
//! `LeftShin`), Mixamo (`LeftUpLeg` thigh, `LeftLeg` shin), Unreal
//! (`thigh_l`, `calf_l`), Rigify (`DEF-thigh.L`) and the like.

use std::collections::HashMap;

/// Role name (`hips`, `l_leg`, `r_hand_end`, ...) → joint index.
pub type Roles = HashMap<String, usize>;

const PREFIXES: [&str; 7] = [
    "mixamorig:",
    "mixamorig1:",
    "def-",
    "org-",
    "bip01 ",
    "bip001 ",
    "b_",
];

const SIDE_TAGS: [(&str, [&str; 7]); 2] = [
    ("l", ["left", ".l", "_l", " l", "-l", "l_", "l."]),
    ("r", ["right", ".r", "_r", " r", "-r", "r_", "r."]),
];

fn limb(base: &str) -> Option<&'static str> {
    Some(match base {
        "upleg" | "upperleg" | "thigh" | "hip" => "leg",
        "shin" | "calf" | "lowerleg" | "knee" => "shin",
        "foot" | "ankle" => "foot",
        "toebase" | "toe" | "toes" | "ball" => "toe",
        "arm" | "upperarm" => "arm",
        "forearm" | "lowerarm" | "elbow" => "forearm",
        "hand" | "wrist" => "hand",
        "handmiddleend" | "handend" | "handmiddle4" | "handmiddle1" | "middle1" | "middle_01" => {
            "hand_end"
        }
        _ => return None,
    })
}

fn trim(s: &str) -> String {
    s.trim_matches(|c| "_.- ".contains(c)).to_string()
}

/// (side, base name): `LeftUpLeg` → (l, upleg), `DEF-thigh.L` → (l, thigh).
pub fn side_base(name: &str) -> (Option<&'static str>, String) {
    let mut n = name.to_lowercase();
    for p in PREFIXES {
        if let Some(rest) = n.strip_prefix(p) {
            n = rest.to_string();
        }
    }
    for (side, tags) in SIDE_TAGS {
        for t in tags {
            if t == "left" || t == "right" {
                if let Some(rest) = n.strip_prefix(t) {
                    return (Some(side), trim(rest));
                }
                continue;
            }
            if let Some(rest) = n.strip_suffix(t) {
                return (Some(side), trim(rest));
            }
            if t.ends_with(['_', '.']) {
                if let Some(rest) = n.strip_prefix(t) {
                    return (Some(side), trim(rest));
                }
            }
        }
    }
    (None, n)
}

/// Roles from the joints' names (in skeleton order) and parents; names it
/// cannot read are read again as the canonical joint the retarget map says
/// they stand for. Missing roles are left out.
pub fn resolve(
    names: &[&str],
    parents: &[Option<usize>],
    canonical_to_request: &[(String, String)],
) -> Roles {
    let inverse: HashMap<&str, &str> = canonical_to_request
        .iter()
        .map(|(canonical, request)| (request.as_str(), canonical.as_str()))
        .collect();
    let through = |n: &str| -> String { inverse.get(n).copied().unwrap_or(n).to_string() };
    let mut out = Roles::new();
    for attempt in 0..2 {
        let read: Vec<(Option<&str>, String)> = names
            .iter()
            .map(|&n| {
                side_base(&if attempt == 0 {
                    n.to_string()
                } else {
                    through(n)
                })
            })
            .collect();
        let thigh_sides: Vec<&str> = read
            .iter()
            .filter(|(_, base)| matches!(base.as_str(), "upleg" | "upperleg" | "thigh"))
            .filter_map(|(side, _)| *side)
            .collect();
        for (i, (side, base)) in read.iter().enumerate() {
            let Some(side) = side else { continue };
            // `Leg` is SOMA's thigh but Mixamo's shin (Mixamo names its thigh `UpLeg`).
            let role = if base == "leg" {
                Some(if thigh_sides.contains(side) {
                    "shin"
                } else {
                    "leg"
                })
            } else {
                limb(base)
            };
            if let Some(role) = role {
                out.entry(format!("{side}_{role}")).or_insert(i);
            }
        }
    }
    let root = parents.iter().position(Option::is_none);
    if let Some(root) = root {
        out.entry("hips".into()).or_insert(root);
    }
    let head = names
        .iter()
        .position(|&n| matches!(side_base(&through(n)).1.as_str(), "head" | "head_01"));
    if let (Some(head), Some(root)) = (head, root) {
        let mut chain = vec![head];
        let mut at = parents[head];
        while let Some(p) = at {
            chain.push(p);
            at = parents[p];
        }
        chain.reverse();
        if chain[0] == root {
            let len = chain.len();
            out.entry("head".into()).or_insert(head);
            if len >= 3 {
                out.entry("neck".into()).or_insert(chain[len - 2]);
            }
            if len >= 4 {
                out.entry("spine".into()).or_insert(chain[1]);
            }
            if len >= 5 {
                out.entry("chest".into()).or_insert(chain[len - 3]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_and_bases_of_the_common_naming_schemes() {
        assert_eq!(
            side_base("mixamorig:LeftUpLeg"),
            (Some("l"), "upleg".into())
        );
        assert_eq!(side_base("DEF-thigh.L"), (Some("l"), "thigh".into()));
        assert_eq!(side_base("calf_r"), (Some("r"), "calf".into()));
        assert_eq!(side_base("R_Hand"), (Some("r"), "hand".into()));
        assert_eq!(side_base("Hips"), (None, "hips".into()));
    }

    #[test]
    fn leg_is_a_shin_beside_an_upleg_and_a_thigh_otherwise() {
        let mixamo = resolve(
            &["Hips", "LeftUpLeg", "LeftLeg"],
            &[None, Some(0), Some(1)],
            &[],
        );
        assert_eq!((mixamo["l_leg"], mixamo["l_shin"]), (1, 2));
        let soma = resolve(
            &["Hips", "LeftLeg", "LeftShin"],
            &[None, Some(0), Some(1)],
            &[],
        );
        assert_eq!((soma["l_leg"], soma["l_shin"]), (1, 2));
    }

    #[test]
    fn the_trunk_comes_from_the_chain_between_root_and_head() {
        let names = ["Root", "A", "B", "C", "Head"];
        let parents = [None, Some(0), Some(1), Some(2), Some(3)];
        let r = resolve(&names, &parents, &[]);
        assert_eq!(
            (r["hips"], r["spine"], r["chest"], r["neck"], r["head"]),
            (0, 1, 2, 3, 4)
        );
        let mapped = resolve(
            &["Root", "X"],
            &[None, Some(0)],
            &[("LeftFoot".into(), "X".into())],
        );
        assert_eq!(mapped["l_foot"], 1);
    }
}
