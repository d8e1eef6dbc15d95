"""A password inside a URI (http://user:pass@host/) never leaves the process: not in error
messages, logs, reports, MLflow tags or what the app's status bar shows."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from heimdall_studio.core import events as ev
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.redact import install_log_masking, mask_credentials
from heimdall_studio.engine.pipeline import run_pipeline
from heimdall_studio.engine.request import PipelineRequest
from tests.integration.servers import free_port, tiny_onnx
from tests.unit.conftest import run_step

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "pw-Qz93-never-print-me"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("http://alice:pw@mlflow:5000/", "http://alice:***@mlflow:5000/"),
        (
            "see postgresql://u:p%40ss@db/x and https://bob:x@y.z/a",
            "see postgresql://u:***@db/x and https://bob:***@y.z/a",
        ),
        ("http://alice:p@ss@host:1/path@x", "http://alice:***@host:1/path@x"),
        ("'http://alice:pw@h'", "'http://alice:***@h'"),
        ("http://host:8080/path and s3://bucket/key", "http://host:8080/path and s3://bucket/key"),
        ("http://token@host/", "http://token@host/"),
    ],
)
def test_mask_credentials(text, expected):
    assert mask_credentials(text) == expected


@pytest.fixture
def dead_server_with_password(monkeypatch) -> str:
    uri = f"http://alice:{PASSWORD}@127.0.0.1:{free_port()}/"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", f"http://minio:{PASSWORD}@127.0.0.1:{free_port()}/")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    return uri


def test_push_error_does_not_show_the_password(tmp_path, dead_server_with_password):
    model = tiny_onnx(tmp_path / "m.onnx", 1)
    result = subprocess.run(
        [sys.executable, "-m", "heimdall_studio", "push", str(model)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200"),
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "alice:***@127.0.0.1" in result.stderr, "the message still names the server"
    assert PASSWORD not in result.stdout + result.stderr


def test_pipeline_events_report_and_logs_do_not_show_the_password(tmp_path, dead_server_with_password, caplog):
    caplog.set_level(logging.DEBUG)
    install_log_masking()
    logging.getLogger("mlflow.test").warning("retrying %s", dead_server_with_password)
    model = tiny_onnx(tmp_path / "m.onnx", 2)
    report_path = tmp_path / "report.json"
    request = PipelineRequest(
        source=str(model),
        out_dir=str(tmp_path / "out"),
        report_path=str(report_path),
        steps=(ev.LOAD, ev.VALIDATE, ev.METADATA, ev.PUSH),
        push={},
    )
    events = list(run_pipeline(request, CancelToken()))
    finished = events[-1]
    assert finished.exit_code == 3
    failed = next(e for e in events if isinstance(e, ev.StepFailed))
    assert "alice:***@" in failed.message
    texts = {
        "events": json.dumps([ev.to_json_dict(e) for e in events]),
        "report": report_path.read_text(),
        "logs": caplog.text,
    }
    for where, text in texts.items():
        assert PASSWORD not in text, f"the password appears in the {where}"
    assert "alice:***@" in caplog.text


def test_settings_shown_in_the_app_mask_uri_passwords(dead_server_with_password):
    from heimdall_studio.integrations.settings import load_settings

    shown = load_settings(with_secrets=False).show()  # what the main window's status bar reads
    assert PASSWORD not in json.dumps(shown)
    assert shown["tracking_uri"].startswith("http://alice:***@") and shown["store"].count("***") == 1


def test_mlflow_tags_params_and_report_artifact_do_not_show_the_password(tmp_path):
    from heimdall_studio.integrations.mlflow_client import mlflow_session
    from heimdall_studio.integrations.push import PushOptions, push_step, validation_report
    from heimdall_studio.integrations.settings import load_settings

    model = tiny_onnx(tmp_path / "m.onnx", 3)
    leaky = f"http://alice:{PASSWORD}@mlflow.internal:5000/"
    report = {
        **validation_report(model),
        "source": {"path": f"{leaky}artifacts/model.pt"},
        "errors": [{"step": "benchmark", "message": f"could not reach {leaky}"}],
    }
    settings = load_settings()  # the embedded profile: no server needed
    _, result = run_step(push_step(model, report, PushOptions(), settings, CancelToken()))
    with mlflow_session(settings) as client:
        version = client.get_model_version(result.model_name, result.version)
        run = client.get_run(result.run_id)
        artifact = Path(client.download_artifacts(result.run_id, "heimdall/heimdall-report.json", str(tmp_path)))
    stored = json.dumps([version.tags, version.description, run.data.params, run.data.tags]) + artifact.read_text()
    assert "alice:***@mlflow.internal" in stored
    assert PASSWORD not in stored


def test_a_crashed_engines_stderr_shown_in_the_app_is_masked(tmp_path, monkeypatch):
    import torch

    from heimdall_studio.core.specs import SourceOptions
    from heimdall_studio.engine.client import EngineClient

    (tmp_path / "leakynet.py").write_text(f"""
import os, signal, sys
import torch
print("connecting to http://alice:{PASSWORD}@mlflow.internal:5000/", file=sys.stderr, flush=True)

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, x):
        os.kill(os.getpid(), signal.SIGSEGV)
""")
    torch.save({"linear.weight": torch.zeros(2, 4), "linear.bias": torch.zeros(2)}, tmp_path / "net.pt")
    monkeypatch.chdir(tmp_path)
    request = PipelineRequest(
        source=str(tmp_path / "net.pt"),
        out_dir=str(tmp_path / "out"),
        steps=(ev.LOAD,),
        source_options=SourceOptions(model_class="leakynet:Net", inputs=("x:batch,4:float32",)),
    )
    with EngineClient(request) as client:
        events = list(client.events())
    crashed = next(e for e in events if isinstance(e, ev.StepFailed))
    assert crashed.error_kind == "engine_crashed" and "alice:***@mlflow.internal" in crashed.details
    assert PASSWORD not in json.dumps([ev.to_json_dict(e) for e in events])


def test_a_broken_library_log_call_prints_no_traceback(capfd):
    logging.raiseExceptions = True  # Python's default: a log call that cannot be formatted prints a traceback
    install_log_masking(debug=False)  # what the CLI and the engine do at start
    logging.getLogger("torch._export.serde.serialize").warning("Loaded object of type %s after failure: %s", tuple)
    assert "Logging error" not in capfd.readouterr().err
