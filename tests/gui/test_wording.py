"""Hints written for the CLI are shown in the app's own terms."""

from __future__ import annotations

from heimdall_studio.gui.widgets import in_app_words


def test_cli_flags_become_the_controls_that_do_the_same():
    assert in_app_words("If you trust where the file came from, pass --trust. Better: save the state dict.") == (
        "If you trust where the file came from, tick “Trust this file” in the Source panel. Better: save the "
        "state dict."
    )
    assert in_app_words(
        "Pass --input NAME:DIMS:DTYPE for each input of the model, e.g. --input x:1,3:float32."
    ).startswith("Fill in the Inputs table for each input of the model")
    assert "--" not in in_app_words("Pass --model-class package.module:Class to load it.")
    assert in_app_words("Pass --overwrite to replace it, or choose another --out folder.").startswith(
        "Tick “Overwrite existing .onnx” in Options to replace it"
    )
    assert in_app_words("Check the endpoint and try again.") == "Check the endpoint and try again."


def test_every_flag_that_engine_hints_name_is_said_in_the_apps_terms():
    """Hints come from the engine in the CLI's words; in the app none of them may name a flag."""
    import re
    from pathlib import Path

    from heimdall_studio.gui.widgets import in_app_words

    root = Path(__file__).resolve().parents[2] / "heimdall_studio"
    sources = [p for part in ("core", "engine", "integrations") for p in (root / part).rglob("*.py")]
    flags = {m for path in sources for m in re.findall(r"--[a-z][a-z0-9-]+", path.read_text())}
    flags -= {"--head", "--port", "--query-gpu", "--format"}  # `ray start` and nvidia-smi's own, not ours
    assert {"--trust", "--opset", "--int-range", "--inputs-npz", "--force"} <= flags  # the scan sees hints
    assert {"--per-node", "--node-rtol", "--op-profile", "--op-profile-runs"} <= flags  # inspection hints too
    left = {
        flag: in_app_words(f"Use {flag} and try again.")
        for flag in sorted(flags)
        if "--" in in_app_words(f"Use {flag} and try again.")
    }
    assert not left, left


def test_inspection_flags_name_their_controls():
    hint = "Example: --per-node --node-rtol 1e-3 --node-chunk 32 --op-profile --op-profile-runs 20"
    assert in_app_words(hint) == (
        "Example: tick “Per-node parity” in Options the Node rtol in Options the Node chunk in Options "
        "tick “Op profile” in Options the Profiled runs in Options"
    )
