"""The comparison of variants: variant × device × batch with its accuracy cost.

:func:`variant_records` gives the figures as numbers (the app sorts and plots them);
:func:`variant_rows` formats them as text for the CLI summary and the HTML report.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

COLUMNS = ("variant", "device", "batch", "p50 ms", "× PyTorch", "× plain", "size MB", "max abs", "mean abs", "parity")
NAN = math.nan


@dataclass(frozen=True)
class VariantRecord:
    name: str
    available: bool
    reason: str  # why an unavailable variant was not made or measured
    device: str  # "" when the variant has no latency entry
    batch_size: int | None
    p50_ms: float
    vs_pytorch: float  # PyTorch eager p50 / the variant's p50 (NaN: not measured)
    vs_plain: float  # the plain export's p50 / the variant's p50
    size_bytes: int | None
    max_abs: float  # the worst output's, against PyTorch
    mean_abs: float
    passed: bool | None  # None: parity not computed


def _float(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else NAN


def worst_errors(variant: dict[str, Any]) -> tuple[float, float]:
    """The largest max |err| and mean |err| over the variant's outputs (NaN when not compared)."""
    outputs = (variant.get("parity") or {}).get("outputs") or {}
    found = [o for o in outputs.values() if isinstance(o, dict)]
    maxes = [_float(o.get("max_abs")) for o in found]
    means = [_float(o.get("mean_abs")) for o in found]
    return (max(maxes) if maxes else NAN, max(means) if means else NAN)


def variant_records(variants: list[dict[str, Any]]) -> list[VariantRecord]:
    """One record per variant, device and batch; one for a variant with no measured entry."""
    return [record for variant in variants for record in _records_of(variant)]


def _records_of(variant: dict[str, Any]) -> list[VariantRecord]:
    available = bool(variant.get("available"))
    max_abs, mean_abs = worst_errors(variant)
    parity = variant.get("parity") or {}
    base = VariantRecord(
        name=str(variant.get("name", "")),
        available=available,
        reason=str(variant.get("reason") or ""),
        device="",
        batch_size=None,
        p50_ms=NAN,
        vs_pytorch=NAN,
        vs_plain=NAN,
        size_bytes=variant.get("size_bytes") if available else None,
        max_abs=max_abs,
        mean_abs=mean_abs,
        passed=parity.get("passed") if available and parity else None,
    )

    def speedup(key: str, device: str, batch: int) -> float:
        return _float(((variant.get(key) or {}).get(device) or {}).get(str(batch)))

    records = []
    for entry in variant.get("latency") or [] if available else []:
        if entry.get("available"):
            device, batch = str(entry["device"]), int(entry["batch_size"])
            records.append(
                dataclasses.replace(
                    base,
                    device=device,
                    batch_size=batch,
                    p50_ms=_float(entry.get("p50_ms")),
                    vs_pytorch=speedup("speedup_vs_pytorch", device, batch),
                    vs_plain=speedup("speedup_vs_plain", device, batch),
                )
            )
    return records or [base]


def variant_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    """The records as text in :data:`COLUMNS` order; an unavailable variant's row says why."""
    rows: list[tuple[str, ...]] = []
    for r in variant_records(report.get("variants") or []):
        if not r.available:
            rows.append((r.name, "", "", "", "", "", "", "", "", f"unavailable: {r.reason}"))
            continue
        verdict = "" if r.passed is None else ("passed" if r.passed else "FAILED")
        size = f"{r.size_bytes / 1e6:.2f}" if isinstance(r.size_bytes, int) else ""
        rows.append(
            (
                r.name,
                r.device,
                "" if r.batch_size is None else str(r.batch_size),
                _num(r.p50_ms),
                _ratio(r.vs_pytorch),
                _ratio(r.vs_plain),
                size,
                _num(r.max_abs),
                _num(r.mean_abs),
                verdict,
            )  # fmt: skip
        )
    return rows


def _ratio(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.2f}×"


def _num(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.3g}"
