"""Every way a source can be wrong ends in a BadInputError that says what happened and what to do."""

from __future__ import annotations

import pickle
import random

import pytest
import torch

from heimdall_studio.core.errors import BadInputError, ErrorKind
from heimdall_studio.core.sources import load_source
from heimdall_studio.core.specs import SourceOptions
from heimdall_studio.models import LocalizationNet
from tests.support.tiny_models import TwoHeadNet

TWO_HEAD = "tests.support.tiny_models:TwoHeadNet"
TWO_HEAD_INPUT = ("x:batch,3,16,8:float32",)


class WritesAMarker:
    """Unpickling this runs ``exec``, which writes a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code from the file ran')",)


def bad_input(path, **options) -> BadInputError:
    with pytest.raises(BadInputError) as info:
        load_source(path, SourceOptions(**options))
    error = info.value
    assert error.kind is ErrorKind.BAD_INPUT and error.exit_code == 2
    assert error.message and error.hint, "a user error says what happened and what to do"
    assert "Traceback" not in str(error) and 'File "' not in str(error)
    return error


def test_missing_path(tmp_path):
    error = bad_input(tmp_path / "nope.pt")
    assert "does not exist" in error.message


def test_directory(tmp_path):
    error = bad_input(tmp_path)
    assert "is a folder" in error.message


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.touch()
    assert "empty (0 bytes)" in bad_input(path).message


def test_truncated_checkpoint(tmp_path, two_head_state_dict):
    data = two_head_state_dict.read_bytes()
    path = tmp_path / "half.pt"
    path.write_bytes(data[: len(data) // 2])
    error = bad_input(path, model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT)
    assert "cut short or damaged" in error.message
    assert "copy it again" in error.hint


def test_truncated_legacy_pickle_checkpoint(tmp_path):
    full = tmp_path / "legacy.pt"
    torch.save(TwoHeadNet().state_dict(), full, _use_new_zipfile_serialization=False)
    data = full.read_bytes()
    path = tmp_path / "half.pt"
    path.write_bytes(data[: len(data) // 3])
    assert "cut short or damaged" in bad_input(path, model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT).message


def test_random_bytes_named_pt(tmp_path):
    path = tmp_path / "noise.pt"
    path.write_bytes(random.Random(0).randbytes(4096))
    error = bad_input(path)
    assert "noise.pt" in error.message
    assert "not a model file" in error.message or "cut short or damaged" in error.message


def test_truncated_onnx(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    weight = helper.make_tensor("w", TensorProto.FLOAT, [64, 64], [0.5] * 4096)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 64])],
        [weight],
    )
    data = helper.make_model(graph).SerializeToString()
    onnx.checker.check_model(onnx.load_from_string(data))
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    error = bad_input(path)
    assert "ONNX" in error.message and "cut.onnx" in error.message


def test_keys_that_do_not_fit_the_class_are_listed(tmp_path):
    state = TwoHeadNet().state_dict()
    state["extra.weight"] = torch.zeros(3)
    del state["conv.bias"]
    path = tmp_path / "odd.pt"
    torch.save(state, path)
    error = bad_input(path, model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT)
    assert "1 missing key(s): conv.bias" in error.message
    assert "1 unexpected key(s): extra.weight" in error.message
    assert "--model-class" in error.hint


def test_many_missing_keys_are_counted_and_cut_to_ten(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({f"layer{i}.weight": torch.zeros(1) for i in range(25)}, path)
    error = bad_input(path, model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT)
    assert "25 unexpected key(s)" in error.message and "… and 15 more" in error.message
    assert "10 missing key(s)" in error.message


def test_shape_mismatches_show_both_shapes(two_head_state_dict):
    error = bad_input(two_head_state_dict, model_class=TWO_HEAD, model_kwargs={"width": 4}, inputs=TWO_HEAD_INPUT)
    assert "conv.weight: file (8, 3, 3, 3), model (4, 3, 3, 3)" in error.message


@pytest.mark.parametrize("module_format", ["torch.save", "pickle.dump"])
def test_malicious_pickle_does_not_run_without_trust(tmp_path, module_format):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "innocent.pt"
    payload = {"model_state_dict": TwoHeadNet().state_dict(), "note": WritesAMarker(marker)}
    if module_format == "torch.save":
        torch.save(payload, path)
    else:
        with path.open("wb") as handle:
            pickle.dump(payload, handle)
    error = bad_input(path)
    assert not marker.exists(), "unpickling ran code from the file without --trust"
    assert "builtins.exec" in error.message
    assert "runs code from the file" in error.message
    assert "--trust" in error.hint


def test_pickled_module_without_trust_names_the_flag(tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(TwoHeadNet(), path)
    error = bad_input(path, inputs=TWO_HEAD_INPUT)
    assert "tests.support.tiny_models.TwoHeadNet" in error.message
    assert "--trust" in error.hint


def test_unknown_architecture_without_model_class(two_head_state_dict):
    error = bad_input(two_head_state_dict)
    assert "conv.weight" in error.message and "--model-class" in error.hint


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("no_such_package.models:Net", "cannot import module 'no_such_package.models'"),
        ("tests.support.tiny_models", "not of the form package.module:Class"),
        ("tests.support.tiny_models:NoSuchNet", "has no attribute 'NoSuchNet'"),
        ("tests.support.tiny_models:annotations", "is not a torch.nn.Module subclass"),
    ],
)
def test_model_class_that_cannot_be_used(two_head_state_dict, spec, expected):
    error = bad_input(two_head_state_dict, model_class=spec, inputs=TWO_HEAD_INPUT)
    assert expected in error.message


def test_model_kwargs_the_class_rejects(two_head_state_dict):
    error = bad_input(two_head_state_dict, model_class=TWO_HEAD, model_kwargs={"depth": 3}, inputs=TWO_HEAD_INPUT)
    assert "does not accept --model-kwargs {'depth': 3}" in error.message
    assert "depth" in error.message and "--model-kwargs" in error.hint


def test_forward_failing_on_the_spec_input(tmp_path):
    from tests.support.tiny_models import BrokenForwardNet

    path = tmp_path / "broken.pt"
    torch.save(BrokenForwardNet().state_dict(), path)
    error = bad_input(path, model_class="tests.support.tiny_models:BrokenForwardNet", inputs=("x:batch,4",))
    assert "x:batch,4:float32" in error.message and "forward pass" in error.message
    assert "RuntimeError" in error.message and "\n" not in error.message
    assert "--input" in error.hint


def test_torchscript_without_input_specs_asks_for_them(tmp_path):
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(TwoHeadNet()), str(path))
    error = bad_input(path)
    assert "forward takes: x" in error.message and "--input" in error.hint


def test_output_names_that_do_not_match_the_outputs(two_head_state_dict):
    error = bad_input(two_head_state_dict, model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT, output_names=("only_one",))
    assert "returns 2 output(s)" in error.message


def test_dict_that_is_no_state_dict(tmp_path):
    path = tmp_path / "config.pt"
    torch.save({"lr": 0.1, "epochs": 3}, path)
    assert "without model_state_dict or state_dict" in bad_input(path).message


def test_localization_checkpoint_with_2048_feature_heads(tmp_path):
    # The training service's ConvNeXt-Large config: heads declared for 2048 features.
    # Only shapes matter before the model is built, so small stand-in tensors keep it cheap.
    with torch.device("meta"):
        keys = LocalizationNet("large").state_dict().keys()
    state = {key: torch.zeros(1) for key in keys}
    state["backbone.0.0.0.weight"] = torch.zeros(192, 3, 4, 4)
    state["position_head.0.weight"] = torch.zeros(128, 2048)
    state["uncertainty_head.0.weight"] = torch.zeros(128, 2048)
    path = tmp_path / "large_2048.pt"
    torch.save({"epoch": 40, "model_state_dict": state, "optimizer_state_dict": {}, "best_val_loss": 0.1}, path)
    error = bad_input(path)
    assert "1536 features" in error.message and "heads take 2048" in error.message
    assert "2048" in error.hint and "1536" in error.hint


def test_the_marker_payload_does_run_when_trusted(tmp_path):
    # Proves the payload above is live, so its absence without --trust means something.
    marker = tmp_path / "marker.txt"
    path = tmp_path / "innocent.pt"
    torch.save({"model_state_dict": TwoHeadNet().state_dict(), "note": WritesAMarker(marker)}, path)
    loaded = load_source(path, SourceOptions(trust=True, model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT))
    assert loaded.architecture == TWO_HEAD
    assert marker.read_text() == "code from the file ran"


def test_model_kwargs_the_builtin_model_rejects(demo_checkpoint):
    error = bad_input(demo_checkpoint, model_kwargs={"dropout": 0.5})
    assert "LocalizationNet(convnext_tiny) does not accept --model-kwargs" in error.message
    assert "unexpected keyword argument 'dropout'" in error.message


def test_malformed_metadata_specs(tmp_path):
    path = tmp_path / "described.pt"
    torch.save(
        {"model_state_dict": TwoHeadNet().state_dict(), "heimdall": {"inputs": [{"shape": [1, 3, 16, 8]}]}}, path
    )
    error = bad_input(path, model_class=TWO_HEAD)
    assert "'heimdall' metadata are malformed" in error.message
    assert load_source(path, SourceOptions(model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT)).inputs[0].name == "x"
