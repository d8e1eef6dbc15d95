"""The app's side of Ray devices: the benchmark form offers them, the latency view shows the remote
columns beside the local ones with the node they ran on, and the profile holds the Ray address."""

from __future__ import annotations

from heimdall_studio.core.stats import latency_stats
from heimdall_studio.gui.panels.latency_view import LatencyView
from heimdall_studio.gui.panels.options_form import OptionsForm
from heimdall_studio.integrations.ray_devices import ray_address
from heimdall_studio.integrations.settings import Profile, load_settings, save_profile


def _entry(runtime: str, device: str, location: str, ms: list[float], **extra) -> dict:
    return {
        "runtime": runtime, "device": device, "provider": "torch", "batch_size": 1, "iterations": len(ms),
        "available": True, "location": location, **latency_stats(ms, 1), **extra,
    }  # fmt: skip


def test_latency_view_shows_remote_columns_beside_local_ones(qtbot):
    view = LatencyView()
    qtbot.addWidget(view)
    view.show()
    node = {"host": "gpu-node-7", "cpu_model": "AMD EPYC 7B13"}
    entries = [
        _entry("pytorch", "cpu", "local", [2.0, 2.1, 2.2]),
        _entry("onnxruntime", "cpu", "local", [1.0, 1.1, 1.2]),
        _entry("pytorch", "ray:cpu", "ray", [3.0, 3.1, 3.2], **node),
        _entry("onnxruntime", "ray:cpu", "ray", [1.5, 1.6, 1.7], **node),
        {"runtime": "pytorch", "device": "ray:cuda", "batch_size": 1, "available": False, "location": "ray",
         "reason": "the Ray cluster has no GPU node (cluster_resources() lists no GPU)"},
    ]  # fmt: skip
    view.show_result({"entries": entries, "speedup": {"cpu": {"1": 2.0}, "ray:cpu": {"1": 2.0}}})
    assert view.cpu.table.rowCount() == 2 and view.ray_cpu.table.rowCount() == 2
    assert view.ray_cpu.isVisible() and view.ray_cpu.title() == "Ray CPU — gpu-node-7 (AMD EPYC 7B13)"
    assert view.ray_gpu.isVisible() and "no GPU node" in view.ray_gpu.unavailable.text()
    assert view.gpu.table.rowCount() == 0  # the local GPU column does not take the remote entries
    view.reset_view()
    assert not view.ray_cpu.isVisible() and not view.ray_gpu.isVisible()


def test_benchmark_form_offers_ray_devices(qtbot):
    form = OptionsForm()
    qtbot.addWidget(form)
    form.on_cuda.setChecked(False)
    form.on_ray_cpu.setChecked(True)
    form.on_ray_cuda.setChecked(True)
    assert form.benchmark_options().devices == ("cpu", "ray:cpu", "ray:cuda")


def test_the_profile_ray_address_is_the_default_and_ray_address_overrides_it(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    save_profile(Profile(name="lab", ray_address="head.lab:6379"), activate=True)
    assert load_settings(with_secrets=False).profile.ray_address == "head.lab:6379"
    assert ray_address("") == "head.lab:6379"
    assert ray_address("other:1") == "other:1"
    monkeypatch.setenv("RAY_ADDRESS", "env:2")
    assert ray_address("") == "env:2" and load_settings(with_secrets=False).profile.ray_address == "env:2"
