"""MLflow runs and registered models as sources for the pipeline."""

from __future__ import annotations

import pytest
import torch

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.specs import SourceOptions
from heimdall_studio.integrations.mlflow_client import ensure_experiment, mlflow_session
from heimdall_studio.integrations.mlflow_sources import (
    is_mlflow_uri,
    list_artifacts,
    list_experiments,
    list_runs,
    load_mlflow_source,
)
from heimdall_studio.integrations.settings import load_settings
from tests.support.tiny_models import TwoHeadNet

TINY = SourceOptions(model_class="tests.support.tiny_models:TwoHeadNet", inputs=("x:batch,3,16,8:float32",))


def test_is_mlflow_uri():
    assert is_mlflow_uri("runs:/abc/model.pt") and is_mlflow_uri("models:/m@staging")
    assert not is_mlflow_uri("/data/runs/model.pt") and not is_mlflow_uri("s3://b/k")


def test_checkpoint_artifact_of_a_run_loads(remote, tmp_path):
    checkpoint = tmp_path / "best.pt"
    torch.save({"epoch": 3, "model_state_dict": TwoHeadNet().state_dict()}, checkpoint)
    settings = load_settings()
    with mlflow_session(settings) as client:
        experiment_id = ensure_experiment(client, settings, f"exp-{remote.names.model}")
        run_id = client.create_run(experiment_id, run_name="training").info.run_id
        client.log_metric(run_id, "val_loss", 0.25)
        client.log_artifact(run_id, str(checkpoint), "checkpoints")
        client.set_terminated(run_id)
    assert f"exp-{remote.names.model}" in {e["name"] for e in list_experiments(settings)}
    [run] = list_runs(settings, f"exp-{remote.names.model}")
    assert run["run_id"] == run_id and run["metrics"] == {"val_loss": 0.25} and run["status"] == "FINISHED"
    assert [a["uri"] for a in list_artifacts(settings, run_id)] == [f"runs:/{run_id}/checkpoints/best.pt"]

    loaded = load_mlflow_source(f"runs:/{run_id}/checkpoints/best.pt", TINY, settings, tmp_path / "work")
    assert loaded.module is not None and loaded.inputs[0].name == "x"
    assert loaded.metadata["mlflow_uri"] == f"runs:/{run_id}/checkpoints/best.pt"


def test_pytorch_flavour_model_needs_trust(remote, tmp_path):
    import mlflow.pytorch

    settings = load_settings()
    with mlflow_session(settings):
        mlflow.set_experiment(f"exp-{remote.names.model}")
        with mlflow.start_run():
            mlflow.pytorch.log_model(
                TwoHeadNet(),
                name="model",
                registered_model_name=remote.names.model,
                pip_requirements=[],
                serialization_format="pickle",
            )
    uri = f"models:/{remote.names.model}/1"
    with pytest.raises(BadInputError, match="--trust"):
        load_mlflow_source(uri, SourceOptions(inputs=TINY.inputs), settings, tmp_path / "a")
    loaded = load_mlflow_source(uri, SourceOptions(trust=True, inputs=TINY.inputs), settings, tmp_path / "b")
    assert loaded.module is not None and loaded.kind == "pickled_module"
    out = loaded.module(torch.zeros(2, 3, 16, 8))
    assert out[0].shape == (2, 2)


def _two_runs_with_checkpoints(remote, tmp_path):
    checkpoint = tmp_path / "best.pt"
    torch.save({"model_state_dict": TwoHeadNet().state_dict()}, checkpoint)
    settings = load_settings()
    with mlflow_session(settings) as client:
        experiment_id = ensure_experiment(client, settings, f"exp-{remote.names.model}")
        runs = []
        for name in ("mine", "someone-elses"):
            run_id = client.create_run(experiment_id, run_name=name).info.run_id
            client.log_artifact(run_id, str(checkpoint), "checkpoints")
            runs.append(run_id)
    return runs


def test_artifact_path_that_leaves_the_run_is_refused_before_any_download(remote, tmp_path, monkeypatch):
    import tempfile

    from heimdall_studio.cli.main import main as cli_main

    mine, other = _two_runs_with_checkpoints(remote, tmp_path)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    escaping = f"runs:/{mine}/../../{other}/artifacts/checkpoints/best.pt"
    with pytest.raises(BadInputError, match="Nothing was downloaded"):
        load_mlflow_source(escaping, TINY, load_settings(), tmp_path / "work")
    assert not (tmp_path / "work").exists()
    out = tmp_path / "out"
    assert (
        cli_main(["run", escaping, "--out", str(out), "--model-class", TINY.model_class, "--input", TINY.inputs[0]])
        == 2
    )
    assert cli_main(["run", f"models:/{remote.names.model}/../x", "--out", str(out)]) == 2, (
        "a models:/ URI with '..' is bad input, not a server failure"
    )
    assert not out.exists() and list(system_tmp.iterdir()) == []


def test_a_run_from_mlflow_leaves_no_download_behind(remote, tmp_path, monkeypatch):
    import tempfile

    from heimdall_studio.core.events import PipelineFinished
    from heimdall_studio.engine.pipeline import run_pipeline
    from heimdall_studio.engine.request import PipelineRequest

    mine, _ = _two_runs_with_checkpoints(remote, tmp_path)
    system_tmp = tmp_path / "system-tmp"
    system_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_tmp))
    out = tmp_path / "out"
    request = PipelineRequest(
        source=f"runs:/{mine}/checkpoints/best.pt", out_dir=str(out), steps=("load",), source_options=TINY
    )
    finished = list(run_pipeline(request))[-1]
    assert isinstance(finished, PipelineFinished) and finished.exit_code == 0, finished.report.get("errors")
    assert list(system_tmp.iterdir()) == [], "the private download folder was removed"
    assert not (out / ".downloads").exists()
