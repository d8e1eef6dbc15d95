"""Faults of S3 and MLflow: each gives a clear message and exit code 3, leaves no
registered version pointing at a missing or partial object and no open multipart
upload, and the same push succeeds once the fault is gone."""

from __future__ import annotations

import pytest

from heimdall_studio.integrations.mlflow_client import mlflow_session
from heimdall_studio.integrations.settings import load_settings
from tests.integration.servers import BreakingLink, FailingHttp, free_port, start_moto, stop, tiny_onnx


def assert_nothing_left(remote) -> None:
    with mlflow_session(load_settings()) as client:
        assert not client.search_model_versions(f"name = '{remote.names.model}'")
    listing = remote.client.list_objects_v2(Bucket="heimdall-models", Prefix=remote.names.prefix)
    assert not listing.get("Contents"), [o["Key"] for o in listing.get("Contents", [])]
    assert not remote.client.list_multipart_uploads(Bucket="heimdall-models").get("Uploads")


def assert_pushes(remote, cli, model, *extra) -> None:
    assert cli("push", model, "--model-name", remote.names.model, *extra) == 0
    with mlflow_session(load_settings()) as client:
        [version] = client.search_model_versions(f"name = '{remote.names.model}'")
    assert version.source.startswith(f"s3://heimdall-models/{remote.names.prefix}")


def test_s3_endpoint_down(remote, cli, tmp_path, monkeypatch, capsys):
    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", dead)
    assert cli("push", model, "--model-name", remote.names.model) == 3
    err = capsys.readouterr().err
    assert f"Cannot reach the S3 endpoint {dead}" in err
    assert remote.s3.secret_key not in err
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", remote.s3.url)
    assert_nothing_left(remote)
    assert_pushes(remote, cli, model)


def test_wrong_credentials(remote, cli, tmp_path, monkeypatch, capsys):
    # A second moto with IAM authentication on: an unknown key gets a real 403 InvalidAccessKeyId.
    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    guarded = start_moto(tmp_path, auth=True)
    try:
        monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", guarded.url)
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAWRONGWRONGWRONG0")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value-123")
        assert cli("push", model, "--model-name", remote.names.model) == 3
        err = capsys.readouterr().err
        assert f"The S3 endpoint {guarded.url} rejected the credentials" in err
        assert "wrong-secret-value-123" not in err
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", guarded.access_key)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret-value-123")
        assert cli("push", model, "--model-name", remote.names.model) == 3
        assert f"The S3 endpoint {guarded.url} rejected the credentials" in capsys.readouterr().err
    finally:
        stop(guarded.process)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", remote.s3.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", remote.s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", remote.s3.secret_key)
    assert_nothing_left(remote)
    assert_pushes(remote, cli, model)


def test_missing_bucket_names_bucket_and_endpoint(remote, cli, tmp_path, capsys):
    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    bucket = f"missing-{remote.names.model_type}"
    assert cli("push", model, "--model-name", remote.names.model, "--bucket", bucket) == 3
    err = capsys.readouterr().err
    assert f"Bucket '{bucket}' does not exist at {remote.s3.url}" in err and "--create-bucket" in err
    assert cli("push", model, "--model-name", remote.names.model, "--bucket", bucket, "--create-bucket") == 0
    assert remote.client.list_objects_v2(Bucket=bucket, Prefix=remote.names.prefix)["KeyCount"] == 2


def test_tls_error_has_its_own_message(remote, cli, tmp_path, monkeypatch, capsys):
    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    https = remote.s3.url.replace("http://", "https://")  # moto speaks plain http there
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", https)
    assert cli("push", model, "--model-name", remote.names.model) == 3
    assert f"TLS handshake with the S3 endpoint {https} failed" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", remote.s3.url)
    assert_nothing_left(remote)


def test_connection_cut_during_multipart_upload(remote, cli, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HEIMDALL_S3_PART_SIZE_MB", "5")
    model = tiny_onnx(tmp_path / "big.onnx", remote.names.seed, external_mb=12)
    link = BreakingLink(int(remote.s3.url.rsplit(":", 1)[1]), limit=1024 * 1024)
    try:
        monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", link.url)
        assert cli("push", model, "--model-name", remote.names.model) == 3
        err = capsys.readouterr().err
        assert f"The connection to the S3 endpoint {link.url} broke" in err
        assert link.cuts > 0
        assert_nothing_left(remote)
        link.limit = None  # the network is back
        assert_pushes(remote, cli, model)
    finally:
        link.close()


@pytest.mark.parametrize("fail_paths", [("/model-versions/create",), ("/registered-models/create",)])
def test_mlflow_answering_500_after_the_upload(remote, cli, tmp_path, monkeypatch, capsys, fail_paths):
    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    proxy = FailingHttp(remote.mlflow, fail_paths)
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", proxy.url)
        assert cli("push", model, "--model-name", remote.names.model) == 3
        err = capsys.readouterr().err
        assert f"MLflow at {proxy.url} answered with a server error" in err
        assert "were removed" in err and proxy.failures > 0
        assert_nothing_left(remote)
        proxy.failing = False
        assert_pushes(remote, cli, model)
    finally:
        proxy.close()


def test_mlflow_unreachable_uploads_nothing(remote, cli, tmp_path, monkeypatch, capsys):
    model = tiny_onnx(tmp_path / "m.onnx", remote.names.seed)
    dead = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", dead)
    assert cli("push", model, "--model-name", remote.names.model) == 3
    assert f"Cannot reach MLflow at {dead}" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", remote.mlflow)
    assert_nothing_left(remote)
    assert_pushes(remote, cli, model)
