"""The Python guest SDK against the reference SDK it mirrors (motionmcp-sdk
0.13.0, installed in the test virtualenv): same ModelSpec and Limits
defaults, same error constructors, and MotionResult's shape rules. Runs on
CPython; the parts that need a component are covered through the host."""

import sys
import unittest
from array import array

import motionmcp.backbone as ref
import motionmcp.errors as ref_errors
import motionmcp.schemas as ref_schemas

import motionmcp_guest as sdk


def ref_skeleton():
    return ref_schemas.Skeleton(
        joints=[ref_schemas.Joint(name="Hips", parent=None, rest_translation=(0, 1, 0), rest_rotation=(0, 0, 0, 1))]
    )


class Defaults(unittest.TestCase):
    def test_model_spec_defaults_match_the_reference(self):
        theirs = ref.ModelSpec(id="m", fps=30.0, canonical_skeleton=ref_skeleton()).model_dump()
        ours = sdk.ModelSpec(id="m", fps=30.0, canonical_skeleton=sdk.Skeleton([sdk.Joint("Hips")]))
        self.assertEqual(
            [f for f in theirs if f != "canonical_skeleton"],
            [f for f in vars(ours) if f != "canonical_skeleton"],
            "same fields in the same order",
        )
        for field, value in theirs.items():
            if field in ("canonical_skeleton", "limits"):
                continue
            self.assertEqual(getattr(ours, field), value, field)
        self.assertEqual(vars(ours.limits), theirs["limits"])

    def test_construction_checks_match_the_reference(self):
        skeleton = sdk.Skeleton([sdk.Joint("Hips")])
        for bad in (dict(id=""), dict(fps=0.0), dict(chunking="sometimes")):
            args = dict(id="m", fps=30.0, canonical_skeleton=skeleton) | bad
            with self.assertRaises(ValueError, msg=bad):
                sdk.ModelSpec(**args)
        with self.assertRaises(ValueError):
            sdk.Limits(max_reference_frames=0)
        with self.assertRaises(ValueError):
            sdk.ModelOption(name="Bad", type="number")
        with self.assertRaises(ValueError):
            sdk.ModelOption(name="style", type="enum")
        sdk.ModelOption(name="style", type="enum", values=["calm"])


class Errors(unittest.TestCase):
    def test_constructors_match_the_reference(self):
        names = ["Hips", "it's", 'say "hi"', "tab\there", "back\\slash"]
        for name in names:
            for ours, theirs in [
                (sdk.unknown_model(name, ["a"]), ref_errors.unknown_model(name, ["a"])),
                (sdk.unsupported_constraint(name, ["x"]), ref_errors.unsupported_constraint(name, ["x"])),
                (sdk.unsupported_segment(name, ["x"]), ref_errors.unsupported_segment(name, ["x"])),
                (sdk.unknown_joint(name, ["Hips"]), ref_errors.unknown_joint(name, ["Hips"])),
                (
                    sdk.unknown_joint(name, ["Hips"], "motion_reference skeleton"),
                    ref_errors.unknown_joint(name, ["Hips"], "motion_reference skeleton"),
                ),
                (sdk.version_unsupported(name, ["1"]), ref_errors.version_unsupported(name, ["1"])),
            ]:
                self.assertEqual(ours.to_envelope(), theirs.to_envelope())
        self.assertEqual(
            sdk.frame_out_of_range(40, 30).to_envelope(), ref_errors.frame_out_of_range(40, 30).to_envelope()
        )
        self.assertEqual(
            sdk.retargeting_unsupported().to_envelope(), ref_errors.retargeting_unsupported().to_envelope()
        )
        self.assertEqual(sdk.STATUS_FOR, ref_errors.STATUS_FOR)

    def test_unknown_codes_are_refused(self):
        with self.assertRaises(ValueError):
            sdk.ProtocolError("teapot", "short and stout")


class Results(unittest.TestCase):
    def test_nested_lists_take_the_reference_shapes(self):
        r = sdk.MotionResult(
            rotations=[[[[0, 0, 0, 1]] * 2] * 3],
            root_translations=[[[0, 1, 0]] * 3],
            foot_contacts={"Foot": [[True, False, True]]},
        )
        self.assertEqual((r.num_samples, r.num_frames, r.num_joints), (1, 3, 2))
        self.assertEqual(len(r.rotations), 24)
        self.assertEqual(r.foot_contacts["Foot"], [True, False, True])

    def test_flat_arrays_need_the_sample_and_frame_counts(self):
        rotations = array("f", [0, 0, 0, 1]) * 6
        with self.assertRaises(ValueError):
            sdk.MotionResult(rotations=rotations, root_translations=[0.0] * 9)
        r = sdk.MotionResult(rotations=rotations, root_translations=[0.0] * 9, num_samples=1, num_frames=3)
        self.assertEqual(r.num_joints, 2)

    def test_shape_errors_name_the_array(self):
        cases = [
            dict(rotations=[[[[0, 0, 1]]]], root_translations=[[[0, 0, 0]]]),
            dict(rotations=[[[[0, 0, 0, 1]], []]], root_translations=[[[0, 0, 0]] * 2]),
            dict(rotations=[[[[0, 0, 0, 1]]]], root_translations=[[[0, 0, 0]] * 2]),
            dict(rotations=[[[[0, 0, 0, 1]]]], root_translations=[[[0, 0, 0]]], translations=[[[[0, 0]]]]),
            dict(rotations=[[[[0, 0, 0, 1]]]], root_translations=[[[0, 0, 0]]], foot_contacts={"F": [[1, 0]]}),
        ]
        for names, case in zip(["rotations", "rotations", "root_translations", "translations", "foot_contacts"], cases):
            with self.assertRaises(ValueError) as caught:
                sdk.MotionResult(**case)
            self.assertIn(names, str(caught.exception))

    def test_rest_pose(self):
        r = sdk.MotionResult.rest_pose(2, 3, 4, (0.0, 0.95, 0.0))
        self.assertEqual((r.num_samples, r.num_frames, r.num_joints), (2, 3, 4))
        self.assertEqual(list(r.rotations[:4]), [0, 0, 0, 1])
        self.assertAlmostEqual(r.root_translations[4], 0.95, places=6)


class Tensors(unittest.TestCase):
    """What of ``Tensor`` works outside a component: the error family and
    its envelopes (the ops themselves run through the host, in
    tests/components/tensor-probe-py)."""

    def test_without_the_gpu_world_constructors_say_so(self):
        for make in (lambda: sdk.Tensor.zeros([2]), lambda: sdk.Tensor.load("w.safetensors", "x")):
            with self.assertRaises(sdk.DeviceError) as caught:
                make()
            self.assertIn("built without the GPU world", str(caught.exception))

    def test_errors_are_named_by_wit_case_and_become_the_rust_sdks_envelopes(self):
        from motionmcp_guest._export import _protocol_error

        for cls, words in [
            (sdk.ShapeError, "shape"),
            (sdk.DtypeError, "dtype"),
            (sdk.InvalidArgumentError, "invalid argument"),
            (sdk.OutOfMemoryError, "out of memory"),
            (sdk.NotFoundError, "not found"),
            (sdk.DeviceError, "device"),
        ]:
            self.assertTrue(issubclass(cls, sdk.TensorError))
            e = _protocol_error(cls("msg"))
            code = "resource_exhausted" if cls is sdk.OutOfMemoryError else "internal_error"
            self.assertEqual((e.code, e.message), (code, f"tensor {words} error: msg"))


if __name__ == "__main__":
    result = unittest.main(exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)
