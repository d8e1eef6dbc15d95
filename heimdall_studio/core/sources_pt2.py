"""Opening a ``torch.export`` (``.pt2``) archive without running code from it.

``torch.export.load`` cannot be told to stay safe: the archive's sample inputs are
unpickled with ``weights_only=True`` and, when that fails, again with
``weights_only=False``; pickled weights and constants are always loaded with
``weights_only=False``; "opaque" constants go through ``pickle.loads``; and the
program's symbolic shapes are parsed with ``sympy.sympify``, which evaluates Python.
(Graph nodes whose target is not an operator are refused by torch's own verifier.)

Without ``trust`` this module therefore (1) reads the archive's directory and its
program JSON first, refusing opaque or TorchBind objects and symbolic expressions
that are more than arithmetic on symbols; then (2) runs ``torch.export.load`` with
every ``torch.load`` forced to ``weights_only=True`` (``TORCH_FORCE_WEIGHTS_ONLY_LOAD``),
so a pickled piece that needs more is refused, not executed. torch's own log lines
about the load (including its broken "Fallback…" warning that printed
"--- Logging error ---" tracebacks) are kept from the user.
"""

from __future__ import annotations

import contextlib
import io
import json
import keyword
import logging
import os
import re
import threading
import tokenize
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.sources_files import one_line

_TRUST_HINT = (
    "If you trust where the file came from, pass --trust. Better: export it again from code you "
    "control with torch.export.save (tensors only)."
)
_FORCE_SAFE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
_FORCE_UNSAFE = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_ENV_LOCK = threading.Lock()

_EXPRESSION_OPS = frozenset("+ - * / // % ** ( ) , = < > <= >= == != & | ~ ^".split())
_NAME_LITERAL = re.compile(r"""(['"])[A-Za-z0-9_.+\-]*\1""")
_EXPRESSION_FUNCTIONS = frozenset(
    {
        "Max",
        "Min",
        "Eq",
        "Ne",
        "Lt",
        "Le",
        "Gt",
        "Ge",
        "StrictLessThan",
        "StrictGreaterThan",
        "LessThan",
        "GreaterThan",
        "Equality",
        "Unequality",
        "And",
        "Or",
        "Not",
        "Mod",
        "floor",
        "ceiling",
        "Abs",
        "sqrt",
        "Piecewise",
        "ExprCondPair",
        "ITE",
        "Integer",
        "Rational",
        "Float",
        "Pow",
        "Mul",
        "Add",
        "Symbol",
        "Dummy",
        "Tuple",
        "BooleanTrue",
        "BooleanFalse",
    }
)


def load_exported_program(path: Path, trust: bool) -> Any:
    """The ExportedProgram in ``path``; code from the file runs only with ``trust``.

    Raises BadInputError when the archive holds something that would run code
    (naming it, with --trust in the hint) or cannot be loaded at all.
    """
    import torch

    if not trust:
        refuse_unsafe_parts(path)
    try:
        with _quiet_torch(), _weights_only_loads(not trust):
            return torch.export.load(str(path))
    except BadInputError:
        raise
    except Exception as exc:
        refused = _weights_only_refusal(exc)
        if refused and not trust:
            raise BadInputError(
                f"{path} holds pickled Python objects ({refused}), not only tensors. Loading it means "
                "unpickling them, which runs code from the file; it was not loaded.",
                _TRUST_HINT,
            ) from None
        raise BadInputError(
            f"{path} looks like a torch.export program but could not be loaded ({one_line(exc)}).",
            "Save it again with torch.export.save, using the PyTorch version installed here.",
        ) from None


