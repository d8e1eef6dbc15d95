"""Runners: one contract for every backend, like Polygraphy's.

A runner is built cheaply, does its heavy set-up in :meth:`Runner.activate`
(moving a module to a device, creating an ONNX Runtime session), then answers
:meth:`Runner.infer` with numpy arrays keyed by output name, and records how long
the last inference took. Parity and benchmark take any runners.

torch and onnxruntime are imported inside the functions that need them, so
importing this module stays cheap.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.errors import BadInputError
from heimdall_studio.core.failures import ort_load_error, ort_run_error
from heimdall_studio.core.specs import TensorSpec

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
GPU_EXTRA_HINT = "install onnxruntime-gpu: pip install heimdall-studio[gpu]"


class Runner(abc.ABC):
    """activate → infer* → deactivate; also a context manager doing the first and last."""

    runtime: str = ""  # "pytorch" | "onnxruntime"

    def __init__(self) -> None:
        self.last_inference_ms: float = float("nan")
        self.is_active = False

    @property
    @abc.abstractmethod
    def device(self) -> str:
        """ "cpu" or "cuda"."""

    @property
    @abc.abstractmethod
    def provider(self) -> str:
        """ "torch" for PyTorch, the execution provider in use for ONNX Runtime."""

    @property
    @abc.abstractmethod
    def input_specs(self) -> list[TensorSpec]:
        """The inputs the runner expects, as far as it knows them."""

    @property
    @abc.abstractmethod
    def threads(self) -> int:
        """Intra-op threads in use (0 when the runtime decides and does not say)."""

    def activate(self) -> None:
        if not self.is_active:
            self._activate()
            self.is_active = True

    def deactivate(self) -> None:
        if self.is_active:
            self._deactivate()
            self.is_active = False

    def infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one inference; outputs in output-name order. Times the whole call."""
        if not self.is_active:
            raise RuntimeError(f"{type(self).__name__} used before activate()")
        start = time.perf_counter()
        outputs = self._infer(feed)
        self.last_inference_ms = (time.perf_counter() - start) * 1000.0
        return outputs

    def describe(self) -> str:
        return f"{self.runtime} on {self.device} ({self.provider})"

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.deactivate()

    @abc.abstractmethod
    def _activate(self) -> None: ...

    @abc.abstractmethod
    def _deactivate(self) -> None: ...

    @abc.abstractmethod
    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]: ...


def torch_module(module: Any) -> Any:
    """The callable module behind a LoadedModel's ``module`` (ExportedProgram → its module())."""
    import torch

    if isinstance(module, torch.export.ExportedProgram):
        return module.module()
    return module


def flatten_outputs(outputs: Any) -> tuple[list[Any], list[str]]:
    """Leaves of a forward's result in the order the exporters flatten them (tuples, lists and
    dicts in insertion order), and a name for each.

    Names follow the structure: a dict's keys (``logits``), dotted paths below them
    (``aux.0``, ``aux.1.scale``); the items of a top-level tuple or list are ``output0..N``
    (nested ones ``output1.0``); a single tensor is ``output0``.
    """
    leaves: list[Any] = []
    names: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, (tuple, list)):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}" if path else f"output{index}")
        else:
            leaves.append(value)
            names.append(path or "output0")

    walk(outputs, "")
    return leaves, names


def is_nested(outputs: Any) -> bool:
    """True when a forward's result is more than a tensor or a flat tuple of tensors
    (a dict, a list, or a tuple holding any of those): what the exporters need flattened."""
    if isinstance(outputs, (Mapping, list)):
        return True
    return isinstance(outputs, tuple) and any(isinstance(item, (Mapping, tuple, list)) for item in outputs)


