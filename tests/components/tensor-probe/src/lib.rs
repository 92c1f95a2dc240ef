//! Test backbone for the tensor API. The first text prompt picks a case:
//! the cases every language's probe shares (`ops`, `misuse <case>`, `bench
//! <n>`: `../CASES.md`, in `cases`), and these older ones: each misuse answers `400 invalid_request` whose message is the guest's
//! `Debug` of the `TensorError` it got (so tests see the typed case);
//! `values` answers with computed numbers in `details.values`; `oom` runs
//! past the GPU quota through `?`, `oom-panic` by unwrapping; anything else
//! is the rest pose.

mod cases;

use motionmcp_guest::tensor::{Tensor, TensorError};
use motionmcp_guest::{
    export_backbone, Backbone, ErrorCode, GenerateRequest, ModelSpec, MotionResult, ProtocolError,
    Skeleton,
};

#[derive(Default)]
struct Probe {
    held: Vec<Tensor>,
}

fn misuse(case: &str) -> Result<Tensor, TensorError> {
    match case {
        "shape" => Tensor::ones(&[2, 3])?.matmul(&Tensor::ones(&[4, 2])?),
        "broadcast" => &Tensor::ones(&[2, 3])? + &Tensor::ones(&[2])?,
        "dtype" => Tensor::from_u32(&[1, 2], &[2])?.exp(),
        "argument" => Tensor::ones(&[2, 3])?.permute(&[0, 0]),
        "count" => Tensor::from_vec(&[1.0, 2.0], &[3]),
        "missing" => Tensor::load("nope.safetensors", "x"),
        "escape" => Tensor::load("../../etc/passwd", "x"),
        other => Err(TensorError::InvalidArgument(format!("no case {other}"))),
    }
}

/// gelu(a @ b) then softmax, a and b seeded normals: checked against the
/// host's CPU reference by the test.
fn values() -> Result<Vec<f32>, TensorError> {
    let a = Tensor::randn(&[3, 7], 1)?;
    let b = Tensor::randn(&[7, 5], 2)?;
    a.matmul(&b)?.gelu()?.softmax()?.to_vec()
}

impl Backbone for Probe {
    fn capabilities(&self) -> ModelSpec {
        ModelSpec::new(
            "tensor-probe",
            30.0,
            Skeleton::from_joints(&[("Hips", None, [0.0, 0.95, 0.0])]),
        )
    }

    fn generate(&mut self, req: &GenerateRequest) -> Result<MotionResult, ProtocolError> {
        let prompt = req.segments.iter().find_map(|s| s.prompt()).unwrap_or("");
        let words: Vec<&str> = prompt.split_whitespace().collect();
        match words[..] {
            ["ops"] => {
                return Err(ProtocolError::invalid_request("ops")
                    .with_details(serde_json::json!({ "ops": cases::ops()? })));
            }
            ["misuse", case] => return Err(ProtocolError::invalid_request(cases::misuse(case))),
            ["bench", n] => cases::bench(n.parse().unwrap_or(0))?,
            ["bench-call", n] => cases::bench_call(n.parse().unwrap_or(0))?,
            _ => {}
        }
        match prompt {
            _ if words.first().is_some_and(|w| w.starts_with("bench")) => {}
            "values" => {
                let v = values()?;
                return Err(ProtocolError::new(ErrorCode::InvalidRequest, "values")
                    .with_details(serde_json::json!({ "values": v })));
            }
            // 96 MiB: past the test's 64 MiB quota, within any adapter's binding limit.
            "oom" => {
                Tensor::zeros(&[24 << 20])?;
            }
            "oom-panic" => {
                Tensor::zeros(&[24 << 20]).unwrap();
            }
            "hold" => self.held.push(Tensor::zeros(&[1 << 16])?),
            "release" => self.held.clear(),
            "rest" | "" => {}
            case => {
                let e = misuse(case)
                    .err()
                    .map_or("no error".to_string(), |e| format!("{e:?}"));
                return Err(ProtocolError::invalid_request(e));
            }
        }
        let root = req.skeleton.joints[0].rest_translation;
        MotionResult::rest_pose(req.num_samples(), req.total_frames, req.num_joints(), root)
    }
}

export_backbone!(Probe);
