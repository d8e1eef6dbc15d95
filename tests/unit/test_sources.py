"""load_source opens every supported kind of file, told apart by content."""

from __future__ import annotations

import subprocess
import sys

import onnx
import pytest
import torch
from onnx import TensorProto, helper

from heimdall_studio.core import model as kinds
from heimdall_studio.core.sources import load_source
from heimdall_studio.core.specs import SourceOptions, TensorSpec
from heimdall_studio.models import INPUT_SPEC, OUTPUT_NAMES
from heimdall_studio.models.demo import demo_model
from tests.support.tiny_models import MultiInputNet, TwoHeadNet

TWO_HEAD = "tests.support.tiny_models:TwoHeadNet"
TWO_HEAD_INPUT = ("x:batch,3,16,8:float32",)


@pytest.fixture(scope="module")
def reference():
    """The model the session's demo checkpoint holds."""
    return demo_model("tiny", seed=0)


@pytest.fixture(scope="module")
def demo_state(reference):
    return reference.state_dict()


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module, *args: torch.Tensor) -> bool:
    with torch.no_grad():
        out_a, out_b = a(*args), b(*args)
    out_a = out_a if isinstance(out_a, (tuple, list)) else (out_a,)
    out_b = out_b if isinstance(out_b, (tuple, list)) else (out_b,)
    return all(torch.equal(x, y) for x, y in zip(out_a, out_b, strict=True))


def _two_head(seed: int = 0, **kwargs) -> TwoHeadNet:
    torch.manual_seed(seed)
    return TwoHeadNet(**kwargs).eval()


def test_heimdall_checkpoint_with_metadata_needs_no_options(demo_checkpoint, reference):
    loaded = load_source(demo_checkpoint)
    assert loaded.kind == kinds.CHECKPOINT
    assert loaded.architecture == "LocalizationNet(convnext_tiny)"
    assert loaded.inputs == [INPUT_SPEC] and loaded.output_names == list(OUTPUT_NAMES)
    assert not loaded.module.training
    assert loaded.parameters == sum(p.numel() for p in reference.parameters())
    assert loaded.metadata["epoch"] == 0 and loaded.metadata["backbone"] == "tiny"
    assert _same_outputs(loaded.module, reference, torch.randn(2, 3, 128, 32))
    assert loaded.describe()["inputs"] == [INPUT_SPEC.to_dict()]


def test_bare_training_service_checkpoint_is_recognised_from_its_keys(tmp_path, reference, demo_state):
    path = tmp_path / "best.pt"
    torch.save({"epoch": 12, "model_state_dict": demo_state, "optimizer_state_dict": {}, "best_val_loss": 0.25}, path)
    loaded = load_source(path)
    assert loaded.kind == kinds.CHECKPOINT
    assert loaded.architecture == "LocalizationNet(convnext_tiny)"
    assert loaded.inputs == [INPUT_SPEC] and loaded.output_names == ["positions", "uncertainties"]
    assert loaded.metadata["epoch"] == 12 and loaded.metadata["best_val_loss"] == 0.25
    assert _same_outputs(loaded.module, reference, torch.randn(1, 3, 128, 32))


def test_lightning_style_localization_state_dict_needs_no_class(tmp_path, demo_state):
    path = tmp_path / "epoch=3.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in demo_state.items()}, "epoch": 3}, path)
    loaded = load_source(path)
    assert loaded.kind == kinds.STATE_DICT
    assert loaded.metadata["key_prefix_removed"] == "model."
    assert loaded.inputs == [INPUT_SPEC]


def test_checkpoint_metadata_supplies_specs_and_kwargs(tmp_path):
    net = _two_head(6, width=4)
    path = tmp_path / "described.pt"
    torch.save(
        {
            "model_state_dict": net.state_dict(),
            "heimdall": {
                "model_kwargs": {"width": 4},
                "inputs": [{"name": "x", "shape": ["batch", 3, 16, 8], "dtype": "float32"}],
                "outputs": ["where", "how_sure"],
            },
        },
        path,
    )
    loaded = load_source(path, SourceOptions(model_class=TWO_HEAD))
    assert loaded.kind == kinds.CHECKPOINT
    assert loaded.inputs == [TensorSpec("x", ("batch", 3, 16, 8), "float32")]
    assert loaded.output_names == ["where", "how_sure"]
    assert _same_outputs(loaded.module, net, torch.randn(1, 3, 16, 8))


def test_input_override_replaces_the_builtin_spec(demo_checkpoint):
    loaded = load_source(demo_checkpoint, SourceOptions(inputs=("mel_spectrogram:batch,3,128,64:float32",)))
    assert loaded.inputs == [TensorSpec("mel_spectrogram", ("batch", 3, 128, 64), "float32")]


def test_plain_state_dict_with_model_class(two_head_state_dict):
    loaded = load_source(two_head_state_dict, SourceOptions(model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT))
    assert loaded.kind == kinds.STATE_DICT
    assert loaded.architecture == TWO_HEAD
    assert loaded.inputs == [TensorSpec("x", ("batch", 3, 16, 8), "float32")]
    assert loaded.output_names == []  # named at export time
    assert loaded.parameters == sum(p.numel() for p in TwoHeadNet().parameters())
    assert _same_outputs(loaded.module, _two_head(0), torch.randn(2, 3, 16, 8))


