"""ONNX Runtime op profiling: where the time goes, node by node, and which provider ran each node.

A pass of its own after the benchmark, in its own session with ``enable_profiling`` on: the
profiler's bookkeeping never touches the timed figures. One warm-up run is dropped; the rest give
each node's mean time (the ``*_kernel_time`` events of ORT's trace), its share of all node time,
the same per op type, and the number of nodes each execution provider ran. On a CUDA session,
nodes that ran on CPUExecutionProvider are named in a warning: each costs two copies between
host and device.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.events import Event, Log, Progress, json_safe
from heimdall_studio.core.feeds import load_npz_feed, random_feed
from heimdall_studio.core.specs import BenchmarkOptions, OpProfileOptions, TensorSpec

OP_PROFILE = "op_profile"
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
KERNEL_SUFFIX = "_kernel_time"


@dataclass
class OpProfileResult:
    device: str
    providers: list[str]
    runs: int
    batch_size: int
    nodes: list[dict[str, Any]]  # slowest first
    by_op_type: list[dict[str, Any]]  # slowest first
    placement: dict[str, int]
    total_us: float  # mean node time per run, summed over nodes
    cpu_fallback: list[str] = field(default_factory=list)  # nodes on the CPU in a CUDA session

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(self)
        return data


def op_profile_step(
    onnx_path: Path,
    inputs: list[TensorSpec],
    options: OpProfileOptions,
    benchmark: BenchmarkOptions,
    cancel: CancelToken,
) -> Generator[Event, None, OpProfileResult]:
    """Profile ``options.runs`` runs of ``onnx_path`` on CUDA when the benchmark asks for it and this
    onnxruntime has it, else on the CPU."""
    import onnxruntime as ort

    from heimdall_studio.core.failures import ort_load_error

    if options.runs < 1:
        from heimdall_studio.core.errors import BadInputError

        raise BadInputError(
            f"Op profiling needs at least one run (got {options.runs}).", "Give --op-profile-runs 1 or more."
        )
    cuda = "cuda" in benchmark.devices and CUDA in ort.get_available_providers()
    providers = [CUDA, CPU] if cuda else [CPU]
    if benchmark.inputs_npz:
        feed = load_npz_feed(Path(benchmark.inputs_npz), inputs)
    else:
        feed = random_feed(inputs, options.batch_size, np.random.default_rng(benchmark.seed), benchmark.int_range)
    with tempfile.TemporaryDirectory(prefix="heimdall-op-profile-") as tmp:
        session_options = ort.SessionOptions()
        session_options.enable_profiling = True
        session_options.profile_file_prefix = str(Path(tmp) / "ort")
        if benchmark.threads > 0:
            session_options.intra_op_num_threads = benchmark.threads
        try:
            session = ort.InferenceSession(str(onnx_path), session_options, providers=providers)
        except Exception as exc:  # ORT's own error types
            raise ort_load_error(exc, onnx_path) from None
        used = session.get_providers()
        yield Progress(OP_PROFILE, 0, options.runs + 1, f"profiling on {used[0]}")
        for run in range(options.runs + 1):
            cancel.raise_if_cancelled()
            session.run(None, feed)
            yield Progress(OP_PROFILE, run + 1, options.runs + 1, f"run {run + 1} of {options.runs + 1}")
        trace = Path(session.end_profiling())
        events = json.loads(trace.read_text(encoding="utf-8"))
        del session
    result = summarise(events, skip_runs=1)
    result.device = "cuda" if cuda else "cpu"
    result.providers = list(used)
    result.batch_size = int(next(iter(feed.values())).shape[0]) if feed else 0
    warning = cpu_fallback(result)
    if warning is not None:
        yield warning
    return result


def cpu_fallback(result: OpProfileResult) -> Log | None:
    """On a CUDA profile, record the nodes that ran on the CPU and return the loud warning about them."""
    if result.device != "cuda":
        return None
    result.cpu_fallback = [n["onnx_node"] for n in result.nodes if n["provider"] == CPU]
    if not result.cpu_fallback:
        return None
    names = ", ".join(result.cpu_fallback[:10]) + (" …" if len(result.cpu_fallback) > 10 else "")
    return Log(
        "warning",
        f"CPU FALLBACK: {len(result.cpu_fallback)} of {len(result.nodes)} nodes ran on {CPU} "
        f"in a CUDA session ({names}). Each one copies its tensors between the GPU and the "
        f"host; check that their op types and dtypes are supported by {CUDA}.",
        OP_PROFILE,
    )


def summarise(events: list[dict[str, Any]], skip_runs: int = 1) -> OpProfileResult:
    """Per-node and per-op-type means from an ORT profile trace, dropping the first ``skip_runs``
    runs (``model_run`` events) as warm-up."""
    runs = sorted(
        (e["ts"], e["ts"] + e.get("dur", 0))
        for e in events
        if e.get("cat") == "Session" and e.get("name") == "model_run"
    )
    kept = runs[skip_runs:] if len(runs) > skip_runs else runs
    totals: dict[str, float] = {}
    info: dict[str, tuple[str, str]] = {}
    for event in events:
        name = str(event.get("name", ""))
        if event.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX):
            continue
        if not any(start <= event["ts"] <= end for start, end in kept):
            continue
        node = name[: -len(KERNEL_SUFFIX)]
        args = event.get("args", {})
        totals[node] = totals.get(node, 0.0) + float(event.get("dur", 0))
        info[node] = (str(args.get("op_name", "")), str(args.get("provider", "")))
    count = max(len(kept), 1)
    means = {node: total / count for node, total in totals.items()}
    total = sum(means.values()) or 1.0
    nodes: list[dict[str, Any]] = [
        {"onnx_node": node, "op_type": info[node][0], "provider": info[node][1], "mean_us": mean, "share": mean / total}
        for node, mean in sorted(means.items(), key=lambda kv: -kv[1])
    ]
    by_type: dict[str, float] = {}
    placement: dict[str, int] = {}
    for entry in nodes:
        by_type[entry["op_type"]] = by_type.get(entry["op_type"], 0.0) + entry["mean_us"]
        placement[entry["provider"]] = placement.get(entry["provider"], 0) + 1
    by_op_type = [
        {"op_type": op, "mean_us": mean, "share": mean / total}
        for op, mean in sorted(by_type.items(), key=lambda kv: -kv[1])
    ]
    return OpProfileResult(
        device="",
        providers=[],
        runs=len(kept),
        batch_size=0,
        nodes=nodes,
        by_op_type=by_op_type,
        placement=placement,
        total_us=sum(means.values()),
    )
