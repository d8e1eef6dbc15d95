"""The push step: upload a verified ONNX model, then register it in MLflow.

Order matters: (1) skip when MLflow already has this sha256 under the model name,
(2) upload the ``.onnx`` file, its external data files and the report under one prefix,
(3) read each object back and check size and sha256, (4) log the export run and create
the version whose source is the prefix, (5) promote if asked. A failure in (4) removes
the uploaded files, so no version ever points at a missing or partial object.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import queue
import tempfile
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heimdall_studio.core import events as ev
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError, GateFailedError, HeimdallError, ServiceError
from heimdall_studio.core.metadata import known_sha256, sha256_file
from heimdall_studio.core.redact import mask_all
from heimdall_studio.integrations import report_figures
from heimdall_studio.integrations.mlflow_client import ensure_experiment, mlflow_session, where
from heimdall_studio.integrations.registry import (
    ensure_registered_model,
    find_version_by_sha256,
    mlflow_ui_url,
    promote_version,
)
from heimdall_studio.integrations.settings import Settings, load_settings
from heimdall_studio.integrations.store import LocalStore, ObjectStore, render_prefix

REPORT_NAME = "heimdall-report.json"
REPORT_HTML_NAME = "heimdall-report.html"  # the same report as one self-contained page, on the MLflow run
PROMOTE_CHOICES = ("", "staging", "production")


@dataclass(frozen=True)
class PushOptions:
    model_name: str = ""  # "" → the profile's registered model name
    bucket: str = ""  # "" → the profile's bucket
    promote: str = ""  # "" | "staging" | "production"
    create_bucket: bool = False
    force: bool = False  # register again even when this sha256 is already registered
    run_id: str = ""  # link to this MLflow run instead of creating one
    note: str = ""  # promotion note
    profile: str = ""  # "" → the active profile
    extra_tags: dict[str, str] = field(default_factory=dict)  # more version tags (a variant's lineage)

    def __post_init__(self) -> None:
        if self.promote not in PROMOTE_CHOICES:
            raise BadInputError(
                f"Cannot promote a pushed model to {self.promote!r}.",
                "Use --promote staging or --promote production (archive with `promote`).",
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PushOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class PushResult:
    uri: str  # the prefix registered as the version source
    model_name: str
    version: str
    run_id: str
    sha256: str
    aliases: list[str] = field(default_factory=list)
    stage: str = ""
    sha256_verified: bool = False
    existing: bool = False
    local: bool = False
    files: list[str] = field(default_factory=list)
    ui_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "local_uri" if self.local else "s3_uri": self.uri,
            "model_name": self.model_name,
            "version": self.version,
            "run_id": self.run_id,
            "aliases": list(self.aliases),
            "stage": self.stage,
            "sha256_verified": self.sha256_verified,
            "existing": self.existing,
            "sha256": self.sha256,
            "model_uri": f"models:/{self.model_name}/{self.version}",
            "files": list(self.files),
            "mlflow_ui_url": self.ui_url,
        }


def external_data_files(onnx_path: Path) -> list[Path]:
    """The external data files the model refers to (``.onnx.data`` of models over 2 GB)."""
    from heimdall_studio.core.onnx_files import onnx_file_parts

    files = onnx_file_parts(onnx_path)[1:]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise BadInputError(
            f"{onnx_path.name} refers to external data files that are missing: {', '.join(missing)}.",
            "Keep the .onnx file next to its .data files.",
        )
    return files


def validation_of(report: dict[str, Any], onnx_path: Path) -> dict[str, Any] | None:
    """The report's validation section when it describes the file at ``onnx_path``, else None."""
    validation = report.get("validation") if isinstance(report, dict) else None
    if not isinstance(validation, dict) or not validation.get("onnx_path"):
        return None
    return validation if Path(validation["onnx_path"]).resolve() == Path(onnx_path).resolve() else None


