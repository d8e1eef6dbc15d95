"""`inspect` and `bench` on a user's .onnx file write nothing beside it: a read-only look writes
only where asked (--report, --out)."""

from __future__ import annotations

import json

import pytest

from heimdall_studio.cli.main import main as cli_main
from tests.integration.servers import tiny_onnx

QUICK = ["--bench-iterations", "3", "--bench-warmup", "1", "--bench-batch-sizes", "1", "--devices", "cpu"]


@pytest.fixture
def users_model(tmp_path, monkeypatch):
    """A model in a folder of the user's (a library's install dir, say); the command runs elsewhere."""
    model = tiny_onnx(tmp_path / "site-packages" / "somelib" / "model.onnx", 11)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return model


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


@pytest.mark.parametrize("command", [["inspect"], ["bench", *QUICK]])
def test_a_look_at_a_users_onnx_writes_nothing_unasked(users_model, tmp_path, command):
    assert cli_main([command[0], str(users_model), *command[1:]]) == 0
    assert _files(users_model.parent) == ["model.onnx"], "nothing was written beside the user's file"
    assert _files(tmp_path / "work") == [], "nor into the working directory"


@pytest.mark.parametrize("command", [["inspect"], ["bench", *QUICK]])
def test_the_report_goes_where_asked(users_model, tmp_path, command):
    report = tmp_path / "asked" / "look.json"
    assert cli_main([command[0], str(users_model), *command[1:], "--report", str(report)]) == 0
    assert json.loads(report.read_text())["status"] == "passed"
    assert _files(users_model.parent) == ["model.onnx"]


def test_bench_with_out_writes_its_report_there(users_model, tmp_path):
    out = tmp_path / "out"
    assert cli_main(["bench", str(users_model), *QUICK, "--out", str(out)]) == 0
    assert _files(out) == ["model.report.json"]
    assert _files(users_model.parent) == ["model.onnx"]