class TorchRunner(Runner):
    """A PyTorch module (nn.Module, ScriptModule or an ExportedProgram's module).

    Outputs are named by ``output_names``; when it is empty, by the keys of a dict
    result or ``output0..N`` (the names export derives the same way).
    The module is moved to ``device`` while active and moved back afterwards.
    ``threads`` > 0 sets torch's intra-op threads while active (process-wide).
    """

    runtime = "pytorch"

    def __init__(
        self,
        module: Any,
        input_names: Sequence[str],
        output_names: Sequence[str],
        device: str = "cpu",
        threads: int = 0,
        *,
        input_specs: Sequence[TensorSpec] = (),
    ):
        super().__init__()
        self.module = module
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        self._device = device
        self._threads = threads
        self._input_specs = list(input_specs)
        self._callable: Any = None
        self._home_device: Any = None
        self._saved_threads = 0

    @property
    def device(self) -> str:
        return self._device

    @property
    def provider(self) -> str:
        return "torch"

    @property
    def input_specs(self) -> list[TensorSpec]:
        return list(self._input_specs)

    @property
    def threads(self) -> int:
        import torch

        return self._threads or torch.get_num_threads()

    def _activate(self) -> None:
        import torch

        if self._device == "cuda" and not torch.cuda.is_available():
            raise BadInputError(
                f"PyTorch cannot run on CUDA: {cuda_availability()['torch']['reason']}.",
                "Benchmark on cpu, or install a CUDA build of torch.",
            )
        self._callable = torch_module(self.module)
        first = next(iter(self._callable.parameters()), None) if hasattr(self._callable, "parameters") else None
        self._home_device = first.device if first is not None else torch.device("cpu")
        self._callable.to(self._device)
        if self._threads > 0:
            self._saved_threads = torch.get_num_threads()
            torch.set_num_threads(self._threads)

    def _deactivate(self) -> None:
        import torch

        self._callable.to(self._home_device)
        if self._saved_threads:
            torch.set_num_threads(self._saved_threads)
            self._saved_threads = 0
        if self._device == "cuda":
            torch.cuda.empty_cache()
        self._callable = None

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        import torch

        cuda = self._device == "cuda"
        args = [torch.from_numpy(np.ascontiguousarray(feed[name])).to(self._device) for name in self.input_names]
        with torch.inference_mode():
            result = self._callable(*args)
        leaves, paths = flatten_outputs(result)
        if cuda:
            torch.cuda.synchronize()
        names = self.output_names or paths
        if len(leaves) != len(names):
            raise BadInputError(
                f"The PyTorch model returned {len(leaves)} outputs but {len(names)} output "
                f"names were given ({', '.join(names)}).",
                "Give one --output-name per output the model's forward returns.",
            )
        if set(paths) == set(names):  # named by the structure: match by name, whatever the order
            by_name = dict(zip(paths, leaves, strict=True))
            leaves = [by_name[name] for name in names]
        return {name: leaf.detach().cpu().numpy() for name, leaf in zip(names, leaves, strict=True)}


ProviderSpec = str | tuple[str, dict[str, Any]]