def require_validation(onnx_path: Path, report: dict[str, Any]) -> None:
    """Only a file that passed validation is uploaded: BadInputError when the report has no
    validation of this file, GateFailedError when it failed."""
    validation = validation_of(report, onnx_path)
    if validation is None:
        raise BadInputError(
            f"{onnx_path.name} has not been validated, so it was not pushed.",
            f"Push it with `heimdall-studio push {onnx_path}` (which validates it first) or "
            "`heimdall-studio run SOURCE --push`.",
        )
    if validation.get("passed") is not True:
        errors = "; ".join(str(e) for e in validation.get("errors") or [])[:300]
        raise GateFailedError(
            f"{onnx_path.name} did not pass validation ({errors or 'see the report'}); it was not pushed.",
            "Only a file that passes validation is uploaded and registered. Fix the model and export it again.",
        )


def validation_report(onnx_path: Path, cancel: CancelToken | None = None) -> dict[str, Any]:
    """A minimal report for ``push_step`` from a fresh validation of ``onnx_path``.

    Raises BadInputError for a file that cannot be read (or has external data outside its folder).
    """
    from heimdall_studio.core.validate import validate_step

    steps = validate_step(Path(onnx_path), cancel or CancelToken())
    try:
        while True:
            next(steps)
    except StopIteration as done:
        validation = done.value.to_dict()
    opsets = validation.get("opsets") or {}
    return {
        "source": {"path": str(onnx_path)},
        "validation": validation,
        "onnx": {
            "path": str(onnx_path),
            "opset": opsets.get("", opsets.get("ai.onnx")),
            "external_data": validation.get("external_data_files", []),
        },
    }


def make_store(settings: Settings, bucket: str = "") -> ObjectStore:
    if settings.is_embedded:
        return LocalStore(settings.local_store_root)
    from heimdall_studio.integrations.s3 import S3Store

    return S3Store.from_settings(settings, bucket=bucket)


def _with_progress(
    work: Callable[[Callable[[int], None]], Any], total: int, message: str, cancel: CancelToken
) -> Generator[ev.Event, None, Any]:
    """Run ``work(progress)`` on a thread and yield Progress events about every 100 ms.

    Ctrl+C (or the consumer closing the generator) cancels ``work`` and waits for it, so
    the store can abort a partial upload before this returns."""
    updates: queue.Queue[int] = queue.Queue()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work(updates.put)
        except BaseException as exc:  # handed to the generator's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="heimdall-upload", daemon=True)
    thread.start()
    done, last = 0, 0.0
    try:
        while thread.is_alive() or not updates.empty():
            try:
                done += updates.get(timeout=0.1)
            except queue.Empty:
                pass
            if time.monotonic() - last >= 0.1:
                last = time.monotonic()
                yield ev.Progress(ev.PUSH, min(done, total), total, message)
    except BaseException:  # KeyboardInterrupt, GeneratorExit
        cancel.cancel()
        thread.join()
        raise
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    yield ev.Progress(ev.PUSH, total, total, message)
    return outcome.get("value")


