"""The built-in LocalizationNet: torchvision's parameter names, sizes, outputs, demo checkpoints."""

from __future__ import annotations

import os

import pytest
import torch

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.models import BACKBONES, INPUT_SPEC, OUTPUT_NAMES, LocalizationNet, infer_backbone
from heimdall_studio.models.demo import demo_model, write_demo_checkpoint

# Shapes from the reference document (docs: localization-net-checkpoint.md).
DOC_SHAPES = {
    "backbone.0.0.0.weight": (96, 3, 4, 4),
    "backbone.0.0.1.weight": (96,),
    "backbone.0.1.0.layer_scale": (96, 1, 1),
    "backbone.0.1.0.block.0.weight": (96, 1, 7, 7),
    "backbone.0.1.0.block.2.weight": (96,),
    "backbone.0.1.0.block.3.weight": (384, 96),
    "backbone.0.1.0.block.5.weight": (96, 384),
    "backbone.0.2.0.weight": (96,),
    "backbone.0.2.1.weight": (192, 96, 2, 2),
    "position_head.0.weight": (128, 768),
    "position_head.1.running_mean": (128,),
    "position_head.1.num_batches_tracked": (),
    "position_head.8.weight": (2, 64),
    "uncertainty_head.0.weight": (128, 768),
    "uncertainty_head.8.weight": (2, 64),
}


@pytest.fixture(scope="module")
def tiny():
    return demo_model("tiny", seed=0)


def test_tiny_state_dict_has_the_training_service_names_and_shapes(tiny):
    state = tiny.state_dict()
    assert len(state) == 210
    for key, shape in DOC_SHAPES.items():
        assert tuple(state[key].shape) == shape, key
    # Stages at features 1, 3, 5, 7 with 3, 3, 9, 3 blocks; downsampling at 2, 4, 6.
    for index, depth in ((1, 3), (3, 3), (5, 9), (7, 3)):
        blocks = {k.split(".")[3] for k in state if k.startswith(f"backbone.0.{index}.")}
        assert len(blocks) == depth
    assert tuple(state["backbone.0.6.1.weight"].shape) == (768, 384, 2, 2)
    assert not any(k.startswith("backbone.1") for k in state)  # the pool has no parameters


def test_forward_gives_positions_and_bounded_uncertainties(tiny):
    x = torch.randn(3, *INPUT_SPEC.shape[1:]) * 5
    with torch.no_grad():
        positions, uncertainties = tiny(x)
    assert positions.shape == (3, 2) and uncertainties.shape == (3, 2)
    assert torch.all(uncertainties >= 0.01) and torch.all(uncertainties <= 1.0)
    assert not torch.allclose(positions[0], positions[1])  # the input matters
    assert OUTPUT_NAMES == ("positions", "uncertainties")


def test_uncertainty_bounds_are_constructor_arguments():
    torch.manual_seed(0)
    model = LocalizationNet("tiny", min_uncertainty=0.5, max_uncertainty=0.6).eval()
    with torch.no_grad():
        _, uncertainties = model(torch.randn(2, 3, 128, 32))
    assert torch.all(uncertainties >= 0.5) and torch.all(uncertainties <= 0.6)


@pytest.mark.parametrize(
    "size, c1, stage3, params",
    [
        ("small", 96, 27, 49_667_556),
        ("base", 128, 27, 87_844_356),
        ("medium", 128, 27, 87_844_356),
        ("large", 192, 27, 196_638_276),
    ],
)
def test_larger_sizes_build_on_the_meta_device(size, c1, stage3, params):
    with torch.device("meta"):
        model = LocalizationNet(size)
    state = model.state_dict()
    assert tuple(state["backbone.0.0.0.weight"].shape) == (c1, 3, 4, 4)
    assert len({k.split(".")[3] for k in state if k.startswith("backbone.0.5.")}) == stage3
    assert state["position_head.0.weight"].shape[1] == 8 * c1
    assert sum(p.numel() for p in model.parameters()) == params
    assert infer_backbone(state) == BACKBONES["base" if size == "medium" else size].name


def test_infer_backbone_tells_tiny_from_small(tiny):
    assert infer_backbone(tiny.state_dict()) == "tiny"


def test_infer_backbone_refuses_2048_feature_heads():
    with torch.device("meta"):
        state = LocalizationNet("large").state_dict()
    state["position_head.0.weight"] = torch.empty(128, 2048, device="meta")
    state["uncertainty_head.0.weight"] = torch.empty(128, 2048, device="meta")
    with pytest.raises(BadInputError) as info:
        infer_backbone(state)
    assert "1536 features" in info.value.message and "2048" in info.value.message
    assert info.value.hint


def test_infer_backbone_refuses_other_architectures():
    with pytest.raises(BadInputError, match="not a LocalizationNet"):
        infer_backbone({"conv.weight": torch.zeros(1)})


def test_demo_checkpoint_is_deterministic_and_loads_weights_only(tmp_path):
    path = write_demo_checkpoint(tmp_path / "a.pt", seed=3)
    checkpoint = torch.load(path, weights_only=True)
    assert set(checkpoint) >= {"epoch", "model_state_dict", "optimizer_state_dict", "best_val_loss", "heimdall"}
    saved = checkpoint["model_state_dict"]
    same_seed, other_seed = demo_model(seed=3).state_dict(), demo_model(seed=4).state_dict()
    assert all(torch.equal(saved[k], same_seed[k]) for k in saved)
    assert not torch.equal(saved["backbone.0.0.0.weight"], other_seed["backbone.0.0.0.weight"])
    running_var = saved["position_head.1.running_var"]
    assert not torch.allclose(running_var, torch.ones_like(running_var))
    meta = checkpoint["heimdall"]
    assert meta["architecture"] == "LocalizationNet" and meta["backbone"] == "tiny"
    assert meta["inputs"] == [INPUT_SPEC.to_dict()] and meta["outputs"] == list(OUTPUT_NAMES)
    LocalizationNet(**meta["model_kwargs"]).load_state_dict(saved, strict=True)


def test_demo_checkpoint_refuses_to_overwrite_and_leaves_no_temp_files(tmp_path):
    path = write_demo_checkpoint(tmp_path / "demo.pt")
    before = path.stat().st_mtime_ns
    with pytest.raises(BadInputError) as info:
        write_demo_checkpoint(path)
    assert "already exists" in info.value.message and "overwrite" in info.value.hint
    assert path.stat().st_mtime_ns == before
    with pytest.raises(BadInputError, match="Unknown backbone"):
        write_demo_checkpoint(path, backbone="huge", overwrite=True)
    assert path.stat().st_mtime_ns == before
    write_demo_checkpoint(path, seed=1, overwrite=True)
    assert path.stat().st_mtime_ns != before
    assert os.listdir(tmp_path) == ["demo.pt"]


def test_demo_checkpoint_into_a_missing_folder_is_bad_input(tmp_path):
    with pytest.raises(BadInputError, match="does not exist"):
        write_demo_checkpoint(tmp_path / "nope" / "demo.pt")
