"""Parity step: do two runners give the same outputs on the same inputs?

The reference (usually PyTorch) and the candidate (usually ONNX Runtime) get
``batches`` seeded random batches of ``batch_size`` plus one batch of 1 (which
exercises the dynamic batch axis), or the arrays of a user's .npz. An output
passes when every element is within ``atol + rtol*|ref|`` and its mean absolute
error is at most ``mean_atol`` (the seed project's own criterion), and neither
side has NaN/Inf. Mismatched shapes, dtypes and missing or extra outputs fail
with their own messages in the result; they are not exceptions.

Each output's summary also carries the distribution of its errors in bounded memory: counts of
|err| and of |err| / (atol + rtol·|ref|) in fixed log-spaced bins over every compared element,
and the ``WORST_KEPT`` elements with the largest ratio (kept per batch with ``np.argpartition``).
Its ``advice`` gives the smallest atol (at the configured rtol) and the smallest rtol (at the
configured atol) with which every element of this run passes, and the p99.9 absolute error:
a tolerance set from data. (The mean_atol criterion is separate; ``mean_abs`` is its figure.)
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.events import PARITY, Event, Log, ParityBatch, Progress, json_safe
from heimdall_studio.core.feeds import load_npz_feed, random_feed
from heimdall_studio.core.runners import Runner
from heimdall_studio.core.specs import ParityOptions, TensorSpec, Tolerance

SAMPLE_CAP = 1 << 20  # abs errors kept per output per batch for the percentiles
WORST_KEPT = 10  # elements of each output reported as the worst (by |err| / allowed)
BINS_PER_DECADE = 5
# Fixed log-spaced bins, so every element of every batch is counted in O(bins) memory. Exact
# matches (|err| = 0) have no place on a log axis: they are counted apart ("exact"). Other values
# below the first edge count in the first bin, values above the last in the last. Bins are
# (low, high]: a ratio of exactly 1 (allowed) counts at or below the pass line.
ABS_EDGES = np.logspace(-12, 6, 18 * BINS_PER_DECADE + 1)
RATIO_EDGES = np.logspace(-9, 6, 15 * BINS_PER_DECADE + 1)


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of ``values`` in the (low, high] bins of ``edges``; out-of-range values in the end bins."""
    index = np.clip(np.searchsorted(edges, values, side="left") - 1, 0, len(edges) - 2)
    return np.bincount(index, minlength=len(edges) - 1)


def _trimmed(edges: np.ndarray, counts: np.ndarray) -> tuple[list[float], list[int]]:
    """The edges and counts from the first to the last non-empty bin (one bin when all are empty)."""
    filled = np.flatnonzero(counts)
    first, last = (int(filled[0]), int(filled[-1])) if filled.size else (0, 0)
    return [float(e) for e in edges[first : last + 2]], [int(c) for c in counts[first : last + 1]]


