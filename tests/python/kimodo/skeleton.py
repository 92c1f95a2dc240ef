"""somaskel30: joint names, parents and rest positions (fact sheet section 3.1)."""

import numpy as np

JOINT_NAMES = [
    "Hips", "Spine1", "Spine2", "Chest", "Neck1", "Neck2", "Head", "Jaw", "LeftEye", "RightEye",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumbEnd", "LeftHandMiddleEnd",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumbEnd", "RightHandMiddleEnd",
    "LeftLeg", "LeftShin", "LeftFoot", "LeftToeBase", "RightLeg", "RightShin", "RightFoot", "RightToeBase",
]
PARENTS = [-1, 0, 1, 2, 3, 4, 5, 6, 6, 6, 3, 10, 11, 12, 13, 13, 3, 16, 17, 18, 19, 19, 0, 22, 23, 24, 0, 26, 27, 28]
NUM_JOINTS = 30
ROOT = 0

# Global rest positions in metres, pelvis at the origin, T-pose, +Z forward, left = +X.
REST_POSITIONS = np.array([
    [0.0, 0.0, 0.0],
    [-0.00014, 0.05004, -0.00054],
    [-0.00014, 0.12129, -0.00084],
    [-0.00014, 0.19679, -0.00900],
    [-0.00195, 0.45990, -0.01453],
    [-0.00195, 0.53700, 0.00850],
    [-0.00195, 0.59829, 0.02803],
    [-0.00193, 0.60304, 0.05898],
    [0.03011, 0.65209, 0.10390],
    [-0.03418, 0.65191, 0.10362],
    [0.01608, 0.42916, 0.04214],
    [0.16528, 0.42916, -0.01288],
    [0.45267, 0.42916, -0.01291],
    [0.72361, 0.42916, -0.01288],
    [0.84630, 0.39696, 0.03545],
    [0.91373, 0.42603, -0.01322],
    [-0.01394, 0.42859, 0.04315],
    [-0.16431, 0.42859, -0.01231],
    [-0.45168, 0.42859, -0.01234],
    [-0.72301, 0.42859, -0.01231],
    [-0.84566, 0.39648, 0.03573],
    [-0.91302, 0.42553, -0.01263],
    [0.10043, -0.08435, 0.02596],
    [0.10043, -0.51656, 0.01793],
    [0.10043, -0.93811, -0.01689],
    [0.10043, -0.98871, 0.11543],
    [-0.10047, -0.08295, 0.02620],
    [-0.10047, -0.51657, 0.01815],
    [-0.10047, -0.93775, -0.01664],
    [-0.10047, -0.98854, 0.11621],
], dtype=np.float64)

HIP_RIGHT, HIP_LEFT = 26, 22          # heading: d = pos(RightLeg) - pos(LeftLeg)
LEFT_FOOT_CHAIN = ["LeftFoot", "LeftToeBase"]
RIGHT_FOOT_CHAIN = ["RightFoot", "RightToeBase"]
LEFT_HAND_CHAIN = ["LeftHand", "LeftHandMiddleEnd"]
RIGHT_HAND_CHAIN = ["RightHand", "RightHandMiddleEnd"]
CHAINS = {
    "LeftFoot": LEFT_FOOT_CHAIN,
    "RightFoot": RIGHT_FOOT_CHAIN,
    "LeftHand": LEFT_HAND_CHAIN,
    "RightHand": RIGHT_HAND_CHAIN,
    "Hips": ["Hips"],
}
# The joint whose rest position anchors an effector's "reach" direction (motionmcp-kimodo).
CHAIN_ANCHOR = {"LeftHand": "LeftShoulder", "RightHand": "RightShoulder", "LeftFoot": "Hips", "RightFoot": "Hips"}
CONTACT_JOINTS = ["LeftFoot", "LeftToeBase", "RightFoot", "RightToeBase"]

INDEX = {n: i for i, n in enumerate(JOINT_NAMES)}


def standing_root_height():
    """Lift that puts the lowest rest joint on y = 0 (0.98871 m)."""
    return max(0.0, -float(REST_POSITIONS[:, 1].min()))


def canonical_skeleton():
    """The MMCP canonical skeleton as motionmcp-kimodo advertises it: parent-local rest
    translations, identity rest rotations, the root lifted so the lowest joint is at y = 0."""
    rest32 = REST_POSITIONS.astype(np.float32)
    joints = []
    for j, name in enumerate(JOINT_NAMES):
        p = PARENTS[j]
        if p < 0:
            t = rest32[j].copy()
            t[1] += np.float32(standing_root_height())
            parent = None
        else:
            t = rest32[j] - rest32[p]
            parent = JOINT_NAMES[p]
        joints.append({"name": name, "parent": parent, "rest_translation": [float(v) for v in t],
                       "rest_rotation": [0.0, 0.0, 0.0, 1.0]})
    return {"joints": joints, "coordinate_system": "right_handed_y_up", "units": "meters"}


def ee_group(joint):
    """Which of Kimodo's effector groups a joint belongs to (None outside every chain)."""
    if joint == "Hips":
        return "Hips"
    for g in ("LeftFoot", "RightFoot", "LeftHand", "RightHand"):
        if joint in CHAINS[g]:
            return g
    return None
