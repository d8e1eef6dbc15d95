"""MLflow URIs whose path could leave the run or model are refused before any download, and
downloads go to a private temporary folder that is removed whatever happens."""

from __future__ import annotations

import tempfile

import pytest

from heimdall_studio.cli.main import main as cli_main
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.integrations.mlflow_sources import check_mlflow_uri


@pytest.mark.parametrize(
    "uri",
    [
        "runs:/0a1b/../../secret.pt",
        "runs:/0a1b/checkpoints/../../../x.pt",
        "runs://etc/passwd",
        "runs:/0a1b//x.pt",
        "runs:/0a1b/a/%2e%2e/%2E%2E/x.pt",
        "runs:/0a1b/a\\..\\x.pt",
        "runs:/0a1b/./x.pt",
        "runs:/",
        "models:/m/../x",
        "models:/m/1/../../x",
        "models:/../m/1",
        "models:/m",
        "models://m/1",
    ],
)
def test_uri_that_could_leave_the_run_or_model_is_refused(uri):
    with pytest.raises(BadInputError) as info:
        check_mlflow_uri(uri)
    assert info.value.exit_code == 2 and "Nothing was downloaded" in info.value.message
    assert "runs:/RUN_ID" in info.value.hint


@pytest.mark.parametrize(
    "uri",
    [
        "runs:/0a1b/checkpoints/best.pt",
        "runs:/0a1b/model/",
        "models:/m/1",
        "models:/m@staging",
        "models:/heimdall-localization-onnx/12",
    ],
)
def test_ordinary_uris_pass(uri):
    check_mlflow_uri(uri)


@pytest.fixture
def private_tmp(tmp_path, monkeypatch):
    """The process's temp folder, pointed at an empty folder so what is left in it can be seen."""
    folder = tmp_path / "system-tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.mark.parametrize("uri", ["runs:/0a1b2c/../../secret.pt", "models:/m/../x"])
def test_run_on_an_escaping_uri_exits_2_and_downloads_nothing(tmp_path, private_tmp, capsys, uri):
    out = tmp_path / "out"
    assert cli_main(["run", uri, "--out", str(out)]) == 2
    assert "'..'" in capsys.readouterr().err
    assert not (out / ".downloads").exists()
    assert list(private_tmp.iterdir()) == []


def test_a_failed_download_leaves_no_folder_behind(tmp_path, private_tmp, capsys):
    out = tmp_path / "out"
    assert cli_main(["run", "runs:/0123456789abcdef/checkpoints/best.pt", "--out", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    assert not (out / ".downloads").exists(), "no empty .downloads folder in --out"
    assert list(private_tmp.iterdir()) == [], "the private download folder was removed"
