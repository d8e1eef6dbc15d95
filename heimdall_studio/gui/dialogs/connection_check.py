"""Can this profile reach its MLflow server and its bucket? Plain functions, run on a worker.

Nothing here imports Qt: the Settings dialog runs :func:`check_connection` on a superqt
worker and shows the :class:`CheckResult` lines it returns. Messages never hold a secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from heimdall_studio.core.errors import HeimdallError
from heimdall_studio.integrations.settings import (
    EMBEDDED,
    Credentials,
    Profile,
    Settings,
    config_dir,
    data_dir,
    keyring_get,
    load_settings,
)

SECRETS_SHOWN = ("aws_access_key_id", "aws_secret_access_key", "mlflow_tracking_token")


@dataclass(frozen=True)
class CheckResult:
    service: str  # "MLflow" | "Storage"
    ok: bool
    message: str
    hint: str = ""


def settings_for(profile: Profile, typed: dict[str, str], saved: bool) -> Settings:
    """Settings as a push would see them once the dialog is saved: the environment's secrets
    first, then the keyring's (for a profile already saved), then what was typed now."""
    env = load_settings(EMBEDDED).credentials  # the embedded profile reads secrets from the environment only
    values: dict[str, str] = {}
    origins: dict[str, str] = {}
    for name, origin in env.origins.items():
        values[name], origins[name] = env.get(name), origin
    for name in SECRETS_SHOWN:
        if name in values:
            continue
        if typed.get(name):
            values[name], origins[name] = typed[name], "typed"
        elif saved and profile.name != EMBEDDED:
            value = keyring_get(profile.name, name)
            if value:
                values[name], origins[name] = value, "keyring"
    return Settings(
        profile=profile, credentials=Credentials(values, origins), data_dir=data_dir(), config_dir=config_dir()
    )


def check_connection(profile: Profile, typed: dict[str, str], saved: bool) -> list[CheckResult]:
    """One result for MLflow and one for the object store; never raises."""
    settings = settings_for(profile, typed, saved)
    return [_check_mlflow(settings), _check_store(settings)]


def _check_mlflow(settings: Settings) -> CheckResult:
    from heimdall_studio.integrations.mlflow_client import mlflow_session, where

    try:
        with mlflow_session(settings) as client:
            found = client.search_experiments(max_results=50)
    except HeimdallError as exc:
        return CheckResult("MLflow", False, exc.message, exc.hint)
    except Exception as exc:  # anything else still becomes a line, never a traceback
        return CheckResult(
            "MLflow",
            False,
            f"{where(settings)} failed: {_masked(str(exc), settings)}",
            "Check the tracking URI and the MLflow token.",
        )
    return CheckResult("MLflow", True, f"{where(settings)} answered ({len(found)} experiment(s) visible).")


def _check_store(settings: Settings) -> CheckResult:
    if settings.is_embedded:
        return CheckResult("Storage", True, f"Models go to the local folder {settings.local_store_root}.")
    from heimdall_studio.integrations.s3 import S3Store

    try:
        store = S3Store.from_settings(settings, max_attempts=1, connect_timeout=5.0)
        store.ensure_bucket(create=False)
    except HeimdallError as exc:
        return CheckResult("Storage", False, exc.message, exc.hint)
    except Exception as exc:
        return CheckResult(
            "Storage",
            False,
            f"S3 at {settings.profile.s3_endpoint or 'AWS'} failed: {_masked(str(exc), settings)}",
            "Check the endpoint, region and access keys.",
        )
    return CheckResult("Storage", True, f"Bucket '{settings.profile.bucket}' is reachable at {store.endpoint}.")


def _masked(text: str, settings: Settings) -> str:
    for secret in settings.credentials.secret_values():
        text = text.replace(secret, "***")
    return text[:400]
