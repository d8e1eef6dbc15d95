"""Remote devices on a Ray cluster: ``ray:cpu`` and ``ray:cuda`` (docs/scale.md).

A remote device runs the same runners and the same measurement loop as a local one
(core.benchmark's ``_runner`` and ``_measure``) inside one Ray streaming-generator task per
device, which asks for ``num_gpus=1`` on ``ray:cuda``. The model travels through the object
store as bytes: the ONNX file with its external data, and the PyTorch source file. The task
yields its samples as it goes; the driver turns them into the same LatencySamples events, so
the live plots fill. Every wait has a timeout: a lost node or a cluster that goes away is a
ServiceError (exit 3), never a hang. Cancel reaches the task (``ray.cancel(force=True)``).

Ray is imported only inside these functions: importing the app, the CLI or core never imports it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from heimdall_studio.core.benchmark import REMOTE_PREFIX, RUNTIME_NAMES, _feeds, _measure, _runner
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError, ServiceError
from heimdall_studio.core.events import BENCHMARK, Event, LatencySamples, Log
from heimdall_studio.core.model import ONNX, LoadedModel
from heimdall_studio.core.onnx_files import onnx_file_parts
from heimdall_studio.core.specs import BenchmarkOptions, SourceOptions

INSTALL_HINT = "Install the Ray extra: pip install 'heimdall-studio[ray]' (or pip install 'ray>=2.40')."
# No word from a remote run for this long (seconds) → the node is taken as lost.
SILENCE_TIMEOUT_S = float(os.environ.get("HEIMDALL_RAY_TIMEOUT_S", "120"))
POLL_S = 0.1


def import_ray() -> Any:
    """The ray module, or BadInputError (exit 2) saying how to install it."""
    try:
        import ray
    except ImportError:
        raise BadInputError(
            "Ray is not installed: the devices ray:cpu and ray:cuda, --ray-address and a sweep on a cluster need it.",
            INSTALL_HINT,
        ) from None
    return ray


def ray_address(given: str) -> str:
    """--ray-address, else RAY_ADDRESS, else the active profile's Ray address (the app's setting)."""
    if given or os.environ.get("RAY_ADDRESS"):
        return given or os.environ["RAY_ADDRESS"]
    from heimdall_studio.integrations.settings import load_settings

    try:
        return load_settings(with_secrets=False).profile.ray_address
    except BadInputError:
        return ""


def preflight(address: str) -> None:
    """Before anything runs: Ray installed, an address given, something answering there (no ray.init).
    BadInputError or ServiceError, so a run with ray: devices fails before its export, not after."""
    import_ray()
    address = ray_address(address)
    if not address:
        connect(address)  # raises the "none was given" error
    _check_reachable(address)


def connect(address: str) -> Any:
    """ray, connected to the cluster at ``address`` (or $RAY_ADDRESS). ServiceError when unreachable."""
    ray = import_ray()
    address = ray_address(address)
    if not address:
        raise BadInputError(
            "The devices ray:cpu and ray:cuda need a Ray cluster, and none was given.",
            "Pass --ray-address HOST:PORT (the address `ray start --head` printed), set RAY_ADDRESS, "
            "or set the Ray address of the profile in the app's settings.",
        )
    if ray.is_initialized():
        return ray
    _check_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError: no cluster there
        raise ServiceError(
            f"Could not connect to the Ray cluster at {address}: {str(exc).splitlines()[0] if str(exc) else exc}",
            "Check that `ray start --head` runs there and that the address is HOST:PORT of its GCS.",
        ) from None
    return ray


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """ServiceError at once when nothing answers at HOST:PORT: ray.init would wait for minutes."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return  # ray://… (Ray Client) or "auto": Ray's own checks apply
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ServiceError(
            f"Nothing answers at the Ray address {address} ({exc.strerror or exc}).",
            "Start the cluster there (`ray start --head --port PORT`) or correct --ray-address / RAY_ADDRESS.",
        ) from None


def node_identity(device: str) -> dict[str, str]:
    """host, cpu_model and (for cuda) gpu_model of the node this runs on."""
    identity = {"host": socket.gethostname(), "cpu_model": _cpu_model()}
    if device == "cuda":
        identity["gpu_model"] = _gpu_model()
    return identity


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _gpu_model() -> str:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().splitlines()[0]
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            return str(torch.cuda.get_device_name(0))
    except Exception:  # noqa: BLE001 - a broken torch CUDA build says nothing useful here
        pass
    return ""


