"""A torch.export archive runs no code from the file unless the user passed --trust.

Each hostile archive is a real ``torch.export.save`` file with one part replaced: its
pickled sample inputs, a weight marked as pickled, an "opaque" constant, or a symbolic
shape expression. The payload writes a marker file, so "no code ran" is checked, not assumed.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.sources import load_source
from heimdall_studio.core.specs import SourceOptions
from tests.support.tiny_models import TwoHeadNet

ROOT = Path(__file__).resolve().parents[2]


class WritesAMarker:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('code from the file ran')",)


@pytest.fixture(scope="session")
def clean_pt2(tmp_path_factory) -> Path:
    """TwoHeadNet exported with a dynamic batch (so the program holds symbolic expressions)."""
    torch.manual_seed(0)
    program = torch.export.export(
        TwoHeadNet().eval(), (torch.zeros(2, 3, 16, 8),), dynamic_shapes=({0: torch.export.Dim("batch")},)
    )
    path = tmp_path_factory.mktemp("pt2") / "clean.pt2"
    torch.export.save(program, str(path))
    return path


def _rewrite(source: Path, target: Path, edit) -> Path:
    with zipfile.ZipFile(source) as archive:
        entries = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    edit(entries)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return target


def _entry(entries: dict, suffix: str) -> str:
    return next(name for name in entries if name.endswith(suffix))


def _torch_saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def hostile_sample_inputs(clean: Path, tmp_path: Path, marker: Path) -> Path:
    def edit(entries):
        entries[_entry(entries, "data/sample_inputs/model.pt")] = _torch_saved(
            ((torch.zeros(2, 3, 16, 8),), {"note": WritesAMarker(marker)})
        )

    return _rewrite(clean, tmp_path / "inputs.pt2", edit)


def hostile_pickled_weight(clean: Path, tmp_path: Path, marker: Path) -> Path:
    def edit(entries):
        config_name = _entry(entries, "data/weights/model_weights_config.json")
        config = json.loads(entries[config_name])
        meta = config["config"]["conv.bias"]
        meta["use_pickle"] = True
        entries[config_name] = json.dumps(config).encode()
        entries[config_name.replace("model_weights_config.json", meta["path_name"])] = _torch_saved(
            WritesAMarker(marker)
        )

    return _rewrite(clean, tmp_path / "weight.pt2", edit)


def hostile_opaque_constant(clean: Path, tmp_path: Path, marker: Path) -> Path:
    def edit(entries):
        config_name = _entry(entries, "data/constants/model_constants_config.json")
        entries[config_name] = json.dumps(
            {
                "config": {
                    "evil": {"path_name": "opaque_obj_0", "is_param": False, "use_pickle": True, "tensor_meta": None}
                }
            }
        ).encode()
        entries[config_name.replace("model_constants_config.json", "opaque_obj_0")] = pickle.dumps(
            WritesAMarker(marker)
        )

    return _rewrite(clean, tmp_path / "opaque.pt2", edit)


def hostile_shape_expression(clean: Path, tmp_path: Path, marker: Path) -> Path:
    def edit(entries):
        name = _entry(entries, "models/model.json")
        text = entries[name].decode()
        symbol = "Symbol('s77', positive=True, integer=True)"
        assert symbol in text, "the program's symbolic batch dim is where the payload goes"
        payload = f"__import__('builtins').open({str(marker)!r}, 'w').write('ran') + {symbol}"
        entries[name] = text.replace(json.dumps(symbol), json.dumps(payload), 1).encode()

    return _rewrite(clean, tmp_path / "shape.pt2", edit)


HOSTILE = {
    "sample inputs": hostile_sample_inputs,
    "pickled weight": hostile_pickled_weight,
    "opaque constant": hostile_opaque_constant,
    "shape expression": hostile_shape_expression,
}


@pytest.mark.parametrize("part", list(HOSTILE))
def test_hostile_pt2_runs_no_code_without_trust(clean_pt2, tmp_path, capfd, part):
    marker = tmp_path / "marker.txt"
    path = HOSTILE[part](clean_pt2, tmp_path, marker)
    with pytest.raises(BadInputError) as info:
        load_source(path, SourceOptions())
    assert not marker.exists(), f"code from the archive's {part} ran without --trust"
    assert info.value.exit_code == 2
    assert "runs code from the file" in info.value.message or "run Python code" in info.value.message
    assert "--trust" in info.value.hint
    captured = capfd.readouterr()
    assert "Logging error" not in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize("part", ["sample inputs", "opaque constant", "shape expression"])
def test_the_pt2_payloads_are_live(clean_pt2, tmp_path, part):
    # With --trust the same archives do run their payload: its absence above means something.
    marker = tmp_path / "marker.txt"
    path = HOSTILE[part](clean_pt2, tmp_path, marker)
    try:
        load_source(path, SourceOptions(trust=True))
    except BadInputError:
        pass  # the payload may break the program; what matters is that it ran
    assert marker.exists()


def test_clean_pt2_with_symbolic_shapes_still_loads(clean_pt2):
    loaded = load_source(clean_pt2, SourceOptions())
    assert loaded.inputs[0].shape == ("batch", 3, 16, 8)
    assert os.environ.get("TORCH_FORCE_WEIGHTS_ONLY_LOAD") is None, "the load leaves the environment as it was"


def test_cli_refuses_hostile_pt2_with_exit_2_and_no_log_noise(clean_pt2, tmp_path):
    marker = tmp_path / "marker.txt"
    path = hostile_sample_inputs(clean_pt2, tmp_path, marker)
    result = subprocess.run(
        [sys.executable, "-m", "heimdall_studio", "run", str(path), "--out", str(tmp_path / "out"), "--skip-bench"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="200"),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert not marker.exists()
    assert "--trust" in result.stderr
    assert "Logging error" not in result.stderr and "Traceback" not in result.stderr


def test_torchscript_archive_with_a_pickle_payload_runs_no_code(tmp_path):
    marker = tmp_path / "marker.txt"
    clean = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(TwoHeadNet()), str(clean))

    def edit(entries):
        entries[_entry(entries, "/data.pkl")] = pickle.dumps(WritesAMarker(marker), protocol=2)

    path = _rewrite(clean, tmp_path / "hostile_scripted.pt", edit)
    with pytest.raises(BadInputError):
        load_source(path, SourceOptions(inputs=("x:batch,3,16,8:float32",)))
    assert not marker.exists()


class SlicesByShape(torch.nn.Module):
    def forward(self, x, y):
        joined = torch.cat([x, y], 0)
        return joined[: x.shape[0] // 2 + 1].reshape(-1)


def test_pt2_with_derived_symbolic_shapes_loads_without_trust(tmp_path):
    from heimdall_studio.core.sources_pt2 import load_exported_program

    program = torch.export.export(
        SlicesByShape(),
        (torch.zeros(4, 3), torch.zeros(6, 3)),
        dynamic_shapes=({0: torch.export.Dim("a", min=2)}, {0: torch.export.Dim("b")}),
    )
    path = tmp_path / "derived.pt2"
    torch.export.save(program, str(path))
    with zipfile.ZipFile(path) as archive:
        program_json = archive.read(next(n for n in archive.namelist() if n.endswith("models/model.json")))
    assert b"FloorDiv" in program_json, "the program holds derived shape expressions"
    loaded = load_exported_program(path, trust=False)
    assert loaded.module()(torch.ones(4, 3), torch.ones(6, 3)).shape == (9,)


@pytest.mark.parametrize(
    "expression, safe",
    [
        (
            "Piecewise(ExprCondPair(Integer(1), Equality(Symbol('s0', integer=True), Integer(1))), "
            "ExprCondPair(Symbol('s0', integer=True), true))",
            True,
        ),
        ("Mul(Float('1.5', precision=53), Max(Integer(2), Symbol('s0')))", True),
        ("(exec)('x=1')", False),
        ("Symbol('x').evalf()", False),
        ("open('x')", False),
        ("[1][0]", False),
    ],
)
def test_shape_expression_check(expression, safe):
    from heimdall_studio.core.sources_pt2 import _unsafe_expression

    assert (_unsafe_expression(expression) == "") is safe
