"""Optimised variants of an exported ONNX file: each one a file of its own next to the export.

``make_variant`` writes ``<stem>.<variant>.onnx`` beside the plain export, atomically (a temp
file in the same folder, then ``os.replace``; a failure leaves nothing behind), and returns the
settings it used. A variant that cannot be made here raises :class:`VariantUnavailable` with the
reason (fp16 without CUDA); a bad input raises BadInputError. The comparison (parity, session
tuning, benchmark) is in :mod:`heimdall_studio.core.variant_step`.

- ``ort-optimized``: ONNX Runtime's offline graph optimisation at ORT_ENABLE_EXTENDED, saved with
  ``SessionOptions.optimized_model_filepath``. EXTENDED fuses nodes into ONNX Runtime's own
  (``com.microsoft``) operators but does no layout transformation; ORT_ENABLE_ALL adds NCHWc layout
  changes tied to this CPU's instruction set, so the file would not be portable. The file runs in
  ONNX Runtime only (CPU execution provider), on any machine.
- ``int8-dynamic``: ``quantize_dynamic`` of MatMul/Gemm only (weights int8 per output channel in
  7 bits, ``reduce_range``: per-channel 8-bit weights saturate the u8×s8 kernels of CPUs without
  VNNI and moved LocalizationNet-tiny's outputs by 5e-2 instead of 7e-3; activations quantised at
  run time). Convolutions stay fp32: INT8 convolutions measured 2–4× slower here.
- ``int8-static``: QDQ ``quantize_static`` of the same op types, calibrated (MinMax) on the parity
  inputs (seeded random, like parity) or a user's .npz.
- ``fp16``: float16 weights and compute with fp32 inputs and outputs kept (``keep_io_types``),
  for CUDA; unavailable where ONNX Runtime has no CUDA provider.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import Tolerance

if TYPE_CHECKING:
    import numpy as np

ORT_OPTIMIZED = "ort-optimized"
INT8_DYNAMIC = "int8-dynamic"
INT8_STATIC = "int8-static"
FP16 = "fp16"
VARIANTS = (ORT_OPTIMIZED, INT8_DYNAMIC, INT8_STATIC, FP16)
QUANTIZED_OPS = ("MatMul", "Gemm")

# Default parity criteria per variant (the user's criteria for fp32 ones). Quantised variants are
# judged against what quantisation costs: dynamic INT8 of MatMul/Gemm moved LocalizationNet-tiny's
# outputs by about 2e-2 here; float16 keeps about 3 significant digits.
VARIANT_CRITERIA: dict[str, Tolerance | None] = {
    ORT_OPTIMIZED: None,  # None: the run's own (strict fp32) criteria
    INT8_DYNAMIC: Tolerance(atol=5e-2, rtol=5e-2, mean_atol=1e-2),
    INT8_STATIC: Tolerance(atol=5e-2, rtol=5e-2, mean_atol=1e-2),
    FP16: Tolerance(atol=1e-2, rtol=1e-2, mean_atol=1e-3),
}


class VariantUnavailable(Exception):
    """This variant cannot be made or run here; the message says why."""


@dataclass(frozen=True)
class VariantOptions:
    """What ``--variants`` asks for. ``criteria`` overrides a variant's default parity criteria."""

    names: tuple[str, ...] = ()
    calibration_npz: str = ""  # int8-static calibration arrays instead of the parity inputs
    criteria: dict[str, Tolerance] = field(default_factory=dict)
    tune: bool = True  # sweep intra-op threads × execution mode and use the best
    benchmark: bool = True  # False (run --skip-bench): no tuning and no latency, parity only
    overwrite: bool = False  # replace an existing variant file (the export's --overwrite)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VariantOptions:
        data = dict(data)
        data["names"] = tuple(data.get("names", ()))
        data["criteria"] = {k: Tolerance(**v) for k, v in (data.get("criteria") or {}).items()}
        return cls(**data)


def parse_variants(text: str) -> tuple[str, ...]:
    """``ort-optimized,int8-dynamic`` or ``all`` → the names, in the order given, once each."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["all"]:
        return VARIANTS
    unknown = [n for n in names if n not in VARIANTS]
    if unknown or not names:
        raise BadInputError(
            f"--variants {text!r}: unknown variant {', '.join(unknown) or '(none given)'}.",
            f"Choose from {', '.join(VARIANTS)}, or all.",
        )
    return tuple(dict.fromkeys(names))


def criteria_for(name: str, options: VariantOptions, fp32_default: Tolerance) -> Tolerance:
    return options.criteria.get(name) or VARIANT_CRITERIA.get(name) or fp32_default


def variant_path(plain: Path, name: str) -> Path:
    return plain.with_name(f"{plain.stem}.{name}.onnx")


def op_counts(path: Path) -> dict[str, int]:
    """Node count per op type (``domain::Op`` outside the default domain), subgraphs included."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    counts: Counter[str] = Counter()

    def walk(graph: Any) -> None:
        for node in graph.node:
            counts[f"{node.domain}::{node.op_type}" if node.domain not in ("", "ai.onnx") else node.op_type] += 1
            for attr in node.attribute:
                if attr.g is not None and attr.g.node:
                    walk(attr.g)
                for sub in attr.graphs:
                    walk(sub)

    walk(model.graph)
    return dict(sorted(counts.items()))


