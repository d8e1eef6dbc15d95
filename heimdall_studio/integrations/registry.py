"""The MLflow Model Registry: versions of pushed ONNX models, their tags and promotion.

Promotion sets an alias (``staging``, ``production``; the modern way) and the legacy
stage (``Staging``, ``Production``, ``Archived``) where the server still has stages, and
records who promoted, when and why as version tags.
"""

from __future__ import annotations

import datetime as _dt
import getpass
import re
from typing import Any

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.redact import mask_credentials
from heimdall_studio.integrations.mlflow_client import mlflow_session, quote
from heimdall_studio.integrations.settings import Settings

PROMOTION_TARGETS = ("staging", "production", "archived")
STAGES = {"staging": "Staging", "production": "Production", "archived": "Archived"}


def find_version_by_sha256(client: Any, name: str, sha256: str) -> Any | None:
    """The oldest version of ``name`` tagged with this sha256, or None."""
    from mlflow.exceptions import MlflowException

    try:
        versions = client.search_model_versions(f"name = {quote(name)}")
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    matches = [v for v in versions if (v.tags or {}).get("sha256") == sha256]
    return min(matches, key=lambda v: int(v.version)) if matches else None


def ensure_registered_model(client: Any, name: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        if getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
            raise
        try:
            client.create_registered_model(
                name,
                tags={"format": "onnx", "created_by": "heimdall-studio"},
                description="ONNX exports registered by Heimdall Studio.",
            )
        except MlflowException as race:
            if getattr(race, "error_code", "") != "RESOURCE_ALREADY_EXISTS":
                raise


def promote_version(client: Any, name: str, version: str, to: str, note: str = "") -> dict[str, Any]:
    """Move ``version`` to ``to`` (alias and legacy stage) and tag who/when/why."""
    to = to.lower()
    if to not in PROMOTION_TARGETS:
        raise BadInputError(f"Cannot promote to {to!r}.", f"Use one of: {', '.join(PROMOTION_TARGETS)}.")
    client.get_model_version(name, version)  # a clear "does not exist" before changing anything
    alias = ""
    if to == "archived":
        registered = client.get_registered_model(name)
        for existing, target in (registered.aliases or {}).items():
            if str(target) == str(version) and existing in ("staging", "production"):
                client.delete_registered_model_alias(name, existing)
    else:
        client.set_registered_model_alias(name, to, version)
        alias = to
    stage = ""
    try:
        stage = client.transition_model_version_stage(name, version, STAGES[to]).current_stage
    except Exception:  # stages removed from the server: the alias is the promotion
        stage = ""
    who = getpass.getuser()
    when = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for key, value in {
        "heimdall.promoted_to": to,
        "heimdall.promoted_by": who,
        "heimdall.promoted_at": when,
        "heimdall.promotion_note": note,
        f"heimdall.{to}.promoted_by": who,
        f"heimdall.{to}.promoted_at": when,
    }.items():
        client.set_model_version_tag(name, version, key, value)
    return {
        "name": name,
        "version": str(version),
        "to": to,
        "alias": alias,
        "stage": stage,
        "promoted_by": who,
        "promoted_at": when,
        "note": note,
    }


def promote(settings: Settings, name: str, version: str, to: str, note: str = "") -> dict[str, Any]:
    """Promote a registered version by hand. Raises BadInputError for an unknown target,
    model or version; ServiceError when MLflow fails."""
    with mlflow_session(settings) as client:
        return promote_version(client, name, str(version), to, note)


def version_summary(version: Any, aliases: dict[str, str] | None = None) -> dict[str, Any]:
    tags = dict(version.tags or {})
    version_aliases = list(getattr(version, "aliases", None) or [])
    if aliases:
        version_aliases = sorted(
            set(version_aliases) | {a for a, v in aliases.items() if str(v) == str(version.version)}
        )
    created = _dt.datetime.fromtimestamp(version.creation_timestamp / 1000, _dt.timezone.utc)
    figures = {k: v for k, v in tags.items() if k.startswith("latency.") or k in ("parity_passed", "opset")}
    return {
        "name": version.name,
        "version": str(version.version),
        "aliases": version_aliases,
        "stage": version.current_stage or "None",
        "status": version.status,
        "source": version.source,
        "run_id": version.run_id or "",
        "sha256": tags.get("sha256", ""),
        "created": created.isoformat(timespec="seconds"),
        "description": version.description or "",
        "figures": figures,
        "tags": tags,
    }


def list_versions(settings: Settings, name: str) -> list[dict[str, Any]]:
    """All versions of a registered model, newest first; [] when nothing is registered under
    that name yet (the first push creates it)."""
    from mlflow.exceptions import MlflowException

    with mlflow_session(settings) as client:
        try:
            registered = client.get_registered_model(name)
        except MlflowException as exc:
            if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise
        versions = client.search_model_versions(f"name = {quote(name)}")
        aliases = dict(registered.aliases or {})
        return sorted((version_summary(v, aliases) for v in versions), key=lambda d: -int(d["version"]))


def list_registered_models(settings: Settings) -> list[dict[str, Any]]:
    with mlflow_session(settings) as client:
        models = client.search_registered_models()
        result = []
        for m in models:
            latest = max((int(v.version) for v in (m.latest_versions or [])), default=0)
            result.append(
                {
                    "name": m.name,
                    "description": m.description or "",
                    "aliases": dict(m.aliases or {}),
                    "latest_version": str(latest) if latest else "",
                    "updated": _dt.datetime.fromtimestamp(m.last_updated_timestamp / 1000, _dt.timezone.utc).isoformat(
                        timespec="seconds"
                    ),
                }
            )
        return sorted(result, key=lambda d: d["name"])


def mlflow_ui_url(settings: Settings, name: str, version: str | int) -> str | None:
    """The MLflow UI page of a version (a password in the tracking URI masked), or None when there is
    no server (embedded)."""
    uri = mask_credentials(settings.tracking_uri)
    if not re.match(r"^https?://", uri):
        return None
    return f"{uri.rstrip('/')}/#/models/{name}/versions/{version}"
