//! The cases every tensor probe answers alike (see `../CASES.md`): `ops`
//! runs each op family on seeded inputs, `misuse <case>` names the typed
//! error a misuse gets, `bench <n>` chains tiny ops for the per-op cost.

use motionmcp_guest::tensor::{BinaryOp, Dtype, Tensor, TensorError, UnaryOp};
use serde_json::{json, Map, Value};

/// Every unary op, by its case name.
const UNARY: [(&str, UnaryOp); 14] = [
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
];

const BINARY: [(&str, BinaryOp); 8] = [
    ("add", BinaryOp::Add),
    ("sub", BinaryOp::Sub),
    ("mul", BinaryOp::Mul),
    ("div", BinaryOp::Div),
    ("maximum", BinaryOp::Maximum),
    ("minimum", BinaryOp::Minimum),
    ("pow", BinaryOp::Pow),
    ("atan2", BinaryOp::Atan2),
];

/// A result as `{"shape", "values"}`, read back by its element type.
fn entry(t: &Tensor) -> Result<Value, TensorError> {
    let values = match t.dtype() {
        Dtype::I32 => json!(t.to_i32()?),
        Dtype::U32 => json!(t.to_u32()?),
        _ => json!(t.to_vec()?),
    };
    Ok(json!({"shape": t.shape(), "values": values}))
}

/// `ops`: case name -> result.
pub fn ops() -> Result<Value, TensorError> {
    let a = Tensor::randn(&[3, 7], 1)?;
    let b = Tensor::randn(&[7, 5], 2)?;
    let c = Tensor::randn(&[3, 5], 3)?;
    let w = Tensor::randn(&[5, 7], 4)?;
    let bias = Tensor::randn(&[5], 5)?;
    let g = Tensor::randn(&[5], 6)?;
    let x = Tensor::rand(&[3, 5], 9)?.scale(1.0, 0.5)?;
    let y = Tensor::randn(&[5], 10)?;
    let q = Tensor::randn(&[1, 2, 4, 8], 12)?;
    let k = Tensor::randn(&[1, 2, 6, 8], 13)?;
    let v = Tensor::randn(&[1, 2, 6, 8], 14)?;
    let mut out = Map::new();
    let mut put = |name: String, t: Tensor| -> Result<(), TensorError> {
        out.insert(name, entry(&t)?);
        Ok(())
    };
    put("matmul".into(), a.matmul(&b)?)?;
    put("linear".into(), a.linear(&w, Some(&bias))?)?;
    put("linear_nobias".into(), a.linear(&w, None)?)?;
    put(
        "linear_gelu_residual".into(),
        a.linear_fused(&w, Some(&bias), Some(UnaryOp::Gelu), Some(&c))?,
    )?;
    put(
        "linear_relu".into(),
        a.linear_fused(&w, None, Some(UnaryOp::Relu), None)?,
    )?;
    for (name, op) in BINARY {
        put(format!("binary_{name}"), x.binary(op, &y)?)?;
    }
    put("atan2".into(), c.atan2(&y)?)?;
    for (name, op) in UNARY {
        put(format!("unary_{name}"), x.unary(op)?)?;
    }
    put("scale".into(), c.scale(2.0, -1.0)?)?;
    put("clamp".into(), c.clamp(-0.5, 0.5)?)?;
    put("softmax".into(), c.softmax()?)?;
    put(
        "layer_norm".into(),
        c.layer_norm(Some(&g), Some(&bias), 1e-5)?,
    )?;
    put("layer_norm_plain".into(), c.layer_norm(None, None, 1e-5)?)?;
    put("rms_norm".into(), c.rms_norm(Some(&g), 1e-6)?)?;
    put("reduce_sum_0".into(), c.sum(0, false)?)?;
    put("reduce_mean_1".into(), c.mean(1, true)?)?;
    put("reduce_max_1".into(), c.max(1, false)?)?;
    put("reshape".into(), c.reshape(&[5, -1])?)?;
    put(
        "permute".into(),
        Tensor::randn(&[2, 3, 4], 11)?.permute(&[2, 0, 1])?,
    )?;
    put("transpose".into(), c.transpose(0, 1)?)?;
    put("slice".into(), c.slice(1, 1, 4)?)?;
    put(
        "index_select".into(),
        c.index_select(0, &Tensor::from_i32(&[2, 0, -1], &[3])?)?,
    )?;
    put("concat".into(), Tensor::concat(&[&c, &x], 0)?)?;
    let cond = Tensor::from_u32(&[1, 0, 1, 0, 1], &[5])?;
    put("where".into(), Tensor::where_(&cond, &c, &x)?)?;
    put(
        "attention".into(),
        Tensor::attention(&q, &k, &v, None, None)?,
    )?;
    let mask = Tensor::from_u32(&[1, 1, 1, 0, 0, 1], &[6])?;
    put(
        "attention_masked".into(),
        Tensor::attention(&q, &k, &v, Some(&mask), Some(0.5))?,
    )?;
    put(
        "cast_f16".into(),
        c.scale(1000.0, 0.0)?.cast(Dtype::F16)?.cast(Dtype::F32)?,
    )?;
    put("cast_bf16".into(), c.cast(Dtype::Bf16)?.cast(Dtype::F32)?)?;
    put("cast_i32".into(), c.scale(10.0, 0.0)?.cast(Dtype::I32)?)?;
    put("rand".into(), Tensor::rand(&[7], 15)?)?;
    put("randn".into(), Tensor::randn(&[7], 16)?)?;
    put("arange".into(), Tensor::arange(0.5, 0.25, 6)?)?;
    put("full".into(), Tensor::full(&[2, 2], 3.5)?)?;
    put(
        "from_list".into(),
        Tensor::from_vec(&[1.5, -2.0, 3.25, 0.0], &[2, 2])?,
    )?;
    put(
        "from_u32".into(),
        Tensor::from_u32(&[7, 0, u32::MAX], &[3])?,
    )?;
    Ok(Value::Object(out))
}

