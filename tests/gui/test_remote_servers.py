"""The app against a real `mlflow server` and a real S3 endpoint (tests.integration's session
fixtures): browse MLflow and open a run's checkpoint; check the connection from Settings;
run, Push and Promote through the buttons and find the version and the object."""

from __future__ import annotations

from PySide6.QtCore import QTimer

from tests.gui.conftest import TINY_CLASS, modal_dialog, quick_options, screenshot, visible_text, wait_for_run
from tests.gui.test_pipeline_run import push_and_promote


def log_training_run(remote, tmp_path) -> tuple[str, str]:
    """A finished run with a metric, a tag, a checkpoint and a logged-model folder: (experiment, run id)."""
    import torch

    from heimdall_studio.integrations.mlflow_client import ensure_experiment, mlflow_session
    from heimdall_studio.integrations.settings import load_settings
    from tests.support.tiny_models import TwoHeadNet

    checkpoint = tmp_path / "best.pt"
    torch.save(TwoHeadNet().state_dict(), checkpoint)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors:\n  pytorch:\n    pytorch_version: 2.0\n")
    (model_dir / "data.pth").write_bytes(b"\0")
    settings = load_settings()
    experiment = f"exp-{remote.names.model}"
    with mlflow_session(settings) as client:
        experiment_id = ensure_experiment(client, settings, experiment)
        run_id = client.create_run(experiment_id, run_name="training", tags={"team": "vision"}).info.run_id
        client.log_metric(run_id, "val_loss", 0.25)
        client.log_artifact(run_id, str(checkpoint), "checkpoints")
        client.log_artifacts(run_id, str(model_dir), "model")
        client.set_terminated(run_id)
    return experiment, run_id


def test_browse_mlflow_and_open_a_run_checkpoint(remote, window, qtbot, tmp_path):
    from heimdall_studio.core.events import LOAD
    from heimdall_studio.gui.dialogs.mlflow_browser import MlflowBrowser

    experiment, run_id = log_training_run(remote, tmp_path)
    uri = f"runs:/{run_id}/checkpoints/best.pt"
    window.source_panel.model_class.setText(TINY_CLASS)
    seen = {}

    def browse():
        dialog = modal_dialog(qtbot, MlflowBrowser)
        try:
            qtbot.waitUntil(lambda: dialog.experiments.count() > 0 and not dialog.busy, timeout=60000)
            assert remote.mlflow in dialog.where.text(), dialog.error.message_label.text()
            dialog.select_experiment(experiment)
            qtbot.waitUntil(lambda: len(dialog.runs) == 1 and not dialog.busy, timeout=30000)
            seen["run row"] = [dialog.run_table.cell_text(0, c) for c in range(5)]
            dialog.select_run(run_id)
            qtbot.waitUntil(lambda: dialog.files.topLevelItemCount() == 2 and not dialog.busy, timeout=30000)
            dialog.select_file("model")
            seen["model"] = (dialog.chosen_uri, dialog.chosen_is_logged_model, dialog.hint.isVisible())
            dialog.select_file("checkpoints/best.pt")
            assert dialog.open_button.isEnabled() and not dialog.hint.isVisible()
            screenshot(dialog, "mlflow-browser")
            dialog.open_button.click()
        finally:
            if dialog.isVisible():
                dialog.reject()

    QTimer.singleShot(0, browse)
    window.source_panel.browse_button.click()
    assert seen["run row"][0] == "training" and seen["run row"][2] == "FINISHED"
    assert seen["run row"][3] == "val_loss=0.25" and seen["run row"][4] == "team=vision"
    assert seen["model"] == (f"runs:/{run_id}/model", True, True)

    panel = window.source_panel
    assert panel.source == uri and window.session.source == uri
    wait_for_run(qtbot, window)
    if not panel.recognised:  # a bare state dict: the input spec is asked for, as for a dropped file
        if panel.inputs.rowCount() == 0:
            panel.inputs.add_row()
        panel.inputs.item(0, 0).setText("x")
        panel.inputs.item(0, 1).setText("batch,3,16,8")
        panel.reload_button.click()
        wait_for_run(qtbot, window)
    assert panel.recognised, panel.error.message_label.text() + panel.error.hint_label.text()
    assert "TwoHeadNet" in panel.architecture.text()
    assert window.build_request((LOAD,)).source == uri


def test_unreachable_mlflow_is_a_banner_not_a_traceback(qtbot, monkeypatch):
    from heimdall_studio.gui.dialogs.mlflow_browser import MlflowBrowser
    from tests.integration.servers import free_port

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    dialog = MlflowBrowser()
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: not dialog.busy, timeout=60000)
    assert dialog.error.isVisible() and dialog.error.message_label.text()
    assert dialog.error.hint_label.text()
    assert "Traceback" not in visible_text(dialog)
    screenshot(dialog, "mlflow-browser-unreachable")


def test_push_and_promote_through_the_buttons_against_real_servers(remote, window, qtbot, tiny_checkpoint):
    from heimdall_studio.gui.dialogs.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.settings, window)
    dialog.show()
    qtbot.waitExposed(dialog)
    assert dialog.form.notes["tracking_uri"].text() == "from MLFLOW_TRACKING_URI"
    assert "AWS_SECRET_ACCESS_KEY" in dialog.secrets["aws_secret_access_key"].note.text()
    dialog.test_button.click()
    qtbot.waitUntil(lambda: not dialog.checking, timeout=60000)
    result = dialog.test_result.text()
    assert result.count("✔") == 2 and "✘" not in result, result
    assert remote.s3.secret_key not in visible_text(dialog)
    screenshot(dialog, "settings-test-connection")
    dialog.reject()
    dialog.deleteLater()

    window.push_panel.model_name.setText(remote.names.model)
    window.registry.model_name.setText(remote.names.model)
    window.source_panel.model_class.setText(TINY_CLASS)
    window.open_source(str(tiny_checkpoint))
    wait_for_run(qtbot, window)
    assert window.source_panel.recognised, window.source_panel.error.message_label.text()
    quick_options(window)
    window.run_action.trigger()
    wait_for_run(qtbot, window)
    assert window.session.status == "passed", window.pipeline.error.message_label.text()

    push_and_promote(window, qtbot, shot="main-registry-remote")
    [version] = window.registry.versions
    assert "staging" in version["aliases"], version
    assert window.registry.table.cell_text(0, 1) == "staging"
    assert window.push_panel.stored_at.text().startswith(f"s3://heimdall-models/{remote.names.prefix}")
    listed = remote.client.list_objects_v2(Bucket="heimdall-models", Prefix=remote.names.prefix)
    keys = [o["Key"] for o in listed.get("Contents", [])]
    assert any(k.endswith(".onnx") for k in keys), keys
