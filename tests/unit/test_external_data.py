"""External data must lie inside the model's own folder. A .onnx whose ``location`` is an
absolute path, a ``..`` path or a symlink leading out is refused (exit 2) by inspect,
validate, metadata and push, and what it points to is never read, hashed or uploaded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from heimdall_studio.cli.main import main as cli_main
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.metadata import metadata_step
from heimdall_studio.core.sources import load_source
from heimdall_studio.core.validate import validate_step
from tests.integration.servers import tiny_onnx
from tests.unit.conftest import run_step


def _point_at(model_path: Path, location: str) -> Path:
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    for tensor in model.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = location
    onnx.save(model, str(model_path))
    return model_path


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside the model's folder that holds bytes a model would happily read as weights."""
    source = tiny_onnx(tmp_path / "src" / "m.onnx", 5, external_mb=0.01)
    target = tmp_path / "elsewhere" / "secret.data"
    target.parent.mkdir()
    shutil.copy(source.with_name("m.onnx.data"), target)
    return target


def _absolute(tmp_path: Path, outside: Path) -> Path:
    return _point_at(tiny_onnx(tmp_path / "model" / "m.onnx", 5, external_mb=0.01), str(outside))


def _dotdot(tmp_path: Path, outside: Path) -> Path:
    return _point_at(tiny_onnx(tmp_path / "model" / "m.onnx", 5, external_mb=0.01), "../elsewhere/secret.data")


def _symlink(tmp_path: Path, outside: Path) -> Path:
    model = tiny_onnx(tmp_path / "model" / "m.onnx", 5, external_mb=0.01)
    data = model.with_name("m.onnx.data")
    data.unlink()
    data.symlink_to(outside)
    return model


KINDS = {"absolute": _absolute, "dotdot": _dotdot, "symlink": _symlink}


@pytest.mark.parametrize("kind", list(KINDS))
def test_validate_and_metadata_refuse_data_outside_the_folder(tmp_path, outside, tiny_model, kind):
    model = KINDS[kind](tmp_path, outside)
    with pytest.raises(BadInputError) as validated:
        run_step(validate_step(model, CancelToken()))
    assert "model's own folder" in validated.value.message or "leads out" in validated.value.message
    assert validated.value.hint
    with pytest.raises(BadInputError):
        run_step(metadata_step(model, tiny_model, None, CancelToken()))
    with pytest.raises(BadInputError):
        load_source(model)


@pytest.mark.parametrize("kind", list(KINDS))
def test_inspect_exits_2_and_records_nothing_about_the_outside_file(tmp_path, outside, capsys, kind):
    model = KINDS[kind](tmp_path, outside)
    report = tmp_path / "inspect.json"
    assert cli_main(["inspect", str(model), "--report", str(report)]) == 2
    assert "external data" in capsys.readouterr().err
    written = json.loads(report.read_text())
    assert written["exit_code"] == 2 and "metadata" not in written and "validation" not in written
    assert not (written.get("onnx") or {}).get("sha256"), "nothing was hashed"


@pytest.mark.parametrize("kind", list(KINDS))
def test_push_refuses_and_uploads_nothing(tmp_path, outside, capsys, kind):
    from heimdall_studio.integrations.settings import load_settings

    model = KINDS[kind](tmp_path, outside)
    assert cli_main(["push", str(model)]) == 2
    assert "external data" in capsys.readouterr().err
    store = load_settings().local_store_root
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*")), "nothing was uploaded"


def test_data_in_a_subfolder_of_the_model_folder_is_fine(tmp_path):
    model = tiny_onnx(tmp_path / "model" / "m.onnx", 6, external_mb=0.01)
    (model.parent / "weights").mkdir()
    model.with_name("m.onnx.data").rename(model.parent / "weights" / "m.onnx.data")
    _point_at(model, "weights/m.onnx.data")
    _, result = run_step(validate_step(model, CancelToken()))
    assert result.passed, result.errors


def test_push_refuses_a_file_that_fails_validation(tmp_path, capsys):
    import onnx
    from onnx import TensorProto, helper

    from heimdall_studio.integrations.settings import load_settings

    graph = helper.make_graph(
        [helper.make_node("NoSuchOp", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "broken.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert cli_main(["push", str(path)]) == 1
    assert "did not pass validation" in capsys.readouterr().err
    store = load_settings().local_store_root
    assert not store.exists() or not any(p.is_file() for p in store.rglob("*"))


def test_push_step_refuses_a_report_without_validation_of_this_file(tmp_path):
    from heimdall_studio.integrations.push import PushOptions, push_step, validation_report
    from heimdall_studio.integrations.settings import load_settings

    model = tiny_onnx(tmp_path / "a.onnx", 7)
    other = tiny_onnx(tmp_path / "b.onnx", 8)
    for report in ({}, validation_report(other)):
        with pytest.raises(BadInputError, match="has not been validated"):
            run_step(push_step(model, report, PushOptions(), load_settings(), CancelToken()))
