"""The comparison of variants as rows: variant × device × batch with its accuracy cost.

Shared by the CLI summary and the HTML report.
"""

from __future__ import annotations

from typing import Any

COLUMNS = ("variant", "device", "batch", "p50 ms", "× PyTorch", "× plain", "size MB", "max abs", "mean abs", "parity")


def variant_rows(report: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per variant, device and batch (one row saying why for an unavailable variant)."""
    rows: list[tuple[str, ...]] = []
    for variant in report.get("variants") or []:
        name = str(variant.get("name", ""))
        if not variant.get("available"):
            rows.append((name, "", "", "", "", "", "", "", "", f"unavailable: {variant.get('reason', '')}"))
            continue
        outputs = (variant.get("parity") or {}).get("outputs") or {}
        max_abs = _worst(outputs, "max_abs")
        mean_abs = _worst(outputs, "mean_abs")
        passed = "passed" if (variant.get("parity") or {}).get("passed") else "FAILED"
        size = f"{variant.get('size_bytes', 0) / 1e6:.2f}"
        measured = [e for e in variant.get("latency") or [] if e.get("available")]
        for e in measured:
            device, batch = str(e["device"]), str(e["batch_size"])
            rows.append(
                (
                    name,
                    device,
                    batch,
                    _num(e.get("p50_ms")),
                    _ratio((variant.get("speedup_vs_pytorch") or {}).get(device, {}).get(batch)),
                    _ratio((variant.get("speedup_vs_plain") or {}).get(device, {}).get(batch)),
                    size,
                    _num(max_abs),
                    _num(mean_abs),
                    passed,
                )
            )
        if not measured:
            rows.append((name, "", "", "", "", "", size, _num(max_abs), _num(mean_abs), passed))
    return rows


def _worst(outputs: dict[str, Any], key: str) -> float | None:
    values = [o.get(key) for o in outputs.values() if isinstance(o.get(key), (int, float))]
    return max(values) if values else None


def _ratio(value: Any) -> str:
    return f"{value:.2f}×" if isinstance(value, (int, float)) else ""


def _num(value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{value:.3g}"
    return ""
