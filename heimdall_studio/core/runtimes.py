"""OpenVINO and TensorRT: two more runtimes behind the runner contract of ``core.runners``.

- ``openvino``: OpenVINO's CPU plugin on the exported .onnx file (its ONNX frontend reads it
  directly). Its inference precision is a setting (``--openvino-precision``): ``auto`` leaves the
  choice to OpenVINO, which picks bf16 on CPUs with AMX/AVX512-BF16 and f32 elsewhere; ``f32``,
  ``bf16`` and ``f16`` ask for one. The precision the compiled model actually uses is read back
  (``INFERENCE_PRECISION_HINT``) and reported, because a reduced one changes the outputs.
- ``tensorrt``: ONNX Runtime with ``TensorrtExecutionProvider`` (CUDA then CPU behind it for the
  nodes TensorRT does not take), on CUDA only. Engines are cached beside the .onnx file.

openvino and onnxruntime are imported inside the functions that need them, so importing this
module stays cheap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.runners import CPU_PROVIDER, CUDA_PROVIDER, OrtRunner, Runner
from heimdall_studio.core.specs import BATCH_NAMES, OPENVINO_PRECISIONS, TensorSpec, Tolerance

OPENVINO_DEVICE = "CPU"
OPENVINO_PROVIDER = f"openvino:{OPENVINO_DEVICE}"
OPENVINO_NOT_CUDA = "OpenVINO runs on Intel CPUs/GPUs here, not CUDA"
TRT_PROVIDER = "TensorrtExecutionProvider"
TRT_NOT_CPU = "TensorRT runs on NVIDIA GPUs only (device cuda); it has no CPU mode"
TRT_HINT = (
    "install onnxruntime-gpu built with TensorRT and the TensorRT libraries it was built against "
    "(pip install onnxruntime-gpu tensorrt), on a machine with an NVIDIA GPU and its CUDA driver"
)

# Parity criteria when OpenVINO computes in a reduced precision (its own choice under ``auto``,
# or asked for). bf16 keeps 8 bits of mantissa (relative rounding 2^-9 ≈ 2e-3 per operation) and
# f16 11 (≈ 5e-4); the errors add up over the layers of a network, so the criteria allow about
# five times what LocalizationNet-tiny measured (bf16: max abs 2e-3 against fp32). In f32 the
# run's own criteria apply (the strict defaults: atol 1e-4, rtol 1e-3, mean_atol 1e-5).
REDUCED_PRECISION_TOLERANCE = {
    "bf16": Tolerance(atol=1e-2, rtol=1e-2, mean_atol=1e-3),
    "f16": Tolerance(atol=5e-3, rtol=5e-3, mean_atol=5e-4),
}


def check_openvino_precision(precision: str) -> str:
    if precision not in OPENVINO_PRECISIONS:
        raise BadInputError(
            f"OpenVINO precision {precision!r} is not one of {', '.join(OPENVINO_PRECISIONS)}.",
            "Set --openvino-precision to auto (OpenVINO's own choice), f32, bf16 or f16.",
        )
    return precision


def import_openvino() -> Any:
    """``openvino``, with its usage telemetry off.

    ``import openvino`` imports its model converter, which sends a usage event to Google Analytics
    from a forked process (``openvino_telemetry``): data leaving the machine nobody agreed to, and
    a fork that inherits the engine's protocol pipe and keeps the app waiting for the engine to end.
    With ``openvino_telemetry`` unimportable, OpenVINO falls back to its own no-op stub."""
    import sys

    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    sys.modules.setdefault("openvino_telemetry.backend", None)  # type: ignore[arg-type]
    import openvino

    return openvino


def openvino_version() -> str:
    try:
        ov = import_openvino()
    except ImportError:
        return ""
    return str(ov.get_version())


class OpenVinoRunner(Runner):
    """OpenVINO's CPU plugin on an .onnx file.

    ``precision`` is ``auto`` (OpenVINO decides) or the ``INFERENCE_PRECISION_HINT`` to ask for.
    After :meth:`activate`, :attr:`precision` is what the compiled model uses (``f32``, ``bf16``, …).
    ``threads`` > 0 sets ``INFERENCE_NUM_THREADS``.
    """

    runtime = "openvino"

    def __init__(self, onnx_path: Path | str, precision: str = "auto", threads: int = 0):
        super().__init__()
        self.onnx_path = Path(onnx_path)
        self.requested_precision = check_openvino_precision(precision)
        self._threads = threads
        self._compiled: Any = None
        self._request: Any = None
        self._outputs: list[tuple[str, Any]] = []
        self.precision = ""  # read back from the compiled model
        self._used_threads = 0

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def provider(self) -> str:
        return OPENVINO_PROVIDER

    @property
    def input_specs(self) -> list[TensorSpec]:
        from heimdall_studio.core.onnx_files import read_onnx_io

        return read_onnx_io(self.onnx_path)[0]

    @property
    def threads(self) -> int:
        return self._used_threads or self._threads

    def describe(self) -> str:
        precision = self.precision or self.requested_precision
        return f"{self.runtime} on {self.device} ({self.provider}, {precision})"

    def _activate(self) -> None:
        try:
            ov = import_openvino()
        except ImportError as exc:
            raise BadInputError(
                f"OpenVINO cannot be imported: {exc}.", "Install it: pip install openvino (a dependency of the app)."
            ) from None
        from heimdall_studio.core.onnx_files import read_onnx_io

        config: dict[str, Any] = {}
        if self.requested_precision != "auto":
            config["INFERENCE_PRECISION_HINT"] = self.requested_precision
        if self._threads > 0:
            config["INFERENCE_NUM_THREADS"] = self._threads
        core = ov.Core()
        try:
            model = core.read_model(str(self.onnx_path))
        except Exception as exc:  # OpenVINO raises RuntimeError / its own types for unsupported ops
            raise BadInputError(
                f"OpenVINO {ov.get_version()} cannot read {self.onnx_path.name}: {_first_line(exc)}",
                "Leave openvino out of --runtimes for this model; ONNX Runtime still measures it.",
            ) from None
        try:
            self._compiled = core.compile_model(model, OPENVINO_DEVICE, config)
        except Exception as exc:
            raise BadInputError(
                f"OpenVINO {ov.get_version()} cannot compile {self.onnx_path.name} for its {OPENVINO_DEVICE} "
                f"plugin{' in ' + self.requested_precision if config.get('INFERENCE_PRECISION_HINT') else ''}: "
                f"{_first_line(exc)}",
                "Set --openvino-precision to auto or f32, or leave openvino out of --runtimes.",
            ) from None
        del model  # the compiled model holds what it needs
        self.precision = precision_name(self._compiled.get_property("INFERENCE_PRECISION_HINT"))
        self._used_threads = int(self._compiled.get_property("INFERENCE_NUM_THREADS") or 0)
        names = [spec.name for spec in read_onnx_io(self.onnx_path)[1]]
        self._outputs = []
        for index, port in enumerate(self._compiled.outputs):
            known = port.get_names()
            name = names[index] if index < len(names) and names[index] in known else port.get_any_name()
            self._outputs.append((name, port))
        self._request = self._compiled.create_infer_request()

    def _deactivate(self) -> None:
        self._request = None
        self._compiled = None
        self._outputs = []

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = {name: np.ascontiguousarray(value) for name, value in feed.items()}
        try:
            results = self._request.infer(arrays)
        except Exception as exc:
            raise BadInputError(
                f"OpenVINO could not run {self.onnx_path.name}: {_first_line(exc)}",
                "Check the inputs' names, shapes and dtypes against the model's (inspect FILE.onnx).",
            ) from None
        return {name: np.array(results[port], copy=True) for name, port in self._outputs}


def precision_name(value: Any) -> str:
    """OpenVINO's element type (``<Type: 'bfloat16'>``) → its short name (``bf16``)."""
    for attribute in ("get_type_name", "to_string"):
        method = getattr(value, attribute, None)
        if callable(method):
            return str(method())
    return str(value)