def refuse_unsafe_parts(path: Path) -> None:
    """BadInputError if the archive has parts that run code however torch.load is called."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            programs = [
                n
                for n in names
                if re.search(r"(^|/)models/[^/]+\.json$", n) or n.endswith("serialized_exported_program.json")
            ]
            texts = [archive.read(n) for n in programs]
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:
        raise BadInputError(
            f"{path} is a damaged torch.export archive ({one_line(exc)}).",
            "Copy the file again from its source, or save it again with torch.export.save.",
        ) from None
    objects = [n for n in names if re.search(r"data/constants/(custom_obj_|opaque_obj_)", n)]
    if objects:
        raise BadInputError(
            f"{path} holds pickled Python or TorchBind objects ({', '.join(objects[:3])}); "
            "loading them runs code from the file, so it was not loaded.",
            _TRUST_HINT,
        )
    for name, text in zip(programs, texts, strict=True):
        try:
            program = json.loads(text)
        except ValueError as exc:
            raise BadInputError(
                f"{path}: its program {name} is not valid JSON ({one_line(exc)}).",
                "Save it again with torch.export.save.",
            ) from None
        for expression in _expressions(program):
            problem = _unsafe_expression(expression)
            if problem:
                raise BadInputError(
                    f"{path} {problem}; loading or running it would run Python code from the "
                    "file, so it was not loaded.",
                    _TRUST_HINT,
                )


def _expressions(value: Any) -> Iterator[str]:
    """Every symbolic-shape expression (``expr_str``) in a serialized program."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if isinstance(item.get("expr_str"), str):
                yield item["expr_str"]
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)


def _unsafe_expression(expr: str) -> str:
    """Why a symbolic-shape expression is more than sympy's ``srepr`` of arithmetic on symbols
    ("" when it is not): only numbers, plain names, short name-like strings, arithmetic and
    comparison operators, keyword arguments, and calls of known sympy/torch shape functions."""
    refusal = f"has a symbolic shape expression that is not plain arithmetic ({expr[:80]!r})"
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(expr).readline)
            if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return refusal
    previous: Any = None
    for token in tokens:
        text = token.string
        if token.type == tokenize.NUMBER:
            ok = True
        elif token.type == tokenize.STRING:
            ok = bool(_NAME_LITERAL.fullmatch(text)) and "__" not in text
        elif token.type == tokenize.NAME:
            ok = not text.startswith("_") and (not keyword.iskeyword(text) or text in ("True", "False", "None"))
        elif token.type == tokenize.OP and text == "(":
            # A call only of a known function; "(f)(…)" or "'…'(…)" would call anything.
            ok = (
                previous is None
                or (previous.type == tokenize.OP and previous.string != ")")
                or (
                    previous.type == tokenize.NAME
                    and (previous.string in _EXPRESSION_FUNCTIONS or _sympy_class(previous.string))
                )
            )
        else:
            ok = token.type == tokenize.OP and text in _EXPRESSION_OPS
        if not ok:
            return refusal
        previous = token
    return ""


def _sympy_class(name: str) -> bool:
    """A sympy expression class (torch's shape functions or sympy's own): calling one builds an
    expression and runs nothing else."""
    import sympy
    from torch.utils._sympy import functions

    for namespace in (functions, sympy):
        found = getattr(namespace, name, None)
        if isinstance(found, type) and issubclass(found, sympy.Basic):
            return True
    return False


def _weights_only_refusal(exc: BaseException) -> str:
    """The globals a weights-only unpickler refused, or "" when ``exc`` is another failure."""
    import pickle

    text = str(exc)
    if not isinstance(exc, pickle.UnpicklingError) and "Weights only load failed" not in text:
        return ""
    found = re.findall(r"Unsupported global: GLOBAL ([\w.]+)", text)
    return ", ".join(dict.fromkeys(found)) or "objects the safe loader does not accept"


@contextlib.contextmanager
def _weights_only_loads(enabled: bool) -> Iterator[None]:
    """Every ``torch.load`` inside the block behaves as ``weights_only=True`` (read from the
    environment by torch at each call)."""
    if not enabled:
        yield
        return
    with _ENV_LOCK:
        saved = {name: os.environ.get(name) for name in (_FORCE_SAFE, _FORCE_UNSAFE)}
        os.environ[_FORCE_SAFE] = "1"
        os.environ.pop(_FORCE_UNSAFE, None)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


@contextlib.contextmanager
def _quiet_torch() -> Iterator[None]:
    """No warnings and no log records (torch's or anyone's) while the archive loads; our own
    error message says what went wrong."""
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)
