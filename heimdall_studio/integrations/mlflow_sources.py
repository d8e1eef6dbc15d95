"""MLflow runs and registered models as sources: browse them, download, open.

``runs:/RUN_ID/path/to/checkpoint.pt``, ``models:/NAME/VERSION`` and
``models:/NAME@ALIAS`` are downloaded into a work folder and then opened like any
local file by ``core.sources.load_source``. A model logged with ``mlflow.pytorch``
is a pickled module: it is opened only with ``trust`` because unpickling runs code.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.model import PICKLED_MODULE, LoadedModel
from heimdall_studio.core.specs import SourceOptions, TensorSpec, parse_tensor_spec
from heimdall_studio.integrations.mlflow_client import mlflow_session
from heimdall_studio.integrations.settings import Settings

MLFLOW_SCHEMES = ("runs:/", "models:/")
_URI_HINT = "Use runs:/RUN_ID/path/to/file, models:/NAME/VERSION or models:/NAME@ALIAS."
_MODEL_FILES = (".pt", ".pth", ".ckpt", ".pt2", ".onnx", ".bin")


def is_mlflow_uri(text: str) -> bool:
    return str(text).strip().startswith(MLFLOW_SCHEMES)


def _iso(ms: int | None) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds") if ms else ""


def list_experiments(settings: Settings) -> list[dict[str, Any]]:
    with mlflow_session(settings) as client:
        return [
            {
                "id": e.experiment_id,
                "name": e.name,
                "artifact_location": e.artifact_location,
                "lifecycle_stage": e.lifecycle_stage,
                "tags": dict(e.tags or {}),
            }
            for e in client.search_experiments()
        ]


def list_runs(settings: Settings, experiment: str = "", max_results: int = 200) -> list[dict[str, Any]]:
    """Runs of ``experiment`` (default: the profile's), newest first."""
    name = experiment or settings.profile.experiment
    with mlflow_session(settings) as client:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise BadInputError(
                f"There is no experiment {name!r} in MLflow at {settings.tracking_uri}.",
                "List them with `heimdall-studio runs list --experiment NAME` or pick one in the Runs panel.",
            )
        runs = client.search_runs([found.experiment_id], max_results=max_results, order_by=["start_time DESC"])
        return [
            {
                "run_id": r.info.run_id,
                "name": r.info.run_name or "",
                "status": r.info.status,
                "start_time": _iso(r.info.start_time),
                "experiment": name,
                "metrics": dict(r.data.metrics),
                "params": dict(r.data.params),
                "tags": {k: v for k, v in r.data.tags.items() if not k.startswith("mlflow.")},
            }
            for r in runs
        ]


def list_artifacts(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    """Every file a run logged (recursive), with its size and ``runs:/`` URI."""
    with mlflow_session(settings) as client:
        client.get_run(run_id)
        result: list[dict[str, Any]] = []
        pending = [""]
        while pending:
            path = pending.pop()
            for info in client.list_artifacts(run_id, path or None):
                if info.is_dir:
                    pending.append(info.path)
                else:
                    result.append({"path": info.path, "size": info.file_size, "uri": f"runs:/{run_id}/{info.path}"})
        return sorted(result, key=lambda d: d["path"])


def check_mlflow_uri(uri: str) -> None:
    """BadInputError unless ``uri`` is ``runs:/RUN_ID[/path]`` or ``models:/NAME/VERSION[/path]`` /
    ``models:/NAME@ALIAS[/path]`` whose path stays inside the run or model: no ``..`` or ``.``
    segment, no empty segment (``//``, a leading ``/``), no backslash, also when percent-encoded.
    Checked before anything is downloaded."""
    text = str(uri).strip()
    scheme = next((s for s in MLFLOW_SCHEMES if text.startswith(s)), None)
    if scheme is None:
        raise BadInputError(f"{uri!r} is not an MLflow URI.", _URI_HINT)
    rest = unquote(text[len(scheme) :])
    segments = rest[:-1].split("/") if rest.endswith("/") else rest.split("/")
    if not rest or any(segment in ("", ".", "..") for segment in segments) or "\\" in rest:
        raise BadInputError(
            f"{uri} is not a valid MLflow URI: its path has an empty, '.' or '..' segment (or a "
            "backslash), which could reach files outside the run or model. Nothing was downloaded.",
            _URI_HINT,
        )
    if scheme == "models:/" and len(segments) < 2 and "@" not in segments[0]:
        raise BadInputError(
            f"{uri} names no version or alias of the registered model. Nothing was downloaded.", _URI_HINT
        )


def download(settings: Settings, uri: str, dst: Path) -> Path:
    """Download an MLflow URI (checked by :func:`check_mlflow_uri` first) into ``dst``; the local
    path of the file or folder."""
    import mlflow

    check_mlflow_uri(uri)
    dst.mkdir(parents=True, exist_ok=True)
    with mlflow_session(settings):
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst)))