/// `misuse <case>`: the error the misuse got, as `Kind: message`.
pub fn misuse(case: &str) -> String {
    let outcome = match case {
        "shape" => Tensor::ones(&[2, 3]).and_then(|t| t.matmul(&Tensor::ones(&[4, 2])?)),
        "broadcast" => Tensor::ones(&[2, 3]).and_then(|t| &t + &Tensor::ones(&[2])?),
        "dtype" => Tensor::from_u32(&[1, 2], &[2]).and_then(|t| t.exp()),
        "argument" => Tensor::ones(&[2, 3]).and_then(|t| t.permute(&[0, 0])),
        "count" => Tensor::from_vec(&[1.0, 2.0], &[3]),
        "missing" => Tensor::load("nope.safetensors", "x"),
        "escape" => Tensor::load("../../etc/passwd", "x"),
        "activation" => Tensor::ones(&[2, 3])
            .and_then(|t| t.linear_fused(&Tensor::ones(&[4, 3])?, None, Some(UnaryOp::Tanh), None)),
        other => return format!("no case {other}"),
    };
    match outcome {
        Ok(_) => "no error".into(),
        Err(e) => {
            let (kind, msg) = match &e {
                TensorError::Shape(m) => ("Shape", m),
                TensorError::Dtype(m) => ("Dtype", m),
                TensorError::InvalidArgument(m) => ("InvalidArgument", m),
                TensorError::OutOfMemory(m) => ("OutOfMemory", m),
                TensorError::NotFound(m) => ("NotFound", m),
                TensorError::Device(m) => ("Device", m),
            };
            format!("{kind}: {msg}")
        }
    }
}

/// `bench-call <n>`: n reshapes, host calls that record no GPU work.
pub fn bench_call(n: usize) -> Result<(), TensorError> {
    let mut x = Tensor::ones(&[2, 2])?;
    for i in 0..n {
        x = x.reshape(if i % 2 == 0 { &[4] } else { &[2, 2] })?;
    }
    Ok(())
}

/// `bench <n>`: n chained adds of [2, 2] tensors, read back once.
pub fn bench(n: usize) -> Result<(), TensorError> {
    let mut x = Tensor::ones(&[2, 2])?;
    let y = Tensor::ones(&[2, 2])?;
    for _ in 0..n {
        x = (&x + &y)?;
    }
    x.to_vec()?;
    Ok(())
}
