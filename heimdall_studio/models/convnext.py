"""ConvNeXt feature extractor in plain PyTorch, with torchvision's parameter names.

torchvision cannot be imported next to our torch build, yet the training service's
checkpoints were written from torchvision's ConvNeXt. The modules here reproduce
its module tree exactly (``features.N.M.block.K``, ``layer_scale``, ``LayerNorm2d``)
so those checkpoints load with ``strict=True``. Stochastic depth is left out: it is
the identity in eval mode, the only mode Heimdall Studio runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class ConvNeXtConfig:
    """One ConvNeXt size: blocks per stage and channel width per stage."""

    name: str
    depths: tuple[int, int, int, int]
    widths: tuple[int, int, int, int]

    @property
    def features(self) -> int:
        """Channels after the last stage: what the pooled feature vector holds."""
        return self.widths[-1]


BACKBONES: dict[str, ConvNeXtConfig] = {
    "tiny": ConvNeXtConfig("tiny", (3, 3, 9, 3), (96, 192, 384, 768)),
    "small": ConvNeXtConfig("small", (3, 3, 27, 3), (96, 192, 384, 768)),
    "base": ConvNeXtConfig("base", (3, 3, 27, 3), (128, 256, 512, 1024)),
    "large": ConvNeXtConfig("large", (3, 3, 27, 3), (192, 384, 768, 1536)),
}

# The training service calls ConvNeXt-Base "medium".
BACKBONE_ALIASES = {"medium": "base"}


def resolve_backbone(name: str) -> ConvNeXtConfig:
    """The config of ``name`` (``tiny``, ``small``, ``base``/``medium``, ``large``).

    Raises ``KeyError`` naming the known sizes for anything else.
    """
    key = BACKBONE_ALIASES.get(name.lower(), name.lower())
    if key not in BACKBONES:
        known = ", ".join(list(BACKBONES) + list(BACKBONE_ALIASES))
        raise KeyError(f"unknown ConvNeXt size {name!r}; known sizes: {known}")
    return BACKBONES[key]


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (torchvision's ``LayerNorm2d``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    """Reorders dimensions; has no parameters (keeps the Sequential's indices aligned)."""

    def __init__(self, dims: tuple[int, ...]):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


class CNBlock(nn.Module):
    """ConvNeXt block: depthwise 7×7 conv, LayerNorm, MLP (4×), scaled residual."""

    def __init__(self, dim: int, layer_scale: float = 1e-6):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim, bias=True),
            Permute((0, 2, 3, 1)),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim, bias=True),
            nn.GELU(),
            nn.Linear(4 * dim, dim, bias=True),
            Permute((0, 3, 1, 2)),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layer_scale * self.block(x)


def build_features(config: ConvNeXtConfig) -> nn.Sequential:
    """torchvision's ``ConvNeXt.features``: stem, then stages with downsampling between them.

    Indices: 0 stem · 1, 3, 5, 7 stages · 2, 4, 6 downsampling (LayerNorm2d, 2×2 conv
    stride 2). A (128, 32) input leaves the stem at 32×8 and the last stage at 4×1.
    """
    widths, depths = config.widths, config.depths
    layers: list[nn.Module] = [
        nn.Sequential(
            nn.Conv2d(3, widths[0], kernel_size=4, stride=4, bias=True),
            LayerNorm2d(widths[0], eps=1e-6),
        )
    ]
    for stage, (width, depth) in enumerate(zip(widths, depths, strict=True)):
        layers.append(nn.Sequential(*[CNBlock(width) for _ in range(depth)]))
        if stage < len(widths) - 1:
            layers.append(
                nn.Sequential(
                    LayerNorm2d(width, eps=1e-6),
                    nn.Conv2d(width, widths[stage + 1], kernel_size=2, stride=2),
                )
            )
    return nn.Sequential(*layers)


def init_weights(module: nn.Module) -> None:
    """torchvision's initialisation: truncated normal (std 0.02) for convs and linears."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
