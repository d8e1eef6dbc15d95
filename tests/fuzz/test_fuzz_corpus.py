"""The fuzz corpus of issue 8: seeded mutations of four valid model files through the real CLI.

Each case runs `run` (PyTorch sources; .onnx) or `inspect` (.onnx) on one mutated file in its own
sandbox, in-process in a worker (tests/support/fuzz_pool.py), under a time limit.

What every case must show:
- no traceback, no "failed unexpectedly… looks like a bug", no "--- Logging error ---";
- an exit code in {0, 1, 2}: 2 for a file that cannot be used, 1 only as a failed gate
  ("gate failed": validation or parity said no);
- no hang (each case under LIMIT_S) and no crash of the process;
- nothing written outside --out (and --report, which points into it), nothing left in TMPDIR.

Exit 0 is accepted, and counted: a mutation may leave a file that is still a valid model of its
kind — a flipped bit inside a weight, an archive recompressed with deflate, a changed initializer
value. Neither torch's formats nor ONNX carry a checksum the tool could check, so such a file is a
different valid model and the honest answer is to export/validate it like any other. What is not
accepted: exit 0 for a truncated archive (its zip directory is gone), which would mean a damaged
file was taken for a whole one.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest

from tests.support.fuzz_cases import Case, build_bases, build_cases
from tests.support.fuzz_pool import Job, run_jobs

ROOT = Path(__file__).resolve().parents[2]
SEED = 8
PER_BASE = 80  # 4 bases → 320 cases
WORKERS = 2
LIMIT_S = 90.0  # per case; a normal one takes 0.1-3 s
FORBIDDEN = ("Traceback", "looks like a bug", "failed unexpectedly", "--- Logging error ---")
# Until the report-placement change of issue 8 (item 11, another branch) is merged, `run` and
# `inspect` on an .onnx source also write NAME.report.json beside the source. Tolerated here and
# nowhere else; set to False once that lands.
REPORT_BESIDE_ONNX_SOURCE_TOLERATED = False
# ONNX Runtime keeps a machine-wide session id in $TMPDIR/.ses (created once, by ORT, not per run).
ORT_SESSION_FILE = ".ses"


def _argv(case: Case, source: Path, out: Path) -> list[str]:
    if case.command == "inspect":
        return ["inspect", str(source), "--report", str(out / "report.json")]
    if case.base == "onnx":
        return [
            "run",
            str(source),
            "--out",
            str(out),
            "--bench-iterations",
            "1",
            "--bench-warmup",
            "0",
            "--bench-batch-sizes",
            "1",
            "--devices",
            "cpu",
        ]
    return [
        "run",
        str(source),
        "--out",
        str(out),
        "--exporter",
        "torchscript",
        "--skip-bench",
        "--batches",
        "1",
        "--batch-size",
        "2",
        *case.extra,
    ]


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


def _problems(case: Case, code: int | str, output: str, sandbox: Path) -> list[str]:
    problems = []
    if code not in (0, 1, 2):
        problems.append(f"exit {code}")
    problems += [f"output has {text!r}" for text in FORBIDDEN if text in output]
    if code == 1 and "gate failed" not in output:
        problems.append("exit 1 that is not a failed gate")
    if code == 0 and case.mutation == "truncation" and case.base != "onnx":
        problems.append("a truncated archive was accepted")
    source = sandbox / "in" / case.file_name
    allowed = {source}
    if REPORT_BESIDE_ONNX_SOURCE_TOLERATED and case.base == "onnx":
        allowed.add(source.with_name(source.stem + ".report.json"))
    outside = [str(p.relative_to(sandbox)) for p in _files(sandbox) - allowed if not p.is_relative_to(sandbox / "out")]
    if outside:
        problems.append(f"wrote outside --out: {sorted(outside)[:5]}")
    return problems


@pytest.mark.fuzz
def test_mutated_model_files_never_crash_hang_or_escape(tmp_path):
    bases = build_bases(tmp_path / "bases")
    cases = build_cases(bases, SEED, PER_BASE)
    assert len(cases) >= 300
    by_id = {case.case_id: case for case in cases}
    jobs = []
    for case in cases:
        sandbox = tmp_path / "cases" / case.case_id
        for sub in ("in", "out", "cwd"):
            (sandbox / sub).mkdir(parents=True)
        source = sandbox / "in" / case.file_name
        source.write_bytes(case.data)
        jobs.append(Job(case.case_id, _argv(case, source, sandbox / "out"), str(sandbox / "cwd")))
    scratch = {name: tmp_path / name for name in ("tmp", "data", "config", "capture")}
    for folder in scratch.values():
        folder.mkdir()
    env = {
        "TMPDIR": str(scratch["tmp"]),
        "HEIMDALL_DATA_DIR": str(scratch["data"]),
        "HEIMDALL_CONFIG_DIR": str(scratch["config"]),
        "HEIMDALL_FUZZ_CAPTURE": str(scratch["capture"]),
        "COLUMNS": "160",
        "OMP_NUM_THREADS": "1",
    }

    started = time.monotonic()
    outcomes = run_jobs(jobs, workers=WORKERS, limit_s=LIMIT_S, root=str(ROOT), env=env)
    elapsed = time.monotonic() - started

    assert sorted(o.case_id for o in outcomes) == sorted(by_id)
    failures = []
    codes: collections.Counter[tuple[str, str, int | str]] = collections.Counter()
    for outcome in outcomes:
        case = by_id[outcome.case_id]
        codes[(case.base, case.mutation.split("-")[0], outcome.exit_code)] += 1
        for problem in _problems(case, outcome.exit_code, outcome.output, tmp_path / "cases" / case.case_id):
            failures.append(f"{case.case_id} ({case.command}): {problem}\n    {outcome.output.strip()[-600:]}")
    leftovers = [
        str(p.relative_to(tmp_path))
        for name in ("tmp", "data", "config")
        for p in _files(scratch[name]) - {scratch["tmp"] / ORT_SESSION_FILE}
    ]
    if leftovers:
        failures.append(f"files left outside --out: {leftovers[:10]}")
    slowest = max(outcomes, key=lambda o: o.seconds)
    summary = (
        f"{len(outcomes)} cases in {elapsed:.0f} s (slowest {slowest.case_id}: {slowest.seconds:.1f} s); "
        f"exit codes by base/mutation: {dict(sorted(codes.items(), key=str))}"
    )
    print(summary)
    print("\n".join(failures))
    assert not failures, f"{len(failures)} problem(s); {summary}\n" + "\n".join(failures[:25])
