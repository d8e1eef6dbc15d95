"""`heimdall-studio demo`: the README's first command.

Makes (once) a LocalizationNet-tiny checkpoint in the user's data folder, then
opens the app on it; with no display it runs the whole pipeline in the
terminal instead — export, validate, parity, benchmark, and a push to the
embedded registry (local MLflow store, local model folder), promoted to
Staging.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from heimdall_studio.core import events as ev
from heimdall_studio.core.specs import BenchmarkOptions, ExportOptions
from heimdall_studio.engine.request import PipelineRequest
from heimdall_studio.integrations.settings import data_dir


def demo_checkpoint() -> Path:
    path = data_dir() / "demo" / "localization-net-tiny.pt"
    if not path.exists():
        from heimdall_studio.models.demo import write_demo_checkpoint

        path.parent.mkdir(parents=True, exist_ok=True)
        write_demo_checkpoint(path, backbone="tiny", seed=0)
    return path


def run_demo(args: argparse.Namespace) -> int:
    checkpoint = demo_checkpoint()
    if not args.headless:
        from heimdall_studio.gui.app import display_available

        if not display_available():
            print(
                "No display found (DISPLAY and WAYLAND_DISPLAY are not set): running the headless "
                "pipeline in this terminal instead."
            )
        else:
            from heimdall_studio.gui.platform_check import qt_platform_problem

            problem = qt_platform_problem()
            if not problem:
                from heimdall_studio.gui.app import main as gui_main

                return gui_main(source=str(checkpoint))
            print(f"{problem}\nRunning the headless pipeline in this terminal instead.")
    from heimdall_studio.cli.pipeline_cmds import run_request
    from heimdall_studio.integrations.push import PushOptions

    out_dir = checkpoint.parent / "out"
    request = PipelineRequest(
        source=str(checkpoint),
        out_dir=str(out_dir),
        steps=(ev.LOAD, ev.EXPORT, ev.VALIDATE, ev.PARITY, ev.BENCHMARK, ev.METADATA, ev.PUSH),
        export=ExportOptions(overwrite=True),
        benchmark=BenchmarkOptions(iterations=50, warmup=5),
        push=PushOptions(promote="staging").to_dict(),
    )
    return run_request(request, args)
