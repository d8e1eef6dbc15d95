"""Typed, JSON-serialisable events that every step yields.

The CLI prints them, the GUI draws them, the engine sends them over a pipe as
JSON lines. Nothing here knows who listens.

Each event has a ``type`` tag; :func:`to_json_dict` / :func:`from_json_dict`
round-trip them. Keep events small: latency samples travel in batches (about
every 100 ms), never one per iteration.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

# Step names, in pipeline order.
LOAD = "load"
EXPORT = "export"
VALIDATE = "validate"
PARITY = "parity"
BENCHMARK = "benchmark"
METADATA = "metadata"
PUSH = "push"
STEPS = (LOAD, EXPORT, VALIDATE, PARITY, BENCHMARK, METADATA, PUSH)
# Inspection steps, run only when asked (--per-node after parity, --op-profile after benchmark).
PER_NODE = "per_node"
OP_PROFILE = "op_profile"
# Optimised variants of the export (--variants), after the benchmark.
VARIANTS = "variants"


@dataclass(frozen=True)
class StepStarted:
    type: ClassVar[str] = "step_started"
    step: str
    title: str = ""


@dataclass(frozen=True)
class Progress:
    """``done`` of ``total`` units; ``total`` 0 means unknown (a busy indicator)."""

    type: ClassVar[str] = "progress"
    step: str
    done: float
    total: float
    message: str = ""


@dataclass(frozen=True)
class LatencySamples:
    """A batch of per-iteration latencies (ms) of one runner at one batch size.

    ``warmup`` samples are shown but not counted in the statistics.
    """

    type: ClassVar[str] = "latency_samples"
    runtime: str  # "pytorch" | "onnxruntime"
    device: str  # "cpu" | "cuda"
    provider: str  # "torch" | "CPUExecutionProvider" | "CUDAExecutionProvider" ...
    batch_size: int
    ms: tuple[float, ...]
    warmup: bool = False


@dataclass(frozen=True)
class ParityBatch:
    """Error of one output for one compared batch."""

    type: ClassVar[str] = "parity_batch"
    batch_index: int
    batch_size: int
    output: str
    max_abs: float
    mean_abs: float
    atol: float
    passed: bool


@dataclass(frozen=True)
class Log:
    type: ClassVar[str] = "log"
    level: str  # "debug" | "info" | "warning" | "error"
    message: str
    step: str = ""


@dataclass(frozen=True)
class StepFinished:
    type: ClassVar[str] = "step_finished"
    step: str
    result: dict[str, Any]
    seconds: float = 0.0
    passed: bool = True


@dataclass(frozen=True)
class StepSkipped:
    type: ClassVar[str] = "step_skipped"
    step: str
    reason: str


@dataclass(frozen=True)
class StepFailed:
    type: ClassVar[str] = "step_failed"
    step: str
    error_kind: str  # an ErrorKind value
    message: str
    hint: str = ""
    details: str = ""  # traceback or stderr tail; shown on demand only


@dataclass(frozen=True)
class PipelineFinished:
    """Always the last event of a pipeline run."""

    type: ClassVar[str] = "pipeline_finished"
    status: str  # "passed" | "gate_failed" | "failed" | "cancelled"
    exit_code: int
    report: dict[str, Any] = field(default_factory=dict)


Event = (
    StepStarted
    | Progress
    | LatencySamples
    | ParityBatch
    | Log
    | StepFinished
    | StepSkipped
    | StepFailed
    | PipelineFinished
)

EVENT_TYPES: dict[str, type] = {
    cls.type: cls
    for cls in (
        StepStarted,
        Progress,
        LatencySamples,
        ParityBatch,
        Log,
        StepFinished,
        StepSkipped,
        StepFailed,
        PipelineFinished,
    )
}


def json_safe(value: Any) -> Any:
    """Turn NaN/Inf into strings and tuples into lists so ``json.dumps`` is strict-JSON."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return json_safe(value.item())
    if hasattr(value, "__fspath__"):
        return str(value)
    if isinstance(value, bytes):  # e.g. a damaged .onnx's strings that are not valid UTF-8
        return value.decode("utf-8", errors="replace")
    return value


def to_json_dict(event: Event) -> dict[str, Any]:
    data = {"type": event.type}
    for f in dataclasses.fields(event):
        data[f.name] = json_safe(getattr(event, f.name))
    return data


def _unsafe_float(value: Any) -> Any:
    if value == "nan":
        return float("nan")
    if value == "inf":
        return float("inf")
    if value == "-inf":
        return float("-inf")
    return value


def from_json_dict(data: dict[str, Any]) -> Event:
    cls = EVENT_TYPES[data["type"]]
    kwargs = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
    if cls is LatencySamples:
        kwargs["ms"] = tuple(kwargs["ms"])
    elif cls is ParityBatch:
        for name in ("max_abs", "mean_abs"):
            kwargs[name] = _unsafe_float(kwargs[name])
    event: Event = cls(**kwargs)
    return event
