"""Heimdall Studio: PyTorch → ONNX export, validation, parity, benchmarks, registry."""

__version__ = "0.1.0"
