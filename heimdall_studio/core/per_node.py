"""Per-node parity: each nn.Module's output in PyTorch against the ONNX value it produced.

The ONNX graph is mapped to modules by the exporters' scope records (see ``onnx_scopes``). The
comparison runs in chunks so that peak memory stays bounded on a large model: the weights are
written once to a private folder as external data, and each chunk is a light copy of the graph
with at most ``chunk_size`` extra outputs, run in its own ONNX Runtime session (one at a time),
beside a PyTorch forward pass whose hooks keep only that chunk's modules' outputs.

The first divergence is the first compared value, in topological order, whose relative error
max|err| / max|ref| exceeds ``options.rtol``. A value shared by nested modules (a Sequential and
its last layer) is reported once, under the innermost module.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.events import Event, Log, Progress, json_safe
from heimdall_studio.core.feeds import load_npz_feed, random_feed
from heimdall_studio.core.onnx_scopes import ModuleValue, module_outputs, scoped_nodes
from heimdall_studio.core.specs import ParityOptions, PerNodeOptions, TensorSpec

PER_NODE = "per_node"


@dataclass
class PerNodeResult:
    compared: int
    threshold: float
    first_divergence: dict[str, Any] | None
    nodes: list[dict[str, Any]]
    modules: int  # modules of the PyTorch model (root excluded)
    unmatched: int  # modules with no ONNX value of the same shape, or called more than once
    chunks: int
    max_extra_outputs: int  # the most outputs one session had beyond the model's own
    batch_size: int
    outputs_passed: bool | None = None  # parity's verdict on the final outputs, when it ran
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(self)
        return data


def per_node_step(
    module: Any,
    onnx_path: Path,
    inputs: list[TensorSpec],
    options: PerNodeOptions,
    parity: ParityOptions,
    cancel: CancelToken,
    outputs_passed: bool | None = None,
) -> Generator[Event, None, PerNodeResult]:
    """Compare every module's output with its ONNX value; ``module`` is an nn.Module on the CPU."""
    from heimdall_studio.core.runners import torch_module

    torch_model = torch_module(module)
    paths = {name for name, _ in torch_model.named_modules() if name}
    by_name = dict(torch_model.named_modules())
    feed = _feed(inputs, options, parity)
    with tempfile.TemporaryDirectory(prefix="heimdall-per-node-") as tmp:
        yield Progress(PER_NODE, 0, 0, "Preparing the graph (weights written once as external data)")
        light = _light_copy(onnx_path, Path(tmp))
        nodes = scoped_nodes(light.graph, paths)
        graph_outputs = [o.name for o in light.graph.output]
        candidates = module_outputs(nodes, set(graph_outputs))
        plan = sorted(candidates.items(), key=lambda item: item[1][0].node.index)
        chunks = list(_chunks(plan, options.chunk_size, set(graph_outputs)))
        entries: dict[str, tuple[int, dict[str, Any]]] = {}  # value → (module depth, entry)
        unmatched = len(paths) - len(plan)
        max_extra = 0
        for number, chunk in enumerate(chunks):
            cancel.raise_if_cancelled()
            yield Progress(PER_NODE, number, len(chunks), f"chunk {number + 1} of {len(chunks)}")
            expected = _torch_outputs(torch_model, by_name, [m for m, _ in chunk], inputs, feed)
            values = sorted({c.value for _, cands in chunk for c in cands} - set(graph_outputs))
            max_extra = max(max_extra, len(values))
            actual = _onnx_values(light, Path(tmp), values, graph_outputs, feed)
            for module_path, cands in chunk:
                entry = _compare(module_path, cands, expected.get(module_path), actual)
                if entry is None:
                    unmatched += 1
                    continue
                value, depth, data = entry
                if value not in entries or entries[value][0] < depth:
                    entries[value] = (depth, data)
        yield Progress(PER_NODE, len(chunks), len(chunks), "compared")
    ordered = [data for _, data in sorted(entries.values(), key=lambda pair: pair[1]["_index"])]
    first = next((e for e in ordered if not e["max_rel"] <= options.rtol), None)
    result = PerNodeResult(
        compared=len(ordered),
        threshold=options.rtol,
        first_divergence=None,
        nodes=[{k: v for k, v in e.items() if not k.startswith("_") and k != "source"} for e in ordered],
        modules=len(paths),
        unmatched=unmatched,
        chunks=len(chunks),
        max_extra_outputs=max_extra,
        batch_size=_batch_of(feed),
        outputs_passed=outputs_passed,
    )
    if first is not None:
        result.first_divergence = {
            k: first[k] for k in ("onnx_node", "op_type", "module", "source", "max_abs", "max_rel")
        }
        message = (
            f"first divergence at ONNX node {first['onnx_node']} ({first['op_type']}) from module "
            f"{first['module']}: max rel error {first['max_rel']:.3g} > {options.rtol:g}"
        )
        if outputs_passed:
            message += "; the final outputs still pass parity, so this divergence does not reach them"
            result.notes.append("A node diverges although the final outputs pass parity.")
        yield Log("warning", f"Per-node parity: {message}", PER_NODE)
    if not ordered:
        result.notes.append(
            "No module output could be matched to an ONNX value: the file carries no "
            "scope records (dynamo name_scopes or TorchScript /module/Op names) for "
            "this model's modules."
        )
        yield Log("warning", f"Per-node parity: {result.notes[-1]}", PER_NODE)
    return result


