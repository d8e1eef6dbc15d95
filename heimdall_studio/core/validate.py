"""Validate step: is this .onnx file a model ONNX and ONNX Runtime accept?

Three checks, each a gate: ``onnx.checker`` with ``full_check`` (which runs strict
shape inference), shape inference written to a side file (path-based, so models
over 2 GB work), and creating an ONNX Runtime CPU session (which catches
operators ORT has no kernel for). Their failures land in ``errors`` with
``passed`` False; a file that cannot be read at all is BadInputError.
"""

from __future__ import annotations

import collections
import tempfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.events import VALIDATE, Event, Log, Progress, json_safe
from heimdall_studio.core.failures import ort_load_error
from heimdall_studio.core.onnx_files import (
    external_data_paths,
    external_locations,
    initializer_stats,
    io_specs,
    load_structure,
    read_onnx_io,
)
from heimdall_studio.core.specs import TensorSpec

__all__ = ["ValidationResult", "read_onnx_io", "validate_step"]

CHECKS = ("checker", "shape_inference", "onnxruntime")


@dataclass
class ValidationResult:
    onnx_path: str
    passed: bool
    errors: list[str] = field(default_factory=list)
    inputs: list[TensorSpec] = field(default_factory=list)
    outputs: list[TensorSpec] = field(default_factory=list)
    opsets: dict[str, int] = field(default_factory=dict)  # domain ("" is ai.onnx) → version
    ir_version: int = 0
    producer_name: str = ""
    producer_version: str = ""
    graph_name: str = ""
    node_count: int = 0
    op_histogram: dict[str, int] = field(default_factory=dict)
    initializer_count: int = 0
    initializer_bytes: int = 0
    external_data_files: list[str] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)  # check name → passed
    runtime_error: str = ""  # why ONNX Runtime cannot load the file, when the onnxruntime check failed
    runtime_hint: str = ""  # and what to do about it

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(self)
        data["inputs"] = [spec.to_dict() for spec in self.inputs]
        data["outputs"] = [spec.to_dict() for spec in self.outputs]
        return data


def validate_step(onnx_path: Path, cancel: CancelToken) -> Generator[Event, None, ValidationResult]:
    """Check ``onnx_path`` and describe it. Raises BadInputError when the file (or
    one of its external data files) is missing or unreadable."""
    onnx_path = Path(onnx_path)
    yield Progress(VALIDATE, 0, len(CHECKS), f"Reading {onnx_path.name}")
    model = load_structure(onnx_path)
    locations = external_locations(model)
    parts = external_data_paths(onnx_path, model)  # BadInputError for data outside the model's folder
    missing = [loc for loc, part in zip(locations, parts, strict=True) if not part.is_file()]
    if missing:
        raise BadInputError(
            f"{onnx_path.name} keeps its weights in {', '.join(missing)}, which is missing from {onnx_path.parent}.",
            "Keep the .onnx and its .data file(s) together in one folder.",
        )
    inputs, outputs = io_specs(model)
    initializer_count, initializer_bytes = len(model.graph.initializer), initializer_stats(model)[1]
    result = ValidationResult(
        str(onnx_path),
        True,
        inputs=inputs,
        outputs=outputs,
        opsets={imp.domain: imp.version for imp in model.opset_import},
        ir_version=model.ir_version,
        producer_name=model.producer_name,
        producer_version=model.producer_version,
        graph_name=model.graph.name,
        node_count=len(model.graph.node),
        op_histogram=dict(collections.Counter(_op_name(node) for node in model.graph.node).most_common()),
        initializer_count=initializer_count,
        initializer_bytes=initializer_bytes,
        external_data_files=locations,
    )
    del model

    for done, check in enumerate(CHECKS):
        cancel.raise_if_cancelled()
        yield Progress(VALIDATE, done, len(CHECKS), _TITLES[check])
        error = _CHECKS[check](onnx_path, result)
        result.checks[check] = error is None
        if error is not None:
            result.errors.append(error)
            yield Log("error", error, VALIDATE)
    result.passed = not result.errors
    yield Progress(VALIDATE, len(CHECKS), len(CHECKS), "passed" if result.passed else "failed")
    return result


def _op_name(node: Any) -> str:
    return f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type


def _run_checker(path: Path, result: ValidationResult) -> str | None:
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:  # ValidationError, and KeyError/ValueError/UnicodeDecodeError on damaged fields
        return f"onnx.checker rejects the model: {_first_line(exc)}"
    return None


def _run_shape_inference(path: Path, result: ValidationResult) -> str | None:
    """Report outputs as shape inference sees them (it fills in what the file leaves open)."""
    import onnx

    with tempfile.TemporaryDirectory(prefix="heimdall-shapes-") as tmp:
        inferred = Path(tmp) / path.name
        try:
            onnx.shape_inference.infer_shapes_path(str(path), str(inferred), check_type=True, strict_mode=True)
        except Exception as exc:  # InferenceError, and whatever a damaged field makes onnx raise
            return f"ONNX shape inference fails: {_first_line(exc)}"
        _, result.outputs = read_onnx_io(inferred)
    return None


def _run_session(path: Path, result: ValidationResult) -> str | None:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: its warnings are not ours to print
    try:
        ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NotImplemented types
        failure = ort_load_error(exc, path)
        result.runtime_error, result.runtime_hint = failure.message, failure.hint
        return failure.message
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


_CHECKS = {"checker": _run_checker, "shape_inference": _run_shape_inference, "onnxruntime": _run_session}
_TITLES = {
    "checker": "Running onnx.checker (full check)",
    "shape_inference": "Inferring shapes",
    "onnxruntime": "Opening an ONNX Runtime session",
}
