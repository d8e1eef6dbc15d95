"""The Qt stack the app runs on: guards against library regressions that crash the window.

PySide6 6.12.0 releases one reference to ``None`` each time pyqtgraph paints; on Python 3.11
``None`` is not immortal, so after a few thousand paints the process dies with "Fatal Python
error: none_dealloc" (the crash users hit at the app's default settings). The constraints pin a
PySide6 without it; this test fails on any PySide6 that brings it back.
"""

from __future__ import annotations

import sys

import numpy as np


def test_painting_a_plot_does_not_leak_references_to_none(qtbot):
    from heimdall_studio.gui.plots import make_plot

    widget = make_plot("guard", "x", "y")
    qtbot.addWidget(widget)
    widget.resize(400, 300)
    widget.show()
    qtbot.waitExposed(widget)
    curve = widget.getPlotItem().plot(name="series")
    ys = np.random.default_rng(0).random(200)
    for _ in range(20):  # settle caches before counting
        curve.setData(np.arange(ys.size, dtype=float), ys)
        widget.grab()
    before = sys.getrefcount(None)
    paints = 300
    for i in range(paints):
        curve.setData(np.arange(ys.size, dtype=float), np.roll(ys, i))
        widget.grab()
    lost = before - sys.getrefcount(None)
    assert lost < paints // 3, (
        f"{lost} references to None lost over {paints} paints: this PySide6 "
        f"corrupts None's reference count (see requirements/constraints.txt)"
    )
