"""What the Model Explorer graph view shows, computed from a run's report: no Qt, no web page.

- ``node_rows``: one row per ONNX node that per-node parity or op profiling measured, the first
  divergence first, then by worst relative error (or by most time);
- ``overlay_data``: Model Explorer node-data overlays (``model_explorer.node_data_builder``'s
  JSON shape): relative error coloured against ``--node-rtol``, time share on a gradient, and the
  execution provider that ran each node;
- ``explorer_url``: the page URL that opens one ONNX file (or two, side by side in synchronised
  panes) with those overlays and a node selected.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ONNX_ADAPTER = "onnx_adapter"  # model-explorer-onnx's adapter id
ERROR_OVERLAY = "Relative error (max |err| / max |ref|)"
TIME_OVERLAY = "Time share (ONNX Runtime profile)"
PROVIDER_OVERLAY = "Execution provider"
# Colours (legend and overlays agree): ok, near the threshold, diverged.
OK_COLOR, NEAR_COLOR, DIVERGED_COLOR = "#a5d6a7", "#ffe082", "#ef5350"
TIME_LOW_COLOR, TIME_HIGH_COLOR = "#e3f2fd", "#1565c0"
PROVIDER_COLORS = {"CPUExecutionProvider": "#ffcc80", "CUDAExecutionProvider": "#a5d6a7"}
OTHER_PROVIDER_COLOR = "#ce93d8"


@dataclass
class NodeRow:
    onnx_node: str
    op_type: str = ""
    module: str = ""
    source: str = ""
    max_abs: float | None = None
    max_rel: float | None = None
    mean_us: float | None = None
    share: float | None = None
    provider: str = ""
    diverged: bool = False
    first: bool = False  # the first divergence, in topological order

    def details(self) -> list[tuple[str, str]]:
        """(label, text) pairs for the details pane; a number nobody measured reads "—"."""

        def num(value: float | None, fmt: str) -> str:
            return "—" if value is None else format(value, fmt)

        return [
            ("ONNX node", self.onnx_node),
            ("Op type", self.op_type or "—"),
            ("Module", self.module or "—"),
            ("Source", self.source or "—"),
            ("max |err|", num(self.max_abs, ".3g")),
            ("max |err| / max |ref|", num(self.max_rel, ".3g") + ("  (first divergence)" if self.first else "")),
            ("Mean time", "—" if self.mean_us is None else f"{self.mean_us:.1f} µs"),
            ("Share of time", "—" if self.share is None else f"{self.share * 100:.1f} %"),
            ("Provider", self.provider or "—"),
        ]


def node_rows(report: dict[str, Any], order: str = "error") -> list[NodeRow]:
    """The nodes of ``report`` (its ``per_node`` and ``op_profile`` sections merged by ONNX node name).

    ``order="error"``: the first divergence, then worst relative error, then most time;
    ``order="time"``: most time first."""
    per_node = report.get("per_node") or {}
    profile = report.get("op_profile") or {}
    threshold = float(per_node.get("threshold") or 0.0)
    first = (per_node.get("first_divergence") or {}).get("onnx_node", "")
    rows: dict[str, NodeRow] = {}
    for entry in per_node.get("nodes") or []:
        row = rows.setdefault(entry["onnx_node"], NodeRow(entry["onnx_node"]))
        row.op_type, row.module = entry.get("op_type", ""), entry.get("module", "")
        row.max_abs, row.max_rel = _finite(entry.get("max_abs")), _finite(entry.get("max_rel"))
        row.diverged = row.max_rel is not None and threshold > 0 and row.max_rel > threshold
    for entry in profile.get("nodes") or []:
        name = graph_node(entry["onnx_node"])
        row = rows.setdefault(name, NodeRow(name))
        row.op_type = row.op_type or entry.get("op_type", "")
        row.mean_us, row.share = _finite(entry.get("mean_us")), _finite(entry.get("share"))
        row.provider = entry.get("provider", "")
    if first in rows:
        rows[first].first = True
        rows[first].source = (per_node.get("first_divergence") or {}).get("source") or ""
    if order == "time":
        return sorted(rows.values(), key=lambda r: (-(r.share or 0.0), -(r.max_rel or 0.0)))
    return sorted(
        rows.values(),
        key=lambda r: (not r.first, -(r.max_rel if r.max_rel is not None else -1.0), -(r.share or 0.0)),
    )


def first_divergence(report: dict[str, Any]) -> str:
    """The ONNX node name of the first divergence, or ""."""
    return ((report.get("per_node") or {}).get("first_divergence") or {}).get("onnx_node", "")


def overlay_data(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Overlay name → Model Explorer GraphNodeData (as JSON-ready dicts) for what the report holds."""
    overlays: dict[str, dict[str, Any]] = {}
    per_node = report.get("per_node") or {}
    threshold = float(per_node.get("threshold") or 1e-3)
    errors = {n["onnx_node"]: _finite(n.get("max_rel")) for n in per_node.get("nodes") or []}
    errors = {k: v for k, v in errors.items() if v is not None}
    if errors:
        overlays[ERROR_OVERLAY] = {
            "name": ERROR_OVERLAY,
            "results": {node: {"value": value} for node, value in errors.items()},
            # Thresholds are upper bounds: ≤ rtol/10 ok, ≤ rtol near, anything above diverged.
            "thresholds": [
                {"value": threshold / 10, "bgColor": OK_COLOR},
                {"value": threshold, "bgColor": NEAR_COLOR},
                {"value": 1e300, "bgColor": DIVERGED_COLOR},
            ],
        }
    profile = report.get("op_profile") or {}
    shares = {graph_node(n["onnx_node"]): _finite(n.get("share")) for n in profile.get("nodes") or []}
    shares = {k: v * 100 for k, v in shares.items() if v is not None}
    if shares:
        overlays[TIME_OVERLAY] = {
            "name": TIME_OVERLAY,
            "results": {node: {"value": value} for node, value in shares.items()},
            "gradient": [
                {"stop": 0, "bgColor": TIME_LOW_COLOR},
                {"stop": 1, "bgColor": TIME_HIGH_COLOR, "textColor": "#ffffff"},
            ],
        }
        overlays[PROVIDER_OVERLAY] = {
            "name": PROVIDER_OVERLAY,
            "results": {
                graph_node(n["onnx_node"]): {
                    "value": n.get("provider", "?"),
                    "bgColor": provider_color(n.get("provider", "")),
                }
                for n in profile.get("nodes") or []
            },
            "showExpandedSummaryOnGroupNode": True,
        }
    return overlays


