"""How the Settings dialog shows a profile: labels and tooltips of its fields and secrets,
and the settings-file edits that ``integrations.settings`` has no call for yet."""

from __future__ import annotations

from heimdall_studio.gui.dataclass_form import FieldSpec

PROFILE_FIELDS: dict[str, FieldSpec] = {
    "tracking_uri": FieldSpec(
        "MLflow tracking URI",
        "Address of the MLflow tracking server, e.g. "
        "http://mlflow.lab:5000. Versions are registered and promoted there.",
        placeholder="http://mlflow.example:5000",
    ),
    "s3_endpoint": FieldSpec(
        "S3 endpoint",
        "Address of the S3-compatible object store (MinIO, Ceph, …), e.g. "
        "http://minio.lab:9000. Empty: Amazon S3 itself.",
        placeholder="empty: Amazon S3",
    ),
    "region": FieldSpec("Region", "S3 region of the bucket; MinIO accepts any, us-east-1 is usual."),
    "bucket": FieldSpec("Bucket", "Bucket the exported models are uploaded to."),
    "key_template": FieldSpec(
        "Key template",
        "The folder a push goes to, in the bucket (or the local model "
        "folder). {model_type} and {YYYYMMDD_HHMMSS} are filled in; the folder holds the "
        ".onnx file, its data files and the report, and becomes the version's source.",
    ),
    "model_type": FieldSpec("Model type", "Fills {model_type} in the key template, e.g. localization."),
    "experiment": FieldSpec("Experiment", "MLflow experiment that pushes log their runs in."),
    "model_name": FieldSpec(
        "Registered model",
        "Name of the registered model in MLflow that pushes add versions to (the Push panel can override it per push).",
    ),
    "verify_tls": FieldSpec(
        "Verify TLS certificates",
        "Check the servers' HTTPS certificates. Turn off only for a lab server with a self-signed certificate.",
    ),
    "part_size_mb": FieldSpec(
        "Upload part size (MB)", "Size of each part of a multipart S3 upload; 5 MB at least.", minimum=5, maximum=5000
    ),
    "ray_address": FieldSpec(
        "Ray address",
        "HOST:PORT of a Ray cluster (what `ray start --head` printed): the benchmark's Ray CPU and Ray GPU "
        "devices run there. RAY_ADDRESS overrides it. Needs the ray extra (docs/scale.md).",
        placeholder="empty: no Ray cluster",
    ),
}
# What the embedded profile uses: no server, so only names and the key layout matter.
EMBEDDED_FIELDS = {"key_template", "model_type", "experiment", "model_name", "ray_address"}

# Secret → (label, tooltip, environment variable a user can set instead).
SECRET_SPECS: dict[str, tuple[str, str, str]] = {
    "aws_access_key_id": (
        "S3 access key",
        "Access key id for the S3 endpoint; kept in the OS keyring, never in the settings file.",
        "AWS_ACCESS_KEY_ID",
    ),
    "aws_secret_access_key": (
        "S3 secret key",
        "Secret access key for the S3 endpoint; kept in the OS keyring, never in the settings file.",
        "AWS_SECRET_ACCESS_KEY",
    ),
    "mlflow_tracking_token": (
        "MLflow token",
        "Bearer token for an MLflow server that requires one; kept in the OS keyring.",
        "MLFLOW_TRACKING_TOKEN",
    ),
}

NO_KEYRING_TEXT = (
    "No OS keyring is available here, so secrets cannot be saved. Set "
    "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and MLFLOW_TRACKING_TOKEN in the "
    "environment instead."
)
