"""Step runners: adapt the pipeline's state to each core step's signature.

Each runner is a generator over core events that returns the step's result
object (anything with ``to_dict()``) or raises SkipStep / HeimdallError.
Imports of the step modules happen inside the runners, so a load-only request
never imports onnxruntime and a run without push never imports mlflow.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

from heimdall_studio.core import events as ev
from heimdall_studio.core.model import ONNX, LoadedModel
from heimdall_studio.engine.state import RunState, SkipStep


class _Described:
    """Wrap a LoadedModel so the pipeline records ``describe()`` as the load result."""

    def __init__(self, model: LoadedModel, reference: LoadedModel | None):
        self.model, self.reference = model, reference

    def to_dict(self) -> dict[str, Any]:
        data = self.model.describe()
        if self.reference is not None:
            data["reference"] = self.reference.describe()
        return data


MLFLOW_SCHEMES = ("runs:/", "models:/")


def _open(source: str, state: RunState) -> LoadedModel:
    options = state.request.source_options
    if source.startswith(MLFLOW_SCHEMES):
        from heimdall_studio.integrations.mlflow_sources import load_mlflow_source
        from heimdall_studio.integrations.settings import load_settings

        # Downloads go to a private temp folder that the pipeline removes when the run ends.
        loaded = load_mlflow_source(source, options, load_settings(), state.private_dir())
        if loaded.kind == ONNX:
            _keep_in_out_dir(loaded, state)
        return loaded
    from heimdall_studio.core.sources import load_source

    return load_source(source, options)


def _keep_in_out_dir(loaded: LoadedModel, state: RunState) -> None:
    """An .onnx file from MLflow is what the later steps (and a later push from the app) work on,
    so it is copied out of the download folder into --out, like an exported file."""
    import shutil

    from heimdall_studio.core.errors import BadInputError
    from heimdall_studio.core.onnx_files import onnx_file_parts

    assert loaded.onnx_path is not None
    source = Path(loaded.onnx_path)
    target = state.out_dir / source.name
    if target.exists() and not state.request.export.overwrite:
        raise BadInputError(
            f"{target} already exists; the ONNX file from {state.request.source} was not copied over it.",
            "Pass --overwrite to replace it, or choose another --out folder.",
        )
    for part in onnx_file_parts(source):
        copied = state.out_dir / part.relative_to(source.parent)
        copied.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(part, copied)
    loaded.onnx_path = target
    state.onnx_written = True


def run_load(state: RunState) -> Generator[ev.Event, None, Any]:
    request = state.request
    if ev.BENCHMARK in request.steps and any(d.startswith("ray:") for d in request.benchmark.devices):
        from heimdall_studio.integrations.ray_devices import preflight

        yield ev.Progress(ev.LOAD, 0, 0, "Checking the Ray cluster")
        preflight(request.benchmark.ray_address)  # fail before the export, not after it
    yield ev.Progress(ev.LOAD, 0, 0, f"Opening {request.source}")
    state.loaded = _open(request.source, state)
    if request.reference:
        yield ev.Progress(ev.LOAD, 0, 0, f"Opening the PyTorch reference {request.reference}")
        state.reference = _open(request.reference, state)
        if state.reference.module is None:
            from heimdall_studio.core.errors import BadInputError

            raise BadInputError(
                f"The reference {request.reference} is not a PyTorch model.",
                "Give a checkpoint, TorchScript or .pt2 file as the reference.",
            )
    if state.loaded.kind == ONNX:
        state.onnx_path = state.loaded.onnx_path
    return _Described(state.loaded, state.reference)


def run_export(state: RunState) -> Generator[ev.Event, None, Any]:
    assert state.loaded is not None
    if state.loaded.kind == ONNX:
        raise SkipStep("the source is already an ONNX file")
    from heimdall_studio.core.export import export_step

    result = yield from export_step(state.loaded, state.out_dir, state.request.export, state.cancel)
    state.export_result = result
    state.onnx_path = Path(result.onnx_path)
    state.onnx_written = True
    return result


def _need_onnx(state: RunState) -> Path:
    if state.onnx_path is None:
        raise SkipStep("there is no ONNX file (export did not run)")
    return state.onnx_path


def run_validate(state: RunState) -> Generator[ev.Event, None, Any]:
    from heimdall_studio.core.errors import BadInputError
    from heimdall_studio.core.validate import validate_step

    result = yield from validate_step(_need_onnx(state), state.cancel)
    runs_it = ev.PARITY in state.request.steps or ev.BENCHMARK in state.request.steps
    if result.runtime_error and runs_it and state.loaded is not None and state.loaded.kind == ONNX:
        # Asked to run the user's own .onnx file, which ONNX Runtime cannot run: bad input, not a
        # failed gate. (An exported file that fails here stays a gate: the export produced it;
        # `inspect` only asks whether the file is valid, and the answer is no.)
        error = BadInputError(result.runtime_error, result.runtime_hint)
        error.result = result  # the pipeline still records the validation section
        raise error
    return result


def _comparison(state: RunState, missing_reference: str) -> tuple[Path, LoadedModel]:
    """The validated ONNX file and the PyTorch model to compare it with, or SkipStep saying why not."""
    onnx_path = _need_onnx(state)
    if ev.VALIDATE in state.gates_failed:
        raise SkipStep("validation failed, so ONNX Runtime cannot be trusted to run the file")
    if state.torch_model is None:
        raise SkipStep(missing_reference)
    return onnx_path, state.torch_model


def run_parity(state: RunState) -> Generator[ev.Event, None, Any]:
    onnx_path, model = _comparison(state, "no PyTorch model to compare against (give a reference checkpoint)")
    from heimdall_studio.core.parity import parity_step
    from heimdall_studio.core.runners import OrtRunner, TorchRunner

    input_names = [spec.name for spec in model.inputs]
    output_names = _output_names(state, model)
    reference = TorchRunner(model.module, input_names, output_names, device="cpu")
    candidate = OrtRunner(onnx_path)
    result = yield from parity_step(reference, candidate, model.inputs, state.request.parity, state.cancel)
    if "openvino" in state.request.benchmark.runtimes:
        result.runtimes["openvino"] = yield from _openvino_parity(state, reference, onnx_path, model)
    return result


def _openvino_parity(
    state: RunState, reference: Any, onnx_path: Path, model: LoadedModel
) -> Generator[ev.Event, None, Any]:
    """OpenVINO against the same PyTorch reference, in the precision it compiles to, with the criteria
    of that precision (core.runtimes.REDUCED_PRECISION_TOLERANCE for bf16/f16, the run's own for f32).
    Only its logs are forwarded: the batches plotted live are the ONNX Runtime comparison's."""
    import dataclasses

    from heimdall_studio.core.errors import BadInputError
    from heimdall_studio.core.parity import parity_step, runtime_parity_summary
    from heimdall_studio.core.runtimes import OpenVinoRunner, parity_tolerance

    options = state.request.parity
    runner = OpenVinoRunner(onnx_path, state.request.benchmark.openvino_precision)
    try:
        runner.activate()
    except BadInputError as exc:
        yield ev.Log("warning", f"Parity: OpenVINO was not compared: {exc.message}", ev.PARITY)
        return {"available": False, "reason": exc.message, "passed": False}
    try:
        tolerance = parity_tolerance(runner.precision, options.default)
        if tolerance != options.default:
            options = dataclasses.replace(options, default=tolerance, per_output={})
        yield ev.Log("info", f"Parity: {runner.describe()}: inference precision {runner.precision}", ev.PARITY)
        steps = parity_step(reference, runner, model.inputs, options, state.cancel)
        while True:
            try:
                event = next(steps)
            except StopIteration as stop:
                result = stop.value
                break
            if isinstance(event, ev.Log):
                yield dataclasses.replace(event, message=event.message.replace("Parity:", "Parity (OpenVINO):", 1))
    finally:
        runner.deactivate()
    verdict = "passed" if result.passed else "FAILED"
    worst = max((o.get("max_abs", 0.0) for o in result.outputs.values()), default=0.0)
    yield ev.Log(
        "info" if result.passed else "warning",
        f"Parity (OpenVINO, {runner.precision}): {verdict}, worst max abs error {worst:.3g} "
        f"(atol {options.default.atol:g}, rtol {options.default.rtol:g}, mean_atol {options.default.mean_atol:g})",
        ev.PARITY,
    )
    return {"available": True, **runtime_parity_summary(result, runner.precision)}


def _output_names(state: RunState, model: LoadedModel) -> list[str]:
    if state.export_result is not None and getattr(state.export_result, "output_names", None):
        return list(state.export_result.output_names)
    if model.output_names:
        return list(model.output_names)
    outputs = (state.report.get("validation") or {}).get("outputs") or []
    return [o["name"] for o in outputs]


def run_benchmark(state: RunState) -> Generator[ev.Event, None, Any]:
    onnx_path = state.onnx_path
    if ev.VALIDATE in state.gates_failed:
        onnx_path = None
    model = state.torch_model or state.loaded
    assert model is not None
    from heimdall_studio.core.benchmark import REMOTE_PREFIX, benchmark_step

    options = state.request.benchmark
    remote = None
    if any(device.startswith(REMOTE_PREFIX) for device in options.devices):
        from heimdall_studio.integrations.ray_devices import make_remote_bench

        remote = make_remote_bench(state.request.source_options)
    return (yield from benchmark_step(model, onnx_path, options, state.cancel, remote))


def run_per_node(state: RunState) -> Generator[ev.Event, None, Any]:
    onnx_path, model = _comparison(state, "no PyTorch model to compare against (give --reference SOURCE)")
    from heimdall_studio.core.per_node import per_node_step

    parity = state.report.get("parity") if ev.PARITY in state.request.steps else None
    outputs_passed = parity.get("passed") if isinstance(parity, dict) else None
    return (
        yield from per_node_step(
            model.module,
            onnx_path,
            model.inputs,
            state.request.per_node,
            state.request.parity,
            state.cancel,
            outputs_passed,
        )
    )


def run_op_profile(state: RunState) -> Generator[ev.Event, None, Any]:
    onnx_path = _need_onnx(state)
    if ev.VALIDATE in state.gates_failed:
        raise SkipStep("validation failed, so ONNX Runtime cannot be trusted to run the file")
    from heimdall_studio.core.op_profile import op_profile_step

    model = state.torch_model or state.loaded
    assert model is not None
    return (
        yield from op_profile_step(
            onnx_path, model.inputs, state.request.op_profile, state.request.benchmark, state.cancel
        )
    )


def run_metadata(state: RunState) -> Generator[ev.Event, None, Any]:
    from heimdall_studio.core.metadata import metadata_step

    assert state.loaded is not None
    return (
        yield from metadata_step(
            _need_onnx(state), state.torch_model or state.loaded, state.export_result, state.cancel
        )
    )


def run_push(state: RunState) -> Generator[ev.Event, None, Any]:
    from heimdall_studio.integrations.push import PushOptions, push_step
    from heimdall_studio.integrations.settings import load_settings

    onnx_path, report = _need_onnx(state), state.report
    push = dict(state.request.push or {})
    variant = str(push.pop("variant", "") or "")
    allow_failed_parity = bool(push.pop("allow_failed_parity", False))
    ignore_gates = bool(push.pop("ignore_gates", False))
    if variant:  # the variant's own parity decides (integrations.push_variant), not the plain export's gates
        from heimdall_studio.integrations.push_variant import variant_push

        onnx_path, report, tags = variant_push(onnx_path, report, variant, allow_failed_parity, state.cancel)
        push["extra_tags"] = {**push.get("extra_tags", {}), **tags}
    elif state.gates_failed and not ignore_gates:
        raise SkipStep(
            f"{' and '.join(state.gates_failed)} did not pass; nothing was pushed "
            "(push anyway from the app, or fix the model)"
        )
    return (yield from push_step(onnx_path, report, PushOptions.from_dict(push), load_settings(), state.cancel))


def run_variants(state: RunState) -> Generator[ev.Event, None, Any]:
    onnx_path, model = _comparison(state, "variants are checked against a PyTorch model (give --reference SOURCE)")
    if not state.request.variants:
        raise SkipStep("no variants were asked for (--variants)")
    import dataclasses

    from heimdall_studio.core.variant_step import variants_step

    request = state.request
    options = dataclasses.replace(
        request.variant_options,
        names=request.variants,
        overwrite=request.variant_options.overwrite or request.export.overwrite,
        benchmark=ev.BENCHMARK in request.steps,  # run --skip-bench: parity only
    )
    plain_latency = list(state.report.get("latency") or []) if ev.BENCHMARK in request.steps else []
    return (
        yield from variants_step(
            model,
            onnx_path,
            options,
            request.parity,
            request.benchmark,
            plain_latency,
            state.cancel,
            _output_names(state, model),
        )
    )


STEP_RUNNERS: dict[str, Callable[[RunState], Generator[ev.Event, None, Any]]] = {
    ev.LOAD: run_load,
    ev.EXPORT: run_export,
    ev.VALIDATE: run_validate,
    ev.PARITY: run_parity,
    ev.BENCHMARK: run_benchmark,
    ev.METADATA: run_metadata,
    ev.PER_NODE: run_per_node,
    ev.OP_PROFILE: run_op_profile,
    ev.VARIANTS: run_variants,
    ev.PUSH: run_push,
}
