"""``python -m heimdall_studio.engine.providers``: ONNX Runtime's version and execution providers as JSON.

The About dialog runs it as a child process, so the window never imports onnxruntime."""

from __future__ import annotations

import json
import sys


def main() -> int:
    try:
        import onnxruntime as ort
    except Exception as exc:  # a broken install: say so in the About dialog rather than crash
        print(json.dumps({"error": f"onnxruntime cannot be imported: {exc}"}))
        return 1
    print(json.dumps({"version": ort.__version__, "providers": ort.get_available_providers()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
