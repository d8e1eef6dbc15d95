"""The Sweep view: three sources (two epochs of a training run's folder and a file that is no
model) run one after another with the Options form's settings; the table fills in as each
finishes, the broken one fails without stopping the others, and the sweep writes a report per
source plus summary.json and summary.csv."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from tests.gui.conftest import TINY_CLASS, quick_options, screenshot


def test_sweep_of_a_folder_and_a_broken_file_fills_the_table_and_writes_the_summary(
    window, qtbot, tmp_path, tiny_checkpoint, monkeypatch
):
    import torch

    from heimdall_studio.gui.panels.sweep_view import checkpoints_in
    from tests.support.tiny_models import TwoHeadNet

    monkeypatch.setenv("HEIMDALL_DATA_DIR", str(tmp_path / "data"))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    checkpoint = torch.load(tiny_checkpoint, weights_only=True)
    for epoch in (1, 2):
        torch.manual_seed(epoch)
        torch.save(
            {**checkpoint, "epoch": epoch, "model_state_dict": TwoHeadNet().state_dict()}, run_dir / f"epoch_{epoch}.pt"
        )
    (run_dir / "notes.txt").write_text("not a model")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint at all")

    window.resize(1500, 1000)
    window.source_panel.model_class.setText(TINY_CLASS)
    quick_options(window)
    window.options.iterations.setValue(5)
    view = window.sweep
    window.docks["Sweep"].raise_()
    found = checkpoints_in(run_dir)
    assert [Path(p).name for p in found] == ["epoch_1.pt", "epoch_2.pt"]  # the text file is left out
    view.add_sources(found + [str(broken)])
    assert view.table.rowCount() == 3 and view.table.cell_text(0, 1) == "waiting"

    view.run_button.click()
    assert view.running and not view.run_button.isEnabled()
    qtbot.waitUntil(lambda: view.table.cell_text(0, 1).startswith("running"), timeout=30000)
    qtbot.waitUntil(lambda: len(view.rows) >= 1, timeout=180000)
    assert view.table.cell_text(0, 1) == "passed" and view.table.cell_text(2, 1) in ("waiting", "running")
    qtbot.waitUntil(lambda: not view.running, timeout=300000)

    statuses = [view.table.cell_text(r, 1) for r in range(3)]
    assert statuses == ["passed", "passed", "failed"], statuses
    assert view.table.cell_text(0, 5) and view.table.cell_text(0, 6).endswith("×")  # ORT p50 and speed-up
    assert view.table.cell_text(2, 0) == "broken.pt" and view.table.cell_text(2, 3) == "—"  # parity never ran
    assert "broken.pt" in view.table.cell_text(2, 8) and not view.table.cell_text(2, 8).endswith(".json")  # why
    summary = json.loads((view.report_dir / "summary.json").read_text())
    assert [Path(s["source"]).name for s in summary["sources"]] == ["epoch_1.pt", "epoch_2.pt", "broken.pt"]
    assert summary["exit_code"] == 2
    for source in summary["sources"][:2]:
        assert Path(source["report"]).is_file() and source["parity_max_error"] is not None
    with (view.report_dir / "summary.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 3
    assert "1 of 3" not in view.status.text() and "2 of 3 passed" in view.status.text()
    screenshot(window, "sweep-view")
