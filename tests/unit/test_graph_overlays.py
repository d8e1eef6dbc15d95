"""What the Explorer view shows, from a report: node rows, Model Explorer overlays, page URLs (no Qt)."""

from __future__ import annotations

import json

from heimdall_studio.gui import graph_overlays as ov

REPORT = {
    "per_node": {
        "compared": 3,
        "threshold": 1e-3,
        "first_divergence": {
            "onnx_node": "/b/Gemm",
            "op_type": "Gemm",
            "module": "b",
            "source": "net.py:12",
            "max_abs": 0.5,
            "max_rel": 0.05,
        },
        "nodes": [
            {"onnx_node": "/a/Conv", "op_type": "Conv", "module": "a", "max_abs": 1e-7, "max_rel": 1e-6},
            {"onnx_node": "/b/Gemm", "op_type": "Gemm", "module": "b", "max_abs": 0.5, "max_rel": 0.05},
            {"onnx_node": "/c/Gemm", "op_type": "Gemm", "module": "c", "max_abs": 0.9, "max_rel": 0.2},
        ],
    },
    "op_profile": {
        "nodes": [
            {
                "onnx_node": "/a/Conv",
                "op_type": "Conv",
                "provider": "CPUExecutionProvider",
                "mean_us": 90.0,
                "share": 0.9,
            },
            # ONNX Runtime names a node it fused "fused NAME": it is the exported graph's NAME.
            {
                "onnx_node": "fused /b/Gemm",
                "op_type": "FusedGemm",
                "provider": "CPUExecutionProvider",
                "mean_us": 10.0,
                "share": 0.1,
            },
        ],
        "by_op_type": [],
        "placement": {"CPUExecutionProvider": 2},
    },
}


def test_the_first_divergence_leads_the_table_even_when_a_later_node_is_worse():
    rows = ov.node_rows(REPORT)
    assert [r.onnx_node for r in rows] == ["/b/Gemm", "/c/Gemm", "/a/Conv"]
    assert rows[0].first and rows[0].diverged and rows[1].diverged and not rows[2].diverged
    assert [r.onnx_node for r in ov.node_rows(REPORT, "time")][:2] == ["/a/Conv", "/b/Gemm"]
    details = dict(rows[0].details())
    assert details["Module"] == "b" and details["Source"] == "net.py:12"
    assert details["max |err| / max |ref|"] == "0.05  (first divergence)"
    assert details["Share of time"] == "10.0 %" and details["Provider"] == "CPUExecutionProvider"
    assert dict(rows[1].details())["Mean time"] == "—"  # measured by per-node parity only


def test_overlays_colour_error_against_the_node_rtol_time_on_a_gradient_and_the_provider():
    overlays = ov.overlay_data(REPORT)
    assert list(overlays) == [ov.ERROR_OVERLAY, ov.TIME_OVERLAY, ov.PROVIDER_OVERLAY]
    error = overlays[ov.ERROR_OVERLAY]
    assert error["results"]["/b/Gemm"] == {"value": 0.05}
    assert [t["value"] for t in error["thresholds"]][:2] == [1e-4, 1e-3]
    assert error["thresholds"][-1]["bgColor"] == ov.DIVERGED_COLOR
    assert overlays[ov.TIME_OVERLAY]["results"]["/a/Conv"]["value"] == 90.0
    assert len(overlays[ov.TIME_OVERLAY]["gradient"]) == 2
    assert overlays[ov.PROVIDER_OVERLAY]["results"]["/a/Conv"]["value"] == "CPUExecutionProvider"
    assert set(overlays[ov.TIME_OVERLAY]["results"]) == {"/a/Conv", "/b/Gemm"}
    labels = [label for _color, label in ov.legend(REPORT)]
    assert "> 0.001 (diverged)" in labels and "CPU" in labels
    assert [label for _color, label in ov.legend(REPORT, ov.PROVIDER_OVERLAY)] == ["CPU"]
    assert ov.overlay_data({}) == {} and ov.node_rows({}) == []


def test_page_urls_carry_the_models_overlays_selection_and_sync(tmp_path):
    written = ov.write_overlays(REPORT, tmp_path / "overlays")
    assert list(written) == [ov.ERROR_OVERLAY, ov.TIME_OVERLAY, ov.PROVIDER_OVERLAY]
    paths = list(written.values())
    assert json.loads(open(paths[0]).read())["name"] == ov.ERROR_OVERLAY
    one = tmp_path / "a.onnx"
    url = ov.explorer_url("http://127.0.0.1:5000", [str(one)], paths, "/b/Gemm")
    assert url.startswith("http://127.0.0.1:5000/?data=")
    assert ov.selected_node_from_url(url) == "/b/Gemm"
    both = ov.explorer_url("http://127.0.0.1:5000/", [str(one), str(tmp_path / "b.onnx")], paths)
    from urllib.parse import parse_qs, urlsplit

    data = json.loads(parse_qs(urlsplit(both).query)["data"][0])
    assert [m["adapterId"] for m in data["models"]] == [ov.ONNX_ADAPTER] * 2
    assert data["sync"] == {"mode": "match_node_id"} and len(data["uiState"]["paneStates"]) == 2
    assert data["nodeDataTargets"] == ["a.onnx"] * 3
    assert ov.selected_node_from_url("http://127.0.0.1:5000/?data=not-json") == ""


def test_the_graph_name_is_read_without_loading_the_model(tiny_export, tmp_path):
    import onnx

    _, export = tiny_export
    assert ov.onnx_graph_name(export.onnx_path) == onnx.load(str(export.onnx_path)).graph.name != ""
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff" * 64)
    assert ov.onnx_graph_name(junk) == "" and ov.onnx_graph_name(tmp_path / "missing.onnx") == ""
