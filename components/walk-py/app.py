"""A procedural walk in Python: the root follows the request's `root_path`
(or walks straight ahead along +Z), facing where it goes, with the feet
stepping in time with the distance covered. Works on any rig: joints whose
names contain "left"/"right" and "foot" step, the rest hold their rest pose.
`components/walk-js` is the same walk in JavaScript; both give the same
numbers for the same request."""

import math
from array import array

from motionmcp_guest import (
    Backbone,
    GenerateRequest,
    Joint,
    ModelSpec,
    MotionResult,
    ProtocolError,
    Skeleton,
    export,
)

FPS = 30.0
SPEED = 1.2  # m/s without a root_path
MAX_SPEED = 8.0  # m/s; a path asking for more is refused
STRIDE = 1.4  # metres per gait cycle
STEP = 0.35  # foot swing, metres either side
LIFT = 0.08  # foot lift at mid-swing, metres
BOB = 0.02  # hip dip at each footfall, metres


def lerp_keys(frames, values, t):
    """Piecewise-linear through (frame, value) keys, held outside them."""
    if t <= frames[0]:
        return values[0]
    if t >= frames[-1]:
        return values[-1]
    for i in range(len(frames) - 1):
        f0, f1 = frames[i], frames[i + 1]
        if f0 <= t <= f1:
            u = (t - f0) / (f1 - f0)
            return tuple(a + (b - a) * u for a, b in zip(values[i], values[i + 1]))
    return values[-1]


def ground_path(request, fps, root):
    """(x, z) per frame and heading per frame (radians about +Y, 0 = +Z)."""
    T = request.total_frames
    paths = request.constraints_of("root_path")
    if not paths:
        xz = [(root[0], root[2] + SPEED * t / fps) for t in range(T)]
        headings = None
    else:
        path = paths[0]
        keys = [tuple(p) for p in path.positions_xz]
        for i in range(len(path.frames) - 1):
            f0, f1 = path.frames[i], path.frames[i + 1]
            speed = math.dist(keys[i], keys[i + 1]) / ((f1 - f0) / fps)
            if speed > MAX_SPEED:
                raise ProtocolError(
                    "invalid_request",
                    f"root_path asks for {speed:.2f} m/s between frames {f0} and {f1}; "
                    f"this walk tops out at {MAX_SPEED} m/s",
                    {"frame": f1, "speed_mps": round(speed, 3), "max_speed_mps": MAX_SPEED},
                )
        xz = [lerp_keys(path.frames, keys, t) for t in range(T)]
        headings = None
        if path.heading_radians is not None:
            hs = [(h,) for h in path.heading_radians]
            headings = [lerp_keys(path.frames, hs, t)[0] for t in range(T)]
    if headings is None:
        headings = []
        for t in range(T):
            a, b = xz[max(t - 1, 0)], xz[min(t + 1, T - 1)]
            dx, dz = b[0] - a[0], b[1] - a[1]
            if math.hypot(dx, dz) < 1e-9:
                headings.append(headings[-1] if headings else 0.0)
            else:
                headings.append(math.atan2(dx, dz))
    return xz, headings


class Walk(Backbone):
    def capabilities(self) -> ModelSpec:
        return ModelSpec(
            id="walk-py",
            fps=FPS,
            canonical_skeleton=Skeleton(
                [
                    Joint("Hips", None, (0.0, 0.95, 0.0)),
                    Joint("Spine", "Hips", (0.0, 0.50, 0.0)),
                    Joint("Head", "Spine", (0.0, 0.30, 0.0)),
                    Joint("LeftFoot", "Hips", (0.10, -0.95, 0.0)),
                    Joint("RightFoot", "Hips", (-0.10, -0.95, 0.0)),
                ]
            ),
            supports_retargeting=True,
            supports_joint_translation=True,
            supported_constraints=["root_path"],
            predicted_contact_joints=["LeftFoot", "RightFoot"],
        )

    def generate(self, request: GenerateRequest) -> MotionResult:
        joints = request.skeleton.joints
        B, T, J = request.num_samples, request.total_frames, len(joints)
        root = joints[0].rest_translation
        xz, headings = ground_path(request, request.fps(FPS), root)
        travelled = [0.0]
        for t in range(1, T):
            travelled.append(travelled[-1] + math.dist(xz[t - 1], xz[t]))
        feet = {
            i: (1.0 if "left" in j.name.lower() else -1.0)
            for i, j in enumerate(joints)
            if "foot" in j.name.lower() and ("left" in j.name.lower() or "right" in j.name.lower())
        }

        rotations = array("f")
        roots = array("f")
        translations = array("f")
        contacts = {joints[i].name: [] for i in feet}
        for b in range(B):
            for t in range(T):
                phase = 2.0 * math.pi * travelled[t] / STRIDE + b * math.pi / 2.0
                h = headings[t]
                roots.extend((xz[t][0], root[1] - BOB * (1.0 - math.cos(2.0 * phase)) / 2.0, xz[t][1]))
                for i, j in enumerate(joints):
                    if i == 0:
                        rotations.extend((0.0, math.sin(h / 2.0), 0.0, math.cos(h / 2.0)))
                        translations.extend(roots[-3:])
                        continue
                    rotations.extend((0.0, 0.0, 0.0, 1.0))
                    x, y, z = j.rest_translation
                    if i in feet:
                        side = feet[i]
                        lift = LIFT * max(0.0, side * math.cos(phase))
                        translations.extend((x, y + lift, z + STEP * side * math.sin(phase)))
                        contacts[j.name].append(lift == 0.0)
                    else:
                        translations.extend((x, y, z))

        notes = []
        if not request.constraints_of("root_path"):
            notes.append(
                {
                    "code": "straight_line",
                    "severity": "info",
                    "message": f"no root_path: walking straight ahead along +Z at {SPEED} m/s",
                }
            )
        return MotionResult(
            rotations=rotations,
            root_translations=roots,
            translations=translations,
            foot_contacts=contacts,
            notes=notes,
            num_samples=B,
            num_frames=T,
        )


export(Walk)
