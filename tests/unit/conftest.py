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


def run_step(steps):
    """Drain a step generator: (the events it yielded, the result it returned)."""
    events = []
    while True:
        try:
            events.append(next(steps))
        except StopIteration as stop:
            return events, stop.value


def tiny_two_head_model(seed: int = 0):
    """A LoadedModel around a seeded TwoHeadNet, built directly (no source loader)."""
    import torch

    from heimdall_studio.core.model import LoadedModel
    from heimdall_studio.core.specs import TensorSpec
    from tests.support.tiny_models import TwoHeadNet

    torch.manual_seed(seed)
    return LoadedModel(
        kind="checkpoint",
        module=TwoHeadNet().eval(),
        inputs=[TensorSpec("x", ("batch", 3, 16, 8))],
        output_names=["positions", "uncertainties"],
        source="tiny",
    )


def _export_tiny(folder: Path, exporter: str):
    from heimdall_studio.core.cancel import CancelToken
    from heimdall_studio.core.export import export_step
    from heimdall_studio.core.specs import ExportOptions

    model = tiny_two_head_model()
    return model, run_step(export_step(model, folder, ExportOptions(exporter=exporter), CancelToken()))[1]


@pytest.fixture
def tiny_model():
    """A fresh LoadedModel of TwoHeadNet (seed 0): input x (batch,3,16,8), outputs positions, uncertainties."""
    return tiny_two_head_model()


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory):
    """(LoadedModel, ExportResult) of TwoHeadNet (seed 0) exported once with the torchscript
    exporter. Shared by the session: copy the file before modifying it."""
    return _export_tiny(tmp_path_factory.mktemp("tiny_ts"), "torchscript")


@pytest.fixture(scope="session")
def tiny_export_dynamo(tmp_path_factory):
    """Like ``tiny_export``, with the dynamo exporter (about 5 s the first time in a process)."""
    return _export_tiny(tmp_path_factory.mktemp("tiny_dynamo"), "dynamo")


@pytest.fixture(autouse=True)
def _restore_logging_globals():
    """The CLI's main() (called in-process by some tests) sets process-wide logging switches
    (raiseExceptions, the record factory that masks URI passwords); each test starts with the
    ones it found."""
    import logging

    raise_exceptions, factory = logging.raiseExceptions, logging.getLogRecordFactory()
    yield
    logging.raiseExceptions = raise_exceptions
    logging.setLogRecordFactory(factory)
