//! `POST /generate`: validation → backbone → result checks → glTF, for one
//! request or for each item of a batch. Each step only looks forward.

use std::time::Instant;

use tracing::Instrument;

use crate::error::ApiError;
use crate::gltf;
use crate::motion::Motion;
use crate::registry::Registry;
use crate::request::GenerateRequest;
use crate::runtime::convert;

/// Runs a validated request through its model and encodes the answer.
pub async fn run(req: &GenerateRequest, registry: &Registry) -> Result<gltf::Document, ApiError> {
    let backbone = registry
        .get(&req.model)
        .expect("validation looked the model up")
        .clone();
    let fps = req.effective_fps(backbone.spec().fps);
    let span = tracing::info_span!(
        "generate",
        model = %backbone.spec().id,
        frames = req.total_frames(),
        samples = req.options.as_ref().map_or(1, |o| o.num_samples),
        seconds = tracing::field::Empty,
    );
    async move {
        let spec = backbone.spec();
        let started = Instant::now();
        let result = backbone.generate(convert::request(req, spec.fps)).await;
        tracing::Span::current().record("seconds", started.elapsed().as_secs_f64());
        let motion = Motion::check(result?, &req.skeleton)?;
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
    .instrument(span)
    .await
}