def parity_tolerance(precision: str, default: Tolerance) -> Tolerance:
    """The criteria for OpenVINO outputs computed in ``precision``: looser for bf16/f16, else ``default``."""
    return REDUCED_PRECISION_TOLERANCE.get(precision, default)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0][:400] if lines else text


def tensorrt_availability() -> dict[str, Any]:
    """Whether this onnxruntime has TensorRT's execution provider and, when not, why."""
    import onnxruntime as ort

    providers = list(ort.get_available_providers())
    if TRT_PROVIDER in providers:
        return {"available": True, "reason": "", "providers": providers}
    return {
        "available": False,
        "reason": (
            f"onnxruntime {ort.__version__} was built without {TRT_PROVIDER} (it has {', '.join(providers)}); "
            + TRT_HINT
        ),
        "providers": providers,
    }


class TensorRtRunner(OrtRunner):
    """ONNX Runtime with TensorrtExecutionProvider first, CUDA and CPU behind it, on GPU ``device_id``.

    Engines and TensorRT's timing cache go to ``cache_dir`` (default: ``.trt-cache`` beside the
    .onnx file), so only the first activation pays for the engine build. ``fp16`` lets TensorRT
    pick fp16 kernels (trt_fp16_enable). With ``profile_batches`` (smallest and largest batch) the
    optimisation profile covers that batch range; the other dims come from ``input_specs``.
    """

    runtime = "tensorrt"

    def __init__(
        self,
        onnx_path: Path | str,
        threads: int = 0,
        *,
        fp16: bool = False,
        cache_dir: Path | str | None = None,
        device_id: int = 0,
        profile_batches: Sequence[int] = (),
        input_specs: Sequence[TensorSpec] = (),
    ):
        path = Path(onnx_path)
        cache = Path(cache_dir) if cache_dir is not None else path.parent / ".trt-cache"
        options: dict[str, Any] = {
            "device_id": device_id,
            "trt_fp16_enable": fp16,
            "trt_engine_cache_enable": True,
            "trt_engine_cache_path": str(cache),
            "trt_timing_cache_enable": True,
            "trt_timing_cache_path": str(cache),
        }
        options.update(trt_profile_options(input_specs, profile_batches))
        super().__init__(path, [(TRT_PROVIDER, options), CUDA_PROVIDER, CPU_PROVIDER], threads)
        self.cache_dir = cache
        self.fp16 = fp16

    @property
    def device(self) -> str:
        return "cuda"

    def _activate(self) -> None:
        status = tensorrt_availability()
        if not status["available"]:
            raise BadInputError(f"TensorRT cannot run: {status['reason']}.", "Benchmark with onnxruntime instead.")
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        super()._activate()


def trt_profile_options(specs: Sequence[TensorSpec], batches: Sequence[int]) -> dict[str, str]:
    """TensorRT's optimisation profile (min/opt/max shapes) for the batch range; {} when not wanted
    or when an input has a symbolic dim other than the batch (TensorRT then builds per shape)."""
    if not specs or not batches:
        return {}
    low, high = min(batches), max(batches)
    shapes: dict[str, list[str]] = {"min": [], "opt": [], "max": []}
    for spec in specs:
        if any(isinstance(d, str) and d.lower() not in BATCH_NAMES for d in spec.shape):
            return {}
        for key, size in (("min", low), ("opt", high), ("max", high)):
            dims = "x".join(str(d) for d in spec.concrete_shape(size))
            shapes[key].append(f"{spec.name}:{dims}")
    return {f"trt_profile_{key}_shapes": ",".join(value) for key, value in shapes.items()}
