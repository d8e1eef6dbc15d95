"""Params, metrics and version tags taken from a pipeline report.

The report's sections are written by other steps; this reads them leniently (a push
of a bare ``.onnx`` has no parity or benchmark section) and never fails on shape.
"""

from __future__ import annotations

import math
import re
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def _name(*parts: Any) -> str:
    return _UNSAFE.sub("_", ".".join(str(p) for p in parts if p not in (None, "")))


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _section(report: dict[str, Any], key: str) -> dict[str, Any]:
    value = report.get(key)
    return value if isinstance(value, dict) else {}


def _parity_outputs(parity: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    outputs = parity.get("outputs") or parity.get("per_output") or {}
    if isinstance(outputs, dict):
        return [(str(k), v) for k, v in outputs.items() if isinstance(v, dict)]
    if isinstance(outputs, list):
        return [(str(o.get("name") or o.get("output") or i), o) for i, o in enumerate(outputs) if isinstance(o, dict)]
    return []


def parity_passed(report: dict[str, Any]) -> str:
    parity = report.get("parity")
    if not isinstance(parity, dict) or not parity:
        return "not_run"
    passed = parity.get("passed")
    return str(bool(passed)).lower() if passed is not None else "unknown"


def _latency_entries(report: dict[str, Any]) -> list[dict[str, Any]]:
    entries = report.get("latency") or (report.get("benchmark") or {}).get("entries") or []
    return [e for e in entries if isinstance(e, dict)]


def _percentile(entry: dict[str, Any], pct: str) -> float | None:
    for key in (f"{pct}_ms", pct, f"latency_{pct}_ms"):
        if key in entry:
            return _number(entry[key])
    stats = entry.get("stats") or entry.get("latency_ms") or {}
    return _number(stats.get(pct)) if isinstance(stats, dict) else None


def metrics(report: dict[str, Any]) -> dict[str, float]:
    """Parity max/mean abs per output and latency p50/p99 per runtime/device/batch."""
    result: dict[str, float] = {}
    parity = _section(report, "parity")
    for output, stats in _parity_outputs(parity):
        for stat in ("max_abs", "mean_abs"):
            value = _number(stats.get(stat))
            if value is not None:
                result[_name("parity", output, stat)] = value
    for entry in _latency_entries(report):
        key = (entry.get("runtime"), entry.get("device"), f"b{entry.get('batch_size', '')}")
        for pct in ("p50", "p99"):
            value = _percentile(entry, pct)
            if value is not None:
                result[_name("latency", *key, f"{pct}_ms")] = value
    return result


def params(report: dict[str, Any]) -> dict[str, str]:
    export = _section(report, "export")
    onnx = _section(report, "onnx")
    parity = _section(report, "parity")
    found: dict[str, Any] = {
        "exporter": export.get("exporter"),
        "opset": onnx.get("opset") or export.get("opset"),
        "source": (report.get("source") or {}).get("path") if isinstance(report.get("source"), dict) else None,
    }
    criteria = _section(parity, "criteria")
    tolerance = criteria.get("default") or parity.get("tolerance") or {}
    for key in ("atol", "rtol", "mean_atol"):
        value = tolerance.get(key) if isinstance(tolerance, dict) else None
        found[f"parity_{key}"] = value if value is not None else parity.get(key)
    return {k: str(v)[:500] for k, v in found.items() if v not in (None, "")}


def version_tags(report: dict[str, Any], sha256: str, file_name: str) -> dict[str, str]:
    tags = {
        "framework": "pytorch",
        "format": "onnx",
        "sha256": sha256,
        "file_name": file_name,
        "parity_passed": parity_passed(report),
        "created_by": "heimdall-studio",
    }
    opset = params(report).get("opset")
    if opset:
        tags["opset"] = opset
    for key, value in metrics(report).items():
        if key.startswith("latency.") or key.startswith("parity."):
            tags[key] = f"{value:.6g}"
    return tags


def description(report: dict[str, Any], sha256: str, file_name: str) -> str:
    found = params(report)
    lines = [
        f"ONNX model {file_name} pushed by Heimdall Studio.",
        f"sha256 {sha256}",
        f"opset {found.get('opset', 'unknown')}, exporter {found.get('exporter', 'unknown')}",
        f"parity: {parity_passed(report)}",
    ]
    if found.get("source"):
        lines.append(f"exported from {found['source']}")
    return "\n".join(lines)
