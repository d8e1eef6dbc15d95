"""`run`, `inspect`, `bench` and `demo-checkpoint`: the pipeline from the command line."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path

from heimdall_studio.cli.variant_output import add_variant_arguments as _add_variant_arguments
from heimdall_studio.cli.variant_output import variant_request as _variant_request
from heimdall_studio.core import events as ev
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import (
    EXPORTERS,
    OPENVINO_PRECISIONS,
    BenchmarkOptions,
    ExportOptions,
    OpProfileOptions,
    ParityOptions,
    PerNodeOptions,
    SourceOptions,
    Tolerance,
    parse_int_range,
    parse_runtimes,
    parse_tensor_spec,
)
from heimdall_studio.engine.request import PipelineRequest


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser(
        "demo-checkpoint",
        help="write a LocalizationNet checkpoint with random weights",
        description="Write a checkpoint in Heimdall's training-service format "
        "(model_state_dict) with seeded random weights.",
    )
    demo.add_argument("out", type=Path, metavar="OUT.pt")
    demo.add_argument("--backbone", default="tiny", choices=("tiny", "small", "base", "medium", "large"))
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--force", action="store_true", help="overwrite OUT.pt if it exists")
    demo.set_defaults(func=cmd_demo_checkpoint)

    run = sub.add_parser(
        "run",
        help="export, validate, check parity, benchmark (and push)",
        description="The whole pipeline on one source: a checkpoint, TorchScript, "
        ".pt2, .onnx file or an MLflow runs:/ or models:/ URI.",
    )
    _add_source_arguments(run)
    _add_export_arguments(run)
    _add_parity_arguments(run)
    _add_bench_arguments(run)
    _add_inspection_arguments(run)
    _add_variant_arguments(run)
    _add_push_arguments(run)
    run.set_defaults(func=cmd_run)

    inspect = sub.add_parser("inspect", help="validate an .onnx file and describe it")
    inspect.add_argument("source", metavar="FILE.onnx")
    inspect.add_argument("--report", metavar="FILE.json", help="also write the JSON report here")
    inspect.set_defaults(func=cmd_inspect)

    bench = sub.add_parser("bench", help="benchmark latency of PyTorch, ONNX Runtime (and OpenVINO, TensorRT)")
    _add_source_arguments(bench)
    _add_export_arguments(bench)
    _add_bench_arguments(bench)
    _add_variant_arguments(bench)
    bench.add_argument(
        "--inputs-npz",
        default="",
        metavar="FILE.npz",
        help="measure on these arrays (at their batch size) instead of random ones",
    )
    bench.set_defaults(func=cmd_bench)


def _add_source_arguments(p: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        p.add_argument("source", metavar="SOURCE", help="checkpoint, TorchScript, .pt2, .onnx, runs:/… or models:/…")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="DIR",
        help="where the ONNX file and report go (default: ./heimdall-out; for an .onnx SOURCE nothing "
        "is written unless --out or --report is given)",
    )
    p.add_argument("--report", metavar="FILE.json", help="also write the JSON report here")
    p.add_argument(
        "--input",
        action="append",
        default=[],
        metavar="NAME:DIMS:DTYPE",
        help="input spec, repeatable; symbolic dims allowed (mel_spectrogram:batch,3,128,32:float32)",
    )
    p.add_argument("--output-name", action="append", default=[], metavar="NAME", help="output name, repeatable")
    p.add_argument(
        "--model-class", default="", metavar="MOD:CLASS", help="class for a plain state dict, e.g. mypkg.models:Net"
    )
    p.add_argument("--model-kwargs", default="{}", metavar="JSON", help="constructor arguments as JSON")
    p.add_argument(
        "--trust",
        action="store_true",
        help="allow full unpickling of the source (runs code from the file: only for files you trust)",
    )
    p.add_argument(
        "--reference", default="", metavar="SOURCE", help="a PyTorch source to compare an .onnx SOURCE against"
    )


def _add_export_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exporter", choices=EXPORTERS, default="dynamo")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 18 for dynamo, 14 for torchscript)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing ONNX file of the same name")


def _add_parity_arguments(p: argparse.ArgumentParser) -> None:
    default = Tolerance()
    p.add_argument("--atol", type=float, default=default.atol, help=f"absolute tolerance (default {default.atol})")
    p.add_argument("--rtol", type=float, default=default.rtol, help=f"relative tolerance (default {default.rtol})")
    p.add_argument(
        "--mean-atol",
        type=float,
        default=default.mean_atol,
        help=f"largest mean absolute error per output (default {default.mean_atol})",
    )
    p.add_argument("--batches", type=int, default=ParityOptions.batches)
    p.add_argument("--batch-size", type=int, default=ParityOptions.batch_size)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--inputs-npz", default="", metavar="FILE.npz", help="parity inputs instead of random ones")


def _add_bench_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bench-iterations", type=int, default=BenchmarkOptions.iterations)
    p.add_argument("--bench-warmup", type=int, default=BenchmarkOptions.warmup)
    p.add_argument(
        "--bench-duration",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="run each measurement for this long instead of a fixed count",
    )
    p.add_argument("--bench-batch-sizes", default="1,8", metavar="1,8")
    p.add_argument(
        "--devices",
        default="cpu,cuda",
        metavar="cpu,cuda",
        help="where to measure: cpu, cuda, and on a Ray cluster ray:cpu, ray:cuda (needs --ray-address)",
    )
    p.add_argument(
        "--ray-address",
        default="",
        metavar="HOST:PORT",
        help="the Ray cluster for the ray:cpu / ray:cuda devices (default: $RAY_ADDRESS); see docs/scale.md",
    )
    p.add_argument(
        "--runtimes",
        default=",".join(BenchmarkOptions.runtimes),
        metavar="pytorch,onnxruntime,openvino",
        help="runtimes to measure: pytorch, onnxruntime, openvino (CPU), tensorrt (ONNX Runtime's "
        f"TensorRT provider, CUDA) (default {','.join(BenchmarkOptions.runtimes)}); with openvino, `run` "
        "also checks OpenVINO's parity",
    )
    p.add_argument(
        "--openvino-precision",
        default=BenchmarkOptions.openvino_precision,
        choices=OPENVINO_PRECISIONS,
        help="OpenVINO's inference precision; auto (default) lets OpenVINO choose (bf16 on CPUs with AMX or "
        "AVX512-BF16) and the report says which it used",
    )
    p.add_argument("--threads", type=int, default=0, help="intra-op threads (default: the runtime's)")
    p.add_argument("--skip-bench", action="store_true", help="skip the benchmark step")
    p.add_argument(
        "--int-range",
        default="0,9",
        metavar="LOW,HIGH",
        help="range of random values for integer inputs, both ends included (default 0,9)",
    )


def _add_inspection_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--per-node",
        action="store_true",
        help="compare each nn.Module's output with the ONNX value it produced and report the first "
        "divergence (needs a PyTorch model: the SOURCE or --reference)",
    )
    p.add_argument(
        "--node-rtol",
        type=float,
        default=PerNodeOptions.rtol,
        metavar="X",
        help=f"a node diverges when max|err| / max|ref| exceeds X (default {PerNodeOptions.rtol:g})",
    )
    p.add_argument(
        "--node-chunk",
        type=int,
        default=PerNodeOptions.chunk_size,
        metavar="K",
        help="most intermediate values one ONNX Runtime session returns; lower it to bound memory "
        f"(default {PerNodeOptions.chunk_size})",
    )
    p.add_argument(
        "--op-profile",
        action="store_true",
        help="profile ONNX Runtime per node and op type, with execution-provider placement, "
        "in a pass apart from the timed benchmark",
    )
    p.add_argument(
        "--html",
        metavar="FILE.html",
        default="",
        help="write the report as one self-contained HTML page (no external files) here; by default "
        "`run` writes NAME.report.html beside the exported NAME.onnx",
    )
    p.add_argument(
        "--no-html",
        action="store_true",
        help="write no HTML page unless --html names one (the JSON report is still written)",
    )
    p.add_argument(
        "--op-profile-runs",
        type=int,
        default=OpProfileOptions.runs,
        metavar="N",
        help=f"profiled runs after one warm-up (default {OpProfileOptions.runs})",
    )


def _add_push_arguments(p: argparse.ArgumentParser) -> None:
    from heimdall_studio.cli.registry_cmds import add_push_arguments

    add_push_arguments(p)


def _csv_ints(text: str, flag: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise BadInputError(
            f"{flag} {text!r} is not a comma-separated list of integers.", f"Example: {flag} 1,8"
        ) from None
    if not values or min(values) < 1:
        raise BadInputError(f"{flag} {text!r} needs positive integers.", f"Example: {flag} 1,8")
    return values


def _source_options(args: argparse.Namespace) -> SourceOptions:
    try:
        kwargs = json.loads(args.model_kwargs)
    except json.JSONDecodeError as exc:
        raise BadInputError(
            f"--model-kwargs is not valid JSON: {exc.msg} at character {exc.pos}.",
            "Example: --model-kwargs '{\"width\": 16}'",
        ) from None
    if not isinstance(kwargs, dict):
        raise BadInputError("--model-kwargs must be a JSON object.", "Example: --model-kwargs '{\"width\": 16}'")
    for spec in args.input:
        parse_tensor_spec(spec)  # fail here, before a child process or torch import
    return SourceOptions(
        model_class=args.model_class,
        model_kwargs=kwargs,
        trust=args.trust,
        inputs=tuple(args.input),
        output_names=tuple(args.output_name),
    )


def _benchmark_options(args: argparse.Namespace) -> BenchmarkOptions:
    devices = tuple(d.strip() for d in args.devices.split(",") if d.strip())
    unknown = set(devices) - {"cpu", "cuda", "ray:cpu", "ray:cuda"}
    if unknown or not devices:
        raise BadInputError(
            f"--devices {args.devices!r}: unknown device {', '.join(sorted(unknown))}.",
            "Use cpu, cuda, ray:cpu or ray:cuda, e.g. cpu,ray:cpu.",
        )
    remote = [d for d in devices if d.startswith("ray:")]
    if remote or args.ray_address:
        from heimdall_studio.integrations.ray_devices import import_ray, ray_address

        import_ray()  # exit 2 with how to install it, before anything runs
        if remote and not ray_address(args.ray_address):
            raise BadInputError(
                f"--devices {','.join(remote)} needs a Ray cluster and none was given.",
                "Pass --ray-address HOST:PORT (what `ray start --head` printed) or set RAY_ADDRESS.",
            )
    if args.bench_iterations < 1 or args.bench_warmup < 0:
        raise BadInputError("--bench-iterations must be at least 1 and --bench-warmup at least 0.")
    return BenchmarkOptions(
        warmup=args.bench_warmup,
        iterations=args.bench_iterations,
        duration_s=args.bench_duration,
        devices=devices,
        threads=args.threads,
        batch_sizes=_csv_ints(args.bench_batch_sizes, "--bench-batch-sizes"),
        int_range=parse_int_range(args.int_range),
        inputs_npz=args.inputs_npz,
        runtimes=parse_runtimes(args.runtimes),
        openvino_precision=args.openvino_precision,
        ray_address=args.ray_address,
    )


def _out_dir(args: argparse.Namespace) -> str:
    """--out as given, or "" (the pipeline then exports to ./heimdall-out and writes nothing for an .onnx source)."""
    return str(args.out) if args.out is not None else ""


def _export_options(args: argparse.Namespace) -> ExportOptions:
    return ExportOptions(exporter=args.exporter, opset=args.opset, overwrite=args.overwrite)


def cmd_run(args: argparse.Namespace) -> int:
    return run_request(build_run_request(args, args.source), args)


def build_run_request(args: argparse.Namespace, source: str) -> PipelineRequest:
    """The `run` command's request for SOURCE from its flags (also each source of a sweep)."""
    from heimdall_studio.cli.registry_cmds import push_options_from_args

    if args.batches < 1 or args.batch_size < 1:
        raise BadInputError("--batches and --batch-size must be at least 1.")
    parity = ParityOptions(
        batches=args.batches,
        batch_size=args.batch_size,
        seed=args.seed,
        inputs_npz=args.inputs_npz,
        int_range=parse_int_range(args.int_range),
        default=Tolerance(atol=args.atol, rtol=args.rtol, mean_atol=args.mean_atol),
    )
    steps = [ev.LOAD, ev.EXPORT, ev.VALIDATE, ev.PARITY, ev.BENCHMARK, ev.METADATA]
    if args.skip_bench:
        steps.remove(ev.BENCHMARK)
    if not args.node_rtol > 0 or args.node_chunk < 1 or args.op_profile_runs < 1:
        raise BadInputError(
            "--node-rtol must be above 0, --node-chunk and --op-profile-runs at least 1.",
            "Example: --per-node --node-rtol 1e-3 --node-chunk 32 --op-profile --op-profile-runs 20",
        )
    if args.html and not args.html.lower().endswith((".html", ".htm")):
        raise BadInputError(f"--html {args.html!r} does not end in .html.", "Example: --html report.html")
    if args.per_node:
        steps.insert(steps.index(ev.PARITY) + 1, ev.PER_NODE)
    if args.op_profile:
        steps.insert(steps.index(ev.METADATA), ev.OP_PROFILE)
    variants = _variant_request(args)
    if variants:
        steps.insert(steps.index(ev.METADATA), ev.VARIANTS)
    push = push_options_from_args(args)
    if push is not None:
        steps.append(ev.PUSH)
    return PipelineRequest(
        source=source,
        out_dir=_out_dir(args),
        steps=tuple(steps),
        source_options=_source_options(args),
        reference=args.reference,
        export=_export_options(args),
        parity=parity,
        benchmark=_benchmark_options(args),
        push=push.to_dict() if push is not None else None,
        per_node=PerNodeOptions(rtol=args.node_rtol, chunk_size=args.node_chunk),
        op_profile=OpProfileOptions(runs=args.op_profile_runs),
        html_path=args.html,
        html_beside_onnx=not args.no_html,
        report_path=args.report or "",
        **variants,
    )


