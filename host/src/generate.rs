//! `POST /generate`: validation → backbone → result checks → glTF, for one
//! request or for each item of a batch. Each step only looks forward.

use std::time::Instant;

use tracing::Instrument;

use crate::bindings::MotionResult;
use crate::error::ApiError;
use crate::gltf;
use crate::motion::Motion;
use crate::registry::Registry;
use crate::runtime::convert;
use crate::trajectory;
use crate::validate::Validated;

/// Runs a validated request through its model and encodes the answer, with
/// the spec it was validated against throughout.
pub async fn run(valid: &Validated, registry: &Registry) -> Result<gltf::Document, ApiError> {
    let (req, spec) = (&valid.request, &valid.spec);
    let backbone = registry
        .get(&req.model)
        .expect("validation looked the model up")
        .clone();
    let span = tracing::info_span!(
        "generate",
        model = %spec.id,
        frames = req.total_frames(),
        samples = req.options.as_ref().map_or(1, |o| o.num_samples),
        seconds = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let result = backbone.generate(convert::request(req, spec.fps)).await;
        tracing::Span::current().record("seconds", started.elapsed().as_secs_f64());
        encode(valid, result?)
    }
    .instrument(span)
    .await
}

/// Runs one batch body's valid items for one model (all naming it) through
/// the backbone's batch hook in one call, encoding each answer; `None` when
/// the backbone has no hook (the caller runs them one by one).
pub async fn run_group(
    items: &[&Validated],
    registry: &Registry,
) -> Option<Vec<Result<gltf::Document, ApiError>>> {
    let backbone = registry
        .get(&items.first()?.request.model)
        .expect("validation looked the model up")
        .clone();
    if !backbone.has_batch_hook() {
        return None;
    }
    let span = tracing::info_span!(
        "generate_batch",
        model = %backbone.id(),
        items = items.len(),
        frames = items.iter().map(|v| v.request.total_frames()).sum::<i64>(),
        seconds = tracing::field::Empty,
    );
    let answers = async {
        let started = Instant::now();
        let requests = items
            .iter()
            .map(|v| convert::request(&v.request, v.spec.fps))
            .collect();
        let results = backbone.generate_batch(requests).await;
        tracing::Span::current().record("seconds", started.elapsed().as_secs_f64());
        match results {
            Ok(results) => items
                .iter()
                .zip(results)
                .map(|(valid, result)| encode(valid, result?))
                .collect(),
            // The whole group failed: every item says so.
            Err(e) => vec![Err(e); items.len()],
        }
    }
    .instrument(span)
    .await;
    Some(answers)
}

/// Checks a backbone's result against the request and encodes it.
fn encode(valid: &Validated, result: MotionResult) -> Result<gltf::Document, ApiError> {
    let (req, spec) = (&valid.request, &valid.spec);
    let mut motion = Motion::check(result, &req.skeleton)?;
    let fps = req.effective_fps(spec.fps);
    if motion.trajectories.is_none() {
        let looped = req.options.as_ref().is_some_and(|o| o.loop_);
        motion.trajectories =
            trajectory::for_answer(&trajectory::Input::new(&motion, &req.skeleton, fps, looped));
    }
    Ok(gltf::build(
        &motion,
        &gltf::Context {
            skeleton: &req.skeleton,
            model_id: &spec.id,
            fps,
            joint_translation: spec.supports_joint_translation,
        },
    ))
}
