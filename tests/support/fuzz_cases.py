"""Seeded mutations of valid model files: the fuzz corpus of issue 8.

Four valid bases (a checkpoint, a torch.export .pt2, a TorchScript archive, an .onnx file), all
of the tiny TwoHeadNet, and for each: bit flips, truncations, and structural damage that a byte
flip rarely reaches — zip entries swapped, duplicated, dropped, renamed, filled with noise or
recompressed; ONNX protobuf fields set to wrong values. Every case is reproducible from its id.
"""

from __future__ import annotations

import io
import random
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TINY_CLASS = "tests.support.tiny_models:TwoHeadNet"
TINY_INPUT = "x:batch,3,16,8:float32"


@dataclass(frozen=True)
class Base:
    name: str
    file_name: str
    data: bytes
    commands: tuple[str, ...]  # "run" and/or "inspect"
    extra: tuple[str, ...]  # arguments the base needs (class, input specs)


@dataclass(frozen=True)
class Case:
    case_id: str
    base: str
    mutation: str
    file_name: str
    data: bytes
    command: str
    extra: tuple[str, ...]


def build_bases(folder: Path) -> list[Base]:
    import torch

    from heimdall_studio.core.cancel import CancelToken
    from heimdall_studio.core.export import export_step
    from heimdall_studio.core.model import LoadedModel
    from heimdall_studio.core.specs import ExportOptions, TensorSpec
    from tests.support.tiny_models import TwoHeadNet

    torch.manual_seed(0)
    net = TwoHeadNet().eval()
    folder.mkdir(parents=True, exist_ok=True)
    checkpoint = folder / "tiny.pt"
    torch.save({"model_state_dict": net.state_dict(), "epoch": 3}, checkpoint)
    program = folder / "tiny.pt2"
    batch = torch.export.Dim("batch", min=1)
    torch.export.save(torch.export.export(net, (torch.randn(2, 3, 16, 8),), dynamic_shapes=({0: batch},)), program)
    scripted = folder / "tiny_script.pt"
    torch.jit.save(torch.jit.script(net), str(scripted))
    model = LoadedModel(
        kind="checkpoint",
        source="tiny",
        module=net,
        inputs=[TensorSpec("x", ("batch", 3, 16, 8))],
        output_names=["positions", "uncertainties"],
    )
    steps = export_step(model, folder / "onnx", ExportOptions(exporter="torchscript"), CancelToken())
    while True:
        try:
            next(steps)
        except StopIteration as stop:
            onnx_path = Path(stop.value.onnx_path)
            break
    return [
        Base("checkpoint", "tiny.pt", checkpoint.read_bytes(), ("run",), ("--model-class", TINY_CLASS)),
        Base("pt2", "tiny.pt2", program.read_bytes(), ("run",), ()),
        Base("torchscript", "tiny_script.pt", scripted.read_bytes(), ("run",), ("--input", TINY_INPUT)),
        Base("onnx", "tiny.onnx", onnx_path.read_bytes(), ("inspect", "run"), ()),
    ]


