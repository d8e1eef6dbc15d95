"""What a pipeline run carries from one step to the next."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.model import LoadedModel
from heimdall_studio.engine.request import PipelineRequest


class SkipStep(Exception):
    """Raised by a step runner when the step does not apply (the reason is shown)."""


@dataclass
class RunState:
    request: PipelineRequest
    cancel: CancelToken
    report: dict[str, Any]
    loaded: LoadedModel | None = None
    reference: LoadedModel | None = None  # PyTorch model to compare an .onnx source against
    export_result: Any = None
    onnx_path: Path | None = None
    gates_failed: list[str] = field(default_factory=list)

    @property
    def out_dir(self) -> Path:
        return Path(self.request.out_dir or "heimdall-out")

    @property
    def torch_model(self) -> LoadedModel | None:
        if self.loaded is not None and self.loaded.module is not None:
            return self.loaded
        return self.reference
