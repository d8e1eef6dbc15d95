"""Sweep: the same pipeline over many sources, one report each, and a summary.

Without Ray the sources run one after another in this process; with a Ray address each
source runs as one Ray task (``integrations.ray_devices.run_parallel``), one per worker,
its file travelling through the object store. A source that fails does not stop the
sweep; the sweep's exit code is the worst of its sources'.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import json
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from heimdall_studio.core import events as ev
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.engine.request import PipelineRequest

URI_SCHEMES = ("runs:/", "models:/")


def expand_sources(patterns: list[str]) -> list[str]:
    """Globs expanded (sorted), URIs and plain paths kept; BadInputError for a glob matching nothing."""
    sources: list[str] = []
    for pattern in patterns:
        if not pattern.startswith(URI_SCHEMES) and glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                raise BadInputError(f"{pattern!r} matches no file.", "Check the pattern, e.g. 'runs/*/epoch_*.pt'.")
            sources += matches
        else:
            sources.append(pattern)
    if not sources:
        raise BadInputError("No sources to sweep.", "Give files, globs or runs:/ / models:/ URIs.")
    return list(dict.fromkeys(sources))


def report_name(index: int, source: str) -> str:
    stem = Path(source.rstrip("/")).name.rsplit(".", 1)[0] or "source"
    return f"{index + 1:03d}-{''.join(c if c.isalnum() or c in '-_' else '_' for c in stem)}"


def run_one(request_json: str, data: bytes | None, file_name: str) -> dict[str, Any]:
    """One source through the pipeline here (also the body of a Ray task): its report and exit code.
    ``data`` is the source file's bytes when it travelled from another machine."""
    request = PipelineRequest.from_json(request_json)
    with tempfile.TemporaryDirectory(prefix="heimdall-sweep-") as tmp:
        if data is not None:
            source = Path(tmp) / file_name
            source.write_bytes(data)
            request = dataclasses.replace(request, source=str(source), out_dir=str(Path(tmp) / "out"), report_path="")
        from heimdall_studio.engine.pipeline import run_pipeline

        started = time.perf_counter()
        finished = None
        for event in run_pipeline(request, CancelToken()):
            if isinstance(event, ev.PipelineFinished):
                finished = event
        assert finished is not None
        return {"report": finished.report, "exit_code": finished.exit_code, "seconds": time.perf_counter() - started}


def run_sweep(
    requests: list[PipelineRequest],
    report_dir: Path,
    ray_address: str,
    cancel: CancelToken,
    on_done: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Run every request; write each report and call ``on_done`` with its summary row as it finishes."""
    report_dir.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[int, dict[str, Any]]] = []
    for index, result in _results(requests, ray_address, cancel):
        path = report_dir / (report_name(index, requests[index].source) + ".report.json")
        report = dict(result["report"], source=requests[index].source)
        path.write_text(json.dumps(report, indent=2, default=str))
        row = summary_row(requests[index].source, report, result["exit_code"], result["seconds"], path)
        rows.append((index, row))
        on_done(row)
    return [row for _, row in sorted(rows, key=lambda pair: pair[0])]


def _results(requests: list[PipelineRequest], ray_address: str, cancel: CancelToken) -> Iterator[tuple[int, Any]]:
    if not ray_address:
        for index, request in enumerate(requests):
            cancel.raise_if_cancelled()
            yield index, run_one(request.to_json(), None, "")
        return
    from heimdall_studio.integrations.ray_devices import run_parallel

    jobs: list[tuple[str, bytes | None, str]] = []
    for request in requests:
        path = Path(request.source)
        if path.is_file():
            jobs.append((request.to_json(), path.read_bytes(), path.name))
        else:  # runs:/ or models:/: the worker resolves it with its own MLflow settings
            jobs.append((request.to_json(), None, ""))
    for index, outcome in run_parallel(run_one, jobs, ray_address, cancel):
        if isinstance(outcome, Exception):
            message = str(outcome).strip().splitlines()[0] if str(outcome).strip() else type(outcome).__name__
            yield index, {"report": {"status": "failed", "errors": [message]}, "exit_code": 3, "seconds": math.nan}
        else:
            yield index, outcome


def summary_row(source: str, report: dict[str, Any], exit_code: int, seconds: float, path: Path) -> dict[str, Any]:
    parity = report.get("parity") or {}
    values = [o.get("max_abs") for o in (parity.get("outputs") or {}).values() if isinstance(o, dict)]
    errors = [float(e) for e in values if isinstance(e, (int, float)) and not math.isnan(e)]
    row: dict[str, Any] = {
        "source": source,
        "status": report.get("status", ""),
        "exit_code": exit_code,
        "passed": report.get("status") == "passed",
        "parity_max_error": max(errors) if errors else None,
        "size_bytes": (report.get("export") or {}).get("size_bytes"),
        "seconds": round(seconds, 2) if not math.isnan(seconds) else None,
        "report": str(path),
        "p50_ms": {},
        "speedup": (report.get("benchmark") or {}).get("speedup", {}),
    }
    for entry in (report.get("benchmark") or {}).get("entries", []):
        if entry.get("available"):
            row["p50_ms"][f"{entry['runtime']}/{entry['device']}/b{entry['batch_size']}"] = entry["p50_ms"]
    return row


def write_summary(rows: list[dict[str, Any]], report_dir: Path) -> tuple[Path, Path]:
    """summary.json (the rows as they are) and summary.csv (one column per runtime/device/batch p50)."""
    json_path, csv_path = report_dir / "summary.json", report_dir / "summary.csv"
    json_path.write_text(json.dumps({"sources": rows, "exit_code": worst_exit(rows)}, indent=2, default=str))
    p50_keys = sorted({key for row in rows for key in row["p50_ms"]})
    speed_keys = sorted({f"{d}/b{b}" for row in rows for d, per in row["speedup"].items() for b in per})
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["source", "status", "passed", "parity_max_error", "size_bytes"]
            + [f"p50_ms {k}" for k in p50_keys]
            + [f"speedup {k}" for k in speed_keys]
        )
        for row in rows:
            speed = {f"{d}/b{b}": v for d, per in row["speedup"].items() for b, v in per.items()}
            writer.writerow(
                [row["source"], row["status"], row["passed"], row["parity_max_error"], row["size_bytes"]]
                + [row["p50_ms"].get(k, "") for k in p50_keys]
                + [speed.get(k, "") for k in speed_keys]
            )
    return json_path, csv_path


def worst_exit(rows: list[dict[str, Any]]) -> int:
    """The worst exit code: cancelled (130) > service (3) > bad input (2) > gate failed (1) > 0."""
    order = {0: 0, 1: 1, 2: 2, 3: 3, 130: 4}
    return max((row["exit_code"] for row in rows), key=lambda code: order.get(code, 1), default=0)