def _model_files(model: LoadedModel, onnx_path: Path | None, options: BenchmarkOptions) -> dict[str, bytes]:
    """The bytes the remote run needs, by name: the ONNX file and its external data, the
    PyTorch source and the user's .npz."""
    files: dict[str, bytes] = {}
    if onnx_path is not None:
        for part in onnx_file_parts(Path(onnx_path)):
            files["onnx/" + str(part.relative_to(Path(onnx_path).parent))] = part.read_bytes()
    if model.module is not None and Path(model.source).is_file():
        files["torch/" + Path(model.source).name] = Path(model.source).read_bytes()
    if options.inputs_npz:
        files["inputs.npz"] = Path(options.inputs_npz).read_bytes()
    return files


def remote_measure(
    files: dict[str, bytes],
    onnx_name: str,
    inputs: list[Any],
    source_options: dict[str, Any],
    options: BenchmarkOptions,
    device: str,
) -> Iterator[dict[str, Any]]:
    """Runs on a Ray worker: every runtime × batch size of one device, yielding messages."""
    kind = device.removeprefix(REMOTE_PREFIX)
    identity = node_identity(kind)
    yield {"kind": "node", **identity}
    from heimdall_studio.core.runners import cuda_availability
    from heimdall_studio.core.sources import load_source

    with tempfile.TemporaryDirectory(prefix="heimdall-ray-") as tmp:
        for name, data in files.items():
            target = Path(tmp) / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if "inputs.npz" in files:
            options = replace(options, inputs_npz=str(Path(tmp) / "inputs.npz"))
        onnx_path = Path(tmp) / "onnx" / onnx_name if onnx_name else None
        torch_files = [n for n in files if n.startswith("torch/")]
        model = LoadedModel(kind=ONNX, source=onnx_name, inputs=list(inputs), onnx_path=onnx_path)
        if torch_files:
            model = load_source(str(Path(tmp) / torch_files[0]), SourceOptions(**source_options))
            model.inputs = list(inputs)
        feeds = _feeds(model, options)
        cuda = cuda_availability() if kind == "cuda" else {}
        extra = {"location": "ray", **identity}
        for runtime in options.runtimes:
            runner, reason = _runner(
                model, onnx_path, runtime, kind, options.threads, cuda, options=options, batch_sizes=tuple(feeds)
            )
            if runner is not None:
                try:
                    runner.activate()
                except BadInputError as exc:
                    runner, reason = None, exc.message
            if runner is None:
                for size in feeds:
                    entry = {"runtime": runtime, "batch_size": size, "available": False, "reason": reason}
                    yield {"kind": "entry", "entry": {**entry, **extra}}
                continue
            try:
                for size, feed in feeds.items():
                    measuring = _measure(runner, feed, size, options, CancelToken())
                    while True:
                        try:
                            event = next(measuring)
                        except StopIteration as stop:
                            yield {"kind": "entry", "entry": {**stop.value, **extra}}
                            break
                        if isinstance(event, LatencySamples):
                            yield {"kind": "samples", **asdict(event)}
                        elif isinstance(event, Log):
                            yield {"kind": "log", "level": event.level, "message": event.message}
            finally:
                runner.deactivate()


def _unavailable(options: BenchmarkOptions, device: str, sizes: tuple[int, ...], reason: str) -> list[dict[str, Any]]:
    return [
        {
            "runtime": runtime,
            "device": device,
            "provider": "torch" if runtime == "pytorch" else "",
            "batch_size": size,
            "available": False,
            "reason": reason,
            "location": "ray",
        }
        for runtime in options.runtimes
        for size in sizes
    ]


