"""Export and benchmark defaults that pre-fill the Options form, kept in the GUI's QSettings.

They are not secrets and not part of a deployment profile: each user keeps their own.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from PySide6.QtCore import QSettings

from heimdall_studio.core.specs import EXPORTERS, BenchmarkOptions, ExportOptions, ParityOptions
from heimdall_studio.gui.dataclass_form import FieldSpec

_EX, _PAR, _BENCH = ExportOptions(), ParityOptions(), BenchmarkOptions()
GROUP = "run_defaults"


@dataclass
class RunDefaults:
    exporter: str = _EX.exporter
    opset: int = 0  # 0: the exporter's own default
    parity_batches: int = _PAR.batches
    parity_batch_size: int = _PAR.batch_size
    atol: float = _PAR.default.atol
    rtol: float = _PAR.default.rtol
    mean_atol: float = _PAR.default.mean_atol
    iterations: int = _BENCH.iterations
    warmup: int = _BENCH.warmup
    batch_sizes: str = ", ".join(str(b) for b in _BENCH.batch_sizes)

    @classmethod
    def load(cls, settings: QSettings) -> RunDefaults:
        """The saved defaults; a missing or unreadable value falls back to the built-in one."""
        result = cls()
        for f in dataclasses.fields(cls):
            raw = settings.value(f"{GROUP}/{f.name}")
            if raw is None:
                continue
            try:
                value = {"int": int, "float": float}.get(str(f.type), str)(raw)
            except (TypeError, ValueError):
                continue
            if f.name == "exporter" and value not in EXPORTERS:
                continue
            setattr(result, f.name, value)
        return result

    def save(self, settings: QSettings) -> None:
        for name, value in dataclasses.asdict(self).items():
            settings.setValue(f"{GROUP}/{name}", value)
        settings.sync()


RUN_DEFAULT_FIELDS: dict[str, FieldSpec] = {
    "exporter": FieldSpec(
        "Exporter",
        "Exporter the Options form starts with.\ndynamo: torch.export based "
        "(recommended, opset ≥ 18); torchscript: the legacy tracer.",
        choices=EXPORTERS,
    ),
    "opset": FieldSpec(
        "ONNX opset",
        "Opset the Options form starts with; 'exporter's default' lets the exporter pick (dynamo 18, torchscript 14).",
        maximum=23,
        special_zero="exporter's default",
    ),
    "parity_batches": FieldSpec(
        "Parity batches", "Random batches PyTorch and ONNX Runtime are compared on.", minimum=1, maximum=1000
    ),
    "parity_batch_size": FieldSpec("Parity batch size", "Samples per compared batch.", minimum=1, maximum=4096),
    "atol": FieldSpec("atol", "Absolute tolerance: every element within atol + rtol·|reference|."),
    "rtol": FieldSpec("rtol", "Relative tolerance (see atol)."),
    "mean_atol": FieldSpec("Mean abs. error ≤", "The mean absolute error of each output must not exceed this."),
    "iterations": FieldSpec(
        "Benchmark iterations", "Timed inferences per runtime, device and batch size.", minimum=1, maximum=100000
    ),
    "warmup": FieldSpec("Warm-up", "Untimed inferences before the timed ones.", maximum=10000),
    "batch_sizes": FieldSpec(
        "Batch sizes", "Comma-separated batch sizes to measure, e.g. 1, 8, 32.", placeholder="1, 8, 32"
    ),
}