@dataclass
class _OutputErrors:
    """Running error figures of one output over all batches."""

    tolerance: Tolerance
    elements: int = 0
    abs_sum: float = 0.0
    max_abs: float = 0.0
    max_rel: float = 0.0
    outside: int = 0  # elements beyond atol + rtol*|ref|
    nan_reference: int = 0
    inf_reference: int = 0
    nan_candidate: int = 0
    inf_candidate: int = 0
    failed: bool = False
    samples: list[np.ndarray] = field(default_factory=list)
    abs_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(ABS_EDGES) - 1, dtype=np.int64))
    ratio_counts: np.ndarray = field(default_factory=lambda: np.zeros(len(RATIO_EDGES) - 1, dtype=np.int64))
    exact: int = 0  # elements with |err| = 0: in neither histogram
    max_ratio: float = 0.0
    worst: list[tuple[float, dict[str, Any]]] = field(default_factory=list)  # (ratio, element), worst first
    need_atol: float = 0.0  # smallest atol (with the configured rtol) that passes every element so far
    need_rtol: float | None = 0.0  # smallest rtol (with the configured atol); None: no rtol can pass

    def add_advice(self, diff: np.ndarray, ref_abs: np.ndarray) -> None:
        """Fold the tolerances this batch needs into the running advice (finite elements only).

        Each element's need is raised by one ulp where float rounding would leave
        ``atol + rtol*|ref|`` just below ``|err|``, so the advice passes the very check it came from.
        """
        tol = self.tolerance
        scaled = tol.rtol * ref_abs
        need = diff - scaled
        for _ in range(2):
            short = need + scaled < diff
            need[short] = np.nextafter(need[short], np.inf)
        self.need_atol = max(self.need_atol, float(need.max(initial=0.0)))
        over = diff > tol.atol
        if self.need_rtol is None or not over.any():
            return
        if (ref_abs[over] == 0).any():
            self.need_rtol = None  # |err| > atol where the reference is 0: no rtol helps
            return
        rel = (diff[over] - tol.atol) / ref_abs[over]
        for _ in range(2):
            short = tol.atol + rel * ref_abs[over] < diff[over]
            rel[short] = np.nextafter(rel[short], np.inf)
        self.need_rtol = max(self.need_rtol, float(rel.max()))

    def add_worst(
        self,
        batch: int,
        shape: tuple[int, ...],
        flat: np.ndarray | None,
        ref: np.ndarray,
        cand: np.ndarray,
        diff: np.ndarray,
        allowed: np.ndarray,
        ratio: np.ndarray,
    ) -> None:
        """Keep the WORST_KEPT elements with the largest ratio; the arguments are the finite elements."""
        k = min(WORST_KEPT, ratio.size)
        if k == 0:
            return
        top = np.argpartition(ratio, ratio.size - k)[ratio.size - k :]
        for i in top:
            self.worst.append(
                (
                    float(ratio[i]),
                    {
                        "batch": batch,
                        "index": [int(v) for v in np.unravel_index(int(i if flat is None else flat[i]), shape)],
                        "reference": float(ref[i]),
                        "candidate": float(cand[i]),
                        "abs_err": float(diff[i]),
                        "allowed": float(allowed[i]),
                    },
                )
            )
        self.worst.sort(key=lambda pair: -pair[0])
        del self.worst[WORST_KEPT:]

    def summary(self) -> dict[str, Any]:
        errors = np.concatenate(self.samples) if self.samples else np.zeros(0)
        counted = self.elements > 0
        abs_edges, abs_counts = _trimmed(ABS_EDGES, self.abs_counts)
        ratio_edges, ratio_counts = _trimmed(RATIO_EDGES, self.ratio_counts)
        return {
            "max_abs": self.max_abs if counted else float("nan"),
            "mean_abs": self.abs_sum / self.elements if counted else float("nan"),
            "max_rel": self.max_rel if counted else float("nan"),
            "p99_abs": float(np.percentile(errors, 99)) if errors.size else float("nan"),
            "median_abs": float(np.median(errors)) if errors.size else float("nan"),
            "elements": self.elements,
            "outside_tolerance": self.outside,
            "nan_reference": self.nan_reference,
            "inf_reference": self.inf_reference,
            "nan_candidate": self.nan_candidate,
            "inf_candidate": self.inf_candidate,
            "passed": not self.failed,
            "max_ratio": self.max_ratio if counted else float("nan"),
            "tolerance": dataclasses.asdict(self.tolerance),
            "histogram": {
                "abs_edges": abs_edges,
                "abs_counts": abs_counts,
                "ratio_edges": ratio_edges,
                "ratio_counts": ratio_counts,
                "exact": self.exact,
            },
            "worst": [element for _, element in self.worst],
            "advice": {
                "atol": self.need_atol if counted else None,
                "rtol": self.need_rtol if counted else None,
                "p999_abs": float(np.percentile(errors, 99.9)) if errors.size else None,
            },
        }


@dataclass
class ParityResult:
    passed: bool
    reference: str
    candidate: str
    batches: int
    batch_size: int
    seed: int
    inputs: str  # "random" or the .npz path
    criteria: dict[str, dict[str, float]] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    # Other runtimes checked against the same reference (``openvino``: see runtime_parity_summary);
    # they are reported, and do not change ``passed`` (the gate on the exported file).
    runtimes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = json_safe(self)
        if not self.runtimes:
            data.pop("runtimes", None)
        return data


