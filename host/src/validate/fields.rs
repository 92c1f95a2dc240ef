//! Typed readers over a JSON value that collect schema errors in the shape the
//! reference reports them (`type`, `loc`, `msg`, `ctx`; mmcp.md §8.1).
//!
//! Types are strict (decisions.md D1): a string is never a number, and the
//! only coercion is an integral float (`3.0`) for an integer field.

use serde_json::{json, Map, Value};

/// One path element of a `loc`.
pub type Loc = Vec<Value>;

/// One schema violation.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    pub kind: &'static str,
    pub loc: Loc,
    pub msg: String,
    pub ctx: Option<Value>,
    /// A skeleton-topology violation (answered 400 `invalid_skeleton`).
    pub topology: bool,
}

impl SchemaError {
    pub fn to_json(&self) -> Value {
        let mut entry = json!({"type": self.kind, "loc": self.loc, "msg": self.msg});
        if let Some(ctx) = &self.ctx {
            entry["ctx"] = ctx.clone();
        }
        entry
    }
}

/// Collected violations of one request.
#[derive(Debug, Default)]
pub struct Errors {
    pub list: Vec<SchemaError>,
}

impl Errors {
    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn push(
        &mut self,
        kind: &'static str,
        loc: Loc,
        msg: impl Into<String>,
        ctx: Option<Value>,
    ) {
        self.list.push(SchemaError {
            kind,
            loc,
            msg: msg.into(),
            ctx,
            topology: false,
        });
    }

    /// A per-object rule (pydantic's model validator): `loc` is the object.
    pub fn value_error(&mut self, loc: Loc, msg: &str) {
        self.push(
            "value_error",
            loc,
            format!("Value error, {msg}"),
            Some(json!({"error": msg})),
        );
    }

    pub fn topology(&mut self, loc: Loc, msg: String) {
        self.list.push(SchemaError {
            kind: "invalid_skeleton",
            loc,
            msg,
            ctx: None,
            topology: true,
        });
    }

    pub fn missing(&mut self, loc: Loc) {
        self.push("missing", loc, "Field required", None);
    }
}

pub fn at(loc: &Loc, key: impl Into<Value>) -> Loc {
    let mut l = loc.clone();
    l.push(key.into());
    l
}

/// The fields of one closed JSON object.
pub struct Object<'a> {
    pub map: &'a Map<String, Value>,
    pub loc: Loc,
}

impl<'a> Object<'a> {
    /// `value` as an object of the named model, reporting `model_type`.
    pub fn model(value: &'a Value, loc: Loc, class_name: &str, errs: &mut Errors) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Object { map, loc }),
            _ => {
                errs.push(
                    "model_type",
                    loc,
                    format!("Input should be a valid dictionary or instance of {class_name}"),
                    Some(json!({"class_name": class_name})),
                );
                None
            }
        }
    }

    /// Reports every key outside `known` as `extra_forbidden`.
    pub fn closed(&self, known: &[&str], errs: &mut Errors) {
        for key in self.map.keys() {
            if !known.contains(&key.as_str()) {
                errs.push(
                    "extra_forbidden",
                    at(&self.loc, key.as_str()),
                    "Extra inputs are not permitted",
                    None,
                );
            }
        }
    }

    /// A present, non-null field.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A required field; `null` counts as present (the type check rejects it).
    pub fn required(&self, key: &str, errs: &mut Errors) -> Option<&'a Value> {
        let v = self.map.get(key);
        if v.is_none() {
            errs.missing(at(&self.loc, key));
        }
        v
    }

    pub fn field_loc(&self, key: &str) -> Loc {
        at(&self.loc, key)
    }
}

pub fn string(v: &Value, loc: Loc, errs: &mut Errors) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        _ => {
            errs.push("string_type", loc, "Input should be a valid string", None);
            None
        }
    }
}

/// A string of `min..=max` Unicode code points.
pub fn string_len(
    v: &Value,
    loc: Loc,
    min: usize,
    max: Option<usize>,
    errs: &mut Errors,
) -> Option<String> {
    let s = string(v, loc.clone(), errs)?;
    let n = s.chars().count();
    if n < min {
        let unit = if min == 1 { "character" } else { "characters" };
        errs.push(
            "string_too_short",
            loc,
            format!("String should have at least {min} {unit}"),
            Some(json!({"min_length": min})),
        );
        return None;
    }
    if let Some(max) = max {
        if n > max {
            errs.push(
                "string_too_long",
                loc,
                format!("String should have at most {max} characters"),
                Some(json!({"max_length": max})),
            );
            return None;
        }
    }
    Some(s)
}

