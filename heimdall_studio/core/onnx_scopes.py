"""Which nn.Module produced each ONNX node, from the scope records both exporters write.

- The dynamo exporter puts ``pkg.torch.onnx.name_scopes`` on every node: the dotted paths of the
  modules it ran in, outermost first, then the FX node's own name, e.g.
  ``['', 'backbone', 'backbone.0', 'backbone.0.5', 'conv2d_11']``; ``pkg.torch.onnx.stack_trace``
  holds the Python frames that called it.
- The TorchScript exporter names nodes ``/scope/scope/Op``, e.g.
  ``/backbone/backbone.0/backbone.0.1.0/block/block.4/Add``: each scope is a child's attribute
  name, written after its parent's scope when the child is an index of a Sequential/ModuleList.
  It records no source lines.

Nodes are returned in graph order, which ONNX requires to be topological.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

SCOPES_KEY = "pkg.torch.onnx.name_scopes"
STACK_KEY = "pkg.torch.onnx.stack_trace"


@dataclass(frozen=True)
class ScopedNode:
    index: int  # position in the graph: the topological order
    name: str
    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    modules: tuple[str, ...]  # dotted module paths it ran in, outermost first ("" root excluded)
    source: str  # "file:line: code" of the user's frame, or ""


def scoped_nodes(graph: Any, module_paths: set[str]) -> list[ScopedNode]:
    """Every node of ``graph`` (an onnx GraphProto) with the modules it belongs to; only paths in
    ``module_paths`` (the PyTorch model's ``named_modules``) are kept."""
    nodes = []
    for index, node in enumerate(graph.node):
        meta = {prop.key: prop.value for prop in node.metadata_props}
        if SCOPES_KEY in meta:
            chain = _dynamo_chain(meta[SCOPES_KEY])
        else:
            chain = _torchscript_chain(node.name)
        modules = tuple(path for path in chain if path in module_paths)
        nodes.append(
            ScopedNode(
                index,
                node.name,
                node.op_type,
                tuple(i for i in node.input if i),
                tuple(o for o in node.output if o),
                modules,
                user_frame(meta.get(STACK_KEY, "")),
            )
        )
    return nodes


def _dynamo_chain(text: str) -> list[str]:
    try:
        scopes = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    # The last entry is the FX node (an operator), not a module.
    return [str(s) for s in scopes[1:-1] if s]


def _torchscript_chain(name: str) -> list[str]:
    parts = name.split("/")
    if len(parts) < 3 or parts[0] != "":
        return []
    chain: list[str] = []
    previous, path = "", ""
    for segment in parts[1:-1]:
        attr = segment[len(previous) + 1 :] if previous and segment.startswith(previous + ".") else segment
        path = f"{path}.{attr}" if path else attr
        chain.append(path)
        previous = segment
    return chain


def user_frame(stack: str) -> str:
    """The innermost frame of ``stack`` outside torch and site-packages, as ``file:line: code``."""
    frames: list[str] = []
    lines = stack.splitlines()
    for i, line in enumerate(lines):
        text = line.strip()
        if not text.startswith("File "):
            continue
        try:
            file_part, line_part = text[len("File ") :].split(", line ", 1)
        except ValueError:
            continue
        path = file_part.strip('"')
        if "site-packages" in path or "/torch/" in path:
            continue
        number = line_part.split(",", 1)[0]
        code = lines[i + 1].strip() if i + 1 < len(lines) and not lines[i + 1].strip().startswith("File ") else ""
        frames.append(f"{path}:{number}: {code}".rstrip(": "))
    return frames[-1] if frames else ""


@dataclass(frozen=True)
class ModuleValue:
    """An ONNX value that leaves a module: a candidate for that module's output."""

    module: str
    value: str
    node: ScopedNode


def module_outputs(nodes: list[ScopedNode], graph_outputs: set[str]) -> dict[str, list[ModuleValue]]:
    """Per module path: the values its nodes produce that are used outside it (or are graph
    outputs), in topological order. The module's output is among them."""
    producer = {value: node for node in nodes for value in node.outputs}
    users: dict[str, list[ScopedNode]] = {}
    for node in nodes:
        for value in node.inputs:
            users.setdefault(value, []).append(node)
    result: dict[str, list[ModuleValue]] = {}
    for value, node in producer.items():
        consumers = users.get(value, [])
        for module in node.modules:
            leaves = value in graph_outputs or any(module not in user.modules for user in consumers)
            if leaves:
                result.setdefault(module, []).append(ModuleValue(module, value, node))
    for values in result.values():
        values.sort(key=lambda item: item.node.index)
    return result