def cmd_inspect(args: argparse.Namespace) -> int:
    request = PipelineRequest(
        source=args.source, steps=(ev.LOAD, ev.VALIDATE, ev.METADATA), report_path=args.report or ""
    )
    return run_request(request, args, expect_onnx=True)


def cmd_bench(args: argparse.Namespace) -> int:
    variants = _variant_request(args)
    request = PipelineRequest(
        source=args.source,
        out_dir=_out_dir(args),
        steps=(ev.LOAD, ev.EXPORT, ev.BENCHMARK) + ((ev.VARIANTS,) if variants else ()),
        source_options=_source_options(args),
        reference=args.reference,
        export=_export_options(args),
        benchmark=_benchmark_options(args),
        report_path=args.report or "",
        **variants,
    )
    return run_request(request, args)


def cmd_demo_checkpoint(args: argparse.Namespace) -> int:
    from heimdall_studio.models.demo import write_demo_checkpoint

    path = write_demo_checkpoint(args.out, backbone=args.backbone, seed=args.seed, overwrite=args.force)
    print(f"Wrote a LocalizationNet-{args.backbone} checkpoint with random weights (seed {args.seed}): {path}")
    return 0


def run_request(request: PipelineRequest, args: argparse.Namespace, *, expect_onnx: bool = False) -> int:
    """Run the pipeline in this process, print it, and return the exit code.

    The first Ctrl+C asks the pipeline to stop at the next check; a second one
    interrupts at once.
    """
    from heimdall_studio.cli.output import ConsoleRenderer
    from heimdall_studio.engine.pipeline import run_pipeline

    if expect_onnx and not str(request.source).lower().endswith(".onnx"):
        raise BadInputError(
            f"{request.source} is not an .onnx file.", "`inspect` reads ONNX files; use `run` for PyTorch sources."
        )
    cancel = CancelToken()
    renderer = ConsoleRenderer(debug=args.debug, quiet=getattr(args, "quiet", False))

    def on_sigint(signum, frame):  # noqa: ARG001
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        renderer.err.print("[yellow]Cancelling after the current step… (Ctrl+C again to stop now)[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    finished: ev.PipelineFinished | None = None
    try:
        with renderer:
            for event in run_pipeline(request, cancel):
                if isinstance(event, ev.PipelineFinished):
                    finished = event
                else:
                    renderer.handle(event)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert finished is not None
    renderer.summary(finished)
    return finished.exit_code
