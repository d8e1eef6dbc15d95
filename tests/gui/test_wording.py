"""Hints written for the CLI are shown in the app's own terms."""

from __future__ import annotations

from heimdall_studio.gui.widgets import in_app_words


def test_cli_flags_become_the_controls_that_do_the_same():
    assert in_app_words("If you trust where the file came from, pass --trust. Better: save the state dict.") == (
        "If you trust where the file came from, tick “Trust this file” in the Source panel. Better: save the "
        "state dict.")
    assert in_app_words("Pass --input NAME:DIMS:DTYPE for each input of the model, e.g. --input x:1,3:float32.") \
        .startswith("Fill in the Inputs table for each input of the model")
    assert "--" not in in_app_words("Pass --model-class package.module:Class to load it.")
    assert in_app_words("Pass --overwrite to replace it, or choose another --out folder.").startswith(
        "Tick “Overwrite existing .onnx” in Options to replace it")
    assert in_app_words("Check the endpoint and try again.") == "Check the endpoint and try again."