/// An integer in the signed 64-bit range (D2); `3.0` counts as 3 (D1).
pub fn integer(v: &Value, loc: Loc, errs: &mut Errors) -> Option<i64> {
    let Value::Number(n) = v else {
        errs.push("int_type", loc, "Input should be a valid integer", None);
        return None;
    };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let too_big = |errs: &mut Errors, loc| {
        errs.push(
            "int_parsing_size",
            loc,
            "Input should be an integer in the signed 64-bit range",
            None,
        );
    };
    if n.is_u64() {
        too_big(errs, loc);
        return None;
    }
    let f = n.as_f64().unwrap_or(f64::NAN);
    if f.fract() != 0.0 {
        errs.push(
            "int_from_float",
            loc,
            "Input should be a valid integer, got a number with a fractional part",
            None,
        );
        return None;
    }
    // 2^63 itself is out of range; every integral double below it fits.
    if (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&f) {
        Some(f as i64)
    } else {
        too_big(errs, loc);
        None
    }
}

pub fn number(v: &Value, loc: Loc, errs: &mut Errors) -> Option<f64> {
    match v.as_f64() {
        // serde_json refuses NaN/Infinity tokens and out-of-range literals,
        // so every number that gets here is finite (D3).
        Some(f) if v.is_number() => Some(f),
        _ => {
            errs.push("float_type", loc, "Input should be a valid number", None);
            None
        }
    }
}

pub fn boolean(v: &Value, loc: Loc, errs: &mut Errors) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => {
            errs.push("bool_type", loc, "Input should be a valid boolean", None);
            None
        }
    }
}

/// Bounds an integer or number field as pydantic's `gt`/`ge`/`le` do.
pub enum Bound {
    Gt(f64),
    Ge(f64),
    Le(f64),
}

/// Checks `value` against `bounds`; `int` selects integer spelling in `ctx`.
pub fn bounded(value: f64, loc: &Loc, bounds: &[Bound], int: bool, errs: &mut Errors) -> bool {
    let spell = |b: f64| if int { json!(b as i64) } else { json!(b) };
    // pydantic prints integral float bounds without a fraction ("greater than 0").
    let show = |b: f64| {
        if b.fract() == 0.0 {
            format!("{}", b as i64)
        } else {
            format!("{b}")
        }
    };
    for bound in bounds {
        let (ok, kind, words, key, b) = match *bound {
            Bound::Gt(b) => (value > b, "greater_than", "greater than", "gt", b),
            Bound::Ge(b) => (
                value >= b,
                "greater_than_equal",
                "greater than or equal to",
                "ge",
                b,
            ),
            Bound::Le(b) => (
                value <= b,
                "less_than_equal",
                "less than or equal to",
                "le",
                b,
            ),
        };
        if !ok {
            errs.push(
                kind,
                loc.clone(),
                format!("Input should be {words} {}", show(b)),
                Some(json!({ key: spell(b) })),
            );
            return false;
        }
    }
    true
}

pub fn int_in(v: &Value, loc: Loc, bounds: &[Bound], errs: &mut Errors) -> Option<i64> {
    let i = integer(v, loc.clone(), errs)?;
    bounded(i as f64, &loc, bounds, true, errs).then_some(i)
}

pub fn number_in(v: &Value, loc: Loc, bounds: &[Bound], errs: &mut Errors) -> Option<f64> {
    let f = number(v, loc.clone(), errs)?;
    bounded(f, &loc, bounds, false, errs).then_some(f)
}

/// A list with at least `min_len` items, each read by `item`. Returns `None`
/// if the list or any item is invalid.
pub fn list<T>(
    v: &Value,
    loc: Loc,
    min_len: usize,
    errs: &mut Errors,
    mut item: impl FnMut(&Value, Loc, &mut Errors) -> Option<T>,
) -> Option<Vec<T>> {
    let Value::Array(items) = v else {
        errs.push("list_type", loc, "Input should be a valid list", None);
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, value) in items.iter().enumerate() {
        match item(value, at(&loc, i), errs) {
            Some(x) => out.push(x),
            None => ok = false,
        }
    }
    if items.len() < min_len {
        let unit = if min_len == 1 { "item" } else { "items" };
        errs.push(
            "too_short",
            loc,
            format!(
                "List should have at least {min_len} {unit} after validation, not {}",
                items.len()
            ),
            Some(
                json!({"field_type": "List", "min_length": min_len, "actual_length": items.len()}),
            ),
        );
        return None;
    }
    ok.then_some(out)
}

