//! `POST /generate`: validation → backbone → result checks → glTF, for one
//! request or for each item of a batch. Each step only looks forward.

use std::time::Instant;

use tracing::Instrument;

use crate::bindings::MotionResult;
use crate::error::ApiError;
use crate::gltf;
use crate::motion::Motion;
use crate::runtime::convert;
use crate::trajectory;
use crate::validate::Validated;

/// Runs a validated request through its model and encodes the answer, with
/// the spec it was validated against throughout.
pub async fn run(valid: &Validated) -> Result<gltf::Document, ApiError> {
    let (req, spec, backbone) = (&valid.request, &valid.spec, &valid.model);
    let span = tracing::info_span!(
        "generate",
        model = %spec.id,
        frames = req.total_frames(),
        samples = req.options.as_ref().map_or(1, |o| o.num_samples),
        seconds = tracing::field::Empty,
    );
    async move {
        let started = Instant::now();
        let result = backbone
            .generate(
                convert::request(req, spec.fps),
                valid.hold.clone(),
                valid.progress.clone(),
            )
            .await;
        tracing::Span::current().record("seconds", started.elapsed().as_secs_f64());
        // The backbone's own time (queue wait and guest call), apart from
        // the request's: visible with RUST_LOG=motionmcp_host=debug.
        tracing::debug!("generated");
        let result = result?;
        heavy(|| encode(valid, result))
    }
    .instrument(span)
    .await
}

/// Runs one batch body's valid items for one model (all naming it) through
/// the backbone's batch hook in one call, encoding each answer; `None` when
/// the backbone has no hook (the caller runs them one by one).
pub async fn run_group(items: &[&Validated]) -> Option<Vec<Result<gltf::Document, ApiError>>> {
    let backbone = &items.first()?.model;
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
        let hold = items.first().and_then(|v| v.hold.clone());
        let results = backbone.generate_batch(requests, hold).await;
        tracing::Span::current().record("seconds", started.elapsed().as_secs_f64());
        match results {
            Ok(results) => heavy(|| {
                items
                    .iter()
                    .zip(results)
                    .map(|(valid, result)| encode(valid, result?))
                    .collect()
            }),
            // The whole group failed: every item says so.
            Err(e) => vec![Err(ApiError::from(e)); items.len()],
        }
    }
    .instrument(span)
    .await;
    Some(answers)
}

/// Runs CPU-heavy work (the trajectory analysis and glTF encoding of a long
/// multi-sample answer take tens of milliseconds) so that it cannot stall
/// the async worker it was called on: on a multi-threaded runtime the
/// worker's other tasks (the accept loop, other connections) move to
/// another worker meanwhile.
fn heavy<T>(work: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(work),
        _ => work(),
    }
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
