"""Sizes that cannot fit, allocation failures, full disks and unwritable reports end in exit 2
with a message about the cause, never "failed unexpectedly… looks like a bug"."""

from __future__ import annotations

import shutil
import struct
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from heimdall_studio.core import events as ev
from heimdall_studio.core.specs import BenchmarkOptions, SourceOptions
from heimdall_studio.engine.pipeline import run_pipeline
from heimdall_studio.engine.request import PipelineRequest
from tests.support.cli_run import assert_bad_input, cli
from tests.support.tiny_models import TwoHeadNet

TINY = [
    "--model-class",
    "tests.support.tiny_models:TwoHeadNet",
    "--output-name",
    "positions",
    "--output-name",
    "uncertainties",
]
QUICK = ["--bench-iterations", "2", "--bench-warmup", "0", "--devices", "cpu"]


@pytest.fixture
def tiny_checkpoint(tmp_path) -> Path:
    path = tmp_path / "tiny.pt"
    torch.save(TwoHeadNet().state_dict(), path)
    return path


def test_absurd_input_shape_is_refused_before_allocating(tmp_path, tiny_checkpoint):
    result = cli(
        "run", str(tiny_checkpoint), "--out", str(tmp_path / "out"), *TINY, "--input", "x:100000,100000,100000:float32"
    )
    assert_bad_input(result, "4.0 PB of memory", "x (100000, 100000, 100000) float32", "available")


def test_absurd_benchmark_batch_size_is_refused_before_allocating(tmp_path, tiny_checkpoint):
    result = cli(
        "bench",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path / "out"),
        *TINY,
        *QUICK,
        "--input",
        "x:batch,3,16,8:float32",
        "--exporter",
        "torchscript",
        "--bench-batch-sizes",
        "1,100000000",
    )
    assert_bad_input(
        result, "The inputs for the benchmark", "batch size 1,100000000", "GB of memory", "--bench-batch-sizes"
    )


def test_absurd_parity_batch_size_is_refused_before_allocating(tmp_path, tiny_checkpoint):
    result = cli(
        "run",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path / "out"),
        *TINY,
        "--skip-bench",
        "--input",
        "x:batch,3,16,8:float32",
        "--exporter",
        "torchscript",
        "--batch-size",
        "100000000",
    )
    assert_bad_input(result, "The inputs for one batch", "GB of memory")


def _onnx_with_a_huge_tensor(path: Path) -> Path:
    import onnx
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [100000, 100000, 100000])
    graph = helper.make_graph(
        [helper.make_node("ConstantOfShape", ["shape"], ["zeros"]), helper.make_node("Add", ["x", "zeros"], ["y"])],
        "huge",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [100000, 100000, 100000])],
        [shape],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def test_graph_whose_tensors_cannot_fit_is_bad_input(tmp_path):
    model = _onnx_with_a_huge_tensor(tmp_path / "huge.onnx")
    result = cli("bench", str(model), "--out", str(tmp_path / "out"), *QUICK, "--bench-batch-sizes", "1")
    assert_bad_input(result, "Out of memory while ONNX Runtime ran huge.onnx", "4.0 PB")