def structural_diff(plain: Path, variant: Path) -> dict[str, Any]:
    before, after = op_counts(plain), op_counts(variant)
    return {
        "op_counts_before": before,
        "op_counts_after": after,
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "nodes_before": sum(before.values()),
        "nodes_after": sum(after.values()),
    }


@contextlib.contextmanager
def atomic_target(target: Path, overwrite: bool, mode: int = 0o644) -> Iterator[Path]:
    """A temp path beside ``target`` that becomes ``target`` (os.replace) when the block succeeds;
    removed on any failure. BadInputError when ``target`` exists and ``overwrite`` is False."""
    if target.exists() and not overwrite:
        raise BadInputError(
            f"{target} already exists; the variant was not written over it.",
            "Pass --overwrite to replace it, or choose another --out folder.",
        )
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=".tmp.onnx", dir=target.parent)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        os.chmod(temp, mode)  # mkstemp's 0600 → the plain export's own permissions
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


def _check_plain(plain: Path) -> None:
    from heimdall_studio.core.onnx_files import onnx_file_parts

    if len(onnx_file_parts(plain)) > 1:
        raise BadInputError(
            f"{plain.name} keeps its weights in external data files; variants of such models "
            "(over 2 GB) are not made yet.",
            "Run without --variants for this model.",
        )


def make_variant(
    name: str,
    plain: Path,
    overwrite: bool = False,
    calibration: list[dict[str, np.ndarray]] | None = None,
) -> tuple[Path, dict[str, Any]]:
    """Write variant ``name`` of ``plain`` beside it; return its path and the settings used."""
    plain = Path(plain)
    _check_plain(plain)
    if name == FP16:
        _require_cuda()
    target = variant_path(plain, name)
    with atomic_target(target, overwrite, plain.stat().st_mode & 0o777) as temp:
        if name == ORT_OPTIMIZED:
            settings = _ort_optimized(plain, temp)
        elif name == INT8_DYNAMIC:
            settings = _int8_dynamic(plain, temp)
        elif name == INT8_STATIC:
            settings = _int8_static(plain, temp, calibration or [])
        elif name == FP16:
            settings = _fp16(plain, temp)
        else:
            raise BadInputError(f"Unknown variant {name!r}.", f"Choose from {', '.join(VARIANTS)}.")
    return target, settings


def _require_cuda() -> None:
    import onnxruntime as ort

    from heimdall_studio.core.runners import CUDA_PROVIDER, cuda_availability

    if CUDA_PROVIDER not in ort.get_available_providers():
        raise VariantUnavailable(
            f"float16 is for CUDA, and {cuda_availability()['onnxruntime']['reason']}; on the CPU "
            "ONNX Runtime runs float16 slower than float32"
        )


def _ort_optimized(plain: Path, out: Path) -> dict[str, Any]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(plain), options, providers=["CPUExecutionProvider"])  # writes ``out``; dropped at once
    return {
        "optimization_level": "ORT_ENABLE_EXTENDED",
        "portability": "ONNX Runtime only (com.microsoft fused operators), CPU execution provider, any "
        "machine: no layout transformation (ORT_ENABLE_ALL's NCHWc layouts are tied to the CPU)",
    }


def _prepared(plain: Path, work: Path) -> Path:
    """``quant_pre_process`` (shape inference + symbolic shapes) of ``plain`` into ``work``; the
    dynamo exporter's files carry value_info the quantiser needs refreshed. Falls back to
    ``plain`` when pre-processing fails (the quantiser then infers what it can)."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = work / "prepared.onnx"
    try:
        quant_pre_process(str(plain), str(out), skip_optimization=True)
    except Exception:  # symbolic shape inference gives up on some graphs; quantising still works
        return plain
    return out


def _int8_dynamic(plain: Path, out: Path) -> dict[str, Any]:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="heimdall-quant-", dir=out.parent) as work:
        source = _prepared(plain, Path(work))
        quantize_dynamic(
            str(source),
            str(out),
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            reduce_range=True,
            weight_type=QuantType.QInt8,
        )
    return {
        "op_types_quantized": list(QUANTIZED_OPS),
        "weight_type": "int8",
        "per_channel": True,
        "reduce_range": True,
        "activations": "uint8, quantised at run time",
    }


class _Feeds:
    """A CalibrationDataReader over a list of feeds (one inference each)."""

    def __init__(self, feeds: list[dict[str, np.ndarray]]):
        self._feeds = iter(feeds)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def _int8_static(plain: Path, out: Path, calibration: list[dict[str, np.ndarray]]) -> dict[str, Any]:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise BadInputError("int8-static needs calibration inputs and none were given.")
    with tempfile.TemporaryDirectory(prefix="heimdall-quant-", dir=out.parent) as work:
        source = _prepared(plain, Path(work))
        quantize_static(
            str(source),
            str(out),
            _Feeds(calibration),  # a duck-typed CalibrationDataReader
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    return {
        "op_types_quantized": list(QUANTIZED_OPS),
        "format": "QDQ",
        "weight_type": "int8",
        "activation_type": "int8",
        "per_channel": True,
        "calibration": "MinMax",
        "calibration_batches": len(calibration),
    }


def _fp16(plain: Path, out: Path) -> dict[str, Any]:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(plain)), keep_io_types=True)
    onnx.save(model, str(out))
    return {"precision": "float16", "keep_io_types": True, "for": "CUDAExecutionProvider"}
