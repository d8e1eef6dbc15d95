"""What the Variants view shows, computed from the report's ``variants`` list without Qt.

The table's rows are :func:`heimdall_studio.core.variant_table.variant_records` (shared with the
CLI and the HTML report); here: one point per variant for the speed-against-error
scatter (its speed-up over PyTorch eager at one device and batch size against its largest
absolute error); and the points no other point beats on both axes (the trade-off front).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from heimdall_studio.core.variant_table import VariantRecord, variant_records, worst_errors


@dataclass(frozen=True)
class ScatterPoint:
    name: str
    max_abs: float
    speedup: float
    passed: bool | None


def settings_text(settings: dict[str, Any]) -> str:
    """The settings a row shows in short: scalars and lists; nested details (the tuning sweep) and
    long explanations stay in the report."""
    parts = []
    for key, value in sorted((settings or {}).items()):
        if isinstance(value, (list, tuple)):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, dict) or len(str(value)) > 40:
            continue
        parts.append(f"{key.replace('_', ' ')}: {value}")
    return "; ".join(parts)


def table_records(variants: list[dict[str, Any]]) -> list[VariantRecord]:
    return variant_records(variants)


def scatter_points(variants: list[dict[str, Any]], device: str, batch_size: int) -> list[ScatterPoint]:
    """One point per measured variant at ``device`` and ``batch_size``."""
    points = []
    for variant in variants:
        ratio = float(((variant.get("speedup_vs_pytorch") or {}).get(device) or {}).get(str(batch_size), math.nan))
        max_abs, _ = worst_errors(variant)
        if variant.get("available", True) and math.isfinite(ratio) and math.isfinite(max_abs):
            points.append(
                ScatterPoint(str(variant.get("name")), max_abs, ratio, (variant.get("parity") or {}).get("passed"))
            )
    return points


def plain_point(report: dict[str, Any], device: str, batch_size: int) -> ScatterPoint | None:
    """The plain export as a point of its own: ONNX Runtime's speed-up and parity error in the run."""
    ratio = ((report.get("benchmark") or {}).get("speedup") or {}).get(device, {}).get(str(batch_size))
    parity = report.get("parity") or {}
    max_abs, _ = worst_errors({"parity": parity})
    if not isinstance(ratio, (int, float)) or not math.isfinite(max_abs):
        return None
    return ScatterPoint("plain export", max_abs, float(ratio), parity.get("passed"))


def trade_off_front(points: list[ScatterPoint]) -> list[ScatterPoint]:
    """The points that no other point beats on both axes (faster and no less accurate, or more
    accurate and no slower), by increasing error."""
    front = [
        p
        for p in points
        if not any(
            (q.speedup >= p.speedup and q.max_abs <= p.max_abs) and (q.speedup > p.speedup or q.max_abs < p.max_abs)
            for q in points
        )
    ]
    return sorted(front, key=lambda p: (p.max_abs, -p.speedup))


def scatter_choices(variants: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """(device, batch size) pairs some variant has a speed-up for, CPU and batch 1 first."""
    pairs = {
        (device, int(batch))
        for v in variants
        for device, by_batch in (v.get("speedup_vs_pytorch") or {}).items()
        for batch in by_batch
    }
    return sorted(pairs, key=lambda p: (p[0] != "cpu", p[0], p[1]))


def best_headline(variants: list[dict[str, Any]]) -> str:
    """The fastest variant that passed its parity criteria, at CPU batch 1 when measured there."""
    choices = scatter_choices(variants)
    if not choices:
        return ""
    device, batch = choices[0]
    passing = [p for p in scatter_points(variants, device, batch) if p.passed]
    if not passing:
        return f"No variant passed its parity criteria ({device.upper()}, batch {batch})."
    best = max(passing, key=lambda p: p.speedup)
    return (
        f"Fastest passing variant: {best.name}, {best.speedup:.2f}× PyTorch ({device.upper()}, batch {batch}), "
        f"max |err| {best.max_abs:.2g}"
    )


def op_count_diff(variant: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """(op type, count before, count after, change) for every op type in either graph, changed first."""
    diff = variant.get("diff") or {}
    before: dict[str, int] = diff.get("op_counts_before") or {}
    after: dict[str, int] = diff.get("op_counts_after") or {}
    rows = [(op, int(before.get(op, 0)), int(after.get(op, 0))) for op in set(before) | set(after)]
    return sorted(((op, b, a, a - b) for op, b, a in rows), key=lambda r: (r[3] == 0, -abs(r[3]), r[0]))