class AllocatesPerBatch(torch.nn.Module):
    """Fine at batch 1; at batch 2 asks the allocator for 4 PB, as a graph with a huge
    intermediate tensor would."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.zeros([(x.shape[0] - 1) * 1_000_000_000_000_000]).sum()


def test_allocation_failure_inside_torch_is_bad_input(tmp_path):
    path = tmp_path / "allocates.pt"
    torch.jit.save(torch.jit.script(AllocatesPerBatch()), str(path))
    request = PipelineRequest(
        source=str(path),
        out_dir=str(tmp_path / "out"),
        steps=(ev.LOAD, ev.BENCHMARK),
        source_options=SourceOptions(inputs=("x:batch,4:float32",)),
        benchmark=BenchmarkOptions(warmup=0, iterations=1, batch_sizes=(2,), devices=("cpu",), runtimes=("pytorch",)),
    )
    events = list(run_pipeline(request))
    finished = events[-1]
    failed = [e for e in events if isinstance(e, ev.StepFailed)]
    assert finished.exit_code == 2
    assert failed[0].step == ev.BENCHMARK and failed[0].error_kind == "bad_input"
    assert failed[0].message.startswith("Out of memory") and "4.0 PB" in failed[0].message


def test_unwritable_report_path_says_why(tmp_path, tiny_checkpoint):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = cli(
        "run",
        str(tiny_checkpoint),
        "--out",
        str(tmp_path / "out"),
        *TINY,
        "--skip-bench",
        "--input",
        "x:batch,3,16,8:float32",
        "--exporter",
        "torchscript",
        "--report",
        str(blocker / "report.json"),
    )
    assert_bad_input(result, f"Could not write the report to {blocker / 'report.json'}: ", "--report")


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_a_full_disk_is_named_as_such(tmp_path, tiny_checkpoint, exporter):
    # A real full disk: a 4 kB tmpfs mounted in a private mount namespace (no root needed).
    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare is needed for this test"
    disk = tmp_path / "disk"
    disk.mkdir()
    command = (
        f"mount -t tmpfs -o size=4k tmpfs {disk} && exec {sys.executable} -m heimdall_studio run "
        f"{tiny_checkpoint} --out {disk / 'out'} --input x:batch,3,16,8:float32 --exporter {exporter} "
        f"--skip-bench " + " ".join(TINY)
    )
    result = cli(prefix=(unshare, "--user", "--map-root-user", "--mount", "sh", "-c", command))
    assert_bad_input(result, "The disk is full (no space left on device)", "Free some space")
    assert "Try the" not in result.stderr  # not blamed on the exporter


def test_zip_bomb_checkpoint_is_refused_before_loading(tmp_path):
    # 256 MB of zeros in a deflated entry: a ~1 MB file. torch itself stores entries uncompressed.
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.zeros(1000)}, plain)
    bomb = tmp_path / "bomb.pt"
    numel = 64 * 2**20
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("data.pkl"):
                dst.writestr(info.filename, data.replace(b"M\xe8\x03", b"J" + struct.pack("<i", numel)))
            elif info.filename.endswith("data/0"):
                with dst.open(info.filename, "w") as handle:
                    for _ in range(numel * 4 // 2**24):
                        handle.write(bytes(2**24))
            else:
                dst.writestr(info.filename, data)
    assert bomb.stat().st_size < 4 * 2**20
    assert torch.load(bomb, weights_only=True)["w"].numel() == numel  # torch would inflate it all
    result = cli("run", str(bomb), "--out", str(tmp_path / "out"), *TINY, "--input", "x:batch,3,16,8:float32")
    assert_bad_input(result, "archive whose entries inflate to 268.4 MB", "zip bomb", "it was not opened")


def test_legacy_checkpoint_declaring_more_storage_than_the_file_holds_is_refused(tmp_path):
    plain = tmp_path / "legacy.pt"
    torch.save({"w": torch.zeros(1000)}, plain, _use_new_zipfile_serialization=False)
    declared = tmp_path / "declared.pt"
    # 800 million float32 elements: 3.2 GB declared in a file of a few kB.
    declared.write_bytes(plain.read_bytes().replace(b"M\xe8\x03", b"J" + struct.pack("<i", 800_000_000)))
    result = cli("run", str(declared), "--out", str(tmp_path / "out"), *TINY, "--input", "x:batch,3,16,8:float32")
    assert_bad_input(result, "declares 3.2 GB of tensor data", "it was not opened")


def test_legacy_checkpoint_of_honest_size_still_loads(tmp_path):
    from heimdall_studio.core.sources import load_source

    path = tmp_path / "legacy_ok.pt"
    torch.save(TwoHeadNet().state_dict(), path, _use_new_zipfile_serialization=False)
    loaded = load_source(
        path, SourceOptions(model_class="tests.support.tiny_models:TwoHeadNet", inputs=("x:batch,3,16,8:float32",))
    )
    assert loaded.parameters == sum(p.numel() for p in TwoHeadNet().parameters())
