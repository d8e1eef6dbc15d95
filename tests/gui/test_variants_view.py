"""The Variants view after a real run with two variants ticked in Options: the table lists each
variant per batch size with its speed-ups and error, the scatter has one point per variant, the
selected variant's operator counts show what quantisation changed, and Compare puts the variant
beside the plain export in the Explorer view."""

from __future__ import annotations

from pathlib import Path

from tests.gui.conftest import TINY_CLASS, quick_options, screenshot, wait_for_run


def test_variants_table_scatter_diff_and_compare(window, qtbot, tiny_checkpoint):
    window.resize(1500, 1000)
    window.source_panel.model_class.setText(TINY_CLASS)
    window.open_source(str(tiny_checkpoint))
    wait_for_run(qtbot, window)
    quick_options(window)
    window.options.iterations.setValue(10)
    window.options.variants["ort-optimized"].setChecked(True)
    window.options.variants["int8-dynamic"].setChecked(True)
    assert "variants" in window.options.with_inspection(("load", "export", "benchmark", "metadata"))
    window.run_pipeline()
    wait_for_run(qtbot, window, timeout_ms=300000)
    report = window.run_model.report
    assert report.get("status") == "passed", report.get("errors")
    assert [v["name"] for v in report["variants"]] == ["ort-optimized", "int8-dynamic"]

    row = window.pipeline.rows["variants"]
    assert row.state_name == "passed" and row.name.isVisible() and "2 made" in row.result.text()
    assert not window.pipeline.rows["per_node"].name.isVisible()  # not asked for: no row

    view = window.variants
    window.docks["Variants"].raise_()
    qtbot.waitUntil(lambda: view.table.rowCount() == 4, timeout=10000)  # 2 variants × batch 1, 4
    rows = [[view.table.cell_text(r, c) for c in range(view.table.columnCount())] for r in range(4)]
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (name, "CPU", batch) for name in ("ort-optimized", "int8-dynamic") for batch in ("1", "4")
    }
    for row in rows:
        assert row[4].endswith("×") and row[5].endswith("×"), row  # vs PyTorch and vs the plain export
        assert row[9] in ("pass", "FAIL") and row[7], row
    dynamic = next(v for v in report["variants"] if v["name"] == "int8-dynamic")
    assert view.headline.text().startswith(("Fastest passing variant", "No variant passed"))

    assert view.plot is not None
    assert {p.name for p in view.points()} == {"ort-optimized", "int8-dynamic", "plain export"}
    assert view.scatter_at.count() == 2 and view.scatter_at.currentText() == "CPU, batch 1"

    view.select("int8-dynamic")
    diff = {view.diff.cell_text(r, 0): view.diff.cell_text(r, 3) for r in range(view.diff.rowCount())}
    assert diff, "no operator counts for the selected variant"
    added = set(dynamic["diff"]["op_counts_after"]) - set(dynamic["diff"]["op_counts_before"])
    assert added and all(int(diff[op]) > 0 for op in added)  # e.g. MatMulInteger, DynamicQuantizeLinear
    assert view.push_button.isEnabled() and view.compare_button.isEnabled()
    screenshot(window, "variants-view")

    view.compare_button.click()
    assert window.explorer.compare_path == dynamic["path"] and Path(dynamic["path"]).is_file()
    assert window.explorer.isVisible()
