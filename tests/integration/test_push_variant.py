"""`push FILE.onnx --variant NAME`: the chosen variant's file goes up, tagged with the variant, its
parity figures and the plain export's sha256 (real mlflow server + moto S3 server)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from heimdall_studio.core import events as ev
from heimdall_studio.core.specs import BenchmarkOptions, ExportOptions, ParityOptions, SourceOptions, Tolerance
from heimdall_studio.core.variants import VariantOptions
from heimdall_studio.engine.pipeline import run_pipeline
from heimdall_studio.engine.request import PipelineRequest
from heimdall_studio.integrations.registry import list_versions
from heimdall_studio.integrations.settings import load_settings


@pytest.fixture
def variants_run(tmp_path):
    """A run of TwoHeadNet with int8-dynamic (passes) and int8-static under impossible criteria (fails)."""
    import torch

    from tests.support.tiny_models import TwoHeadNet

    torch.manual_seed(0)
    checkpoint = tmp_path / "tiny.pt"
    torch.save(TwoHeadNet().state_dict(), checkpoint)
    request = PipelineRequest(
        source=str(checkpoint),
        out_dir=str(tmp_path / "out"),
        steps=(ev.LOAD, ev.EXPORT, ev.VALIDATE, ev.PARITY, ev.BENCHMARK, ev.VARIANTS, ev.METADATA),
        source_options=SourceOptions(model_class="tests.support.tiny_models:TwoHeadNet", inputs=("x:batch,3,16,8",)),
        export=ExportOptions(exporter="torchscript"),
        parity=ParityOptions(batches=1, batch_size=2),
        benchmark=BenchmarkOptions(warmup=0, iterations=2, batch_sizes=(1,), devices=("cpu",)),
        variants=("int8-dynamic", "int8-static"),
        variant_options=VariantOptions(criteria={"int8-static": Tolerance(0.0, 0.0, 0.0)}, tune=False),
    )
    [finished] = [e for e in run_pipeline(request) if isinstance(e, ev.PipelineFinished)]
    assert finished.exit_code == 0, finished.report.get("errors")
    report = finished.report
    plain = Path(report["onnx"]["path"])
    assert plain.with_name(plain.stem + ".report.json").is_file()
    return plain, report


def test_push_a_variant_with_its_lineage_and_refuse_a_failed_one(remote, cli, variants_run, capsys):
    plain, report = variants_run
    by_name = {v["name"]: v for v in report["variants"]}
    dynamic, static = by_name["int8-dynamic"], by_name["int8-static"]
    assert dynamic["parity"]["passed"] is True and static["parity"]["passed"] is False

    assert cli("push", plain, "--variant", "int8-dynamic", "--model-name", remote.names.model) == 0
    [version] = list_versions(load_settings(), remote.names.model)
    tags = version["tags"]
    assert tags["variant"] == "int8-dynamic" and tags["variant.parity_passed"] == "true"
    assert tags["lineage.plain_sha256"] == report["onnx"]["sha256"] == hashlib.sha256(plain.read_bytes()).hexdigest()
    assert tags["sha256"] == dynamic["sha256"] != report["onnx"]["sha256"]
    worst = max(o["max_abs"] for o in dynamic["parity"]["outputs"].values())
    assert float(tags["variant.max_abs"]) == pytest.approx(worst, rel=1e-5)
    assert tags["parity_passed"] == "true" and tags["file_name"] == Path(dynamic["path"]).name
    key = version["source"].removeprefix("s3://heimdall-models/") + Path(dynamic["path"]).name
    head = remote.client.head_object(Bucket="heimdall-models", Key=key)
    assert head["Metadata"]["sha256"] == dynamic["sha256"]

    capsys.readouterr()
    assert cli("push", plain, "--variant", "int8-static", "--model-name", remote.names.model) == 2
    err = capsys.readouterr().err
    assert "int8-static variant failed its parity criteria" in err and "--allow-failed-parity" in err
    assert len(list_versions(load_settings(), remote.names.model)) == 1  # nothing uploaded or registered
    listed = remote.client.list_objects_v2(Bucket="heimdall-models", Prefix=remote.names.prefix)
    assert not any(Path(o["Key"]).name.endswith("int8-static.onnx") for o in listed.get("Contents", []))

    assert (
        cli("push", plain, "--variant", "int8-static", "--allow-failed-parity", "--model-name", remote.names.model) == 0
    )
    newest = list_versions(load_settings(), remote.names.model)[0]
    assert newest["tags"]["variant"] == "int8-static" and newest["tags"]["variant.parity_passed"] == "false"
    assert newest["tags"]["lineage.plain_sha256"] == report["onnx"]["sha256"]


def test_push_of_an_unknown_or_changed_variant_says_what_to_do(remote, cli, variants_run, capsys):
    plain, report = variants_run
    assert cli("push", plain, "--variant", "ort-optimized", "--model-name", remote.names.model) == 2
    assert "no variant 'ort-optimized'" in capsys.readouterr().err
    Path(report["variants"][0]["path"]).write_bytes(b"changed")
    assert cli("push", plain, "--variant", "int8-dynamic", "--model-name", remote.names.model) == 2
    assert "changed since the run" in capsys.readouterr().err
    assert list_versions(load_settings(), remote.names.model) == []
    assert json.loads(plain.with_name(plain.stem + ".report.json").read_text())["variants"]


def test_the_apps_push_of_a_variant_goes_through_the_engine_with_its_lineage(remote, variants_run):
    """The Variants view's Push: a (LOAD, PUSH) run on the plain export with the run's report as the
    prior report and ``variant`` in the push options."""
    from heimdall_studio.integrations.push import PushOptions

    plain, report = variants_run

    def push(name: str, allow: bool) -> ev.PipelineFinished:
        options = {
            **PushOptions(model_name=remote.names.model).to_dict(),
            "variant": name,
            "allow_failed_parity": allow,
        }
        request = PipelineRequest(source=str(plain), steps=(ev.LOAD, ev.PUSH), push=options, prior_report=report)
        [finished] = [e for e in run_pipeline(request) if isinstance(e, ev.PipelineFinished)]
        return finished

    refused = push("int8-static", allow=False)
    assert refused.exit_code == 2 and "failed its parity criteria" in json.dumps(refused.report["errors"])
    assert list_versions(load_settings(), remote.names.model) == []

    pushed = push("int8-dynamic", allow=False)
    assert pushed.exit_code == 0, pushed.report.get("errors")
    [version] = list_versions(load_settings(), remote.names.model)
    dynamic = next(v for v in report["variants"] if v["name"] == "int8-dynamic")
    assert version["tags"]["variant"] == "int8-dynamic" and version["tags"]["sha256"] == dynamic["sha256"]
    assert version["tags"]["lineage.plain_sha256"] == report["onnx"]["sha256"]