def push_step(
    onnx_path: Path, report: dict[str, Any], options: PushOptions, settings: Settings, cancel: CancelToken
) -> Generator[ev.Event, None, PushResult]:
    """Upload, verify, register and (optionally) promote ``onnx_path``.

    ``report`` must hold a passed validation of this very file (see :func:`validation_report`).
    Yields Progress (bytes) and Log events. Raises ServiceError when S3 or MLflow fails
    (the message names the endpoint), BadInputError for a missing or unvalidated file, external
    data outside the model's folder or an unknown run, GateFailedError for a file that failed
    validation, CancelledError when ``cancel`` is set (a partial upload is aborted).
    """
    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise BadInputError(f"There is no ONNX file at {onnx_path}.", "Export the model first.")
    require_validation(onnx_path, report)
    parts = external_data_files(onnx_path)  # BadInputError for data outside the model's folder
    # What goes to MLflow (tags, description, params, the report artifact) never carries a URI password.
    report = mask_all(ev.json_safe(report))
    if options.profile and options.profile != settings.profile.name:
        settings = load_settings(options.profile)
    profile = settings.profile
    name = options.model_name or profile.model_name
    for warning in settings.warnings:
        yield ev.Log("warning", warning, ev.PUSH)
    yield ev.Progress(ev.PUSH, 0, 0, f"Computing the sha256 of {onnx_path.name}")
    hashed = report.get("metadata")
    sha256 = known_sha256(onnx_path, hashed, cancel)

    yield ev.Progress(ev.PUSH, 0, 0, f"Looking for sha256 {sha256[:12]}… in {where(settings)}")
    with mlflow_session(settings) as client:
        existing = None if options.force else find_version_by_sha256(client, name, sha256)
        if existing is not None:
            yield ev.Log(
                "info",
                f"{name} version {existing.version} already holds this file "
                f"(sha256 {sha256[:12]}…); nothing uploaded. Use --force to register it again.",
                ev.PUSH,
            )
            existing = client.get_model_version(existing.name, existing.version)  # search omits aliases
            return (yield from _finish_existing(client, settings, existing, sha256, options))

    store = make_store(settings, options.bucket)
    cancel.raise_if_cancelled()
    store.ensure_bucket(options.create_bucket)
    prefix = render_prefix(profile.key_template, profile.model_type)
    if store.list_keys(prefix):  # two pushes in the same second
        prefix = f"{prefix.rstrip('/')}_{sha256[:8]}/"
    run_id = options.run_id
    exported_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    opset = report_figures.params(report).get("opset", "")
    metadata = {
        "export-date": exported_at,
        "model-type": profile.model_type,
        "file-size": str(onnx_path.stat().st_size),
        "sha256": sha256,
        "opset": str(opset),
        "source-run-id": run_id,
        "file-name": onnx_path.name,
    }

    with tempfile.TemporaryDirectory(prefix="heimdall-push-") as tmp:
        report_path = Path(tmp) / REPORT_NAME
        report_path.write_text(json.dumps(ev.json_safe(report), indent=2) + "\n", encoding="utf-8")
        uploads = [(p, {"sha256": known_sha256(p, hashed, cancel), "part-of": onnx_path.name}) for p in parts]
        uploads += [
            (onnx_path, metadata),
            (report_path, {"sha256": sha256_file(report_path), "part-of": onnx_path.name}),
        ]
        total = sum(p.stat().st_size for p, _ in uploads)
        yield ev.Log(
            "info",
            f"Uploading {len(uploads)} file(s), {total / 1e6:.1f} MB, to {store.uri(prefix)} ({store.location})",
            ev.PUSH,
        )

        def upload_all(progress: Callable[[int], None]) -> list[Any]:
            return [store.upload(p, prefix + p.name, meta, progress, cancel) for p, meta in uploads]

        try:
            stored = yield from _with_progress(upload_all, total, f"Uploading to {store.uri(prefix)}", cancel)
        except BaseException:
            _remove_quietly(store, prefix)
            raise
        verified = all(obj.verified for obj in stored)
        yield ev.Log("info", f"Verified {len(stored)} object(s) under {store.uri(prefix)} (size and sha256)", ev.PUSH)
        cancel.raise_if_cancelled()
        source = store.uri(prefix)
        try:
            with mlflow_session(settings) as client:
                run_id = _log_export_run(client, settings, report, report_path, run_id, sha256)
                ensure_registered_model(client, name)
                version = client.create_model_version(
                    name,
                    source=source,
                    run_id=run_id or None,
                    tags={**report_figures.version_tags(report, sha256, onnx_path.name), **options.extra_tags},
                    description=report_figures.description(report, sha256, onnx_path.name),
                )
        except BaseException as exc:
            left = _remove_quietly(store, prefix)
            if isinstance(exc, HeimdallError):
                exc.hint = f"{exc.hint} {left}".strip()
            raise
    yield ev.Log("info", f"Registered {name} version {version.version} from {source}", ev.PUSH)
    result = PushResult(
        uri=source,
        model_name=name,
        version=str(version.version),
        run_id=run_id,
        sha256=sha256,
        sha256_verified=verified,
        local=settings.is_embedded,
        files=[o.key for o in stored],
        stage=version.current_stage or "",
        ui_url=mlflow_ui_url(settings, name, version.version),
    )
    yield from _promote_into(result, settings, options)
    return result


