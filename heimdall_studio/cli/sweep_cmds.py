"""`sweep`: the `run` pipeline over many sources (files, globs, runs:/ and models:/ URIs)."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
from pathlib import Path
from typing import Any

from heimdall_studio.cli import pipeline_cmds as pc
from heimdall_studio.core.cancel import CancelToken


def register(sub: argparse._SubParsersAction) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run the pipeline on many sources and write one report each plus a summary",
        description="The `run` pipeline on every SOURCE (files, globs such as 'ckpt/epoch_*.pt', runs:/ or "
        "models:/ URIs). With --ray-address the sources run in parallel on the Ray cluster, one per "
        "worker; without, one after another here. Writes one report per source, summary.json and "
        "summary.csv in --report-dir. Exit code: the worst of the sources'.",
    )
    sweep.add_argument("sources", nargs="+", metavar="SOURCE")
    sweep.add_argument(
        "--report-dir", type=Path, default=Path("heimdall-sweep"), metavar="DIR", help="default ./heimdall-sweep"
    )
    pc._add_source_arguments(sweep, positional=False)
    pc._add_export_arguments(sweep)
    pc._add_parity_arguments(sweep)
    pc._add_bench_arguments(sweep)
    pc._add_inspection_arguments(sweep)
    pc._add_variant_arguments(sweep)
    sweep.set_defaults(func=cmd_sweep, report=None, push=False)


def cmd_sweep(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from heimdall_studio.engine.sweep import expand_sources, report_name, run_sweep, worst_exit, write_summary

    sources = expand_sources(args.sources)
    requests = []
    for index, source in enumerate(sources):
        name = report_name(index, source)
        request = pc.build_run_request(args, source)
        out_dir = str((args.out or args.report_dir) / name)
        requests.append(dataclasses.replace(request, out_dir=out_dir, report_path=""))
    console = Console(stderr=False)
    where = f"on the Ray cluster at {args.ray_address or 'RAY_ADDRESS'}" if _ray(args) else "here, one after another"
    if not args.quiet:
        console.print(f"Sweeping {len(requests)} sources {where}.")
    cancel = CancelToken()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.cancel())

    def done(row: dict[str, Any]) -> None:
        if not args.quiet:
            mark = "✓" if row["passed"] else "✗"
            console.print(f"{mark} {row['source']}: {row['status']} (exit {row['exit_code']}) → {row['report']}")

    try:
        rows = run_sweep(requests, args.report_dir, _ray(args), cancel, done)
    finally:
        signal.signal(signal.SIGINT, previous)
    json_path, csv_path = write_summary(rows, args.report_dir)
    table = Table(title="Sweep")
    p50_keys = sorted({key for row in rows for key in row["p50_ms"]})
    for column in ["source", "status", "max |err|", "size MB", *[f"p50 ms {k}" for k in p50_keys]]:
        table.add_column(column)
    for row in rows:
        error = row["parity_max_error"]
        size = row["size_bytes"]
        table.add_row(
            row["source"],
            row["status"],
            f"{error:.2e}" if error is not None else "-",
            f"{size / 1e6:.1f}" if size else "-",
            *[f"{row['p50_ms'][k]:.3g}" if k in row["p50_ms"] else "-" for k in p50_keys],
        )
    console.print(table)
    print(f"Summary: {json_path}\n         {csv_path}", file=sys.stdout)
    return worst_exit(rows)


def _ray(args: argparse.Namespace) -> str:
    from heimdall_studio.integrations.ray_devices import ray_address

    return ray_address(args.ray_address)
