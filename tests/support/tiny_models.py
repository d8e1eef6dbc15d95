"""Small models for tests: built in microseconds, exported in about a second.

Importable as ``--model-class tests.support.tiny_models:TwoHeadNet`` from the repo root.
"""

from __future__ import annotations

import torch
from torch import nn


class TwoHeadNet(nn.Module):
    """(batch, 3, 16, 8) → (positions (batch, 2), uncertainties (batch, 2)): LocalizationNet's
    contract at a tiny size."""

    def __init__(self, width: int = 8, hidden: int = 16):
        super().__init__()
        self.conv = nn.Conv2d(3, width, kernel_size=3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.position_head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 2))
        self.uncertainty_head = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = torch.flatten(self.pool(torch.relu(self.conv(x))), 1)
        positions = self.position_head(features)
        uncertainties = torch.clamp(nn.functional.softplus(self.uncertainty_head(features)), 0.01, 1.0)
        return positions, uncertainties


class MultiInputNet(nn.Module):
    """Two inputs (``signal`` (batch, 4) float32, ``mask`` (batch, 4) float32) → a dict output."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, signal: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.linear(signal * mask)
        return {"score": hidden.sum(dim=1, keepdim=True), "hidden": hidden}


class BrokenForwardNet(nn.Module):
    """Forward fails on any input whose last dim is not 5: a model/spec mismatch."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class SlowExportNet(nn.Module):
    """Forward sleeps ``delay`` seconds while being traced for export: a long, uninterruptible
    export to test cancellation. Use with the TorchScript exporter (it traces)."""

    def __init__(self, delay: float = 60.0):
        super().__init__()
        self.delay = delay
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.jit.is_tracing():
            import time

            time.sleep(self.delay)
        return self.linear(x)


class CrashingNet(nn.Module):
    """Forward kills its own process with SIGSEGV, as a crash inside a native library would."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import os
        import signal

        os.kill(os.getpid(), signal.SIGSEGV)
        return self.linear(x)


class NestedOutputNet(nn.Module):
    """(batch, 4) → {"logits": (batch, 3), "aux": [(batch, 3), (batch, 1)]}: a dict holding a list,
    which both exporters and parity must flatten to logits, aux.0, aux.1."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> dict[str, object]:
        logits = self.linear(x)
        return {"logits": logits, "aux": [torch.relu(logits), logits.sum(dim=1, keepdim=True)]}


class ScriptableNestedOutputNet(nn.Module):
    """NestedOutputNet's contract with TorchScript-friendly types: Dict[str, List[Tensor]]
    (``torch.jit.script`` needs one value type) → logits.0, aux.0, aux.1."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        logits = self.linear(x)
        return {"logits": [logits], "aux": [torch.relu(logits), logits.sum(dim=1, keepdim=True)]}


class ScriptableDictOutputNet(nn.Module):
    """(batch, 4) → Dict[str, Tensor] {"logits", "aux"}: the TorchScript archive of issue 8."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logits = self.linear(x)
        return {"logits": logits, "aux": torch.relu(logits)}
