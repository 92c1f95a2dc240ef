"""The demo transformer denoiser of ``components/denoiser`` in Python (model
``tiny-denoiser-py``), through ``motionmcp_guest.Tensor``: the same network
(sinusoidal timestep embedding, text conditioning, pre-norm blocks), the same
DDIM sampling with classifier-free guidance, the same ``denoiser.safetensors``
from the operator's weights directory (``serve --weights DIR``; f32, f16 or
bf16), so for the same request and seed it answers the Rust model's motion
bit for bit.

Each frame is a token of ``3 + 3 * joints`` features: root offset and one
axis-angle per joint. The whole sampling loop stays on the GPU; the one
readback per sample is the final one (``model.py`` has the network,
``f32math.py`` the f32 scalar arithmetic the decoding shares with Rust)."""

from array import array

from f32math import cosf, f32, sinf, sqrtf, tanhf
from model import Denoiser
from motionmcp_guest import (
    Backbone,
    Joint,
    Limits,
    ModelSpec,
    MotionResult,
    ProtocolError,
    Skeleton,
    TensorError,
    export,
    report_progress,
)

# The weights file, relative to the granted directory.
WEIGHTS = "denoiser.safetensors"


def skeleton():
    return Skeleton([
        Joint("Hips", None, (0.0, 0.95, 0.0)),
        Joint("Spine", "Hips", (0.0, 0.50, 0.0)),
        Joint("Head", "Spine", (0.0, 0.30, 0.0)),
        Joint("LeftFoot", "Hips", (0.10, -0.95, 0.0)),
        Joint("RightFoot", "Hips", (-0.10, -0.95, 0.0)),
    ])


class Demo(Backbone):
    def __init__(self):
        self.model = None

    def setup(self):
        joints = len(skeleton().joints)
        try:
            self.model = Denoiser(WEIGHTS, 3 + 3 * joints)
        except TensorError as e:
            raise RuntimeError(f"cannot load {WEIGHTS}: {e.describe()}") from None

    def capabilities(self):
        # A software adapter runs a 20-second sample in seconds, not minutes.
        return ModelSpec(
            id="tiny-denoiser-py",
            fps=30.0,
            canonical_skeleton=skeleton(),
            limits=Limits(max_duration_seconds=20.0, max_num_samples=4),
        )

    def generate(self, request):
        if self.model is None:
            raise ProtocolError("model_unavailable", "the model's weights are not loaded")
        frames = request.total_frames
        joints = len(request.skeleton.joints)
        prompt = " ".join(s.prompt for s in request.segments if s.type in ("text", "pose"))
        guidance = request.options.guidance
        if guidance is None:
            kind, weights = "regular", [f32(2.5)]
        else:
            kind, weights = guidance.type, [f32(w) for w in guidance.weight]
        steps = max(request.options.diffusion_steps, 1)
        seed = request.options.seed or 0
        # Progress counts every step of every sample.
        total = min(steps * request.num_samples, 2**32 - 1)
        done = 0

        def on_step():
            nonlocal done
            done += 1
            report_progress(done, total)

        rotations, roots = array("f"), array("f")
        for sample in range(request.num_samples):
            x0 = self.model.sample(
                frames, prompt, kind, weights, steps, (seed + sample) % 2**64, on_step
            )
            decode(x0.to_flat(), frames, joints, rotations, roots)
        return MotionResult(
            rotations=rotations,
            root_translations=roots,
            num_samples=request.num_samples,
            num_frames=frames,
        )


_C03, _C04, _C05, _C095 = f32(0.3), f32(0.4), f32(0.05), f32(0.95)
_TINY = f32(1e-8)


def decode(features, frames, joints, rotations, roots):
    """Features to motion: a bounded root offset around the rest height and a
    bounded axis-angle per joint, as quaternions; in f32 as Rust computes it."""
    width = 3 + 3 * joints
    for f in range(frames):
        row = features[f * width : (f + 1) * width]
        roots.extend((
            f32(_C03 * tanhf(row[0])),
            f32(_C095 + f32(_C05 * tanhf(row[1]))),
            f32(_C03 * tanhf(row[2])),
        ))
        for j in range(joints):
            ax, ay, az = (f32(_C04 * tanhf(v)) for v in row[3 + 3 * j : 6 + 3 * j])
            angle = sqrtf(f32(f32(f32(ax * ax) + f32(ay * ay)) + f32(az * az)))
            if angle < _TINY:
                rotations.extend((0.0, 0.0, 0.0, 1.0))
            else:
                half = f32(angle / 2.0)
                s = f32(sinf(half) / angle)
                rotations.extend((f32(ax * s), f32(ay * s), f32(az * s), cosf(half)))


export(Demo)
