//! The GPU tensor API from every guest SDK, through the real host: the
//! Rust, Python and JavaScript tensor probes (`tests/components/tensor-probe*`,
//! one protocol: `tests/components/tensor-probe/CASES.md`) run every op
//! family on seeded inputs, checked against the host's CPU reference and
//! against each other; misuse gets the same typed error in each language; a
//! quota overrun is `503` in each; and the demo denoiser written in the three
//! languages gives the same motion.
//!
//! Tolerances against the CPU reference (f64 inside): elementwise ops, layout
//! ops and casts rtol 1e-5 + atol 1e-6 (layout and casts are exact); sin and
//! cos atol 1e-5 (the adapter's sin is specified in absolute error); pow
//! rtol 2e-5 (exp of a log); atan2 rtol 3e-5 + atol 5e-6 (lavapipe's
//! polynomial atan: 2.1e-5 relative near 0, see gpu/tests/gpu_ops.rs); matmul, linear, softmax, norms, reductions and
//! attention rtol 1e-4 + atol 1e-5 (f32 sums); rand exact; randn rtol 1e-5 +
//! atol 1e-5. Between languages: bit for bit (the same ops on the same host
//! kernels).

mod support;

use motionmcp_gpu::reference::{self as cpu, Array, Mask};
use motionmcp_gpu::{BinaryOp, ReduceOp, UnaryOp};
use serde_json::{json, Map, Value};
use support::denoiser_weights::{write_weights, Dtype};
use support::tempdir::Dir;
use support::*;

/// The probes, by model id.
const PROBES: [&str; 3] = ["tensor-probe", "tensor-probe-py", "tensor-probe-js"];

fn probe_request(model: &str, prompt: &str) -> Value {
    json!({
        "protocol_version": "1.4",
        "model": model,
        "skeleton": {"joints": [{"name": "Hips", "parent": null, "rest_translation": [0, 0.95, 0], "rest_rotation": [0, 0, 0, 1]}]},
        "segments": [{"type": "text", "prompt": prompt, "duration_frames": 2}],
    })
}

fn serve_probes(extra: &[&str]) -> Server {
    let paths: Vec<_> = PROBES.iter().map(|p| component(p)).collect();
    Server::start_paths(&paths, extra)
}

/// The `ops` answer of one probe: case -> (shape, values as f32).
fn ops(server: &Server, model: &str) -> Map<String, Value> {
    let answer = server.post(&probe_request(model, "ops"));
    let error = answer.error(400, "invalid_request");
    assert_eq!(error["message"], "ops", "{model}: {error}");
    error["details"]["ops"].as_object().unwrap().clone()
}

