//! A backbone's motion result after the host's checks (backbone-contract.md
//! §5): shapes against B, T and the request's J, joint order, finite values
//! (D3). A result that fails is a backbone bug: `500 internal_error` naming
//! what is wrong (D9).

use std::collections::HashMap;

use serde_json::{json, Value};

use crate::bindings::MotionResult;
use crate::error::ApiError;
use crate::request::Skeleton;

/// Per-joint keyframe selections (indices into the sample's frames).
#[derive(Debug, Clone, Default)]
pub struct Keyframes {
    pub rotation: Option<Vec<i32>>,
    pub translation: Option<Vec<i32>>,
}

#[derive(Debug, Clone)]
pub struct Motion {
    pub num_samples: usize,
    pub num_frames: usize,
    pub num_joints: usize,
    rotations: Vec<f32>,
    root_translations: Vec<f32>,
    pub translations: Option<Vec<f32>>,
    keyframes: HashMap<usize, Keyframes>,
    pub foot_contacts: Vec<(String, Vec<bool>)>,
    pub chunk_boundaries: Option<Vec<Vec<u32>>>,
    pub canonical_to_request: Vec<(String, String)>,
    pub trajectories: Option<Vec<Option<Value>>>,
    pub notes: Vec<Value>,
}

fn bad(msg: String) -> ApiError {
    ApiError::internal(format!(
        "backbone returned a malformed motion result: {msg}"
    ))
}

fn shape(name: &str, got: usize, want: usize) -> Result<(), ApiError> {
    if got == want {
        Ok(())
    } else {
        Err(bad(format!(
            "{name} has {got} values; (B, T, J) = its shape needs {want}"
        )))
    }
}

fn finite(name: &str, values: &[f32]) -> Result<(), ApiError> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(bad(format!(
            "{name} holds a non-finite value at flat index {i}"
        ))),
    }
}

impl Motion {
    /// Checks `result` against the request skeleton.
    pub fn check(result: MotionResult, skeleton: &Skeleton) -> Result<Motion, ApiError> {
        let (b, t, j) = (
            result.num_samples as usize,
            result.num_frames as usize,
            skeleton.joints.len(),
        );
        let keys = b
            .checked_mul(t)
            .ok_or_else(|| bad("num_samples x num_frames overflows".into()))?;
        if let Some(names) = &result.joint_names {
            if !names.iter().map(String::as_str).eq(skeleton.names()) {
                return Err(bad(format!(
                    "joint_names {names:?} differ from the request skeleton's joints in order"
                )));
            }
        }
        shape("rotations", result.rotations.len(), keys * j * 4)?;
        shape(
            "root_translations",
            result.root_translations.len(),
            keys * 3,
        )?;
        finite("rotations", &result.rotations)?;
        finite("root_translations", &result.root_translations)?;
        if let Some(tr) = &result.translations {
            shape("translations", tr.len(), keys * j * 3)?;
            finite("translations", tr)?;
        }
        let mut keyframes = HashMap::new();
        for k in result.keyframes {
            if k.joint as usize >= j {
                return Err(bad(format!(
                    "keyframes name joint index {} of {j}",
                    k.joint
                )));
            }
            keyframes.insert(
                k.joint as usize,
                Keyframes {
                    rotation: k.rotation,
                    translation: k.translation,
                },
            );
        }
        let mut foot_contacts = Vec::with_capacity(result.foot_contacts.len());
        for c in result.foot_contacts {
            shape(
                &format!("foot_contacts[{:?}]", c.joint),
                c.contacts.len(),
                keys,
            )?;
            foot_contacts.push((c.joint, c.contacts));
        }
        if let Some(cb) = &result.chunk_boundaries {
            if cb.len() != b {
                return Err(bad(format!(
                    "chunk_boundaries has {} entries for {b} samples",
                    cb.len()
                )));
            }
        }
        let trajectories = match result.trajectories {
            None => None,
            Some(list) if list.len() != b => {
                return Err(bad(format!(
                    "trajectories has {} entries for {b} samples",
                    list.len()
                )))
            }
            Some(list) => Some(
                list.into_iter()
                    .enumerate()
                    .map(|(i, text)| trajectory(i, text))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        let notes = result
            .notes
            .into_iter()
            .map(|n| json!({"code": n.code, "severity": n.severity, "message": n.message}))
            .collect();
        Ok(Motion {
            num_samples: b,
            num_frames: t,
            num_joints: j,
            rotations: result.rotations,
            root_translations: result.root_translations,
            translations: result.translations,
            keyframes,
            foot_contacts,
            chunk_boundaries: result.chunk_boundaries,
            canonical_to_request: result.canonical_to_request,
            trajectories,
            notes,
        })
    }

    /// All rotations, `(B, T, J, 4)` flat.
    pub fn rotations(&self) -> &[f32] {
        &self.rotations
    }

    /// All root translations, `(B, T, 3)` flat.
    pub fn root_translations(&self) -> &[f32] {
        &self.root_translations
    }

    pub fn rotation(&self, b: usize, t: usize, j: usize) -> [f32; 4] {
        let i = ((b * self.num_frames + t) * self.num_joints + j) * 4;
        [
            self.rotations[i],
            self.rotations[i + 1],
            self.rotations[i + 2],
            self.rotations[i + 3],
        ]
    }

    pub fn root(&self, b: usize, t: usize) -> [f32; 3] {
        let i = (b * self.num_frames + t) * 3;
        [
            self.root_translations[i],
            self.root_translations[i + 1],
            self.root_translations[i + 2],
        ]
    }

    /// Joint `j`'s translation; only valid when `translations` is present.
    pub fn translation(&self, b: usize, t: usize, j: usize) -> [f32; 3] {
        let tr = self.translations.as_deref().unwrap_or_default();
        let i = ((b * self.num_frames + t) * self.num_joints + j) * 3;
        [tr[i], tr[i + 1], tr[i + 2]]
    }

    pub fn keyframes(&self, j: usize) -> Option<&Keyframes> {
        self.keyframes.get(&j)
    }
}

/// A backbone-supplied trajectory: JSON object text, or none/empty for none.
fn trajectory(sample: usize, text: Option<String>) -> Result<Option<Value>, ApiError> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) if map.is_empty() => Ok(None),
        Ok(v @ Value::Object(_)) => Ok(Some(v)),
        Ok(Value::Null) => Ok(None),
        _ => Err(bad(format!("trajectories[{sample}] is not a JSON object"))),
    }
}
