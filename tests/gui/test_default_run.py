"""The app at its own defaults, as a user runs it: nothing in the Options form is lowered.

Exceptions raised in a Qt slot, timer or paint event fail these tests (pytest-qt captures
them), and so does any Qt message at warning level or above (``qt_log_level_fail`` in
pyproject.toml; only the offscreen platform's own notices are ignored there).
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from heimdall_studio.core.specs import BenchmarkOptions, ExportOptions, ParityOptions
from tests.gui.conftest import SCREENSHOTS, screenshot, wait_for_run

ROOT = Path(__file__).resolve().parents[2]
VIEWS = ("Validation", "Parity", "Latency", "Graph", "Registry", "Summary", "Log")
RUN_TIMEOUT_MS = 900_000


@pytest.fixture(scope="module")
def demo_checkpoint(tmp_path_factory) -> Path:
    """The checkpoint `make run` opens: LocalizationNet-tiny in Heimdall's format."""
    from heimdall_studio.models.demo import write_demo_checkpoint

    return write_demo_checkpoint(tmp_path_factory.mktemp("demo") / "demo.pt")


def assert_form_at_defaults(window) -> None:
    options, bench, parity = window.options, BenchmarkOptions(), ParityOptions()
    assert options.iterations.value() == bench.iterations == 100
    assert options.warmup.value() == bench.warmup
    assert [int(b) for b in options.batch_sizes.text().split(",")] == list(bench.batch_sizes)
    assert options.parity_batches.value() == parity.batches
    assert options.parity_batch_size.value() == parity.batch_size
    assert options.exporter.currentText() == ExportOptions().exporter


def open_and_recognise(window, qtbot, source: Path) -> None:
    window.open_source(str(source))
    wait_for_run(qtbot, window)
    assert window.source_panel.recognised, window.source_panel.error.message_label.text()


def run_switching_views(window, qtbot) -> None:
    """Press Run and bring every view to the front in turn until the run ends."""
    window.run_action.trigger()
    assert window.run is not None
    index = 0
    while window.run is not None:
        window.docks[VIEWS[index % len(VIEWS)]].raise_()
        index += 1
        qtbot.wait(700)
    wait_for_run(qtbot, window, RUN_TIMEOUT_MS)


def test_full_pipeline_at_the_apps_defaults_while_switching_views(window, qtbot, demo_checkpoint):
    assert_form_at_defaults(window)
    open_and_recognise(window, qtbot, demo_checkpoint)
    width = window.width()
    run_switching_views(window, qtbot)

    assert window.session.status == "passed", window.pipeline.error.message_label.text()
    model = window.run_model
    iterations = BenchmarkOptions().iterations
    for key, series in model.latency.items():
        assert series.timed.size == iterations, key  # every sample of the default run reached the window
    assert {key[2] for key in model.latency} == set(BenchmarkOptions().batch_sizes)
    assert window.width() == width, "the window changed size while views were switched"

    # Every view says something true of this run: no empty field that a user would read.
    validation = window.validation
    for name in ("verdict", "file", "opset", "ir_version", "producer", "nodes", "size", "sha256"):
        assert getattr(validation, name).text() not in ("", "—"), name
    assert re.fullmatch(r"ai\.onnx \d+(, .+)?", validation.opset.text()), validation.opset.text()
    for step, card in window.summary.cards.items():
        assert card.figure.text().strip(), f"the {step} card is empty"
        assert "passed" in card.verdict.text(), (step, card.verdict.text())
    assert "×" in window.summary.cards["benchmark"].figure.text()  # the speed-up headline
    assert window.latency.cpu.table.rowCount() == 2 * len(BenchmarkOptions().batch_sizes)

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for title in VIEWS:
        window.docks[title].raise_()
        qtbot.wait(300 if title != "Graph" else 1500)
        screenshot(window, f"defaults-{title.lower()}")
    screenshot(window.summary, "defaults-summary-strip")
    screenshot(window.pipeline, "defaults-pipeline-panel")


def _rss_after_settling(qtbot) -> int:
    for _ in range(3):
        gc.collect()
        qtbot.wait(200)
    return psutil.Process().memory_info().rss


@pytest.mark.soak
def test_default_runs_in_one_window_do_not_grow(window, qtbot, demo_checkpoint):
    """Four default runs: after the first (caches, plots built), memory must not keep growing. A leak
    grows every run; a single step of about 40 MiB at a random run (seen in CI between runs 2 and 3,
    locally between 3 and 4, flat otherwise) is not one. So: not more than 3 % at both runs 3 and 4,
    and not more than 15 % in all from run 2 to run 4."""
    assert_form_at_defaults(window)
    open_and_recognise(window, qtbot, demo_checkpoint)
    assert window.options.overwrite.isChecked()  # the default: each run replaces the last export
    rss = []
    for run in range(4):
        run_switching_views(window, qtbot)
        assert window.session.status == "passed", (run, window.pipeline.error.message_label.text())
        rss.append(_rss_after_settling(qtbot))
    (SCREENSHOTS.parent).mkdir(parents=True, exist_ok=True)
    mib = [f"{r / 2**20:.1f}" for r in rss]
    (SCREENSHOTS.parent / "soak_rss.txt").write_text(" ".join(f"{m}MiB" for m in mib) + "\n")
    grew = [rss[2] / rss[1] > 1.03, rss[3] / rss[2] > 1.03]
    assert not all(grew), f"memory grew run after run (2 → 3 → 4): {mib} MiB"
    assert rss[3] <= rss[1] * 1.15, f"memory grew by more than 15 % from run 2 to run 4: {mib} MiB"


def self_test(source: Path, home: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    """``heimdall-studio gui SOURCE --self-test`` in a process of its own, with its own settings."""
    env = dict(os.environ, HEIMDALL_CONFIG_DIR=str(home / "config"), HEIMDALL_DATA_DIR=str(home / "data"))
    argv = [sys.executable, "-m", "heimdall_studio", "gui", str(source), "--self-test"]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.soak
def test_self_test_mode_runs_the_pipeline_and_reports(tmp_path, demo_checkpoint):
    done = self_test(demo_checkpoint, tmp_path, timeout=1200)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert re.fullmatch(r"first paint: \d+ ms", lines[0]), lines
    assert re.fullmatch(r"ui stall: max \d+ ms, p99 \d+ ms", lines[1]), lines
    assert re.fullmatch(r"run: \d+(\.\d+)? s", lines[2]), lines
    assert len(lines) == 3, lines
    assert "WebEnginePage still not deleted" not in done.stderr  # quitting releases the web page first
    (SCREENSHOTS.parent).mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS.parent / "self_test.txt").write_text(done.stdout)


def test_self_test_of_a_file_that_cannot_be_opened_exits_2(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("not a model")
    done = self_test(bad, tmp_path, timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr[-3000:]
    assert done.stdout.startswith("first paint: ") and "error:" in done.stderr
