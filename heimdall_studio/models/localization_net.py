"""LocalizationNet: Heimdall's ConvNeXt regressor of positions and their uncertainties.

The module tree and parameter names match the training service's checkpoints
(``backbone.0`` = ConvNeXt features, ``backbone.1`` = global average pool, two
BatchNorm MLP heads), so its ``model_state_dict`` loads here with ``strict=True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import TensorSpec
from heimdall_studio.models.convnext import BACKBONES, build_features, init_weights, resolve_backbone

ARCHITECTURE = "LocalizationNet"
INPUT_SPEC = TensorSpec("mel_spectrogram", ("batch", 3, 128, 32), "float32")
OUTPUT_NAMES = ("positions", "uncertainties")

# Keys that only a LocalizationNet state dict has together.
_SIGNATURE_KEYS = ("backbone.0.0.0.weight", "position_head.0.weight", "uncertainty_head.8.weight")


def _head(features: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(features, 128),
        nn.BatchNorm1d(128),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(128, 64),
        nn.BatchNorm1d(64),
        nn.ReLU(),
        nn.Dropout(0.2),
        nn.Linear(64, 2),
    )


class LocalizationNet(nn.Module):
    """``mel_spectrogram`` (batch, 3, 128, 32) → ``positions`` (batch, 2), ``uncertainties`` (batch, 2).

    ``backbone`` is ``tiny``, ``small``, ``base`` (alias ``medium``) or ``large``.
    Uncertainties are ``clamp(softplus(x), min_uncertainty, max_uncertainty)``.
    Raises ``KeyError`` for an unknown backbone name.
    """

    def __init__(self, backbone: str = "tiny", min_uncertainty: float = 0.01, max_uncertainty: float = 1.0):
        super().__init__()
        config = resolve_backbone(backbone)
        self.backbone_name = config.name
        self.min_uncertainty = float(min_uncertainty)
        self.max_uncertainty = float(max_uncertainty)
        self.backbone = nn.Sequential(build_features(config), nn.AdaptiveAvgPool2d(1))
        self.position_head = _head(config.features)
        self.uncertainty_head = _head(config.features)
        init_weights(self)

    def forward(self, mel_spectrogram: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.flatten(self.backbone(mel_spectrogram), 1)
        positions = self.position_head(features)
        raw = self.uncertainty_head(features)
        uncertainties = torch.clamp(F.softplus(raw), self.min_uncertainty, self.max_uncertainty)
        return positions, uncertainties


def is_localization_state_dict(state_dict: Mapping[str, Any]) -> bool:
    """True when the keys are those of a LocalizationNet (any size)."""
    return all(key in state_dict for key in _SIGNATURE_KEYS)


def infer_backbone(state_dict: Mapping[str, Any]) -> str:
    """The ConvNeXt size (``tiny``/``small``/``base``/``large``) a LocalizationNet state dict was built with.

    The stem's width (``backbone.0.0.0.weight``) gives C1; the number of blocks in
    stage 3 tells tiny (9) from small (27). Raises BadInputError when the keys are
    not LocalizationNet's, when no known size has that width and depth, or when the
    heads take a different number of features than the backbone produces (the
    training service's D=2048 heads on ConvNeXt-Large).
    """
    if not is_localization_state_dict(state_dict):
        raise BadInputError(
            "The state dict is not a LocalizationNet: it lacks "
            + ", ".join(k for k in _SIGNATURE_KEYS if k not in state_dict)
            + ".",
            "Pass --model-class package.module:Class for other architectures.",
        )
    width = int(state_dict["backbone.0.0.0.weight"].shape[0])
    stage3_blocks = {key.split(".")[3] for key in state_dict if key.startswith("backbone.0.5.")}
    depth = len(stage3_blocks)
    matches = [cfg.name for cfg in BACKBONES.values() if cfg.widths[0] == width and cfg.depths[2] == depth]
    if not matches:
        sizes = "; ".join(f"{c.name}: C1={c.widths[0]}, stage 3 depth {c.depths[2]}" for c in BACKBONES.values())
        raise BadInputError(
            f"The LocalizationNet checkpoint has a ConvNeXt stem of width {width} and {depth} blocks in "
            "stage 3, which matches no known ConvNeXt size.",
            f"Known sizes: {sizes}. Check that the file is a complete LocalizationNet checkpoint.",
        )
    name = matches[0]
    expected = BACKBONES[name].features
    for head in ("position_head", "uncertainty_head"):
        head_in = int(state_dict[f"{head}.0.weight"].shape[1])
        if head_in != expected:
            raise BadInputError(
                f"The checkpoint is inconsistent: its ConvNeXt-{name.capitalize()} backbone produces "
                f"{expected} features, but its heads take {head_in} ({head}.0.weight has shape "
                f"{tuple(state_dict[f'{head}.0.weight'].shape)}).",
                f"Retrain with heads of input size {expected} (the training service declares D=2048 for "
                f"'large'; ConvNeXt-Large gives {BACKBONES['large'].features}), or export the checkpoint "
                "with the class it was really trained with via --model-class.",
            )
    return name


def build_from_state_dict(state_dict: Mapping[str, Any], **kwargs: Any) -> LocalizationNet:
    """A LocalizationNet of the size ``state_dict`` was saved from (weights not loaded yet)."""
    kwargs = dict(kwargs)
    kwargs["backbone"] = infer_backbone(state_dict)
    return LocalizationNet(**kwargs)
