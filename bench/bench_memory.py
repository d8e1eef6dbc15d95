"""Peak RSS of the pipeline, per step, against the model's weights.

    .venv/bin/python bench/bench_memory.py --backbone large --exporter dynamo

Writes a LocalizationNet demo checkpoint, then runs ``run --skip-bench`` in this process (the CLI's
own pipeline) with a thread sampling the process's RSS every 20 ms, and prints the peak of each
step and of the whole run, in MB and as a multiple of the checkpoint's weights. (ru_maxrss, the
kernel's own peak, is printed beside it: the sampler can miss a peak shorter than 20 ms.)
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heimdall_studio.core import events as ev  # noqa: E402
from heimdall_studio.core.cancel import CancelToken  # noqa: E402
from heimdall_studio.core.specs import ExportOptions  # noqa: E402
from heimdall_studio.engine.pipeline import run_pipeline  # noqa: E402
from heimdall_studio.engine.request import PipelineRequest  # noqa: E402


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.step = "start"
        self.peaks: dict[str, int] = {}
        self.stopped = threading.Event()
        self.process = psutil.Process()

    def run(self) -> None:
        while not self.stopped.wait(0.02):
            rss = self.process.memory_info().rss
            self.peaks[self.step] = max(self.peaks.get(self.step, 0), rss)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backbone", default="large")
    parser.add_argument("--exporter", default="dynamo")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    from heimdall_studio.models.demo import write_demo_checkpoint

    with tempfile.TemporaryDirectory(prefix="heimdall-mem-") as tmp:
        checkpoint = write_demo_checkpoint(Path(tmp) / f"demo_{args.backbone}.pt", backbone=args.backbone)
        weights = checkpoint.stat().st_size
        sampler = Sampler()
        sampler.start()
        started = time.perf_counter()
        steps = (ev.LOAD, ev.EXPORT, ev.VALIDATE, ev.PARITY, ev.METADATA)
        request = PipelineRequest(
            source=str(checkpoint), out_dir=str(Path(tmp) / "out"), steps=steps, export=ExportOptions(args.exporter)
        )
        status = ""
        for event in run_pipeline(request, CancelToken()):
            if isinstance(event, ev.StepStarted):
                sampler.step = event.step
            elif isinstance(event, ev.StepFinished):
                sampler.step = f"after {event.step}"
            elif isinstance(event, ev.PipelineFinished):
                status = event.status
        sampler.stopped.set()
        sampler.join()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {
        "backbone": args.backbone,
        "exporter": args.exporter,
        "status": status,
        "seconds": round(time.perf_counter() - started, 1),
        "weights_mb": weights / 1e6,
        "peak_rss_mb": {step: rss / 1e6 for step, rss in sampler.peaks.items()},
        "ru_maxrss_mb": maxrss / 1e6,
        "ratio": maxrss / weights,
    }
    print(f"LocalizationNet-{args.backbone}, {args.exporter}: {status} in {out['seconds']} s")
    print(f"weights {weights / 1e6:.0f} MB; ru_maxrss {maxrss / 1e6:.0f} MB = {maxrss / weights:.2f}× the weights")
    for step, rss in sampler.peaks.items():
        print(f"  {step:<16} peak RSS {rss / 1e6:7.0f} MB  ({rss / weights:.2f}×)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
