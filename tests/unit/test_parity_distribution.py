"""Parity's error distribution: |err| and |err| / allowed histograms and the worst elements.

The runners are real numpy computations: the candidate is the reference plus planted errors,
so what the histograms and the worst-element list must say is known exactly.
"""

from __future__ import annotations

import json

import numpy as np

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.parity import WORST_KEPT, parity_step
from heimdall_studio.core.runners import OrtRunner, Runner, TorchRunner
from heimdall_studio.core.specs import ParityOptions, TensorSpec, Tolerance
from tests.unit.conftest import run_step

INPUTS = [TensorSpec("x", ("batch", 6, 5))]
TOL = Tolerance(atol=1e-4, rtol=1e-3, mean_atol=1.0)


class NumpyRunner(Runner):
    """y = tanh(x) · 3 (+ ``perturb(y, call)`` for a candidate); keeps every output it returned."""

    def __init__(self, runtime: str, perturb=None):
        super().__init__()
        self.runtime = runtime
        self.perturb = perturb
        self.outputs: list[np.ndarray] = []

    device = "cpu"
    provider = "numpy"
    threads = 1

    @property
    def input_specs(self):
        return INPUTS

    def _activate(self) -> None:
        pass

    def _deactivate(self) -> None:
        pass

    def _infer(self, feed):
        y = (np.tanh(feed["x"]) * 3).astype(np.float32)
        if self.perturb is not None:
            y = self.perturb(y, len(self.outputs))
        self.outputs.append(y)
        return {"y": y}


def _run(perturb, batches=3, batch_size=4, tol=TOL):
    reference, candidate = NumpyRunner("pytorch"), NumpyRunner("onnxruntime", perturb)
    options = ParityOptions(batches=batches, batch_size=batch_size, default=tol)
    _, result = run_step(parity_step(reference, candidate, INPUTS, options, CancelToken()))
    out = json.loads(json.dumps(result.to_dict()))["outputs"]["y"]  # the summary survives strict JSON
    return reference, candidate, out


def _noise(seed=1, scale=3e-4):
    def perturb(y, call):
        rng = np.random.default_rng(seed + call)
        return (y + rng.normal(0, scale, y.shape)).astype(np.float32)

    return perturb


def _ratios(reference, candidate, tol=TOL):
    """|err| / allowed of every element, recomputed from the runners' own outputs (as float64)."""
    out = []
    for ref, cand in zip(reference.outputs, candidate.outputs, strict=True):
        ref64, cand64 = ref.astype(np.float64), cand.astype(np.float64)
        out.append(np.abs(cand64 - ref64) / (tol.atol + tol.rtol * np.abs(ref64)))
    return out


def test_histogram_counts_sum_to_the_compared_elements():
    def every_other(y, call):  # noise on every second element; the others match exactly
        noisy = _noise()(y, call)
        noisy.ravel()[::2] = y.ravel()[::2]
        return noisy

    reference, candidate, out = _run(every_other)
    hist = out["histogram"]
    assert out["elements"] == (4 * 3 + 1) * 30
    exact = sum(int((r == c).sum()) for r, c in zip(reference.outputs, candidate.outputs, strict=True))
    assert hist["exact"] == exact >= out["elements"] // 2  # not on the log axis, but counted
    assert sum(hist["abs_counts"]) + hist["exact"] == out["elements"]
    assert sum(hist["ratio_counts"]) + hist["exact"] == out["elements"]
    assert len(hist["abs_edges"]) == len(hist["abs_counts"]) + 1
    assert len(hist["ratio_edges"]) == len(hist["ratio_counts"]) + 1
    edges = np.array(hist["abs_edges"])
    assert np.all(np.diff(np.log10(edges)) > 0) and np.allclose(np.diff(np.log10(edges)), 0.2)  # log-spaced
    # the bins hold the errors they say: the largest error lies in the last non-empty bin
    assert edges[-2] < out["max_abs"] <= edges[-1]


def test_ratio_at_most_one_exactly_when_within_tolerance():
    reference, candidate, out = _run(_noise(scale=2e-4))
    ratios = np.concatenate([r.ravel() for r in _ratios(reference, candidate)])
    outside = int((ratios > 1).sum())
    assert 0 < outside < ratios.size and out["outside_tolerance"] == outside and not out["passed"]
    edges, counts = np.array(out["histogram"]["ratio_edges"]), np.array(out["histogram"]["ratio_counts"])
    at_or_below_one = counts[edges[1:] <= 1].sum()
    assert edges.min() < 1 < edges.max() and 1.0 in edges  # the pass line is a bin edge
    assert at_or_below_one + out["histogram"]["exact"] == ratios.size - outside
    assert out["max_ratio"] == max(w["abs_err"] / w["allowed"] for w in out["worst"]) > 1


