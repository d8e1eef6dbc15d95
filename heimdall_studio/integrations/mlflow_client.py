"""Talking to MLflow with a profile's settings: the client, its environment, its errors.

MLflow's client reads S3 and auth settings from environment variables only, so
:func:`mlflow_session` puts them in ``os.environ`` for the duration of a call and
restores what was there before. Values are never logged.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from heimdall_studio.core.errors import BadInputError, HeimdallError, ServiceError
from heimdall_studio.core.redact import mask_credentials
from heimdall_studio.integrations.settings import Settings, environment_overlay, user_env

_ENV_LOCK = threading.RLock()
# MLflow's defaults (7 retries, backoff factor 2) make a dead server look like a hang of
# several minutes; a user at a desk wants to know within seconds.
_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}


def _session_env(settings: Settings) -> dict[str, str]:
    creds = settings.credentials
    env = {
        "MLFLOW_TRACKING_URI": settings.tracking_uri,
        "MLFLOW_REGISTRY_URI": settings.tracking_uri,
        "MLFLOW_S3_ENDPOINT_URL": settings.profile.s3_endpoint,
        "AWS_ACCESS_KEY_ID": creds.get("aws_access_key_id"),
        "AWS_SECRET_ACCESS_KEY": creds.get("aws_secret_access_key"),
        "AWS_SESSION_TOKEN": creds.get("aws_session_token"),
        "AWS_DEFAULT_REGION": settings.profile.region,
        "MLFLOW_TRACKING_TOKEN": creds.get("mlflow_tracking_token"),
        "MLFLOW_TRACKING_USERNAME": creds.get("mlflow_tracking_username"),
        "MLFLOW_TRACKING_PASSWORD": creds.get("mlflow_tracking_password"),
    }
    if not settings.profile.verify_tls:
        env["MLFLOW_S3_IGNORE_TLS"] = "true"
        env["MLFLOW_TRACKING_INSECURE_TLS"] = "true"
    for name, value in _RETRY_DEFAULTS.items():
        env[name] = user_env(name) or value
    return env


@contextmanager
def mlflow_session(settings: Settings) -> Iterator[Any]:
    """An ``MlflowClient`` for the profile, with MLflow's environment set meanwhile.

    Raises ServiceError/BadInputError (mapped by :func:`mlflow_error`) for failures
    inside the block that come from MLflow.
    """
    import mlflow
    from mlflow import MlflowClient

    if settings.is_embedded:
        (settings.data_dir / "mlflow").mkdir(parents=True, exist_ok=True)
    with _ENV_LOCK, environment_overlay(_session_env(settings)):
        saved_uris = (
            mlflow.tracking._tracking_service.utils._tracking_uri,
            mlflow.tracking._model_registry.utils._registry_uri,
        )
        try:
            mlflow.set_tracking_uri(settings.tracking_uri)
            mlflow.set_registry_uri(settings.tracking_uri)
            with warnings.catch_warnings():
                # Stages are deprecated since MLflow 2.9; we use them on purpose next to aliases.
                warnings.simplefilter("ignore", FutureWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                try:
                    yield MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
                except HeimdallError:
                    raise
                except Exception as exc:
                    if _is_mlflow_failure(exc):
                        raise mlflow_error(exc, settings) from exc
                    raise
        finally:
            mlflow.tracking._tracking_service.utils._tracking_uri = saved_uris[0]
            mlflow.tracking._model_registry.utils._registry_uri = saved_uris[1]


def _is_mlflow_failure(exc: BaseException) -> bool:
    import requests
    from mlflow.exceptions import MlflowException

    return isinstance(exc, (MlflowException, requests.RequestException, ConnectionError, OSError))


def where(settings: Settings) -> str:
    if settings.is_embedded:
        return "the embedded MLflow store"
    return f"MLflow at {mask_credentials(settings.tracking_uri)}"


def mlflow_error(exc: BaseException, settings: Settings, action: str = "") -> HeimdallError:
    """Turn an MLflow/requests failure into a message naming the server; never a secret."""
    from mlflow.exceptions import MlflowException

    text = str(exc)
    code = getattr(exc, "error_code", "") if isinstance(exc, MlflowException) else ""
    what = f" while trying to {action}" if action else ""
    target = where(settings)
    for secret in settings.credentials.secret_values():
        text = text.replace(secret, "***")
    if code == "RESOURCE_DOES_NOT_EXIST":
        return BadInputError(
            f"{text.splitlines()[0][:300]} ({target}).",
            "Check the name, version or run id (heimdall-studio registry list / runs list).",
        )
    if "SSLError" in text or "CERTIFICATE_VERIFY_FAILED" in text:
        return ServiceError(
            f"TLS handshake with {target} failed{what}.",
            "Check the https URL or set REQUESTS_CA_BUNDLE to your CA certificate.",
        )
    if (
        "Connection refused" in text
        or "NewConnectionError" in text
        or "Failed to establish" in text
        or "Name or service not known" in text
        or isinstance(exc, ConnectionError)
    ):
        return ServiceError(
            f"Cannot reach {target}{what}.",
            "Check that the MLflow server is running and MLFLOW_TRACKING_URI (or the profile's "
            "tracking URI) is right, then push again.",
        )
    if re.search(r"error code 5\d\d|too many 5\d\d", text) or code == "TEMPORARILY_UNAVAILABLE":
        return ServiceError(
            f"{target} answered with a server error{what}.",
            "Look at the MLflow server's log; push again once it is healthy.",
        )
    if "401" in text or "403" in text or code in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return ServiceError(
            f"{target} rejected the credentials{what}.",
            "Check MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD.",
        )
    first = text.splitlines()[0][:300] if text else type(exc).__name__
    return ServiceError(f"{target} failed{what}: {first}", "Check the MLflow server and push again.")


def ensure_experiment(client: Any, settings: Settings, name: str) -> str:
    """The experiment's id, created (with an artifact folder under the data dir when embedded)."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    location = settings.embedded_artifact_root.as_uri() if settings.is_embedded else None
    return str(client.create_experiment(name, artifact_location=location))


def quote(value: str) -> str:
    """A value for an MLflow search filter string."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
