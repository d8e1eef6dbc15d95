"""Turning a state dict into a module: the built-in LocalizationNet or a ``--model-class``.

torch and the user's package are imported inside functions only.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.sources_files import one_line

_CLASS_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
_LOCALIZATION_SIGNATURE = "backbone.0.0.0.weight"
_LIST_LIMIT = 10


@dataclass
class BuiltModule:
    """A module with its weights loaded, and how it was built."""

    module: Any
    architecture: str
    builtin: bool = False  # the built-in LocalizationNet: its input/output specs apply
    metadata: dict[str, Any] = field(default_factory=dict)


def import_model_class(spec: str) -> type:
    """The class named by ``package.module:Class``.

    When the module is not importable as is, the current folder is tried too (so
    ``tests.support.tiny_models:TwoHeadNet`` works from a repository root). Raises
    BadInputError for a malformed spec, a module that cannot be imported, a missing
    attribute, or something that is not a torch.nn.Module subclass.
    """
    from torch import nn

    if not _CLASS_SPEC.match(spec or ""):
        raise BadInputError(
            f"--model-class {spec!r} is not of the form package.module:Class.",
            "Write it like mypackage.models:LocalizationNet (module path, a colon, the class name).",
        )
    module_name, _, qualname = spec.partition(":")
    try:
        module = _import(module_name)
    except BadInputError:
        raise
    except Exception as exc:
        raise BadInputError(
            f"--model-class {spec}: importing {module_name} failed ({one_line(exc)}).",
            "Fix the error in that module, or check that its dependencies are installed.",
        ) from None
    target: Any = module
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise BadInputError(
                f"--model-class {spec}: module {module_name} has no attribute {part!r}.",
                "Check the class name's spelling and case.",
            )
        target = getattr(target, part)
    if not (isinstance(target, type) and issubclass(target, nn.Module)):
        raise BadInputError(
            f"--model-class {spec} is not a torch.nn.Module subclass ({type(target).__name__}).",
            "Name the nn.Module class whose state dict the file holds.",
        )
    return target


def forget_working_directory() -> None:
    """Take the working directory that ``python -m`` put first on sys.path off it again.

    Otherwise a file there named like a library imported later (``onnxruntime.py``) would be
    imported instead of it. ``--model-class`` still finds the user's module there (see
    :func:`import_model_class`), for that one import only.
    """
    # sys.flags.safe_path (python -P) is new in 3.11; 3.10 always puts the script's folder first.
    if not getattr(sys.flags, "safe_path", False) and sys.path and sys.path[0] in ("", os.getcwd()):
        sys.path.pop(0)


def _import(module_name: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        missing_root = exc.name is not None and module_name.split(".")[0] == exc.name.split(".")[0]
        if missing_root and cwd not in sys.path:
            try:
                return _import_from_folder(module_name, cwd)
            except ModuleNotFoundError:
                pass
        raise BadInputError(
            f"--model-class: cannot import module {module_name!r} ({one_line(exc)}).",
            "Install the package that defines the class, or run from the folder that holds it (or add that "
            "folder to PYTHONPATH).",
        ) from None


def _import_from_folder(module_name: str, folder: str) -> Any:
    """Import ``module_name`` with ``folder`` on sys.path for that import only.

    The folder goes last, so installed libraries win over same-named files there, and it is taken
    off again afterwards. Modules that the import pulled in from the folder under other names
    (a stray ``onnxruntime.py``, say) are dropped from sys.modules, so later steps import the real
    library; only the user's own package stays.
    """
    root = module_name.split(".")[0]
    before = set(sys.modules)
    sys.path.append(folder)
    try:
        return importlib.import_module(module_name)
    finally:
        sys.path.remove(folder)
        base = os.path.realpath(folder)
        for name in set(sys.modules) - before:
            if name.split(".")[0] == root:
                continue
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if origin and os.path.realpath(origin).startswith(base + os.sep):
                del sys.modules[name]
        importlib.invalidate_caches()


def accepted_kwargs(cls: type, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``kwargs`` that ``cls.__init__`` takes by name (all of them if it takes ``**kwargs``)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return dict(kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kwargs)
    return {k: v for k, v in kwargs.items() if k in params}


def instantiate(cls: type, kwargs: Mapping[str, Any], label: str) -> Any:
    """``cls(**kwargs)``; BadInputError with the class's own complaint when it refuses."""
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise BadInputError(
            f"{label} does not accept --model-kwargs {dict(kwargs)!r} ({one_line(exc)}).",
            "Pass the keyword arguments the class's __init__ takes, as JSON: --model-kwargs '{\"width\": 16}'.",
        ) from None
    except Exception as exc:
        raise BadInputError(
            f"Building {label} with --model-kwargs {dict(kwargs)!r} failed ({one_line(exc)}).",
            "Check the values in --model-kwargs.",
        ) from None


def strip_prefix(state_dict: Mapping[str, Any], expected: set[str]) -> tuple[dict[str, Any], str, list[str]]:
    """Fit keys saved with a wrapper prefix (``model.``, ``module.``, ``net.``…) to ``expected``.

    Returns (state dict, the prefix removed or "", keys dropped because they did
    not carry the prefix — e.g. a Lightning module's loss or EMA weights). The dict
    is returned unchanged when no prefix makes more keys fit.
    """
    direct = len(expected & set(state_dict))
    candidates: Counter[str] = Counter()
    for key in state_dict:
        for i, char in enumerate(key):
            if char == "." and key[i + 1 :] in expected:
                candidates[key[: i + 1]] += 1
    if not candidates:
        return dict(state_dict), "", []
    prefix, count = candidates.most_common(1)[0]
    if count <= direct:
        return dict(state_dict), "", []
    fitted = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    dropped = [k for k in state_dict if not k.startswith(prefix)]
    return fitted, prefix, dropped


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_LIST_LIMIT])
    return shown + (f", … and {len(keys) - _LIST_LIMIT} more" if len(keys) > _LIST_LIMIT else "")