fn shape_of(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    v["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

fn randn(shape: &[usize], seed: u64) -> Array {
    Array::new(cpu::randn(shape.iter().product(), seed), shape)
}

/// Every case of CASES.md computed on the CPU reference, with its
/// tolerance (rtol, atol).
fn reference() -> Vec<(String, Array, f32, f32)> {
    const EXACT: (f32, f32) = (1e-5, 1e-6);
    const SUMS: (f32, f32) = (1e-4, 1e-5);
    const ATAN2: (f32, f32) = (3e-5, 5e-6);
    let a = randn(&[3, 7], 1);
    let b = randn(&[7, 5], 2);
    let c = randn(&[3, 5], 3);
    let w = randn(&[5, 7], 4);
    let bias = randn(&[5], 5);
    let g = randn(&[5], 6);
    let x = cpu::scale(&Array::new(cpu::rand(15, 9), &[3, 5]), 1.0, 0.5);
    let y = randn(&[5], 10);
    let q = randn(&[1, 2, 4, 8], 12);
    let k = randn(&[1, 2, 6, 8], 13);
    let v = randn(&[1, 2, 6, 8], 14);
    let mut cases: Vec<(String, Array, (f32, f32))> = vec![
        ("matmul".into(), cpu::matmul(&a, &b), SUMS),
        ("linear".into(), cpu::linear(&a, &w, Some(&bias)), SUMS),
        ("linear_nobias".into(), cpu::linear(&a, &w, None), SUMS),
        (
            "linear_gelu_residual".into(),
            cpu::binary(
                &cpu::unary(&cpu::linear(&a, &w, Some(&bias)), UnaryOp::Gelu),
                &c,
                BinaryOp::Add,
            ),
            SUMS,
        ),
        (
            "linear_relu".into(),
            cpu::unary(&cpu::linear(&a, &w, None), UnaryOp::Relu),
            SUMS,
        ),
    ];
    for (name, op) in [
        ("add", BinaryOp::Add),
        ("sub", BinaryOp::Sub),
        ("mul", BinaryOp::Mul),
        ("div", BinaryOp::Div),
        ("maximum", BinaryOp::Maximum),
        ("minimum", BinaryOp::Minimum),
        ("pow", BinaryOp::Pow),
        ("atan2", BinaryOp::Atan2),
    ] {
        let tol = match op {
            BinaryOp::Pow => (2e-5, 1e-6),
            BinaryOp::Atan2 => ATAN2,
            _ => EXACT,
        };
        cases.push((format!("binary_{name}"), cpu::binary(&x, &y, op), tol));
    }
    // The SDKs' convenience method, over all four quadrants.
    cases.push(("atan2".into(), cpu::binary(&c, &y, BinaryOp::Atan2), ATAN2));
    for (name, op) in [
        ("gelu", UnaryOp::Gelu),
        ("gelu_tanh", UnaryOp::GeluTanh),
        ("silu", UnaryOp::Silu),
        ("relu", UnaryOp::Relu),
        ("tanh", UnaryOp::Tanh),
        ("sigmoid", UnaryOp::Sigmoid),
        ("exp", UnaryOp::Exp),
        ("log", UnaryOp::Log),
        ("sqrt", UnaryOp::Sqrt),
        ("rsqrt", UnaryOp::Rsqrt),
        ("sin", UnaryOp::Sin),
        ("cos", UnaryOp::Cos),
        ("neg", UnaryOp::Neg),
        ("abs", UnaryOp::Abs),
    ] {
        let tol = match op {
            UnaryOp::Sin | UnaryOp::Cos => (0.0, 1e-5),
            _ => EXACT,
        };
        cases.push((format!("unary_{name}"), cpu::unary(&x, op), tol));
    }
    let index = cpu::index_select(&c, 0, &[2, 0, -1]);
    let cond = [true, false, true, false, true];
    let keep = [true, true, true, false, false, true];
    let mut cast_i32 = cpu::scale(&c, 10.0, 0.0);
    cast_i32.data.iter_mut().for_each(|v| *v = v.trunc());
    cases.extend([
        ("scale".into(), cpu::scale(&c, 2.0, -1.0), EXACT),
        ("clamp".into(), cpu::clamp(&c, -0.5, 0.5), EXACT),
        ("softmax".into(), cpu::softmax(&c), SUMS),
        (
            "layer_norm".into(),
            cpu::layer_norm(&c, Some(&g), Some(&bias), 1e-5),
            SUMS,
        ),
        (
            "layer_norm_plain".into(),
            cpu::layer_norm(&c, None, None, 1e-5),
            SUMS,
        ),
        ("rms_norm".into(), cpu::rms_norm(&c, Some(&g), 1e-6), SUMS),
        (
            "reduce_sum_0".into(),
            cpu::reduce(&c, ReduceOp::Sum, 0, false),
            SUMS,
        ),
        (
            "reduce_mean_1".into(),
            cpu::reduce(&c, ReduceOp::Mean, 1, true),
            SUMS,
        ),
        (
            "reduce_max_1".into(),
            cpu::reduce(&c, ReduceOp::Max, 1, false),
            SUMS,
        ),
        ("reshape".into(), Array::new(c.data.clone(), &[5, 3]), EXACT),
        (
            "permute".into(),
            cpu::permute(&randn(&[2, 3, 4], 11), &[2, 0, 1]),
            EXACT,
        ),
        ("transpose".into(), cpu::permute(&c, &[1, 0]), EXACT),
        ("slice".into(), cpu::slice(&c, 1, 1, 4), EXACT),
        ("index_select".into(), index, EXACT),
        ("concat".into(), cpu::concat(&[&c, &x], 0), EXACT),
        ("where".into(), cpu::where_(&cond, &[5], &c, &x), EXACT),
        (
            "attention".into(),
            cpu::attention(&q, &k, &v, None, None),
            SUMS,
        ),
        (
            "attention_masked".into(),
            cpu::attention(&q, &k, &v, Some(Mask::Keep(&keep, &[6])), Some(0.5)),
            SUMS,
        ),
        (
            "cast_f16".into(),
            cpu::round_f16(&cpu::scale(&c, 1000.0, 0.0)),
            EXACT,
        ),
        ("cast_bf16".into(), cpu::round_bf16(&c), EXACT),
        ("cast_i32".into(), cast_i32, (0.0, 0.0)),
        (
            "rand".into(),
            Array::new(cpu::rand(7, 15), &[7]),
            (0.0, 0.0),
        ),
        (
            "randn".into(),
            Array::new(cpu::randn(7, 16), &[7]),
            (1e-5, 1e-5),
        ),
        (
            "arange".into(),
            Array::new((0..6).map(|i| 0.5 + 0.25 * i as f32).collect(), &[6]),
            (0.0, 0.0),
        ),
        ("full".into(), Array::new(vec![3.5; 4], &[2, 2]), (0.0, 0.0)),
        (
            "from_list".into(),
            Array::new(vec![1.5, -2.0, 3.25, 0.0], &[2, 2]),
            (0.0, 0.0),
        ),
        (
            "from_u32".into(),
            Array::new(vec![7.0, 0.0, u32::MAX as f32], &[3]),
            (0.0, 0.0),
        ),
    ]);
    cases
        .into_iter()
        .map(|(name, want, (rtol, atol))| (name, want, rtol, atol))
        .collect()
}

#[test]
fn every_op_family_matches_the_cpu_reference_in_every_language() {
    let server = serve_probes(&[]);
    let want = reference();
    for probe in PROBES {
        let got = ops(&server, probe);
        let mut names: Vec<&String> = got.keys().collect();
        names.sort();
        let mut expected: Vec<&String> = want.iter().map(|(n, ..)| n).collect();
        expected.sort();
        assert_eq!(names, expected, "{probe} answers other cases");
        for (name, want, rtol, atol) in &want {
            let entry = &got[name.as_str()];
            assert_eq!(shape_of(entry), want.shape, "{probe} {name}: shape");
            let values = floats(entry);
            assert_eq!(values.len(), want.data.len(), "{probe} {name}");
            for (i, (g, w)) in values.iter().zip(&want.data).enumerate() {
                assert!(
                    (g - w).abs() <= rtol * w.abs() + atol,
                    "{probe} {name}[{i}]: {g} vs reference {w} (rtol {rtol}, atol {atol})"
                );
            }
        }
    }
}

#[test]
fn the_three_languages_compute_the_same_bits() {
    let server = serve_probes(&[]);
    let rust = ops(&server, "tensor-probe");
    for probe in ["tensor-probe-py", "tensor-probe-js"] {
        let other = ops(&server, probe);
        for (name, entry) in &rust {
            let theirs = &other[name.as_str()];
            assert_eq!(shape_of(theirs), shape_of(entry), "{probe} {name}");
            let (a, b) = (floats(entry), floats(theirs));
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{probe} {name}: {b:?} differs from Rust's {a:?}"
            );
        }
    }
}

#[test]
fn misuse_gets_the_same_typed_error_in_every_language() {
    let server = serve_probes(&[]);
    for (case, kind) in [
        ("shape", "Shape"),
        ("broadcast", "Shape"),
        ("dtype", "Dtype"),
        ("argument", "InvalidArgument"),
        ("count", "Shape"),
        ("missing", "NotFound"),
        ("escape", "NotFound"),
        ("activation", "InvalidArgument"),
    ] {
        let messages: Vec<String> = PROBES
            .iter()
            .map(|probe| {
                let answer = server.post(&probe_request(probe, &format!("misuse {case}")));
                let error = answer.error(400, "invalid_request");
                error["message"].as_str().unwrap().to_owned()
            })
            .collect();
        assert!(
            messages[0].starts_with(&format!("{kind}: ")),
            "{case}: {}",
            messages[0]
        );
        assert!(
            messages.iter().all(|m| *m == messages[0]),
            "{case}: the languages disagree: {messages:?}"
        );
        if case == "activation" {
            // The refusal names the op and what would have been accepted.
            assert!(
                messages[0].ends_with("one of gelu, gelu-tanh, silu, relu; got tanh"),
                "{}",
                messages[0]
            );
        }
    }
}

#[test]
fn a_quota_overrun_is_503_in_every_language() {
    let server = serve_probes(&["--gpu-memory-mb", "64"]);
    for probe in PROBES {
        let error = server
            .post(&probe_request(probe, "oom"))
            .error(503, "resource_exhausted");
        assert_mentions(&error, "out of memory");
        // The model serves on.
        assert_eq!(server.post(&probe_request(probe, "rest")).status, 200);
    }
}

/// One request for each denoiser (the same but for the model id).
fn denoiser_request(model: &str, guidance: Value) -> Value {
    let mut options = json!({"seed": 11, "diffusion_steps": 5, "num_samples": 2});
    if !guidance.is_null() {
        options["guidance"] = guidance;
    }
    json!({
        "protocol_version": "1.4",
        "model": model,
        "skeleton": null_skeleton(),
        "segments": [{"type": "text", "prompt": "a person walks", "duration_frames": 40}],
        "options": options,
    })
}

#[test]
fn the_denoiser_in_three_languages_gives_the_same_motion() {
    let weights = Dir::new("weights-languages");
    write_weights(&weights.0, 2, Dtype::F32);
    let models = ["tiny-denoiser", "tiny-denoiser-py", "tiny-denoiser-js"];
    let server = Server::start_paths(
        &[
            component("denoiser"),
            component("denoiser-py"),
            component("denoiser-js"),
        ],
        &["--weights", weights.0.to_str().unwrap(), "--timeout", "300"],
    );
    for guidance in [
        Value::Null,
        json!({"type": "nocfg", "weight": []}),
        json!({"type": "separated", "weight": [2.0, 1.5]}),
    ] {
        let answers: Vec<Vec<f32>> = models
            .iter()
            .map(|model| {
                let a = server.post(&denoiser_request(model, guidance.clone()));
                assert_eq!(
                    a.status,
                    200,
                    "{model}: {}",
                    String::from_utf8_lossy(&a.body)
                );
                buffer_floats(&a.json())
            })
            .collect();
        assert!(!answers[0].is_empty());
        for (model, answer) in models.iter().zip(&answers).skip(1) {
            assert_eq!(answer.len(), answers[0].len(), "{model}");
            let differing = answer
                .iter()
                .zip(&answers[0])
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(
                differing, 0,
                "{model} differs from the Rust denoiser in {differing} values ({guidance})"
            );
        }
    }
}

/// The `mmcp:backbone` interfaces a component imports.
fn imports(name: &str) -> Vec<String> {
    inspect(name)
        .iter()
        .filter_map(|l| l.strip_prefix("import mmcp:backbone/"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn only_components_that_use_tensors_bind_the_gpu_world() {
    // The build picks the world from the sources (scripts/componentize.sh).
    for gpu in [
        "tensor-probe-py",
        "tensor-probe-js",
        "denoiser-py",
        "denoiser-js",
    ] {
        let imports = imports(gpu);
        for interface in ["tensor@0.1.0", "weights@0.1.0"] {
            assert!(imports.iter().any(|i| i == interface), "{gpu}: {imports:?}");
        }
    }
    for plain in ["null-py", "probe-py", "null-js", "walk-js"] {
        let imports = imports(plain);
        assert_eq!(imports, ["progress@0.1.0", "types@0.1.0"], "{plain}");
    }
}
