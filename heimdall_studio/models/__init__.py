"""Reference architectures Heimdall Studio knows without a --model-class: LocalizationNet on ConvNeXt.

Importing this package imports torch.
"""

from heimdall_studio.models.convnext import BACKBONE_ALIASES, BACKBONES, ConvNeXtConfig
from heimdall_studio.models.localization_net import (
    ARCHITECTURE,
    INPUT_SPEC,
    OUTPUT_NAMES,
    LocalizationNet,
    infer_backbone,
    is_localization_state_dict,
)

__all__ = [
    "ARCHITECTURE",
    "BACKBONES",
    "BACKBONE_ALIASES",
    "ConvNeXtConfig",
    "INPUT_SPEC",
    "LocalizationNet",
    "OUTPUT_NAMES",
    "infer_backbone",
    "is_localization_state_dict",
]
