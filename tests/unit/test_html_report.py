"""The HTML report: one self-contained page with every section, nothing fetched from elsewhere."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from heimdall_studio.core.html_report import render_html
from tests.support.cli_run import assert_bad_input, cli
from tests.unit.test_per_node import PERTURBED, TINY_ARGS, perturbed_model

REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)
CSS_REMOTE = re.compile(r"url\(\s*[\"']?\s*(?:https?:)?//|@import", re.IGNORECASE)


class _References(HTMLParser):
    """Everything in a page that a browser would fetch from elsewhere."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "link", "iframe", "img", "object", "embed"):
            self.found.append(f"<{tag}>")
        for name, value in attrs:
            if name in ("src", "href", "xlink:href", "data", "action") and value and REMOTE.match(value):
                self.found.append(f"{name}={value}")
            if name == "style" and value and CSS_REMOTE.search(value):
                self.found.append(f"style={value}")
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style and CSS_REMOTE.search(data):
            self.found.append("css: " + data.strip()[:60])


def external_references(page: str) -> list[str]:
    parser = _References()
    parser.feed(page)
    parser.close()
    return parser.found


def test_run_writes_a_self_contained_page_with_every_section(tiny_export_dynamo, tmp_path):
    import torch

    _, export = tiny_export_dynamo
    reference = tmp_path / "reference.pt"
    torch.save(perturbed_model().module.state_dict(), reference)
    page_path = tmp_path / "run.html"
    result = cli(
        "run",
        str(export.onnx_path),
        "--reference",
        str(reference),
        *TINY_ARGS,
        "--per-node",
        "--op-profile",
        "--op-profile-runs",
        "3",
        "--bench-iterations",
        "5",
        "--bench-warmup",
        "1",
        "--devices",
        "cpu",
        "--bench-batch-sizes",
        "1",
        "--batches",
        "1",
        "--html",
        str(page_path),
        "--report",
        str(tmp_path / "run.json"),
    )
    assert f"HTML:      {page_path}" in result.stdout, result.stdout + result.stderr
    page = page_path.read_text(encoding="utf-8")
    assert external_references(page) == []
    for text in (
        "Summary",
        "Validation",
        "Parity",
        "uncertainties",
        "advised atol",
        "Latency",
        "First divergence",
        PERTURBED,
        "Top nodes by error",
        "Top nodes by time",
        "By op type",
        "CPUExecutionProvider",
    ):
        assert text in page, text
    assert page.count("<svg") >= 4  # histograms of both outputs, latency, op types
    assert json.loads((tmp_path / "run.json").read_text())["per_node"]["first_divergence"]["module"] == PERTURBED


def test_report_text_is_escaped_and_the_checker_catches_external_references():
    page = render_html(
        {
            "status": "passed",
            "source": {"path": '<script src="https://x.test/a.js"></script>'},
            "parity": {"passed": True, "outputs": {"<img src=//x.test/p.png>": {"passed": True}}},
        }
    )
    assert external_references(page) == [] and "&lt;script" in page
    assert external_references('<img src="//cdn.test/x.png">') and external_references('<a href="https://x.test">')
    assert external_references('<style>@import url("https://fonts.test/a.css")</style>')


def test_html_path_must_end_in_html(tiny_export):
    _, export = tiny_export
    assert_bad_input(cli("run", str(export.onnx_path), "--html", "report.txt"), "--html")


def test_run_writes_the_page_beside_the_onnx_file_unless_told_not_to(tiny_export, tmp_path):
    _, export = tiny_export
    stem = Path(export.onnx_path).stem
    out = tmp_path / "out"
    result = cli("run", str(export.onnx_path), "--skip-bench", "--out", str(out))
    page = out / f"{stem}.report.html"
    assert page.is_file() and (out / f"{stem}.report.json").is_file(), result.stdout + result.stderr
    assert f"HTML:      {page}" in result.stdout
    assert external_references(page.read_text(encoding="utf-8")) == []
    quiet = tmp_path / "quiet"
    result = cli("run", str(export.onnx_path), "--skip-bench", "--out", str(quiet), "--no-html")
    assert (quiet / f"{stem}.report.json").is_file(), result.stdout + result.stderr
    assert not list(quiet.glob("*.html"))
