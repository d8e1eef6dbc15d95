"""The standalone bundle (PyInstaller, one folder, CPU builds): built from packaging/heimdall-studio.spec,
then run as a colleague without Python would: the window's smoke test, a headless `run` of the demo
checkpoint, the Graph view drawing Netron's graph, a push to the embedded registry and
install-desktop. `make test-bundle`; about ten minutes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.installed_app import run_demo_headless

pytestmark = [pytest.mark.bundle, pytest.mark.timeout(3600)]  # the build alone takes 10+ minutes on 2 cores
ROOT = Path(__file__).resolve().parents[2]


def _run(argv, *, env=None, cwd=None, timeout=900) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-4000:]}"
    return done


def _folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("bundle")
    t0 = time.monotonic()
    _run(
        [
            Path(sys.executable).parent / "pyinstaller",
            "--noconfirm",
            "--clean",
            "--log-level",
            "WARN",
            "--distpath",
            work / "dist",
            "--workpath",
            work / "build",
            ROOT / "packaging" / "heimdall-studio.spec",
        ],
        cwd=ROOT,
        timeout=2400,
    )
    folder = work / "dist" / "heimdall-studio"
    print(f"\nbundle build: {time.monotonic() - t0:.0f} s; size {_folder_size(folder) / 1e6:.0f} MB")
    return folder / "heimdall-studio"


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "QTWEBENGINE_CHROMIUM_FLAGS")}
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HEIMDALL_DATA_DIR=str(tmp_path / "data"),
        HEIMDALL_CONFIG_DIR=str(tmp_path / "config"),
        QTWEBENGINE_CHROMIUM_FLAGS="--disable-gpu",
    )
    return env


def _first_paint_ms(argv, env, cwd) -> int:
    done = _run([*argv, "gui", "--smoke-test"], env=env, cwd=cwd, timeout=300)
    match = re.search(r"first paint after (\d+) ms", done.stdout)
    assert match, done.stdout + done.stderr[-2000:]
    return int(match.group(1))


def test_the_bundle_opens_runs_the_demo_headless_and_draws_the_graph(bundle, env, tmp_path):
    work = tmp_path / "work"  # away from the source tree
    work.mkdir()
    assert _run([bundle, "--version"], env=env, cwd=work).stdout.startswith("heimdall-studio 0.1.0")

    bundled = [_first_paint_ms([bundle], env, work) for _ in range(3)]
    venv = [_first_paint_ms([Path(sys.executable).parent / "heimdall-studio"], env, work) for _ in range(3)]
    print(
        f"\nfirst paint, median of 3: bundle {sorted(bundled)[1]} ms, venv {sorted(venv)[1]} ms "
        f"(ratio {sorted(bundled)[1] / sorted(venv)[1]:.2f})"
    )

    _run_out, data = run_demo_headless(bundle, tmp_path, env=env, cwd=work)
    assert data["status"] == "passed" and data["export"]["exporter"] == "dynamo" and data["parity"]["passed"]

    # OpenVINO's plugin and ONNX frontend are loaded with dlopen: the spec collects them by hand.
    bench_report = tmp_path / "openvino.json"
    _run(
        [
            bundle,
            "bench",
            data["onnx"]["path"],
            "--devices",
            "cpu",
            "--runtimes",
            "openvino",
            "--report",
            bench_report,
            "--bench-iterations",
            "3",
            "--bench-warmup",
            "1",
            "--bench-batch-sizes",
            "1",
        ],
        env=env,
        cwd=work,
        timeout=300,
    )
    openvino = json.loads(bench_report.read_text())["latency"][0]
    assert openvino["runtime"] == "openvino" and openvino["available"], openvino

    shot = tmp_path / "graph.png"
    graph = _run(
        [bundle, "-m", "heimdall_studio.gui.graph_check", data["onnx"]["path"], "--screenshot", shot],
        env=env,
        cwd=work,
        timeout=300,
    )
    assert "nodes drawn" in graph.stdout and shot.stat().st_size > 10000, graph.stdout + graph.stderr[-2000:]

    pushed = _run([bundle, "push", data["onnx"]["path"], "--promote", "staging"], env=env, cwd=work, timeout=300)
    assert "→ Staging (alias @staging)" in pushed.stdout, pushed.stdout + pushed.stderr[-2000:]

    xdg = dict(env, XDG_DATA_HOME=str(tmp_path / "xdg-data"), XDG_CONFIG_HOME=str(tmp_path / "xdg-config"))
    _run([bundle, "install-desktop"], env=xdg, cwd=work)
    entry = (tmp_path / "xdg-data" / "applications" / "heimdall-studio.desktop").read_text()
    assert f"Exec={bundle} gui %f" in entry