def make_remote_bench(source_options: SourceOptions) -> Any:
    """core.benchmark's RemoteBench hook, with the source options a PyTorch file needs remotely."""

    def remote_bench(
        model: LoadedModel,
        onnx_path: Path | None,
        options: BenchmarkOptions,
        devices: tuple[str, ...],
        cancel: CancelToken,
    ) -> Generator[Event, None, list[dict[str, Any]]]:
        ray = connect(options.ray_address)
        sizes = tuple(options.batch_sizes) if not options.inputs_npz else tuple(_feeds(model, options))
        started = time.perf_counter()
        files = _model_files(model, onnx_path, options)
        files_ref = ray.put(files)
        size_mb = sum(len(b) for b in files.values()) / 1e6
        put_s = time.perf_counter() - started
        yield Log("info", f"Sent {size_mb:.1f} MB to the Ray object store in {put_s:.2f} s.", BENCHMARK)
        entries: list[dict[str, Any]] = []
        for device in devices:
            cancel.raise_if_cancelled()
            if device not in (REMOTE_PREFIX + "cpu", REMOTE_PREFIX + "cuda"):
                raise BadInputError(f"Unknown remote device {device!r}.", "Use ray:cpu or ray:cuda.")
            gpus = 1 if device.endswith("cuda") else 0
            if gpus and not ray.cluster_resources().get("GPU", 0):
                reason = "the Ray cluster has no GPU node (cluster_resources() lists no GPU)"
                yield Log("info", f"{device} is not measured: {reason}", BENCHMARK)
                entries += _unavailable(options, device, sizes, reason)
                continue
            task = ray.remote(remote_measure).options(
                num_returns="streaming", num_cpus=max(1, options.threads), num_gpus=gpus, max_retries=0
            )
            onnx_name = Path(onnx_path).name if onnx_path is not None else ""
            dispatched = time.perf_counter()
            stream = task.remote(files_ref, onnx_name, model.inputs, asdict(source_options), options, device)
            measured = yield from _follow(ray, stream, device, dispatched, cancel)
            for entry in measured:
                entry.update(sent_mb=round(size_mb, 3), put_s=round(put_s, 3))
            entries += measured
        return entries

    return remote_bench


def _follow(
    ray: Any, stream: Any, device: str, dispatched: float, cancel: CancelToken
) -> Generator[Event, None, list[dict[str, Any]]]:
    """Turn the remote task's messages into events until it ends; cancel and time out on the way."""
    entries: list[dict[str, Any]] = []
    last_word = time.perf_counter()
    dispatch_s = float("nan")
    try:
        while True:
            if cancel.cancelled:
                ray.cancel(stream, force=True)
                cancel.raise_if_cancelled()
            ready, _ = ray.wait([stream], timeout=POLL_S)
            if not ready:
                if time.perf_counter() - last_word > SILENCE_TIMEOUT_S:
                    ray.cancel(stream, force=True)
                    raise ServiceError(
                        f"The Ray node measuring {device} said nothing for {SILENCE_TIMEOUT_S:.0f} s.",
                        "The node may be lost or overloaded; check `ray status` and rerun.",
                    )
                continue
            try:
                ref = next(stream)
            except StopIteration:
                return entries
            message = ray.get(ref, timeout=SILENCE_TIMEOUT_S)
            last_word = time.perf_counter()
            kind = message.pop("kind")
            if kind == "node":
                dispatch_s = last_word - dispatched
                yield Log(
                    "info",
                    f"{device} runs on {message['host']} ({message.get('gpu_model') or message['cpu_model']}); "
                    f"dispatch took {last_word - dispatched:.2f} s.",
                    BENCHMARK,
                )
            elif kind == "samples":
                message["device"] = device
                message["ms"] = tuple(message["ms"])
                yield LatencySamples(**message)
            elif kind == "log":
                yield Log(message["level"], f"{device}: {message['message']}", BENCHMARK)
            elif kind == "entry":
                entry = message["entry"]
                entry.update(device=device, dispatch_s=round(dispatch_s, 3))
                entries.append(entry)
                name = RUNTIME_NAMES.get(entry["runtime"], entry["runtime"])
                if not entry["available"]:
                    yield Log("info", f"{name} on {device} is not measured: {entry['reason']}", BENCHMARK)
    except ray.exceptions.RayError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ServiceError(
            f"The remote run on {device} failed: {type(exc).__name__}: {first}",
            "A Ray node was lost or the cluster went away; check `ray status` and rerun.",
        ) from None


def run_parallel(
    func: Callable[..., Any], jobs: list[tuple[Any, ...]], address: str, cancel: CancelToken
) -> Iterator[tuple[int, Any]]:
    """``func(*job)`` for every job as one Ray task each (one CPU, no retries), yielding
    (index, result) as they finish; a task that failed yields its ServiceError instead."""
    ray = connect(address)
    task = ray.remote(func).options(num_cpus=1, max_retries=0)
    pending = {task.remote(*(ray.put(a) if isinstance(a, bytes) else a for a in job)): i for i, job in enumerate(jobs)}
    try:
        while pending:
            if cancel.cancelled:
                for ref in pending:
                    ray.cancel(ref, force=True)
                cancel.raise_if_cancelled()
            done, _ = ray.wait(list(pending), num_returns=1, timeout=POLL_S)
            for ref in done:
                index = pending.pop(ref)
                try:
                    yield index, ray.get(ref, timeout=SILENCE_TIMEOUT_S)
                except ray.exceptions.RayError as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                    yield index, ServiceError(f"The Ray task failed: {type(exc).__name__}: {first}")
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)
