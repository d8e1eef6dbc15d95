"""Tolerance advice: the smallest atol and rtol that pass this run pass a re-check; a hair less fails."""

from __future__ import annotations

import dataclasses

import pytest

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.parity import parity_step
from heimdall_studio.core.runners import OrtRunner, TorchRunner
from heimdall_studio.core.specs import ParityOptions, Tolerance
from tests.unit.conftest import run_step
from tests.unit.test_per_node import perturbed_model

LOOSE_MEAN = 1e9  # advice is about the elementwise criterion; keep the mean criterion out of the way


def parity(onnx_path, tolerance: Tolerance):
    model = perturbed_model()
    reference = TorchRunner(model.module, ["x"], model.output_names)
    options = ParityOptions(batches=2, batch_size=4, default=tolerance)
    return run_step(parity_step(reference, OrtRunner(onnx_path), model.inputs, options, CancelToken()))[1]


@pytest.fixture(scope="module")
def advised(tiny_export):
    _, export = tiny_export
    first = parity(export.onnx_path, Tolerance(mean_atol=LOOSE_MEAN))
    return export.onnx_path, first


def test_advice_is_in_every_output_with_the_histogram(advised):
    _, result = advised
    assert not result.passed
    for summary in result.outputs.values():
        assert set(summary["advice"]) == {"atol", "rtol", "p999_abs"}
        assert "histogram" in summary and "worst" in summary
        assert 0 < summary["advice"]["p999_abs"] <= summary["max_abs"]


def test_advised_atol_passes_and_a_smaller_one_fails(advised):
    onnx_path, first = advised
    atol = first.outputs["uncertainties"]["advice"]["atol"]
    assert atol > Tolerance().atol
    rtol = Tolerance().rtol
    assert parity(onnx_path, Tolerance(atol=atol, rtol=rtol, mean_atol=LOOSE_MEAN)).outputs["uncertainties"]["passed"]
    smaller = parity(onnx_path, Tolerance(atol=atol * (1 - 1e-6), rtol=rtol, mean_atol=LOOSE_MEAN))
    assert not smaller.outputs["uncertainties"]["passed"]


def test_advised_rtol_passes_and_a_smaller_one_fails(advised):
    onnx_path, first = advised
    rtol = first.outputs["uncertainties"]["advice"]["rtol"]
    assert rtol is not None and rtol > Tolerance().rtol
    atol = Tolerance().atol
    assert parity(onnx_path, Tolerance(atol=atol, rtol=rtol, mean_atol=LOOSE_MEAN)).outputs["uncertainties"]["passed"]
    smaller = parity(onnx_path, Tolerance(atol=atol, rtol=rtol * (1 - 1e-6), mean_atol=LOOSE_MEAN))
    assert not smaller.outputs["uncertainties"]["passed"]


def test_a_matching_model_needs_no_more_than_the_noise(tiny_export):
    from heimdall_studio.core.runners import TorchRunner
    from tests.unit.conftest import tiny_two_head_model

    model, export = tiny_export
    reference = TorchRunner(tiny_two_head_model().module, ["x"], model.output_names)
    result = run_step(
        parity_step(
            reference,
            OrtRunner(export.onnx_path),
            model.inputs,
            dataclasses.replace(ParityOptions(), batches=1),
            CancelToken(),
        )
    )[1]
    for summary in result.outputs.values():
        assert summary["advice"]["atol"] <= summary["max_abs"] < 1e-5
