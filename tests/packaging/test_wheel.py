"""The wheel as a user gets it: built, checked by twine, installed into a fresh venv with the pinned
constraints, and run from there (not from this source tree). `make test-wheel`; minutes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest

from tests.support.installed_app import run_demo_headless

pytestmark = [pytest.mark.wheel, pytest.mark.timeout(1800)]
ROOT = Path(__file__).resolve().parents[2]


def _run(argv, *, cwd=None, env=None, timeout=1200) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{argv}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    t0 = time.monotonic()
    done = _run([sys.executable, "-m", "build", "--outdir", dist, ROOT])
    assert "BuildBackendWarning" not in done.stdout + done.stderr  # e.g. the deprecated license table
    print(f"\nbuild: {time.monotonic() - t0:.0f} s")
    wheel, sdist = next(dist.glob("*.whl")), next(dist.glob("*.tar.gz"))
    _run([Path(sys.executable).parent / "twine", "check", "--strict", wheel, sdist])
    print(f"wheel: {wheel.name} {wheel.stat().st_size / 1e6:.2f} MB; sdist {sdist.stat().st_size / 1e6:.2f} MB")
    return {"wheel": wheel, "sdist": sdist}


def test_the_wheel_and_sdist_carry_what_the_app_needs(built):
    names = set(zipfile.ZipFile(built["wheel"]).namelist())
    for needed in (
        "heimdall_studio/py.typed",
        "heimdall_studio/resources/icons/heimdall-studio.svg",
        "heimdall_studio/resources/icons/hicolor/512x512/apps/heimdall-studio.png",
        "heimdall_studio/resources/icons/actions/promote.svg",
        "heimdall_studio/resources/desktop/heimdall-studio.desktop",
        "heimdall_studio/resources/desktop/heimdall-studio-mime.xml",
        "heimdall_studio/engine/__main__.py",
        "heimdall_studio/gui/dialogs/about_dialog.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.startswith("tests/")]
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    text = zipfile.ZipFile(built["wheel"]).read(metadata).decode()
    assert "License-Expression: Apache-2.0" in text and "License-File: LICENSE" in text
    with tarfile.open(built["sdist"]) as sdist:
        members = {m.name.split("/", 1)[1] for m in sdist.getmembers() if "/" in m.name}
    for needed in (
        "LICENSE",
        "resources/heimdall-studio.qrc",
        "resources/icons/heimdall-studio.svg",
        "packaging/heimdall-studio.desktop",
        "requirements/constraints.txt",
    ):
        assert needed in members, needed


def test_the_installed_wheel_opens_the_window_and_runs_the_demo_headless(built, tmp_path):
    venv = tmp_path / "venv"
    t0 = time.monotonic()
    _run([sys.executable, "-m", "venv", venv])
    py, app = venv / "bin" / "python", venv / "bin" / "heimdall-studio"
    _run([py, "-m", "pip", "install", "--quiet", "-c", ROOT / "requirements" / "constraints.txt", built["wheel"]])
    print(f"\nfresh venv + install: {time.monotonic() - t0:.0f} s")
    work = tmp_path / "work"  # not the source tree: nothing can be imported from it
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        QT_QPA_PLATFORM="offscreen",
        HEIMDALL_DATA_DIR=str(tmp_path / "data"),
        HEIMDALL_CONFIG_DIR=str(tmp_path / "config"),
    )
    where = _run([py, "-c", "import heimdall_studio; print(heimdall_studio.__file__)"], cwd=work, env=env)
    assert where.stdout.strip().startswith(str(venv)), where.stdout

    smoke = _run([app, "gui", "--smoke-test"], cwd=work, env=env, timeout=300)
    first_paint = re.search(r"first paint after (\d+) ms", smoke.stdout)
    assert first_paint, smoke.stdout
    print(f"venv install: {first_paint.group(0)}")

    run, data = run_demo_headless(app, tmp_path, env=env, cwd=work)
    assert "opsets ai.onnx 18" in run.stdout
    assert data["status"] == "passed"
