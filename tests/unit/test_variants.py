"""Optimised variants: each written atomically beside the export, checked for parity against
PyTorch, benchmarked, compared; unavailable ones say why; cancel stops them (real ONNX Runtime)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import onnxruntime as ort
import pytest

from heimdall_studio.core.benchmark import benchmark_step
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError, CancelledError
from heimdall_studio.core.events import Progress
from heimdall_studio.core.metadata import sha256_file
from heimdall_studio.core.specs import BenchmarkOptions, ParityOptions, Tolerance
from heimdall_studio.core.variant_step import variants_step
from heimdall_studio.core.variant_table import variant_rows
from heimdall_studio.core.variants import VARIANTS, VariantOptions, make_variant, parse_variants, variant_path
from tests.unit.conftest import run_step

BENCH = BenchmarkOptions(warmup=1, iterations=3, batch_sizes=(1, 2), devices=("cpu", "cuda"))
PARITY = ParityOptions(batches=2, batch_size=4)
CONTRACT = {
    "name",
    "path",
    "sha256",
    "size_bytes",
    "available",
    "reason",
    "settings",
    "parity",
    "latency",
    "speedup_vs_pytorch",
    "speedup_vs_plain",
    "diff",
}
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


@pytest.fixture
def plain(tiny_export, tmp_path):
    """A private copy of the tiny TorchScript export (Gemm heads, a Conv): (model, path)."""
    model, export = tiny_export
    path = tmp_path / "two_head.onnx"
    shutil.copyfile(export.onnx_path, path)
    return model, path


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp" in p.name or p.name.startswith("heimdall-quant-"))


def test_every_variant_is_written_checked_benchmarked_and_compared(plain):
    model, path = plain
    _, bench = run_step(benchmark_step(model, path, BENCH, CancelToken()))
    options = VariantOptions(names=VARIANTS)
    events, result = run_step(
        variants_step(model, path, options, PARITY, BENCH, bench.entries, CancelToken(), model.output_names)
    )
    data = json.loads(json.dumps(result.to_dict()))
    by_name = {v["name"]: v for v in data["variants"]}
    assert list(by_name) == list(VARIANTS)
    assert _leftovers(path.parent) == []
    for name in ("ort-optimized", "int8-dynamic", "int8-static"):
        variant = by_name[name]
        assert set(variant) >= CONTRACT and variant["available"], variant["reason"]
        file = Path(variant["path"])
        assert file == variant_path(path, name) == path.with_name(f"two_head.{name}.onnx")
        assert variant["sha256"] == sha256_file(file) and variant["size_bytes"] == file.stat().st_size
        assert set(variant["parity"]["outputs"]) == {"positions", "uncertainties"}
        for figures in variant["parity"]["outputs"].values():
            assert figures["max_abs"] >= 0 and figures["mean_abs"] >= 0
        assert variant["parity"]["criteria"]["default"]
        cpu = [e for e in variant["latency"] if e["device"] == "cpu"]
        assert [e["batch_size"] for e in cpu] == [1, 2]
        assert all(e["available"] and e["p50_ms"] > 0 and e["iterations"] == 3 for e in cpu)
        assert all(e["runtime"] == "onnxruntime" and e["variant"] == name for e in cpu)
        assert set(variant["speedup_vs_pytorch"]["cpu"]) == {"1", "2"}
        assert set(variant["speedup_vs_plain"]["cpu"]) == {"1", "2"}
        settings = variant["settings"]
        assert settings["execution_mode"] in ("sequential", "parallel") and settings["intra_op_threads"] >= 1
        assert len(settings["tuning"]["sweep"]) >= 2
        assert variant["diff"]["op_counts_before"] and variant["diff"]["op_counts_after"]
        if not HAS_CUDA:
            cuda = [e for e in variant["latency"] if e["device"] == "cuda"]
            assert cuda and all(not e["available"] and e["reason"] for e in cuda)
    assert by_name["ort-optimized"]["settings"]["optimization_level"] == "ORT_ENABLE_EXTENDED"
    assert by_name["ort-optimized"]["parity"]["passed"] is True  # the strict fp32 criteria
    assert by_name["int8-dynamic"]["settings"]["op_types_quantized"] == ["MatMul", "Gemm"]
    assert "DynamicQuantizeLinear" in by_name["int8-dynamic"]["diff"]["added"]
    assert "QuantizeLinear" in by_name["int8-static"]["diff"]["added"]
    assert by_name["int8-dynamic"]["parity"]["criteria"]["default"]["atol"] == 5e-2  # the int8 default
    fp16 = by_name["fp16"]
    assert fp16["available"] is HAS_CUDA
    if not HAS_CUDA:
        assert "CUDA" in fp16["reason"] and fp16["latency"] == [] and not variant_path(path, "fp16").exists()
    assert any(isinstance(e, Progress) and e.step == "variants" for e in events)
    rows = variant_rows({"variants": data["variants"]})
    assert any(r[0] == "int8-dynamic" and r[1] == "cpu" and r[2] == "1" and r[4].endswith("×") for r in rows)


def test_a_variant_that_fails_its_criteria_is_shown_failed(plain):
    model, path = plain
    strict = VariantOptions(names=("int8-dynamic",), criteria={"int8-dynamic": Tolerance(0.0, 0.0, 0.0)}, tune=False)
    _, result = run_step(variants_step(model, path, strict, PARITY, BENCH, [], CancelToken(), model.output_names))
    [variant] = result.to_dict()["variants"]
    assert variant["available"] and variant["parity"]["passed"] is False and variant["parity"]["failures"]
    assert [e["batch_size"] for e in variant["latency"] if e["available"]] == [1, 2]  # still measured
    assert variant["speedup_vs_pytorch"] == {}  # no benchmark of the plain export in this run
    [row, *_] = variant_rows({"variants": [variant]})
    assert row[-1] == "FAILED"


def test_an_existing_variant_is_not_overwritten_without_overwrite(plain):
    _, path = plain
    target = variant_path(path, "ort-optimized")
    target.write_bytes(b"someone's file")
    with pytest.raises(BadInputError, match="already exists"):
        make_variant("ort-optimized", path)
    assert target.read_bytes() == b"someone's file" and _leftovers(path.parent) == []
    written, settings = make_variant("ort-optimized", path, overwrite=True)
    assert written == target and target.read_bytes() != b"someone's file"
    assert _leftovers(path.parent) == []


def test_a_failed_variant_leaves_no_file_and_becomes_an_entry_with_the_reason(plain, tmp_path):
    model, path = plain
    with pytest.raises(BadInputError, match="calibration"):
        make_variant("int8-static", path, calibration=[])
    assert not variant_path(path, "int8-static").exists() and _leftovers(path.parent) == []
    variant_path(path, "int8-dynamic").write_bytes(b"x")  # in the way: this variant fails, the run goes on
    options = VariantOptions(names=("int8-dynamic", "ort-optimized"), tune=False)
    _, result = run_step(variants_step(model, path, options, PARITY, BENCH, [], CancelToken(), model.output_names))
    failed, made = result.to_dict()["variants"]
    assert not failed["available"] and "already exists" in failed["reason"] and "--overwrite" in failed["reason"]
    assert made["available"] and made["parity"]["passed"]


def test_external_data_models_get_a_clear_error(tmp_path):
    from tests.integration.servers import tiny_onnx

    path = tiny_onnx(tmp_path / "big.onnx", seed=0, external_mb=0.1)
    with pytest.raises(BadInputError, match="external data"):
        make_variant("int8-dynamic", path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.onnx", "big.onnx.data"]


def test_cancel_between_and_inside_variants(plain):
    model, path = plain
    cancel = CancelToken()
    steps = variants_step(
        model, path, VariantOptions(names=("ort-optimized", "int8-dynamic")), PARITY, BENCH, [], cancel
    )
    seen = []
    with pytest.raises(CancelledError):
        for event in steps:
            seen.append(event)
            if isinstance(event, Progress) and "tuning:" in event.message:
                cancel.cancel()  # inside the first variant's tuning sweep
    assert not any(isinstance(e, Progress) and e.message.startswith("int8-dynamic") for e in seen)
    assert _leftovers(path.parent) == [] and not variant_path(path, "int8-dynamic").exists()


def test_parse_variants():
    assert parse_variants("all") == VARIANTS
    assert parse_variants("int8-dynamic, ort-optimized,int8-dynamic") == ("int8-dynamic", "ort-optimized")
    with pytest.raises(BadInputError, match="int4"):
        parse_variants("ort-optimized,int4")


def test_run_with_variants_on_localization_net_tiny(demo_checkpoint, tmp_path, capsys, monkeypatch):
    """The real export of LocalizationNet-tiny through the CLI: the report's contract, the table, the HTML."""
    from heimdall_studio.cli.main import main

    monkeypatch.setenv("COLUMNS", "200")
    html = tmp_path / "report.html"
    argv = ["run", demo_checkpoint, "--out", tmp_path / "out", "--variants", "int8-dynamic,fp16", "--devices", "cpu"]
    argv += ["--bench-iterations", "2", "--bench-warmup", "0", "--bench-batch-sizes", "1", "--batches", "1"]
    argv += ["--batch-size", "2", "--html", html]
    assert main([str(a) for a in argv]) == 0
    out = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "localization_tiny.report.json").read_text())
    dynamic, fp16 = report["variants"]
    assert set(dynamic) >= CONTRACT and dynamic["available"] and dynamic["parity"]["passed"] is True
    assert dynamic["speedup_vs_pytorch"]["cpu"]["1"] > 0 and dynamic["speedup_vs_plain"]["cpu"]["1"] > 0
    assert dynamic["diff"]["op_counts_before"]["Gemm"] > 0 or dynamic["diff"]["op_counts_before"].get("MatMul")
    assert Path(dynamic["path"]).stat().st_mode & 0o777 == Path(report["onnx"]["path"]).stat().st_mode & 0o777
    assert fp16["available"] is HAS_CUDA
    assert "Variants" in out and "int8-dynamic" in out and "passed" in out
    assert "<h2>Variants</h2>" in html.read_text() and "int8-dynamic" in html.read_text()
    assert main(["run", "x.pt", "--variants", "int4"]) == 2
    assert "unknown variant int4" in capsys.readouterr().err


def test_without_the_benchmark_variants_get_parity_only(plain):
    model, path = plain
    options = VariantOptions(names=("ort-optimized",), benchmark=False)
    _, result = run_step(variants_step(model, path, options, PARITY, BENCH, [], CancelToken(), model.output_names))
    [variant] = result.to_dict()["variants"]
    assert variant["available"] and variant["parity"]["passed"] and variant["latency"] == []
    assert variant["settings"]["tuned"] is False