def load_mlflow_source(uri: str, options: SourceOptions, settings: Settings, work_dir: Path) -> LoadedModel:
    """Download ``uri`` into ``work_dir`` and open it.

    ``work_dir`` should be a private temporary folder that the caller removes when the model is
    no longer needed (the pipeline does, whatever happens). Raises BadInputError for a URI whose
    path could leave the run or model (before any download), an unknown run, model or artifact,
    and an MLflow pytorch model without ``options.trust``; ServiceError when MLflow or S3 fails.
    """
    check_mlflow_uri(uri)
    target = Path(work_dir) / _safe_dir(uri)
    local = download(settings, uri, target)
    mlmodel = local / "MLmodel" if local.is_dir() else None
    if mlmodel is not None and mlmodel.is_file():
        loaded = _load_logged_model(local, mlmodel, uri, options, settings)
    else:
        from heimdall_studio.core.sources import load_source

        loaded = load_source(str(_model_file(local, uri)), options)
    loaded.metadata = {**loaded.metadata, "mlflow_uri": uri}
    return loaded


def _safe_dir(uri: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in uri)[:120]


def _model_file(local: Path, uri: str) -> Path:
    if local.is_file():
        return local
    candidates = sorted(p for p in local.rglob("*") if p.is_file() and p.suffix.lower() in _MODEL_FILES)
    onnx = [p for p in candidates if p.suffix == ".onnx"]
    if onnx:
        return onnx[0]
    if len(candidates) == 1:
        return candidates[0]
    names = ", ".join(p.relative_to(local).as_posix() for p in candidates) or "no model files"
    raise BadInputError(
        f"{uri} is a folder ({names}); Heimdall Studio cannot tell which file to open.",
        f"Point at one file, e.g. {uri.rstrip('/')}/<file>.pt.",
    )


def _load_logged_model(local: Path, mlmodel: Path, uri: str, options: SourceOptions, settings: Settings) -> LoadedModel:
    import yaml

    spec = yaml.safe_load(mlmodel.read_text(encoding="utf-8")) or {}
    flavors = spec.get("flavors", {})
    if "onnx" in flavors or not {"pytorch", "python_function"} & set(flavors):
        from heimdall_studio.core.sources import load_source

        return load_source(str(_model_file(local, uri)), options)
    if "pytorch" not in flavors:
        raise BadInputError(
            f"{uri} is an MLflow model with flavours {', '.join(flavors)}; only pytorch and onnx models can be opened.",
            "Log the model with mlflow.pytorch or as a checkpoint file.",
        )
    if not options.trust:
        raise BadInputError(
            f"{uri} is a pickled PyTorch model (mlflow.pytorch); opening it runs code from the file.",
            "Pass --trust if you trust where it came from, or log a checkpoint (state dict) instead.",
        )
    import mlflow.pytorch

    with mlflow_session(settings):
        module = mlflow.pytorch.load_model(str(local), map_location="cpu")
    module.eval()
    inputs = [parse_tensor_spec(text) for text in options.inputs] or _signature_inputs(spec)
    if not inputs:
        raise BadInputError(
            f"{uri} has no input signature, so the input shape is unknown.",
            "Give it with --input NAME:DIMS:DTYPE, e.g. --input x:batch,3,128,32:float32.",
        )
    return LoadedModel(
        kind=PICKLED_MODULE,
        source=uri,
        module=module,
        inputs=inputs,
        output_names=list(options.output_names),
        architecture=f"{type(module).__module__}.{type(module).__qualname__}",
        parameters=sum(p.numel() for p in module.parameters()),
        metadata={"mlflow_flavor": "pytorch", "run_id": spec.get("run_id", "")},
    )


def _signature_inputs(spec: dict[str, Any]) -> list[TensorSpec]:
    import json

    text = (spec.get("signature") or {}).get("inputs")
    if not text:
        return []
    result = []
    for i, item in enumerate(json.loads(text)):
        if item.get("type") != "tensor":
            return []
        info = item.get("tensor-spec", {})
        shape = tuple(
            "batch" if d == -1 and n == 0 else (f"dim{n}" if d == -1 else int(d))
            for n, d in enumerate(info.get("shape", []))
        )
        dtype = str(info.get("dtype", "float32"))
        result.append(TensorSpec(item.get("name") or f"input{i}", shape, dtype if dtype != "float" else "float32"))
    return result
