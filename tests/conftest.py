"""Suite-wide fixtures: offscreen Qt, tiny models, and a guard against leaked processes."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QTWEBENGINE_CHROMIUM_FLAGS", "--no-sandbox")  # the app adds software WebGL offscreen
# Never let a test talk to a user's real servers or write into a real data dir.
SERVICE_VARIABLES = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "MLFLOW_S3_ACCESS_KEY_ID",
    "MLFLOW_S3_SECRET_ACCESS_KEY",
    "MLFLOW_EXPERIMENT_NAME",
    "MLFLOW_TRACKING_TOKEN",
    "HEIMDALL_PROFILE",
)
for _var in SERVICE_VARIABLES:
    os.environ.pop(_var, None)

import psutil  # noqa: E402
import pytest  # noqa: E402

from tests.support import leaks  # noqa: E402


@pytest.fixture(autouse=True)
def _no_leaked_processes(request):
    """Fail a test that leaves an engine process, a server or any other child running."""
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    yield
    leftover = leaks.leftover_children(before)
    if leftover:
        for proc in leftover:
            proc.kill()
        pytest.fail(f"test left child processes running: {[(p.pid, leaks.describe(p)) for p in leftover]}")


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """No MLflow/S3 variables from the machine or an earlier test; settings, the embedded MLflow store
    and the local model store go to a temp dir."""
    for var in SERVICE_VARIABLES:  # each test starts with none of them, whatever ran before
        monkeypatch.delenv(var, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HEIMDALL_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("HEIMDALL_CONFIG_DIR", str(home / "config"))
    yield home


@pytest.fixture
def file_keyring(tmp_path, monkeypatch):
    """A real keyring backend (tests.support.file_keyring) over a file in tmp, selected the way a
    user would: PYTHON_KEYRING_BACKEND. Yields the file; the previous backend comes back after."""
    import keyring
    import keyring.core

    previous = keyring.get_keyring()
    path = tmp_path / "keyring.json"
    monkeypatch.setenv("HEIMDALL_TEST_KEYRING_FILE", str(path))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "tests.support.file_keyring.FileKeyring")
    keyring.core.init_backend()
    assert type(keyring.get_keyring()).__name__ == "FileKeyring"
    yield path
    keyring.set_keyring(previous)
