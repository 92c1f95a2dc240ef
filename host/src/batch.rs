//! Batch bodies (mmcp.md §5, §6.4): `{"protocol_version", "requests": [...]}`.
//! The envelope is checked as a whole (B1–B4); then every item runs the
//! single-request pipeline on its own, and a failing item never fails its
//! siblings. Items run grouped by model, in order of first appearance.

use serde_json::{json, Map, Value};

use crate::error::{ApiError, ErrorCode};
use crate::generate;
use crate::registry::Registry;
use crate::runtime::Hold;
use crate::validate::{self, Validated};

/// Whether a decoded body is a batch (P6).
pub fn is_batch(body: &Value) -> bool {
    body.as_object().is_some_and(|m| m.contains_key("requests"))
}

/// The lenient batch major check (§5): the text before the first `.`,
/// trimmed, with an optional sign and `_` separators, must be the integer 1.
fn batch_major_is_one(version: &str) -> bool {
    let major = version.split('.').next().unwrap_or("").trim();
    let digits = major.strip_prefix(['+', '-']).unwrap_or(major);
    let negative = major.starts_with('-');
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    well_formed && !negative && digits.replace('_', "").trim_start_matches('0') == "1"
}

/// B1–B4; the items when the envelope is acceptable.
fn envelope<'a>(body: &'a Value, registry: &Registry) -> Result<(&'a str, &'a [Value]), ApiError> {
    let Some(version) = body.get("protocol_version").and_then(Value::as_str) else {
        return Err(ApiError::new(
            ErrorCode::SchemaValidation,
            "a batch needs a protocol_version",
        ));
    };
    if !batch_major_is_one(version) {
        return Err(validate::version_unsupported(version));
    }
    let items = match body.get("requests") {
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            return Err(ApiError::new(
                ErrorCode::SchemaValidation,
                "requests must be a non-empty list",
            ));
        }
    };
    let max = registry.min_batch_size();
    if items.len() as u64 > max {
        return Err(ApiError::invalid_options(format!(
            "a batch holds at most {max} requests; got {}",
            items.len()
        ))
        .with_details(json!({"max_batch_size": max, "requests": items.len()})));
    }
    Ok((version, items))
}

/// Length of `item` as compact JSON with every non-ASCII character escaped
/// as `\uXXXX` UTF-16 units (I3; an astral character costs 12 bytes).
pub fn item_size(item: &Value) -> usize {
    let text = serde_json::to_string(item).expect("JSON values serialise");
    text.len()
        + text
            .chars()
            .filter(|c| !c.is_ascii())
            .map(|c| 6 * c.len_utf16() - c.len_utf8())
            .sum::<usize>()
}

/// Answers a decoded batch body: `{"results": [...]}`, or the error that
/// refuses the whole batch.
/// `hold` is kept alive by every guest call the batch makes.
pub async fn run(body: &Value, registry: &Registry, hold: Hold) -> Result<Value, ApiError> {
    let (version, items) = envelope(body, registry)?;
    let mut results: Vec<Option<Value>> = vec![None; items.len()];
    let mut valid = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(fields) = item.as_object() else {
            let e = ApiError::new(
                ErrorCode::SchemaValidation,
                "each request must be an object",
            );
            results[i] = Some(e.envelope());
            continue;
        };
        // I2: the batch version under the item's own keys.
        let mut merged = Map::new();
        merged.insert("protocol_version".into(), json!(version));
        merged.extend(fields.clone());
        match validate::single(&Value::Object(merged), item_size(item), registry) {
            Ok(mut req) => {
                req.hold = hold.clone();
                valid.push((i, req))
            }
            Err(e) => results[i] = Some(e.envelope()),
        }
    }
    // I4: grouped by model, groups in order of first appearance.
    let mut models: Vec<&str> = Vec::new();
    for (_, v) in &valid {
        if !models.contains(&v.request.model.as_str()) {
            models.push(&v.request.model);
        }
    }
    let answer = |doc: Result<crate::gltf::Document, ApiError>| match doc {
        Ok(doc) => json!({"gltf": doc.into_json()}),
        Err(e) => e.envelope(),
    };
    for model in models {
        let (indices, group): (Vec<usize>, Vec<&Validated>) = valid
            .iter()
            .filter(|(_, v)| v.request.model == model)
            .map(|(i, v)| (*i, v))
            .unzip();
        // The backbone's batch hook when it has one, else item by item.
        if let Some(docs) = generate::run_group(&group).await {
            for (i, doc) in indices.into_iter().zip(docs) {
                results[i] = Some(answer(doc));
            }
            continue;
        }
        for (i, req) in indices.into_iter().zip(group) {
            results[i] = Some(answer(generate::run(req).await));
        }
    }
    let results: Vec<Value> = results
        .into_iter()
        .map(|r| r.expect("every item answered"))
        .collect();
    Ok(json!({"results": results}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_batch_majors() {
        for ok in ["1", "1.4", " 1.0", "1.x.y", "+1.0", "01.0", "0_1.0"] {
            assert!(batch_major_is_one(ok), "{ok:?}");
        }
        for bad in [
            "abc", "2.0", "0.9", "", ".1", "-1.0", "1_.0", "1__0.0", "10.0",
        ] {
            assert!(!batch_major_is_one(bad), "{bad:?}");
        }
    }

    #[test]
    fn item_size_escapes_non_ascii() {
        assert_eq!(item_size(&json!({"a": "é"})), r#"{"a":"\u00e9"}"#.len());
        assert_eq!(item_size(&json!("😀")), r#""\ud83d\ude00""#.len());
    }
}
