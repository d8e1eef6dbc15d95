"""CLI commands for storage and the registry: push, promote, registry/runs list, config show."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from heimdall_studio.core import events as ev
from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import BadInputError, HeimdallError
from heimdall_studio.core.redact import mask_credentials
from heimdall_studio.integrations.settings import SECRET_FIELDS

PROMOTE_TARGETS = ("staging", "production", "archived")


def register(sub: argparse._SubParsersAction) -> None:
    push = sub.add_parser(
        "push",
        help="upload an .onnx file to S3/MinIO (or the local store) and register it in MLflow",
        description="Upload, verify (size + sha256), register a model "
        "version whose source is the uploaded folder, and optionally promote it.",
    )
    push.add_argument("onnx", type=Path, metavar="FILE.onnx")
    push.add_argument(
        "--model-name", default="", help="registered model (default: the profile's, heimdall-localization-onnx)"
    )
    push.add_argument("--run-id", default="", help="link to this MLflow run instead of creating one")
    push.add_argument("--promote", default="", choices=("", "staging", "production"))
    push.add_argument("--bucket", default="", help="S3 bucket (default: the profile's, heimdall-models)")
    push.add_argument("--create-bucket", action="store_true", help="create the bucket if it does not exist")
    push.add_argument("--force", action="store_true", help="register again even if this sha256 is registered")
    push.add_argument("--note", default="", help="promotion note")
    push.add_argument("--report", type=Path, help="a pipeline report to attach; its push section is written back")
    push.add_argument(
        "--variant",
        default="",
        metavar="NAME",
        help="push this variant of FILE.onnx (made by `run --variants`; found in the run's report, --report or "
        "FILE.report.json) tagged with variant, its parity figures and lineage.plain_sha256",
    )
    push.add_argument(
        "--allow-failed-parity",
        action="store_true",
        help="push a variant that failed its parity criteria (refused otherwise, exit code 2)",
    )
    _profile_argument(push)
    push.set_defaults(func=cmd_push)

    promote = sub.add_parser("promote", help="promote a registered version (alias + legacy stage)")
    promote.add_argument("name")
    promote.add_argument("version")
    promote.add_argument("--to", required=True, choices=PROMOTE_TARGETS)
    promote.add_argument("--note", default="")
    _profile_argument(promote)
    promote.set_defaults(func=cmd_promote)

    registry = sub.add_parser("registry", help="the MLflow Model Registry")
    registry_sub = registry.add_subparsers(dest="registry_command", metavar="COMMAND")
    reg_list = registry_sub.add_parser("list", help="registered models, or the versions of NAME")
    reg_list.add_argument("name", nargs="?", default="")
    reg_list.add_argument("--json", action="store_true", help="print JSON")
    _profile_argument(reg_list)
    reg_list.set_defaults(func=cmd_registry_list)

    runs = sub.add_parser("runs", help="MLflow experiments and runs")
    runs_sub = runs.add_subparsers(dest="runs_command", metavar="COMMAND")
    runs_list = runs_sub.add_parser("list", help="runs of an experiment (default: the profile's)")
    runs_list.add_argument("--experiment", default="")
    runs_list.add_argument("--json", action="store_true", help="print JSON")
    _profile_argument(runs_list)
    runs_list.set_defaults(func=cmd_runs_list)

    config = sub.add_parser("config", help="settings and profiles")
    config_sub = config.add_subparsers(dest="config_command", metavar="COMMAND")
    show = config_sub.add_parser("show", help="the effective settings (secrets masked)")
    show.add_argument("--json", action="store_true", help="print JSON")
    _profile_argument(show)
    show.set_defaults(func=cmd_config_show)
    secret = config_sub.add_parser(
        "set-secret",
        help="store a secret (S3 keys, MLflow token) in the OS keyring",
        description="Reads the value from the terminal without echo (or from standard input when piped) "
        "and stores it in the OS keyring for the profile. Never in the settings file.",
    )
    secret.add_argument("name", choices=SECRET_FIELDS)
    _profile_argument(secret)
    secret.set_defaults(func=cmd_config_set_secret)


def _profile_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default="",
        help="settings profile (default: HEIMDALL_PROFILE or the active one; 'embedded' needs no server)",
    )


def add_push_arguments(parser: argparse.ArgumentParser) -> None:
    """The push flags of ``run``: ``--push`` turns the push step on."""
    group = parser.add_argument_group("push (upload and register)")
    group.add_argument("--push", action="store_true", help="upload and register the model after the checks")
    group.add_argument("--model-name", default="", help="registered model (default: heimdall-localization-onnx)")
    group.add_argument("--bucket", default="", help="S3 bucket (default: heimdall-models)")
    group.add_argument("--promote", default="", choices=("", "staging", "production"))
    group.add_argument("--create-bucket", action="store_true", help="create the bucket if it does not exist")
    group.add_argument(
        "--force", dest="force_push", action="store_true", help="register again even if this sha256 is registered"
    )
    group.add_argument("--run-id", default="", help="link the version to this MLflow run")
    group.add_argument("--profile", default="", help="settings profile for the push")


def push_options_from_args(args: argparse.Namespace) -> Any:
    """PushOptions from ``run``'s flags, or None without ``--push``."""
    if not getattr(args, "push", False):
        return None
    from heimdall_studio.integrations.push import PushOptions

    return PushOptions(
        model_name=args.model_name,
        bucket=args.bucket,
        promote=args.promote,
        create_bucket=args.create_bucket,
        force=args.force_push,
        run_id=args.run_id,
        profile=args.profile,
    )


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except HeimdallError as err:
            print(f"error: {err.message}", file=sys.stderr)
            if err.hint:
                print(f"  {err.hint}", file=sys.stderr)
            return err.exit_code

    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def _settings(args: argparse.Namespace) -> Any:
    from heimdall_studio.integrations.settings import load_settings

    return load_settings(args.profile or None)