def graph_node(profiled: str) -> str:
    """The exported graph's node for a node of ONNX Runtime's optimised graph: ORT names a node it
    fused into another ``fused NAME`` (NAME is the exported node); other names stay as they are."""
    return profiled.removeprefix("fused ")


def provider_color(provider: str) -> str:
    return PROVIDER_COLORS.get(provider, OTHER_PROVIDER_COLOR)


def legend(report: dict[str, Any], overlay: str = "") -> list[tuple[str, str]]:
    """(colour, label) pairs that explain ``overlay`` (every overlay of ``report`` when "")."""
    per_node = report.get("per_node") or {}
    items: list[tuple[str, str]] = []
    if per_node.get("nodes") and overlay in ("", ERROR_OVERLAY):
        rtol = float(per_node.get("threshold") or 1e-3)
        items += [
            (OK_COLOR, f"error ≤ {rtol / 10:g}"),
            (NEAR_COLOR, f"≤ {rtol:g}"),
            (DIVERGED_COLOR, f"> {rtol:g} (diverged)"),
        ]
    profile = report.get("op_profile") or {}
    if profile.get("nodes") and overlay in ("", TIME_OVERLAY):
        items += [(TIME_LOW_COLOR, "least time"), (TIME_HIGH_COLOR, "most time")]
    if profile.get("nodes") and overlay in ("", PROVIDER_OVERLAY):
        for provider in sorted((profile.get("placement") or {}).keys()):
            items.append((provider_color(provider), provider.replace("ExecutionProvider", "")))
    return items


