"""A LocalizationNet checkpoint with random weights, for trying Heimdall Studio without training.

The file has the training service's layout (``epoch``, ``model_state_dict``,
``optimizer_state_dict``, ``best_val_loss``) plus a ``heimdall`` block that
describes the model, and opens with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.models.convnext import CNBlock
from heimdall_studio.models.localization_net import ARCHITECTURE, INPUT_SPEC, OUTPUT_NAMES, LocalizationNet


def demo_model(backbone: str = "tiny", seed: int = 0) -> LocalizationNet:
    """A LocalizationNet in eval mode whose weights depend only on ``seed``.

    Layer scales and BatchNorm statistics get non-trivial values so every part of
    the network moves the outputs (a parity check then means something).
    """
    generator = torch.Generator().manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = LocalizationNet(backbone=backbone)
        # torchvision's std-0.02 init leaves the heads' outputs near zero; PyTorch's
        # default Linear init gives outputs that differ visibly between inputs.
        for head in (model.position_head, model.uncertainty_head):
            for layer in head:
                if isinstance(layer, nn.Linear):
                    layer.reset_parameters()
    finally:
        torch.random.set_rng_state(torch_state)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, CNBlock):
                module.layer_scale.uniform_(0.05, 0.5, generator=generator)
            elif isinstance(module, nn.BatchNorm1d):
                # Built with track_running_stats (the default): the running buffers exist.
                assert module.running_mean is not None and module.running_var is not None
                assert module.num_batches_tracked is not None
                module.running_mean.normal_(0.0, 0.1, generator=generator)
                module.running_var.uniform_(0.05, 0.5, generator=generator)
                module.weight.uniform_(0.5, 1.5, generator=generator)
                module.bias.normal_(0.0, 0.1, generator=generator)
                module.num_batches_tracked.fill_(100)
    return model.eval()


def demo_checkpoint(backbone: str = "tiny", seed: int = 0) -> dict[str, Any]:
    """The checkpoint dict :func:`write_demo_checkpoint` saves."""
    model = demo_model(backbone, seed)
    return {
        "epoch": 0,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": {},
        "best_val_loss": float("inf"),
        "heimdall": {
            "architecture": ARCHITECTURE,
            "backbone": model.backbone_name,
            "model_kwargs": {
                "backbone": model.backbone_name,
                "min_uncertainty": model.min_uncertainty,
                "max_uncertainty": model.max_uncertainty,
            },
            "inputs": [INPUT_SPEC.to_dict()],
            "outputs": list(OUTPUT_NAMES),
            "seed": int(seed),
            "demo": True,
        },
    }


def write_demo_checkpoint(path: str | Path, backbone: str = "tiny", seed: int = 0, overwrite: bool = False) -> Path:
    """Write a random-weight LocalizationNet checkpoint to ``path`` and return the path.

    Deterministic per (backbone, seed). The file appears atomically (written to a
    temporary file in the same folder, then renamed), so a reader never sees half
    of it. Raises BadInputError when ``path`` exists and ``overwrite`` is False,
    when its folder does not exist, or for an unknown backbone.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise BadInputError(
            f"{path} already exists; the demo checkpoint was not written.",
            "Pick another path, or pass overwrite=True (--overwrite) to replace it.",
        )
    if not path.parent.is_dir():
        raise BadInputError(
            f"Cannot write {path}: the folder {path.parent} does not exist.",
            "Create the folder first or pick another path.",
        )
    try:
        checkpoint = demo_checkpoint(backbone, seed)
    except KeyError as exc:
        raise BadInputError(f"Unknown backbone {backbone!r}.", str(exc.args[0])) from None
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(checkpoint, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path
