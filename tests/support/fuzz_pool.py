"""Run the real CLI (``heimdall_studio.cli.main.main``) on many argument lists, in a few long-lived
worker processes, each case under a wall-clock limit.

A worker (``python -m tests.support.fuzz_pool``) imports torch and the CLI once, then runs case
after case in-process with its stdout and stderr (file descriptors 1 and 2, so native libraries'
output too) captured to a file; jobs and answers travel as JSON lines over a pipe. The parent
enforces the time limit: a worker that has not answered in time is killed and replaced, and the
case is recorded as a hang; a worker that dies (a segfault in a native library) is recorded as a
crash. Plain subprocesses, not multiprocessing: no fork of a process with torch's thread pools,
and no resource-tracker process left behind.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

HANG = "hang"
CRASH = "crash"
RAISED = "raised"  # an exception escaped main(): a traceback


@dataclass
class Job:
    case_id: str
    argv: list[str]
    cwd: str


@dataclass
class Outcome:
    case_id: str
    exit_code: int | str  # an int, or HANG / CRASH / RAISED
    output: str
    seconds: float


def _serve() -> None:
    """The worker: read a job per line on stdin, answer a JSON line on the original stdout."""
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # prints between cases cannot corrupt the answers
    import onnxruntime  # noqa: F401  (imported once here, not inside the first case's time)
    import torch  # noqa: F401

    from heimdall_studio.cli.main import main

    answers.write("ready\n")
    answers.flush()
    for line in sys.stdin:
        code, output = _run_one(main, Job(**json.loads(line)))
        answers.write(json.dumps({"code": code, "output": output}) + "\n")
        answers.flush()


def _run_one(main: Any, job: Job) -> tuple[int | str, str]:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    previous_cwd = os.getcwd()
    with tempfile.TemporaryFile(dir=os.environ["HEIMDALL_FUZZ_CAPTURE"]) as capture:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            os.chdir(job.cwd)
            code: int | str = main(list(job.argv))
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
        except BaseException:  # noqa: BLE001  (what the test is looking for)
            traceback.print_exc()
            code = RAISED
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            os.chdir(previous_cwd)
        capture.seek(0)
        output = capture.read().decode("utf-8", errors="replace")
    return code, output


class _Worker:
    def __init__(self, root: str, env: dict[str, str]):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fuzz_pool"],
            cwd=root,
            env={**os.environ, **env, "PYTHONPATH": root},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.job: Job | None = None
        self.started = 0.0
        self.ready = False

    def send(self, job: Job) -> None:
        self.job, self.started = job, time.monotonic()
        self.process.stdin.write(json.dumps(asdict(job)) + "\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()

    def stop(self) -> None:
        try:
            self.process.stdin.close()
            self.process.wait(20)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process.stdout.close()


def run_jobs(
    jobs: list[Job], *, workers: int, limit_s: float, root: str, env: dict[str, str], start_limit_s: float = 300.0
) -> list[Outcome]:
    """Every job's outcome, in completion order. Workers are stopped before this returns."""
    pending = deque(jobs)
    pool = [_Worker(root, env) for _ in range(workers)]
    outcomes: list[Outcome] = []
    try:
        while pending or any(w.job is not None for w in pool):
            for worker in pool:
                if worker.ready and worker.job is None and pending:
                    worker.send(pending.popleft())
            waiting = [w for w in pool if w.job is not None or not w.ready]
            deadline = min(w.started + limit_s if w.ready else time.monotonic() + start_limit_s for w in waiting)
            readable, _, _ = select.select(
                [w.process.stdout for w in waiting], [], [], max(0.0, deadline - time.monotonic())
            )
            now = time.monotonic()
            for index, worker in enumerate(pool):
                if worker.process.stdout in readable:
                    line = worker.process.stdout.readline()
                    if not worker.ready and line.strip() == "ready":
                        worker.ready = True
                        continue
                    job = worker.job
                    if line:
                        answer = json.loads(line)
                        worker.job = None
                        if job is not None:
                            outcomes.append(
                                Outcome(job.case_id, answer["code"], answer["output"], now - worker.started)
                            )
                        continue
                    worker.kill()  # end of stream: the worker died
                    pool[index] = _Worker(root, env)
                    if job is None:
                        raise RuntimeError("a fuzz worker died while starting")
                    outcomes.append(
                        Outcome(job.case_id, CRASH, f"worker died ({worker.process.returncode})", now - worker.started)
                    )
                elif worker.job is not None and now - worker.started >= limit_s:
                    worker.kill()
                    pool[index] = _Worker(root, env)
                    outcomes.append(
                        Outcome(worker.job.case_id, HANG, f"no answer after {limit_s:.0f} s", now - worker.started)
                    )
    finally:
        for worker in pool:
            worker.stop()
    return outcomes


if __name__ == "__main__":
    _serve()