def write_overlays(report: dict[str, Any], folder: Path) -> dict[str, str]:
    """Write each overlay as a node-data JSON file in ``folder``: overlay name → path, in overlay order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for index, (name, data) in enumerate(overlay_data(report).items()):
        path = folder / f"overlay-{index}.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        paths[name] = str(path.resolve())
    return paths


def explorer_url(base: str, models: list[str], node_data: Sequence[str] = (), selected: str = "") -> str:
    """Model Explorer's page for ``models`` (one, or two in synchronised side-by-side panes), with the
    ``node_data`` overlays on the first model and ``selected`` (a node id of the first) selected."""
    target = Path(models[0]).name if models else ""
    width = 1.0 / max(1, len(models))
    panes = [_pane(selected, width, m) for m in models[:1]] + [_pane("", width, m) for m in models[1:]]
    data: dict[str, Any] = {
        "models": [{"url": str(Path(m).resolve()), "adapterId": ONNX_ADAPTER} for m in models],
        "uiState": {"paneStates": panes},
    }
    if node_data:
        data["nodeData"] = list(node_data)
        data["nodeDataTargets"] = [target] * len(node_data)
    if len(models) > 1:
        data["sync"] = {"mode": "match_node_id"}
    return f"{base.rstrip('/')}/?data={quote(json.dumps(data))}&renderer=webgl&show_open_in_new_tab=0"


def selected_node_from_url(url: str) -> str:
    """The node selected in the first pane, read from a Model Explorer page URL ("" when none)."""
    from urllib.parse import parse_qs, urlsplit

    values = parse_qs(urlsplit(url).query).get("data")
    if not values:
        return ""
    try:
        panes = ((json.loads(values[0]).get("uiState") or {}).get("paneStates")) or []
    except (ValueError, AttributeError):
        return ""
    return str(panes[0].get("selectedNodeId") or "") if panes else ""


def _pane(selected: str, width: float, model: str) -> dict[str, Any]:
    """A pane showing ``model``'s main graph (Model Explorer finds it by file name and graph name)."""
    return {
        "deepestExpandedGroupNodeIds": [],
        "selectedNodeId": selected,
        "selectedGraphId": onnx_graph_name(model),
        "selectedCollectionLabel": Path(model).name,
        "widthFraction": width,
    }


def onnx_graph_name(path: str | Path) -> str:
    """The main graph's name in an .onnx file, read from the protobuf wire format: the file is
    skipped through (nodes and weights are never read), so a large model costs no time or memory.
    "" when the file cannot be read as ONNX."""
    try:
        with open(path, "rb") as f:
            graph_end = _find_field(f, 7, _file_size(f))  # ModelProto.graph
            if graph_end is None:
                return ""
            name_end = _find_field(f, 2, graph_end)  # GraphProto.name
            if name_end is None:
                return ""
            return f.read(name_end - f.tell()).decode("utf-8", "replace")
    except (OSError, ValueError):
        return ""


def _file_size(f: Any) -> int:
    f.seek(0, 2)
    size = f.tell()
    f.seek(0)
    return size


def _varint(f: Any) -> int:
    value, shift = 0, 0
    while True:
        byte = f.read(1)
        if not byte:
            raise ValueError("truncated varint")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ValueError("bad varint")


def _find_field(f: Any, number: int, end: int) -> int | None:
    """Skip fields until length-delimited field ``number`` (before ``end``); leave the file at its
    content and return where that content ends."""
    while f.tell() < end:
        key = _varint(f)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _varint(f)
        elif wire == 1:
            f.seek(8, 1)
        elif wire == 5:
            f.seek(4, 1)
        elif wire == 2:
            length = _varint(f)
            if field == number:
                return f.tell() + length
            f.seek(length, 1)
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return None


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