def _file_report(onnx_path: Path, report_path: Path | None) -> dict[str, Any]:
    """The report to attach: the given one, with a fresh validation of the file when it holds
    none of this very file (push refuses a file that has not passed validation)."""
    from heimdall_studio.integrations.push import validation_of, validation_report

    report: dict[str, Any] = {}
    if report_path is not None and report_path.is_file():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise BadInputError(f"The report {report_path} is not valid JSON: {exc}.") from exc
    if validation_of(report, onnx_path) is None:
        fresh = validation_report(onnx_path, CancelToken())
        report = {**fresh, **report, "validation": fresh["validation"]}
    return report


@_guarded
def cmd_push(args: argparse.Namespace) -> int:
    from heimdall_studio.cli.output import promotion_line
    from heimdall_studio.integrations.push import PushOptions, push_step

    if not args.onnx.is_file():
        raise BadInputError(f"There is no file {args.onnx}.", "Give the path of an exported .onnx file.")
    options = PushOptions(
        model_name=args.model_name,
        bucket=args.bucket,
        promote=args.promote,
        create_bucket=args.create_bucket,
        force=args.force,
        run_id=args.run_id,
        note=args.note,
        profile=args.profile,
    )
    if args.allow_failed_parity and not args.variant:
        raise BadInputError("--allow-failed-parity goes with --variant NAME.", "Example: --variant int8-static")
    if args.variant:
        from heimdall_studio.integrations.push_variant import run_report_of, variant_push

        plain = args.onnx
        args.onnx, report, tags = variant_push(
            plain, run_report_of(plain, args.report), args.variant, args.allow_failed_parity, CancelToken()
        )
        options = dataclasses.replace(options, extra_tags=tags)
        args.report = None  # the run's report keeps describing the run; the push result is printed
        settings = _settings(args)
    else:
        settings = _settings(args)
        report = _file_report(args.onnx, args.report)
    err = Console(stderr=True, highlight=False)
    quiet = getattr(args, "quiet", False)
    steps = push_step(args.onnx, report, options, settings, CancelToken())
    last_percent = -10
    try:
        while True:
            event = next(steps)
            if isinstance(event, ev.Log) and not quiet:
                message = mask_credentials(event.message)
                err.print(f"{event.level}: {message}" if event.level != "info" else message)
            elif isinstance(event, ev.Progress) and event.total and not quiet:
                percent = int(100 * event.done / event.total)
                if percent >= last_percent + 10 or percent == 100 and last_percent != 100:
                    last_percent = percent
                    err.print(f"  {percent:3d}% {mask_credentials(event.message)}")
    except StopIteration as done:
        result = done.value.to_dict()
    if args.report is not None:
        from heimdall_studio.engine.report import write_report

        report["push"] = result
        write_report(report, args.report)
    out = Console(highlight=False)
    verb = "Already registered" if result["existing"] else "Registered"
    uri = result.get("s3_uri") or result.get("local_uri")
    out.print(f"{verb}: {result['model_name']} version {result['version']} ({uri})")
    promoted = promotion_line(result)
    if promoted:
        out.print(promoted)
    if result.get("mlflow_ui_url"):
        out.print(f"  {result['mlflow_ui_url']}")
    return 0


