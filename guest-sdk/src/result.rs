//! `MotionResult` construction with the reference's shape checks.

use crate::{FootContact, JointKeyframes, MotionResult, Note, ProtocolError};

/// A result array whose length does not match its declared shape.
#[derive(Debug, Clone, PartialEq)]
pub struct ShapeError {
    pub array: &'static str,
    pub expected: usize,
    pub got: usize,
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} has {} values; its shape needs {}",
            self.array, self.got, self.expected
        )
    }
}

impl std::error::Error for ShapeError {}

/// A shape error is a backbone bug: the client sees `500 internal_error`.
impl From<ShapeError> for ProtocolError {
    fn from(e: ShapeError) -> Self {
        ProtocolError::internal(e.to_string())
    }
}

fn check(array: &'static str, values: usize, expected: usize) -> Result<(), ShapeError> {
    if values == expected {
        Ok(())
    } else {
        Err(ShapeError {
            array,
            expected,
            got: values,
        })
    }
}

impl MotionResult {
    /// A result from flat arrays: `rotations` is B x T x J x 4 quaternions
    /// (x, y, z, w), `root_translations` B x T x 3.
    pub fn new(
        num_samples: u32,
        num_frames: u32,
        num_joints: u32,
        rotations: Vec<f32>,
        root_translations: Vec<f32>,
    ) -> Result<Self, ShapeError> {
        let (b, t, j) = (
            num_samples as usize,
            num_frames as usize,
            num_joints as usize,
        );
        check("rotations", rotations.len(), b * t * j * 4)?;
        check("root_translations", root_translations.len(), b * t * 3)?;
        Ok(MotionResult {
            num_samples,
            num_frames,
            rotations,
            root_translations,
            translations: None,
            keyframes: Vec::new(),
            joint_names: None,
            foot_contacts: Vec::new(),
            chunk_boundaries: None,
            canonical_to_request: Vec::new(),
            trajectories: None,
            notes: Vec::new(),
        })
    }

    /// Every joint at identity rotation and the root held at `root`, for B
    /// samples of T frames over J joints.
    pub fn rest_pose(
        num_samples: u32,
        num_frames: u32,
        num_joints: u32,
        root: (f64, f64, f64),
    ) -> Result<Self, ProtocolError> {
        let keys = num_samples as usize * num_frames as usize;
        let rotations = [0.0, 0.0, 0.0, 1.0].repeat(keys * num_joints as usize);
        let root_translations = [root.0 as f32, root.1 as f32, root.2 as f32].repeat(keys);
        Ok(Self::new(
            num_samples,
            num_frames,
            num_joints,
            rotations,
            root_translations,
        )?)
    }

    /// Joints in the output (derived from the rotation array).
    pub fn num_joints(&self) -> usize {
        let keys = self.num_samples as usize * self.num_frames as usize;
        if keys == 0 {
            0
        } else {
            self.rotations.len() / (keys * 4)
        }
    }

    /// Adds per-joint translations, B x T x J x 3 offsets from the parent.
    pub fn with_translations(mut self, translations: Vec<f32>) -> Result<Self, ShapeError> {
        let expected = self.num_samples as usize * self.num_frames as usize * self.num_joints() * 3;
        check("translations", translations.len(), expected)?;
        self.translations = Some(translations);
        Ok(self)
    }

    /// Adds a joint's contact flags, B x T.
    pub fn with_foot_contact(
        mut self,
        joint: impl Into<String>,
        contacts: Vec<bool>,
    ) -> Result<Self, ShapeError> {
        check(
            "foot_contacts",
            contacts.len(),
            self.num_samples as usize * self.num_frames as usize,
        )?;
        self.foot_contacts.push(FootContact {
            joint: joint.into(),
            contacts,
        });
        Ok(self)
    }

    /// Thins a joint's channels to the given frames (`None` keeps a channel dense).
    pub fn with_keyframes(
        mut self,
        joint: u32,
        rotation: Option<Vec<i32>>,
        translation: Option<Vec<i32>>,
    ) -> Self {
        self.keyframes.push(JointKeyframes {
            joint,
            rotation,
            translation,
        });
        self
    }

    /// Records frames where internal chunks were stitched, one list per sample.
    pub fn with_chunk_boundaries(mut self, per_sample: Vec<Vec<u32>>) -> Result<Self, ShapeError> {
        check(
            "chunk_boundaries",
            per_sample.len(),
            self.num_samples as usize,
        )?;
        self.chunk_boundaries = Some(per_sample);
        Ok(self)
    }

    /// Adds a remark for the caller.
    pub fn with_note(mut self, code: &str, severity: &str, message: &str) -> Self {
        self.notes.push(Note {
            code: code.into(),
            severity: severity.into(),
            message: message.into(),
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_are_checked() {
        assert!(MotionResult::new(1, 2, 3, vec![0.0; 24], vec![0.0; 6]).is_ok());
        let err = MotionResult::new(1, 2, 3, vec![0.0; 23], vec![0.0; 6]).unwrap_err();
        assert_eq!(
            err,
            ShapeError {
                array: "rotations",
                expected: 24,
                got: 23
            }
        );
        let err = MotionResult::new(2, 2, 1, vec![0.0; 16], vec![0.0; 6]).unwrap_err();
        assert_eq!(err.array, "root_translations");
    }

    #[test]
    fn optional_arrays_are_checked_against_b_t_j() {
        let r = MotionResult::rest_pose(2, 3, 5, (0.0, 0.95, 0.0)).unwrap();
        assert_eq!(r.num_joints(), 5);
        assert!(r
            .clone()
            .with_translations(vec![0.0; 2 * 3 * 5 * 3])
            .is_ok());
        assert!(r.clone().with_translations(vec![0.0; 10]).is_err());
        assert!(r
            .clone()
            .with_foot_contact("LeftFoot", vec![true; 6])
            .is_ok());
        assert!(r
            .clone()
            .with_foot_contact("LeftFoot", vec![true; 3])
            .is_err());
        assert!(r.clone().with_chunk_boundaries(vec![vec![]]).is_err());
    }

    #[test]
    fn rest_pose_is_identity_at_the_root() {
        let r = MotionResult::rest_pose(1, 2, 2, (1.0, 2.0, 3.0)).unwrap();
        assert_eq!(&r.rotations[..4], &[0.0, 0.0, 0.0, 1.0]);
        assert_eq!(r.root_translations, vec![1.0, 2.0, 3.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn shape_errors_are_internal_errors() {
        let e: ProtocolError = ShapeError {
            array: "rotations",
            expected: 4,
            got: 3,
        }
        .into();
        assert_eq!(e.code, crate::ErrorCode::InternalError);
    }
}