def bit_flips(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        position = rng.randrange(len(out))
        out[position] ^= 1 << rng.randrange(8)
    return bytes(out)


def truncation(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(1, len(data))]


def _rezip(
    data: bytes,
    edit: Callable[[list[tuple[zipfile.ZipInfo, bytes]]], list[tuple[zipfile.ZipInfo, bytes]]],
    compression: int = zipfile.ZIP_STORED,
) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        entries = [(info, source.read(info.filename)) for info in source.infolist()]
    entries = edit(entries)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name": the point of one mutation
        with zipfile.ZipFile(buffer, "w", compression) as target:
            for info, content in entries:
                copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
                copy.compress_type = compression
                target.writestr(copy, content)
    return buffer.getvalue()


def zip_mutation(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    kind = rng.choice(["swap", "duplicate", "drop", "noise", "rename", "deflate"])

    def edit(entries: list[tuple[zipfile.ZipInfo, bytes]]) -> list[tuple[zipfile.ZipInfo, bytes]]:
        i, j = rng.sample(range(len(entries)), 2)
        if kind == "swap":  # two entries' contents exchanged
            entries[i], entries[j] = (entries[i][0], entries[j][1]), (entries[j][0], entries[i][1])
        elif kind == "duplicate":  # a second entry of the same name with another entry's content
            entries.insert(rng.randrange(len(entries) + 1), (entries[i][0], entries[j][1]))
        elif kind == "drop":
            del entries[i]
        elif kind == "noise":  # same name and length, random content
            entries[i] = (entries[i][0], rng.randbytes(len(entries[i][1])))
        elif kind == "rename":
            info = entries[i][0]
            entries[i] = (zipfile.ZipInfo(info.filename + "x", date_time=info.date_time), entries[i][1])
        return entries

    compression = zipfile.ZIP_DEFLATED if kind == "deflate" else zipfile.ZIP_STORED
    return f"zip-{kind}", _rezip(data, edit, compression)


def onnx_field_mutation(data: bytes, rng: random.Random) -> tuple[str, bytes]:
    import onnx

    model = onnx.load_from_string(data)
    graph = model.graph
    node = rng.choice(list(graph.node))
    kinds = [
        "op_type",
        "node_input",
        "dims",
        "data_type",
        "raw_data",
        "opset",
        "ir_version",
        "drop_output",
        "elem_type",
        "duplicate_node",
        "attribute",
        "negative_dim",
        "domain",
    ]
    kind = rng.choice(kinds)
    initializer = rng.choice(list(graph.initializer)) if graph.initializer else None
    if kind == "op_type":
        node.op_type = rng.choice(["Mystery", "", "Conv", "Gemm", "Relu", "Loop", node.op_type.lower()])
    elif kind == "node_input" and node.input:
        node.input[rng.randrange(len(node.input))] = rng.choice(["missing", "", graph.output[0].name])
    elif kind == "dims" and initializer is not None and initializer.dims:
        initializer.dims[rng.randrange(len(initializer.dims))] = rng.choice([0, 1, 3, 1 << 20, 1 << 40])
    elif kind == "data_type" and initializer is not None:
        initializer.data_type = rng.choice([0, 2, 7, 8, 9, 16, 99])
    elif kind == "raw_data" and initializer is not None and initializer.raw_data:
        initializer.raw_data = initializer.raw_data[: rng.randrange(len(initializer.raw_data))]
    elif kind == "opset":
        model.opset_import[0].version = rng.choice([0, 1, 6, 10, 99, 10_000])
    elif kind == "ir_version":
        model.ir_version = rng.choice([0, 1, 3, 99])
    elif kind == "drop_output":
        del graph.output[rng.randrange(len(graph.output))]
    elif kind == "elem_type":
        graph.input[0].type.tensor_type.elem_type = rng.choice([0, 7, 8, 99])
    elif kind == "duplicate_node":
        graph.node.append(node)
    elif kind == "attribute" and node.attribute:
        attribute = node.attribute[rng.randrange(len(node.attribute))]
        attribute.type = rng.choice([1, 2, 3, 7, 99])
    elif kind == "negative_dim":
        dims = graph.input[0].type.tensor_type.shape.dim
        dims[rng.randrange(len(dims))].dim_value = rng.choice([-1, 0, 1 << 40])
    elif kind == "domain":
        node.domain = rng.choice(["com.microsoft", "ai.onnx.ml", "nowhere"])
    return f"onnx-{kind}", model.SerializeToString()


def build_cases(bases: list[Base], seed: int, per_base: int) -> list[Case]:
    """``per_base`` cases per base: 35% bit flips, 25% truncations, 40% structural mutations."""
    cases = []
    for base in bases:
        rng = random.Random(f"{seed}-{base.name}")
        structural = onnx_field_mutation if base.name == "onnx" else zip_mutation
        for index in range(per_base):
            share = index / per_base
            if share < 0.35:
                mutation, data = "bit-flips", bit_flips(base.data, rng)
            elif share < 0.60:
                mutation, data = "truncation", truncation(base.data, rng)
            else:
                mutation, data = structural(base.data, rng)
            command = base.commands[index % len(base.commands)]
            cases.append(
                Case(
                    f"{base.name}-{index:03d}-{mutation}",
                    base.name,
                    mutation,
                    base.file_name,
                    data,
                    command,
                    base.extra,
                )
            )
    return cases