def _finish_existing(
    client: Any, settings: Settings, existing: Any, sha256: str, options: PushOptions
) -> Generator[ev.Event, None, PushResult]:
    result = PushResult(
        uri=existing.source,
        model_name=existing.name,
        version=str(existing.version),
        run_id=existing.run_id or "",
        sha256=sha256,
        existing=True,
        local=settings.is_embedded,
        sha256_verified=True,
        stage=existing.current_stage or "",
        aliases=list(getattr(existing, "aliases", None) or []),
        ui_url=mlflow_ui_url(settings, existing.name, existing.version),
    )
    yield from _promote_into(result, settings, options)
    return result


def _promote_into(result: PushResult, settings: Settings, options: PushOptions) -> Generator[ev.Event, None, None]:
    if not options.promote:
        return
    try:
        with mlflow_session(settings) as client:
            promoted = promote_version(client, result.model_name, result.version, options.promote, options.note)
    except HeimdallError as exc:
        raise ServiceError(
            f"{result.model_name} version {result.version} is registered, but promoting it to "
            f"{options.promote} failed: {exc.message}",
            f"Promote it by hand: heimdall-studio promote {result.model_name} {result.version} --to {options.promote}",
        ) from exc
    result.aliases = sorted(set(result.aliases) | ({promoted["alias"]} if promoted["alias"] else set()))
    result.stage = promoted["stage"] or result.stage
    yield ev.Log("info", f"Promoted {result.model_name} version {result.version} to {options.promote}", ev.PUSH)


def _log_export_run(
    client: Any, settings: Settings, report: dict[str, Any], report_path: Path, run_id: str, sha256: str
) -> str:
    """Log params, metrics and the report on ``run_id`` (checked to exist) or on a new run."""
    from mlflow.entities import Metric, Param

    created = not run_id
    if created:
        experiment_id = ensure_experiment(client, settings, settings.profile.experiment)
        run = client.create_run(
            experiment_id, run_name=f"onnx-export-{sha256[:8]}", tags={"heimdall.kind": "onnx-export", "sha256": sha256}
        )
        run_id = run.info.run_id
    else:
        client.get_run(run_id)
    now = int(time.time() * 1000)
    metric_list = [Metric(k, v, now, 0) for k, v in report_figures.metrics(report).items()]
    params = report_figures.params(report)
    if created:
        client.log_batch(run_id, metrics=metric_list, params=[Param(k, v) for k, v in params.items()])
    else:  # a training run may hold params of these names already; never clash with them
        client.log_batch(run_id, metrics=metric_list, params=[Param(f"onnx.{k}", v) for k, v in params.items()])
    client.log_artifact(run_id, str(report_path), "heimdall")
    from heimdall_studio.core.html_report import render_html

    html_path = report_path.with_name(REPORT_HTML_NAME)
    html_path.write_text(render_html(report), encoding="utf-8")
    client.log_artifact(run_id, str(html_path), "heimdall")
    if created:
        client.set_terminated(run_id, "FINISHED")
    return run_id


def _remove_quietly(store: ObjectStore, prefix: str) -> str:
    """Delete what a failed push uploaded; say what is left if that fails too."""
    try:
        store.delete_prefix(prefix)
        return f"The files uploaded under {store.uri(prefix)} were removed; nothing was registered."
    except Exception:
        return (
            f"Files may be left under {store.uri(prefix)} ({store.location}); nothing was registered, "
            "delete them by hand."
        )