def _feed(inputs: list[TensorSpec], options: PerNodeOptions, parity: ParityOptions) -> dict[str, np.ndarray]:
    if parity.inputs_npz:
        return load_npz_feed(Path(parity.inputs_npz), inputs)
    return random_feed(inputs, options.batch_size, np.random.default_rng(parity.seed), parity.int_range)


def _batch_of(feed: dict[str, np.ndarray]) -> int:
    first = next(iter(feed.values()))
    return int(first.shape[0]) if first.ndim else 1


def _light_copy(onnx_path: Path, folder: Path) -> Any:
    """The graph without its weights; the weights go once to ``folder/weights.bin``, which every
    chunk's model (saved in the same folder) refers to."""
    import onnx

    model = onnx.load(str(onnx_path))
    onnx.save_model(
        model,
        str(folder / "base.onnx"),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="weights.bin",
        size_threshold=1024,
    )
    del model
    return onnx.load(str(folder / "base.onnx"), load_external_data=False)


def _chunks(
    plan: list[tuple[str, list[ModuleValue]]], size: int, graph_outputs: set[str]
) -> Generator[list[tuple[str, list[ModuleValue]]], None, None]:
    """Groups of modules whose candidate values add at most ``size`` outputs to one session."""
    chunk: list[tuple[str, list[ModuleValue]]] = []
    values: set[str] = set()
    for module_path, cands in plan:
        cands = cands[-size:]  # the output is the last value leaving the module (or close to it)
        extra = {c.value for c in cands} - graph_outputs
        if chunk and len(values | extra) > size:
            yield chunk
            chunk, values = [], set()
        chunk.append((module_path, cands))
        values |= extra
    if chunk:
        yield chunk


def _torch_outputs(
    model: Any, by_name: dict[str, Any], wanted: list[str], inputs: list[TensorSpec], feed: dict[str, np.ndarray]
) -> dict[str, np.ndarray | None]:
    """The output of each module in ``wanted`` on ``feed``; None for a module called more than once
    or whose output is not one tensor."""
    import torch

    seen: dict[str, list[Any]] = {}

    def hook(path: str) -> Callable[[Any, Any, Any], None]:
        def keep(_module: Any, _args: Any, output: Any) -> None:
            seen.setdefault(path, []).append(
                output.detach().float().cpu().numpy().copy() if isinstance(output, torch.Tensor) else None
            )

        return keep

    with contextlib.ExitStack() as stack:
        for path in wanted:
            handle = by_name[path].register_forward_hook(hook(path))
            stack.callback(handle.remove)
        args = [torch.from_numpy(np.ascontiguousarray(feed[spec.name])) for spec in inputs]
        with torch.inference_mode():
            model(*args)
    return {path: outs[0] if len(outs) == 1 else None for path, outs in seen.items()}


def _onnx_values(
    light: Any, folder: Path, values: list[str], graph_outputs: list[str], feed: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The model's outputs and ``values`` from a session on a light copy with those extra outputs."""
    import onnx
    import onnxruntime as ort

    model = onnx.ModelProto()
    model.CopyFrom(light)
    for value in values:
        model.graph.output.append(onnx.ValueInfoProto(name=value))
    path = folder / "chunk.onnx"
    onnx.save_model(model, str(path))
    del model
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = list(graph_outputs) + values
    arrays = session.run(names, {name: np.ascontiguousarray(array) for name, array in feed.items()})
    del session
    return dict(zip(names, arrays, strict=True))


def _compare(
    module_path: str, cands: list[ModuleValue], expected: np.ndarray | None, actual: dict[str, np.ndarray]
) -> tuple[str, int, dict[str, Any]] | None:
    if expected is None:
        return None
    for cand in reversed(cands):
        got = actual.get(cand.value)
        if got is None or got.shape != expected.shape or got.dtype.kind not in "fc":
            continue
        ref = expected.astype(np.float64)
        diff = np.abs(got.astype(np.float64) - ref)
        max_abs = float(np.nanmax(diff)) if diff.size else 0.0
        scale = float(np.nanmax(np.abs(ref))) if ref.size else 0.0
        if np.isnan(diff).any():
            max_abs = float("nan")
        max_rel = max_abs / scale if scale > 0 else (0.0 if max_abs == 0 else float("inf"))
        depth = cand.node.modules.index(module_path)
        return (
            cand.value,
            depth,
            {
                "onnx_node": cand.node.name,
                "op_type": cand.node.op_type,
                "module": module_path,
                "max_abs": max_abs,
                "max_rel": max_rel,
                "source": cand.node.source or None,
                "_index": cand.node.index,
            },
        )
    return None
