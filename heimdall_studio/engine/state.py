"""What a pipeline run carries from one step to the next."""

from __future__ import annotations

import shutil
import tempfile
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
    onnx_written: bool = False  # this run wrote onnx_path (export, or a copy of a download) into out_dir
    private_dirs: list[Path] = field(default_factory=list)  # removed when the run ends

    def private_dir(self) -> Path:
        """A new private temporary folder (mode 0700) that :meth:`remove_private_dirs` deletes."""
        path = Path(tempfile.mkdtemp(prefix="heimdall-download-"))
        self.private_dirs.append(path)
        return path

    def remove_private_dirs(self) -> None:
        while self.private_dirs:
            shutil.rmtree(self.private_dirs.pop(), ignore_errors=True)

    @property
    def out_dir(self) -> Path:
        return Path(self.request.out_dir or "heimdall-out")

    @property
    def torch_model(self) -> LoadedModel | None:
        if self.loaded is not None and self.loaded.module is not None:
            return self.loaded
        return self.reference
