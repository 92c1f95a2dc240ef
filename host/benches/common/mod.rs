//! Shared by the bench binaries.

// Not every bench starts a server.
#[allow(dead_code)]
pub mod served;

/// A null-model `/generate` body for the null skeleton: one text segment of
/// `frames` frames (300 = a 10-second clip at 30 fps).
#[allow(dead_code)] // the load bench's
pub fn body(frames: u32) -> Vec<u8> {
    let joint = |n: &str, p: &str, t: &str| {
        format!(r#"{{"name":"{n}","parent":{p},"rest_translation":{t},"rest_rotation":[0,0,0,1]}}"#)
    };
    let joints = [
        joint("Hips", "null", "[0,0.95,0]"),
        joint("Spine", "\"Hips\"", "[0,0.5,0]"),
        joint("Head", "\"Spine\"", "[0,0.3,0]"),
        joint("LeftFoot", "\"Hips\"", "[0.1,-0.95,0]"),
        joint("RightFoot", "\"Hips\"", "[-0.1,-0.95,0]"),
    ]
    .join(",");
    format!(
        r#"{{"protocol_version":"1.4","model":"null","skeleton":{{"joints":[{joints}]}},"segments":[{{"type":"text","prompt":"walk forward","duration_frames":{frames}}}]}}"#
    )
    .into_bytes()
}
