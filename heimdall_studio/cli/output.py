"""Human output for the CLI: progress while steps run, a summary at the end.

It consumes the same core events as the GUI.
"""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from heimdall_studio.core import events as ev


class ConsoleRenderer:
    def __init__(self, *, debug: bool = False, quiet: bool = False):
        interactive = sys.stderr.isatty()
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)
        self.debug = debug
        self.quiet = quiet
        self._progress = Progress(
            TextColumn("  {task.description}"),
            BarColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            console=self.err,
            transient=True,
            disable=quiet or not interactive,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> ConsoleRenderer:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def handle(self, event: ev.Event) -> None:
        if isinstance(event, ev.StepStarted):
            self._tasks[event.step] = self._progress.add_task(event.title or event.step, total=None, note="")
        elif isinstance(event, ev.Progress):
            task = self._tasks.get(event.step)
            if task is not None:
                self._progress.update(task, completed=event.done, total=event.total or None, note=event.message[:60])
        elif isinstance(event, ev.Log):
            if event.level in ("warning", "error") or (self.debug and event.level in ("info", "debug")):
                style = {"warning": "yellow", "error": "red"}.get(event.level, "dim")
                self._print(f"    [{style}]{event.level}: {event.message}[/]")
        elif isinstance(event, ev.StepFinished):
            self._end_task(event.step)
            mark = "[green]✓[/]" if event.passed else "[red]✗[/]"
            self._print(f"{mark} {event.step:<10} {event.seconds:7.2f} s  {_one_line(event.step, event.result)}")
        elif isinstance(event, ev.StepSkipped):
            self._end_task(event.step)
            self._print(f"[dim]- {event.step:<10}    skipped: {event.reason}[/]")
        elif isinstance(event, ev.StepFailed):
            self._end_task(event.step)
            self.err.print(f"[red]✗ {event.step}: {escape(event.message)}[/]")
            if event.hint:
                self.err.print(f"  {escape(event.hint)}")
            if self.debug and event.details:
                self.err.print(event.details, markup=False)

    def _end_task(self, step: str) -> None:
        task = self._tasks.pop(step, None)
        if task is not None:
            self._progress.remove_task(task)

    def _print(self, text: str) -> None:
        if not self.quiet:
            self.out.print(text)

    def summary(self, finished: ev.PipelineFinished) -> None:
        report = finished.report
        if not self.quiet:
            from heimdall_studio.cli.variant_output import variant_table

            for table in (_parity_table(report), _latency_table(report), variant_table(report)):
                if table is not None:
                    self.out.print(table)
            for line in _unavailable_lines(report):
                self.out.print(f"[dim]{escape(line)}[/]")
            for line in inspection_lines(report):
                self.out.print(escape(line))
        onnx = report.get("onnx") or {}
        if onnx.get("path"):
            self.out.print(f"ONNX file: {onnx['path']}")
        for path in report.get("report_paths", []):
            self.out.print(f"Report:    {path}")
        for path in report.get("html_paths", []):
            self.out.print(f"HTML:      {path}")
        push = report.get("push") or {}
        if push.get("version"):
            self.out.print(
                f"Registered: {push.get('model_name')} version {push.get('version')} "
                f"({push.get('s3_uri') or push.get('local_uri')})"
            )
        promoted = promotion_line(push)
        if promoted:
            self.out.print(promoted)
        for error in report.get("errors", []):
            if error.get("step") == "report":  # after the last step: no StepFailed said it
                self.err.print(f"[red]✗ report: {escape(error.get('message', ''))}[/]")
                if error.get("hint"):
                    self.err.print(f"  {escape(error['hint'])}")
        colour = {"passed": "green", "cancelled": "yellow"}.get(finished.status, "red")
        self.out.print(f"[{colour}]{finished.status.replace('_', ' ')}[/] (exit code {finished.exit_code})")


def _one_line(step: str, result: dict[str, Any]) -> str:
    if step == ev.LOAD:
        inputs = ", ".join(f"{i['name']}{tuple(i['shape'])}" for i in result.get("inputs", []))
        params = result.get("parameters")
        size = f", {params / 1e6:.1f} M parameters" if params else ""
        return f"{result.get('architecture') or result.get('kind')}{size}; inputs {inputs}"
    if step == ev.EXPORT:
        return f"{result.get('exporter')} opset {result.get('opset')} → {result.get('onnx_path')}"
    if step == ev.VALIDATE:
        if not result.get("passed", True):
            return "; ".join(result.get("errors", []))[:200]
        return (
            f"opsets {format_opsets(result.get('opsets') or {})}, IR {result.get('ir_version')}, "
            f"{result.get('node_count')} nodes"
        )
    if step == ev.PARITY:
        worst = max(
            (
                o.get("max_abs", 0)
                for o in result.get("outputs", {}).values()
                if isinstance(o.get("max_abs"), (int, float))
            ),
            default=0.0,
        )
        return (
            f"worst max abs error {worst:.3g}"
            + ("" if result.get("passed") else " — " + "; ".join(result.get("failures", []))[:200])
            + "".join(_runtime_parity_note(name, data) for name, data in (result.get("runtimes") or {}).items())
        )
    if step == ev.BENCHMARK:
        ratios = [
            f"{device} batch {batch}: {ratio:.2f}×"
            for device, by_batch in (result.get("speedup") or {}).items()
            for batch, ratio in by_batch.items()
            if isinstance(ratio, (int, float))
        ]
        line = ("ONNX Runtime speed-up over PyTorch (p50): " + ", ".join(ratios)) if ratios else ""
        for runtime, by_device in (result.get("speedup_by_runtime") or {}).items():
            if runtime == "onnxruntime":
                continue
            more = [
                f"{device} batch {batch}: {ratio:.2f}×"
                for device, by_batch in by_device.items()
                for batch, ratio in by_batch.items()
                if isinstance(ratio, (int, float))
            ]
            if more:
                line += ("; " if line else "") + f"{RUNTIME_LABELS.get(runtime, runtime)}: " + ", ".join(more)
        return line
    if step == ev.METADATA:
        return f"sha256 {str(result.get('sha256', ''))[:16]}…, {result.get('size_bytes', 0) / 1e6:.1f} MB"
    if step == ev.PUSH:
        return f"{result.get('model_name')} v{result.get('version')}"
    if step == ev.PER_NODE:
        first = result.get("first_divergence")
        where = f"first divergence in {first.get('module')}" if first else "no divergence"
        return f"{result.get('compared')} module outputs compared, {where}"
    if step == ev.OP_PROFILE:
        return f"{len(result.get('nodes', []))} nodes on {', '.join(result.get('placement', {}))}"
    if step == ev.VARIANTS:
        variants = result.get("variants") or []
        return ", ".join(
            f"{v.get('name')} "
            + ("unavailable" if not v.get("available") else "passed" if v["parity"].get("passed") else "FAILED parity")
            for v in variants
        )
    return ""


RUNTIME_LABELS = {"pytorch": "PyTorch", "onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "tensorrt": "TensorRT"}


def _runtime_parity_note(runtime: str, data: dict[str, Any]) -> str:
    """`; OpenVINO (bf16) passed, max abs 2.1e-03` for parity.runtimes.NAME."""
    label = RUNTIME_LABELS.get(runtime, runtime)
    if not data.get("available", True):
        return f"; {label} not compared: {data.get('reason', '')}"
    worst = max(
        (o["max_abs"] for o in (data.get("outputs") or {}).values() if isinstance(o.get("max_abs"), (int, float))),
        default=0.0,
    )
    verdict = "passed" if data.get("passed") else "FAILED"
    return f"; {label} ({data.get('precision', '?')}) {verdict}, max abs {worst:.3g}"


def format_opsets(opsets: dict[str, Any]) -> str:
    """``{'': 18, 'com.microsoft': 1}`` → ``ai.onnx 18, com.microsoft 1`` (the empty domain is ai.onnx)."""
    if not opsets:
        return "none"
    return ", ".join(f"{domain or 'ai.onnx'} {version}" for domain, version in opsets.items())


def promotion_line(push: dict[str, Any]) -> str:
    """Where the pushed version stands after the push: its stage and aliases ("" when neither)."""
    stage = push.get("stage") if push.get("stage") not in (None, "", "None") else ""
    aliases = ", ".join(f"@{a}" for a in push.get("aliases") or [])
    if not push.get("version") or not (stage or aliases):
        return ""
    where = " ".join(p for p in (stage, f"(alias {aliases})" if aliases else "") if p)
    return f"Promoted:   {push.get('model_name')} version {push.get('version')} → {where}"


def _parity_table(report: dict[str, Any]) -> Table | None:
    parity = report.get("parity")
    if not parity or not parity.get("outputs"):
        return None
    table = Table(title="Parity: PyTorch vs ONNX Runtime", title_justify="left")
    for col in ("output", "max abs", "mean abs", "max rel", "p99 abs", "result"):
        table.add_column(col, justify="left" if col in ("output", "result") else "right")
    for name, row in parity["outputs"].items():
        table.add_row(
            name,
            *(_num(row.get(k)) for k in ("max_abs", "mean_abs", "max_rel", "p99_abs")),
            "[green]pass[/]" if row.get("passed") else "[red]FAIL[/]",
        )
    for runtime, data in (parity.get("runtimes") or {}).items():
        for name, row in (data.get("outputs") or {}).items():
            table.add_row(
                f"{name} ({RUNTIME_LABELS.get(runtime, runtime)} {data.get('precision', '')})",
                *(_num(row.get(k)) for k in ("max_abs", "mean_abs", "max_rel", "p99_abs")),
                "[green]pass[/]" if row.get("passed") else "[red]FAIL[/]",
            )
    return table


def _latency_table(report: dict[str, Any]) -> Table | None:
    entries = report.get("latency") or []
    if not entries:
        return None
    table = Table(title="Latency", title_justify="left")
    for col in ("runtime", "device", "batch", "p50 ms", "p90 ms", "p99 ms", "per s", "× PyTorch"):
        table.add_column(col, justify="left" if col in ("runtime", "device") else "right")
    available = [e for e in entries if e.get("available", True)]
    if not available:
        return None
    speedups = (report.get("benchmark") or {}).get("speedup_by_runtime") or {}
    for e in available:
        ratio = speedups.get(e["runtime"], {}).get(e["device"], {}).get(str(e.get("batch_size")))
        table.add_row(
            e["runtime"] + (f" ({e['precision']})" if e.get("precision") else ""),
            e["device"],
            str(e.get("batch_size")),
            _num(e.get("p50_ms")),
            _num(e.get("p90_ms")),
            _num(e.get("p99_ms")),
            _num(e.get("throughput_per_s")),
            f"{ratio:.2f}×" if isinstance(ratio, (int, float)) else "",
        )
    return table


def _unavailable_lines(report: dict[str, Any]) -> list[str]:
    """One line per runtime and device that could not be measured, with the reason."""
    lines: dict[tuple[str, str], str] = {}
    for e in report.get("latency") or []:
        if not e.get("available", True):
            lines.setdefault((e["runtime"], e["device"]), f"{e['runtime']} on {e['device']}: {e.get('reason', '')}")
    return list(lines.values())


def _num(value: Any) -> str:
    if isinstance(value, (int, float)):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value) if value is not None else ""


def inspection_lines(report: dict[str, Any]) -> list[str]:
    """The per-node first divergence and the five op types that take the most time."""
    lines = []
    per_node = report.get("per_node") or {}
    if per_node:
        first = per_node.get("first_divergence")
        if first:
            lines.append(
                f"First divergence (node rtol {per_node.get('threshold'):g}): module {first['module']}, "
                f"ONNX node {first['onnx_node']} ({first['op_type']}), max abs {_num(first['max_abs'])}, "
                f"max rel {_num(first['max_rel'])}"
            )
            if first.get("source"):
                lines.append(f"  source: {first['source']}")
            if per_node.get("outputs_passed"):
                lines.append("  The final outputs still pass parity: this divergence does not reach them.")
        else:
            lines.append(
                f"Per-node parity: {per_node.get('compared', 0)} module outputs within node rtol "
                f"{per_node.get('threshold'):g}; no divergence."
            )
    profile = report.get("op_profile") or {}
    if profile.get("by_op_type"):
        top = ", ".join(f"{t['op_type']} {t['share'] * 100:.1f}%" for t in profile["by_op_type"][:5])
        placement = ", ".join(f"{p} {n}" for p, n in profile.get("placement", {}).items())
        lines.append(f"Op time ({profile.get('device')}): {top}; nodes per provider: {placement}")
        if profile.get("cpu_fallback"):
            lines.append(
                f"  {len(profile['cpu_fallback'])} nodes fell back to CPUExecutionProvider in the CUDA session."
            )
    return lines