def test_lightning_checkpoint_strips_prefix_and_uses_hyper_parameters(tmp_path):
    net = _two_head(1, width=4, hidden=6)
    path = tmp_path / "lightning.ckpt"
    state = {f"model.{k}": v for k, v in net.state_dict().items()}
    state["loss_fn.weight"] = torch.ones(2)  # a wrapper's own weights: ignored
    torch.save({"state_dict": state, "hyper_parameters": {"width": 4, "hidden": 6, "lr": 1e-3}}, path)
    loaded = load_source(path, SourceOptions(model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT))
    assert loaded.metadata["key_prefix_removed"] == "model."
    assert loaded.metadata["keys_ignored"] == 1
    assert loaded.metadata["model_kwargs"] == {"width": 4, "hidden": 6}
    assert _same_outputs(loaded.module, net, torch.randn(2, 3, 16, 8))


def test_model_kwargs_option_wins_over_hyper_parameters(tmp_path):
    net = _two_head(2, width=4, hidden=6)
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": net.state_dict(), "hyper_parameters": {"width": 99}}, path)
    loaded = load_source(
        path, SourceOptions(model_class=TWO_HEAD, model_kwargs={"width": 4, "hidden": 6}, inputs=TWO_HEAD_INPUT)
    )
    assert _same_outputs(loaded.module, net, torch.randn(1, 3, 16, 8))


def test_multi_input_model_with_dict_output(tmp_path):
    path = tmp_path / "multi.pth"
    torch.save(MultiInputNet().state_dict(), path)
    loaded = load_source(
        path,
        SourceOptions(model_class="tests.support.tiny_models:MultiInputNet", inputs=("signal:batch,4", "mask:batch,4")),
    )
    assert [s.name for s in loaded.inputs] == ["signal", "mask"]
    assert loaded.output_names == ["score", "hidden"]


def test_output_names_option(two_head_state_dict):
    loaded = load_source(
        two_head_state_dict,
        SourceOptions(model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT, output_names=("where", "how_sure")),
    )
    assert loaded.output_names == ["where", "how_sure"]


def test_torchscript_archive(tmp_path):
    net = _two_head(3)
    path = tmp_path / "scripted.pth"  # the extension says nothing: the content decides
    torch.jit.save(torch.jit.script(net), str(path))
    loaded = load_source(path, SourceOptions(inputs=TWO_HEAD_INPUT))
    assert loaded.kind == kinds.TORCHSCRIPT
    assert "TwoHeadNet" in loaded.architecture
    assert loaded.parameters == sum(p.numel() for p in net.parameters())
    assert _same_outputs(loaded.module, net, torch.randn(2, 3, 16, 8))


def test_exported_program_with_dynamic_batch(tmp_path):
    net = _two_head(4)
    program = torch.export.export(net, (torch.randn(2, 3, 16, 8),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    path = tmp_path / "net.pt2"
    torch.export.save(program, str(path))
    loaded = load_source(path)
    assert loaded.kind == kinds.EXPORTED_PROGRAM
    assert loaded.inputs == [TensorSpec("x", ("batch", 3, 16, 8), "float32")]
    assert loaded.parameters == sum(p.numel() for p in net.parameters())
    x = torch.randn(3, 3, 16, 8)
    with torch.no_grad():
        assert torch.allclose(loaded.module(x)[0], net(x)[0])


def test_exported_program_with_static_shapes(tmp_path):
    path = tmp_path / "multi.pt2"
    torch.export.save(torch.export.export(MultiInputNet(), (torch.randn(2, 4), torch.ones(2, 4))), str(path))
    loaded = load_source(path)
    assert loaded.inputs == [TensorSpec("signal", (2, 4), "float32"), TensorSpec("mask", (2, 4), "float32")]
    assert loaded.output_names == ["score", "hidden"]


def test_pickled_module_loads_with_trust(tmp_path):
    net = _two_head(5)
    path = tmp_path / "whole.pt"
    torch.save(net, path)
    loaded = load_source(path, SourceOptions(trust=True, inputs=TWO_HEAD_INPUT))
    assert loaded.kind == kinds.PICKLED_MODULE
    assert loaded.architecture == TWO_HEAD
    assert _same_outputs(loaded.module, net, torch.randn(1, 3, 16, 8))


def _tiny_onnx(path, dims=("N", 4)) -> None:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3], [0.1] * 12)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(dims))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [dims[0], 3])],
        [weight],
    )
    model = helper.make_model(graph, producer_name="heimdall-tests", opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))


def test_existing_onnx_file(tmp_path):
    path = tmp_path / "model.onnx"
    _tiny_onnx(path)
    loaded = load_source(path)
    assert loaded.kind == kinds.ONNX and loaded.module is None and loaded.onnx_path == path
    assert loaded.inputs == [TensorSpec("x", ("N", 4), "float32")]
    assert loaded.output_names == ["y"]
    assert loaded.parameters == 12 and loaded.metadata["opset"] == 17


def test_onnx_is_recognised_by_content_and_unknown_dims_get_names(tmp_path):
    path = tmp_path / "model.bin"
    _tiny_onnx(path, dims=("", 4))
    loaded = load_source(path)
    assert loaded.kind == kinds.ONNX
    assert loaded.inputs[0].shape == ("batch", 4)


def test_a_state_dict_named_onnx_is_read_as_a_state_dict(tmp_path, two_head_state_dict):
    path = tmp_path / "not_really.onnx"
    path.write_bytes(two_head_state_dict.read_bytes())
    loaded = load_source(path, SourceOptions(model_class=TWO_HEAD, inputs=TWO_HEAD_INPUT))
    assert loaded.kind == kinds.STATE_DICT


def test_importing_core_sources_does_not_import_torch():
    code = "import sys, heimdall_studio.core.sources; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "False"
