"""A real keyring backend for the tests: a JSON file in a temp dir named by
HEIMDALL_TEST_KEYRING_FILE. Selected with PYTHON_KEYRING_BACKEND=tests.support.file_keyring.FileKeyring,
so the app goes through keyring's own API exactly as with an OS keyring."""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # keyring's classproperty contract: any number > 0 means "usable"

    @staticmethod
    def _path() -> Path:
        return Path(os.environ["HEIMDALL_TEST_KEYRING_FILE"])

    def _read(self) -> dict[str, str]:
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._read().get(f"{service}|{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._read()
        data[f"{service}|{username}"] = password
        self._path().write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._read()
        if data.pop(f"{service}|{username}", None) is None:
            raise PasswordDeleteError(username)
        self._path().write_text(json.dumps(data))
