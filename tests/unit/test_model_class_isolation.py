"""--model-class imports the user's module without leaving sys.path or sys.modules changed: a
file in the working directory named like a library (onnxruntime.py) is never imported later."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from heimdall_studio.core.sources import load_source
from heimdall_studio.core.specs import ExportOptions, SourceOptions

ROOT = Path(__file__).resolve().parents[2]
USER_MODULE = """
import torch
{extra}

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)
"""
STRAY = """
open({marker!r}, "w").write("the working directory's onnxruntime.py was imported")
raise ImportError("a stray onnxruntime.py")
"""


def _project(folder: Path, module: str, extra: str = "") -> tuple[Path, Path]:
    """A user's folder: their model module, a checkpoint, and a stray onnxruntime.py."""
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "SHADOWED"
    (folder / f"{module}.py").write_text(USER_MODULE.format(extra=extra))
    (folder / "onnxruntime.py").write_text(STRAY.format(marker=str(marker)))
    torch.manual_seed(0)
    checkpoint = folder / "net.pt"
    torch.save({"fc.weight": torch.randn(2, 4), "fc.bias": torch.zeros(2)}, checkpoint)
    return checkpoint, marker


def test_loading_leaves_sys_path_and_modules_as_they_were(tmp_path, monkeypatch):
    import onnxruntime

    monkeypatch.delitem(sys.modules, "onnxruntime")  # as in a fresh process: the user's module imports it first
    checkpoint, marker = _project(
        tmp_path / "proj", "usermodel_a", extra="try:\n    import onnxruntime\nexcept ImportError:\n    pass"
    )
    monkeypatch.chdir(checkpoint.parent)
    path_before = list(sys.path)
    loaded = load_source(checkpoint, SourceOptions(model_class="usermodel_a:Net", inputs=("x:batch,4:float32",)))
    assert loaded.architecture == "usermodel_a:Net"
    assert sys.path == path_before
    assert not marker.exists(), "the stray onnxruntime.py was imported while the user's module loaded"
    assert "onnxruntime" not in sys.modules or sys.modules["onnxruntime"].__file__ == onnxruntime.__file__
    import onnxruntime as again

    assert again.__file__ == onnxruntime.__file__ and not marker.exists()
    sys.modules.pop("usermodel_a", None)


@pytest.mark.parametrize("how", ["console script", "python -m"])
def test_run_never_imports_a_stray_onnxruntime_from_the_working_directory(tmp_path, how):
    checkpoint, marker = _project(tmp_path / "proj", "usermodel_b")
    command = (
        [str(Path(sys.executable).with_name("heimdall-studio"))]
        if how == "console script"
        else [sys.executable, "-m", "heimdall_studio"]
    )
    result = subprocess.run(
        [
            *command,
            "run",
            "net.pt",
            "--model-class",
            "usermodel_b:Net",
            "--input",
            "x:batch,4:float32",
            "--skip-bench",
            "--exporter",
            "torchscript",
            "--out",
            "out",
        ],
        cwd=checkpoint.parent,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert not marker.exists(), "validate imported the working directory's onnxruntime.py"
    assert result.returncode == 0, result.stdout + result.stderr


def test_engine_process_never_imports_a_stray_onnxruntime(tmp_path, monkeypatch):
    from heimdall_studio.engine.client import EngineClient
    from heimdall_studio.engine.request import PipelineRequest

    checkpoint, marker = _project(tmp_path / "proj", "usermodel_c")
    monkeypatch.chdir(checkpoint.parent)
    request = PipelineRequest(
        source=str(checkpoint),
        out_dir=str(tmp_path / "out"),
        steps=("load", "export", "validate"),
        export=ExportOptions(exporter="torchscript"),
        source_options=SourceOptions(model_class="usermodel_c:Net", inputs=("x:batch,4:float32",)),
    )
    with EngineClient(request) as client:
        events = list(client.events())
        assert client.wait(30) == 0, events[-1]
    assert not marker.exists()