def test_an_error_of_exactly_the_allowed_amount_passes():
    tol = Tolerance(atol=0.5, rtol=0.0, mean_atol=1.0)

    def exactly_atol(y, call):
        return y + np.float32(0.5)  # tanh·3 + 0.5 is exact in float32 for |y| < 3: |err| = atol exactly

    reference, candidate, out = _run(exactly_atol, batches=1, batch_size=2, tol=tol)
    pairs = zip(reference.outputs, candidate.outputs, strict=True)
    diffs = np.concatenate([np.abs(c.astype(np.float64) - r) for r, c in pairs])
    within = int((diffs <= 0.5).sum())
    assert (diffs == 0.5).sum() > 0 and within < diffs.size  # some exactly at the limit, some above
    edges, counts = np.array(out["histogram"]["ratio_edges"]), np.array(out["histogram"]["ratio_counts"])
    passing = counts[edges[1:] <= 1].sum() + out["histogram"]["exact"]
    assert passing == within == out["elements"] - out["outside_tolerance"]


def test_the_worst_elements_are_the_worst_over_all_batches():
    def planted(y, call):
        y = y.copy()
        if call == 1:  # the second batch: three large errors at known places
            y[2, 3, 1] += 0.5
            y[0, 0, 4] -= 0.25
            y[3, 5, 0] += 0.125
        return _noise()(y, call)

    reference, candidate, out = _run(planted)
    worst = out["worst"]
    assert len(worst) == WORST_KEPT
    # the planted errors lead (in the order of |err| / allowed, which the next check verifies)
    assert sorted((w["batch"], w["index"]) for w in worst[:3]) == [(1, [0, 0, 4]), (1, [2, 3, 1]), (1, [3, 5, 0])]
    assert [w["abs_err"] / w["allowed"] for w in worst] == sorted(
        (w["abs_err"] / w["allowed"] for w in worst), reverse=True
    )
    ratios = _ratios(reference, candidate)
    everything = sorted(
        ((float(r[i]), b, list(i)) for b, r in enumerate(ratios) for i in np.ndindex(r.shape)), reverse=True
    )[:WORST_KEPT]
    assert [(b, i) for _, b, i in everything] == [(w["batch"], w["index"]) for w in worst]
    for w in worst:
        ref = reference.outputs[w["batch"]][tuple(w["index"])]
        cand = candidate.outputs[w["batch"]][tuple(w["index"])]
        assert (w["reference"], w["candidate"]) == (float(ref), float(cand))
        assert np.isclose(w["abs_err"], abs(float(cand) - float(ref)))
        assert np.isclose(w["allowed"], TOL.atol + TOL.rtol * abs(float(ref)))


def test_non_finite_elements_are_left_out_and_indices_stay_true():
    def nan_and_error(y, call):
        y = y.copy()
        if call == 0:
            y[0, 0, 0] = np.nan  # not compared (reported as NaN instead)
            y[1, 2, 3] += 1.0
        return y

    _, _, out = _run(nan_and_error, batches=1, batch_size=2)
    assert out["nan_candidate"] == 1 and out["elements"] == 3 * 30 - 1
    assert sum(out["histogram"]["abs_counts"]) == out["elements"] - out["histogram"]["exact"] == 1  # the one error
    assert out["worst"][0]["batch"] == 0 and out["worst"][0]["index"] == [1, 2, 3]
    assert all(np.isfinite(w["candidate"]) for w in out["worst"])


def test_pytorch_against_onnx_runtime_reports_a_distribution(tiny_export):
    model, export = tiny_export
    reference = TorchRunner(model.module, ["x"], ["positions", "uncertainties"])
    options = ParityOptions(batches=2, batch_size=4)
    _, result = run_step(parity_step(reference, OrtRunner(export.onnx_path), model.inputs, options, CancelToken()))
    for out in result.outputs.values():
        hist = out["histogram"]
        assert sum(hist["abs_counts"]) + hist["exact"] == sum(hist["ratio_counts"]) + hist["exact"] == out["elements"]
        assert sum(hist["abs_counts"]) > 0
        assert out["passed"] and out["max_ratio"] <= 1 and hist["ratio_edges"][-1] <= 1
        assert out["tolerance"] == {"atol": 1e-4, "rtol": 1e-3, "mean_atol": 1e-5}
        assert 0 < len(out["worst"]) <= WORST_KEPT
