"""Export step: a PyTorch module → an .onnx file (and its external data), atomically.

Both of torch's exporters are supported: ``dynamo`` (torch.export based, the
default) and ``torchscript`` (the legacy tracer, which TorchScript modules need).
Symbolic dims of the input specs become dynamic axes. The file is written into
a temporary folder inside the output folder and moved into place with
``os.replace`` — external data first, the .onnx last — so a failed or
interrupted export never leaves a file that looks complete.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.events import EXPORT, Event, Log, Progress, json_safe
from heimdall_studio.core.failures import allocation_error, disk_full_error, is_allocation_failure, is_disk_full
from heimdall_studio.core.limits import check_feed_fits, release_memory
from heimdall_studio.core.model import EXPORTED_PROGRAM, LoadedModel
from heimdall_studio.core.onnx_files import read_onnx_io
from heimdall_studio.core.runners import flatten_outputs, is_nested, torch_module
from heimdall_studio.core.specs import BATCH_NAMES, EXPORTERS, ExportOptions, TensorSpec

# Protobuf cannot serialise a model over 2 GiB; stay clear of the limit.
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26
# Example size of symbolic dims while tracing: not 0 or 1, which torch.export specialises.
EXAMPLE_BATCH = 2
EXAMPLE_DIM = 8

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_OPERATOR_PATTERNS = (
    re.compile(r"Exporting the operator '([^']+)'"),  # torchscript exporter
    re.compile(r"No ONNX function found for <OpOverload\(op='([^']+)'"),  # dynamo exporter
    re.compile(r"target=torch\.ops\.([\w.]+)\.default"),
)


@dataclass
class ExportResult:
    onnx_path: str
    exporter: str
    opset: int
    seconds: float
    external_data: bool
    size_bytes: int  # the .onnx and its external data together
    input_names: list[str] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    data_path: str = ""  # the external data file, when there is one

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(self)
        return data


def export_step(
    model: LoadedModel,
    out_dir: Path,
    options: ExportOptions,
    cancel: CancelToken,
    *,
    external_data_threshold: int = EXTERNAL_DATA_THRESHOLD,
) -> Generator[Event, None, ExportResult]:
    """Export ``model.module`` into ``out_dir``; weights bigger than
    ``external_data_threshold`` bytes go to ``<name>.onnx.data`` next to it.

    Raises BadInputError when the target exists (and ``options.overwrite`` is not
    set), when ``out_dir`` is not writable, or when torch cannot export the model
    (naming the operator when torch does).
    """
    import torch

    if options.exporter not in EXPORTERS:
        raise BadInputError(f"Unknown exporter {options.exporter!r}.", f"Use one of: {', '.join(EXPORTERS)}.")
    if model.module is None:
        raise BadInputError(f"{model.source} has no PyTorch module to export.", "Give a PyTorch source.")
    target = Path(out_dir) / _file_name(model, options)
    data_target = target.with_name(target.name + ".data")
    _check_target(target, data_target, options)
    exporter = options.exporter
    module = model.module
    exported = isinstance(module, torch.export.ExportedProgram) or model.kind == EXPORTED_PROGRAM
    if exported and exporter == "torchscript":
        # The tracer needs a callable; the program's dims stay as exported.
        module = _fixed_mode(torch_module(module))
    if isinstance(module, (torch.jit.ScriptModule, torch.jit.ScriptFunction)) and exporter == "dynamo":
        exporter = "torchscript"
        yield Log(
            "warning",
            "TorchScript modules cannot go through the dynamo exporter; using the torchscript exporter.",
            EXPORT,
        )
    opset = options.opset if options.opset is not None else ExportOptions(exporter=exporter).resolved_opset
    cancel.raise_if_cancelled()

    check_feed_fits(model.inputs, [EXAMPLE_BATCH if options.dynamic_batch else 1], "the export's example")
    args = tuple(_example(spec, options.dynamic_batch) for spec in model.inputs)
    output_names, batched_outputs, nested = _outputs(torch_module(module), args, model.output_names)
    if nested and isinstance(module, (torch.jit.ScriptModule, torch.jit.ScriptFunction)):
        module = _flatten_script_outputs(module, args)
    yield Progress(EXPORT, 0, 0, f"Exporting with the {exporter} exporter (opset {opset})")
    external = _parameter_bytes(torch_module(module)) > external_data_threshold
    started = time.perf_counter()
    workdir = _make_workdir(Path(out_dir))
    try:
        tmp_target = workdir / target.name
        try:
            _run_exporter(
                exporter,
                module,
                args,
                tmp_target,
                model.inputs,
                output_names,
                batched_outputs,
                opset,
                options,
                external,
            )
        except Exception as exc:  # torch raises many types; all mean "this model did not export"
            details = _ANSI.sub("", f"{type(exc).__name__}: {exc}")
            yield Log("debug", details, EXPORT)
            if is_disk_full(exc):  # not the exporter's fault: another exporter would not help
                raise disk_full_error(f"writing the ONNX file into {out_dir}") from exc
            if is_allocation_failure(exc):
                raise allocation_error(exc, "exporting the model") from exc
            raise _export_error(details, exporter, opset) from exc
        seconds = time.perf_counter() - started
        cancel.raise_if_cancelled()
        tmp_data = workdir / data_target.name
        external = tmp_data.exists()
        try:
            if external:
                os.replace(tmp_data, data_target)
            os.replace(tmp_target, target)
            if not external and options.overwrite and data_target.exists():
                data_target.unlink()  # a stale .data from the file this one replaced
        except OSError as exc:
            raise BadInputError(
                f"Cannot move the exported file into {out_dir}: {exc.strerror or exc}.",
                "Choose an output folder you can write to (--out).",
            ) from exc
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        # The exporters' programs, graphs and serialised copies of the weights are garbage now, much
        # of it in reference cycles: collected here, not at some later step's peak.
        release_memory(collect=True)

    inputs, _ = read_onnx_io(target)
    yield from _warn_static_axes(inputs, model.inputs, options)
    size = target.stat().st_size + (data_target.stat().st_size if external else 0)
    yield Progress(EXPORT, 1, 1, f"Wrote {target.name} in {seconds:.1f} s")
    return ExportResult(
        str(target),
        exporter,
        opset,
        round(seconds, 3),
        external,
        size,
        [spec.name for spec in model.inputs],
        output_names,
        str(data_target) if external else "",
    )


def _file_name(model: LoadedModel, options: ExportOptions) -> str:
    name = options.file_name or re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model.source).stem).strip("._") or "model"
    return name if name.endswith(".onnx") else name + ".onnx"


def _check_target(target: Path, data_target: Path, options: ExportOptions) -> None:
    if options.overwrite:
        return
    for path in (target, data_target):
        if path.exists():
            raise BadInputError(
                f"{path} already exists; Heimdall Studio does not overwrite files silently.",
                "Pass --overwrite to replace it, or choose another --out folder.",
            )


def _make_workdir(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".heimdall-export-", dir=out_dir))
    except OSError as exc:
        raise BadInputError(
            f"Cannot write into {out_dir}: {exc.strerror or exc}.", "Choose an output folder you can write to (--out)."
        ) from exc


def _example(spec: TensorSpec, dynamic_batch: bool) -> Any:
    import torch

    from heimdall_studio.core.feeds import torch_dtype

    dims = {d: EXAMPLE_DIM for d in spec.shape if isinstance(d, str) and d.lower() not in BATCH_NAMES}
    shape = spec.concrete_shape(EXAMPLE_BATCH if dynamic_batch else 1, dims)
    dtype = torch_dtype(spec.dtype)
    if dtype.is_floating_point:
        return torch.randn(shape, dtype=dtype)
    if dtype == torch.bool:
        return torch.ones(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)


def _outputs(module: Any, args: tuple[Any, ...], names: list[str]) -> tuple[list[str], list[str], bool]:
    """Output names (given, or named after the structure: see flatten_outputs), those whose
    first axis is the batch, and whether the result is nested (dicts, lists, tuples in tuples)."""
    import torch

    try:
        with torch.inference_mode():
            result = module(*args)
            leaves, paths = flatten_outputs(result)
    except Exception as exc:
        raise BadInputError(
            f"The model's forward fails on example inputs: {type(exc).__name__}: {exc}",
            "Check the input specs (--input NAME:DIMS:DTYPE) against what forward expects.",
        ) from exc
    if names and len(names) != len(leaves):
        raise BadInputError(
            f"The model returns {len(leaves)} outputs but {len(names)} output names were given ({', '.join(names)}).",
            "Give one output name per output of forward.",
        )
    names = list(names) or paths
    batched = [
        name
        for name, leaf in zip(names, leaves, strict=True)
        if getattr(leaf, "ndim", 0) > 0 and leaf.shape[0] == EXAMPLE_BATCH
    ]
    return names, batched, is_nested(result)


def _fixed_mode(module: Any) -> Any:
    """An ExportedProgram's module inside a wrapper whose ``train()`` does nothing: the torchscript
    exporter switches the model to eval mode, which the program's module refuses (its mode was
    fixed when it was exported)."""
    import torch

    class FixedMode(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def train(self, mode: bool = True) -> FixedMode:
            return self

        def forward(self, *inputs: Any) -> Any:
            return self.inner(*inputs)

    return FixedMode(module)


def _flatten_script_outputs(module: Any, args: tuple[Any, ...]) -> Any:
    """A TorchScript module whose forward returns a dict, a list or nested tuples, traced inside a
    wrapper that returns the flat tuple of its leaves: the torchscript exporter has no ONNX form
    for prim::DictConstruct, but it removes a dict that is built and indexed in the same graph."""
    import torch

    class FlatOutputs(torch.nn.Module):
        def __init__(self, inner: Any):
            super().__init__()
            self.inner = inner

        def forward(self, *inputs: Any) -> tuple[Any, ...]:
            return tuple(flatten_outputs(self.inner(*inputs))[0])

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.trace_module(FlatOutputs(module), {"forward": args}, strict=False, check_trace=False)
    except Exception as exc:
        text = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        why = (
            "TorchScript cannot trace its result (a dict whose values have different types?)"
            if "INTERNAL ASSERT" in text
            else f"{type(exc).__name__}: {text[:300]}"
        )
        raise BadInputError(
            f"The outputs of the TorchScript model cannot be flattened for export: {why}.",
            "Return a tensor, a tuple of tensors, or a dict whose values all have one type "
            "(all tensors, or all lists of tensors) from forward.",
        ) from None


def _parameter_bytes(module: Any) -> int:
    tensors = list(module.parameters()) + list(module.buffers()) if hasattr(module, "parameters") else []
    return sum(t.numel() * t.element_size() for t in tensors)


def _dynamic_axes(specs: list[TensorSpec], dynamic_batch: bool) -> list[dict[int, str]]:
    return [
        {axis: name for axis, name in spec.dynamic_dims.items() if dynamic_batch or name.lower() not in BATCH_NAMES}
        for spec in specs
    ]


def _run_exporter(
    exporter: str,
    module: Any,
    args: tuple[Any, ...],
    path: Path,
    specs: list[TensorSpec],
    output_names: list[str],
    batched_outputs: list[str],
    opset: int,
    options: ExportOptions,
    external: bool,
) -> None:
    import torch

    axes = _dynamic_axes(specs, options.dynamic_batch)
    input_names = [spec.name for spec in specs]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecation chatter; real problems raise
        if exporter == "dynamo":
            # torch's ONNX registry warns once per torchvision op when torchvision is absent;
            # that is noise for every model that does not use torchvision.
            logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
            # An ExportedProgram keeps the dynamic dims it was exported with (torch names them s0, s1…).
            if isinstance(module, torch.export.ExportedProgram):
                axes = []
            dims: dict[str, Any] = {}
            shapes = tuple(
                {axis: dims.setdefault(name, torch.export.Dim(name)) for axis, name in spec_axes.items()} or None
                for spec_axes in axes
            )
            program = torch.onnx.export(
                module,
                args,
                None,
                dynamo=True,
                verbose=False,
                input_names=input_names,
                output_names=output_names,
                opset_version=opset,
                dynamic_shapes=shapes if any(shapes) else None,
                optimize=options.do_constant_folding,
            )
            assert program is not None  # dynamo=True always returns the ONNXProgram
            program.save(path, external_data=external)
            return
        dynamic_axes = {name: spec_axes for name, spec_axes in zip(input_names, axes, strict=True) if spec_axes}
        batch_name = next((n for spec_axes in axes for n in spec_axes.values() if n.lower() in BATCH_NAMES), "")
        dynamic_axes.update({name: {0: batch_name} for name in batched_outputs if batch_name})
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            input_names=input_names,
            output_names=output_names,
            opset_version=opset,
            dynamic_axes=dynamic_axes,
            do_constant_folding=options.do_constant_folding,
        )
    if external:
        import onnx

        proto = onnx.load(str(path))  # gathers the per-tensor files torch writes for >2 GB models
        onnx.save_model(
            proto,
            str(path),
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location=path.name + ".data",
            size_threshold=0,
        )


def _export_error(details: str, exporter: str, opset: int) -> BadInputError:
    other = "torchscript" if exporter == "dynamo" else "dynamo"
    operator = next((m.group(1) for p in _OPERATOR_PATTERNS if (m := p.search(details))), "")
    if operator:
        operator = operator.replace("::", ".")
        return BadInputError(
            f"The {exporter} exporter cannot convert the operator {operator} to ONNX (opset {opset}).",
            f"Try the {other} exporter (--exporter {other}) or another opset (--opset), or replace "
            f"{operator} in the model; the debug log has torch's full message.",
        )
    # The dynamo exporter puts the cause under "## Exception summary", after a page of advice.
    cause = details.split("## Exception summary", 1)[-1]
    summary = next((line.strip() for line in cause.splitlines() if line.strip()), details)
    return BadInputError(
        f"The {exporter} exporter could not export the model: {summary[:300]}",
        f"Try the {other} exporter (--exporter {other}) or another opset (--opset); "
        "the debug log has torch's full message.",
    )


def _warn_static_axes(
    found: list[TensorSpec], wanted: list[TensorSpec], options: ExportOptions
) -> Generator[Event, None, None]:
    """Both exporters can quietly fix an axis we asked to be dynamic; say so."""
    by_name = {spec.name: spec for spec in found}
    for spec in wanted:
        written = by_name.get(spec.name)
        if written is None:
            continue
        for axis, name in spec.dynamic_dims.items():
            if not options.dynamic_batch and name.lower() in BATCH_NAMES:
                continue
            if axis < len(written.shape) and isinstance(written.shape[axis], int):
                yield Log(
                    "warning",
                    f"Input {spec.name!r} axis {axis} ({name}) came out fixed at "
                    f"{written.shape[axis]}; the model only runs at that size.",
                    EXPORT,
                )