def load_weights(module: Any, state_dict: Mapping[str, Any], label: str, assign: bool = False) -> None:
    """``module.load_state_dict(state_dict, strict=True, assign=assign)``, with a readable refusal.

    ``assign`` takes the file's tensors as the parameters (for a module built on the
    meta device).
    Raises BadInputError listing missing keys, unexpected keys (first 10 of each
    and the counts) and shape mismatches with both shapes.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mismatched = [
        f"{k}: file {tuple(state_dict[k].shape)}, model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and hasattr(state_dict[k], "shape") and tuple(state_dict[k].shape) != tuple(own[k].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {_listing(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): {_listing(mismatched)}")
    if problems:
        raise BadInputError(
            f"The weights do not fit {label}: " + "; ".join(problems) + ".",
            "Check --model-class and --model-kwargs (sizes such as widths must match the ones the model was "
            "trained with).",
        )
    try:
        module.load_state_dict(state_dict, strict=True, assign=assign)
    except Exception as exc:
        raise BadInputError(
            f"Loading the weights into {label} failed ({one_line(exc)}).", "Check --model-class and --model-kwargs."
        ) from None


def localization_prefix(state_dict: Mapping[str, Any]) -> str | None:
    """The prefix under which a LocalizationNet's keys sit ("" for none), or None if it is not one."""
    for key in state_dict:
        if key.endswith(_LOCALIZATION_SIGNATURE):
            prefix = key[: -len(_LOCALIZATION_SIGNATURE)]
            if prefix + "position_head.0.weight" in state_dict:
                return prefix
    return None


def build_localization_net(
    state_dict: Mapping[str, Any], prefix: str, kwargs: Mapping[str, Any], kwargs_given: bool = False
) -> BuiltModule:
    """The built-in LocalizationNet of the size the weights have, with the weights loaded.

    The backbone size always comes from the weights (a ``backbone`` in ``kwargs`` is
    ignored). Kwargs from the file that LocalizationNet does not take are dropped;
    ``kwargs_given`` (the user's --model-kwargs) makes them an error instead. Raises BadInputError for
    inconsistent checkpoints (see
    :func:`heimdall_studio.models.localization_net.infer_backbone`) or weights that do not fit.
    """
    import torch

    from heimdall_studio.models.localization_net import LocalizationNet, infer_backbone

    # float32 like the model (what copying into its parameters would give a fp16 file).
    fitted = {
        k[len(prefix) :]: (v.float() if v.is_floating_point() else v)
        for k, v in state_dict.items()
        if k.startswith(prefix)
    }
    dropped = [k for k in state_dict if not k.startswith(prefix)]
    backbone = infer_backbone(fitted)
    kwargs = {
        k: v
        for k, v in (kwargs if kwargs_given else accepted_kwargs(LocalizationNet, kwargs)).items()
        if k != "backbone"
    }
    label = f"LocalizationNet(convnext_{backbone})"
    # Built on the meta device: random initialisation of ~28M-200M parameters would be
    # thrown away by the load. Every parameter and buffer is persistent, so strict
    # loading with assign=True leaves nothing on meta.
    with torch.device("meta"):
        module = instantiate(LocalizationNet, {"backbone": backbone, **kwargs}, label)
    load_weights(module, fitted, label, assign=True)
    metadata: dict[str, Any] = {"backbone": backbone, "model_kwargs": {"backbone": backbone, **kwargs}}
    if prefix:
        metadata["key_prefix_removed"] = prefix
    if dropped:
        metadata["keys_ignored"] = len(dropped)
    return BuiltModule(module, label, builtin=True, metadata=metadata)


def build_model_class(
    state_dict: Mapping[str, Any], class_spec: str, kwargs: Mapping[str, Any], kwargs_given: bool
) -> BuiltModule:
    """``class_spec``'s class built with ``kwargs`` and the weights loaded (prefix stripped when that fits).

    ``kwargs_given`` False means the kwargs came from the file (hyper_parameters):
    only the ones the class takes are passed. Raises BadInputError (see
    :func:`import_model_class`, :func:`instantiate`, :func:`load_weights`).
    """
    from heimdall_studio.models.localization_net import LocalizationNet

    cls = import_model_class(class_spec)
    if not kwargs_given:
        kwargs = accepted_kwargs(cls, kwargs)
    if cls is LocalizationNet:
        prefix = localization_prefix(state_dict)
        if prefix is not None:
            built = build_localization_net(state_dict, prefix, kwargs, kwargs_given)
            built.architecture = f"{built.architecture} ({class_spec})"
            return built
    module = instantiate(cls, kwargs, class_spec)
    fitted, prefix, dropped = strip_prefix(state_dict, set(module.state_dict()))
    load_weights(module, fitted, class_spec)
    metadata: dict[str, Any] = {"model_class": class_spec, "model_kwargs": _json_safe(dict(kwargs))}
    if prefix:
        metadata["key_prefix_removed"] = prefix
    if dropped:
        metadata["keys_ignored"] = len(dropped)
    return BuiltModule(module, class_spec, builtin=isinstance(module, LocalizationNet), metadata=metadata)


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return repr(value)
