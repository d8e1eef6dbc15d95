"""An S3-compatible object store (MinIO, AWS, Ceph, ...) through boto3.

Large files go up in parts through boto3's transfer manager; a failed or cancelled
multipart upload is aborted so no orphan parts stay behind. Every object is read back
(``head_object``) and its size and sha256 metadata checked before anyone registers it.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from heimdall_studio.core.cancel import CancelToken
from heimdall_studio.core.errors import CancelledError, ServiceError
from heimdall_studio.integrations.store import ProgressCallback, StoredObject

MB = 1024 * 1024
# Codes an S3-compatible server answers when it does not support x-amz-checksum-*.
_NO_CHECKSUM_SUPPORT = {"NotImplemented", "InvalidRequest", "InvalidArgument", "XAmzContentSHA256Mismatch"}


class _UploadCancelled(Exception):
    """Raised inside boto3's progress callback to stop a transfer."""


class S3Store:
    def __init__(
        self,
        endpoint: str,
        bucket: str,
        region: str,
        access_key: str,
        secret_key: str,
        session_token: str = "",
        verify_tls: bool = True,
        part_size: int = 8 * MB,
        max_attempts: int = 3,
        connect_timeout: float = 10.0,
    ):
        import boto3
        from botocore.config import Config

        self.endpoint = endpoint or "https://s3.amazonaws.com"
        self.bucket = bucket
        self.part_size = max(5 * MB, part_size)
        self.location = f"s3://{bucket} at {self.endpoint}"
        config = Config(
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=60,
            # Servers that are not AWS often reject the CRC32 trailers boto3 adds by
            # default; we ask for SHA256 explicitly where the server takes it.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
        )
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=region or "us-east-1",
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            aws_session_token=session_token or None,
            verify=verify_tls,
            config=config,
        )
        self.checksums_supported = True

    @classmethod
    def from_settings(cls, settings: Any, **kwargs: Any) -> S3Store:
        creds = settings.credentials
        p = settings.profile
        kwargs.setdefault("part_size", p.part_size_mb * MB)
        return cls(
            p.s3_endpoint,
            kwargs.pop("bucket", "") or p.bucket,
            p.region,
            creds.get("aws_access_key_id"),
            creds.get("aws_secret_access_key"),
            creds.get("aws_session_token"),
            p.verify_tls,
            **kwargs,
        )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def ensure_bucket(self, create: bool) -> None:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            code = _code(exc)
            if code not in ("404", "NoSuchBucket", "NotFound"):
                raise s3_error(exc, self.endpoint, self.bucket, "check the bucket") from exc
        except Exception as exc:
            raise s3_error(exc, self.endpoint, self.bucket, "check the bucket") from exc
        if not create:
            raise ServiceError(
                f"Bucket '{self.bucket}' does not exist at {self.endpoint}.",
                "Create it (push with --create-bucket) or pick another bucket (--bucket, or Settings → Storage).",
            )
        try:
            self.client.create_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise s3_error(exc, self.endpoint, self.bucket, "create the bucket") from exc

    def upload(
        self, path: Path, key: str, metadata: dict[str, str], progress: ProgressCallback, cancel: CancelToken
    ) -> StoredObject:
        """Upload ``path`` to ``key`` and verify it. Raises ServiceError or CancelledError;
        either way no multipart upload of ``key`` is left open (or the error says so)."""
        try:
            self._transfer(path, key, metadata, progress, cancel, checksum=self.checksums_supported)
        except Exception as exc:
            if self.checksums_supported and _code(exc) in _NO_CHECKSUM_SUPPORT:
                self.checksums_supported = False  # retry once the plain way
                self.abort_open_uploads(key)
                return self.upload(path, key, metadata, progress, cancel)
            left = self.abort_open_uploads(key)
            if isinstance(_root(exc), _UploadCancelled):
                raise CancelledError(
                    "Upload cancelled; the partial upload was aborted." if not left else f"Upload cancelled; {left}"
                ) from exc
            error = s3_error(exc, self.endpoint, self.bucket, f"upload {key}")
            if left:
                error.hint = f"{error.hint} {left}".strip()
            raise error from exc
        single_part = path.stat().st_size < self.part_size
        return self.verify(key, path.stat().st_size, metadata.get("sha256", ""), single_part=single_part)

    def _transfer(
        self,
        path: Path,
        key: str,
        metadata: dict[str, str],
        progress: ProgressCallback,
        cancel: CancelToken,
        checksum: bool,
    ) -> None:
        from boto3.s3.transfer import TransferConfig

        def callback(sent: int) -> None:
            if cancel.cancelled:
                raise _UploadCancelled()
            progress(sent)

        extra: dict[str, Any] = {"Metadata": metadata, "ContentType": "application/octet-stream"}
        if checksum:
            extra["ChecksumAlgorithm"] = "SHA256"
        config = TransferConfig(
            multipart_threshold=self.part_size, multipart_chunksize=self.part_size, max_concurrency=4, use_threads=True
        )
        self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Callback=callback, Config=config)

    def verify(self, key: str, size: int, sha256: str, single_part: bool = False) -> StoredObject:
        """Read the object's head back; raise ServiceError unless size and sha256 match."""
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:
            raise s3_error(exc, self.endpoint, self.bucket, f"read back {key}") from exc
        meta = {k.lower(): v for k, v in head.get("Metadata", {}).items()}
        problems = []
        if head.get("ContentLength") != size:
            problems.append(f"size {head.get('ContentLength')} instead of {size}")
        if sha256 and meta.get("sha256") != sha256:
            problems.append("sha256 metadata differs from the file sent")
        checksum = head.get("ChecksumSHA256", "") or ""
        if single_part and checksum and sha256 and "-" not in checksum:
            try:
                if base64.b64decode(checksum).hex() != sha256:
                    problems.append("the server's SHA256 checksum differs from the file sent")
            except (binascii.Error, ValueError):
                pass
        if problems:
            raise ServiceError(
                f"The object {self.uri(key)} at {self.endpoint} does not match what was sent: {'; '.join(problems)}.",
                "Push again; if it repeats, check the S3 server.",
            )
        return StoredObject(
            key=key, uri=self.uri(key), size=size, sha256=sha256, verified=True, checksum=checksum, metadata=meta
        )

    def abort_open_uploads(self, key: str) -> str:
        """Abort multipart uploads of ``key`` still open; "" when none is left, else what is."""
        try:
            listing = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
            for upload in listing.get("Uploads", []):
                if upload["Key"] == key:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload["UploadId"])
            return ""
        except Exception:
            return (
                f"A multipart upload of {self.uri(key)} may still be open at {self.endpoint}; "
                "abort it with `aws s3api list-multipart-uploads` / `abort-multipart-upload` or a "
                "bucket lifecycle rule."
            )

    def list_keys(self, prefix: str) -> list[str]:
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))
        except Exception as exc:
            raise s3_error(exc, self.endpoint, self.bucket, f"list {prefix}") from exc

    def delete_prefix(self, prefix: str) -> list[str]:
        keys = self.list_keys(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            try:
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            except Exception as exc:
                raise s3_error(exc, self.endpoint, self.bucket, f"delete {prefix}") from exc
        return keys


def _root(exc: BaseException) -> BaseException:
    """The innermost cause: boto3 wraps errors (S3UploadFailedError, futures)."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc


def _code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    current: BaseException | None = exc
    while current is not None:
        if isinstance(current, ClientError):
            return str(current.response.get("Error", {}).get("Code", ""))
        current = current.__cause__ or current.__context__
    text = str(exc)
    for code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "NoSuchBucket", *_NO_CHECKSUM_SUPPORT):
        if f"({code})" in text:
            return code
    return ""


def s3_error(exc: BaseException, endpoint: str, bucket: str, action: str) -> ServiceError:
    """A ServiceError saying what failed at which endpoint and what to do; never a secret."""
    from botocore import exceptions as bx

    root = _root(exc)
    code = _code(exc)
    where = f"S3 endpoint {endpoint}"
    if isinstance(root, bx.SSLError) or isinstance(exc, bx.SSLError) or "SSL" in type(root).__name__:
        return ServiceError(
            f"TLS handshake with the {where} failed while trying to {action}.",
            "Check that the endpoint speaks https (or use http://), or point AWS_CA_BUNDLE "
            "at your CA certificate; HEIMDALL_VERIFY_TLS=0 turns verification off.",
        )
    if isinstance(root, (bx.EndpointConnectionError, bx.ConnectTimeoutError)) or isinstance(
        exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError)
    ):
        return ServiceError(
            f"Cannot reach the {where} (trying to {action}).",
            "Check that the server is running and the URL in MLFLOW_S3_ENDPOINT_URL or the "
            "profile is right, then push again.",
        )
    if isinstance(root, (bx.ConnectionClosedError, bx.ReadTimeoutError, ConnectionError)) or isinstance(
        exc, (bx.ConnectionClosedError, bx.ReadTimeoutError)
    ):
        return ServiceError(
            f"The connection to the {where} broke while trying to {action}.",
            "Check the network and push again; nothing was registered.",
        )
    if isinstance(root, bx.NoCredentialsError) or isinstance(exc, bx.NoCredentialsError):
        return ServiceError(
            f"No S3 credentials for the {where}.",
            "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or MLFLOW_S3_ACCESS_KEY_ID / "
            "MLFLOW_S3_SECRET_ACCESS_KEY), or store them in the OS keyring.",
        )
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken") or (
        code == "403" and action == "check the bucket"
    ):
        return ServiceError(
            f"The {where} rejected the credentials ({code or 'Forbidden'}) while trying to {action}.",
            "Check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (or the keyring "
            "entry) for this endpoint, and that the key may use this bucket.",
        )
    if code in ("AccessDenied", "403"):
        return ServiceError(
            f"The {where} denied access to bucket '{bucket}' while trying to {action}.",
            "Ask for write access to the bucket or pick another one.",
        )
    if code in ("NoSuchBucket", "404"):
        return ServiceError(
            f"Bucket '{bucket}' does not exist at {endpoint}.",
            "Create it (push with --create-bucket) or pick another bucket.",
        )
    detail = code or type(root).__name__
    return ServiceError(
        f"The {where} failed while trying to {action} ({detail}).", "Check the server's logs and push again."
    )