RUNTIME_OUTPUT_KEYS = ("max_abs", "mean_abs", "max_rel", "p99_abs", "outside_tolerance", "passed", "tolerance")


def runtime_parity_summary(result: ParityResult, precision: str) -> dict[str, Any]:
    """The figures of one more runtime's parity run, as ``parity.runtimes.NAME`` reports them."""
    return {
        "candidate": result.candidate,
        "precision": precision,
        "passed": result.passed,
        "criteria": result.criteria,
        "outputs": {
            name: {key: summary[key] for key in RUNTIME_OUTPUT_KEYS if key in summary}
            for name, summary in result.outputs.items()
        },
        "failures": list(result.failures),
    }


def parity_step(
    reference: Runner, candidate: Runner, inputs: list[TensorSpec], options: ParityOptions, cancel: CancelToken
) -> Generator[Event, None, ParityResult]:
    """Compare ``candidate`` against ``reference``; runners not yet active are
    activated here and deactivated at the end. BadInputError for a bad .npz."""
    if options.inputs_npz:
        fixed = load_npz_feed(Path(options.inputs_npz), inputs)
        first = next(iter(fixed.values()))
        sizes = [int(first.shape[0]) if first.ndim else 1]
    else:
        fixed = None
        sizes = [options.batch_size] * options.batches + [1]
    rng = np.random.default_rng(options.seed)
    errors: dict[str, _OutputErrors] = {}
    failures: dict[str, None] = {}  # ordered set: each message once
    yield Progress(PARITY, 0, len(sizes), f"Comparing {candidate.describe()} with {reference.describe()}")
    with contextlib.ExitStack() as stack:
        for runner in (reference, candidate):
            if not runner.is_active:
                stack.enter_context(runner)
        for index, size in enumerate(sizes):
            cancel.raise_if_cancelled()
            feed = fixed if fixed is not None else random_feed(inputs, size, rng, options.int_range)
            expected = reference.infer(feed)
            cancel.raise_if_cancelled()
            actual = candidate.infer(feed)
            for name in actual:
                if name not in expected:
                    failures.setdefault(
                        f"output {name!r} of the {candidate.runtime} model has no counterpart "
                        f"in the {reference.runtime} model"
                    )
            for name, ref in expected.items():
                tracker = errors.setdefault(name, _OutputErrors(options.tolerance_for(name)))
                if name not in actual:
                    tracker.failed = True
                    failures.setdefault(f"output {name!r} is missing from the {candidate.runtime} model")
                    continue
                batch = _compare(name, ref, actual[name], tracker, failures, candidate.runtime, index)
                yield ParityBatch(index, size, name, batch[0], batch[1], tracker.tolerance.atol, batch[2])
            yield Progress(PARITY, index + 1, len(sizes), f"batch {index + 1} of {len(sizes)} (size {size})")

    outputs = {name: tracker.summary() for name, tracker in errors.items()}
    for name, tracker in errors.items():
        tol, summary = tracker.tolerance, outputs[name]
        if tracker.outside:
            failures.setdefault(
                f"output {name!r}: {tracker.outside} of {tracker.elements} elements differ by more than "
                f"atol {tol.atol:g} + rtol {tol.rtol:g}·|reference| (max abs error {summary['max_abs']:.3g})"
            )
        if tracker.elements and summary["mean_abs"] > tol.mean_atol:
            failures.setdefault(
                f"output {name!r}: mean abs error {summary['mean_abs']:.3g} is above mean_atol {tol.mean_atol:g}"
            )
        summary["passed"] = not (tracker.failed or tracker.outside or summary["mean_abs"] > tol.mean_atol)
    for message in failures:
        yield Log("warning", f"Parity: {message}", PARITY)
    criteria = {"default": dataclasses.asdict(options.default)}
    criteria.update({name: dataclasses.asdict(tol) for name, tol in options.per_output.items()})
    return ParityResult(
        passed=not failures and all(o["passed"] for o in outputs.values()),
        reference=reference.describe(),
        candidate=candidate.describe(),
        batches=len(sizes),
        batch_size=sizes[0],
        seed=options.seed,
        inputs=options.inputs_npz or "random",
        criteria=criteria,
        outputs=outputs,
        failures=list(failures),
    )