class OrtRunner(Runner):
    """An ONNX Runtime session on an .onnx file (external data next to it is found by ORT).

    ``providers`` are names or ``(name, options)`` pairs; asking for
    ``"CUDAExecutionProvider"`` when this onnxruntime cannot use it raises
    BadInputError with the reason instead of silently running on the CPU.
    ``execution_mode`` is ``"sequential"`` (ORT's default) or ``"parallel"`` (independent
    branches on inter-op threads); ``inter_threads`` > 0 sets that pool's size.
    """

    runtime = "onnxruntime"

    def __init__(
        self,
        onnx_path: Path | str,
        providers: Sequence[ProviderSpec] = (CPU_PROVIDER,),
        threads: int = 0,
        *,
        execution_mode: str = "sequential",
        inter_threads: int = 0,
    ):
        super().__init__()
        if execution_mode not in ("sequential", "parallel"):
            raise BadInputError(f"Unknown execution mode {execution_mode!r}.", "Use sequential or parallel.")
        self.onnx_path = Path(onnx_path)
        self.providers = [_with_default_options(p) for p in providers]
        self._threads = threads
        self.execution_mode = execution_mode
        self.inter_threads = inter_threads
        self._session: Any = None
        self._output_names: list[str] = []

    @property
    def device(self) -> str:
        return "cuda" if self.providers[0][0] == CUDA_PROVIDER else "cpu"

    @property
    def provider(self) -> str:
        if self._session is not None:
            return str(self._session.get_providers()[0])
        return self.providers[0][0]

    @property
    def input_specs(self) -> list[TensorSpec]:
        from heimdall_studio.core.onnx_files import read_onnx_io

        return read_onnx_io(self.onnx_path)[0]

    @property
    def threads(self) -> int:
        import psutil

        return self._threads or psutil.cpu_count(logical=False) or 0  # ORT's default: physical cores

    def _activate(self) -> None:
        import onnxruntime as ort

        wanted = [name for name, _ in self.providers]
        if CUDA_PROVIDER in wanted and CUDA_PROVIDER not in ort.get_available_providers():
            raise BadInputError(
                f"ONNX Runtime cannot run on CUDA: {cuda_availability()['onnxruntime']['reason']}.",
                "Benchmark on cpu, or " + GPU_EXTRA_HINT + ".",
            )
        options = ort.SessionOptions()
        if self._threads > 0:
            options.intra_op_num_threads = self._threads
        if self.execution_mode == "parallel":
            options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        if self.inter_threads > 0:
            options.inter_op_num_threads = self.inter_threads
        try:
            self._session = ort.InferenceSession(
                str(self.onnx_path), options, providers=[(name, opts) for name, opts in self.providers]
            )
        except Exception as exc:  # ORT raises its own Fail/NotImplemented/InvalidGraph/… types
            raise ort_load_error(exc, self.onnx_path) from None
        if self.providers[0][0] not in self._session.get_providers():
            used = ", ".join(self._session.get_providers())
            self._session = None
            raise BadInputError(
                f"ONNX Runtime could not use {wanted[0]} (it fell back to {used}).",
                "Check the CUDA and cuDNN libraries onnxruntime-gpu needs; its log says which one failed to load.",
            )
        self._output_names = [o.name for o in self._session.get_outputs()]

    def _deactivate(self) -> None:
        self._session = None

    def _infer(self, feed: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        arrays = {name: np.ascontiguousarray(value) for name, value in feed.items()}
        try:
            results = self._session.run(self._output_names, arrays)
        except Exception as exc:  # INVALID_ARGUMENT for a feed the model rejects, allocation failures, …
            raise ort_run_error(exc, self.onnx_path, arrays) from None
        return dict(zip(self._output_names, results, strict=True))


def _with_default_options(provider: ProviderSpec) -> tuple[str, dict[str, Any]]:
    name, options = (provider, {}) if isinstance(provider, str) else provider
    if name == CUDA_PROVIDER:
        options = {"device_id": 0, "cudnn_conv_algo_search": "HEURISTIC", **options}
    return name, dict(options)


def cuda_availability() -> dict[str, dict[str, Any]]:
    """Whether torch and onnxruntime can use CUDA here and, when not, why."""
    import onnxruntime as ort
    import torch

    torch_ok = torch.cuda.is_available()
    if torch_ok:
        torch_reason = ""
    elif torch.version.cuda is None:
        torch_reason = f"no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__} is a CPU build)"
    else:
        torch_reason = (
            f"no CUDA device: torch.cuda.is_available() is False (torch {torch.__version__} "
            f"is built for CUDA {torch.version.cuda} but finds no usable GPU or driver)"
        )
    devices = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch_ok else []

    providers = ort.get_available_providers()
    ort_ok = CUDA_PROVIDER in providers
    ort_reason = "" if ort_ok else (f"onnxruntime {ort.__version__} has no {CUDA_PROVIDER} ({GPU_EXTRA_HINT})")
    return {
        "torch": {"available": torch_ok, "reason": torch_reason, "devices": devices},
        "onnxruntime": {"available": ort_ok, "reason": ort_reason, "providers": providers},
    }
