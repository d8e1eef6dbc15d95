"""Where models are stored and registered: one settings model with profiles.

The ``embedded`` profile (the default) needs no server: MLflow runs on a SQLite file
and models go to a folder, both under the user's data dir. Remote profiles name an
MLflow tracking server and an S3-compatible endpoint (MinIO, AWS, ...).

Precedence, lowest first: built-in defaults → the settings file (``settings.json`` in
the config dir, never holding secrets) → environment variables. Secrets come from the
environment or the OS keyring only; :class:`Credentials` never prints them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.redact import mask_credentials

SCHEMA_VERSION = 1
EMBEDDED = "embedded"
KEYRING_SERVICE = "heimdall-studio"
APP_NAME = "heimdall-studio"

DEFAULT_BUCKET = "heimdall-models"
DEFAULT_KEY_TEMPLATE = "models/{model_type}/v{YYYYMMDD_HHMMSS}/"  # a folder: the version's source
DEFAULT_MODEL_TYPE = "localization"
DEFAULT_EXPERIMENT = "heimdall-localization"
DEFAULT_MODEL_NAME = "heimdall-localization-onnx"

# Fields a settings file may never hold: secrets live in the environment or keyring.
SECRET_FIELDS = (
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "mlflow_tracking_token",
    "mlflow_tracking_username",
    "mlflow_tracking_password",
)

# Profile field ← environment variables (first one set wins).
_ENV_FIELDS: dict[str, tuple[str, ...]] = {
    "tracking_uri": ("HEIMDALL_TRACKING_URI", "MLFLOW_TRACKING_URI"),
    "s3_endpoint": ("HEIMDALL_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"),
    "region": ("HEIMDALL_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    "bucket": ("HEIMDALL_S3_BUCKET",),
    "key_template": ("HEIMDALL_KEY_TEMPLATE",),
    "model_type": ("HEIMDALL_MODEL_TYPE",),
    "experiment": ("HEIMDALL_EXPERIMENT", "MLFLOW_EXPERIMENT_NAME"),
    "model_name": ("HEIMDALL_MODEL_NAME",),
    "ray_address": ("RAY_ADDRESS",),
}

# Credential field ← environment variables; the seed's MLFLOW_S3_* names are honoured.
_ENV_SECRETS: dict[str, tuple[str, ...]] = {
    "aws_access_key_id": ("AWS_ACCESS_KEY_ID", "MLFLOW_S3_ACCESS_KEY_ID"),
    "aws_secret_access_key": ("AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_SECRET_ACCESS_KEY"),
    "aws_session_token": ("AWS_SESSION_TOKEN",),
    "mlflow_tracking_token": ("MLFLOW_TRACKING_TOKEN",),
    "mlflow_tracking_username": ("MLFLOW_TRACKING_USERNAME",),
    "mlflow_tracking_password": ("MLFLOW_TRACKING_PASSWORD",),
}


@dataclass
class Profile:
    """Where one deployment keeps its models. Empty ``tracking_uri`` means embedded."""

    name: str = EMBEDDED
    tracking_uri: str = ""
    s3_endpoint: str = ""  # "" with a remote tracking URI: AWS's own S3 endpoint
    region: str = "us-east-1"
    bucket: str = DEFAULT_BUCKET
    key_template: str = DEFAULT_KEY_TEMPLATE
    model_type: str = DEFAULT_MODEL_TYPE
    experiment: str = DEFAULT_EXPERIMENT
    model_name: str = DEFAULT_MODEL_NAME
    verify_tls: bool = True
    part_size_mb: int = 8  # multipart part size for S3 uploads (5 MB at least)
    ray_address: str = ""  # HOST:PORT of the Ray cluster for the ray:cpu / ray:cuda devices (docs/scale.md)

    @classmethod
    def from_dict(cls, name: str, data: dict[str, Any]) -> Profile:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - set(SECRET_FIELDS))
        if unknown:
            raise BadInputError(
                f"Profile {name!r} in the settings file has unknown keys: {', '.join(unknown)}.",
                f"Known keys: {', '.join(sorted(known - {'name'}))}.",
            )
        values = {k: v for k, v in data.items() if k in known and k != "name"}
        return cls(name=name, **values)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("name")
        return data


class Credentials:
    """Secrets for S3 and MLflow; ``repr`` and :meth:`masked` never show the values."""

    def __init__(self, values: dict[str, str], origins: dict[str, str]):
        self._values = {k: v for k, v in values.items() if v}
        self.origins = origins  # field → "env:VAR" | "keyring"

    def get(self, name: str) -> str:
        return self._values.get(name, "")

    def secret_values(self) -> list[str]:
        return [v for v in self._values.values() if v]

    def masked(self) -> dict[str, str]:
        return {
            name: f"set ({self.origins.get(name, '?')})" if self._values.get(name) else "not set"
            for name in SECRET_FIELDS
        }

    def __repr__(self) -> str:
        return f"Credentials({', '.join(sorted(self._values))} set)"


@dataclass
class Settings:
    profile: Profile
    credentials: Credentials
    data_dir: Path
    config_dir: Path
    origins: dict[str, str] = field(default_factory=dict)  # profile field → where it came from
    warnings: list[str] = field(default_factory=list)

    @property
    def is_embedded(self) -> bool:
        return not self.profile.tracking_uri

    @property
    def tracking_uri(self) -> str:
        if self.profile.tracking_uri:
            return self.profile.tracking_uri
        return embedded_locations(self.data_dir)["tracking_uri"]

    @property
    def embedded_artifact_root(self) -> Path:
        return self.data_dir / "mlflow" / "artifacts"

    @property
    def local_store_root(self) -> Path:
        """The folder that plays the bucket in the embedded profile.

        Keys are the same as in S3 (the default template starts with ``models/``), so a push lands
        in ``<data dir>/models/localization/v…/``, as ``s3://bucket/models/localization/v…/`` would."""
        return self.data_dir

    @property
    def settings_path(self) -> Path:
        return self.config_dir / "settings.json"

    def store_description(self) -> str:
        if self.is_embedded:
            return f"local folder {self.local_store_root}"
        return f"s3://{self.profile.bucket} at {self.profile.s3_endpoint or 'AWS S3'}"

    def show(self) -> dict[str, Any]:
        """What ``config show`` and the app's status bar print: every field with its origin, secrets
        masked, and so are passwords inside URIs (``core.redact.mask_credentials``)."""
        return {
            "profile": self.profile.name,
            "mode": "embedded" if self.is_embedded else "remote",
            "settings_file": str(self.settings_path),
            "data_dir": str(self.data_dir),
            "tracking_uri": mask_credentials(self.tracking_uri),
            "store": mask_credentials(self.store_description()),
            "fields": {
                k: {"value": mask_credentials(v) if isinstance(v, str) else v, "from": self.origins.get(k, "default")}
                for k, v in self.profile.to_dict().items()
            },
            "secrets": self.credentials.masked(),
            "warnings": list(self.warnings),
        }


