"""Open a model file of any supported kind as a :class:`LoadedModel`.

Kinds: Heimdall checkpoints (``model_state_dict``), plain and Lightning-style state
dicts, TorchScript, torch.export ``.pt2``, whole pickled modules (only with
``trust``) and existing ``.onnx`` files. The kind is told from the content.

Files are always opened with ``torch.load(weights_only=True)`` first; full
unpickling, which runs code from the file, happens only with ``SourceOptions.trust``.
torch is imported inside functions so that importing this module stays fast.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from heimdall_studio.core import model as kinds
from heimdall_studio.core.checkpoint_size import check_declared_size
from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.limits import check_feed_fits
from heimdall_studio.core.model import LoadedModel
from heimdall_studio.core.sources_files import (
    ONNX_FILE,
    PT2_ZIP,
    TORCHSCRIPT_ZIP,
    detect_format,
    one_line,
    pickle_globals,
    read_onnx_header,
)
from heimdall_studio.core.sources_pt2 import load_exported_program
from heimdall_studio.core.sources_state import (
    BuiltModule,
    build_localization_net,
    build_model_class,
    localization_prefix,
)
from heimdall_studio.core.specs import SourceOptions, TensorSpec, parse_tensor_spec

_INPUT_HINT = "Pass --input NAME:DIMS:DTYPE for each input of the model, e.g. --input x:batch,3,224,224:float32."


def load_source(path: str | Path, options: SourceOptions = SourceOptions()) -> LoadedModel:
    """Open ``path`` and return a ready :class:`LoadedModel`.

    A PyTorch source comes back in eval mode on the CPU with its parameters
    counted, its input specs resolved (``options.inputs`` > the file's ``heimdall``
    metadata > the built-in LocalizationNet > the ExportedProgram's signature) and
    one forward pass on a batch-1 dummy input already run. An ``.onnx`` source comes
    back with ``module=None`` and the graph's inputs and outputs.

    Raises BadInputError (message: what happened; hint: what to do) for a missing,
    empty, truncated or unknown file, a pickle that needs ``trust``, weights that do
    not fit the class, an unusable ``--model-class``/``--model-kwargs``, unknown
    input specs, or a forward pass that fails on the specs.
    """
    path = Path(path).expanduser()
    file_format = detect_format(path)
    override = [parse_tensor_spec(text) for text in options.inputs]
    if file_format == ONNX_FILE:
        return _load_onnx(path, override)
    check_declared_size(path, file_format)  # before torch allocates what the file declares
    if file_format == TORCHSCRIPT_ZIP:
        loaded, example = _load_torchscript(path), None
    elif file_format == PT2_ZIP:
        loaded, example = _load_exported_program(path, options.trust)
    else:
        loaded, example = _load_pickled(path, file_format, options), None
    return _finish(loaded, options, override, example)


def _load_onnx(path: Path, override: list[TensorSpec]) -> LoadedModel:
    header = read_onnx_header(path)
    metadata = header["metadata"]
    return LoadedModel(
        kind=kinds.ONNX,
        source=str(path),
        inputs=override or header["inputs"],
        output_names=header["outputs"],
        architecture=f"ONNX (opset {metadata['opset']}, {metadata['producer'] or 'unknown producer'})",
        parameters=header["parameters"],
        onnx_path=path,
        metadata=metadata,
    )


def _load_torchscript(path: Path) -> LoadedModel:
    import torch

    try:
        module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise BadInputError(
            f"{path} looks like TorchScript but could not be loaded ({one_line(exc)}).",
            "Save it again with torch.jit.save, or export with a matching PyTorch version.",
        ) from None
    name = getattr(module, "original_name", "") or type(module).__name__
    return LoadedModel(kind=kinds.TORCHSCRIPT, source=str(path), module=module, architecture=f"TorchScript({name})")


def _load_exported_program(path: Path, trust: bool) -> tuple[LoadedModel, tuple[Any, ...] | None]:
    program = load_exported_program(path, trust)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = program.module()
    except Exception as exc:
        raise BadInputError(
            f"{path} looks like a torch.export program but could not be loaded ({one_line(exc)}).",
            "Save it again with torch.export.save, using the PyTorch version installed here.",
        ) from None
    inputs = _exported_program_inputs(program)
    example = program.example_inputs[0] if program.example_inputs and not program.example_inputs[1] else None
    loaded = LoadedModel(
        kind=kinds.EXPORTED_PROGRAM, source=str(path), module=module, inputs=inputs, architecture="ExportedProgram"
    )
    return loaded, example


def _exported_program_inputs(program: Any) -> list[TensorSpec]:
    """User inputs of an ExportedProgram; dims declared dynamic become names (``batch`` on axis 0)."""
    from torch.export.graph_signature import InputKind

    user = [spec.arg.name for spec in program.graph_signature.input_specs if spec.kind == InputKind.USER_INPUT]
    values = {node.name: node.meta.get("val") for node in program.graph.nodes if node.op == "placeholder"}
    names: dict[str, str] = {}
    specs = []
    for name in user:
        value = values.get(name)
        if value is None or not hasattr(value, "shape"):
            return []
        shape: list[int | str] = []
        for axis, dim in enumerate(value.shape):
            if isinstance(dim, int):
                shape.append(dim)
            else:
                symbol = str(dim)
                names.setdefault(symbol, "batch" if axis == 0 and "batch" not in names.values() else f"dim_{symbol}")
                shape.append(names[symbol])
        specs.append(TensorSpec(name, tuple(shape), str(value.dtype).removeprefix("torch.")))
    return specs


def _torch_load(path: Path, weights_only: bool) -> Any:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.load(str(path), map_location="cpu", weights_only=weights_only)


def _load_pickled(path: Path, file_format: str, options: SourceOptions) -> LoadedModel:
    """A torch.save file: a state dict or checkpoint (safe), or a whole module (only with trust)."""
    try:
        content = _torch_load(path, weights_only=True)
    except Exception as exc:
        content = _load_untrusted(path, file_format, options, exc)
    from torch import nn

    if isinstance(content, nn.Module):
        return LoadedModel(
            kind=kinds.PICKLED_MODULE,
            source=str(path),
            module=content,
            architecture=f"{type(content).__module__}:{type(content).__qualname__}",
            metadata={"trusted_unpickling": True},
        )
    if not isinstance(content, Mapping):
        raise BadInputError(
            f"{path} holds a {type(content).__name__}, not a model, state dict or checkpoint.",
            "Save the model's state_dict() (or the whole module with --trust).",
        )
    return _load_state_dict_file(path, content, options)


def _load_untrusted(path: Path, file_format: str, options: SourceOptions, safe_error: Exception) -> Any:
    """The safe load failed: tell a damaged file from one that needs full unpickling."""
    try:
        found = pickle_globals(path, file_format)
    except Exception:
        raise BadInputError(
            f"{path} is not a readable PyTorch file: it is cut short or damaged ({one_line(safe_error)}).",
            "Copy or save the file again; check that it was written completely.",
        ) from None
    unsafe = [name for name in found if name not in _allowed_globals()]
    if not unsafe:
        raise BadInputError(
            f"{path} is not a readable PyTorch file: it is cut short or damaged, or was written "
            f"by an incompatible PyTorch version ({one_line(safe_error)}).",
            "Copy or save the file again; check that it was written completely.",
        )
    if not options.trust:
        raise BadInputError(
            f"{path} contains pickled Python objects ({', '.join(unsafe[:5])}"
            f"{', …' if len(unsafe) > 5 else ''}), not only tensors. Opening it means unpickling it, which "
            "runs code from the file; it was not opened.",
            "If you trust where the file came from, pass --trust. Better: save model.state_dict() and load "
            "it with --model-class.",
        )
    try:
        return _torch_load(path, weights_only=False)
    except Exception as exc:
        raise BadInputError(
            f"Unpickling {path} failed ({one_line(exc)}).",
            "The classes it was pickled with must be importable here: install their package or "
            "run from the folder that holds them.",
        ) from None


def _allowed_globals() -> set[str]:
    # What torch.load(weights_only=True) accepts: tensors, storages, dtypes, containers.
    try:
        from torch._weights_only_unpickler import _get_allowed_globals

        allowed = set(_get_allowed_globals())
    except Exception:
        allowed = {"collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch.FloatStorage"}
    return allowed


def _load_state_dict_file(path: Path, content: Mapping[str, Any], options: SourceOptions) -> LoadedModel:
    import torch

    metadata: dict[str, Any] = {}
    found = content.get("heimdall")
    heimdall: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    hyper: Mapping[str, Any] = {}
    if isinstance(content.get("model_state_dict"), Mapping):
        kind, state_dict = kinds.CHECKPOINT, content["model_state_dict"]
        for key in ("epoch", "best_val_loss"):
            value = content.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                metadata[key] = value
    elif isinstance(content.get("state_dict"), Mapping):
        kind, state_dict = kinds.STATE_DICT, content["state_dict"]
        if isinstance(content.get("hyper_parameters"), Mapping):
            hyper = content["hyper_parameters"]
        metadata["layout"] = "lightning"
    elif content and all(isinstance(v, torch.Tensor) for v in content.values()):
        kind, state_dict = kinds.STATE_DICT, content
    else:
        keys = ", ".join(sorted(str(k) for k in content)[:10])
        raise BadInputError(
            f"{path} holds a dict ({keys}) without model_state_dict or state_dict, and it is "
            "not a state dict of tensors.",
            "Save {'model_state_dict': model.state_dict()} or model.state_dict() itself.",
        )
    if options.model_kwargs:
        kwargs, given = dict(options.model_kwargs), True
    else:
        file_kwargs = heimdall.get("model_kwargs")
        kwargs, given = dict(file_kwargs if isinstance(file_kwargs, Mapping) else hyper), False
    if options.model_class:
        built = build_model_class(state_dict, options.model_class, kwargs, given)
    else:
        prefix = localization_prefix(state_dict)
        if prefix is None:
            sample = ", ".join(list(state_dict)[:5])
            raise BadInputError(
                f"{path} holds weights of an architecture Heimdall Studio does not know (keys such as {sample}).",
                "Pass --model-class package.module:Class (and --model-kwargs if its __init__ "
                "needs arguments) so the weights can be loaded into it.",
            )
        built = build_localization_net(state_dict, prefix, kwargs, given)
    metadata.update(built.metadata)
    for key in ("demo", "seed"):
        if key in heimdall:
            metadata[key] = heimdall[key]
    loaded = LoadedModel(
        kind=kind, source=str(path), module=built.module, architecture=built.architecture, metadata=metadata
    )
    _apply_builtin_specs(loaded, built)
    if heimdall.get("inputs") and not options.inputs:
        try:
            loaded.inputs = [TensorSpec.from_dict(spec) for spec in heimdall["inputs"]]
        except (KeyError, TypeError, AttributeError) as exc:
            raise BadInputError(
                f"{path}: the input specs in its 'heimdall' metadata are malformed ({one_line(exc)}).",
                _INPUT_HINT + " --input overrides the file's specs.",
            ) from None
    if heimdall.get("outputs"):
        loaded.output_names = [str(name) for name in heimdall["outputs"]]
    return loaded


def _apply_builtin_specs(loaded: LoadedModel, built: BuiltModule | None = None) -> None:
    from heimdall_studio.models.localization_net import INPUT_SPEC, OUTPUT_NAMES, LocalizationNet

    if (built is not None and built.builtin) or isinstance(loaded.module, LocalizationNet):
        loaded.inputs = [INPUT_SPEC]
        loaded.output_names = list(OUTPUT_NAMES)


def _finish(
    loaded: LoadedModel, options: SourceOptions, override: list[TensorSpec], example: tuple[Any, ...] | None
) -> LoadedModel:
    """Eval mode, parameter count, input specs, one forward pass, output names."""
    module = loaded.module
    if loaded.kind != kinds.EXPORTED_PROGRAM:  # its module() refuses eval(): the mode is fixed at export
        module.eval()
    if loaded.kind == kinds.PICKLED_MODULE:
        _apply_builtin_specs(loaded)
    loaded.parameters = sum(int(p.numel()) for p in module.parameters())
    if override:
        loaded.inputs, example = override, None
    if not loaded.inputs:
        raise BadInputError(
            f"{loaded.source} does not say what inputs {loaded.architecture} takes{_argument_names(module)}.",
            _INPUT_HINT,
        )
    from heimdall_studio.core.runners import flatten_outputs, is_nested

    outputs = _forward_once(loaded, example)
    leaves, paths = flatten_outputs(outputs)
    if options.output_names:
        if len(options.output_names) != len(leaves):
            raise BadInputError(
                f"{len(options.output_names)} output names were given "
                f"({', '.join(options.output_names)}), but the model returns {len(leaves)} "
                f"output(s) ({', '.join(paths)}).",
                "Give one --output-name per output, or none to use the model's own names.",
            )
        loaded.output_names = list(options.output_names)
    elif len(loaded.output_names) != len(leaves) and (isinstance(outputs, Mapping) or is_nested(outputs)):
        loaded.output_names = paths  # named after the dict keys and positions: logits, aux.0, …
    return loaded


def _argument_names(module: Any) -> str:
    import inspect

    try:
        schema = getattr(getattr(module, "forward", None), "schema", None)
        if schema is not None:
            names = [a.name for a in schema.arguments if a.name != "self"]
        else:
            names = list(inspect.signature(module.forward).parameters)
    except Exception:
        return ""
    return f" (forward takes: {', '.join(names)})" if names else ""


def _dummy(spec: TensorSpec) -> Any:
    import torch

    shape = spec.concrete_shape(1)
    dtype = getattr(torch, spec.dtype, None)
    if not isinstance(dtype, torch.dtype):
        raise BadInputError(f"Input {spec.name} has dtype {spec.dtype!r}, which PyTorch does not know.", _INPUT_HINT)
    if dtype.is_floating_point:
        generator = torch.Generator().manual_seed(0)
        return torch.randn(shape, generator=generator).to(dtype)
    if dtype == torch.bool:
        return torch.ones(shape, dtype=dtype)
    return torch.zeros(shape, dtype=dtype)


def _forward_once(loaded: LoadedModel, example: tuple[Any, ...] | None) -> Any:
    """Run the module once so a model/spec mismatch fails now, not halfway through an export."""
    import torch

    specs = ", ".join(str(spec) for spec in loaded.inputs)
    if example is None:
        check_feed_fits(loaded.inputs, [1], "a test forward pass")
    tensors = example if example is not None else tuple(_dummy(spec) for spec in loaded.inputs)
    try:
        with torch.no_grad():
            return loaded.module(*tensors)
    except Exception as exc:
        raise BadInputError(
            f"A test forward pass of {loaded.architecture} on input(s) {specs} (batch 1) failed: {one_line(exc)}",
            _INPUT_HINT + " The shapes must be ones the model accepts.",
        ) from None
