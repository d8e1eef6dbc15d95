"""`heimdall-studio`: the command line. With no command it opens the desktop app."""

from __future__ import annotations

import argparse
import sys

from heimdall_studio import __version__
from heimdall_studio.core.errors import EXIT_CODES, ErrorKind, HeimdallError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heimdall-studio",
        description="Export PyTorch models to ONNX, validate, check parity, benchmark, inspect in "
        "Netron, push to S3/MinIO and register in MLflow. With no command: the desktop app.",
    )
    parser.add_argument("--version", action="version", version=f"heimdall-studio {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("--quiet", "-q", action="store_true", help="only errors and the final paths")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    from heimdall_studio.cli import desktop_entry, pipeline_cmds, registry_cmds, sweep_cmds

    pipeline_cmds.register(sub)
    sweep_cmds.register(sub)
    registry_cmds.register(sub)
    desktop_entry.register(sub)

    _add_gui_arguments(sub.add_parser("gui", help="open the desktop app (the default)"))

    demo = sub.add_parser(
        "demo",
        help="the README's first command: the app (or, with no display, the "
        "headless pipeline) on a demo LocalizationNet checkpoint",
    )
    demo.add_argument("--headless", action="store_true", help="run the pipeline in the terminal")
    demo.set_defaults(func=cmd_demo)
    return parser


def build_gui_parser() -> argparse.ArgumentParser:
    """`heimdall-studio gui` alone: the app's start skips the other commands' parsers, which import
    rich and the registry code (about 0.2 s before the first paint)."""
    parser = argparse.ArgumentParser(prog="heimdall-studio gui", description="Open the desktop app.")
    _add_gui_arguments(parser)
    return parser


def _add_gui_arguments(gui: argparse.ArgumentParser) -> None:
    gui.add_argument("source", nargs="?", help="a model to open")
    gui.add_argument("--smoke-test", action="store_true", help="open the window, print the time to first paint, exit")
    gui.add_argument(
        "--self-test",
        action="store_true",
        help="open SOURCE, run the whole pipeline at the app's defaults while showing each view, "
        "print first paint, UI stall and run time, exit with the pipeline's exit code",
    )
    gui.set_defaults(func=cmd_gui)


def cmd_gui(args: argparse.Namespace) -> int:
    from heimdall_studio.gui.app import main as gui_main

    return gui_main(source=args.source, smoke_test=args.smoke_test, self_test=args.self_test)


def cmd_demo(args: argparse.Namespace) -> int:
    from heimdall_studio.cli.demo import run_demo

    return run_demo(args)


def _quiet_library_loggers(debug: bool) -> None:
    """MLflow and alembic log routine INFO lines (database migrations); keep them for --debug.

    MLflow sets its loggers' level when it is imported, from MLFLOW_LOGGING_LEVEL; a user's own
    setting of that variable wins."""
    import logging
    import os

    level = "DEBUG" if debug else "WARNING"
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", level)
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(level)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # --debug / --quiet are accepted anywhere on the line, not only before the command.
    flags = {"--debug": False, "--quiet": False, "-q": False}
    for flag in flags:
        if flag in argv:
            flags[flag] = True
            argv.remove(flag)
    if not argv or argv[0] == "gui":
        parser = build_gui_parser()
        args = parser.parse_args(argv[1:])
    else:
        parser = build_parser()
        args = parser.parse_args(argv)
    _quiet_library_loggers(debug=flags["--debug"])
    from heimdall_studio.core.redact import install_log_masking, mask_credentials

    install_log_masking(debug=flags["--debug"])
    args.debug = flags["--debug"]
    args.quiet = flags["--quiet"] or flags["-q"]
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_CODES[ErrorKind.BAD_INPUT]
    try:
        return args.func(args)
    except HeimdallError as err:
        if args.debug:
            import traceback

            traceback.print_exc()
        print(f"error: {mask_credentials(err.message)}", file=sys.stderr)
        if err.hint:
            print(f"  {mask_credentials(err.hint)}", file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        return EXIT_CODES[ErrorKind.CANCELLED]