def embedded_locations(folder: Path) -> dict[str, str]:
    """Where the embedded profile keeps its MLflow store and its models, under the data folder (the
    data folder plays the bucket, so the default key template puts models in ``models/``)."""
    return {
        "tracking_uri": f"sqlite:///{(folder / 'mlflow' / 'mlflow.db').as_posix()}",
        "store": str(folder / "models"),
    }


def data_dir() -> Path:
    override = os.environ.get("HEIMDALL_DATA_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir() -> Path:
    override = os.environ.get("HEIMDALL_CONFIG_DIR")
    if override:
        return Path(override)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def read_settings_file(path: Path) -> dict[str, Any]:
    """The file's content, migrated to :data:`SCHEMA_VERSION`; ``{}`` when there is none."""
    if not path.exists():
        return {"schema": SCHEMA_VERSION, "active_profile": EMBEDDED, "profiles": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadInputError(
            f"The settings file {path} cannot be read: {exc}.",
            "Fix the JSON or delete the file to start from the defaults.",
        ) from exc
    schema = data.get("schema", 0)
    if schema > SCHEMA_VERSION:
        raise BadInputError(
            f"The settings file {path} is schema {schema}; this version reads up to {SCHEMA_VERSION}.",
            "Update Heimdall Studio or move the file away.",
        )
    data.setdefault("profiles", {})
    data.setdefault("active_profile", EMBEDDED)
    data["schema"] = SCHEMA_VERSION
    migrated: dict[str, Any] = data
    return migrated


def _write_settings_file(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def save_profile(profile: Profile, *, activate: bool = False, path: Path | None = None) -> Path:
    """Add or replace a profile in the settings file (never with secrets)."""
    path = path or config_dir() / "settings.json"
    data = read_settings_file(path)
    data["profiles"][profile.name] = profile.to_dict()
    if activate:
        data["active_profile"] = profile.name
    return _write_settings_file(path, data)


def remove_profiles(names: set[str], *, active: str, path: Path | None = None) -> Path:
    """Drop ``names`` (and their keyring secrets) and make ``active`` the active profile, in one
    atomic write. An ``active`` that no longer exists falls back to the embedded profile."""
    path = path or config_dir() / "settings.json"
    data = read_settings_file(path)
    for name in names:
        data["profiles"].pop(name, None)
        for secret in SECRET_FIELDS:
            keyring_delete(name, secret)
    data["active_profile"] = active if active == EMBEDDED or active in data["profiles"] else EMBEDDED
    return _write_settings_file(path, data)


def load_settings(profile: str | None = None, *, with_secrets: bool = True) -> Settings:
    """The effective settings: defaults, then the file's profile, then the environment.

    ``profile`` (or ``HEIMDALL_PROFILE``, or the file's ``active_profile``) picks the
    profile. ``with_secrets=False`` skips the credentials, and with them the OS keyring,
    which can block (a locked Secret Service asks to be unlocked): for callers that only
    show where things go. Raises BadInputError for an unknown profile or a broken settings file.
    """
    cfg, data = config_dir(), data_dir()
    file_data = read_settings_file(cfg / "settings.json")
    warnings: list[str] = []
    name = profile or user_env("HEIMDALL_PROFILE") or file_data.get("active_profile") or EMBEDDED
    stored = file_data["profiles"].get(name)
    if stored is None and name != EMBEDDED:
        raise BadInputError(
            f"There is no profile {name!r} in {cfg / 'settings.json'}.",
            f"Known profiles: {', '.join([EMBEDDED, *file_data['profiles']])}.",
        )
    stored = dict(stored or {})
    for secret in SECRET_FIELDS:
        if stored.pop(secret, None) is not None:
            warnings.append(
                f"Ignored {secret} in the settings file: secrets come from the environment or the OS keyring only."
            )
    result = Profile.from_dict(name, stored)
    origins = {k: "settings file" for k in stored}
    for attr, variables in _ENV_FIELDS.items():
        for var in variables:
            if user_env(var):
                setattr(result, attr, user_env(var))
                origins[attr] = f"env:{var}"
                break
    part_size = user_env("HEIMDALL_S3_PART_SIZE_MB") or ""
    if part_size.isdigit():
        result.part_size_mb = int(part_size)
        origins["part_size_mb"] = "env:HEIMDALL_S3_PART_SIZE_MB"
    if (user_env("HEIMDALL_VERIFY_TLS") or "").lower() in ("0", "false", "no"):
        result.verify_tls = False
        origins["verify_tls"] = "env:HEIMDALL_VERIFY_TLS"
    credentials = _load_credentials(name, warnings) if with_secrets else Credentials({}, {})
    return Settings(
        profile=result, credentials=credentials, data_dir=data, config_dir=cfg, origins=origins, warnings=warnings
    )


def _load_credentials(profile: str, warnings: list[str]) -> Credentials:
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for attr, variables in _ENV_SECRETS.items():
        for var in variables:
            value = user_env(var)
            if value:
                values[attr], origins[attr] = value, f"env:{var}"
                break
    missing = [a for a in _ENV_SECRETS if a not in values]
    if missing and profile != EMBEDDED:
        for attr in missing:
            value = keyring_get(profile, attr, warnings)
            if value:
                values[attr], origins[attr] = value, "keyring"
    return Credentials(values, origins)


def keyring_get(profile: str, name: str, warnings: list[str] | None = None) -> str:
    """A secret from the OS keyring, or "" when there is none or no keyring backend."""
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(KEYRING_SERVICE, f"{profile}:{name}") or ""
        except KeyringError as exc:
            if warnings is not None and not any("keyring" in w for w in warnings):
                warnings.append(
                    f"OS keyring unavailable ({type(exc).__name__}); secrets come from the environment only."
                )
            return ""
    except Exception as exc:  # a broken backend (D-Bus gone, ...) must not stop a push
        if warnings is not None:
            warnings.append(f"OS keyring unavailable ({type(exc).__name__}).")
        return ""


def keyring_set(profile: str, name: str, value: str) -> None:
    """Store a secret in the OS keyring. Raises BadInputError when there is no backend."""
    if name not in SECRET_FIELDS:
        raise BadInputError(
            f"{name!r} is not a secret Heimdall Studio stores.", f"Secrets: {', '.join(SECRET_FIELDS)}."
        )
    try:
        import keyring

        keyring.set_password(KEYRING_SERVICE, f"{profile}:{name}", value)
    except Exception as exc:
        raise BadInputError(
            f"The OS keyring cannot store secrets here ({type(exc).__name__}).",
            "Set the secret as an environment variable instead (AWS_SECRET_ACCESS_KEY, MLFLOW_TRACKING_PASSWORD, ...).",
        ) from exc


def keyring_delete(profile: str, name: str) -> None:
    """Forget a stored secret; nothing happens when there is none or no keyring backend."""
    try:
        import keyring

        keyring.delete_password(KEYRING_SERVICE, f"{profile}:{name}")
    except Exception:  # PasswordDeleteError (nothing stored) or no backend: nothing to forget
        pass


def keyring_available() -> bool:
    """False when keyring has only its 'fail' or 'null' backend (no Secret Service, no Keychain)."""
    try:
        import keyring
        from keyring.backends import fail, null

        return not isinstance(keyring.get_keyring(), (fail.Keyring, null.Keyring))
    except Exception:  # a backend that breaks while loading is no backend
        return False


# MLflow reads S3 and auth settings from os.environ only, so a call to MLflow sets them for
# its duration (integrations.mlflow_client). Settings must keep reading the user's own
# environment meanwhile, not those temporary values: they are recorded here.
_overlay_lock = threading.Lock()
_overlaid: dict[str, str | None] = {}  # variable → the user's own value while a session overlays it


def user_env(name: str) -> str | None:
    """``os.environ[name]`` as the user set it, ignoring a running MLflow call's temporary values."""
    with _overlay_lock:
        if name in _overlaid:
            return _overlaid[name]
    return os.environ.get(name)


@contextmanager
def environment_overlay(values: dict[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` (an empty value unsets) for the block, then put back what
    was there — except where someone else changed a variable meanwhile: theirs stands."""
    with _overlay_lock:
        mine = {k: os.environ.get(k) for k in values if k not in _overlaid}
        _overlaid.update(mine)
        for k, v in values.items():
            if v:
                os.environ[k] = v
            else:
                os.environ.pop(k, None)
    try:
        yield
    finally:
        with _overlay_lock:
            for k, before in mine.items():
                del _overlaid[k]
                if os.environ.get(k) != (values[k] or None):
                    continue
                if before is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = before
