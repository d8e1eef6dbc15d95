"""Dict, list and nested tuple outputs export, validate and pass parity from every source kind,
with both exporters, under names taken from the structure (logits, aux.0, …)."""

from __future__ import annotations

import pytest
import torch

from heimdall_studio.core import events as ev
from heimdall_studio.core.runners import flatten_outputs
from heimdall_studio.core.specs import ExportOptions, ParityOptions, SourceOptions
from heimdall_studio.engine.pipeline import run_pipeline
from heimdall_studio.engine.request import PipelineRequest
from tests.support.tiny_models import NestedOutputNet, ScriptableDictOutputNet, ScriptableNestedOutputNet

INPUT = ("x:batch,4:float32",)


def _checkpoint(folder):
    path = folder / "nested.pt"
    torch.save(NestedOutputNet().state_dict(), path)
    return path, SourceOptions(model_class="tests.support.tiny_models:NestedOutputNet", inputs=INPUT)


def _pt2(folder):
    path = folder / "nested.pt2"
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(NestedOutputNet().eval(), (torch.randn(2, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, path)
    return path, SourceOptions()


def _torchscript_dict(folder):
    path = folder / "dict_ts.pt"
    torch.jit.save(torch.jit.script(ScriptableDictOutputNet()), str(path))
    return path, SourceOptions(inputs=INPUT)


def _torchscript_nested(folder):
    path = folder / "nested_ts.pt"
    torch.jit.save(torch.jit.script(ScriptableNestedOutputNet()), str(path))
    return path, SourceOptions(inputs=INPUT)


SOURCES = {
    "checkpoint": (_checkpoint, ["logits", "aux.0", "aux.1"]),
    "pt2": (_pt2, ["logits", "aux.0", "aux.1"]),
    "torchscript-dict": (_torchscript_dict, ["logits", "aux"]),
    "torchscript-nested": (_torchscript_nested, ["logits.0", "aux.0", "aux.1"]),
}


def _run(source, options, out, exporter):
    request = PipelineRequest(
        source=str(source),
        out_dir=str(out),
        steps=(ev.LOAD, ev.EXPORT, ev.VALIDATE, ev.PARITY),
        source_options=options,
        export=ExportOptions(exporter=exporter),
        parity=ParityOptions(batches=2, batch_size=3),
    )
    events = list(run_pipeline(request))
    return events[-1], [e for e in events if isinstance(e, ev.StepFailed)]


@pytest.mark.parametrize("exporter", ["dynamo", "torchscript"])
@pytest.mark.parametrize("kind", list(SOURCES))
def test_nested_outputs_are_flattened_and_named_after_the_structure(tmp_path, kind, exporter):
    make, expected = SOURCES[kind]
    torch.manual_seed(0)
    source, options = make(tmp_path)
    finished, failures = _run(source, options, tmp_path / "out", exporter)
    assert not failures, [(f.step, f.message) for f in failures]
    assert finished.exit_code == 0, finished.report.get("errors")
    report = finished.report
    assert report["source"]["outputs"] == expected
    assert [o["name"] for o in report["onnx"]["outputs"]] == expected
    assert list(report["parity"]["outputs"]) == expected  # the same flattened names on both sides
    assert report["parity"]["passed"] is True


def test_flatten_outputs_names_keys_paths_and_positions():
    t = torch.zeros(1)
    assert flatten_outputs(t)[1] == ["output0"]
    assert flatten_outputs((t, t))[1] == ["output0", "output1"]
    assert flatten_outputs((t, (t, [t])))[1] == ["output0", "output1.0", "output1.1.0"]
    assert flatten_outputs({"logits": t, "aux": [t, {"scale": t}]})[1] == ["logits", "aux.0", "aux.1.scale"]


def test_output_names_given_for_nested_outputs_must_count_the_leaves(tmp_path):
    source, options = _checkpoint(tmp_path)
    request = PipelineRequest(
        source=str(source),
        out_dir=str(tmp_path / "out"),
        steps=(ev.LOAD,),
        source_options=SourceOptions(model_class=options.model_class, inputs=INPUT, output_names=("logits", "aux")),
    )
    finished = list(run_pipeline(request))[-1]
    assert finished.exit_code == 2
    message = finished.report["errors"][0]["message"]
    assert "returns 3 output(s) (logits, aux.0, aux.1)" in message
