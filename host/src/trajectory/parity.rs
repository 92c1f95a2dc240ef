//! The port against the reference: `tests/fixtures/trajectories.json` holds
//! motions and what motionmcp-sdk 0.13.0's `compute_trajectories` made of
//! them (recorded by `scripts/record-trajectory-fixtures.py`). Shapes,
//! headings, markers and key order must match exactly; numbers to the last
//! digit the wire keeps (one unit of it, for a value the two float
//! pipelines put on opposite sides of a rounding tie).

use serde_json::Value;

use super::{compute, Input};
use crate::request::{Joint, Skeleton};

fn fixtures() -> Vec<Value> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/trajectories.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/fixtures/trajectories.json");
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["cases"].as_array().unwrap().clone()
}

fn skeleton(case: &Value) -> Skeleton {
    let joints = case["skeleton"]["joints"].as_array().unwrap();
    Skeleton {
        joints: joints
            .iter()
            .map(|j| {
                let r: Vec<f64> = j["rest_translation"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                Joint {
                    name: j["name"].as_str().unwrap().into(),
                    parent: j["parent"].as_str().map(Into::into),
                    rest_translation: [r[0], r[1], r[2]],
                    rest_rotation: [0.0, 0.0, 0.0, 1.0],
                    display_name: None,
                }
            })
            .collect(),
    }
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// Equal, numbers within `tol`; `at` names where a difference is.
fn same(ours: &Value, theirs: &Value, tol: f64, at: &str, errors: &mut Vec<String>) {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() > tol {
                errors.push(format!("{at}: ours {a}, reference {b}"));
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (a, b)) in a.iter().zip(b).enumerate() {
                same(a, b, tol, &format!("{at}[{i}]"), errors);
            }
        }
        (Value::Object(a), Value::Object(b)) if a.keys().eq(b.keys()) => {
            for (k, a) in a {
                same(a, &b[k], tol, &format!("{at}.{k}"), errors);
            }
        }
        _ if ours == theirs => {}
        _ => errors.push(format!("{at}: ours {ours}, reference {theirs}")),
    }
}

/// One unit of the last decimal the wire keeps for each field.
fn tolerance(key: &str, param: Option<&str>) -> f64 {
    let digits = match (key, param) {
        ("position", _) => 4,
        ("yaw", _) => 5,
        (_, Some("heading_deg" | "off_cm" | "turned_deg")) => 1,
        (_, Some("radius_m" | "turn_deg_s")) => 2,
        _ => 3,
    };
    10f64.powi(-digits) * 1.000001
}

#[test]
fn the_port_matches_the_reference_on_every_recorded_motion() {
    let mut errors = vec![];
    let mut exact = (0usize, 0usize);
    for case in fixtures() {
        let name = case["name"].as_str().unwrap();
        let skeleton = skeleton(&case);
        let rotations = floats(&case["rotations"]);
        let roots = floats(&case["root_translations"]);
        let map: Vec<(String, String)> = case["canonical_to_request"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
            .collect();
        let input = Input {
            skeleton: &skeleton,
            num_samples: case["num_samples"].as_u64().unwrap() as usize,
            num_frames: case["num_frames"].as_u64().unwrap() as usize,
            rotations: &rotations,
            root_translations: &roots,
            canonical_to_request: &map,
            fps: case["fps"].as_f64().unwrap(),
            looped: case["loop"].as_bool().unwrap(),
        };
        let ours = compute(&input);
        let theirs = &case["trajectories"];
        let (Ok(ours), Value::Array(theirs)) = (&ours, theirs) else {
            if !(ours.is_err() && theirs.is_null()) {
                errors.push(format!("{name}: ours {ours:?}, reference {theirs}"));
            }
            continue;
        };
        for (b, (ours, theirs)) in ours.iter().zip(theirs).enumerate() {
            let (Some(Value::Object(o)), Value::Object(t)) = (ours, theirs) else {
                errors.push(format!("{name}[{b}]: ours {ours:?}, reference {theirs}"));
                continue;
            };
            if !o.keys().eq(t.keys()) {
                errors.push(format!(
                    "{name}[{b}]: keys {:?} vs {:?}",
                    o.keys(),
                    t.keys()
                ));
                continue;
            }
            for (key, value) in o {
                let at = format!("{name}[{b}].{key}");
                if key == "params" {
                    let (pv, pt) = (value.as_object().unwrap(), t[key].as_object().unwrap());
                    if !pv.keys().eq(pt.keys()) {
                        errors.push(format!("{at}: keys {:?} vs {:?}", pv.keys(), pt.keys()));
                        continue;
                    }
                    for (p, v) in pv {
                        same(
                            v,
                            &pt[p],
                            tolerance(key, Some(p)),
                            &format!("{at}.{p}"),
                            &mut errors,
                        );
                    }
                } else {
                    same(value, &t[key], tolerance(key, None), &at, &mut errors);
                }
                exact.0 += usize::from(value == &t[key]);
                exact.1 += 1;
            }
        }
    }
    assert!(
        errors.is_empty(),
        "{} differences:\n{}",
        errors.len(),
        errors.join("\n")
    );
    eprintln!(
        "{} of {} fields identical to the last digit",
        exact.0, exact.1
    );
}

#[test]
fn a_rig_out_of_any_reach_gets_no_trajectory_rather_than_a_panic() {
    let mut skeleton = skeleton(&fixtures()[0]);
    skeleton.joints[1].rest_translation = [1e300, -1e300, 1e300];
    let frames = 30;
    let joints = skeleton.joints.len();
    let rotations: Vec<f32> = (0..frames * joints)
        .flat_map(|_| [0.0, 0.0, 0.0, 1.0])
        .collect();
    let roots: Vec<f32> = (0..frames)
        .flat_map(|t| [0.0, 0.95, t as f32 / 30.0])
        .collect();
    let input = Input {
        skeleton: &skeleton,
        num_samples: 1,
        num_frames: frames,
        rotations: &rotations,
        root_translations: &roots,
        canonical_to_request: &[],
        fps: 30.0,
        looped: false,
    };
    assert!(compute(&input).is_err());
    assert!(super::for_answer(&input).is_none());
    let mut near = skeleton.clone();
    near.joints[1].rest_translation = [0.0, 0.1, 0.0];
    let input = Input {
        skeleton: &near,
        ..input
    };
    assert_eq!(
        compute(&input).unwrap()[0].as_ref().unwrap()["model"],
        "line"
    );
}