/// A fixed-length tuple of numbers (vec2, vec3, quaternion).
pub fn tuple<const N: usize>(v: &Value, loc: Loc, errs: &mut Errors) -> Option<[f64; N]> {
    let Value::Array(items) = v else {
        errs.push("tuple_type", loc, "Input should be a valid tuple", None);
        return None;
    };
    if items.len() > N {
        errs.push(
            "too_long",
            loc,
            format!(
                "Tuple should have at most {N} items after validation, not {}",
                items.len()
            ),
            Some(json!({"field_type": "Tuple", "max_length": N, "actual_length": items.len()})),
        );
        return None;
    }
    let mut out = [0.0; N];
    let mut ok = true;
    for (i, slot) in out.iter_mut().enumerate() {
        match items.get(i) {
            Some(value) => match number(value, at(&loc, i), errs) {
                Some(f) => *slot = f,
                None => ok = false,
            },
            None => {
                errs.missing(at(&loc, i));
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// One of a fixed set of strings, compared exactly.
pub fn literal<T: Copy>(
    v: &Value,
    loc: Loc,
    choices: &[(&str, T)],
    errs: &mut Errors,
) -> Option<T> {
    if let Value::String(s) = v {
        if let Some((_, t)) = choices.iter().find(|(name, _)| name == s) {
            return Some(*t);
        }
    }
    let quoted: Vec<String> = choices.iter().map(|(n, _)| format!("'{n}'")).collect();
    let expected = match quoted.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    };
    errs.push(
        "literal_error",
        loc,
        format!("Input should be {expected}"),
        Some(json!({"expected": expected})),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_error<T>(f: impl FnOnce(&mut Errors) -> Option<T>) -> SchemaError {
        let mut errs = Errors::default();
        assert!(f(&mut errs).is_none());
        assert_eq!(errs.len(), 1, "{:?}", errs.list);
        errs.list.remove(0)
    }

    #[test]
    fn integers_are_strict_but_take_integral_floats() {
        let mut errs = Errors::default();
        assert_eq!(integer(&json!(3), vec![], &mut errs), Some(3));
        assert_eq!(integer(&json!(3.0), vec![], &mut errs), Some(3));
        assert_eq!(
            integer(&json!(-9223372036854775808i64), vec![], &mut errs),
            Some(i64::MIN)
        );
        assert!(errs.is_empty());
        assert_eq!(
            one_error(|e| integer(&json!(3.5), vec![], e)).kind,
            "int_from_float"
        );
        assert_eq!(
            one_error(|e| integer(&json!("3"), vec![], e)).kind,
            "int_type"
        );
        assert_eq!(
            one_error(|e| integer(&json!(true), vec![], e)).kind,
            "int_type"
        );
        assert_eq!(
            one_error(|e| integer(&json!(u64::MAX), vec![], e)).kind,
            "int_parsing_size"
        );
        assert_eq!(
            one_error(|e| integer(&json!(1e30), vec![], e)).kind,
            "int_parsing_size"
        );
    }

    #[test]
    fn bounds_spell_ctx_like_the_reference() {
        let e = one_error(|e| int_in(&json!(0), vec![json!("d")], &[Bound::Gt(0.0)], e));
        assert_eq!(
            e.to_json(),
            json!({"type": "greater_than", "loc": ["d"], "msg": "Input should be greater than 0", "ctx": {"gt": 0}})
        );
        let e = one_error(|e| number_in(&json!(0), vec![], &[Bound::Gt(0.0)], e));
        assert_eq!(e.ctx, Some(json!({"gt": 0.0})));
        let e = one_error(|e| int_in(&json!(501), vec![], &[Bound::Ge(1.0), Bound::Le(500.0)], e));
        assert_eq!(e.msg, "Input should be less than or equal to 500");
    }

    #[test]
    fn tuples_report_length_problems() {
        let e = one_error(|e| tuple::<3>(&json!([0, 1, 2, 3]), vec![], e));
        assert_eq!(e.kind, "too_long");
        assert_eq!(
            e.msg,
            "Tuple should have at most 3 items after validation, not 4"
        );
        let e = one_error(|e| tuple::<3>(&json!([0, 1]), vec![json!("t")], e));
        assert_eq!((e.kind, e.loc), ("missing", vec![json!("t"), json!(2)]));
        assert_eq!(
            one_error(|e| tuple::<4>(&json!({}), vec![], e)).kind,
            "tuple_type"
        );
        assert_eq!(
            one_error(|e| tuple::<2>(&json!(["1", 2]), vec![], e)).kind,
            "float_type"
        );
    }

    #[test]
    fn literals_list_their_choices() {
        let e = one_error(|e| literal(&json!("x"), vec![], &[("a", 1), ("b", 2), ("c", 3)], e));
        assert_eq!(e.msg, "Input should be 'a', 'b' or 'c'");
        let e = one_error(|e| literal(&json!("x"), vec![], &[("only", 1)], e));
        assert_eq!(e.msg, "Input should be 'only'");
    }

    #[test]
    fn strings_count_code_points() {
        let mut errs = Errors::default();
        let astral = "😀".repeat(128);
        assert!(string_len(&json!(astral), vec![], 1, Some(128), &mut errs).is_some());
        let e = one_error(|e| string_len(&json!("😀".repeat(129)), vec![], 1, Some(128), e));
        assert_eq!(e.kind, "string_too_long");
        assert_eq!(
            one_error(|e| string_len(&json!(""), vec![], 1, None, e)).kind,
            "string_too_short"
        );
    }

    #[test]
    fn short_lists_are_reported_once() {
        let e = one_error(|e| list(&json!([]), vec![], 1, e, integer));
        assert_eq!(
            e.msg,
            "List should have at least 1 item after validation, not 0"
        );
    }
}
