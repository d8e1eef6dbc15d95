"""Where the embedded profile puts a pushed model: one models/ folder, as in S3."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.integrations.push import make_store
from heimdall_studio.integrations.settings import load_settings
from heimdall_studio.integrations.store import render_prefix


def test_an_embedded_push_lands_in_data_dir_models_type_version(tmp_path):
    settings = load_settings()
    assert settings.is_embedded
    when = dt.datetime(2026, 11, 29, 17, 0, 0, tzinfo=dt.timezone.utc)
    prefix = render_prefix(settings.profile.key_template, settings.profile.model_type, when)
    assert prefix == "models/localization/v20261129_170000/"
    model = tmp_path / "m.onnx"
    model.write_bytes(b"onnx bytes")
    store = make_store(settings)
    store.ensure_bucket(create=True)
    stored = store.upload(model, prefix + model.name, {}, lambda n: None, CancelToken())
    expected = settings.data_dir / "models" / "localization" / "v20261129_170000" / "m.onnx"
    assert expected.read_bytes() == b"onnx bytes"
    assert stored.uri == expected.as_uri()
    assert "models/models" not in stored.uri
    assert store.list_keys(prefix) == [prefix + "m.onnx"]
    assert not any(p.name == "models" for p in Path(settings.data_dir, "models").iterdir())
