"""What a loaded source is: the contract between sources and the steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heimdall_studio.core.specs import TensorSpec

# LoadedModel.kind values
CHECKPOINT = "checkpoint"  # Heimdall's dict with model_state_dict
STATE_DICT = "state_dict"  # plain or Lightning-style state dict + --model-class
TORCHSCRIPT = "torchscript"
EXPORTED_PROGRAM = "exported_program"  # torch.export .pt2
PICKLED_MODULE = "pickled_module"  # whole nn.Module, only with --trust
ONNX = "onnx"  # an existing .onnx: export is skipped


@dataclass
class LoadedModel:
    """A source opened and ready: a PyTorch module in eval mode, or an ONNX file.

    ``module`` is ``None`` exactly when ``kind == ONNX``. ``inputs`` is never empty
    once a source is loaded (the loader raises BadInputError and asks for
    ``--input`` when it cannot tell). ``output_names`` may be empty for ONNX
    sources until validation reads them, and for modules it is derived from the
    checkpoint metadata, the built-in model or ``output0..N``.
    """

    kind: str
    source: str
    module: Any = None  # torch.nn.Module (or ScriptModule / ExportedProgram.module())
    inputs: list[TensorSpec] = field(default_factory=list)
    output_names: list[str] = field(default_factory=list)
    architecture: str = ""  # e.g. "LocalizationNet(convnext_tiny)" or "pkg.mod:Class"
    parameters: int | None = None
    onnx_path: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)  # e.g. checkpoint epoch, run id

    def describe(self) -> dict[str, Any]:
        """JSON-safe summary for reports and the GUI's source panel."""
        return {
            "kind": self.kind,
            "path": self.source,
            "architecture": self.architecture,
            "parameters": self.parameters,
            "inputs": [s.to_dict() for s in self.inputs],
            "outputs": list(self.output_names),
            "metadata": self.metadata,
        }
