"""``push FILE.onnx --variant NAME``: what to push for a variant, and the tags that say what it is.

The variant is found in the run's report (``--report``, or ``<stem>.report.json`` beside the plain
export): its file must still be the one the report measured (same sha256). A variant that failed
its parity criteria is pushed only with ``allow_failed_parity``. The version is tagged with
``variant``, its parity figures and ``lineage.plain_sha256`` (the plain export's sha256).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.metadata import sha256_file


def run_report_of(plain: Path, report_path: Path | None) -> dict[str, Any]:
    """The run's report: ``report_path`` or ``<stem>.report.json`` beside ``plain``."""
    path = report_path or plain.with_name(plain.stem + ".report.json")
    if not path.is_file():
        raise BadInputError(
            f"No report of the run that made the variants: {path} does not exist.",
            "Give it with --report, or make the variants with `heimdall-studio run SOURCE --variants …`.",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BadInputError(f"The report {path} is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise BadInputError(f"The report {path} is not a Heimdall report (not a JSON object).")
    return data


def find_variant(report: dict[str, Any], name: str) -> dict[str, Any]:
    variants = [v for v in report.get("variants") or [] if isinstance(v, dict)]
    for variant in variants:
        if variant.get("name") == name:
            return variant
    made = ", ".join(str(v.get("name")) for v in variants) or "none"
    raise BadInputError(
        f"The report has no variant {name!r} (variants in it: {made}).",
        f"Make it first: heimdall-studio run SOURCE --variants {name}",
    )


def _worst(outputs: dict[str, Any], key: str) -> float | None:
    values = [float(o[key]) for o in outputs.values() if isinstance(o, dict) and isinstance(o.get(key), (int, float))]
    return max(values) if values else None


def variant_push(
    plain: Path, report: dict[str, Any], name: str, allow_failed_parity: bool, cancel: CancelToken | None = None
) -> tuple[Path, dict[str, Any], dict[str, str]]:
    """(the variant's file, the report to push with it, the extra version tags). BadInputError when
    the variant is missing, unavailable, changed since the run, or failed parity without consent."""
    from heimdall_studio.integrations.push import validation_report

    variant = find_variant(report, name)
    if not variant.get("available"):
        raise BadInputError(
            f"The variant {name} was not made in that run: {variant.get('reason', 'no reason recorded')}.",
            "Push another variant, or the plain export.",
        )
    path = Path(str(variant.get("path", "")))
    if not path.is_file():
        raise BadInputError(
            f"The {name} variant's file {path} is missing.", "Run the pipeline again with --variants to remake it."
        )
    sha256 = sha256_file(path, cancel=cancel)
    if variant.get("sha256") and sha256 != variant["sha256"]:
        raise BadInputError(
            f"{path.name} changed since the run that checked it "
            f"(sha256 {sha256[:12]}…, report {variant['sha256'][:12]}…).",
            "Run the pipeline again with --variants so parity and latency describe this file.",
        )
    parity = variant.get("parity") or {}
    passed = parity.get("passed") is True
    if not passed and not allow_failed_parity:
        raise BadInputError(
            f"The {name} variant failed its parity criteria ({_parity_line(parity)}); nothing was pushed.",
            "Pass --allow-failed-parity to push it anyway, or push a variant that passed.",
        )
    plain_sha256 = str((report.get("onnx") or {}).get("sha256") or (report.get("metadata") or {}).get("sha256") or "")
    plain_sha256 = plain_sha256 or sha256_file(plain, cancel=cancel)
    pushed = {k: v for k, v in report.items() if k not in ("metadata", "push", "parity", "latency", "benchmark")}
    fresh = validation_report(path, cancel)  # push uploads only a validated file
    pushed.update(
        validation=fresh["validation"], onnx={**(report.get("onnx") or {}), **fresh["onnx"], "sha256": sha256}
    )
    pushed.update(parity=parity, latency=variant.get("latency") or [], variant=variant)
    outputs = parity.get("outputs") or {}
    tags = {
        "variant": name,
        "variant.parity_passed": "true" if passed else "false",
        "lineage.plain_sha256": plain_sha256,
    }
    for key in ("max_abs", "mean_abs"):
        worst = _worst(outputs, key)
        if worst is not None:
            tags[f"variant.{key}"] = f"{worst:.6g}"
    return path, pushed, tags


def _parity_line(parity: dict[str, Any]) -> str:
    failures = parity.get("failures") or []
    if failures:
        return "; ".join(str(f) for f in failures)[:300]
    worst = _worst(parity.get("outputs") or {}, "max_abs")
    return f"max abs error {worst:.3g}" if worst is not None else "no parity figures"
