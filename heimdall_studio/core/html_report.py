"""One self-contained HTML page of a run's report, for a colleague without Heimdall Studio.

No scripts, no external styles, fonts or images: the style sheet is inline and every figure is an
inline SVG drawn here. Every text from the report is escaped. ``render_html`` takes the JSON
report (already masked and JSON-safe) and returns the page.
"""

from __future__ import annotations

import html
import math
from typing import Any

TOP = 10  # rows in the "top nodes" tables

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:70em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ddd;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.pass{color:#16702e;font-weight:600}
.fail{color:#b3261e;font-weight:600}.note{background:#fff6d6;padding:.5em .8em;border-left:4px solid #e0b000}
code{background:#f3f3f3;padding:0 .2em}svg{display:block;margin:.4em 0}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, (int, float)):
        return f"{value:.3g}" if isinstance(value, float) else f"{value:,}"
    return _e(value)


def _verdict(passed: Any) -> str:
    return '<span class="pass">pass</span>' if passed else '<span class="fail">fail</span>'


def _table(headers: list[str], rows: list[list[str]], left: int = 1) -> str:
    head = "".join(f'<th class="l">{_e(h)}</th>' if i < left else f"<th>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="l">{c}</td>' if i < left else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def svg_bars(labels: list[str], values: list[float], *, width: int = 640, bar: int = 18, unit: str = "") -> str:
    """Horizontal bars, one per label, scaled to the largest value."""
    finite = [v if isinstance(v, (int, float)) and math.isfinite(v) else 0.0 for v in values]
    top = max(finite, default=0.0) or 1.0
    label_w, height = 220, bar * len(labels) + 4
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for i, (label, value) in enumerate(zip(labels, finite, strict=True)):
        y = i * bar + 2
        w = max(1.0, (width - label_w - 90) * value / top)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar - 5}" text-anchor="end" font-size="12">{_e(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar - 4}" fill="#4a7fc1"/>'
            f'<text x="{label_w + w + 4:.1f}" y="{y + bar - 5}" font-size="12">{value:.3g}{_e(unit)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(
    edges: list[float], counts: list[int], *, width: int = 640, height: int = 140, mark: float | None = None
) -> str:
    """Counts of log-spaced bins as columns, the lowest and highest edges labelled; ``mark`` draws a
    vertical line at that value (the pass line of a ratio histogram)."""
    if not counts:
        return "<p>No element differed.</p>"
    top = max(counts) or 1
    n, plot_h = len(counts), height - 22
    col = (width - 20) / n
    parts = [f'<svg width="{width}" height="{height}" role="img">']
    for i, count in enumerate(counts):
        h = plot_h * math.log1p(count) / math.log1p(top)
        parts.append(
            f'<rect x="{10 + i * col:.1f}" y="{plot_h - h:.1f}" width="{max(col - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#7a5cc1"><title>({edges[i]:.2g}, {edges[i + 1]:.2g}]: '
            f"{count}</title></rect>"
        )
    if mark is not None and edges[0] < mark < edges[-1]:
        x = 10 + (width - 20) * (math.log10(mark) - math.log10(edges[0])) / (
            math.log10(edges[-1]) - math.log10(edges[0])
        )
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{plot_h}" stroke="#b3261e" stroke-dasharray="4 3"/>')
    parts.append(
        f'<text x="10" y="{height - 6}" font-size="11">{edges[0]:.2g}</text>'
        f'<text x="{width - 10}" y="{height - 6}" font-size="11" text-anchor="end">{edges[-1]:.2g}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _summary(report: dict[str, Any]) -> str:
    onnx = report.get("onnx") or {}
    source = report.get("source") or {}
    rows = [
        ["status", f"{_e(report.get('status', ''))} (exit code {_e(report.get('exit_code', ''))})"],
        ["source", _e(source.get("path", ""))],
        ["architecture", _e(source.get("architecture", ""))],
        ["ONNX file", _e(onnx.get("path", ""))],
        ["sha256", f"<code>{_e(onnx.get('sha256', ''))}</code>"],
        ["opset", _e(onnx.get("opset", ""))],
        ["created", _e(report.get("created_at", ""))],
        ["tool", _e(report.get("tool", ""))],
    ]
    return "<h2>Summary</h2>" + _table(["", ""], rows, left=2)


def _validation(report: dict[str, Any]) -> str:
    validation = report.get("validation")
    if not validation:
        return ""
    errors = "".join(f"<li>{_e(e)}</li>" for e in validation.get("errors", []))
    return (
        f"<h2>Validation</h2><p>{_verdict(validation.get('passed', True))} — opsets "
        f"{_e(validation.get('opsets', ''))}, IR {_e(validation.get('ir_version', ''))}, "
        f"{_e(validation.get('node_count', ''))} nodes</p>" + (f"<ul>{errors}</ul>" if errors else "")
    )


def _parity(report: dict[str, Any]) -> str:
    parity = report.get("parity")
    if not parity:
        return ""
    parts = [
        f"<h2>Parity</h2><p>{_verdict(parity.get('passed'))} — {_e(parity.get('reference', ''))} against "
        f"{_e(parity.get('candidate', ''))}, {_e(parity.get('batches', ''))} batches</p>"
    ]
    for failure in parity.get("failures", []):
        parts.append(f'<p class="note">{_e(failure)}</p>')
    for runtime, data in (parity.get("runtimes") or {}).items():
        parts.append(_runtime_parity(runtime, data))
    for name, out in (parity.get("outputs") or {}).items():
        advice = out.get("advice") or {}
        tol = out.get("tolerance") or {}
        parts.append(f"<h3>{_e(name)} {_verdict(out.get('passed'))}</h3>")
        parts.append(
            _table(
                [
                    "max abs",
                    "mean abs",
                    "max rel",
                    "p99 abs",
                    "atol",
                    "rtol",
                    "advised atol",
                    "advised rtol",
                    "p99.9 abs",
                ],
                [
                    [_num(out.get(k)) for k in ("max_abs", "mean_abs", "max_rel", "p99_abs")]
                    + [
                        _num(tol.get("atol")),
                        _num(tol.get("rtol")),
                        _num(advice.get("atol")),
                        _num(advice.get("rtol")),
                        _num(advice.get("p999_abs")),
                    ]
                ],
                left=0,
            )
        )
        hist = out.get("histogram") or {}
        if hist.get("ratio_counts"):
            parts.append("<p>|err| / (atol + rtol·|ref|), log bins; the dashed line is the pass line (1):</p>")
            parts.append(svg_histogram(hist["ratio_edges"], hist["ratio_counts"], mark=1.0))
        if hist.get("abs_counts"):
            parts.append(f"<p>|err|, log bins ({_num(hist.get('exact', 0))} elements exact):</p>")
            parts.append(svg_histogram(hist["abs_edges"], hist["abs_counts"]))
    return "".join(parts)


def _runtime_parity(runtime: str, data: dict[str, Any]) -> str:
    """parity.runtimes.NAME: another runtime (OpenVINO) against the same PyTorch reference."""
    if not data.get("available", True):
        return f"<h3>{_e(runtime)}: not compared</h3><p>{_e(data.get('reason', ''))}</p>"
    tol = (data.get("criteria") or {}).get("default") or {}
    rows = [
        [_e(name)] + [_num(out.get(k)) for k in ("max_abs", "mean_abs", "max_rel")] + [_verdict(out.get("passed"))]
        for name, out in (data.get("outputs") or {}).items()
    ]
    return (
        f"<h3>{_e(runtime)} ({_e(data.get('precision', ''))}) {_verdict(data.get('passed'))}</h3>"
        f"<p>criteria: atol {_num(tol.get('atol'))}, rtol {_num(tol.get('rtol'))}, mean_atol "
        f"{_num(tol.get('mean_atol'))}</p>" + _table(["output", "max abs", "mean abs", "max rel", "result"], rows)
    )


def _latency(report: dict[str, Any]) -> str:
    entries = [e for e in report.get("latency") or [] if e.get("available", True) and "p50_ms" in e]
    if not entries:
        return ""
    labels = [
        f"{e['runtime']}{' ' + e['precision'] if e.get('precision') else ''} {e['device']} b{e.get('batch_size', '')}"
        for e in entries
    ]
    speedups = (report.get("benchmark") or {}).get("speedup_by_runtime") or {}

    def ratio(e: dict[str, Any]) -> str:
        value = speedups.get(e["runtime"], {}).get(e["device"], {}).get(str(e.get("batch_size")))
        return f"{value:.2f}×" if isinstance(value, (int, float)) else ""

    rows = [
        [_e(label), _num(e.get("p50_ms")), _num(e.get("p90_ms")), _num(e.get("p99_ms")), ratio(e)]
        for label, e in zip(labels, entries, strict=True)
    ]
    return (
        "<h2>Latency</h2>"
        + _table(["runtime / device / batch", "p50 ms", "p90 ms", "p99 ms", "speed-up vs PyTorch (p50)"], rows)
        + "<p>p50 (ms):</p>"
        + svg_bars(labels, [e.get("p50_ms") for e in entries], unit=" ms")
    )


def _per_node(report: dict[str, Any]) -> str:
    per_node = report.get("per_node")
    if not per_node:
        return ""
    first = per_node.get("first_divergence")
    parts = ["<h2>Per-node parity</h2>"]
    if first:
        parts.append(
            f'<p class="note">First divergence (node rtol {_num(per_node.get("threshold"))}): module '
            f"<code>{_e(first.get('module'))}</code>, ONNX node <code>{_e(first.get('onnx_node'))}</code> "
            f"({_e(first.get('op_type'))}), max abs {_num(first.get('max_abs'))}, max rel "
            f"{_num(first.get('max_rel'))}"
            + (f"<br>source: <code>{_e(first['source'])}</code>" if first.get("source") else "")
            + "</p>"
        )
        if per_node.get("outputs_passed"):
            parts.append("<p>The final outputs still pass parity: this divergence does not reach them.</p>")
    else:
        parts.append(f"<p>{_num(per_node.get('compared', 0))} module outputs compared; no divergence.</p>")
    worst = sorted(
        per_node.get("nodes") or [],
        key=lambda n: -(n.get("max_rel") if isinstance(n.get("max_rel"), (int, float)) else 0),
    )
    rows = [
        [
            f"<code>{_e(n.get('module'))}</code>",
            _e(n.get("onnx_node")),
            _e(n.get("op_type")),
            _num(n.get("max_abs")),
            _num(n.get("max_rel")),
        ]
        for n in worst[:TOP]
    ]
    parts.append(
        "<h3>Top nodes by error</h3>" + _table(["module", "ONNX node", "op type", "max abs", "max rel"], rows, left=3)
    )
    return "".join(parts)


def _op_profile(report: dict[str, Any]) -> str:
    profile = report.get("op_profile")
    if not profile:
        return ""
    types = (profile.get("by_op_type") or [])[:TOP]
    nodes = (profile.get("nodes") or [])[:TOP]
    placement = ", ".join(f"{_e(p)}: {_num(n)}" for p, n in (profile.get("placement") or {}).items())
    parts = [
        f"<h2>Where the time goes (ONNX Runtime, {_e(profile.get('device', ''))})</h2>",
        f"<p>Nodes per execution provider: {placement}</p>",
    ]
    if profile.get("cpu_fallback"):
        parts.append(
            f'<p class="note">{len(profile["cpu_fallback"])} nodes fell back to CPUExecutionProvider '
            "in the CUDA session.</p>"
        )
    parts.append(
        "<h3>By op type (share of node time)</h3>"
        + svg_bars([t["op_type"] for t in types], [100 * t["share"] for t in types], unit=" %")
    )
    rows = [
        [
            _e(n.get("onnx_node")),
            _e(n.get("op_type")),
            _e(n.get("provider")),
            _num(n.get("mean_us")),
            f"{100 * n.get('share', 0):.1f} %",
        ]
        for n in nodes
    ]
    parts.append(
        "<h3>Top nodes by time</h3>" + _table(["ONNX node", "op type", "provider", "mean µs", "share"], rows, left=3)
    )
    return "".join(parts)


def _variants(report: dict[str, Any]) -> str:
    from heimdall_studio.core.variant_table import COLUMNS, variant_rows

    rows = variant_rows(report)
    if not rows:
        return ""
    return (
        "<h2>Variants</h2><p>Speed-up: the other runner's p50 / the variant's p50 in the same run; errors "
        "against PyTorch, under each variant's own criteria.</p>"
        + _table(list(COLUMNS), [[_e(c) for c in row] for row in rows], left=3)
    )


def render_html(report: dict[str, Any]) -> str:
    """The page for ``report``: summary, validation, parity with histograms, latency, per-node, op time."""
    title = f"Heimdall Studio report — {(report.get('source') or {}).get('path', '')}"
    body = "".join(
        section(report) for section in (_summary, _validation, _parity, _latency, _variants, _per_node, _op_profile)
    )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{_e(title)}</h1>{body}</body></html>\n"
    )
