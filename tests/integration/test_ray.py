"""Remote devices and sweeps against a real Ray head node started here (docs/scale.md).

The cluster is started once for the module (`ray start --head` on 127.0.0.1, a free port, two
CPUs, no dashboard, usage stats off) and stopped at the end with `ray stop`; the last test stops
it in the middle of a run. No Ray process may be left behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.integration.servers import free_port
from tests.support.cli_run import ROOT, assert_bad_input, cli
from tests.support.tiny_models import TwoHeadNet

RAY = Path(sys.executable).with_name("ray")
TINY = ("--model-class", "tests.support.tiny_models:TwoHeadNet", "--input", "x:batch,3,16,8:float32")
QUICK = ("--bench-iterations", "20", "--bench-warmup", "2", "--bench-batch-sizes", "1", "--exporter", "torchscript")


def _ray_env() -> dict[str, str]:
    # Workers import tests.support.tiny_models: they inherit PYTHONPATH from `ray start`.
    return dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONPATH=str(ROOT), COLUMNS="200")


def ray_processes() -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    markers = ("ray::", "raylet", "gcs_server", "site-packages/ray/")
    return [line for line in out.splitlines()[1:] if any(m in line for m in markers) and "ps -eo" not in line]


@pytest.fixture(scope="module")
def ray_cluster():
    port = free_port()
    started = subprocess.run(
        [
            str(RAY),
            "start",
            "--head",
            "--node-ip-address",
            "127.0.0.1",
            "--port",
            str(port),
            "--num-cpus",
            "2",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        env=_ray_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=_ray_env(), capture_output=True, timeout=120)
        deadline = time.monotonic() + 30
        while ray_processes() and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not ray_processes(), ray_processes()


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("ckpts")
    paths = []
    for epoch in range(3):
        torch.manual_seed(epoch)
        path = folder / f"epoch_{epoch}.pt"
        torch.save(TwoHeadNet().state_dict(), path)
        paths.append(path)
    return paths


def _entries(report: Path) -> list[dict]:
    return json.loads(report.read_text())["benchmark"]["entries"]


def test_bench_on_ray_cpu_carries_the_node_identity_beside_local(ray_cluster, checkpoints, tmp_path):
    report = tmp_path / "r.json"
    result = cli(
        "bench", str(checkpoints[0]), *TINY, *QUICK, "--devices", "cpu,ray:cpu",
        "--ray-address", ray_cluster, "--out", str(tmp_path / "out"), "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    entries = _entries(report)
    local = [e for e in entries if e["device"] == "cpu"]
    remote = [e for e in entries if e["device"] == "ray:cpu"]
    assert {e["runtime"] for e in remote} == {"pytorch", "onnxruntime"}
    assert all(e["location"] == "local" for e in local) and len(local) == 2
    for entry in remote:
        assert entry["available"] and entry["location"] == "ray"
        assert entry["host"] and entry["cpu_model"] and entry["iterations"] == 20 and entry["p50_ms"] > 0
        assert entry["dispatch_s"] > 0 and entry["sent_mb"] > 0
    assert "ray:cpu" in result.stdout


def test_ray_cuda_without_a_gpu_node_is_unavailable_with_the_reason(ray_cluster, checkpoints, tmp_path):
    report = tmp_path / "r.json"
    result = cli(
        "bench", str(checkpoints[0]), *TINY, *QUICK, "--devices", "ray:cuda",
        "--ray-address", ray_cluster, "--out", str(tmp_path / "out"), "--report", str(report),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    entries = _entries(report)
    assert entries and all(not e["available"] and e["device"] == "ray:cuda" for e in entries)
    assert all("no GPU" in e["reason"] for e in entries)


def _start_long_remote_run(ray_cluster: str, checkpoint: Path, tmp_path: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [
            sys.executable, "-m", "heimdall_studio", "bench", str(checkpoint), *TINY, "--exporter", "torchscript",
            "--devices", "ray:cpu", "--bench-duration", "60", "--bench-batch-sizes", "1",
            "--ray-address", ray_cluster, "--out", str(tmp_path / "out"),
        ],
        cwd=ROOT, env=_ray_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # the remote task is measuring once its worker shows up in ps
        if any("ray::remote_measure" in line for line in ray_processes()):
            time.sleep(2)
            return process
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.5)
    process.kill()
    raise AssertionError("the remote measurement never started")


def _remote_task_gone(timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any("ray::remote_measure" in line for line in ray_processes()):
            return True
        time.sleep(0.5)
    return False


def test_cancel_reaches_the_remote_task(ray_cluster, checkpoints, tmp_path):
    process = _start_long_remote_run(ray_cluster, checkpoints[0], tmp_path)
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert time.monotonic() - started < 30, output  # long before the 2 × 60 s of measuring
    assert _remote_task_gone(), ray_processes()


def test_sweep_of_three_checkpoints_without_ray(checkpoints, tmp_path):
    _check_sweep(cli("sweep", str(checkpoints[0].parent / "epoch_*.pt"), *TINY, *QUICK, "--devices", "cpu",
                     "--batches", "1", "--report-dir", str(tmp_path / "sweep")), tmp_path / "sweep")  # fmt: skip


def test_sweep_of_three_checkpoints_on_ray(ray_cluster, checkpoints, tmp_path):
    result = cli("sweep", *map(str, checkpoints), *TINY, *QUICK, "--devices", "cpu", "--batches", "1",
                 "--ray-address", ray_cluster, "--report-dir", str(tmp_path / "sweep"))  # fmt: skip
    _check_sweep(result, tmp_path / "sweep")
    assert "on the Ray cluster" in result.stdout


def _check_sweep(result: subprocess.CompletedProcess[str], folder: Path) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(folder.glob("*.report.json"))) == 3
    summary = json.loads((folder / "summary.json").read_text())
    assert [Path(r["source"]).name for r in summary["sources"]] == ["epoch_0.pt", "epoch_1.pt", "epoch_2.pt"]
    for row in summary["sources"]:
        assert row["passed"] and row["parity_max_error"] is not None and row["size_bytes"] > 0
        assert set(row["p50_ms"]) == {"pytorch/cpu/b1", "onnxruntime/cpu/b1"} and row["speedup"]["cpu"]["1"] > 0
    header = (folder / "summary.csv").read_text().splitlines()[0]
    assert "parity_max_error" in header and "p50_ms pytorch/cpu/b1" in header and "speedup cpu/b1" in header
    assert "Sweep" in result.stdout and "epoch_2.pt" in result.stdout


def test_sweep_failure_of_one_source_does_not_stop_the_others(checkpoints, tmp_path):
    broken = tmp_path / "epoch_9.pt"
    broken.write_bytes(b"not a checkpoint")
    result = cli("sweep", str(checkpoints[0]), str(broken), *TINY, *QUICK, "--devices", "cpu", "--batches", "1",
                 "--report-dir", str(tmp_path / "sweep"))  # fmt: skip
    assert result.returncode == 2, result.stdout + result.stderr
    rows = json.loads((tmp_path / "sweep" / "summary.json").read_text())["sources"]
    assert [r["passed"] for r in rows] == [True, False]


def test_without_ray_installed_remote_devices_say_how_to_install_it(checkpoints, tmp_path):
    # The one fault not producible otherwise: Ray hidden from the interpreter (sys.modules["ray"] = None).
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text("import sys\nsys.modules['ray'] = None\n")
    env = dict(os.environ, PYTHONPATH=f"{hide}{os.pathsep}{ROOT}", COLUMNS="200")
    asks = (("--devices", "cpu,ray:cpu", "--ray-address", "127.0.0.1:1"), ("--devices", "cpu", "--ray-address", "x:1"))
    for args in asks:
        result = subprocess.run(
            [sys.executable, "-m", "heimdall_studio", "bench", str(checkpoints[0]), *TINY, *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert_bad_input(result, "Ray is not installed", "pip install 'heimdall-studio[ray]'")


def test_remote_device_without_an_address_is_bad_input(checkpoints, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert_bad_input(cli("bench", str(checkpoints[0]), *TINY, "--devices", "ray:cpu"), "--ray-address")


def test_an_address_where_no_cluster_answers_fails_fast_with_exit_3(checkpoints, tmp_path):
    started = time.monotonic()
    result = cli("bench", str(checkpoints[0]), *TINY, *QUICK, "--devices", "ray:cpu",
                 "--ray-address", f"127.0.0.1:{free_port()}", "--out", str(tmp_path / "out"))  # fmt: skip
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Nothing answers at the Ray address" in result.stdout + result.stderr
    assert time.monotonic() - started < 60
    assert not list((tmp_path / "out").rglob("*.onnx"))  # checked before the export, not after it


def test_cluster_stopped_mid_run_is_a_failed_step_with_exit_3(ray_cluster, checkpoints, tmp_path):
    """Last in the module: it stops the module's cluster."""
    process = _start_long_remote_run(ray_cluster, checkpoints[1], tmp_path)
    stopped = time.monotonic()
    subprocess.run([str(RAY), "stop", "--force"], env=_ray_env(), capture_output=True, timeout=120)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 3, output
    assert "The remote run on ray:cpu failed" in output and "Traceback" not in output
    assert time.monotonic() - stopped < 90, output
    assert _remote_task_gone(), ray_processes()
