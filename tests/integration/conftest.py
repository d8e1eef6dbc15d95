"""Session-wide real services: one moto S3 server and one `mlflow server`
whose artifacts live in that S3. Each test gets its own model name and model type so
tests do not see each other's versions or objects."""

from __future__ import annotations

import argparse
import itertools
import os

import pytest

from tests.integration import servers
from tests.support.leaks import register_service

_counter = itertools.count()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    work = tmp_path_factory.mktemp("moto")
    endpoint = servers.start_moto(work)
    register_service(endpoint.process.pid)
    yield endpoint
    servers.stop(endpoint.process)


@pytest.fixture(scope="session")
def mlflow_server(s3_endpoint, tmp_path_factory):
    work = tmp_path_factory.mktemp("mlflow")
    url, process = servers.start_mlflow(s3_endpoint, work)
    register_service(process.pid)
    yield url
    servers.stop(process)


@pytest.fixture(autouse=True)
def _no_os_keyring(monkeypatch):
    # The tests must not read or write the keyring of the machine they run on.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")


@pytest.fixture
def names(monkeypatch):
    """A fresh registered-model name and model type (→ object prefix) for this test."""
    n = next(_counter)
    model_name = f"it-model-{os.getpid()}-{n}"
    model_type = f"it{os.getpid()}x{n}"
    monkeypatch.setenv("HEIMDALL_MODEL_TYPE", model_type)
    return argparse.Namespace(model=model_name, model_type=model_type, prefix=f"models/{model_type}/", seed=1000 + n)


@pytest.fixture
def remote(monkeypatch, s3_endpoint, mlflow_server, names):
    """The user's situation of the issue: only the MLflow and S3 variables are set."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", s3_endpoint.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_endpoint.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret_key)
    client = servers.s3_client(s3_endpoint)
    try:
        client.create_bucket(Bucket="heimdall-models")
    except client.exceptions.BucketAlreadyOwnedByYou:
        pass
    return argparse.Namespace(s3=s3_endpoint, mlflow=mlflow_server, client=client, names=names)


@pytest.fixture
def cli():
    """Run a registry command in-process: ``cli("push", path, "--force")`` → exit code."""
    from heimdall_studio.cli import registry_cmds

    parser = argparse.ArgumentParser()
    registry_cmds.register(parser.add_subparsers())

    def run(*argv: object) -> int:
        args = parser.parse_args([str(a) for a in argv])
        return args.func(args)

    return run