def _compare(
    name: str,
    ref: np.ndarray,
    cand: np.ndarray,
    tracker: _OutputErrors,
    failures: dict[str, None],
    candidate_runtime: str,
    batch_index: int = 0,
) -> tuple[float, float, bool]:
    """Fold one batch of one output into ``tracker``; (max_abs, mean_abs, passed) of the batch."""
    nan = float("nan")
    if ref.shape != cand.shape:
        tracker.failed = True
        failures.setdefault(
            f"output {name!r}: shape {tuple(cand.shape)} from {candidate_runtime}, "
            f"{tuple(ref.shape)} from the reference"
        )
        return nan, nan, False
    if ref.dtype != cand.dtype:
        tracker.failed = True
        failures.setdefault(
            f"output {name!r}: dtype {cand.dtype} from {candidate_runtime}, {ref.dtype} from the reference"
        )
    ref64, cand64 = ref.astype(np.float64), cand.astype(np.float64)
    counts = {
        "nan_reference": int(np.isnan(ref64).sum()),
        "inf_reference": int(np.isinf(ref64).sum()),
        "nan_candidate": int(np.isnan(cand64).sum()),
        "inf_candidate": int(np.isinf(cand64).sum()),
    }
    for key, count in counts.items():
        setattr(tracker, key, getattr(tracker, key) + count)
    if any(counts.values()):
        tracker.failed = True
        failures.setdefault(
            f"output {name!r} has non-finite values: reference {tracker.nan_reference} NaN / "
            f"{tracker.inf_reference} Inf, {candidate_runtime} {tracker.nan_candidate} NaN / "
            f"{tracker.inf_candidate} Inf"
        )
    finite = np.isfinite(ref64) & np.isfinite(cand64)
    diff = np.abs(cand64[finite] - ref64[finite])
    if diff.size == 0:
        return nan, nan, False
    tol = tracker.tolerance
    ref_abs = np.abs(ref64[finite])
    allowed = tol.atol + tol.rtol * ref_abs
    outside = int((diff > allowed).sum())
    # |err| / allowed: <= 1 passes; an error where nothing is allowed (atol = rtol·|ref| = 0) is infinite.
    ratio = np.divide(diff, allowed, out=np.where(diff > 0, np.inf, 0.0), where=allowed > 0)
    differs = diff > 0
    tracker.exact += int(diff.size - np.count_nonzero(differs))
    tracker.abs_counts += _bin_counts(diff[differs], ABS_EDGES)
    tracker.ratio_counts += _bin_counts(ratio[differs], RATIO_EDGES)
    tracker.max_ratio = max(tracker.max_ratio, float(ratio.max()))
    flat = None if diff.size == ref64.size else np.flatnonzero(finite)  # None: element i is flat index i
    tracker.add_worst(batch_index, ref64.shape, flat, ref64[finite], cand64[finite], diff, allowed, ratio)
    tracker.add_advice(diff, ref_abs)
    max_abs, mean_abs = float(diff.max()), float(diff.mean())
    tracker.elements += diff.size
    tracker.abs_sum += float(diff.sum())
    tracker.max_abs = max(tracker.max_abs, max_abs)
    tracker.max_rel = max(tracker.max_rel, float((diff / np.maximum(ref_abs, np.finfo(np.float64).tiny)).max()))
    tracker.outside += outside
    tracker.samples.append(diff[:: max(1, diff.size // SAMPLE_CAP)].astype(np.float32))
    passed = outside == 0 and mean_abs <= tol.mean_atol and not any(counts.values()) and ref.dtype == cand.dtype
    return max_abs, mean_abs, passed
