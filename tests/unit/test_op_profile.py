"""ONNX Runtime op profiling: per node and per op type, placement, and kept out of the timed loop."""

from __future__ import annotations

import math

from heimdall_studio.core import events as ev
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.op_profile import CPU, op_profile_step
from heimdall_studio.core.specs import BenchmarkOptions, OpProfileOptions
from tests.unit.conftest import run_step


def test_profile_gives_node_and_op_type_shares_and_placement(tiny_export):
    import onnx

    model, export = tiny_export
    _, result = run_step(
        op_profile_step(
            export.onnx_path, model.inputs, OpProfileOptions(runs=5), BenchmarkOptions(devices=("cpu",)), CancelToken()
        )
    )
    data = result.to_dict()
    assert data["device"] == "cpu" and data["runs"] == 5 and data["cpu_fallback"] == []
    assert data["placement"] == {CPU: len(data["nodes"])} and data["nodes"]
    assert len(data["nodes"]) <= len(onnx.load(str(export.onnx_path)).graph.node)
    assert math.isclose(sum(n["share"] for n in data["nodes"]), 1.0, rel_tol=1e-6)
    assert math.isclose(sum(t["share"] for t in data["by_op_type"]), 1.0, rel_tol=1e-6)
    assert {"Conv", "Gemm"} <= {t["op_type"] for t in data["by_op_type"]} | {"FusedGemm"}
    assert all(set(n) == {"onnx_node", "op_type", "provider", "mean_us", "share"} for n in data["nodes"])
    times = [n["mean_us"] for n in data["nodes"]]
    assert times == sorted(times, reverse=True) and times[0] > 0


def test_profiling_runs_after_the_benchmark_not_inside_it(tiny_model, tmp_path):
    import torch

    from heimdall_studio.core.specs import SourceOptions
    from heimdall_studio.engine.pipeline import run_pipeline
    from heimdall_studio.engine.request import PipelineRequest

    source = tmp_path / "two_head.pt"
    torch.save(tiny_model.module.state_dict(), source)
    request = PipelineRequest(
        source=str(source),
        out_dir=str(tmp_path / "out"),
        steps=(ev.LOAD, ev.EXPORT, ev.VALIDATE, ev.BENCHMARK, ev.OP_PROFILE),
        source_options=SourceOptions(
            model_class="tests.support.tiny_models:TwoHeadNet", inputs=("x:batch,3,16,8:float32",)
        ),
        benchmark=BenchmarkOptions(warmup=1, iterations=5, devices=("cpu",), runtimes=("onnxruntime",)),
    )
    events = list(run_pipeline(request))
    order = [(type(e).__name__, getattr(e, "step", "")) for e in events]
    bench_done = order.index(("StepFinished", ev.BENCHMARK))
    assert order.index(("StepStarted", ev.OP_PROFILE)) > bench_done
    report = events[-1].report
    assert report["status"] == "passed" and report["op_profile"]["placement"]
    assert not list(tmp_path.rglob("onnxruntime_profile*")) and not list(tmp_path.rglob("ort_*.json"))


def test_nodes_on_the_cpu_in_a_cuda_session_are_named_loudly(tiny_export):
    """A real (CPU) profile read as if its session had been a CUDA one: every node fell back. The
    CUDA run itself needs a GPU; this checks what the step says about it."""
    from heimdall_studio.core.op_profile import cpu_fallback

    model, export = tiny_export
    _, result = run_step(
        op_profile_step(
            export.onnx_path, model.inputs, OpProfileOptions(runs=1), BenchmarkOptions(devices=("cpu",)), CancelToken()
        )
    )
    assert cpu_fallback(result) is None and result.cpu_fallback == []  # a CPU session has nothing to fall back from
    result.device = "cuda"
    warning = cpu_fallback(result)
    assert warning is not None and warning.level == "warning" and warning.message.startswith("CPU FALLBACK")
    assert result.cpu_fallback == [n["onnx_node"] for n in result.nodes]
    assert result.nodes[0]["onnx_node"] in warning.message
