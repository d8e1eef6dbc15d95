"""The JSON report of a pipeline run: assembled from step results, written atomically."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

from heimdall_studio import __version__
from heimdall_studio.core.events import (
    BENCHMARK,
    EXPORT,
    LOAD,
    METADATA,
    OP_PROFILE,
    PARITY,
    PER_NODE,
    PUSH,
    VALIDATE,
    VARIANTS,
    json_safe,
)
from heimdall_studio.core.redact import mask_all

REPORT_SCHEMA = 1

# Where each step's result goes in the report.
SECTIONS = {
    LOAD: "source",
    EXPORT: "export",
    VALIDATE: "validation",
    PARITY: "parity",
    BENCHMARK: "benchmark",
    METADATA: "metadata",
    PUSH: "push",
    PER_NODE: "per_node",
    OP_PROFILE: "op_profile",
    VARIANTS: "variants",
}


def new_report(source: str, prior: dict[str, Any] | None = None) -> dict[str, Any]:
    report: dict[str, Any] = dict(prior or {})
    report.update(
        {
            "schema": REPORT_SCHEMA,
            "tool": f"heimdall-studio {__version__}",
            "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "source": report.get("source") or {"path": source},
            "timings": dict(report.get("timings", {})),
            "errors": [],
        }
    )
    report.setdefault("latency", [])
    report.setdefault("versions", {"python": platform.python_version(), "heimdall_studio": __version__})
    return report


def record_step(report: dict[str, Any], step: str, result: dict[str, Any], seconds: float) -> None:
    """Put a step's result into its section and derive the summary sections."""
    report["timings"][step] = round(seconds, 4)
    prior_source = report.get("source") or {}
    if step == LOAD and result.get("kind") == "onnx" and prior_source.get("kind") not in (None, "onnx"):
        # A later run on the exported file (the app's push): the report keeps describing
        # the PyTorch model the file came from.
        report["onnx_source"] = result
        return
    if step == VARIANTS:  # the report's top-level ``variants`` is the list itself
        report["variants"] = result.get("variants", [])
        return
    report[SECTIONS[step]] = result
    if step == BENCHMARK:
        report["latency"] = result.get("entries", [])
    if step in (VALIDATE, METADATA, EXPORT):
        report["onnx"] = _onnx_summary(report)
    if step == METADATA:
        report["versions"].update(result.get("versions", {}))


def _onnx_summary(report: dict[str, Any]) -> dict[str, Any]:
    export = report.get("export") or {}
    validation = report.get("validation") or {}
    metadata = report.get("metadata") or {}
    opsets = validation.get("opsets") or validation.get("opset_imports") or {}
    summary = dict(report.get("onnx") or {})
    summary.update(
        {
            "path": metadata.get("onnx_path") or export.get("onnx_path") or summary.get("path"),
            "sha256": metadata.get("sha256", summary.get("sha256")),
            "size_bytes": metadata.get("size_bytes", export.get("size_bytes", summary.get("size_bytes"))),
            "opset": opsets.get("", opsets.get("ai.onnx", export.get("opset", summary.get("opset")))),
            "ir_version": validation.get("ir_version", summary.get("ir_version")),
            "producer": _producer(validation) or summary.get("producer"),
            "inputs": validation.get("inputs", summary.get("inputs", [])),
            "outputs": validation.get("outputs", summary.get("outputs", [])),
        }
    )
    if "external_data" in export or "external_data" in summary:
        summary["external_data"] = export.get("external_data", summary.get("external_data"))
    return summary


def _producer(validation: dict[str, Any]) -> str:
    name = validation.get("producer_name", "")
    version = validation.get("producer_version", "")
    return f"{name} {version}".strip()


def _umask() -> int:
    """The process's umask, read without changing it where Linux says it (os.umask can only swap it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_report(report: dict[str, Any], path: Path) -> Path:
    """Write strict JSON atomically (temp file in the same folder, then rename); a path ending
    in .html gets the self-contained HTML page of the report instead."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    safe = mask_all(json_safe(report))
    if path.suffix.lower() in (".html", ".htm"):
        from heimdall_studio.core.html_report import render_html

        text = render_html(safe).rstrip("\n")
    else:
        text = json.dumps(safe, indent=2, sort_keys=False, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a report is as readable as the .onnx
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
