"""What goes in and out of a model, and the options of each step.

Plain dataclasses, no torch import: the GUI builds these from its forms and the
engine receives them as JSON.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from heimdall_studio.core.errors import BadInputError

DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int8", "uint8", "bool")

Dim = int | str  # a fixed size, or a symbolic name such as "batch"

_SYMBOL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class TensorSpec:
    """A named tensor with a shape whose dims are ints or symbolic names."""

    name: str
    shape: tuple[Dim, ...]
    dtype: str = "float32"

    def concrete_shape(self, batch_size: int, dims: dict[str, int] | None = None) -> tuple[int, ...]:
        """Fix every symbolic dim: ``batch`` (or any name in ``BATCH_NAMES``) gets
        ``batch_size``; other names come from ``dims`` (default 1)."""
        dims = dims or {}
        out = []
        for d in self.shape:
            if isinstance(d, int):
                out.append(d)
            elif d in dims:
                out.append(int(dims[d]))
            elif d.lower() in BATCH_NAMES:
                out.append(batch_size)
            else:
                out.append(1)
        return tuple(out)

    @property
    def dynamic_dims(self) -> dict[int, str]:
        """Axis index → symbolic name, as the exporters want for dynamic axes."""
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TensorSpec:
        return cls(name=data["name"], shape=tuple(data["shape"]), dtype=data.get("dtype", "float32"))

    def __str__(self) -> str:
        return f"{self.name}:{','.join(str(d) for d in self.shape)}:{self.dtype}"


BATCH_NAMES = {"batch", "batch_size", "n", "b", "n_batch", "batchsize"}


def parse_tensor_spec(text: str) -> TensorSpec:
    """Parse ``NAME:DIMS:DTYPE`` (dtype optional), e.g. ``mel_spectrogram:batch,3,128,32:float32``."""
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise BadInputError(
            f"Input spec {text!r} is not NAME:DIMS[:DTYPE].",
            "Write it like mel_spectrogram:batch,3,128,32:float32 — dims are integers or names for dynamic axes.",
        )
    name, dims_text = parts[0], parts[1]
    dtype = parts[2] if len(parts) == 3 else "float32"
    if dtype not in DTYPES:
        raise BadInputError(f"Input spec {text!r}: unknown dtype {dtype!r}.", f"Use one of: {', '.join(DTYPES)}.")
    shape: list[Dim] = []
    for raw in dims_text.split(","):
        raw = raw.strip()
        if raw.isdigit():
            if int(raw) == 0:
                raise BadInputError(
                    f"Input spec {text!r}: a dim of 0 makes an empty tensor.",
                    "Use a positive size or a name for a dynamic axis.",
                )
            shape.append(int(raw))
        elif _SYMBOL.match(raw):
            shape.append(raw)
        else:
            raise BadInputError(
                f"Input spec {text!r}: dim {raw!r} is neither a positive integer nor a name.",
                "Dims are integers (3) or names for dynamic axes (batch).",
            )
    return TensorSpec(name=name, shape=tuple(shape), dtype=dtype)


def parse_int_range(text: str) -> tuple[int, int]:
    """``LOW,HIGH`` (inclusive) → (low, high); BadInputError when malformed or empty."""
    parts = [part.strip() for part in str(text).split(",")]
    try:
        low, high = (int(part) for part in parts)
    except ValueError:
        raise BadInputError(
            f"--int-range {text!r} is not LOW,HIGH.", "Give two integers, e.g. --int-range 0,9 (both ends included)."
        ) from None
    if low > high:
        raise BadInputError(f"--int-range {text!r}: LOW is above HIGH.", "Write the smaller number first.")
    return low, high


@dataclass(frozen=True)
class Tolerance:
    """Pass criterion of one output: every element within ``atol + rtol*|ref|``, and
    (the seed's own criterion) the mean absolute error at most ``mean_atol``."""

    atol: float = 1e-4
    rtol: float = 1e-3
    mean_atol: float = 1e-5


@dataclass(frozen=True)
class ExportOptions:
    exporter: str = "dynamo"  # "dynamo" | "torchscript"
    opset: int | None = None  # None: DEFAULT_OPSET[exporter]
    do_constant_folding: bool = True
    dynamic_batch: bool = True
    overwrite: bool = False
    file_name: str = ""  # default: derived from the source name

    @property
    def resolved_opset(self) -> int:
        return self.opset if self.opset is not None else DEFAULT_OPSET[self.exporter]


# The seed exported with opset 14 (TorchScript exporter); the dynamo exporter's
# lowest native opset is 18 (older ones go through a lossy version converter).
DEFAULT_OPSET = {"dynamo": 18, "torchscript": 14}
EXPORTERS = tuple(DEFAULT_OPSET)


@dataclass(frozen=True)
class ParityOptions:
    batches: int = 5
    batch_size: int = 8
    seed: int = 0
    inputs_npz: str = ""  # user-supplied inputs instead of random ones
    int_range: tuple[int, int] = (0, 9)  # random integer inputs: LOW..HIGH inclusive
    default: Tolerance = field(default_factory=Tolerance)
    per_output: dict[str, Tolerance] = field(default_factory=dict)

    def tolerance_for(self, output: str) -> Tolerance:
        return self.per_output.get(output, self.default)


RUNTIMES = ("pytorch", "onnxruntime", "openvino", "tensorrt")  # what --runtimes accepts
OPENVINO_PRECISIONS = ("auto", "f32", "bf16", "f16")  # what --openvino-precision accepts


def parse_runtimes(text: str, flag: str = "--runtimes") -> tuple[str, ...]:
    """``pytorch,onnxruntime,openvino`` → a tuple in the order given; BadInputError for unknown names."""
    names = tuple(dict.fromkeys(part.strip().lower() for part in str(text).split(",") if part.strip()))
    unknown = [name for name in names if name not in RUNTIMES]
    if unknown or not names:
        raise BadInputError(
            f"{flag} {text!r}: " + (f"unknown runtime {', '.join(unknown)}." if unknown else "no runtime given."),
            f"Runtimes are {', '.join(RUNTIMES)}; e.g. {flag} pytorch,onnxruntime,openvino",
        )
    return names


@dataclass(frozen=True)
class BenchmarkOptions:
    warmup: int = 10
    iterations: int = 100
    duration_s: float = 0.0  # > 0: run for this long instead of a fixed count
    batch_sizes: tuple[int, ...] = (1, 8)
    devices: tuple[str, ...] = ("cpu", "cuda")
    runtimes: tuple[str, ...] = ("pytorch", "onnxruntime")
    threads: int = 0  # 0: the runtime's default
    seed: int = 0
    int_range: tuple[int, int] = (0, 9)  # random integer inputs: LOW..HIGH inclusive
    inputs_npz: str = ""  # measure on these arrays (at their batch size) instead of random ones
    # OpenVINO's inference precision (--openvino-precision): "auto" (OpenVINO's own choice: bf16 on
    # CPUs with AMX or AVX512-BF16, else f32), "f32", "bf16" or "f16". See core.runtimes.
    openvino_precision: str = "auto"
    ray_address: str = ""  # the Ray cluster for the ray:cpu / ray:cuda devices ("" → $RAY_ADDRESS)


@dataclass(frozen=True)
class PerNodeOptions:
    """Per-node parity (``--per-node``): each module's output against its ONNX value."""

    rtol: float = 1e-3  # a value diverges when max|err| / max|ref| exceeds this (--node-rtol)
    chunk_size: int = 32  # most extra outputs one ONNX Runtime session gets: bounds peak memory
    batch_size: int = 1  # one random batch of this size (or parity's .npz)


@dataclass(frozen=True)
class OpProfileOptions:
    """ONNX Runtime op profiling (``--op-profile``), in a pass apart from the timed benchmark."""

    runs: int = 20  # profiled runs after one unprofiled warm-up run
    batch_size: int = 1


def options_to_dict(options: Any) -> dict[str, Any]:
    return dataclasses.asdict(options)


def parity_options_from_dict(data: dict[str, Any]) -> ParityOptions:
    data = dict(data)
    data["default"] = Tolerance(**data.get("default", {}))
    data["per_output"] = {k: Tolerance(**v) for k, v in data.get("per_output", {}).items()}
    if "int_range" in data:
        data["int_range"] = tuple(data["int_range"])
    return ParityOptions(**data)


def benchmark_options_from_dict(data: dict[str, Any]) -> BenchmarkOptions:
    data = dict(data)
    for key in ("batch_sizes", "devices", "runtimes", "int_range"):
        if key in data:
            data[key] = tuple(data[key])
    return BenchmarkOptions(**data)


@dataclass(frozen=True)
class SourceOptions:
    """How to open a source that does not describe itself."""

    model_class: str = ""  # "package.module:Class" for plain state dicts
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    trust: bool = False  # allow full unpickling (runs code from the file)
    inputs: tuple[str, ...] = ()  # "NAME:DIMS:DTYPE" overrides
    output_names: tuple[str, ...] = ()
