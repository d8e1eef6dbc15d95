"""The Variants view's figures: rows, scatter points, the trade-off front, the headline."""

from __future__ import annotations

import math

from heimdall_studio.gui.variant_figures import (
    ScatterPoint,
    best_headline,
    op_count_diff,
    scatter_choices,
    scatter_points,
    settings_text,
    table_records,
    trade_off_front,
)


def _variant(name, speedup_b1, max_abs, passed=True, available=True, reason=""):
    return {
        "name": name,
        "path": f"/x/model.{name}.onnx",
        "available": available,
        "reason": reason,
        "size_bytes": 1000,
        "settings": {"threads": 2, "op_types": ["MatMul", "Gemm"]},
        "parity": {"passed": passed, "outputs": {"a": {"max_abs": max_abs, "mean_abs": max_abs / 10}}},
        "latency": [
            {"runtime": "onnxruntime", "device": "cpu", "batch_size": 1, "p50_ms": 10 / speedup_b1, "available": True}
        ]
        if available
        else [],
        "speedup_vs_pytorch": {"cpu": {"1": speedup_b1}} if available else {},
        "speedup_vs_plain": {"cpu": {"1": speedup_b1 / 2}} if available else {},
        "diff": {"op_counts_before": {"Conv": 4, "MatMul": 2}, "op_counts_after": {"Conv": 4, "MatMulInteger": 2}},
    }


def test_rows_one_per_measured_entry_and_one_for_unavailable():
    variants = [_variant("int8-dynamic", 4.0, 2e-2), _variant("fp16", 0, 0, available=False, reason="no CUDA")]
    rows = table_records(variants)
    assert [(r.name, r.device, r.batch_size) for r in rows] == [("int8-dynamic", "cpu", 1), ("fp16", "", None)]
    assert rows[0].vs_pytorch == 4.0 and rows[0].vs_plain == 2.0 and rows[0].max_abs == 2e-2
    assert rows[1].reason == "no CUDA" and math.isnan(rows[1].p50_ms) and rows[1].passed is None
    text = settings_text({**variants[0]["settings"], "tuning": {"sweep": []}, "portability": "x" * 80})
    assert text == "op types: MatMul, Gemm; threads: 2"


def test_front_keeps_only_points_nobody_beats_on_both_axes():
    points = [
        ScatterPoint("plain", 1e-6, 2.0, True),
        ScatterPoint("ort-optimized", 1e-6, 2.4, True),  # beats plain: as accurate, faster
        ScatterPoint("int8-dynamic", 2e-2, 4.0, True),
        ScatterPoint("int8-static", 5e-1, 1.0, False),  # slower and less accurate than int8-dynamic
    ]
    assert [p.name for p in trade_off_front(points)] == ["ort-optimized", "int8-dynamic"]


def test_headline_names_fastest_passing_variant_not_a_failed_faster_one():
    variants = [_variant("ort-optimized", 2.4, 1e-6), _variant("int8-static", 6.0, 0.7, passed=False)]
    assert best_headline(variants).startswith("Fastest passing variant: ort-optimized, 2.40×")
    assert {p.name for p in scatter_points(variants, "cpu", 1)} == {"ort-optimized", "int8-static"}
    assert "No variant passed" in best_headline([_variant("int8-static", 6.0, 0.7, passed=False)])


def test_choices_and_op_diff():
    v = _variant("int8-dynamic", 4.0, 2e-2)
    v["speedup_vs_pytorch"]["cuda"] = {"8": 3.0}
    v["speedup_vs_pytorch"]["cpu"]["8"] = 3.0
    assert scatter_choices([v]) == [("cpu", 1), ("cpu", 8), ("cuda", 8)]
    assert op_count_diff(v)[:2] == [("MatMul", 2, 0, -2), ("MatMulInteger", 0, 2, 2)]
    assert op_count_diff(v)[2] == ("Conv", 4, 4, 0)
