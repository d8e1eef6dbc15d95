"""What a pipeline run is asked to do: one JSON-serialisable request.

The CLI builds it from flags, the GUI from its forms; the engine child process
receives it as JSON on stdin.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from heimdall_studio.core.events import BENCHMARK, EXPORT, LOAD, METADATA, PARITY, PUSH, VALIDATE
from heimdall_studio.core.specs import (
    BenchmarkOptions,
    ExportOptions,
    OpProfileOptions,
    ParityOptions,
    PerNodeOptions,
    SourceOptions,
    benchmark_options_from_dict,
    parity_options_from_dict,
)
from heimdall_studio.core.variants import VariantOptions

DEFAULT_STEPS = (LOAD, EXPORT, VALIDATE, PARITY, BENCHMARK, METADATA)
ALL_STEPS = DEFAULT_STEPS + (PUSH,)


@dataclass(frozen=True)
class PipelineRequest:
    source: str
    out_dir: str = ""  # "" → exports go to ./heimdall-out; an .onnx source's report only to report_path
    steps: tuple[str, ...] = DEFAULT_STEPS
    source_options: SourceOptions = field(default_factory=SourceOptions)
    reference: str = ""  # a PyTorch source for parity when ``source`` is an .onnx file
    export: ExportOptions = field(default_factory=ExportOptions)
    parity: ParityOptions = field(default_factory=ParityOptions)
    benchmark: BenchmarkOptions = field(default_factory=BenchmarkOptions)
    per_node: PerNodeOptions = field(default_factory=PerNodeOptions)
    op_profile: OpProfileOptions = field(default_factory=OpProfileOptions)
    variants: tuple[str, ...] = ()  # optimised variants to make (needs VARIANTS in steps)
    variant_options: VariantOptions = field(default_factory=VariantOptions)  # its names are ``variants``
    push: dict[str, Any] | None = None  # integrations.push options as a dict; needs PUSH in steps
    report_path: str = ""  # also write the JSON report here
    html_path: str = ""  # also write a self-contained HTML page of the report here
    # Without html_path: NAME.report.html beside NAME.report.json (the default of ``run`` and the app).
    html_beside_onnx: bool = False
    # Results of an earlier run of the same model (e.g. parity and latency before a
    # push-only run); steps not run now keep their sections from here.
    prior_report: dict[str, Any] | None = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> PipelineRequest:
        data = json.loads(text)
        src = dict(data.get("source_options", {}))
        for key in ("inputs", "output_names"):
            src[key] = tuple(src.get(key, ()))
        data["source_options"] = SourceOptions(**src)
        data["steps"] = tuple(data.get("steps", DEFAULT_STEPS))
        data["export"] = ExportOptions(**data.get("export", {}))
        data["parity"] = parity_options_from_dict(data.get("parity", {}))
        data["benchmark"] = benchmark_options_from_dict(data.get("benchmark", {}))
        data["per_node"] = PerNodeOptions(**data.get("per_node", {}))
        data["op_profile"] = OpProfileOptions(**data.get("op_profile", {}))
        data["variants"] = tuple(data.get("variants", ()))
        data["variant_options"] = VariantOptions.from_dict(data.get("variant_options", {}))
        return cls(**data)
