"""Third-party .onnx files ONNX Runtime cannot run, through `bench` and `run`: every failure is
classified (exit 2, naming the operator, the opset or the input), and integer feeds are settable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.support.cli_run import assert_bad_input, cli

QUICK = ["--bench-iterations", "2", "--bench-warmup", "0", "--devices", "cpu"]
ONE_BATCH = [*QUICK, "--bench-batch-sizes", "1"]


def _avgpool_opset1(folder: Path) -> Path:
    """AveragePool-1: valid ONNX, but ONNX Runtime has no kernel for it any more."""
    graph = helper.make_graph(
        [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2])],
        "pool",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 3, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 1)])
    model.ir_version = 3
    onnx.checker.check_model(model)
    path = folder / "avgpool1.onnx"
    onnx.save(model, path)
    return path


def _gather(folder: Path) -> Path:
    """Gather from a 5-row table with int64 indices: random indices above 4 are out of range."""
    table = helper.make_tensor("table", TensorProto.FLOAT, [5, 3], [0.5] * 15)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "idx"], ["rows"])],
        "lookup",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, ["batch", 16])],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["batch", 16, 3])],
        [table],
    )
    path = folder / "gather.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


def _unknown_op(folder: Path) -> Path:
    """Parses as ONNX, but no runtime knows the operator: ONNX Runtime cannot load it."""
    graph = helper.make_graph(
        [helper.make_node("Mystery", ["x"], ["y"])],
        "odd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
    )
    path = folder / "mystery.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return path


@pytest.mark.parametrize("command", ["bench", "run"])
def test_no_kernel_at_the_files_opset_names_the_operator_and_opset(tmp_path, command):
    model = _avgpool_opset1(tmp_path)
    result = cli(command, str(model), "--out", str(tmp_path / "out"), *ONE_BATCH)
    assert_bad_input(
        result, "no kernel for the operator AveragePool at opset 1", "Re-export the model at a newer opset"
    )


def test_inspect_still_reports_it_as_a_failed_validation(tmp_path):
    model = _avgpool_opset1(tmp_path)
    result = cli("inspect", str(model), "--report", str(tmp_path / "r.json"))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "AveragePool" in result.stdout and "Traceback" not in result.stdout + result.stderr


def test_a_file_onnx_runtime_cannot_load_is_bad_input(tmp_path):
    model = _unknown_op(tmp_path)
    result = cli("bench", str(model), "--out", str(tmp_path / "out"), *ONE_BATCH)
    assert_bad_input(result, "cannot load mystery.onnx", "Mystery")


def test_a_feed_the_model_rejects_names_the_input_and_suggests_real_inputs(tmp_path):
    model = _gather(tmp_path)
    result = cli("bench", str(model), "--out", str(tmp_path / "out"), *ONE_BATCH, "--int-range", "0,20")
    assert_bad_input(
        result,
        "gather.onnx rejected the input 'idx' (int64 (1, 16), random values",
        "--inputs-npz",
        "--int-range LOW,HIGH",
    )


def test_integer_feeds_default_to_a_small_range_that_can_be_narrowed(tmp_path):
    model = _gather(tmp_path)
    narrowed = cli("bench", str(model), "--out", str(tmp_path / "out"), *ONE_BATCH, "--int-range", "0,4")
    assert narrowed.returncode == 0, narrowed.stdout + narrowed.stderr
    default = cli("bench", str(model), "--out", str(tmp_path / "out2"), *ONE_BATCH)
    assert_bad_input(default, "random values 0..9")  # the default range is small and non-negative


def test_bench_measures_on_the_users_arrays(tmp_path):
    model = _gather(tmp_path)
    npz = tmp_path / "idx.npz"
    np.savez(npz, idx=np.arange(48, dtype=np.int64).reshape(3, 16) % 5)
    result = cli(
        "bench",
        str(model),
        "--out",
        str(tmp_path / "out"),
        *QUICK,
        "--inputs-npz",
        str(npz),
        "--report",
        str(tmp_path / "r.json"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    import json

    entries = [e for e in json.loads((tmp_path / "r.json").read_text())["latency"] if e["available"]]
    assert [e["batch_size"] for e in entries] == [3]


@pytest.mark.parametrize("value", ["5", "a,b", "9,1", "1,2,3"])
def test_malformed_int_range_is_bad_input(tmp_path, value):
    result = cli("bench", str(tmp_path / "none.onnx"), "--int-range", value)
    assert_bad_input(result, "--int-range")


def test_int_range_outside_the_inputs_dtype_is_bad_input(tmp_path):
    table = helper.make_tensor("table", TensorProto.FLOAT, [5, 3], [0.5] * 15)
    graph = helper.make_graph(
        [
            helper.make_node("Cast", ["idx"], ["wide"], to=TensorProto.INT64),
            helper.make_node("Gather", ["table", "wide"], ["rows"]),
        ],
        "lookup",
        [helper.make_tensor_value_info("idx", TensorProto.UINT8, ["batch", 4])],
        [helper.make_tensor_value_info("rows", TensorProto.FLOAT, ["batch", 4, 3])],
        [table],
    )
    path = tmp_path / "uint8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    result = cli("bench", str(path), "--out", str(tmp_path / "out"), *ONE_BATCH, "--int-range=-1,4")
    assert_bad_input(result, "--int-range -1,4 does not fit input 'idx' (uint8: 0..255)")