@_guarded
def cmd_promote(args: argparse.Namespace) -> int:
    from heimdall_studio.integrations.registry import promote

    done = promote(_settings(args), args.name, args.version, args.to, args.note)
    print(
        f"Promoted {done['name']} version {done['version']} to {done['to']} "
        f"(alias: {done['alias'] or '-'}, stage: {done['stage'] or '-'}) by {done['promoted_by']} "
        f"at {done['promoted_at']}"
    )
    return 0


@_guarded
def cmd_registry_list(args: argparse.Namespace) -> int:
    from heimdall_studio.integrations.registry import list_registered_models, list_versions

    settings = _settings(args)
    if args.name:
        rows = list_versions(settings, args.name)
        table = _table(
            f"{args.name} ({mask_credentials(settings.tracking_uri)})",
            ("version", "aliases", "stage", "sha256", "parity", "created", "source"),
        )
        for r in rows:
            table.add_row(
                r["version"],
                ",".join(r["aliases"]),
                r["stage"],
                r["sha256"][:12],
                r["figures"].get("parity_passed", ""),
                r["created"],
                r["source"],
            )
    else:
        rows = list_registered_models(settings)
        table = _table(
            f"Registered models ({mask_credentials(settings.tracking_uri)})", ("name", "latest", "aliases", "updated")
        )
        for r in rows:
            table.add_row(
                r["name"], r["latest_version"], ", ".join(f"{k}→{v}" for k, v in r["aliases"].items()), r["updated"]
            )
    return _emit(rows, table, args.json)


@_guarded
def cmd_runs_list(args: argparse.Namespace) -> int:
    from heimdall_studio.integrations.mlflow_sources import list_runs

    settings = _settings(args)
    rows = list_runs(settings, args.experiment)
    table = _table(
        f"Runs of {args.experiment or settings.profile.experiment}",
        ("run id", "name", "status", "started", "key metrics"),
    )
    for r in rows:
        figures = ", ".join(f"{k}={v:.4g}" for k, v in sorted(r["metrics"].items())[:4])
        table.add_row(r["run_id"], r["name"], r["status"], r["start_time"], figures)
    return _emit(rows, table, args.json)


@_guarded
def cmd_config_show(args: argparse.Namespace) -> int:
    shown = _settings(args).show()
    if args.json:
        print(json.dumps(shown, indent=2))
        return 0
    out = Console(highlight=False)
    out.print(f"profile: {shown['profile']} ({shown['mode']})   settings file: {shown['settings_file']}")
    out.print(f"tracking: {shown['tracking_uri']}\nstore: {shown['store']}")
    table = _table("Fields", ("field", "value", "from"))
    for name, info in shown["fields"].items():
        table.add_row(name, str(info["value"]), info["from"])
    for name, state in shown["secrets"].items():
        table.add_row(name, state, "")
    out.print(table)
    for warning in shown["warnings"]:
        out.print(f"[yellow]warning: {warning}[/]")
    return 0


@_guarded
def cmd_config_set_secret(args: argparse.Namespace) -> int:
    from heimdall_studio.integrations.settings import EMBEDDED, keyring_set, load_settings

    profile = args.profile or load_settings().profile.name
    if profile == EMBEDDED:
        raise BadInputError(
            "The embedded profile talks to no server and keeps no secrets.",
            "Name a remote profile: heimdall-studio config set-secret NAME --profile PROFILE.",
        )
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"{args.name} for profile {profile}: ")
    else:
        value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise BadInputError(f"No value given for {args.name}; nothing was stored.")
    keyring_set(profile, args.name, value)
    print(f"Stored {args.name} for profile {profile} in the OS keyring.")
    return 0


def _table(title: str, columns: tuple[str, ...]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _emit(rows: list[dict[str, Any]], table: Table, as_json: bool) -> int:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        Console(highlight=False).print(table)
    return 0
