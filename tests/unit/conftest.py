"""Fixtures for unit tests: small model files built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_checkpoint(tmp_path_factory) -> Path:
    """A LocalizationNet-tiny demo checkpoint (random weights, seed 0) in Heimdall's format.

    Shared by the session: copy it before modifying it.
    """
    from heimdall_studio.models.demo import write_demo_checkpoint

    return write_demo_checkpoint(tmp_path_factory.mktemp("demo") / "localization_tiny.pt")


@pytest.fixture(scope="session")
def two_head_state_dict(tmp_path_factory) -> Path:
    """``TwoHeadNet().state_dict()`` saved with torch.save (needs --model-class to load)."""
    import torch

    from tests.support.tiny_models import TwoHeadNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("two_head") / "two_head_state.pt"
    torch.save(TwoHeadNet().state_dict(), path)
    return path
